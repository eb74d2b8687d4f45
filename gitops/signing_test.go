package gitops

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
)

// testKey generates an Ed25519 OpenPGP key in-process and writes the
// private key (encrypted when passphrase is set) and the public key,
// armored, into dir.
func testKey(t *testing.T, dir, passphrase string) (privPath, pubPath string, e *openpgp.Entity) {
	t.Helper()
	cfg := &packet.Config{Algorithm: packet.PubKeyAlgoEdDSA}
	e, err := openpgp.NewEntity("Uptick Signer", "test", "signer@example.org", cfg)
	if err != nil {
		t.Fatal(err)
	}
	var pub bytes.Buffer
	w, err := armor.Encode(&pub, openpgp.PublicKeyType, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Serialize(w); err != nil {
		t.Fatal(err)
	}
	w.Close()
	if passphrase != "" {
		if err := e.EncryptPrivateKeys([]byte(passphrase), cfg); err != nil {
			t.Fatal(err)
		}
	}
	var priv bytes.Buffer
	w, err = armor.Encode(&priv, openpgp.PrivateKeyType, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.SerializePrivateWithoutSigning(w, cfg); err != nil {
		t.Fatal(err)
	}
	w.Close()
	privPath, pubPath = filepath.Join(dir, "key.asc"), filepath.Join(dir, "key.pub.asc")
	if err := os.WriteFile(privPath, priv.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(pubPath, pub.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return privPath, pubPath, e
}

// gnupgHome makes a short-lived GNUPGHOME (short path: the agent socket
// must fit in sun_path) with pubPath imported, and stops its agent later.
func gnupgHome(t *testing.T, pubPath string) string {
	t.Helper()
	home, err := os.MkdirTemp("/tmp", "gpg")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(home, 0o700); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd := exec.Command("gpgconf", "--kill", "gpg-agent")
		cmd.Env = append(os.Environ(), "GNUPGHOME="+home)
		_ = cmd.Run()
		os.RemoveAll(home)
	})
	cmd := exec.Command("gpg", "--batch", "--import", pubPath)
	cmd.Env = append(os.Environ(), "GNUPGHOME="+home)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("gpg --import: %v\n%s", err, out)
	}
	return home
}

func TestSignedCommitVerifiesWithGit(t *testing.T) {
	for _, tt := range []struct{ name, passphrase string }{
		{"unencrypted key", ""},
		{"passphrase-protected key", "open sesame 123"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := newFleet(t)
			ctx := context.Background()
			privPath, pubPath, _ := testKey(t, t.TempDir(), tt.passphrase)
			spec := Spec{URL: f.httpURL, Commit: CommitSpec{
				Author:     Signature{Name: "Uptick Signer", Email: "signer@example.org"},
				SigningKey: &SigningKey{File: privPath, PassphraseEnv: "GPG_PASSPHRASE"},
			}}
			r, err := Checkout(ctx, spec, t.TempDir(), envMap(map[string]string{"GPG_PASSPHRASE": tt.passphrase}))
			if err != nil {
				t.Fatal(err)
			}
			ch := bump(t, r, "6.5.0", "6.5.1")
			sha, err := r.Commit(ctx, []string{ch.File}, message(t, ch))
			if err != nil {
				t.Fatalf("Commit() error = %v", err)
			}
			if err := r.Push(ctx); err != nil {
				t.Fatal(err)
			}

			// The real git and gpg verify the pushed commit.
			home := gnupgHome(t, pubPath)
			cmd := exec.Command("git", "verify-commit", "-v", sha)
			cmd.Dir = f.bare
			cmd.Env = gitEnv("GNUPGHOME=" + home)
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("git verify-commit: %v\n%s", err, out)
			}
			if !strings.Contains(string(out), "Good signature") {
				t.Errorf("git verify-commit output lacks \"Good signature\":\n%s", out)
			}
			if !strings.Contains(gitRun(t, f.bare, nil, "cat-file", "commit", sha), "gpgsig ") {
				t.Errorf("commit %s has no gpgsig header", sha)
			}
		})
	}
}

