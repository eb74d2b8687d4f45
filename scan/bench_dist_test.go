package scan_test

import (
	"context"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/uptick-gitops/uptick/internal/testserver"
	"github.com/uptick-gitops/uptick/scan"
)

// BenchmarkScanDistributionV3 lists 5,000 tags from a real distribution
// v3 registry (TLS, paginating with Link) with a fresh scanner each time,
// as each run makes one: it reports requests per listing, which must be
// the pages plus the registry's ping.
func BenchmarkScanDistributionV3(b *testing.B) {
	reg := testserver.StartDistributionV3(b, testserver.DistributionOptions{})
	tags := seededTags(5000)
	pushTags(b, reg.Addr, "bench/app", tags[:1], remote.WithTransport(reg.Transport))
	reg.SeedTags(b, "bench/app", "seed", tags[1:])
	target := []scan.Target{{Name: "app", Repository: reg.Addr + "/bench/app"}}
	ctx := context.Background()
	var requests, pages int
	b.ReportAllocs()
	for b.Loop() {
		s, err := scan.New(scan.WithCABundle(reg.CAPEM))
		if err != nil {
			b.Fatal(err)
		}
		r := s.Scan(ctx, target)[0]
		if r.Err != nil || len(r.Tags) != len(tags) {
			b.Fatalf("%d tags, err %v", len(r.Tags), r.Err)
		}
		if r.Requests != r.Pages+1 {
			b.Fatalf("%d requests for %d pages, want pages + 1", r.Requests, r.Pages)
		}
		requests, pages = r.Requests, r.Pages
	}
	b.ReportMetric(float64(requests), "requests/listing")
	b.ReportMetric(float64(pages), "pages/listing")
}
