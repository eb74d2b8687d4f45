package main

import (
	"context"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/uptick-gitops/uptick/cmd/uptick/demo"
	"github.com/uptick-gitops/uptick/internal/testserver"
)

// TestRunOverTLSWithAuthEverywhere is a production-shaped pass: Debian's
// docker-registry with TLS and htpasswd, credentials from a docker config
// file; the fleet behind the real git http-backend over https with basic
// auth, the token from the environment; a signed commit pushed to an
// environment branch and checked with the real git and gpg.
func TestRunOverTLSWithAuthEverywhere(t *testing.T) {
	const regUser, regPass = "robot", "registry-Secr3t-value"
	const gitUser, gitPass = "uptick", "git-Secr3t-token-value"
	ctx := context.Background()
	dir := t.TempDir()
	write := func(name, content string) string {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}

	reg := testserver.DistributionRegistry(t, regUser, regPass)
	if err := demo.SeedRegistry(ctx, reg.Addr, remote.WithTransport(reg.Transport), remote.WithAuth(&authn.Basic{Username: regUser, Password: regPass})); err != nil {
		t.Fatal(err)
	}
	root := filepath.Join(dir, "git")
	bare := filepath.Join(root, "fleet.git")
	if err := demo.SeedFleet(bare, reg.Addr); err != nil {
		t.Fatal(err)
	}
	srv := testserver.GitHTTP(t, root, testserver.GitHTTPOptions{User: gitUser, Password: gitPass, TLS: true})

	gitCA := write("git-ca.pem", string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})))
	regCA := write("registry-ca.pem", string(reg.CAPEM))
	dockerCfg := write("docker-config.json", fmt.Sprintf(`{"auths": {%q: {"auth": %q}}}`, reg.Addr, base64.StdEncoding.EncodeToString([]byte(regUser+":"+regPass))))
	keyFile, pubFile := filepath.Join(dir, "key.asc"), filepath.Join(dir, "key.pub.asc")
	if _, err := demo.WriteKey(keyFile, pubFile); err != nil {
		t.Fatal(err)
	}
	cfg := write("uptick.yaml", fmt.Sprintf(`git:
  url: %s/fleet.git
  auth: {usernameEnv: GIT_USER, passwordEnv: GIT_TOKEN, caFile: %s}
  commit:
    author: {name: uptick, email: uptick@example.org}
    signingKey: {file: %s}
  push: {branch: env/prod}
images:
  - name: demo:podinfo
    repository: %s/demo/podinfo
    policy: {semver: {range: "^6.x"}}
    auth: {dockerConfig: %s}
    pinDigest: true
  - name: demo:redis
    repository: %s/demo/redis
    policy: {semver: {range: "~7.2"}}
    exclude: ['-alpine$']
    auth: {dockerConfig: %s}
scan: {caFile: %s}
update: {paths: [clusters]}
`, srv.URL, gitCA, keyFile, reg.Addr, dockerCfg, reg.Addr, dockerCfg, regCA))

	secrets := []string{regPass, gitPass, base64.StdEncoding.EncodeToString([]byte(regUser + ":" + regPass))}
	noSecrets := func(t *testing.T, res result) {
		t.Helper()
		for _, s := range secrets {
			if strings.Contains(res.stdout+res.stderr, s) {
				t.Errorf("output contains a secret %q:\n%s\n%s", s, res.stdout, res.stderr)
			}
		}
	}

	t.Run("wrong git token", func(t *testing.T) {
		res := uptickCmd(ctx, map[string]string{"GIT_USER": gitUser, "GIT_TOKEN": "wrong-token-value"}, "run", "--config", cfg)
		// Credentials the server refuses: only the user can fix that.
		if res.code != exitBadInput || !strings.Contains(res.stdout, srv.URL+"/fleet.git") || strings.Contains(res.stdout+res.stderr, "wrong-token-value") {
			t.Errorf("exit %d, want %d naming the remote without the token:\n%s\n%s", res.code, exitBadInput, res.stdout, res.stderr)
		}
		noSecrets(t, res)
	})

	t.Run("signed pass", func(t *testing.T) {
		env := map[string]string{"GIT_USER": gitUser, "GIT_TOKEN": gitPass}
		res := uptickCmd(ctx, env, "run", "--config", cfg, "-o", "json", "--log-level", "debug")
		if res.code != 0 {
			t.Fatalf("run: exit %d\n%s\n%s", res.code, res.stdout, res.stderr)
		}
		noSecrets(t, res)
		rep := decodeReport(t, res.stdout)
		if !rep.Pushed || !strings.HasPrefix(rep.Images[0].Digest, "sha256:") {
			t.Fatalf("report: pushed=%v podinfo digest %q", rep.Pushed, rep.Images[0].Digest)
		}
		show := exec.Command("git", "--git-dir", bare, "show", "env/prod:clusters/prod/podinfo/deployment.yaml")
		out, err := show.Output()
		if err != nil {
			t.Fatal(err)
		}
		wantImage := reg.Addr + "/demo/podinfo:6.5.3@" + rep.Images[0].Digest + ` # {"$imagepolicy": "demo:podinfo"}`
		if !strings.Contains(string(out), wantImage) {
			t.Errorf("env/prod deployment lacks %q:\n%s", wantImage, out)
		}
		verifyCommitWithGPG(t, bare, "env/prod", pubFile)

		// Nothing new: no commit.
		res = uptickCmd(ctx, env, "run", "--config", cfg)
		if res.code != 0 || !strings.Contains(res.stdout, "up to date") {
			t.Errorf("second run: exit %d\n%s\n%s", res.code, res.stdout, res.stderr)
		}
	})
}
