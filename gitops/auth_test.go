package gitops

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
)

const (
	testUser     = "alice"
	testPassword = "correct-horse-42"
)

func envMap(m map[string]string) Option {
	return WithGetenv(func(k string) string { return m[k] })
}

func TestBasicAuth(t *testing.T) {
	root := t.TempDir()
	newBareRepo(t, root, "fleet", fixtureFiles())
	srv := serveGit(t, root, testUser, testPassword)
	gitSrv := serveGit(t, root, DefaultHTTPUsername, testPassword)
	url := srv.URL + "/fleet.git"
	withCreds := "http://" + testUser + ":" + testPassword + "@" + strings.TrimPrefix(srv.URL, "http://") + "/fleet.git"

	tests := []struct {
		name    string
		url     string
		auth    Auth
		env     map[string]string
		wantErr error  // sentinel, if any
		wantMsg string // substring of the error, if any
	}{
		{name: "user and password from env", url: url, auth: Auth{UsernameEnv: "GIT_USER", PasswordEnv: "GIT_TOKEN"}, env: map[string]string{"GIT_USER": testUser, "GIT_TOKEN": testPassword}},
		{name: "token only, default username git", url: gitSrv.URL + "/fleet.git", auth: Auth{PasswordEnv: "GIT_TOKEN"}, env: map[string]string{"GIT_TOKEN": testPassword}},
		{name: "credentials in URL", url: withCreds},
		{name: "wrong password", url: url, auth: Auth{UsernameEnv: "GIT_USER", PasswordEnv: "GIT_TOKEN"}, env: map[string]string{"GIT_USER": testUser, "GIT_TOKEN": "wrong-password-99"}, wantMsg: "authentication"},
		{name: "no credentials", url: url, wantMsg: "authentication required"},
		{name: "empty password variable", url: url, auth: Auth{PasswordEnv: "GIT_TOKEN"}, env: map[string]string{}, wantErr: ErrEmptyCredential, wantMsg: "GIT_TOKEN"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			dir := t.TempDir()
			r, err := Checkout(ctx, Spec{URL: tt.url, Auth: tt.auth}, dir, envMap(tt.env))
			if tt.wantErr != nil || tt.wantMsg != "" {
				if err == nil {
					t.Fatalf("Checkout() succeeded, want error %q", tt.wantMsg)
				}
				if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
					t.Errorf("Checkout() error = %v, want %v", err, tt.wantErr)
				}
				if !strings.Contains(err.Error(), tt.wantMsg) {
					t.Errorf("Checkout() error = %q, want it to mention %q", err, tt.wantMsg)
				}
				if !IsBadInput(err) {
					t.Errorf("Checkout() error %q is not bad input", err)
				}
				for _, secret := range []string{"wrong-password-99", testPassword} {
					if strings.Contains(err.Error(), secret) {
						t.Errorf("Checkout() error leaks a password: %q", err)
					}
				}
				return
			}
			if err != nil {
				t.Fatalf("Checkout() error = %v", err)
			}
			ch := bump(t, r, "6.5.0", "6.5.1")
			if _, err := r.Commit(ctx, []string{ch.File}, message(t, ch)); err != nil {
				t.Fatal(err)
			}
			if err := r.Push(ctx); err != nil {
				t.Fatalf("Push() error = %v", err)
			}
			// Embedded credentials are never written to the clone's config.
			if cfg := readFile(t, filepath.Join(r.Dir(), ".git", "config")); strings.Contains(cfg, testPassword) {
				t.Errorf(".git/config stores the password:\n%s", cfg)
			}
			// Reset the remote for the next case.
			gitRun(t, filepath.Join(root, "fleet.git"), nil, "update-ref", "refs/heads/main", "main^")
		})
	}
}

// TestSecretsNeverInErrors drives every failure path that names the remote
// with a URL carrying credentials, and checks no error or log line holds them.
func TestSecretsNeverInErrors(t *testing.T) {
	const secret = "s3cr3t-t0ken-value"
	root := t.TempDir()
	bare := newBareRepo(t, root, "fleet", fixtureFiles())
	srv := serveGit(t, root, testUser, secret)
	host := strings.TrimPrefix(srv.URL, "http://")
	good := "http://" + testUser + ":" + secret + "@" + host + "/fleet.git"
	redacted := "http://" + testUser + ":***@" + host + "/fleet.git"
	ctx := context.Background()
	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))

	var errs []error
	check := func(name string, err error, wantRedacted bool) {
		t.Helper()
		if err == nil {
			t.Errorf("%s: no error", name)
			return
		}
		errs = append(errs, err)
		if wantRedacted && !strings.Contains(err.Error(), redacted) {
			t.Errorf("%s: error %q does not name the redacted remote %q", name, err, redacted)
		}
	}

	_, err := Checkout(ctx, Spec{URL: "http://" + testUser + ":" + secret + "-wrong@" + host + "/fleet.git"}, t.TempDir(), WithLogger(logger))
	check("wrong embedded password", err, false)
	_, err = Checkout(ctx, Spec{URL: good, Branch: "nope"}, t.TempDir(), WithLogger(logger))
	check("missing branch", err, true)
	_, err = Checkout(ctx, Spec{URL: "http://" + testUser + ":" + secret + "@" + host + "/missing.git"}, t.TempDir(), WithLogger(logger))
	check("missing repository", err, false)
	_, err = Checkout(ctx, Spec{URL: "http://" + testUser + ":" + secret + "@127.0.0.1:1/fleet.git"}, t.TempDir(), WithLogger(logger))
	check("connection refused", err, false)

	r, err := Checkout(ctx, Spec{URL: good}, t.TempDir(), WithLogger(logger))
	if err != nil {
		t.Fatal(err)
	}
	ch := bump(t, r, "6.5.0", "6.5.1")
	if _, err := r.Commit(ctx, []string{ch.File}, message(t, ch)); err != nil {
		t.Fatal(err)
	}
	pushFromElsewhere(t, bare, "main", map[string]string{"x.yaml": "x: 1\n"}, "race")
	err = r.Push(ctx)
	check("push rejected", err, true)
	var pe *PushError
	if errors.As(err, &pe) && pe.Remote != redacted {
		t.Errorf("PushError.Remote = %q, want %q", pe.Remote, redacted)
	}

	newBareRepo(t, root, "other", map[string]string{"a": "b\n"})
	_, err = Checkout(ctx, Spec{URL: "http://" + testUser + ":" + secret + "@" + host + "/other.git"}, filepath.Dir(r.Dir()), WithLogger(logger))
	check("workdir mismatch", err, false)

	for _, err := range errs {
		if strings.Contains(err.Error(), secret) {
			t.Errorf("error leaks the secret: %q", err)
		}
	}
	if strings.Contains(logs.String(), secret) {
		t.Errorf("logs leak the secret:\n%s", logs.String())
	}
	if !strings.Contains(logs.String(), redacted) {
		t.Errorf("logs do not name the redacted remote:\n%s", logs.String())
	}
	t.Logf("errors seen:\n%v", errors.Join(errs...))
}
