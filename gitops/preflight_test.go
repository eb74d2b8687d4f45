package gitops

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"golang.org/x/crypto/ssh/knownhosts"
)

func TestPreflight(t *testing.T) {
	dir := t.TempDir()
	const gpgPass, sshPass, token = "gpg pass 1234", "ssh pass 5678", "token-9876"
	encKey, pubKey, _ := testKey(t, dir, gpgPass)
	plainDir := t.TempDir()
	plainKey, _, _ := testKey(t, plainDir, "")
	hostPub, _ := newSSHKey(t, "")
	_, sshPEM := newSSHKey(t, sshPass)
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	sshKey := write("id_ed25519", string(sshPEM))
	hosts := write("known_hosts", knownhosts.Line([]string{"[git.example.org]:2222"}, hostPub)+"\n")
	otherHosts := write("known_hosts_other", knownhosts.Line([]string{"elsewhere.example.org"}, hostPub)+"\n")
	badHosts := write("known_hosts_bad", "this is not a known_hosts line\n")
	garbage := write("garbage", "not a key or a certificate\n")
	missing := filepath.Join(dir, "missing")

	// Every check is offline: a server that counts requests sees none.
	var requests atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { requests.Add(1) }))
	t.Cleanup(srv.Close)
	httpsURL := srv.URL + "/fleet.git"
	sshURL := "ssh://git@git.example.org:2222/fleet.git"
	env := map[string]string{"GIT_USER": "alice", "GIT_TOKEN": token, "SSH_PASS": sshPass, "GPG_PASS": gpgPass, "WRONG": "not the passphrase"}
	sshAuth := Auth{SSHKeyFile: sshKey, SSHKeyPassphraseEnv: "SSH_PASS", KnownHostsFile: hosts}
	signed := func(file, passEnv string) CommitSpec {
		return CommitSpec{SigningKey: &SigningKey{File: file, PassphraseEnv: passEnv}}
	}

	tests := []struct {
		name string
		spec Spec
		want []string // each a whole "field: message" prefix of one joined error; nil means valid
	}{
		{name: "https with credentials set", spec: Spec{URL: httpsURL, Auth: Auth{UsernameEnv: "GIT_USER", PasswordEnv: "GIT_TOKEN"}}},
		{name: "ssh with key, passphrase and known host", spec: Spec{URL: sshURL, Auth: sshAuth}},
		{name: "encrypted signing key with its passphrase", spec: Spec{URL: httpsURL, Commit: signed(encKey, "GPG_PASS")}},
		{name: "unencrypted signing key, passphrase variable unset", spec: Spec{URL: httpsURL, Commit: signed(plainKey, "UNSET")}},
		{name: "credential variables unset", spec: Spec{URL: httpsURL, Auth: Auth{UsernameEnv: "NO_USER", PasswordEnv: "NO_TOKEN"}},
			want: []string{"auth.passwordEnv: environment variable NO_TOKEN is empty or unset", "auth.usernameEnv: environment variable NO_USER is empty or unset"}},
		{name: "CA file missing", spec: Spec{URL: httpsURL, Auth: Auth{CAFile: missing}},
			want: []string{"auth.caFile: " + missing + ": no such file or directory"}},
		{name: "CA file without certificates", spec: Spec{URL: httpsURL, Auth: Auth{CAFile: garbage}},
			want: []string{"auth.caFile: " + garbage + " holds no PEM certificate"}},
		{name: "ssh key missing", spec: Spec{URL: sshURL, Auth: Auth{SSHKeyFile: missing, KnownHostsFile: hosts}},
			want: []string{"auth.sshKeyFile: " + missing + ": no such file or directory"}},
		{name: "ssh key encrypted, no passphrase named", spec: Spec{URL: sshURL, Auth: Auth{SSHKeyFile: sshKey, KnownHostsFile: hosts}},
			want: []string{"auth.sshKeyFile: loading " + sshKey + " (if it is encrypted, set sshKeyPassphraseEnv)"}},
		{name: "ssh passphrase variable unset", spec: Spec{URL: sshURL, Auth: Auth{SSHKeyFile: sshKey, SSHKeyPassphraseEnv: "UNSET", KnownHostsFile: hosts}},
			want: []string{"auth.sshKeyPassphraseEnv: environment variable UNSET is empty or unset"}},
		{name: "ssh passphrase wrong", spec: Spec{URL: sshURL, Auth: Auth{SSHKeyFile: sshKey, SSHKeyPassphraseEnv: "WRONG", KnownHostsFile: hosts}},
			want: []string{"auth.sshKeyFile: loading " + sshKey}},
		{name: "ssh key not a key", spec: Spec{URL: sshURL, Auth: Auth{SSHKeyFile: garbage, KnownHostsFile: hosts}},
			want: []string{"auth.sshKeyFile: loading " + garbage}},
		{name: "known_hosts missing, key missing too", spec: Spec{URL: sshURL, Auth: Auth{SSHKeyFile: missing, KnownHostsFile: missing}},
			want: []string{"auth.sshKeyFile: " + missing, "auth.knownHostsFile: " + missing + ": no such file or directory"}},
		{name: "known_hosts unparsable", spec: Spec{URL: sshURL, Auth: Auth{SSHKeyFile: sshKey, SSHKeyPassphraseEnv: "SSH_PASS", KnownHostsFile: badHosts}},
			want: []string{"auth.knownHostsFile: loading " + badHosts}},
		{name: "known_hosts without the host", spec: Spec{URL: sshURL, Auth: Auth{SSHKeyFile: sshKey, SSHKeyPassphraseEnv: "SSH_PASS", KnownHostsFile: otherHosts}},
			want: []string{"auth.knownHostsFile: " + otherHosts + " has no key for git.example.org:2222"}},
		{name: "signing key missing", spec: Spec{URL: httpsURL, Commit: signed(missing, "")},
			want: []string{"commit.signingKey.file: reading signing key: " + missing + ": no such file or directory"}},
		{name: "signing key not a key", spec: Spec{URL: httpsURL, Commit: signed(garbage, "")},
			want: []string{"commit.signingKey.file: reading signing key " + garbage + ": not an armored OpenPGP key"}},
		{name: "signing key public only", spec: Spec{URL: httpsURL, Commit: signed(pubKey, "")},
			want: []string{"commit.signingKey.file: reading signing key " + pubKey + ": no private signing key in the file"}},
		{name: "signing key encrypted, no passphrase named", spec: Spec{URL: httpsURL, Commit: signed(encKey, "")},
			want: []string{"commit.signingKey.passphraseEnv: required: reading signing key " + encKey + ": the signing key is encrypted"}},
		{name: "signing passphrase variable unset", spec: Spec{URL: httpsURL, Commit: signed(encKey, "UNSET")},
			want: []string{"commit.signingKey.passphraseEnv: reading signing key " + encKey + ": the signing key is encrypted and no passphrase was given (environment variable UNSET is empty or unset)"}},
		{name: "signing passphrase wrong", spec: Spec{URL: httpsURL, Commit: signed(encKey, "WRONG")},
			want: []string{"commit.signingKey.passphraseEnv: WRONG does not decrypt the key"}},
		{name: "bad template and bad key: shape first", spec: Spec{URL: httpsURL, Commit: CommitSpec{MessageTemplate: "{{.Nope}}", SigningKey: &SigningKey{File: missing}}},
			want: []string{"commit.messageTemplate: executing commit message template"}},
		{name: "every problem at once", spec: Spec{URL: httpsURL, Auth: Auth{PasswordEnv: "NO_TOKEN", CAFile: missing}, Commit: signed(encKey, "WRONG")},
			want: []string{"auth.caFile: ", "auth.passwordEnv: ", "commit.signingKey.passphraseEnv: "}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.spec.Preflight(func(k string) string { return env[k] })
			if tt.want == nil {
				if err != nil {
					t.Fatalf("Preflight() = %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Preflight() = nil, want %q", tt.want)
			}
			t.Logf("error: %v", err)
			if !IsBadInput(err) {
				t.Errorf("Preflight() error is not bad input")
			}
			lines := strings.Split(err.Error(), "\n")
			if len(lines) != len(tt.want) {
				t.Fatalf("Preflight() reported %d problems, want %d:\n%v", len(lines), len(tt.want), err)
			}
			for i, w := range tt.want {
				if strings.HasPrefix(lines[i], "git.") {
					t.Errorf("problem %d = %q names the config section; gitops must not know it", i+1, lines[i])
				}
				if !strings.HasPrefix(lines[i], w) {
					t.Errorf("problem %d = %q, want it to start with %q", i+1, lines[i], w)
				}
			}
			for _, leaf := range leaves(err) {
				var fe *FieldError
				if !errors.As(leaf, &fe) {
					t.Errorf("%q is not a *FieldError", leaf)
				}
			}
			for _, bad := range []string{gpgPass, sshPass, token, "not the passphrase", "PRIVATE KEY", "open ", "stat ", "statat"} {
				if strings.Contains(err.Error(), bad) {
					t.Errorf("Preflight() error contains %q: %v", bad, err)
				}
			}
		})
	}
	if n := requests.Load(); n != 0 {
		t.Errorf("Preflight sent %d requests; it must send none", n)
	}
}

// leaves flattens joined errors.
func leaves(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, leaves(e)...)
		}
		return out
	}
	return []error{err}
}
