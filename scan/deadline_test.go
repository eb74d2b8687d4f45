package scan_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/uptick-gitops/uptick/internal/testserver"
	"github.com/uptick-gitops/uptick/scan"
)

// TestStuckRegistry puts a fault-injecting proxy in front of a real
// registry: each fault must end the image's scan with a clear error,
// quickly, while the healthy registry beside it is listed.
func TestStuckRegistry(t *testing.T) {
	healthy := newTestRegistry(t, nil)
	pushTags(t, healthy.host, "app", []string{"v1"})
	tests := []struct {
		name      string
		fault     testserver.Fault
		opts      []scan.Option
		wantIs    error
		wantInMsg []string
		wantReqs  int64 // requests the proxy saw; 0: don't check
	}{
		{
			name:      "never answers",
			fault:     testserver.Hang(),
			wantIs:    scan.ErrTimeout,
			wantInMsg: []string{"no response headers within 200ms"},
		},
		{
			name:      "body stalls",
			fault:     testserver.OnTagLists(testserver.Trickle(time.Hour)),
			wantIs:    scan.ErrTimeout,
			wantInMsg: []string{"response body stalled: no data within 200ms"},
		},
		{
			name:      "body trickles",
			fault:     testserver.OnTagLists(testserver.Trickle(50 * time.Millisecond)),
			opts:      []scan.Option{scan.WithRequestTimeout(500 * time.Millisecond)},
			wantIs:    scan.ErrTimeout,
			wantInMsg: []string{"request not finished within 500ms"},
		},
		{
			name:      "429 with a Retry-After beyond the budget",
			fault:     testserver.OnTagLists(testserver.Status(http.StatusTooManyRequests, "Retry-After", "3600")),
			wantIs:    scan.ErrRateLimited,
			wantInMsg: []string{"429 Too Many Requests", "retry after 1h0m0s", "more than the 1m0s uptick waits at most"},
			wantReqs:  2, // ping and one tag list: no waiting, no retry
		},
		{
			name:      "429 with a Retry-After beyond what is left",
			fault:     testserver.OnTagLists(testserver.Status(http.StatusTooManyRequests, "Retry-After", "30")),
			opts:      []scan.Option{scan.WithImageTimeout(5 * time.Second)},
			wantIs:    scan.ErrRateLimited,
			wantInMsg: []string{"retry after 30s", "left of the image's time budget"},
			wantReqs:  2,
		},
		{
			name:      "503 until the budget runs out",
			fault:     testserver.OnTagLists(testserver.Status(http.StatusServiceUnavailable)),
			opts:      []scan.Option{scan.WithRetries(1000), scan.WithRetryBackoff(50 * time.Millisecond), scan.WithImageTimeout(time.Second)},
			wantInMsg: []string{"Service Unavailable"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			proxy := testserver.StartFaultProxy(t, healthy.srv.URL, tc.fault)
			opts := append([]scan.Option{scan.WithIdleTimeout(200 * time.Millisecond), scan.WithInsecure(proxy.Host, healthy.host)}, tc.opts...)
			s := newScanner(t, opts...)
			start := time.Now()
			res := s.Scan(context.Background(), []scan.Target{
				{Name: "stuck", Repository: proxy.Host + "/app"},
				{Name: "healthy", Repository: healthy.host + "/app"},
			})
			took := time.Since(start)
			if err := res[1].Err; err != nil || len(res[1].Tags) != 1 {
				t.Errorf("healthy image: tags %v, err %v", res[1].Tags, err)
			}
			err := res[0].Err
			if err == nil {
				t.Fatalf("stuck image: got tags %v, want an error", res[0].Tags)
			}
			if tc.wantIs != nil && !errors.Is(err, tc.wantIs) {
				t.Errorf("errors.Is(%v, %v) = false", err, tc.wantIs)
			}
			for _, want := range append(tc.wantInMsg, proxy.Host+"/app") {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q lacks %q", err, want)
				}
			}
			if tc.wantReqs != 0 && proxy.Requests() != tc.wantReqs {
				t.Errorf("proxy saw %d requests, want %d", proxy.Requests(), tc.wantReqs)
			}
			// A hang guard, not a performance assertion: every fault above
			// ends within a few seconds of its limit.
			if took > 30*time.Second {
				t.Errorf("scan took %s", took)
			}
		})
	}
}

func TestImageBudget(t *testing.T) {
	healthy := newTestRegistry(t, nil)
	proxy := testserver.StartFaultProxy(t, healthy.srv.URL, testserver.Hang())
	// A budget shorter than the idle timeout: the budget ends it.
	s := newScanner(t, scan.WithImageTimeout(300*time.Millisecond), scan.WithInsecure(proxy.Host))
	_, err := s.ListTags(context.Background(), scan.Target{Repository: proxy.Host + "/app"})
	var be *scan.BudgetError
	if !errors.As(err, &be) || !errors.Is(err, scan.ErrTimeout) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want a *BudgetError that is ErrTimeout and DeadlineExceeded", err)
	}
	if want := `listing tags of "` + proxy.Host + `/app": the image's time budget of 300ms ran out`; err.Error() != want {
		t.Errorf("err = %q, want %q", err, want)
	}
	_, err = s.Digest(context.Background(), scan.Target{Repository: proxy.Host + "/app"}, "v1")
	if !errors.As(err, &be) {
		t.Errorf("Digest: err = %v, want a *BudgetError", err)
	}
}

// TestStuckRegistryCostsOneTimeout: after one image's tag list timed out
// on a registry, the images scanned after it on that registry fail at
// once, naming the image that found it stuck, instead of each waiting.
func TestStuckRegistryCostsOneTimeout(t *testing.T) {
	healthy := newTestRegistry(t, nil)
	proxy := testserver.StartFaultProxy(t, healthy.srv.URL, testserver.OnTagLists(testserver.Hang()))
	s := newScanner(t, scan.WithIdleTimeout(300*time.Millisecond), scan.WithConcurrency(1), scan.WithInsecure(proxy.Host))
	var targets []scan.Target
	for i := range 4 {
		targets = append(targets, scan.Target{Name: fmt.Sprintf("app%d", i), Repository: fmt.Sprintf("%s/app%d", proxy.Host, i)})
	}
	res := s.Scan(context.Background(), targets)
	if !errors.Is(res[0].Err, scan.ErrTimeout) || !strings.Contains(res[0].Err.Error(), "no response headers within 300ms") {
		t.Fatalf("first image: err = %v", res[0].Err)
	}
	for _, r := range res[1:] {
		if !errors.Is(r.Err, scan.ErrTimeout) || !strings.Contains(r.Err.Error(), "skipped: "+proxy.Host+" did not answer image app0 in time earlier in this run") {
			t.Errorf("%s: err = %v", r.Target.Name, r.Err)
		}
		if r.Requests != 0 {
			t.Errorf("%s: %d requests, want none", r.Target.Name, r.Requests)
		}
	}
	// The ping and the first image's tag list.
	if n := proxy.Requests(); n != 2 {
		t.Errorf("the stuck registry got %d requests, want 2", n)
	}
}
