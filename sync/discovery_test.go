package sync_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/rest"

	"github.com/uptick-gitops/uptick/sync"
)

// TestDiscovery maps kinds from the real server's aggregated discovery, and
// from its legacy documents through a proxy that asks for those only (as
// a server older than 1.27 answers): both give the same mappings.
func TestDiscovery(t *testing.T) {
	e := newEnv(t)
	client, err := rest.HTTPClientFor(e.cfg)
	if err != nil {
		t.Fatal(err)
	}
	server, _, err := rest.DefaultServerUrlFor(e.cfg)
	if err != nil {
		t.Fatal(err)
	}
	var legacyRequests int
	proxy := httputil.NewSingleHostReverseProxy(server)
	proxy.Transport = client.Transport
	legacy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		legacyRequests++
		r.Header.Set("Accept", "application/json")
		r.Host = server.Host
		proxy.ServeHTTP(w, r)
	}))
	defer legacy.Close()
	legacyURL, _ := url.Parse(legacy.URL)

	kinds := []struct {
		gk       schema.GroupKind
		versions []string
		want     string
	}{
		{schema.GroupKind{Group: "apps", Kind: "Deployment"}, []string{"v1"}, "apps/v1/deployments namespace"},
		{schema.GroupKind{Kind: "ConfigMap"}, nil, "/v1/configmaps namespace"},
		{schema.GroupKind{Kind: "Namespace"}, nil, "/v1/namespaces root"},
		{schema.GroupKind{Group: "apiextensions.k8s.io", Kind: "CustomResourceDefinition"}, []string{"v1"}, "apiextensions.k8s.io/v1/customresourcedefinitions root"},
		{schema.GroupKind{Group: "autoscaling", Kind: "HorizontalPodAutoscaler"}, []string{"v9", "v1"}, "autoscaling/v1/horizontalpodautoscalers namespace"},
		{schema.GroupKind{Group: "autoscaling", Kind: "HorizontalPodAutoscaler"}, nil, "autoscaling/v2/horizontalpodautoscalers namespace"},
		{schema.GroupKind{Group: "apps", Kind: "Deployment"}, []string{"v1beta1"}, "no match"},
		{schema.GroupKind{Group: "example.com", Kind: "Nothing"}, nil, "no match"},
	}
	render := func(mapping func(schema.GroupKind, ...string) (*meta.RESTMapping, error)) []string {
		var out []string
		for _, k := range kinds {
			m, err := mapping(k.gk, k.versions...)
			switch {
			case meta.IsNoMatchError(err):
				out = append(out, "no match")
			case err != nil:
				out = append(out, err.Error())
			default:
				out = append(out, m.Resource.Group+"/"+m.Resource.Version+"/"+m.Resource.Resource+" "+string(m.Scope.Name()))
			}
		}
		return out
	}
	var want []string
	for _, k := range kinds {
		want = append(want, k.want)
	}
	agg, err := sync.DiscoverForTest(context.Background(), client, server)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, render(agg)); diff != "" {
		t.Errorf("aggregated discovery (-want +got):\n%s", diff)
	}
	old, err := sync.DiscoverForTest(context.Background(), legacy.Client(), legacyURL)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, render(old)); diff != "" {
		t.Errorf("legacy discovery (-want +got):\n%s", diff)
	}
	if legacyRequests < 10 {
		t.Errorf("the legacy path made %d requests: did it read the per-group documents?", legacyRequests)
	}
}
