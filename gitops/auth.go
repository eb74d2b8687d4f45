package gitops

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strconv"

	"github.com/go-git/go-git/v5/plumbing/transport"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
	gitssh "github.com/go-git/go-git/v5/plumbing/transport/ssh"
)

// ErrEmptyCredential is returned when an env var named in the config for a
// credential is unset or empty: a silent anonymous attempt would only fail
// later with a less helpful message.
var ErrEmptyCredential = errors.New("environment variable is empty")

// transportConfig is what every network call of one run needs.
type transportConfig struct {
	auth     transport.AuthMethod
	caBundle []byte
	secrets  []string // values read from the environment, scrubbed from errors
	// remoteURL is what the clone's config records: the URL without any
	// embedded credentials, which move to auth instead so they are never
	// written to disk.
	remoteURL string
}

// buildTransport resolves spec's Auth into go-git auth and TLS settings.
func buildTransport(spec Spec, getenv func(string) string) (transportConfig, error) {
	tc := transportConfig{remoteURL: spec.URL}
	kind, err := classifyURL(spec.URL)
	if err != nil {
		return tc, fmt.Errorf("git.url: %w", err)
	}
	a := spec.Auth
	if a.CAFile != "" {
		pem, err := os.ReadFile(a.CAFile)
		if err != nil {
			return tc, fmt.Errorf("reading git.auth.caFile: %w", err)
		}
		tc.caBundle = pem
	}
	switch kind {
	case urlKindHTTP:
		if u, err := url.Parse(spec.URL); err == nil && u.User != nil {
			tc.remoteURL = stripUserinfo(spec.URL)
			if a.PasswordEnv == "" {
				p, _ := u.User.Password()
				tc.auth = &githttp.BasicAuth{Username: u.User.Username(), Password: p}
				return tc, nil
			}
		}
		if a.PasswordEnv == "" {
			return tc, nil // anonymous
		}
		password := getenv(a.PasswordEnv)
		if password == "" {
			return tc, fmt.Errorf("git.auth.passwordEnv: %s: %w", a.PasswordEnv, ErrEmptyCredential)
		}
		username := DefaultHTTPUsername
		if a.UsernameEnv != "" {
			if username = getenv(a.UsernameEnv); username == "" {
				return tc, fmt.Errorf("git.auth.usernameEnv: %s: %w", a.UsernameEnv, ErrEmptyCredential)
			}
		}
		tc.auth = &githttp.BasicAuth{Username: username, Password: password}
		tc.secrets = append(tc.secrets, password)
	case urlKindSSH:
		ep, err := transport.NewEndpoint(spec.URL)
		if err != nil {
			return tc, fmt.Errorf("git.url: parsing %q: %w", redactURL(spec.URL), err)
		}
		user := ep.User
		if user == "" {
			user = DefaultHTTPUsername
		}
		var passphrase string
		if a.SSHKeyPassphraseEnv != "" {
			if passphrase = getenv(a.SSHKeyPassphraseEnv); passphrase == "" {
				return tc, fmt.Errorf("git.auth.sshKeyPassphraseEnv: %s: %w", a.SSHKeyPassphraseEnv, ErrEmptyCredential)
			}
			tc.secrets = append(tc.secrets, passphrase)
		}
		keys, err := gitssh.NewPublicKeysFromFile(user, a.SSHKeyFile, passphrase)
		if err != nil {
			// The ssh library's errors describe the file, never its content.
			if passphrase == "" {
				return tc, fmt.Errorf("loading git.auth.sshKeyFile %q (if it is encrypted, set git.auth.sshKeyPassphraseEnv): %w", a.SSHKeyFile, err)
			}
			return tc, fmt.Errorf("loading git.auth.sshKeyFile %q: %w", a.SSHKeyFile, err)
		}
		if _, err := os.Stat(a.KnownHostsFile); err != nil {
			return tc, fmt.Errorf("reading git.auth.knownHostsFile: %w", err)
		}
		db, err := gitssh.NewKnownHostsDb(a.KnownHostsFile)
		if err != nil {
			return tc, fmt.Errorf("loading git.auth.knownHostsFile %q: %w", a.KnownHostsFile, err)
		}
		port := ep.Port
		if port == 0 {
			port = 22
		}
		keys.HostKeyCallback = db.HostKeyCallback()
		// Offer only the host key types known_hosts lists, or a server
		// presenting another type would fail as a key mismatch.
		keys.HostKeyAlgorithms = db.HostKeyAlgorithms(net.JoinHostPort(ep.Host, strconv.Itoa(port)))
		tc.auth = keys
	}
	return tc, nil
}
