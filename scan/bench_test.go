package scan_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/uptick-gitops/uptick/scan"
)

// BenchmarkScan lists 20 repositories of 100 tags each from the in-process
// registry over loopback HTTP.
func BenchmarkScan(b *testing.B) {
	const repos, tagsPerRepo = 20, 100
	reg := newTestRegistry(b, nil)
	targets := make([]scan.Target, repos)
	for i := range targets {
		repo := fmt.Sprintf("bench/app%02d", i)
		pushTags(b, reg.host, repo, numberedTags("v", tagsPerRepo))
		targets[i] = scan.Target{Name: repo, Repository: reg.host + "/" + repo}
	}
	s := reg.scanner(b)
	ctx := context.Background()
	requests := 0
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		for _, r := range s.Scan(ctx, targets) {
			if r.Err != nil {
				b.Fatal(r.Err)
			}
			if len(r.Tags) != tagsPerRepo {
				b.Fatalf("%s: %d tags, want %d", r.Target.Repository, len(r.Tags), tagsPerRepo)
			}
			requests += r.Requests
		}
	}
	b.ReportMetric(float64(requests)/float64(b.N*repos), "requests/repo")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*repos), "ns/repo")
}
