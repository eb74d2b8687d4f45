package scan_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/registry"

	"github.com/uptick-gitops/uptick/scan"
)

// tagListHandler answers tag lists of every repository with respond and
// passes everything else to the real registry.
func tagListHandler(respond func(w http.ResponseWriter, r *http.Request)) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if strings.HasSuffix(r.URL.Path, "/tags/list") {
				respond(w, r)
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}

func writeTags(w http.ResponseWriter, tags ...any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"name": "app", "tags": tags})
}

func TestHostileTagLists(t *testing.T) {
	tests := []struct {
		name        string
		respond     func(w http.ResponseWriter, r *http.Request)
		opts        []scan.Option
		wantTags    []string
		wantLen     int // instead of wantTags: how many
		wantDropped int
		wantIs      error
		wantInMsg   string
		// wantLists is the number of tag-list requests; 0: don't check.
		wantLists int
	}{
		{
			name: "a Link that never ends",
			respond: func(w http.ResponseWriter, r *http.Request) {
				last := r.URL.Query().Get("last")
				w.Header().Set("Link", fmt.Sprintf(`</v2/app/tags/list?n=1&last=%sx>; rel="next"`, last))
				writeTags(w, last+"x")
			},
			opts:      []scan.Option{scan.WithMaxPages(50)},
			wantIs:    scan.ErrTooLarge,
			wantInMsg: "more than 50 pages (limit scan.limits.pages)",
			wantLists: 50,
		},
		{
			name: "a Link back to the same page",
			respond: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Link", `</v2/app/tags/list?n=1000>; rel="next"`)
				writeTags(w, "v1")
			},
			wantIs:    scan.ErrPaginationLoop,
			wantInMsg: "the Link header points back to a page already read",
			wantLists: 1,
		},
		{
			name: "a last that does not advance",
			respond: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Link", fmt.Sprintf(`</v2/app/tags/list?n=%d&last=v1>; rel="next"`, len(r.URL.RawQuery)))
				writeTags(w, "v1")
			},
			wantIs:    scan.ErrPaginationLoop,
			wantInMsg: `its "last" ("v1") does not advance`,
			wantLists: 2,
		},
		{
			name: "a Link to another host",
			respond: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Link", `<http://elsewhere.example/v2/app/tags/list?last=v1>; rel="next"`)
				writeTags(w, "v1")
			},
			wantInMsg: "points to http://elsewhere.example/v2/app/tags/list, not to",
			wantLists: 1,
		},
		{
			name: "a body of 300 MB",
			respond: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				_, _ = io.WriteString(w, `{"name":"app","tags":["`)
				chunk := []byte(strings.Repeat("a", 1<<20))
				for range 300 {
					if _, err := w.Write(chunk); err != nil {
						return // the client gave up, as it should
					}
				}
				_, _ = io.WriteString(w, `"]}`)
			},
			wantIs:    scan.ErrTooLarge,
			wantInMsg: "more than 8388608 bytes in one page (limit scan.limits.pageBytes)",
		},
		{
			name: "tags outside the OCI grammar are dropped",
			respond: func(w http.ResponseWriter, r *http.Request) {
				writeTags(w, "1.0.0", "evil\ninjected: line", "\x1b[31mred\x1b[0m", ".hidden", "-dash", "", strings.Repeat("x", 129),
					"ok_1", 42, nil, map[string]any{"x": 1}, []any{"a"}, "sp ace", "ünïcode", "1.1.0")
			},
			wantTags:    []string{"1.0.0", "ok_1", "1.1.0"},
			wantDropped: 12,
		},
		{
			name: "other members are skipped, as GCR's manifest map",
			respond: func(w http.ResponseWriter, r *http.Request) {
				_, _ = io.WriteString(w, `{"child":[],"manifest":{"sha256:ab":{"tag":["x"],"imageSizeBytes":"1"}},"name":"app","tags":["v1","v2"],"extra":null}`)
			},
			wantTags: []string{"v1", "v2"},
		},
		{
			name:      "tags that are not a list",
			respond:   func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, `{"tags":"v1"}`) },
			wantInMsg: `"tags" is not a list`,
		},
		{
			name:      "a body cut short",
			respond:   func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, `{"name":"app","tags":["v1",`) },
			wantInMsg: "the tag list ends before its JSON does",
		},
		{
			name:      "not JSON",
			respond:   func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, `<html>maintenance</html>`) },
			wantInMsg: "not valid JSON",
		},
		{
			// Debian's docker-registry 2.8: n and last ignored, no Link,
			// tags unsorted.
			name: "n ignored",
			respond: func(w http.ResponseWriter, r *http.Request) {
				tags := make([]any, 1500)
				for i := range tags {
					tags[i] = fmt.Sprintf("t%d", (i*7919)%1500)
				}
				writeTags(w, tags...)
			},
			wantLen:   1500,
			wantLists: 1,
		},
		{
			// Quay's quirk: n above 100 is a 400.
			name: "n above 100 refused",
			respond: func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Query().Get("n") != "100" {
					w.WriteHeader(http.StatusBadRequest)
					_, _ = io.WriteString(w, `{"errors":[{"code":"PAGINATION_NUMBER_INVALID","message":"n must be at most 100"}]}`)
					return
				}
				if r.URL.Query().Get("next_page") == "" {
					w.Header().Set("Link", `</v2/app/tags/list?n=100&next_page=opaque>; rel="next"`)
					writeTags(w, "v1")
					return
				}
				writeTags(w, "v2")
			},
			wantTags:  []string{"v1", "v2"},
			wantLists: 3,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			reg := newTestRegistry(t, tagListHandler(tc.respond))
			res := reg.scanner(t, tc.opts...).Scan(context.Background(), []scan.Target{{Name: "app", Repository: reg.host + "/app"}})[0]
			if tc.wantLists != 0 {
				if got := reg.count(http.MethodGet, "/tags/list"); got != tc.wantLists {
					t.Errorf("tag list requests = %d, want %d", got, tc.wantLists)
				}
			}
			if tc.wantInMsg == "" && tc.wantIs == nil {
				if res.Err != nil {
					t.Fatal(res.Err)
				}
				if tc.wantLen > 0 {
					if len(res.Tags) != tc.wantLen {
						t.Errorf("%d tags, want %d", len(res.Tags), tc.wantLen)
					}
				} else if diff := cmp.Diff(tc.wantTags, res.Tags); diff != "" {
					t.Errorf("tags (-want +got):\n%s", diff)
				}
				if res.Dropped != tc.wantDropped {
					t.Errorf("dropped = %d, want %d", res.Dropped, tc.wantDropped)
				}
				return
			}
			if res.Err == nil {
				t.Fatalf("got %d tags, want an error", len(res.Tags))
			}
			if tc.wantIs != nil && !errors.Is(res.Err, tc.wantIs) {
				t.Errorf("errors.Is(%v, %v) = false", res.Err, tc.wantIs)
			}
			if !strings.Contains(res.Err.Error(), tc.wantInMsg) {
				t.Errorf("error %q lacks %q", res.Err, tc.wantInMsg)
			}
		})
	}
}

