package scan_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/uptick-gitops/uptick/internal/testserver"
	"github.com/uptick-gitops/uptick/scan"
)

func TestDistributionRegistryEndToEnd(t *testing.T) {
	const user, pass, wrong = "uptick", "e2e-Passw0rd!", "not-the-Passw0rd"
	reg := testserver.DistributionRegistry(t, user, pass)

	// Pushed in an order that is neither sorted nor reverse-sorted.
	tags := []string{"1.10.0", "latest", "1.2.0", "0.9.1", "2.0.0-rc.1", "1.9.9", "main-0a1b2c3-1700000000", "1.2.0-alpine"}
	tags = append(tags, numberedTags("build-", 40)...)
	img := pushTags(t, reg.Addr, "team/app", tags, remote.WithTransport(reg.Transport), basicAuthOption(user, pass))
	pushTags(t, reg.Addr, "team/other", []string{"v1"}, remote.WithTransport(reg.Transport), basicAuthOption(user, pass))

	good := writeDockerConfig(t, `{"auths":{"https://`+reg.Addr+`":{"auth":"`+authEntry(user, pass)+`"}}}`)
	bad := writeDockerConfig(t, `{"auths":{"`+reg.Addr+`":{"username":"`+user+`","password":"`+wrong+`"}}}`)

	// Trust through the CA bundle option, as `scan.caFile` in the config does.
	s := newScanner(t, scan.WithCABundle(reg.CAPEM))
	results := s.Scan(context.Background(), []scan.Target{
		{Name: "app", Repository: reg.Addr + "/team/app", Auth: scan.Auth{DockerConfig: good}},
		{Name: "other", Repository: reg.Addr + "/team/other", Auth: scan.Auth{DockerConfig: good}},
		{Name: "app-again", Repository: reg.Addr + "/team/app", Auth: scan.Auth{DockerConfig: good}},
		{Name: "app-wrong-password", Repository: reg.Addr + "/team/app", Auth: scan.Auth{DockerConfig: bad}},
		{Name: "anonymous", Repository: reg.Addr + "/team/app"},
		{Name: "missing", Repository: reg.Addr + "/team/missing", Auth: scan.Auth{DockerConfig: good}},
	})

	sorted := cmpopts.SortSlices(func(a, b string) bool { return a < b })
	for _, i := range []int{0, 2} {
		if results[i].Err != nil {
			t.Fatalf("%s: %v", results[i].Target.Name, results[i].Err)
		}
		if diff := cmp.Diff(tags, results[i].Tags, sorted); diff != "" {
			t.Errorf("%s tags (-want +got):\n%s", results[i].Target.Name, diff)
		}
	}
	if results[0].Requests == 0 || results[2].Requests != 0 {
		t.Errorf("requests = %d and %d, want the second listing shared", results[0].Requests, results[2].Requests)
	}
	if diff := cmp.Diff([]string{"v1"}, results[1].Tags); diff != "" || results[1].Err != nil {
		t.Errorf("other: err %v, tags (-want +got):\n%s", results[1].Err, diff)
	}
	for _, i := range []int{3, 4} {
		err := results[i].Err
		if !errors.Is(err, scan.ErrUnauthorized) {
			t.Errorf("%s: err = %v, want ErrUnauthorized", results[i].Target.Name, err)
			continue
		}
		if !strings.Contains(err.Error(), reg.Addr+"/team/app") {
			t.Errorf("%s: error %q does not name the repository", results[i].Target.Name, err)
		}
		for _, secret := range []string{pass, wrong, authEntry(user, pass)} {
			if strings.Contains(err.Error(), secret) {
				t.Errorf("%s: error %q leaks a secret", results[i].Target.Name, err)
			}
		}
	}
	// distribution answers an unknown repository of an authorized user with
	// NAME_UNKNOWN.
	if err := results[5].Err; !errors.Is(err, scan.ErrNotFound) || !strings.Contains(err.Error(), reg.Addr+"/team/missing") {
		t.Errorf("missing: err = %v, want ErrNotFound naming the repository", err)
	}

	d, err := s.Digest(context.Background(), results[0].Target, "1.10.0")
	if err != nil {
		t.Fatal(err)
	}
	if want, _ := img.Digest(); d != want.String() {
		t.Errorf("digest = %s, want %s", d, want)
	}
}

func TestWithCABundle(t *testing.T) {
	const user, pass = "uptick", "ca-Passw0rd"
	reg := testserver.DistributionRegistry(t, user, pass)
	pushTags(t, reg.Addr, "team/app", []string{"1.0.0"}, remote.WithTransport(reg.Transport), basicAuthOption(user, pass))
	cfg := writeDockerConfig(t, `{"auths":{"`+reg.Addr+`":{"auth":"`+authEntry(user, pass)+`"}}}`)
	target := scan.Target{Name: "app", Repository: reg.Addr + "/team/app", Auth: scan.Auth{DockerConfig: cfg}}

	if _, err := newScanner(t, scan.WithRetries(0)).ListTags(context.Background(), target); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("without the CA bundle: err = %v, want a certificate error", err)
	}
	tags, err := newScanner(t, scan.WithCABundle(reg.CAPEM)).ListTags(context.Background(), target)
	if err != nil || len(tags) != 1 {
		t.Errorf("with the CA bundle: %v, %v", tags, err)
	}

	for name, opts := range map[string][]scan.Option{
		"no certificate":    {scan.WithCABundle([]byte("not pem"))},
		"foreign transport": {scan.WithTransport(roundTripFunc(http.DefaultTransport.RoundTrip)), scan.WithCABundle(reg.CAPEM)},
	} {
		if _, err := scan.New(opts...); err == nil {
			t.Errorf("%s: New succeeded, want an error", name)
		}
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
