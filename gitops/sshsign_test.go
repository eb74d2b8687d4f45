package gitops

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing/object"
	"golang.org/x/crypto/ssh"
)

// writeSSHKey generates a key of kind and writes its private half to a file
// in OpenSSH format (encrypted when passphrase is set), or PKCS#8 PEM for
// kind "rsa-pkcs8".
func writeSSHKey(t *testing.T, dir, kind, passphrase string) (string, ssh.PublicKey) {
	t.Helper()
	var priv crypto.Signer
	var err error
	switch kind {
	case "ed25519":
		_, priv, err = ed25519.GenerateKey(rand.Reader)
	case "ecdsa":
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case "rsa", "rsa-pkcs8":
		priv, err = rsa.GenerateKey(rand.Reader, 2048)
	default:
		t.Fatalf("unknown key kind %q", kind)
	}
	if err != nil {
		t.Fatal(err)
	}
	var block *pem.Block
	switch {
	case kind == "rsa-pkcs8":
		der, err := x509.MarshalPKCS8PrivateKey(priv)
		if err != nil {
			t.Fatal(err)
		}
		block = &pem.Block{Type: "PRIVATE KEY", Bytes: der}
	case passphrase != "":
		block, err = ssh.MarshalPrivateKeyWithPassphrase(priv, "uptick test", []byte(passphrase))
	default:
		block, err = ssh.MarshalPrivateKey(priv, "uptick test")
	}
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "id_"+kind)
	if err := os.WriteFile(path, pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatal(err)
	}
	pub, err := ssh.NewPublicKey(priv.Public())
	if err != nil {
		t.Fatal(err)
	}
	return path, pub
}

// sshsignGit runs the git CLI isolated from the machine's configuration.
func sshsignGit(t *testing.T, dir string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1")
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// signedCommit makes a commit with go-git in a fresh repository, signed by
// signer, and returns the repository directory and the commit hash.
func signedCommit(t *testing.T, signer git.Signer) (string, string) {
	t.Helper()
	dir := t.TempDir()
	repo, err := git.PlainInit(dir, false)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "app.yaml"), []byte("image: app:1.0.1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	wt, err := repo.Worktree()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := wt.Add("app.yaml"); err != nil {
		t.Fatal(err)
	}
	who := &object.Signature{Name: "Uptick Signer", Email: "signer@example.org", When: time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)}
	h, err := wt.Commit("chore(images): update app\n", &git.CommitOptions{Author: who, Committer: who, Signer: signer})
	if err != nil {
		t.Fatalf("Commit() with signer: %v", err)
	}
	return dir, h.String()
}

func TestSSHSignedCommitVerifiesWithGit(t *testing.T) {
	for _, tt := range []struct{ kind, passphrase string }{
		{"ed25519", ""},
		{"ed25519", "open sesame 123"},
		{"ecdsa", ""},
		{"rsa", ""},
		{"rsa-pkcs8", ""},
	} {
		t.Run(tt.kind+map[bool]string{true: " encrypted", false: ""}[tt.passphrase != ""], func(t *testing.T) {
			keyDir := t.TempDir()
			path, pub := writeSSHKey(t, keyDir, tt.kind, tt.passphrase)
			spec := &SigningKey{Format: SigningFormatSSH, File: path, PassphraseEnv: "SSH_KEY_PASSPHRASE"}
			signer, err := loadSpecSigningKey(spec, func(string) string { return tt.passphrase })
			if err != nil {
				t.Fatalf("Signer() error = %v", err)
			}
			dir, sha := signedCommit(t, signer)

			allowed := filepath.Join(keyDir, "allowed_signers")
			line := `signer@example.org namespaces="git" ` + string(ssh.MarshalAuthorizedKey(pub))
			if err := os.WriteFile(allowed, []byte(line), 0o644); err != nil {
				t.Fatal(err)
			}
			out, err := sshsignGit(t, dir, "-c", "gpg.ssh.allowedSignersFile="+allowed, "verify-commit", "-v", sha)
			if err != nil {
				t.Fatalf("git verify-commit: %v\n%s", err, out)
			}
			want := `Good "git" signature for signer@example.org`
			if !strings.Contains(out, want) {
				t.Errorf("git verify-commit output lacks %q:\n%s", want, out)
			}
			raw, _ := sshsignGit(t, dir, "cat-file", "commit", sha)
			if !strings.Contains(raw, "gpgsig -----BEGIN SSH SIGNATURE-----") {
				t.Errorf("commit has no SSH signature header:\n%s", raw)
			}
		})
	}
}