// TestHugeBodyMemory: a 1 GB tag-list body costs the scanner at most its
// page limit in allocations, not the body.
func TestHugeBodyMemory(t *testing.T) {
	reg := newTestRegistry(t, tagListHandler(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, `{"tags":["`)
		chunk := []byte(strings.Repeat("a", 1<<20))
		for range 1024 {
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	}))
	s := reg.scanner(t, scan.WithMaxPageBytes(4<<20))
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	res := s.Scan(context.Background(), []scan.Target{{Repository: reg.host + "/app"}})[0]
	runtime.ReadMemStats(&after)
	if !errors.Is(res.Err, scan.ErrTooLarge) {
		t.Fatalf("err = %v, want ErrTooLarge", res.Err)
	}
	// The decoder grows its buffer to hold the one 4 MiB token it was
	// reading; allow for doubling, never for the gigabyte.
	if got := after.TotalAlloc - before.TotalAlloc; got > 64<<20 {
		t.Errorf("the scan allocated %d MiB for a 1 GB body with a 4 MiB page limit", got>>20)
	}
}

// echoHeaders answers every request after the ping with 401 and a body
// that reflects the request's headers in several encodings, as a
// misconfigured registry or proxy might.
func echoHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v2/" {
			next.ServeHTTP(w, r)
			return
		}
		dump, _ := json.Marshal(r.Header)
		auth := r.Header.Get("Authorization")
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		msg := fmt.Sprintf("bad credentials %s; raw=%s; b64=%s; url=%s; shifted=%s",
			auth, dump, base64.StdEncoding.EncodeToString(dump), url.QueryEscape(auth), base64.StdEncoding.EncodeToString(append([]byte("x"), dump...)))
		_ = json.NewEncoder(w).Encode(map[string]any{"errors": []map[string]any{{"code": "UNAUTHORIZED", "message": msg, "detail": r.Header}}})
	})
}

