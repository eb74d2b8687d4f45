package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/uptick-gitops/uptick/internal/testserver"
)

// TestStuckRegistry runs the real binary with default flags against two
// registries: a healthy one with a new tag for app0, and a fault-injecting
// proxy in front of a real registry for app1 that hangs, trickles its
// bodies a byte a second, or answers 429 with "Retry-After: 3600" forever.
// The stuck registry must cost bounded time and fail only its own image:
// exit 1 naming it, and app0's update committed and pushed.
func TestStuckRegistry(t *testing.T) {
	// Mostly waiting on stuck servers: run beside TestPushRaces.
	t.Parallel()
	tests := []struct {
		name  string
		fault testserver.Fault
		// wantInMsg are in the error reported for app1.
		wantInMsg []string
	}{
		{name: "hang", fault: testserver.Hang(), wantInMsg: []string{"no response headers within 15s"}},
		{name: "trickle", fault: testserver.OnTagLists(testserver.Trickle(time.Second)), wantInMsg: []string{"request not finished within 30s"}},
		{name: "429 forever", fault: testserver.Status(http.StatusTooManyRequests, "Retry-After", "3600"), wantInMsg: []string{"429 Too Many Requests", "retry after 1h0m0s"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFleet(t, 2)
			f.pushTag(0, "1.1.0")
			f.pushTag(1, "1.1.0")
			proxy := testserver.StartFaultProxy(t, "http://"+f.host, tc.fault)
			cfg := f.writeConfig("uptick.yaml", configSpec{
				apps:   []int{0},
				images: []string{fmt.Sprintf(`{name: app1, repository: %s/e2e/app1, policy: {semver: {range: ">=1.0.0"}}}`, proxy.Host)},
				hosts:  []string{proxy.Host},
			})
			res := uptick(t, nil, "run", "--config", cfg, "--output", "json")
			if res.code != 1 {
				t.Fatalf("exit %d, want 1:\n%s", res.code, res)
			}
			// A hang guard only: the default budgets end this in well under
			// a minute.
			if res.took > 2*time.Minute {
				t.Errorf("the run took %s with a stuck registry", res.took)
			}
			if got := f.tagOnRemote(0); got != "1.1.0" {
				t.Errorf("app0 on the remote is at %s, want 1.1.0: the healthy image was not pushed\n%s", got, res)
			}
			rep := parseReport(t, res)
			if !rep.Pushed {
				t.Errorf("report says pushed: false\n%s", res)
			}
			var msgs []string
			for _, e := range rep.Errors {
				if e.Image == "app1" && e.Stage == "scan" {
					msgs = append(msgs, e.Message)
				} else {
					t.Errorf("unexpected error %+v", e)
				}
			}
			if len(msgs) != 1 {
				t.Fatalf("errors for app1: %q, want one\n%s", msgs, res)
			}
			for _, want := range append(tc.wantInMsg, "app1", proxy.Host+"/e2e/app1") {
				if !strings.Contains(msgs[0], want) {
					t.Errorf("app1's error %q lacks %q", msgs[0], want)
				}
			}
			// The text output (stderr logs aside) names the image too.
			t.Logf("%s: %s in %s", tc.name, msgs[0], res.took.Round(time.Second))
		})
	}
}

// TestRequestsPerRun: five images on one registry cost one ping and one
// tag-list page each (six requests, where each repository used to ping
// for itself, after a failing HTTPS probe), as the registry counts them
// and as the JSON report says, per image and per registry.
func TestRequestsPerRun(t *testing.T) {
	f := newFleet(t, 5)
	cfg := f.writeConfig("uptick.yaml", configSpec{})
	before := f.registryRequests.Load()
	res := uptick(t, nil, "scan", "--config", cfg, "--output", "json")
	if res.code != 0 {
		t.Fatalf("exit %d:\n%s", res.code, res)
	}
	served := f.registryRequests.Load() - before
	var rep struct {
		Images []struct {
			Name             string `json:"name"`
			RegistryRequests int    `json:"registryRequests"`
			TagPages         int    `json:"tagPages"`
			TagsListed       int    `json:"tagsListed"`
		} `json:"images"`
		Registries []struct {
			Host                           string `json:"host"`
			Requests, Pings, Tokens, Pages int
		} `json:"registries"`
	}
	if err := json.Unmarshal([]byte(res.stdout), &rep); err != nil {
		t.Fatalf("%v\n%s", err, res)
	}
	sum := 0
	for _, img := range rep.Images {
		sum += img.RegistryRequests
		if img.TagPages != 1 || img.TagsListed != 1 {
			t.Errorf("%s: %d pages, %d tags, want 1 and 1", img.Name, img.TagPages, img.TagsListed)
		}
	}
	if served != 6 || sum != 6 {
		t.Errorf("the registry served %d requests, the report counts %d, want 6 (1 ping + 5 pages)", served, sum)
	}
	if len(rep.Registries) != 1 || rep.Registries[0].Host != f.host || rep.Registries[0].Requests != 6 || rep.Registries[0].Pings != 1 || rep.Registries[0].Pages != 5 {
		t.Errorf("registries = %+v, want one with 6 requests, 1 ping, 5 pages", rep.Registries)
	}
}
