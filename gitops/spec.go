package gitops

import (
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"strings"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
)

// Default values applied by Spec.SetDefaults, in one place.
const (
	// DefaultBranch is the branch checked out when git.branch is empty.
	DefaultBranch = "main"
	// DefaultAuthorName is the commit author name when none is configured.
	DefaultAuthorName = "uptick"
	// DefaultAuthorEmail is the commit author email when none is configured.
	DefaultAuthorEmail = "uptick@localhost"
	// DefaultHTTPUsername is sent with an HTTP password/token when no
	// username variable is configured; forges ignore it for tokens.
	DefaultHTTPUsername = "git"
	// DefaultPushAttempts is how many times Publish tries before giving up
	// when every push loses a race with another writer.
	DefaultPushAttempts = 5
	// DefaultPushTimeout bounds all attempts of Publish, backoff included.
	DefaultPushTimeout = 2 * time.Minute
	// maxPushAttempts bounds push.attempts: more only hammers the server.
	maxPushAttempts = 100
)

// Spec is the `git:` section of the config: where the fleet repository
// lives, how to authenticate, how to commit and where to push.
type Spec struct {
	// URL is https://, http://, ssh://, git@host:path, file:// or a local path.
	URL string `yaml:"url"`
	// Branch is the branch to check out; default "main".
	Branch string     `yaml:"branch"`
	Auth   Auth       `yaml:"auth"`
	Commit CommitSpec `yaml:"commit"`
	Push   PushSpec   `yaml:"push"`
}

// Auth names where credentials come from. Secrets are never written in the
// config itself, only the names of environment variables or files holding them.
type Auth struct {
	// UsernameEnv names the env var holding the HTTP username (default
	// "git" when only a password is set).
	UsernameEnv string `yaml:"usernameEnv"`
	// PasswordEnv names the env var holding the HTTP password or token.
	PasswordEnv string `yaml:"passwordEnv"`
	// SSHKeyFile is the private key used for ssh URLs.
	SSHKeyFile string `yaml:"sshKeyFile"`
	// SSHKeyPassphraseEnv names the env var holding the SSH key passphrase.
	SSHKeyPassphraseEnv string `yaml:"sshKeyPassphraseEnv"`
	// KnownHostsFile is required with ssh URLs: host keys are never
	// accepted blindly.
	KnownHostsFile string `yaml:"knownHostsFile"`
	// CAFile is an extra PEM CA bundle trusted for https.
	CAFile string `yaml:"caFile"`
}

// CommitSpec describes the commit uptick makes.
type CommitSpec struct {
	// Author is used as author and committer; default {uptick, uptick@localhost}.
	Author Signature `yaml:"author"`
	// SigningKey, when set, makes every commit signed (OpenPGP or SSH).
	SigningKey *SigningKey `yaml:"signingKey"`
	// MessageTemplate is a Go text/template over MessageData; default
	// DefaultMessageTemplate.
	MessageTemplate string `yaml:"messageTemplate"`
}

// Signature is a commit identity.
type Signature struct {
	Name  string `yaml:"name"`
	Email string `yaml:"email"`
}

// SigningKey locates the private key commits are signed with and, if it
// is encrypted, the env var holding its passphrase.
//
//	signingKey: {format: ssh, file: /keys/uptick_ed25519, passphraseEnv: SSH_KEY_PASSPHRASE}
type SigningKey struct {
	// Format is "openpgp" (default: an armored OpenPGP key) or "ssh" (an
	// SSH private key, signing as git does with gpg.format=ssh).
	Format SigningFormat `yaml:"format"`
	// File is the private key.
	File string `yaml:"file"`
	// PassphraseEnv names the env var holding the key's passphrase.
	PassphraseEnv string `yaml:"passphraseEnv"`
}

