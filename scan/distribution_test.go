package scan_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/uptick-gitops/uptick/internal/testserver"
	"github.com/uptick-gitops/uptick/scan"
)

// seededTags returns n tags, "seed" first.
func seededTags(n int) []string {
	tags := []string{"seed"}
	for i := 1; i < n; i++ {
		tags = append(tags, fmt.Sprintf("1.%d.%d", i/100, i%100))
	}
	return tags
}

// TestDistributionV3Pagination lists 5,000 tags from a real distribution
// v3 registry, which paginates with n and Link: every tag, in 5 pages of
// 1,000, for exactly pages + 1 (the ping) requests.
func TestDistributionV3Pagination(t *testing.T) {
	reg := testserver.StartDistributionV3(t, testserver.DistributionOptions{})
	tags := seededTags(5000)
	pushTags(t, reg.Addr, "team/app", tags[:1], remote.WithTransport(reg.Transport))
	reg.SeedTags(t, "team/app", "seed", tags[1:])

	s := newScanner(t, scan.WithCABundle(reg.CAPEM))
	res := s.Scan(context.Background(), []scan.Target{{Name: "app", Repository: reg.Addr + "/team/app"}})[0]
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	want := slices.Sorted(slices.Values(tags))
	if diff := cmp.Diff(want, slices.Sorted(slices.Values(res.Tags))); diff != "" {
		t.Errorf("tags (-want +got):\n%s", diff)
	}
	if res.Pages != 5 || res.Requests != res.Pages+1 {
		t.Errorf("pages = %d, requests = %d, want 5 pages and pages + 1 requests", res.Pages, res.Requests)
	}
	if diff := cmp.Diff([]scan.RegistryStats{{Host: reg.Addr, Requests: 6, Pings: 1, Pages: 5}}, s.Stats()); diff != "" {
		t.Errorf("stats (-want +got):\n%s", diff)
	}

	t.Run("small pages", func(t *testing.T) {
		s := newScanner(t, scan.WithCABundle(reg.CAPEM), scan.WithPageSize(300))
		res := s.Scan(context.Background(), []scan.Target{{Repository: reg.Addr + "/team/app"}})[0]
		if res.Err != nil || len(res.Tags) != 5000 || res.Pages != 17 {
			t.Errorf("err %v, %d tags in %d pages, want 5000 in 17", res.Err, len(res.Tags), res.Pages)
		}
	})
	t.Run("page limit", func(t *testing.T) {
		s := newScanner(t, scan.WithCABundle(reg.CAPEM), scan.WithMaxPages(3))
		res := s.Scan(context.Background(), []scan.Target{{Repository: reg.Addr + "/team/app"}})[0]
		if !errors.Is(res.Err, scan.ErrTooLarge) || !strings.Contains(res.Err.Error(), "more than 3 pages (limit scan.limits.pages)") {
			t.Errorf("err = %v, want the page limit", res.Err)
		}
	})
	t.Run("tag limit", func(t *testing.T) {
		s := newScanner(t, scan.WithCABundle(reg.CAPEM), scan.WithMaxTags(4999))
		res := s.Scan(context.Background(), []scan.Target{{Repository: reg.Addr + "/team/app"}})[0]
		if !errors.Is(res.Err, scan.ErrTooLarge) || !strings.Contains(res.Err.Error(), "more than 4999 tags") {
			t.Errorf("err = %v, want the tag limit", res.Err)
		}
	})
}

// TestDistributionV3TokenAuth runs the bearer token flow against a real
// distribution v3 registry and a token issuer of the test's (realm on
// localhost): one ping for the registry, one token per repository scope,
// reused for a second scan and for digests, and "no credentials" told
// from "rejected", naming where the credentials came from.
func TestDistributionV3TokenAuth(t *testing.T) {
	const user, pass, wrong = "robot", "t0ken-Passw0rd", "not-the-Passw0rd"
	reg := testserver.StartDistributionV3(t, testserver.DistributionOptions{Users: map[string]string{user: pass}})
	push := []remote.Option{remote.WithTransport(reg.Transport), remote.WithAuth(&authn.Basic{Username: user, Password: pass})}
	var repos []string
	for i := range 5 {
		repo := fmt.Sprintf("team/app%d", i)
		repos = append(repos, repo)
		pushTags(t, reg.Addr, repo, []string{"1.0.0", "1.1.0"}, push...)
	}
	good := writeDockerConfig(t, `{"auths":{"`+reg.Addr+`":{"auth":"`+authEntry(user, pass)+`"}}}`)
	bad := writeDockerConfig(t, `{"auths":{"`+reg.Addr+`":{"username":"`+user+`","password":"`+wrong+`"}}}`)
	before := reg.Issuer.Requests()

	s := newScanner(t, scan.WithCABundle(reg.CAPEM))
	var targets []scan.Target
	for _, repo := range repos {
		targets = append(targets, scan.Target{Name: repo, Repository: reg.Addr + "/" + repo, Auth: scan.Auth{DockerConfig: good}})
	}
	sum := 0
	for _, r := range s.Scan(context.Background(), targets) {
		if r.Err != nil {
			t.Fatalf("%s: %v", r.Target.Name, r.Err)
		}
		if diff := cmp.Diff([]string{"1.0.0", "1.1.0"}, r.Tags); diff != "" {
			t.Errorf("%s tags (-want +got):\n%s", r.Target.Name, diff)
		}
		sum += r.Requests
	}
	// 1 ping + 5 tokens (one per repository scope) + 5 pages.
	if got := reg.Issuer.Requests() - before; got != 5 || sum != 11 {
		t.Errorf("token requests = %d, sum of requests = %d, want 5 and 11", got, sum)
	}
	// A second scan and the digests reuse the ping and the tokens.
	for _, r := range s.Scan(context.Background(), targets) {
		if r.Err != nil || r.Requests != 1 {
			t.Errorf("second scan of %s: %d requests, err %v; want 1", r.Target.Name, r.Requests, r.Err)
		}
	}
	if _, err := s.Digest(context.Background(), targets[0], "1.1.0"); err != nil {
		t.Fatal(err)
	}
	want := []scan.RegistryStats{{Host: reg.Addr, Requests: 17, Pings: 1, Tokens: 5, Pages: 10, Heads: 1}}
	if diff := cmp.Diff(want, s.Stats()); diff != "" {
		t.Errorf("stats (-want +got):\n%s", diff)
	}

	results := s.Scan(context.Background(), []scan.Target{
		{Name: "anonymous", Repository: reg.Addr + "/team/app0"},
		{Name: "wrong", Repository: reg.Addr + "/team/app0", Auth: scan.Auth{DockerConfig: bad}},
	})
	anon, rejected := results[0].Err, results[1].Err
	if !errors.Is(anon, scan.ErrNoCredentials) || !strings.Contains(anon.Error(), "refused anonymous access, and no credentials for "+reg.Addr+" were found (no credential source configured)") {
		t.Errorf("anonymous: err = %v", anon)
	}
	if !errors.Is(rejected, scan.ErrCredentialsRejected) || !strings.Contains(rejected.Error(), "the registry rejected the credentials from docker config "+bad) || !strings.Contains(rejected.Error(), "invalid username or password") {
		t.Errorf("wrong password: err = %v", rejected)
	}
	for _, err := range []error{anon, rejected} {
		for _, secret := range append([]string{pass, wrong, authEntry(user, pass), authEntry(user, wrong)}, reg.Issuer.Tokens()...) {
			if strings.Contains(err.Error(), secret) {
				t.Errorf("error %q leaks a secret", err)
			}
		}
	}
}
