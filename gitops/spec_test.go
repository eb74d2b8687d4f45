package gitops

import (
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestSetDefaults(t *testing.T) {
	s := Spec{URL: "https://example.org/fleet.git"}
	s.SetDefaults()
	want := Spec{
		URL:    "https://example.org/fleet.git",
		Branch: "main",
		Commit: CommitSpec{Author: Signature{Name: "uptick", Email: "uptick@localhost"}, MessageTemplate: DefaultMessageTemplate},
		Push:   PushSpec{Branch: "main", Attempts: 5, Timeout: 2 * time.Minute},
	}
	if diff := cmp.Diff(want, s); diff != "" {
		t.Errorf("SetDefaults() mismatch (-want +got):\n%s", diff)
	}
	s = Spec{URL: "x", Branch: "dev"}
	s.SetDefaults()
	if s.Push.Branch != "dev" {
		t.Errorf("push branch default = %q, want the checkout branch", s.Push.Branch)
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		spec Spec
		want []string // substrings of the error, in order; nil means valid
	}{
		{name: "minimal https", spec: Spec{URL: "https://example.org/fleet.git"}},
		{name: "local path", spec: Spec{URL: "/srv/git/fleet.git"}},
		{name: "file url", spec: Spec{URL: "file:///srv/git/fleet.git"}},
		{name: "ssh with keys", spec: Spec{URL: "git@github.com:org/fleet.git", Auth: Auth{SSHKeyFile: "/k", KnownHostsFile: "/kh"}}},
		{name: "full https", spec: Spec{
			URL: "https://example.org/fleet.git", Branch: "main",
			Auth:   Auth{UsernameEnv: "U", PasswordEnv: "P", CAFile: "/ca.pem"},
			Commit: CommitSpec{Author: Signature{Name: "bot", Email: "bot@example.org"}, SigningKey: &SigningKey{File: "/k.asc", PassphraseEnv: "GPG_PASS"}, MessageTemplate: "x {{len .Changes}}"},
			Push:   PushSpec{Branch: "env/prod"},
		}},
		{name: "url required", spec: Spec{}, want: []string{"url: required"}},
		{name: "bad scheme", spec: Spec{URL: "ftp://example.org/x"}, want: []string{`url: unsupported scheme "ftp"`}},
		{name: "pull request", spec: Spec{URL: "https://e/x", Push: PushSpec{PullRequest: &PullRequestSpec{Provider: "github"}}}},
		{name: "pull request from a local repository", spec: Spec{URL: "/srv/x.git", Push: PushSpec{PullRequest: &PullRequestSpec{Provider: "github"}}}, want: []string{"push.pullRequest: needs url on a forge"}},
		{name: "template parse", spec: Spec{URL: "https://e/x", Commit: CommitSpec{MessageTemplate: "{{.Images"}}, want: []string{"commit.messageTemplate: parsing"}},
		{name: "template exec", spec: Spec{URL: "https://e/x", Commit: CommitSpec{MessageTemplate: "{{.Nope}}"}}, want: []string{"commit.messageTemplate: executing"}},
		{name: "ssh needs key and known hosts", spec: Spec{URL: "ssh://git@example.org/fleet.git"}, want: []string{"auth.sshKeyFile: required", "auth.knownHostsFile: required"}},
		{name: "bad branches", spec: Spec{URL: "https://e/x", Branch: "a..b", Push: PushSpec{Branch: "c d"}}, want: []string{`branch: invalid branch name "a..b"`, `push.branch: invalid branch name "c d"`}},
		{name: "username without password", spec: Spec{URL: "https://e/x", Auth: Auth{UsernameEnv: "U"}}, want: []string{"auth.passwordEnv: required"}},
		{name: "ssh options on https", spec: Spec{URL: "https://e/x", Auth: Auth{SSHKeyFile: "/k"}}, want: []string{"auth: sshKeyFile"}},
		{name: "signing key without file", spec: Spec{URL: "https://e/x", Commit: CommitSpec{SigningKey: &SigningKey{}}}, want: []string{"commit.signingKey.file: required"}},
		{name: "bad author", spec: Spec{URL: "https://e/x", Commit: CommitSpec{Author: Signature{Name: "a <b>", Email: "no spaces@x"}}}, want: []string{"commit.author.name", "commit.author.email"}},
		{name: "push attempts and timeout", spec: Spec{URL: "https://e/x", Push: PushSpec{Attempts: -1, Timeout: -time.Second}}, want: []string{"push.attempts: must be between 1 and 100, not -1", "push.timeout: must not be negative"}},
		{name: "too many attempts", spec: Spec{URL: "https://e/x", Push: PushSpec{Attempts: 1000}}, want: []string{"push.attempts: must be between 1 and 100"}},
		{name: "credentials in bad url are redacted", spec: Spec{URL: "gopher://u:hunter22@e/x"}, want: []string{"url: unsupported scheme"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.spec.Validate()
			if tt.want == nil {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate() = nil, want errors %q", tt.want)
			}
			msg := err.Error()
			if !IsBadInput(err) {
				t.Errorf("Validate() error is not bad input")
			}
			for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
				var fe *FieldError
				if !errors.As(e, &fe) || strings.HasPrefix(fe.Field, "git.") {
					t.Errorf("Validate() error %q is not a *FieldError relative to the git section", e)
				}
			}
			if strings.Contains(msg, "hunter22") {
				t.Errorf("Validate() error leaks a password: %s", msg)
			}
			rest := msg
			for _, w := range tt.want {
				i := strings.Index(rest, w)
				if i < 0 {
					t.Fatalf("Validate() = %q, want it to contain %q (in order)", msg, w)
				}
				rest = rest[i+len(w):]
			}
		})
	}
}