// TestErrorBodiesAreScrubbed: a registry that echoes the request's
// Authorization header (and everything else) in its error body must not
// get the credential into the error, in any encoding.
func TestErrorBodiesAreScrubbed(t *testing.T) {
	const user, pass = "robot", "Echo-S3cret-Passw0rd"
	var logs strings.Builder
	var mu sync.Mutex
	logger := slog.New(slog.NewJSONHandler(&lockedWriter{w: &logs, mu: &mu}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	// A Basic challenge on the ping, so the credential is sent; the echo
	// on everything else.
	chal := newTestRegistry(t, func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/v2/" {
				w.Header().Set("WWW-Authenticate", `Basic realm="echo"`)
				w.WriteHeader(http.StatusUnauthorized)
				return
			}
			echoHeaders(next).ServeHTTP(w, r)
		})
	})
	cfg := writeDockerConfig(t, `{"auths":{"`+chal.host+`":{"auth":"`+authEntry(user, pass)+`"}}}`)
	s := chal.scanner(t, scan.WithLogger(logger))
	res := s.Scan(context.Background(), []scan.Target{{Name: "app", Repository: chal.host + "/app", Auth: scan.Auth{DockerConfig: cfg}}})[0]
	if res.Err == nil {
		t.Fatal("want an error")
	}
	_, digestErr := s.Digest(context.Background(), res.Target, "v1")
	basic := authEntry(user, pass)
	secrets := []string{pass, basic, "Basic " + basic, url.QueryEscape("Basic " + basic), url.QueryEscape(pass)}
	if msg := res.Err.Error(); !strings.Contains(msg, "UNAUTHORIZED: bad credentials") {
		t.Errorf("error %q lost the registry's reason", msg)
	}
	for _, err := range []error{res.Err, digestErr} {
		msg := err.Error()
		if !strings.Contains(msg, "the registry rejected the credentials from docker config") {
			t.Errorf("error %q does not name the credential source", msg)
		}
		for _, secret := range secrets {
			if strings.Contains(msg, secret) {
				t.Errorf("error leaks %q:\n%s", secret, msg)
			}
		}
		// No 8-character run of the base64 of the header dump survives.
		for _, enc := range []string{base64.StdEncoding.EncodeToString([]byte(pass)), base64.StdEncoding.EncodeToString([]byte("x" + pass))[2:]} {
			if strings.Contains(msg, enc[:12]) {
				t.Errorf("error leaks the base64 of the password:\n%s", msg)
			}
		}
		if strings.ContainsAny(msg, "\n\x1b") || len(msg) > 1200 {
			t.Errorf("error is not short, single-line text (%d bytes): %q", len(msg), msg)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	for _, secret := range secrets {
		if strings.Contains(logs.String(), secret) {
			t.Errorf("log leaks %q", secret)
		}
	}
}

type lockedWriter struct {
	w  io.Writer
	mu *sync.Mutex
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// TestPlainHTTPOnlyWhenInsecure: a plain-HTTP registry on loopback that is
// not listed as insecure gets no request at all (go-containerregistry
// would have tried HTTP beside HTTPS); listed, it gets no HTTPS probe.
func TestPlainHTTPOnlyWhenInsecure(t *testing.T) {
	reg := newTestRegistry(t, nil)
	pushTags(t, reg.host, "app", []string{"v1"})
	reg.reset()
	_, err := newScanner(t, scan.WithRetries(0)).ListTags(context.Background(), scan.Target{Repository: reg.host + "/app"})
	if err == nil || !strings.Contains(err.Error(), "list "+reg.host+" in scan.insecure") {
		t.Errorf("err = %v, want a hint to list the registry as insecure", err)
	}
	if n := reg.total(); n != 0 {
		t.Errorf("the plain-HTTP registry received %d requests, want none", n)
	}

	// An HTTPS registry whose Link leads to plain HTTP on the same host.
	h := tagListHandler(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Link", "<http://"+r.Host+`/v2/app/tags/list?last=v1>; rel="next"`)
		writeTags(w, "v1")
	})(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	srv := httptest.NewTLSServer(h)
	t.Cleanup(srv.Close)
	host := strings.TrimPrefix(srv.URL, "https://")
	_, err = newScanner(t, scan.WithTransport(srv.Client().Transport)).ListTags(context.Background(), scan.Target{Repository: host + "/app"})
	if !errors.Is(err, scan.ErrPlainHTTP) || !strings.Contains(err.Error(), "refusing plain HTTP to "+host) {
		t.Errorf("err = %v, want plain HTTP refused", err)
	}
}

// TestRegistryRate: requests to a registry with an rps limit are spaced
// at least 1/rps apart, as the registry sees them.
func TestRegistryRate(t *testing.T) {
	var mu sync.Mutex
	var at []time.Time
	reg := newTestRegistry(t, func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			at = append(at, time.Now())
			mu.Unlock()
			next.ServeHTTP(w, r)
		})
	})
	var targets []scan.Target
	for i := range 6 {
		pushTags(t, reg.host, fmt.Sprintf("app%d", i), []string{"v1"})
		targets = append(targets, scan.Target{Repository: fmt.Sprintf("%s/app%d", reg.host, i)})
	}
	mu.Lock()
	at = nil
	mu.Unlock()
	const rps = 20
	for _, r := range reg.scanner(t, scan.WithRegistryRate(reg.host, rps)).Scan(context.Background(), targets) {
		if r.Err != nil {
			t.Fatal(r.Err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(at) != 7 {
		t.Fatalf("registry saw %d requests, want 7", len(at))
	}
	for i := 1; i < len(at); i++ {
		// The limiter spaces sends 50ms apart; arrival can be a little
		// closer than the send, never much.
		if gap := at[i].Sub(at[i-1]); gap < 40*time.Millisecond {
			t.Errorf("requests %d and %d arrived %s apart, want about %s", i-1, i, gap, time.Second/rps)
		}
	}
}

// TestRedirectElsewhereRefused: a tag list redirected to another host is
// an error; credentials are never sent there.
func TestRedirectElsewhereRefused(t *testing.T) {
	other := newTestRegistry(t, nil)
	reg := newTestRegistry(t, tagListHandler(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "http://"+other.host+r.URL.Path, http.StatusFound)
	}))
	_, err := reg.scanner(t, scan.WithInsecure(other.host)).ListTags(context.Background(), scan.Target{Repository: reg.host + "/app"})
	if err == nil || !strings.Contains(err.Error(), "refusing a redirect from "+reg.host) {
		t.Errorf("err = %v, want the redirect refused", err)
	}
	if n := other.total(); n != 0 {
		t.Errorf("the other host got %d requests", n)
	}
}
