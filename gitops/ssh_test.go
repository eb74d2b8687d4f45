package gitops

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"

	gitssh "github.com/go-git/go-git/v5/plumbing/transport/ssh"
	"github.com/google/go-cmp/cmp"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/uptick-gitops/uptick/internal/testserver"
)

// newSSHKey returns a fresh ed25519 public key and the OpenSSH PEM
// encoding of its private key, encrypted when passphrase is set.
func newSSHKey(t *testing.T, passphrase string) (ssh.PublicKey, []byte) {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	var block *pem.Block
	if passphrase == "" {
		block, err = ssh.MarshalPrivateKey(priv, "test")
	} else {
		block, err = ssh.MarshalPrivateKeyWithPassphrase(priv, "test", []byte(passphrase))
	}
	if err != nil {
		t.Fatal(err)
	}
	sshPub, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return sshPub, pem.EncodeToMemory(block)
}

// TestSSH clones and pushes through the real OpenSSH sshd on a loopback
// port, which runs git-upload-pack and git-receive-pack on the bare
// repository by absolute path, as a self-hosted git server does.
func TestSSH(t *testing.T) {
	bare := newBareRepo(t, t.TempDir(), "fleet", fixtureFiles())
	const keyPass = "ssh key pass 42"
	clientKey, clientPEM := newSSHKey(t, keyPass)
	_, strangerPEM := newSSHKey(t, "")
	otherHost, _ := newSSHKey(t, "")
	srv := testserver.SSHD(t, testserver.SSHDOptions{AuthorizedKeys: []ssh.PublicKey{clientKey}})

	dir := t.TempDir()
	writeFile := func(name string, content []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, content, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	keyFile := writeFile("id_ed25519", clientPEM)
	strangerKey := writeFile("id_stranger", strangerPEM)
	goodHosts := writeFile("known_hosts", []byte(srv.KnownHostsLine+"\n"))
	badHosts := writeFile("known_hosts_other", []byte(knownhosts.Line([]string{knownhosts.Normalize(srv.Addr)}, otherHost)+"\n"))
	url := srv.URL(bare)
	env := envMap(map[string]string{"SSH_PASS": keyPass, "BAD_PASS": "nope nope"})

	t.Run("clone, commit, push", func(t *testing.T) {
		ctx := context.Background()
		spec := Spec{URL: url, Auth: Auth{SSHKeyFile: keyFile, SSHKeyPassphraseEnv: "SSH_PASS", KnownHostsFile: goodHosts}}
		r, err := Checkout(ctx, spec, t.TempDir(), env)
		if err != nil {
			t.Fatalf("Checkout() error = %v", err)
		}
		if got, want := r.Head(), revParse(t, bare, "main"); got != want {
			t.Fatalf("Head = %s, want remote main %s", got, want)
		}
		ch := bump(t, r, "6.5.0", "6.5.1")
		sha, err := r.Commit(ctx, []string{ch.File}, message(t, ch))
		if err != nil {
			t.Fatal(err)
		}
		if err := r.Push(ctx); err != nil {
			t.Fatalf("Push() error = %v", err)
		}
		if got := revParse(t, bare, "main"); got != sha {
			t.Errorf("remote main = %s, want %s", got, sha)
		}
	})

	tests := []struct {
		name string
		auth Auth
		want string
	}{
		{"unknown host key", Auth{SSHKeyFile: keyFile, SSHKeyPassphraseEnv: "SSH_PASS", KnownHostsFile: badHosts}, "key mismatch"},
		{"missing known_hosts", Auth{SSHKeyFile: keyFile, SSHKeyPassphraseEnv: "SSH_PASS", KnownHostsFile: filepath.Join(dir, "nope")}, "auth.knownHostsFile"},
		{"wrong key passphrase", Auth{SSHKeyFile: keyFile, SSHKeyPassphraseEnv: "BAD_PASS", KnownHostsFile: goodHosts}, "auth.sshKeyFile"},
		{"missing key passphrase", Auth{SSHKeyFile: keyFile, KnownHostsFile: goodHosts}, "auth.sshKeyFile"},
		{"key not authorized by sshd", Auth{SSHKeyFile: strangerKey, KnownHostsFile: goodHosts}, "unable to authenticate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Checkout(context.Background(), Spec{URL: url, Auth: tt.auth}, t.TempDir(), env)
			t.Logf("error: %v", err)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Checkout() error = %v, want it to contain %q", err, tt.want)
			}
			for _, secret := range []string{keyPass, "nope nope", "PRIVATE KEY", string(clientPEM), string(strangerPEM)} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("error leaks a secret: %q", err)
				}
			}
		})
	}

	t.Run("host key algorithms follow known_hosts", func(t *testing.T) {
		tc, err := buildTransport(Spec{URL: url, Auth: Auth{SSHKeyFile: keyFile, SSHKeyPassphraseEnv: "SSH_PASS", KnownHostsFile: goodHosts}}, func(string) string { return keyPass })
		if err != nil {
			t.Fatal(err)
		}
		pk, ok := tc.auth.(*gitssh.PublicKeys)
		if !ok {
			t.Fatalf("auth is %T, want *ssh.PublicKeys", tc.auth)
		}
		if diff := cmp.Diff([]string{ssh.KeyAlgoED25519}, pk.HostKeyAlgorithms); diff != "" {
			t.Errorf("HostKeyAlgorithms mismatch (-want +got):\n%s", diff)
		}
		if pk.User != srv.User {
			t.Errorf("ssh user = %q, want %q from the URL", pk.User, srv.User)
		}
	})
}
