package gitops

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	gitssh "github.com/go-git/go-git/v5/plumbing/transport/ssh"
	"github.com/google/go-cmp/cmp"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// newSSHKey returns a fresh ed25519 signer and its OpenSSH PEM encoding,
// encrypted when passphrase is set.
func newSSHKey(t *testing.T, passphrase string) (ssh.Signer, []byte) {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
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
	signer, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return signer, pem.EncodeToMemory(block)
}

// serveSSH is a real SSH server on 127.0.0.1 (golang.org/x/crypto/ssh)
// that accepts only clientKey and runs the git CLI's upload-pack and
// receive-pack for repositories under root, as a forge's sshd would.
func serveSSH(t *testing.T, root string, host ssh.Signer, clientKey ssh.PublicKey) string {
	t.Helper()
	cfg := &ssh.ServerConfig{
		PublicKeyCallback: func(_ ssh.ConnMetadata, k ssh.PublicKey) (*ssh.Permissions, error) {
			if bytes.Equal(k.Marshal(), clientKey.Marshal()) {
				return nil, nil
			}
			return nil, errors.New("unknown key")
		},
	}
	cfg.AddHostKey(host)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer conn.Close()
				_, chans, reqs, err := ssh.NewServerConn(conn, cfg)
				if err != nil {
					return
				}
				go ssh.DiscardRequests(reqs)
				for nc := range chans {
					if nc.ChannelType() != "session" {
						nc.Reject(ssh.UnknownChannelType, "session only")
						continue
					}
					ch, creqs, err := nc.Accept()
					if err != nil {
						return
					}
					wg.Add(1)
					go func() {
						defer wg.Done()
						serveGitSession(root, ch, creqs)
					}()
				}
			}()
		}
	}()
	return ln.Addr().String()
}

func serveGitSession(root string, ch ssh.Channel, reqs <-chan *ssh.Request) {
	defer ch.Close()
	for req := range reqs {
		if req.Type != "exec" {
			req.Reply(req.Type == "env", nil)
			continue
		}
		var p struct{ Cmd string }
		if err := ssh.Unmarshal(req.Payload, &p); err != nil {
			req.Reply(false, nil)
			return
		}
		verb, arg, _ := strings.Cut(p.Cmd, " ")
		arg = strings.Trim(arg, "'")
		if verb != "git-upload-pack" && verb != "git-receive-pack" {
			req.Reply(false, nil)
			return
		}
		req.Reply(true, nil)
		cmd := exec.Command("git", strings.TrimPrefix(verb, "git-"), filepath.Join(root, filepath.Clean("/"+arg)))
		cmd.Env = gitEnv()
		cmd.Stdout, cmd.Stderr = ch, ch.Stderr()
		stdin, err := cmd.StdinPipe()
		status := uint32(0)
		if err == nil {
			err = cmd.Start()
		}
		if err == nil {
			go func() { io.Copy(stdin, ch); stdin.Close() }()
			err = cmd.Wait()
		}
		if err != nil {
			status = 1
		}
		ch.SendRequest("exit-status", false, ssh.Marshal(struct{ Status uint32 }{status}))
		return
	}
}

func TestSSH(t *testing.T) {
	root := t.TempDir()
	bare := newBareRepo(t, root, "fleet", fixtureFiles())
	hostKey, _ := newSSHKey(t, "")
	otherHost, _ := newSSHKey(t, "")
	const keyPass = "ssh key pass 42"
	clientKey, clientPEM := newSSHKey(t, keyPass)
	addr := serveSSH(t, root, hostKey, clientKey.PublicKey())

	dir := t.TempDir()
	keyFile := filepath.Join(dir, "id_ed25519")
	if err := os.WriteFile(keyFile, clientPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	writeKnownHosts := func(name string, key ssh.PublicKey) string {
		p := filepath.Join(dir, name)
		line := knownhosts.Line([]string{knownhosts.Normalize(addr)}, key) + "\n"
		if err := os.WriteFile(p, []byte(line), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	goodHosts := writeKnownHosts("known_hosts", hostKey.PublicKey())
	badHosts := writeKnownHosts("known_hosts_other", otherHost.PublicKey())
	url := "ssh://git@" + addr + "/fleet.git"
	env := envMap(map[string]string{"SSH_PASS": keyPass, "BAD_PASS": "nope nope"})

	t.Run("clone, commit, push", func(t *testing.T) {
		ctx := context.Background()
		spec := Spec{URL: url, Auth: Auth{SSHKeyFile: keyFile, SSHKeyPassphraseEnv: "SSH_PASS", KnownHostsFile: goodHosts}}
		r, err := Checkout(ctx, spec, t.TempDir(), env)
		if err != nil {
			t.Fatalf("Checkout() error = %v", err)
		}
		if r.Head() != revParse(t, bare, "main") {
			t.Fatalf("Head = %s, want remote main", r.Head())
		}
		ch := bump(t, r, "6.5.0", "6.5.1")
		sha, err := r.Commit(ctx, []string{ch.File}, []Change{ch})
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
		{"missing known_hosts", Auth{SSHKeyFile: keyFile, SSHKeyPassphraseEnv: "SSH_PASS", KnownHostsFile: filepath.Join(dir, "nope")}, "git.auth.knownHostsFile"},
		{"wrong key passphrase", Auth{SSHKeyFile: keyFile, SSHKeyPassphraseEnv: "BAD_PASS", KnownHostsFile: goodHosts}, "git.auth.sshKeyFile"},
		{"missing key passphrase", Auth{SSHKeyFile: keyFile, KnownHostsFile: goodHosts}, "git.auth.sshKeyFile"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Checkout(context.Background(), Spec{URL: url, Auth: tt.auth}, t.TempDir(), env)
			t.Logf("error: %v", err)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Checkout() error = %v, want it to contain %q", err, tt.want)
			}
			if strings.Contains(err.Error(), keyPass) || strings.Contains(err.Error(), "nope nope") || strings.Contains(err.Error(), "PRIVATE KEY") {
				t.Errorf("error leaks a secret: %q", err)
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
		if pk.User != "git" {
			t.Errorf("ssh user = %q, want git", pk.User)
		}
	})
}
