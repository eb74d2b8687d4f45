package testserver

import (
	"crypto/ed25519"
	"crypto/rand"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

func newSigner(t *testing.T) ssh.Signer {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// dialSSH connects to srv as its user with key, checking the host key
// against srv.KnownHostsLine the way an OpenSSH client would.
func dialSSH(t *testing.T, srv *SSHServer, key ssh.Signer) (*ssh.Client, error) {
	t.Helper()
	kh := filepath.Join(t.TempDir(), "known_hosts")
	if err := os.WriteFile(kh, []byte(srv.KnownHostsLine+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cb, err := knownhosts.New(kh)
	if err != nil {
		t.Fatal(err)
	}
	return ssh.Dial("tcp", srv.Addr, &ssh.ClientConfig{
		User:            srv.User,
		Auth:            []ssh.AuthMethod{ssh.PublicKeys(key)},
		HostKeyCallback: cb,
	})
}

func TestSSHD(t *testing.T) {
	client := newSigner(t)
	var addr string
	t.Run("serves", func(t *testing.T) {
		srv := SSHD(t, SSHDOptions{AuthorizedKeys: []ssh.PublicKey{client.PublicKey()}, Env: []string{"UPTICK_TEST=1"}})
		addr = srv.Addr
		host, port, err := net.SplitHostPort(srv.Addr)
		if err != nil || host != "127.0.0.1" {
			t.Fatalf("Addr = %q, want a 127.0.0.1 address", srv.Addr)
		}
		if want := "[127.0.0.1]:" + port + " ssh-ed25519 "; !strings.HasPrefix(srv.KnownHostsLine, want) {
			t.Errorf("KnownHostsLine = %q, want prefix %q", srv.KnownHostsLine, want)
		}
		if got, want := srv.URL("/srv/git/fleet.git"), "ssh://"+srv.User+"@"+srv.Addr+"/srv/git/fleet.git"; got != want {
			t.Errorf("URL() = %q, want %q", got, want)
		}

		c, err := dialSSH(t, srv, client)
		if err != nil {
			t.Fatalf("dialing with the authorized key: %v", err)
		}
		defer c.Close()
		tests := []struct {
			name, cmd, want string
		}{
			{"git ignores global config", "printenv GIT_CONFIG_GLOBAL GIT_CONFIG_NOSYSTEM", "/dev/null\n1\n"},
			{"extra env", "printenv UPTICK_TEST", "1\n"},
			{"git runs", "git --version | cut -d' ' -f1,2", "git version\n"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				s, err := c.NewSession()
				if err != nil {
					t.Fatal(err)
				}
				defer s.Close()
				out, err := s.CombinedOutput(tt.cmd)
				if err != nil {
					t.Fatalf("%s: %v\n%s", tt.cmd, err, out)
				}
				if diff := cmp.Diff(tt.want, string(out)); diff != "" {
					t.Errorf("%s output mismatch (-want +got):\n%s", tt.cmd, diff)
				}
			})
		}

		t.Run("other key rejected", func(t *testing.T) {
			c, err := dialSSH(t, srv, newSigner(t))
			if err == nil {
				c.Close()
				t.Fatal("dialing with an unauthorized key succeeded")
			}
			if !strings.Contains(err.Error(), "unable to authenticate") {
				t.Errorf("error = %v, want an authentication failure", err)
			}
		})
	})
	// The subtest's cleanup stopped sshd: nothing may listen there now.
	if conn, err := net.Dial("tcp", addr); err == nil {
		conn.Close()
		t.Errorf("%s still accepts connections after cleanup", addr)
	}
}
