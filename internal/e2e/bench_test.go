package e2e

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/uptick-gitops/uptick/internal/testserver"
)

// benchBinEnv names another uptick binary to measure instead of the one
// TestMain built, to compare two versions in one sitting.
const benchBinEnv = "UPTICK_BENCH_BIN"

// BenchmarkScanPeakRSS runs `uptick scan` as a process over 50 images of
// 2,000 tags each on a real distribution v3 registry and reports the
// process's peak resident memory (target: under 100 MiB) and its registry
// requests.
func BenchmarkScanPeakRSS(b *testing.B) {
	const images, tagsPer = 50, 2000
	reg := testserver.StartDistributionV3(b, testserver.DistributionOptions{})
	img, err := random.Image(256, 1)
	if err != nil {
		b.Fatal(err)
	}
	tags := make([]string, tagsPer-1)
	for i := range tags {
		tags[i] = fmt.Sprintf("1.%d.%d", i/100, i%100)
	}
	dir := b.TempDir()
	var cfg strings.Builder
	fmt.Fprintf(&cfg, "git: {url: 'file://%s/none.git'}\nscan: {caFile: %s}\nimages:\n", dir, filepath.Join(dir, "ca.pem"))
	for i := range images {
		repo := fmt.Sprintf("bench/app%02d", i)
		ref, err := name.NewTag(reg.Addr + "/" + repo + ":seed")
		if err != nil {
			b.Fatal(err)
		}
		if err := remote.Write(ref, img, remote.WithTransport(reg.Transport)); err != nil {
			b.Fatal(err)
		}
		reg.SeedTags(b, repo, "seed", tags)
		fmt.Fprintf(&cfg, "  - {name: app%02d, repository: %s/%s, policy: {semver: {range: '>=1.0.0'}}}\n", i, reg.Addr, repo)
	}
	writeFile(b, filepath.Join(dir, "ca.pem"), string(reg.CAPEM))
	config := filepath.Join(dir, "uptick.yaml")
	writeFile(b, config, cfg.String())

	bin := uptickBin
	if v := os.Getenv(benchBinEnv); v != "" {
		bin = v
	}
	var peak int64
	for b.Loop() {
		cmd := exec.Command(bin, "scan", "--config", config, "--output", "json")
		cmd.Env = baseEnv()
		cmd.Stdout = io.Discard
		var stderr strings.Builder
		cmd.Stderr = &stderr
		if err := cmd.Run(); err != nil {
			b.Fatalf("uptick scan: %v\n%s", err, stderr.String())
		}
		if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
			peak = max(peak, ru.Maxrss) // KiB on Linux
		}
	}
	b.ReportMetric(float64(peak)/1024, "peak-RSS-MiB")
}
