package sync

import (
	"context"
	"net/http"
	"net/url"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// DiscoverForTest exposes the kind discovery to the external tests, which
// own the shared API server.
func DiscoverForTest(ctx context.Context, client *http.Client, base *url.URL) (func(schema.GroupKind, ...string) (*meta.RESTMapping, error), error) {
	m, err := discoverKinds(ctx, client, base)
	if err != nil {
		return nil, err
	}
	return m.RESTMapping, nil
}
