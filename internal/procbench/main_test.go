package procbench

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/uptick-gitops/uptick/internal/fleet"
	"github.com/uptick-gitops/uptick/internal/testserver"
)

// uptickBin is the binary TestMain builds; tmpRoot holds every generated
// tree. Both are set once before any test or benchmark runs.
var uptickBin, tmpRoot string

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	var err error
	tmpRoot, err = os.MkdirTemp("", "uptick-procbench-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "procbench:", err)
		return 1
	}
	defer os.RemoveAll(tmpRoot)
	uptickBin = filepath.Join(tmpRoot, "uptick")
	if err := testserver.BuildUptick(uptickBin); err != nil {
		fmt.Fprintln(os.Stderr, "procbench:", err)
		return 1
	}
	return m.Run()
}

// trees are the generated fleets, by spec, made once per process.
var trees struct {
	mu sync.Mutex
	m  map[fleet.Spec]*fleet.Fleet
}

// tree returns the fleet of files files, pct percent marked, seed 1.
func tree(tb testing.TB, files int, pct float64) *fleet.Fleet {
	tb.Helper()
	spec := fleet.Spec{Files: files, Marked: fleet.Percent(files, pct), Seed: 1}
	trees.mu.Lock()
	defer trees.mu.Unlock()
	if f := trees.m[spec]; f != nil {
		return f
	}
	f, err := fleet.Generate(filepath.Join(tmpRoot, fmt.Sprintf("fleet-%d-%g", files, pct)), spec)
	if err != nil {
		tb.Fatal(err)
	}
	// Write the new tree out now, so no run pays for its writeback.
	syscall.Sync()
	if trees.m == nil {
		trees.m = map[fleet.Spec]*fleet.Fleet{}
	}
	trees.m[spec] = f
	return f
}

// imageFlags are the --image flags setting every policy of f to tag.
func imageFlags(f *fleet.Fleet, tag string) []string {
	var out []string
	for _, img := range f.Images {
		out = append(out, "--image", img.Policy+"="+img.Repository+":"+tag)
	}
	return out
}

// run is one finished process.
type run struct {
	wall, cpu time.Duration
	maxRSS    int64 // bytes
	stdout    string
	stderr    string
	code      int
}

// timeBin is GNU time, which reports a finished process's peak RSS as
// the kernel counts it. Go starts children with vfork, so the child's own
// rusage would start from this (large) test process's peak; GNU time
// forks from a process of a few MiB.
const timeBin = "/usr/bin/time"

// runProcess runs a command to its end under GNU time.
func runProcess(tb testing.TB, name string, args ...string) run {
	tb.Helper()
	if _, err := os.Stat(timeBin); err != nil {
		tb.Fatalf("%s is not installed (Debian package time): run `make tools`: %v", timeBin, err)
	}
	acct := filepath.Join(tmpRoot, "acct")
	cmd := exec.Command(timeBin, append([]string{"-f", "%M %U %S", "-o", acct, name}, args...)...)
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	r := run{wall: time.Since(start), stdout: stdout.String(), stderr: stderr.String()}
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		tb.Fatalf("%s: %v", name, err)
	}
	r.code = cmd.ProcessState.ExitCode()
	b, err := os.ReadFile(acct)
	if err != nil {
		tb.Fatalf("reading %s's accounting: %v", timeBin, err)
	}
	// GNU time prefixes "Command exited with non-zero status N" when it did.
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	var kb int64
	var user, sys float64
	if _, err := fmt.Sscanf(lines[len(lines)-1], "%d %f %f", &kb, &user, &sys); err != nil {
		tb.Fatalf("%s's accounting %q: %v", timeBin, b, err)
	}
	r.maxRSS = kb << 10
	r.cpu = time.Duration((user + sys) * float64(time.Second))
	return r
}

// pairs collects per-pair figures of a benchmark and reports them.
type pairs struct {
	a, b, ratio []float64
	rss         []float64
}

func (p *pairs) add(a, b run) {
	p.a = append(p.a, a.wall.Seconds())
	p.b = append(p.b, b.wall.Seconds())
	p.ratio = append(p.ratio, a.wall.Seconds()/b.wall.Seconds())
	p.rss = append(p.rss, float64(a.maxRSS)/(1<<20))
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s) == 0 {
		return 0
	}
	return s[len(s)/2]
}

func (p *pairs) report(b *testing.B, name string) {
	b.ReportMetric(0, "ns/op")
	b.ReportMetric(median(p.a)*1000, name+"-ms")
	b.ReportMetric(median(p.b)*1000, "grep-ms")
	b.ReportMetric(median(p.ratio), "ratio")
	b.ReportMetric(slices.Min(p.ratio), "ratio-min")
	b.ReportMetric(slices.Max(p.rss), "peak-MiB")
}
