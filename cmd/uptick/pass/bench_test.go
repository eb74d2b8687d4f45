package pass

import (
	"context"
	"fmt"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-git/go-git/v5"
	gitconfig "github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/uptick-gitops/uptick/cmd/uptick/config"
)

// BenchmarkRunPass measures one steady-state pass, the way a CronJob with a
// cached --workdir runs every few minutes: fetch, list 20 repositories of
// 50 tags each, select, screen 1,000 manifests (20 marked), nothing to
// commit. The first pass (clone and commit) is outside the timing.
func BenchmarkRunPass(b *testing.B) {
	const images, tags, files = 20, 50, 1000
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	b.Cleanup(srv.Close)
	host := strings.TrimPrefix(srv.URL, "http://")
	img, err := random.Image(256, 1)
	if err != nil {
		b.Fatal(err)
	}
	for i := 0; i < images; i++ {
		for j := 0; j < tags; j++ {
			ref, err := name.NewTag(fmt.Sprintf("%s/bench/app%d:1.%d.0", host, i, j))
			if err != nil {
				b.Fatal(err)
			}
			// Blobs once per repository; further tags are manifest PUTs.
			push := remote.Tag
			if j == 0 {
				push = func(t name.Tag, _ remote.Taggable, o ...remote.Option) error { return remote.Write(t, img, o...) }
			}
			if err := push(ref, img); err != nil {
				b.Fatal(err)
			}
		}
	}

	dir := b.TempDir()
	bare := filepath.Join(dir, "fleet.git")
	seedBenchFleet(b, bare, host, images, files)
	var text strings.Builder
	fmt.Fprintf(&text, "git: {url: 'file://%s'}\nimages:\n", bare)
	for i := 0; i < images; i++ {
		fmt.Fprintf(&text, "  - {name: app%d, repository: %s/bench/app%d, policy: {semver: {range: '^1'}}}\n", i, host, i)
	}
	fmt.Fprintf(&text, "scan: {insecure: [%q]}\n", host)
	cfgFile := filepath.Join(dir, "uptick.yaml")
	if err := os.WriteFile(cfgFile, []byte(text.String()), 0o644); err != nil {
		b.Fatal(err)
	}
	cfg, err := config.Load(cfgFile)
	if err != nil {
		b.Fatal(err)
	}
	opts := Options{Workdir: filepath.Join(dir, "work"), Getenv: func(string) string { return "" }}
	if res := Run(context.Background(), cfg, opts); res.Err() != nil || !res.Pushed() {
		b.Fatalf("first pass: %v", res.Err())
	}
	b.ResetTimer()
	requests := 0
	for i := 0; i < b.N; i++ {
		res := Run(context.Background(), cfg, opts)
		if err := res.Err(); err != nil || res.Last().Commit != "" {
			b.Fatalf("steady pass: %v", err)
		}
		for _, im := range res.Images {
			requests += im.Requests
		}
	}
	b.ReportMetric(float64(requests)/float64(b.N)/images, "requests/image")
}

// seedBenchFleet creates a bare repository of n manifests, one per image
// marked and behind, on main.
func seedBenchFleet(b *testing.B, bare, host string, images, n int) {
	b.Helper()
	if _, err := git.PlainInitWithOptions(bare, &git.PlainInitOptions{Bare: true, InitOptions: git.InitOptions{DefaultBranch: "refs/heads/main"}}); err != nil {
		b.Fatal(err)
	}
	work := b.TempDir()
	repo, err := git.PlainInitWithOptions(work, &git.PlainInitOptions{InitOptions: git.InitOptions{DefaultBranch: "refs/heads/main"}})
	if err != nil {
		b.Fatal(err)
	}
	for i := 0; i < n; i++ {
		image := fmt.Sprintf("registry.example/other/svc%d:2.0.0", i)
		marker := ""
		if i < images {
			image, marker = fmt.Sprintf("%s/bench/app%d:1.0.0", host, i), fmt.Sprintf(` # {"$imagepolicy": "app%d"}`, i)
		}
		p := filepath.Join(work, "clusters", fmt.Sprintf("team%d", i%25), fmt.Sprintf("svc%d.yaml", i))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			b.Fatal(err)
		}
		doc := fmt.Sprintf("apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: svc%d\n  namespace: team%d\nspec:\n  replicas: 2\n  template:\n    spec:\n      containers:\n        - name: app\n          image: %s%s\n          ports:\n            - containerPort: 8080\n", i, i%25, image, marker)
		if err := os.WriteFile(p, []byte(doc), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	wt, err := repo.Worktree()
	if err != nil {
		b.Fatal(err)
	}
	if err := wt.AddGlob("clusters"); err != nil {
		b.Fatal(err)
	}
	who := &object.Signature{Name: "bench", Email: "bench@example.org", When: time.Now()}
	if _, err := wt.Commit("fleet", &git.CommitOptions{Author: who, Committer: who}); err != nil {
		b.Fatal(err)
	}
	if _, err := repo.CreateRemote(&gitconfig.RemoteConfig{Name: "origin", URLs: []string{bare}}); err != nil {
		b.Fatal(err)
	}
	if err := repo.Push(&git.PushOptions{RemoteName: "origin", RefSpecs: []gitconfig.RefSpec{"refs/heads/main:refs/heads/main"}}); err != nil {
		b.Fatal(err)
	}
}
