package gitops

import (
	"context"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/uptick-gitops/uptick/internal/testserver"
)

func TestHTTPSWithCAFile(t *testing.T) {
	root := t.TempDir()
	bare := newBareRepo(t, root, "fleet", fixtureFiles())
	srv := testserver.GitHTTP(t, root, testserver.GitHTTPOptions{User: testUser, Password: testPassword, TLS: true})
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	if err := os.WriteFile(caFile, ca, 0o644); err != nil {
		t.Fatal(err)
	}
	url := srv.URL + "/fleet.git"
	auth := Auth{UsernameEnv: "U", PasswordEnv: "P"}
	env := envMap(map[string]string{"U": testUser, "P": testPassword})
	ctx := context.Background()

	t.Run("untrusted without caFile", func(t *testing.T) {
		_, err := Checkout(ctx, Spec{URL: url, Auth: auth}, t.TempDir(), env)
		if err == nil || !strings.Contains(err.Error(), "certificate") {
			t.Fatalf("Checkout() error = %v, want a certificate error", err)
		}
	})
	t.Run("trusted with caFile", func(t *testing.T) {
		auth := auth
		auth.CAFile = caFile
		r, err := Checkout(ctx, Spec{URL: url, Auth: auth}, t.TempDir(), env)
		if err != nil {
			t.Fatalf("Checkout() error = %v", err)
		}
		ch := bump(t, r, "6.5.0", "6.5.1")
		sha, err := r.Commit(ctx, []string{ch.File}, message(t, ch))
		if err != nil {
			t.Fatal(err)
		}
		if err := r.Push(ctx); err != nil {
			t.Fatalf("Push() over https error = %v", err)
		}
		if got := revParse(t, bare, "main"); got != sha {
			t.Errorf("remote main = %s, want %s", got, sha)
		}
	})
}
