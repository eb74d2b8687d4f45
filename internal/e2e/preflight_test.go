package e2e

import (
	"bytes"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/packet"

	"github.com/uptick-gitops/uptick/internal/testserver"
)

// TestPreflight gives `plan` and `run` a config whose signing key or
// credentials cannot work, and expects exit 2, naming the problem, before
// a single request reaches the registry or the git server. A control case
// with everything right proves the counters see the requests a run makes.
func TestPreflight(t *testing.T) {
	const (
		gitUser, gitToken = "git", "git-token-Secr3t-value" // git: the username sent with only a password
		keyPass, badPass  = "key-passphrase-Secr3t", "wrong-passphrase-Secr3t"
		tokenEnv, passEnv = "UPTICK_E2E_GIT_TOKEN", "UPTICK_E2E_KEY_PASS"
	)
	f := newFleet(t, 1)
	f.pushTag(0, "1.0.1")
	var gitRequests atomic.Int64
	srv := testserver.GitHTTP(t, filepath.Dir(f.bare), testserver.GitHTTPOptions{User: gitUser, Password: gitToken})
	next := srv.Config.Handler
	srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gitRequests.Add(1)
		next.ServeHTTP(w, r)
	})
	url := srv.URL + "/" + filepath.Base(f.bare)
	auth := fmt.Sprintf("{passwordEnv: %s}", tokenEnv)

	keys := t.TempDir()
	encrypted := filepath.Join(keys, "encrypted.asc")
	public := filepath.Join(keys, "public.asc")
	writeSigningKey(t, encrypted, public, keyPass)
	notAKey := filepath.Join(keys, "not-a-key.asc")
	writeFile(t, notAKey, "this is not an OpenPGP key\n")
	missing := filepath.Join(keys, "missing.asc")

	signing := func(file, env string) string {
		if env == "" {
			return fmt.Sprintf("{file: %s}", file)
		}
		return fmt.Sprintf("{file: %s, passphraseEnv: %s}", file, env)
	}
	good := []string{tokenEnv + "=" + gitToken, passEnv + "=" + keyPass}
	tests := []struct {
		name    string
		auth    string
		signing string
		env     []string
		want    string // the output names it
	}{
		{"signing key file missing", auth, signing(missing, ""), good, missing},
		{"signing key file is not a key", auth, signing(notAKey, ""), good, notAKey},
		{"signing key file holds only a public key", auth, signing(public, ""), good, public},
		{"encrypted signing key, passphrase variable unset", auth, signing(encrypted, passEnv), []string{tokenEnv + "=" + gitToken}, passEnv},
		{"encrypted signing key, no passphrase configured", auth, signing(encrypted, ""), good, encrypted},
		{"encrypted signing key, wrong passphrase", auth, signing(encrypted, passEnv), []string{tokenEnv + "=" + gitToken, passEnv + "=" + badPass}, encrypted},
		{"git.auth.passwordEnv unset", auth, signing(encrypted, passEnv), []string{passEnv + "=" + keyPass}, tokenEnv},
		{"git.auth.usernameEnv unset", fmt.Sprintf("{usernameEnv: UPTICK_E2E_GIT_USER, passwordEnv: %s}", tokenEnv), "", good, "UPTICK_E2E_GIT_USER"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := f.writeConfig(fmt.Sprintf("preflight%d.yaml", i), configSpec{url: url, auth: tt.auth, signing: tt.signing})
			for _, cmd := range []string{"plan", "run"} {
				t.Run(cmd, func(t *testing.T) {
					head := f.git("rev-parse", "main")
					regBefore, gitBefore := f.registryRequests.Load(), gitRequests.Load()
					res := uptick(t, tt.env, cmd, "--config", cfg)
					out := res.stdout + res.stderr
					if res.code != 2 {
						t.Errorf("exit %d, want 2:\n%s", res.code, res)
					}
					if !strings.Contains(out, tt.want) {
						t.Errorf("the output does not name %s:\n%s", tt.want, res)
					}
					for _, secret := range []string{gitToken, keyPass, badPass} {
						if strings.Contains(out, secret) {
							t.Errorf("the output shows a secret:\n%s", res)
						}
					}
					if n := f.registryRequests.Load() - regBefore; n != 0 {
						t.Errorf("%d requests reached the registry before the problem was reported, want 0", n)
					}
					if n := gitRequests.Load() - gitBefore; n != 0 {
						t.Errorf("%d requests reached the git server before the problem was reported, want 0", n)
					}
					if got := f.git("rev-parse", "main"); got != head {
						t.Errorf("the remote's main moved from %s to %s", head, got)
					}
				})
			}
		})
	}

	// Registry credentials named per image: unset variables and a docker
	// config that is missing or broken are found before any request.
	brokenConfig := filepath.Join(keys, "broken-config.json")
	writeFile(t, brokenConfig, `{"auths":{"r.example":{"auth":"not base64!"}}}`)
	for i, img := range []struct{ name, auth, want string }{
		{"images[].auth.passwordEnv unset", "{usernameEnv: UPTICK_E2E_REG_USER, passwordEnv: UPTICK_E2E_REG_PASS}", "images[1] (private).auth.passwordEnv: environment variable UPTICK_E2E_REG_PASS is empty or unset"},
		{"images[].auth.dockerConfig missing", fmt.Sprintf("{dockerConfig: %s}", missing+".json"), "images[1] (private).auth.dockerConfig: reading docker config " + missing + ".json: no such file or directory"},
		{"images[].auth.dockerConfig broken", fmt.Sprintf("{dockerConfig: %s}", brokenConfig), `images[1] (private).auth.dockerConfig: docker config ` + brokenConfig + `: auths["r.example"].auth: not valid base64`},
	} {
		t.Run(img.name, func(t *testing.T) {
			cfg := f.writeConfig(fmt.Sprintf("preflight-image%d.yaml", i), configSpec{url: url, auth: auth, signing: signing(encrypted, passEnv),
				images: []string{fmt.Sprintf(`{name: private, repository: %s/e2e/app0, policy: {semver: {range: "*"}}, auth: %s}`, f.host, img.auth)}})
			for _, cmd := range []string{"plan", "run"} {
				regBefore, gitBefore := f.registryRequests.Load(), gitRequests.Load()
				res := uptick(t, append(good, "UPTICK_E2E_REG_USER=robot"), cmd, "--config", cfg)
				if res.code != 2 || !strings.Contains(res.stdout+res.stderr, img.want) {
					t.Errorf("%s: exit %d, want 2 naming %q:\n%s", cmd, res.code, img.want, res)
				}
				if n, m := f.registryRequests.Load()-regBefore, gitRequests.Load()-gitBefore; n != 0 || m != 0 {
					t.Errorf("%s: %d registry and %d git requests before the problem was reported, want 0", cmd, n, m)
				}
			}
		})
	}

	t.Run("control: everything right", func(t *testing.T) {
		cfg := f.writeConfig("control.yaml", configSpec{url: url, auth: auth, signing: signing(encrypted, passEnv)})
		for _, cmd := range []string{"plan", "run"} {
			regBefore, gitBefore := f.registryRequests.Load(), gitRequests.Load()
			if res := uptick(t, good, cmd, "--config", cfg); res.code != 0 {
				t.Fatalf("%s exit %d, want 0:\n%s", cmd, res.code, res)
			}
			if f.registryRequests.Load() == regBefore || gitRequests.Load() == gitBefore {
				t.Errorf("%s: the counters saw no requests: registry %d, git %d", cmd, f.registryRequests.Load()-regBefore, gitRequests.Load()-gitBefore)
			}
		}
		if got := f.tagOnRemote(0); got != "1.0.1" {
			t.Errorf("app0 on the remote is at %s after the control run, want 1.0.1", got)
		}
	})
}