// PushSpec says where the commit goes.
type PushSpec struct {
	// Branch is the branch pushed to; default: the checkout branch. A
	// different branch (e.g. env/prod) is created from the checkout branch
	// when missing.
	Branch string `yaml:"branch"`
	// Attempts is how many times a push that lost a race with another
	// writer is rebuilt on the new tip and tried again; default 5.
	Attempts int `yaml:"attempts"`
	// Timeout bounds publishing (every attempt and the backoff between
	// them); default 2m.
	Timeout time.Duration `yaml:"timeout"`
	// PullRequest, when set, proposes the changes as pull requests from
	// branches uptick owns instead of pushing to Branch.
	PullRequest *PullRequestSpec `yaml:"pullRequest"`
}

// withDefaults returns a copy of s with defaults applied, leaving s (and
// what its pointers point at) as it was.
func (s *Spec) withDefaults() Spec {
	c := *s
	if k := s.Commit.SigningKey; k != nil {
		kc := *k
		c.Commit.SigningKey = &kc
	}
	if pr := s.Push.PullRequest; pr != nil {
		pc := *pr
		c.Push.PullRequest = &pc
	}
	c.SetDefaults()
	return c
}

// SetDefaults fills every empty field that has a default, so the rest of the
// package never has to guess.
func (s *Spec) SetDefaults() {
	if s.Branch == "" {
		s.Branch = DefaultBranch
	}
	if pr := s.Push.PullRequest; pr != nil {
		pr.setDefaults(s.Branch)
		if s.Push.Branch == "" {
			s.Push.Branch = pr.Base
		}
	}
	if s.Push.Branch == "" {
		s.Push.Branch = s.Branch
	}
	if s.Push.Attempts == 0 {
		s.Push.Attempts = DefaultPushAttempts
	}
	if s.Push.Timeout == 0 {
		s.Push.Timeout = DefaultPushTimeout
	}
	if s.Commit.Author.Name == "" {
		s.Commit.Author.Name = DefaultAuthorName
	}
	if s.Commit.Author.Email == "" {
		s.Commit.Author.Email = DefaultAuthorEmail
	}
	if k := s.Commit.SigningKey; k != nil && k.Format == "" {
		k.Format = SigningFormatOpenPGP
	}
	if s.Commit.MessageTemplate == "" {
		s.Commit.MessageTemplate = DefaultMessageTemplate
	}
}

