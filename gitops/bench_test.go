package gitops

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
)

// benchFleet is a fixture of n manifests, the scale of a small fleet repo.
func benchFleet(b *testing.B, n int) string {
	b.Helper()
	files := fixtureFiles()
	for i := range n {
		files[fmt.Sprintf("apps/app%03d/deploy.yaml", i)] = fmt.Sprintf("kind: Deployment\nmetadata:\n  name: app%03d\n", i)
	}
	return newBareRepo(b, b.TempDir(), "fleet", files)
}

// BenchmarkCheckoutReuse measures a run's Checkout into a warm --workdir
// cache when the remote did not move (fetch, hard reset, clean).
func BenchmarkCheckoutReuse(b *testing.B) {
	bare := benchFleet(b, 500)
	dir := filepath.Join(b.TempDir(), "work")
	ctx := context.Background()
	if _, err := Checkout(ctx, Spec{URL: bare}, dir); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := Checkout(ctx, Spec{URL: bare}, dir); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCheckoutClone measures a cold clone over HTTP (git http-backend).
func BenchmarkCheckoutClone(b *testing.B) {
	bare := benchFleet(b, 500)
	srv := serveGit(b, filepath.Dir(bare), "", "")
	ctx := context.Background()
	for b.Loop() {
		if _, err := Checkout(ctx, Spec{URL: srv.URL + "/fleet.git"}, b.TempDir()); err != nil {
			b.Fatal(err)
		}
	}
}