// writeSigningKey writes a fresh OpenPGP key: its private half encrypted
// with passphrase to private, its public half to public, both armored.
func writeSigningKey(t *testing.T, private, public, passphrase string) {
	t.Helper()
	cfg := &packet.Config{Algorithm: packet.PubKeyAlgoEdDSA}
	e, err := openpgp.NewEntity("uptick e2e", "", "e2e@uptick.invalid", cfg)
	if err != nil {
		t.Fatal(err)
	}
	armored := func(blockType string, serialize func(w *bytes.Buffer) error) []byte {
		var buf bytes.Buffer
		w, err := armor.Encode(&buf, blockType, nil)
		if err != nil {
			t.Fatal(err)
		}
		var raw bytes.Buffer
		if err := serialize(&raw); err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write(raw.Bytes()); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		return buf.Bytes()
	}
	pub := armored(openpgp.PublicKeyType, func(w *bytes.Buffer) error { return e.Serialize(w) })
	if err := e.EncryptPrivateKeys([]byte(passphrase), cfg); err != nil {
		t.Fatal(err)
	}
	priv := armored(openpgp.PrivateKeyType, func(w *bytes.Buffer) error { return e.SerializePrivateWithoutSigning(w, cfg) })
	if err := os.WriteFile(public, pub, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(private, priv, 0o600); err != nil {
		t.Fatal(err)
	}
}