// Validate checks the spec's shape (with defaults applied to a copy),
// reading no file and no variable, and returns all problems joined, each a
// *FieldError whose path is relative to the git section, e.g.
// "url: required". Preflight checks what it names too.
func (s *Spec) Validate() error {
	c := s.withDefaults()
	var errs []error
	add := func(field, format string, args ...any) {
		errs = append(errs, fieldErr(field, format, args...))
	}

	kind := urlKindNone
	if strings.TrimSpace(c.URL) == "" {
		add("url", "required")
	} else {
		k, err := classifyURL(c.URL)
		if err != nil {
			add("url", "%v", err)
		}
		kind = k
	}
	if err := plumbing.NewBranchReferenceName(c.Branch).Validate(); err != nil || strings.TrimSpace(c.Branch) != c.Branch {
		add("branch", "invalid branch name %q", c.Branch)
	}
	// With pull requests push.branch is their base, checked as such.
	isBase := c.Push.PullRequest != nil && c.Push.Branch == c.Push.PullRequest.Base
	if err := plumbing.NewBranchReferenceName(c.Push.Branch).Validate(); !isBase && (err != nil || strings.TrimSpace(c.Push.Branch) != c.Push.Branch) {
		add("push.branch", "invalid branch name %q", c.Push.Branch)
	}
	if c.Push.Attempts < 1 || c.Push.Attempts > maxPushAttempts {
		add("push.attempts", "must be between 1 and %d, not %d", maxPushAttempts, c.Push.Attempts)
	}
	if c.Push.Timeout < 0 {
		add("push.timeout", "must not be negative")
	}
	if pr := c.Push.PullRequest; pr != nil {
		errs = append(errs, pr.validate(kind, c.Push.Branch, c.Branch)...)
	}

	a := c.Auth
	switch kind {
	case urlKindSSH:
		if a.SSHKeyFile == "" {
			add("auth.sshKeyFile", "required for ssh URLs")
		}
		if a.KnownHostsFile == "" {
			add("auth.knownHostsFile", "required for ssh URLs (host keys are never accepted unverified)")
		}
		if a.UsernameEnv != "" || a.PasswordEnv != "" {
			add("auth", "usernameEnv/passwordEnv only apply to http(s) URLs")
		}
		if a.CAFile != "" {
			add("auth.caFile", "only applies to https URLs")
		}
	case urlKindHTTP:
		if a.SSHKeyFile != "" || a.SSHKeyPassphraseEnv != "" || a.KnownHostsFile != "" {
			add("auth", "sshKeyFile/sshKeyPassphraseEnv/knownHostsFile only apply to ssh URLs")
		}
		if a.UsernameEnv != "" && a.PasswordEnv == "" {
			add("auth.passwordEnv", "required when usernameEnv is set")
		}
	case urlKindFile:
		if a != (Auth{}) {
			add("auth", "not used with local repositories; remove it")
		}
	}

	if strings.TrimSpace(c.Commit.Author.Name) == "" || strings.ContainsAny(c.Commit.Author.Name, "<>\n") {
		add("commit.author.name", "invalid name %q", c.Commit.Author.Name)
	}
	if strings.TrimSpace(c.Commit.Author.Email) == "" || strings.ContainsAny(c.Commit.Author.Email, "<>\n ") {
		add("commit.author.email", "invalid email %q", c.Commit.Author.Email)
	}
	if k := c.Commit.SigningKey; k != nil {
		if k.File == "" {
			add("commit.signingKey.file", "required when signingKey is set")
		}
		if f := k.Format; f != "" && f != SigningFormatOpenPGP && f != SigningFormatSSH {
			add("commit.signingKey.format", "unknown format %q (want openpgp or ssh)", f)
		}
	}
	if _, err := RenderMessage(c.Commit.MessageTemplate, sampleChanges()); err != nil {
		add("commit.messageTemplate", "%v", err)
	}
	return errors.Join(errs...)
}

type urlKind int

const (
	urlKindNone urlKind = iota
	urlKindHTTP
	urlKindSSH
	urlKindFile
)

// classifyURL tells which transport a repository URL uses.
func classifyURL(raw string) (urlKind, error) {
	if strings.Contains(raw, "://") {
		u, err := url.Parse(raw)
		if err != nil {
			return urlKindNone, fmt.Errorf("cannot parse %q", redactURL(raw))
		}
		switch u.Scheme {
		case "http", "https":
			if u.Host == "" {
				return urlKindNone, fmt.Errorf("no host in %q", redactURL(raw))
			}
			return urlKindHTTP, nil
		case "ssh":
			if u.Host == "" {
				return urlKindNone, fmt.Errorf("no host in %q", redactURL(raw))
			}
			return urlKindSSH, nil
		case "file":
			if u.Path == "" {
				return urlKindNone, fmt.Errorf("no path in %q", raw)
			}
			return urlKindFile, nil
		default:
			return urlKindNone, fmt.Errorf("unsupported scheme %q (want https, http, ssh or file)", u.Scheme)
		}
	}
	if isSCPLike(raw) {
		return urlKindSSH, nil
	}
	return urlKindFile, nil
}

// isSCPLike reports whether raw is the scp-like ssh form user@host:path.
func isSCPLike(raw string) bool {
	if filepath.IsAbs(raw) || strings.HasPrefix(raw, ".") {
		return false
	}
	i := strings.Index(raw, ":")
	if i <= 0 {
		return false
	}
	return !strings.Contains(raw[:i], "/")
}

// sampleChanges is what Validate renders a template with, so execution
// errors (unknown fields) surface at config time, not after a scan.
func sampleChanges() []Change {
	return []Change{{Image: "app", File: "apps/app.yaml", Object: "Deployment/default/app", Old: "1.0.0", New: "1.0.1"}}
}
