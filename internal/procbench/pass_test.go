package procbench

import (
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/uptick-gitops/uptick/internal/fleet"
	"github.com/uptick-gitops/uptick/internal/testserver"
)

// report is the part of uptick's JSON report the benchmarks read.
type report struct {
	Pushed      bool     `json:"pushed"`
	Files       []string `json:"filesChanged"`
	DurationsMs struct {
		Checkout, Scan, Update, Commit, Push, Total float64
	} `json:"durationsMs"`
}

// passSetup makes a 10,000-file fleet repository (1% marked) served by
// git http-backend, a local registry holding tags 1.0.0 and 1.1.0 of
// every image, and a config naming both; it returns the config's path.
func passSetup(b *testing.B) string {
	b.Helper()
	root := b.TempDir()
	src := filepath.Join(root, "src")
	spec := fleet.Spec{Files: 10000, Marked: fleet.Percent(10000, 1), Seed: 1}
	f, err := fleet.Generate(src, spec)
	if err != nil {
		b.Fatal(err)
	}
	git := func(dir string, args ...string) {
		cmd := exec.Command("git", args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1",
			"GIT_AUTHOR_NAME=bench", "GIT_AUTHOR_EMAIL=bench@example.invalid", "GIT_COMMITTER_NAME=bench", "GIT_COMMITTER_EMAIL=bench@example.invalid")
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	git(src, "init", "-q", "-b", "main")
	git(src, "add", "-A")
	git(src, "commit", "-q", "-m", "generated fleet")
	repos := filepath.Join(root, "repos")
	if err := os.Mkdir(repos, 0o755); err != nil {
		b.Fatal(err)
	}
	git(root, "clone", "-q", "--bare", src, filepath.Join(repos, "fleet.git"))
	srv := testserver.GitHTTP(b, repos, testserver.GitHTTPOptions{})

	reg := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	b.Cleanup(reg.Close)
	host := strings.TrimPrefix(reg.URL, "http://")
	img, err := random.Image(256, 1)
	if err != nil {
		b.Fatal(err)
	}
	var cfg strings.Builder
	fmt.Fprintf(&cfg, "git:\n  url: %s/fleet.git\n  commit: {author: {name: bench, email: bench@example.invalid}}\nimages:\n", srv.URL)
	for i, im := range f.Images {
		repo := fmt.Sprintf("%s/team/app%02d", host, i)
		for _, tag := range []string{"1.0.0", "1.1.0"} {
			ref, err := name.NewTag(repo+":"+tag, name.Insecure)
			if err != nil {
				b.Fatal(err)
			}
			if err := remote.Write(ref, img); err != nil {
				b.Fatal(err)
			}
		}
		fmt.Fprintf(&cfg, "  - {name: '%s', repository: %s, policy: {semver: {range: '>=1.0.0'}}}\n", im.Policy, repo)
	}
	fmt.Fprintf(&cfg, "scan: {insecure: ['%s']}\n", host)
	file := filepath.Join(root, "uptick.yaml")
	if err := os.WriteFile(file, []byte(cfg.String()), 0o644); err != nil {
		b.Fatal(err)
	}
	return file
}

// BenchmarkSteadyPass is the CronJob's common case: `uptick run
// --workdir` over a 10,000-file repository where nothing changed since
// the last pass. It reports the whole pass's wall time and the per-step
// durationsMs of uptick's own report.
func BenchmarkSteadyPass(b *testing.B) {
	config := passSetup(b)
	workdir := filepath.Join(b.TempDir(), "work")
	pass := func() (run, report) {
		r := runProcess(b, uptickBin, "run", "--config", config, "--workdir", workdir, "--output", "json")
		var rep report
		if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil || r.code != 0 {
			b.Fatalf("uptick run: exit %d, %v\n%s\n%s", r.code, err, r.stdout, r.stderr)
		}
		return r, rep
	}
	// The first pass clones and commits every marked file; the second
	// reads the files that commit changed.
	if _, rep := pass(); !rep.Pushed || len(rep.Files) == 0 {
		b.Fatalf("first pass pushed %v, %d files", rep.Pushed, len(rep.Files))
	}
	pass()
	var wall, update, checkout, rss []float64
	for b.Loop() {
		r, rep := pass()
		if rep.Pushed || len(rep.Files) != 0 {
			b.Fatalf("a steady pass changed %v", rep.Files)
		}
		wall = append(wall, r.wall.Seconds()*1000)
		update = append(update, rep.DurationsMs.Update)
		checkout = append(checkout, rep.DurationsMs.Checkout)
		rss = append(rss, float64(r.maxRSS)/(1<<20))
	}
	b.ReportMetric(0, "ns/op")
	b.ReportMetric(median(wall), "pass-ms")
	b.ReportMetric(median(update), "update-ms")
	b.ReportMetric(median(checkout), "checkout-ms")
	b.ReportMetric(median(rss), "peak-MiB")
}