func TestUnsignedCommitFailsVerification(t *testing.T) {
	// Guards the test above: verify-commit really rejects an unsigned commit.
	f := newFleet(t)
	ctx := context.Background()
	_, pubPath, _ := testKey(t, t.TempDir(), "")
	r, err := Checkout(ctx, Spec{URL: f.bare}, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ch := bump(t, r, "6.5.0", "6.5.1")
	sha, err := r.Commit(ctx, []string{ch.File}, message(t, ch))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("git", "verify-commit", sha)
	cmd.Dir = r.Dir()
	cmd.Env = gitEnv("GNUPGHOME=" + gnupgHome(t, pubPath))
	if out, err := cmd.CombinedOutput(); err == nil {
		t.Errorf("git verify-commit accepted an unsigned commit:\n%s", out)
	}
}

func TestLoadSigningKey(t *testing.T) {
	dir := t.TempDir()
	const pass = "correct passphrase 77"
	encPath, pubPath, want := testKey(t, filepath.Join(dir), pass)
	plainDir := t.TempDir()
	plainPath, _, _ := testKey(t, plainDir, "")
	garbage := filepath.Join(dir, "garbage.asc")
	if err := os.WriteFile(garbage, []byte("not a key\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name       string
		path       string
		passphrase string
		wantErr    error
		wantMsg    string
	}{
		{name: "encrypted with right passphrase", path: encPath, passphrase: pass},
		{name: "unencrypted", path: plainPath},
		{name: "unencrypted ignores passphrase", path: plainPath, passphrase: "whatever-pass"},
		{name: "bad passphrase", path: encPath, passphrase: "wrong passphrase 88", wantErr: ErrBadPassphrase, wantMsg: encPath},
		{name: "missing passphrase", path: encPath, wantErr: ErrPassphraseRequired},
		{name: "public key only", path: pubPath, wantErr: ErrNoPrivateKey},
		{name: "not a key", path: garbage, wantMsg: "reading signing key"},
		{name: "missing file", path: filepath.Join(dir, "nope.asc"), wantErr: os.ErrNotExist},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := LoadSigningKey(tt.path, []byte(tt.passphrase))
			if tt.wantErr == nil && tt.wantMsg == "" {
				if err != nil {
					t.Fatalf("LoadSigningKey() error = %v", err)
				}
				if e.PrivateKey == nil || e.PrivateKey.Encrypted {
					t.Fatalf("LoadSigningKey() returned no usable private key")
				}
				if tt.path == encPath && e.PrimaryKey.KeyId != want.PrimaryKey.KeyId {
					t.Errorf("key id = %X, want %X", e.PrimaryKey.KeyId, want.PrimaryKey.KeyId)
				}
				return
			}
			if err == nil {
				t.Fatal("LoadSigningKey() succeeded, want an error")
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Errorf("LoadSigningKey() error = %v, want %v", err, tt.wantErr)
			}
			if !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("LoadSigningKey() error = %q, want it to contain %q", err, tt.wantMsg)
			}
			if tt.passphrase != "" && strings.Contains(err.Error(), tt.passphrase) {
				t.Errorf("error leaks the passphrase: %q", err)
			}
			if strings.Contains(err.Error(), "BEGIN PGP") {
				t.Errorf("error leaks key material: %q", err)
			}
		})
	}
}

func TestCommitWithBadPassphraseFails(t *testing.T) {
	f := newFleet(t)
	ctx := context.Background()
	privPath, _, _ := testKey(t, t.TempDir(), "the right one 1")
	spec := Spec{URL: f.bare, Commit: CommitSpec{SigningKey: &SigningKey{File: privPath, PassphraseEnv: "PP"}}}
	r, err := Checkout(ctx, spec, t.TempDir(), envMap(map[string]string{"PP": "the wrong one 2"}))
	if err != nil {
		t.Fatal(err)
	}
	ch := bump(t, r, "6.5.0", "6.5.1")
	_, err = r.Commit(ctx, []string{ch.File}, message(t, ch))
	if !errors.Is(err, ErrBadPassphrase) {
		t.Fatalf("Commit() error = %v, want ErrBadPassphrase", err)
	}
	if strings.Contains(err.Error(), "the wrong one 2") {
		t.Errorf("error leaks the passphrase: %q", err)
	}
	if got := revParse(t, r.Dir(), "HEAD"); got != r.Head() {
		t.Errorf("an unsigned commit %s was made despite the key error", got)
	}
}