// A signature by a key that is not in the allowed signers file, or in a
// namespace other than "git", must fail: the test above cannot pass by a
// verifier that accepts anything.
func TestSSHSignatureRejectedByGit(t *testing.T) {
	keyDir := t.TempDir()
	path, _ := writeSSHKey(t, keyDir, "ed25519", "")
	_, otherPub := writeSSHKey(t, t.TempDir(), "ed25519", "")
	signer, err := LoadSSHSigningKey(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	dir, sha := signedCommit(t, signer)
	for name, line := range map[string]string{
		"other key":       `signer@example.org namespaces="git" ` + string(ssh.MarshalAuthorizedKey(otherPub)),
		"other namespace": `signer@example.org namespaces="file" ` + string(ssh.MarshalAuthorizedKey(signer.PublicKey())),
	} {
		t.Run(name, func(t *testing.T) {
			allowed := filepath.Join(t.TempDir(), "allowed_signers")
			if err := os.WriteFile(allowed, []byte(line), 0o644); err != nil {
				t.Fatal(err)
			}
			out, err := sshsignGit(t, dir, "-c", "gpg.ssh.allowedSignersFile="+allowed, "verify-commit", sha)
			if err == nil {
				t.Fatalf("git verify-commit accepted the signature:\n%s", out)
			}
		})
	}
}

func TestLoadSSHSigningKey(t *testing.T) {
	dir := t.TempDir()
	plain, pub := writeSSHKey(t, dir, "ed25519", "")
	encDir := t.TempDir()
	enc, _ := writeSSHKey(t, encDir, "ed25519", "s3cret-passphrase")
	pubFile := filepath.Join(dir, "id.pub")
	if err := os.WriteFile(pubFile, ssh.MarshalAuthorizedKey(pub), 0o644); err != nil {
		t.Fatal(err)
	}
	garbage := filepath.Join(dir, "garbage")
	if err := os.WriteFile(garbage, []byte("-----BEGIN OPENSSH PRIVATE KEY-----\nnot base64!\n-----END OPENSSH PRIVATE KEY-----\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	pgp, _, _ := testKey(t, t.TempDir(), "")

	for _, tt := range []struct {
		name, path, passphrase string
		want                   error // nil: loads
	}{
		{"plain key", plain, "", nil},
		{"plain key, passphrase ignored", plain, "unused", nil},
		{"encrypted key", enc, "s3cret-passphrase", nil},
		{"encrypted key without passphrase", enc, "", ErrPassphraseRequired},
		{"encrypted key, wrong passphrase", enc, "wrong-passphrase", ErrBadPassphrase},
		{"public key", pubFile, "", ErrNoPrivateKey},
		{"garbage", garbage, "", errBadKeyFile},
		{"OpenPGP key", pgp, "", errBadKeyFile},
		{"missing file", filepath.Join(dir, "nope"), "", errKeyUnreadable},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s, err := LoadSSHSigningKey(tt.path, []byte(tt.passphrase))
			if tt.want == nil {
				if err != nil {
					t.Fatalf("LoadSSHSigningKey() error = %v", err)
				}
				if s.PublicKey() == nil {
					t.Fatal("no public key")
				}
				return
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("LoadSSHSigningKey() error = %v, want %v", err, tt.want)
			}
			var bi interface{ BadInput() bool }
			if !errors.As(err, &bi) || !bi.BadInput() {
				t.Errorf("error %v is not bad input", err)
			}
			msg := err.Error()
			if !strings.Contains(msg, tt.path) {
				t.Errorf("error %q does not name the file", msg)
			}
			if tt.passphrase != "" && strings.Contains(msg, tt.passphrase) {
				t.Errorf("error %q leaks the passphrase", msg)
			}
			if strings.Contains(msg, "open ") || strings.Contains(msg, "BEGIN") {
				t.Errorf("error %q carries a syscall name or key text", msg)
			}
		})
	}
}

func TestSigningKeyFormats(t *testing.T) {
	pgpPath, _, _ := testKey(t, t.TempDir(), "pgp pass")
	sshPath, _ := writeSSHKey(t, t.TempDir(), "ed25519", "")
	env := func(name string) string { return map[string]string{"PASS": "pgp pass"}[name] }
	for _, tt := range []struct {
		name       string
		key        SigningKey
		wantFields []string // FieldError fields from Spec.Validate
		wantArmor  string
	}{
		{"default format is openpgp", SigningKey{File: pgpPath, PassphraseEnv: "PASS"}, nil, "-----BEGIN PGP SIGNATURE-----"},
		{"ssh", SigningKey{Format: "ssh", File: sshPath}, nil, "-----BEGIN SSH SIGNATURE-----"},
		{"unknown format and no file", SigningKey{Format: "x509"}, []string{"commit.signingKey.file", "commit.signingKey.format"}, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			key := tt.key
			spec := Spec{URL: "https://example.org/fleet.git", Commit: CommitSpec{SigningKey: &key}}
			var got []string
			for _, e := range unjoin(spec.Validate()) {
				var fe *FieldError
				if !errors.As(e, &fe) {
					t.Fatalf("Validate() error %v is not a *FieldError", e)
				}
				got = append(got, fe.Field)
			}
			if strings.Join(got, ",") != strings.Join(tt.wantFields, ",") {
				t.Fatalf("Validate() fields = %v, want %v", got, tt.wantFields)
			}
			if tt.wantArmor == "" {
				return
			}
			spec.SetDefaults()
			s, err := loadSpecSigningKey(spec.Commit.SigningKey, env)
			if err != nil {
				t.Fatalf("loading the key: %v", err)
			}
			sig, err := s.Sign(strings.NewReader("tree 0\n"))
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(string(sig), tt.wantArmor) {
				t.Errorf("signature starts %q, want %q", string(sig)[:min(len(sig), 40)], tt.wantArmor)
			}
		})
	}
}

func unjoin(err error) []error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}
