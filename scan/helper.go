package scan

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/docker/docker-credential-helpers/client"
	"github.com/docker/docker-credential-helpers/credentials"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
)

// checkHelperName refuses helper names that are not a plain program-name
// suffix: the name becomes part of a command looked up on PATH.
func checkHelperName(h string) error {
	if h == "" || strings.ContainsAny(h, `/\ `) || strings.HasPrefix(h, ".") || strings.HasPrefix(h, "-") {
		return fmt.Errorf("%q is not a credential helper name", h)
	}
	return nil
}

// helperCredential runs docker-credential-<helper> get for registry, the
// docker CLI's protocol: the server URL on stdin, {"Username","Secret"}
// on stdout. "credentials not found" means none. A helper that hangs ends
// with the idle timeout; what it prints on stderr is never shown.
func (s *Scanner) helperCredential(ctx context.Context, helper, registry, source string) (*credential, error) {
	server := registry
	if registry == name.DefaultRegistry {
		server = "https://index.docker.io/v1/" // the key docker itself uses
	}
	v, err := s.helpers.get(ctx, helper+"\x00"+server, func(ctx context.Context) (*credential, time.Time, error) {
		ctx, cancel := context.WithTimeout(ctx, s.opts.idleTimeout)
		defer cancel()
		var run *helperProgram
		prog := func(args ...string) client.Program {
			run = &helperProgram{ctx: ctx, cmd: "docker-credential-" + helper, args: args}
			return run
		}
		creds, err := client.Get(prog, server)
		switch {
		case credentials.IsErrCredentialsNotFound(err):
			return newCredential(authn.AuthConfig{}, source+" has no credentials for "+registry), time.Time{}, nil
		case err != nil:
			var ee *exec.Error
			if run != nil && errors.As(run.err, &ee) {
				return nil, time.Time{}, fmt.Errorf("%w: %s: docker-credential-%s is not on PATH", ErrCredentialSource, source, helper)
			}
			if ctx.Err() != nil {
				return nil, time.Time{}, fmt.Errorf("%w: %s: the helper did not answer within %s", ErrCredentialSource, source, s.opts.idleTimeout)
			}
			return nil, time.Time{}, fmt.Errorf("%w: %s failed: %s", ErrCredentialSource, source, helperMessage(err))
		}
		cfg := authn.AuthConfig{Username: creds.Username, Password: creds.Secret}
		if creds.Username == "<token>" {
			// docker's convention for an identity (refresh) token.
			cfg = authn.AuthConfig{IdentityToken: creds.Secret}
		}
		return newCredential(cfg, source), time.Time{}, nil
	})
	return v, err
}

// helperMessage keeps the helper's own words from client.Get's error, which
// are its stdout: what a helper prints on failure is its message. It is
// scrubbed later like every message, and cut short here.
func helperMessage(err error) string {
	msg := err.Error()
	if i := strings.Index(msg, "out: `"); i >= 0 {
		out := strings.TrimSuffix(msg[i+len("out: `"):], "`")
		status := strings.TrimPrefix(strings.TrimSuffix(msg[:i], ", "), "error getting credentials - err: ")
		if out == "" {
			return status
		}
		return shorten(printable(scrubOpaque(out)), maxDetail) + " (" + status + ")"
	}
	return msg
}

// opaquePattern finds runs that may be tokens: long, of base64 and token
// characters. It is compiled on first use (as are the package's other
// patterns): a regexp compiled at init costs every command's start.
var opaquePattern = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`[A-Za-z0-9+/_.=-]{20,}`)
})

// scrubOpaque redacts what looks like a token uptick does not know: a run
// of 20 or more token characters with upper- and lower-case letters and
// digits. Used on a credential helper's own words, which may quote the
// secret it holds; registry messages are scrubbed of the secrets uptick
// sent instead.
func scrubOpaque(s string) string {
	return opaquePattern().ReplaceAllStringFunc(s, func(m string) string {
		var upper, lower, digit bool
		for _, c := range m {
			switch {
			case c >= 'A' && c <= 'Z':
				upper = true
			case c >= 'a' && c <= 'z':
				lower = true
			case c >= '0' && c <= '9':
				digit = true
			}
		}
		if upper && lower && digit {
			return redacted
		}
		return m
	})
}

// helperProgram runs a credential helper under a context, with its output
// bounded and its stderr discarded (helpers write prompts and debugging
// there, which must not reach uptick's logs).
type helperProgram struct {
	ctx  context.Context
	cmd  string
	args []string
	in   io.Reader
	// err is how the run ended (client.Get keeps only its text).
	err error
}

// maxHelperOutput bounds what a helper may print.
const maxHelperOutput = 1 << 20

func (p *helperProgram) Input(in io.Reader) { p.in = in }

func (p *helperProgram) Output() ([]byte, error) {
	cmd := exec.CommandContext(p.ctx, p.cmd, p.args...)
	cmd.Stdin = p.in
	var out limitedBuffer
	out.limit = maxHelperOutput
	cmd.Stdout = &out
	cmd.Stderr = io.Discard
	cmd.WaitDelay = time.Second
	err := cmd.Run()
	p.err = err
	if out.over {
		return nil, fmt.Errorf("the helper printed more than %d bytes", maxHelperOutput)
	}
	return out.Bytes(), err
}

type limitedBuffer struct {
	bytes.Buffer
	limit int
	over  bool
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	if b.Len()+len(p) > b.limit {
		b.over = true
		return 0, errors.New("output too large")
	}
	return b.Buffer.Write(p)
}
