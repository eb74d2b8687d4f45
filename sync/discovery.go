package sync

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path"
	"strings"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// The REST mapping comes from the API server's discovery documents, read
// here with two GETs of aggregated discovery (apidiscovery.k8s.io/v2,
// Kubernetes 1.27 and later), or the legacy per-group documents on older
// servers. client-go's discovery and restmapper packages would do the same
// but link every built-in API group's types into the binary (through
// client-go/kubernetes/scheme), which costs every uptick command, sync or
// not, tens of MB of memory at start.

// maxDiscoveryDocument bounds one discovery answer.
const maxDiscoveryDocument = 64 << 20

// aggregatedAccept asks for aggregated discovery, falling back to the
// legacy documents on servers that do not serve it.
const aggregatedAccept = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList," +
	"application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json"

// kindMapper maps kinds to resources, as the server serves them.
type kindMapper struct {
	// kinds lists each kind's versions in the server's order of preference.
	kinds map[schema.GroupKind][]servedVersion
}

type servedVersion struct {
	version, resource string
	namespaced        bool
}

// RESTMapping returns how kind gk is served at the first of versions the
// server serves, or at its preferred version when none is given.
func (m *kindMapper) RESTMapping(gk schema.GroupKind, versions ...string) (*meta.RESTMapping, error) {
	served := m.kinds[gk]
	pick := func(v servedVersion) *meta.RESTMapping {
		scope := meta.RESTScopeRoot
		if v.namespaced {
			scope = meta.RESTScopeNamespace
		}
		return &meta.RESTMapping{
			Resource:         schema.GroupVersionResource{Group: gk.Group, Version: v.version, Resource: v.resource},
			GroupVersionKind: gk.WithVersion(v.version),
			Scope:            scope,
		}
	}
	if len(versions) == 0 || len(versions) == 1 && versions[0] == "" {
		if len(served) > 0 {
			return pick(served[0]), nil
		}
	}
	for _, want := range versions {
		for _, v := range served {
			if v.version == want {
				return pick(v), nil
			}
		}
	}
	return nil, &meta.NoKindMatchError{GroupKind: gk, SearchedVersions: versions}
}

// discoverer reads discovery documents with an authenticated client.
type discoverer struct {
	client *http.Client
	base   *url.URL
}

// get reads one document into out, with the given Accept header, and
// returns the content type the server answered with.
func (d *discoverer) get(ctx context.Context, p, accept string, out any) (string, error) {
	u := *d.base
	u.Path = path.Join(u.Path, p)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return "", err
	}
	req.Header.Set("Accept", accept)
	resp, err := d.client.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxDiscoveryDocument+1))
	if err != nil {
		return "", fmt.Errorf("GET %s: %w", p, err)
	}
	if len(body) > maxDiscoveryDocument {
		return "", fmt.Errorf("GET %s: the answer is larger than %d MiB", p, maxDiscoveryDocument>>20)
	}
	if resp.StatusCode != http.StatusOK {
		return "", &discoveryStatusError{path: p, status: resp.Status, code: resp.StatusCode, body: strings.TrimSpace(string(body))}
	}
	if err := json.Unmarshal(body, out); err != nil {
		return "", fmt.Errorf("GET %s: not a discovery document: %w", p, err)
	}
	return resp.Header.Get("Content-Type"), nil
}

type discoveryStatusError struct {
	path, status, body string
	code               int
}

func (e *discoveryStatusError) Error() string {
	msg := fmt.Sprintf("GET %s: %s", e.path, e.status)
	var st struct{ Message string }
	if json.Unmarshal([]byte(e.body), &st) == nil && st.Message != "" {
		msg += ": " + st.Message
	}
	return msg
}

// aggregated is apidiscovery.k8s.io/v2 APIGroupDiscoveryList, the fields
// uptick reads.
type aggregated struct {
	Kind  string `json:"kind"`
	Items []struct {
		Metadata struct {
			Name string `json:"name"`
		} `json:"metadata"`
		Versions []struct {
			Version   string `json:"version"`
			Resources []struct {
				Resource     string `json:"resource"`
				Scope        string `json:"scope"`
				ResponseKind *struct {
					Group, Version, Kind string
				} `json:"responseKind"`
			} `json:"resources"`
		} `json:"versions"`
	} `json:"items"`
}

// discoverKinds builds the kind mapper: /api and /apis, aggregated; the
// legacy documents when the server answers in the old form.
func discoverKinds(ctx context.Context, client *http.Client, base *url.URL) (*kindMapper, error) {
	d := &discoverer{client: client, base: base}
	m := &kindMapper{kinds: map[schema.GroupKind][]servedVersion{}}
	for _, root := range []string{"/api", "/apis"} {
		var agg aggregated
		if _, err := d.get(ctx, root, aggregatedAccept, &agg); err != nil {
			return nil, err
		}
		if agg.Kind != "APIGroupDiscoveryList" {
			if err := d.legacy(ctx, root, m); err != nil {
				return nil, err
			}
			continue
		}
		for _, g := range agg.Items {
			for _, v := range g.Versions {
				for _, r := range v.Resources {
					if r.ResponseKind == nil || r.ResponseKind.Kind == "" || strings.Contains(r.Resource, "/") {
						continue
					}
					gk := schema.GroupKind{Group: g.Metadata.Name, Kind: r.ResponseKind.Kind}
					m.kinds[gk] = append(m.kinds[gk], servedVersion{version: v.Version, resource: r.Resource, namespaced: r.Scope == "Namespaced"})
				}
			}
		}
	}
	return m, nil
}

// legacy reads the pre-1.27 documents: the versions (/api) or groups
// (/apis), then one resource list per group version, preferred first.
func (d *discoverer) legacy(ctx context.Context, root string, m *kindMapper) error {
	type gv struct{ group, version string }
	var gvs []gv
	if root == "/api" {
		var doc struct{ Versions []string }
		if _, err := d.get(ctx, root, "application/json", &doc); err != nil {
			return err
		}
		for _, v := range doc.Versions {
			gvs = append(gvs, gv{"", v})
		}
	} else {
		var doc struct {
			Groups []struct {
				Name      string
				Versions  []struct{ Version string }
				Preferred struct {
					Version string
				} `json:"preferredVersion"`
			}
		}
		if _, err := d.get(ctx, root, "application/json", &doc); err != nil {
			return err
		}
		for _, g := range doc.Groups {
			gvs = append(gvs, gv{g.Name, g.Preferred.Version})
			for _, v := range g.Versions {
				if v.Version != g.Preferred.Version {
					gvs = append(gvs, gv{g.Name, v.Version})
				}
			}
		}
	}
	for _, x := range gvs {
		p := root + "/" + x.version
		if x.group != "" {
			p = root + "/" + x.group + "/" + x.version
		}
		var list struct {
			Resources []struct {
				Name       string
				Namespaced bool
				Kind       string
			}
		}
		if _, err := d.get(ctx, p, "application/json", &list); err != nil {
			var se *discoveryStatusError
			if errors.As(err, &se) && se.code == http.StatusServiceUnavailable {
				continue // an aggregated API that is down: its kinds are unknown
			}
			return err
		}
		for _, r := range list.Resources {
			if strings.Contains(r.Name, "/") || r.Kind == "" {
				continue
			}
			gk := schema.GroupKind{Group: x.group, Kind: r.Kind}
			m.kinds[gk] = append(m.kinds[gk], servedVersion{version: x.version, resource: r.Name, namespaced: r.Namespaced})
		}
	}
	return nil
}
