package scan_test

import (
	"context"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/uptick-gitops/uptick/scan"
)

// testRegistry is go-containerregistry's in-process registry on a real
// 127.0.0.1 listener, with a log of the requests it served.
type testRegistry struct {
	srv  *httptest.Server
	host string

	mu       sync.Mutex
	requests []string // "METHOD /path"
	agents   []string
}

// newTestRegistry starts a registry; wrap, if not nil, sits in front of it
// (auth, faults).
func newTestRegistry(t testing.TB, wrap func(http.Handler) http.Handler) *testRegistry {
	t.Helper()
	r := &testRegistry{}
	var h http.Handler = registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	if wrap != nil {
		h = wrap(h)
	}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.mu.Lock()
		r.requests = append(r.requests, req.Method+" "+req.URL.Path)
		r.agents = append(r.agents, req.UserAgent())
		r.mu.Unlock()
		h.ServeHTTP(w, req)
	}))
	t.Cleanup(r.srv.Close)
	r.host = strings.TrimPrefix(r.srv.URL, "http://")
	return r
}

// scanner returns a scanner that reaches r over plain HTTP, as a registry
// listed in scan.insecure.
func (r *testRegistry) scanner(t testing.TB, opts ...scan.Option) *scan.Scanner {
	t.Helper()
	return newScanner(t, append([]scan.Option{scan.WithInsecure(r.host)}, opts...)...)
}

// reset forgets the requests made so far (e.g. by pushes).
func (r *testRegistry) reset() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.requests, r.agents = nil, nil
}

// count returns how many requests matched method and path suffix.
func (r *testRegistry) count(method, suffix string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, s := range r.requests {
		m, p, _ := strings.Cut(s, " ")
		if m == method && strings.HasSuffix(p, suffix) {
			n++
		}
	}
	return n
}

func (r *testRegistry) total() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.requests)
}

// pushTags pushes one random image under every tag of repo (a repository
// path below the registry host) and returns it.
func pushTags(t testing.TB, host, repo string, tags []string, opts ...remote.Option) v1.Image {
	t.Helper()
	img, err := random.Image(256, 1)
	if err != nil {
		t.Fatal(err)
	}
	p, err := remote.NewPusher(opts...)
	if err != nil {
		t.Fatal(err)
	}
	for _, tag := range tags {
		ref, err := name.NewTag(host + "/" + repo + ":" + tag)
		if err != nil {
			t.Fatal(err)
		}
		if err := p.Push(context.Background(), ref, img); err != nil {
			t.Fatalf("pushing %s: %v", ref, err)
		}
	}
	return img
}

// basicAuth is a handler wrapper demanding user:pass, as a registry with
// htpasswd does.
func basicAuth(user, pass string) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			u, p, ok := r.BasicAuth()
			if !ok || u != user || p != pass {
				w.Header().Set("WWW-Authenticate", `Basic realm="test"`)
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusUnauthorized)
				_, _ = io.WriteString(w, `{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}`)
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}

// basicAuthOption pushes with credentials.
func basicAuthOption(user, pass string) remote.Option {
	return remote.WithAuth(&authn.Basic{Username: user, Password: pass})
}