func TestRedactURL(t *testing.T) {
	tests := []struct{ in, want string }{
		{"https://user:s3cret@example.org/fleet.git", "https://user:***@example.org/fleet.git"},
		{"https://token@example.org/fleet.git", "https://token@example.org/fleet.git"},
		{"https://example.org/fleet.git", "https://example.org/fleet.git"},
		{"http://u:p%40ss@127.0.0.1:8080/r.git", "http://u:***@127.0.0.1:8080/r.git"},
		{"ssh://git@example.org:2222/fleet.git", "ssh://git@example.org:2222/fleet.git"},
		{"git@github.com:org/fleet.git", "git@github.com:org/fleet.git"},
		{"/srv/git/fleet.git", "/srv/git/fleet.git"},
		{"https://u:sec ret@exa mple.org/%zz", "https://***@exa mple.org/%zz"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, redactURL(tt.in)); diff != "" {
				t.Errorf("redactURL() mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func FuzzRedactURL(f *testing.F) {
	for _, s := range []string{"https://user:s3cret@example.org/x", "http://a:b@c", "ssh://git@h/p", "git@h:p", "/p", "https://u:p@h/%zz", "://:@"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		out := redactURL(raw)
		if again := redactURL(out); again != out {
			t.Errorf("redactURL not idempotent: %q -> %q -> %q", raw, out, again)
		}
		u, err := url.Parse(raw)
		if err != nil || u.User == nil {
			return
		}
		if _, ok := u.User.Password(); !ok {
			return
		}
		ru, err := url.Parse(out)
		if err != nil {
			t.Fatalf("redacted %q of parseable %q does not parse: %v", out, raw, err)
		}
		if p, _ := ru.User.Password(); p != redactedPassword {
			t.Errorf("redactURL(%q) = %q keeps password %q", raw, out, p)
		}
	})
}

func FuzzClassifyURL(f *testing.F) {
	for _, s := range []string{"https://e/x", "git@h:p", "/p", "file:///p", "ssh://h/p", "ftp://x", "C:/x", "./a:b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		k, err := classifyURL(raw)
		if (err == nil) == (k == urlKindNone) {
			t.Errorf("classifyURL(%q) = %v, %v: kind and error disagree", raw, k, err)
		}
		if err != nil && strings.Contains(raw, "://") {
			if u, perr := url.Parse(raw); perr == nil && u.User != nil {
				if p, ok := u.User.Password(); ok && len(p) >= 6 && strings.Contains(err.Error(), p) && !strings.Contains(redactURL(raw), p) {
					t.Errorf("classifyURL error %q leaks the password", err)
				}
			}
		}
	})
}
