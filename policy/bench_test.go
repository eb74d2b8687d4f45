package policy

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

const benchTags = 100_000

// benchVersions is a registry-like tag list: releases, prereleases, v
// prefixes, CI tags and signatures, in random order.
func benchVersions() []string {
	rng := rand.New(rand.NewPCG(1, 2))
	tags := make([]string, 0, benchTags)
	for len(tags) < benchTags {
		v := fmt.Sprintf("%d.%d.%d", rng.IntN(10), rng.IntN(50), rng.IntN(200))
		switch rng.IntN(10) {
		case 0:
			v += fmt.Sprintf("-rc.%d", rng.IntN(5))
		case 1:
			v = "v" + v
		case 2:
			v = fmt.Sprintf("main-%08x-%d", rng.Uint32(), 1700000000+rng.IntN(1e6))
		case 3:
			v = "sha256-" + fmt.Sprintf("%016x", rng.Uint64()) + ".sig"
		}
		tags = append(tags, v)
	}
	return tags
}

func benchSelect(b *testing.B, spec Spec, filter *FilterSpec, exclude []string, tags []string) {
	b.Helper()
	s, err := NewSelector(spec, filter, exclude)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	cpu := processCPU()
	n := 0
	for b.Loop() {
		if _, err := s.Select(tags); err != nil {
			b.Fatal(err)
		}
		n++
	}
	reportCPU(b, cpu, n)
}

// processCPU is the CPU time the process used so far. The machines that
// run benchmarks are shared; CPU time per op, unlike ns/op, does not grow
// with other processes' load.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func reportCPU(b *testing.B, start time.Duration, n int) {
	if n > 0 {
		b.ReportMetric(float64(processCPU()-start)/float64(n)/1e6, "cpu-ms/op")
	}
}

// BenchmarkSelect100k chooses from 100,000 tags per op; the target is under
// 50 ms per op for each strategy.
func BenchmarkSelect100k(b *testing.B) {
	tags := benchVersions()
	nums := make([]string, benchTags)
	for i := range nums {
		nums[i] = fmt.Sprint(rand.New(rand.NewPCG(uint64(i), 3)).IntN(1e9))
	}
	b.Run("semver", func(b *testing.B) { benchSelect(b, Spec{SemVer: &SemVerSpec{Range: "^6.x"}}, nil, nil, tags) })
	b.Run("semver-prereleases", func(b *testing.B) { benchSelect(b, Spec{SemVer: &SemVerSpec{Range: ">=1.0.0-0"}}, nil, nil, tags) })
	// Worst cases for the running best: every tag newer than the last, and
	// the newest versions all out of range.
	b.Run("semver-ascending", func(b *testing.B) {
		ascending := slices.Clone(tags)
		slices.SortFunc(ascending, func(x, y string) int {
			vx, okx := parseVersion(x)
			vy, oky := parseVersion(y)
			if !okx || !oky {
				return strings.Compare(x, y)
			}
			return compareVersions(vx, vy)
		})
		benchSelect(b, Spec{SemVer: &SemVerSpec{Range: "*"}}, nil, nil, ascending)
	})
	b.Run("semver-newest-out-of-range", func(b *testing.B) {
		benchSelect(b, Spec{SemVer: &SemVerSpec{Range: "<1.0.0"}}, nil, nil, tags)
	})
	b.Run("numerical", func(b *testing.B) { benchSelect(b, Spec{Numerical: &OrderSpec{Order: "asc"}}, nil, nil, nums) })
	b.Run("alphabetical", func(b *testing.B) { benchSelect(b, Spec{Alphabetical: &OrderSpec{Order: "desc"}}, nil, nil, tags) })
	b.Run("numerical-filter-extract", func(b *testing.B) {
		benchSelect(b, Spec{Numerical: &OrderSpec{}}, &FilterSpec{Pattern: `^main-[a-f0-9]+-(?P<ts>[0-9]+)$`, Extract: "$ts"}, nil, tags)
	})
	b.Run("semver-exclude-sig", func(b *testing.B) {
		benchSelect(b, Spec{SemVer: &SemVerSpec{Range: "^6.x"}}, nil, []string{`^.*\.sig$`}, tags)
	})
}

func BenchmarkSelectReader100k(b *testing.B) {
	list := strings.Join(benchVersions(), "\n") + "\n"
	s, err := NewSelector(Spec{SemVer: &SemVerSpec{Range: "^6.x"}}, nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	cpu := processCPU()
	n := 0
	for b.Loop() {
		if _, err := s.SelectReader(strings.NewReader(list)); err != nil {
			b.Fatal(err)
		}
		n++
	}
	reportCPU(b, cpu, n)
}
