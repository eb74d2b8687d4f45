package scan_test

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/uptick-gitops/uptick/internal/testserver"
	"github.com/uptick-gitops/uptick/scan"
)

// fast keeps retry waits short in tests.
func newScanner(t testing.TB, opts ...scan.Option) *scan.Scanner {
	t.Helper()
	s, err := scan.New(append([]scan.Option{scan.WithRetryBackoff(time.Millisecond)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func numberedTags(prefix string, n int) []string {
	tags := make([]string, n)
	for i := range tags {
		tags[i] = fmt.Sprintf("%s%d", prefix, i)
	}
	return tags
}

// Requests made by the first anonymous listing on a registry: its ping
// and one page. Later listings on it need only the page.
const requestsPerListing = 2

func TestListTags(t *testing.T) {
	reg := newTestRegistry(t, nil)
	tests := []struct {
		name string
		repo string
		tags []string
	}{
		{name: "one tag", repo: "one", tags: []string{"v1.0.0"}},
		{name: "several tags", repo: "team/app", tags: []string{"1.0.0", "1.1.0", "2.0.0-rc.1", "latest", "main-abc123-1700000000"}},
		// More than ggcr's default page size (1000): a registry that honours
		// n without a Link header must not cut the list.
		{name: "more than a default page", repo: "many", tags: numberedTags("t", 1005)},
	}
	for _, tc := range tests {
		pushTags(t, reg.host, tc.repo, tc.tags)
	}
	s := reg.scanner(t)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.ListTags(context.Background(), scan.Target{Name: tc.name, Repository: reg.host + "/" + tc.repo})
			if err != nil {
				t.Fatal(err)
			}
			// The in-process registry returns tags sorted; compare as sets.
			if diff := cmp.Diff(tc.tags, got, cmpopts.SortSlices(func(a, b string) bool { return a < b })); diff != "" {
				t.Errorf("tags (-want +got):\n%s", diff)
			}
		})
	}
}

func TestScanOrderDedupAndRequests(t *testing.T) {
	reg := newTestRegistry(t, nil)
	want := map[string][]string{}
	for i := range 5 {
		repo := fmt.Sprintf("app%d", i)
		want[repo] = numberedTags(repo+"-", i+1)
		pushTags(t, reg.host, repo, want[repo])
	}
	reg.reset()

	var targets []scan.Target
	for _, repo := range []string{"app3", "app0", "app4", "app0", "app1", "app2", "app3", "app0"} {
		targets = append(targets, scan.Target{Name: "img-" + repo, Repository: reg.host + "/" + repo})
	}
	s := reg.scanner(t, scan.WithConcurrency(2))
	results := s.Scan(context.Background(), targets)

	if len(results) != len(targets) {
		t.Fatalf("got %d results for %d targets", len(results), len(targets))
	}
	sum := 0
	for i, r := range results {
		if r.Err != nil {
			t.Fatalf("target %d: %v", i, r.Err)
		}
		if diff := cmp.Diff(targets[i], r.Target); diff != "" {
			t.Errorf("result %d target (-want +got):\n%s", i, diff)
		}
		repo := strings.TrimPrefix(r.Target.Repository, reg.host+"/")
		if diff := cmp.Diff(want[repo], r.Tags, cmpopts.SortSlices(func(a, b string) bool { return a < b })); diff != "" {
			t.Errorf("result %d (%s) tags (-want +got):\n%s", i, repo, diff)
		}
		sum += r.Requests
	}
	// Five distinct repositories: five tag listings, whatever the duplicates.
	if got := reg.count(http.MethodGet, "/tags/list"); got != 5 {
		t.Errorf("tag list requests = %d, want 5", got)
	}
	// One ping for the registry, whichever listing made it, and one page
	// per repository.
	if got := reg.count(http.MethodGet, "/v2/"); got != 1 {
		t.Errorf("pings = %d, want 1 for the whole scan", got)
	}
	if got := reg.total(); sum != got || got != 6 {
		t.Errorf("sum of Result.Requests = %d, registry served %d, want both 6", sum, got)
	}
	// First occurrences carry the cost, duplicates none; one of them the
	// ping.
	var gotReq []int
	for _, i := range []int{3, 6, 7} {
		if results[i].Requests != 0 {
			t.Errorf("duplicate %d: Requests = %d, want 0", i, results[i].Requests)
		}
	}
	for _, i := range []int{0, 1, 2, 4, 5} {
		gotReq = append(gotReq, results[i].Requests)
	}
	slices.Sort(gotReq)
	if diff := cmp.Diff([]int{1, 1, 1, 1, 2}, gotReq); diff != "" {
		t.Errorf("requests of the first occurrences, sorted (-want +got):\n%s", diff)
	}

	// Shared results are independent copies.
	results[1].Tags[0] = "mutated"
	if results[3].Tags[0] == "mutated" || results[7].Tags[0] == "mutated" {
		t.Error("duplicate targets share one tags slice")
	}
}

func TestListTagsErrors(t *testing.T) {
	reg := newTestRegistry(t, nil)
	pushTags(t, reg.host, "exists", []string{"v1"})
	dead := testserver.FreeAddr(t) // nothing listens there

	tests := []struct {
		name      string
		repo      string
		opts      []scan.Option
		wantIs    error
		wantInMsg []string
		wantReqs  int
	}{
		{
			name:      "repository not found",
			repo:      reg.host + "/missing/app",
			wantIs:    scan.ErrNotFound,
			wantInMsg: []string{`listing tags of "` + reg.host + `/missing/app"`, "NAME_UNKNOWN"},
			wantReqs:  requestsPerListing,
		},
		{
			name:      "invalid repository",
			repo:      "Not A/Repo!",
			wantIs:    scan.ErrInvalidRepository,
			wantInMsg: []string{`listing tags of "Not A/Repo!"`},
		},
		{
			name:      "repository with a tag",
			repo:      reg.host + "/exists:v1",
			wantIs:    scan.ErrInvalidRepository,
			wantInMsg: []string{reg.host + "/exists:v1"},
		},
		{
			// Connection refused is retried: 4 attempts at the ping, over
			// plain HTTP only (no HTTPS probe for an insecure registry).
			name:      "unreachable registry",
			repo:      dead + "/app",
			opts:      []scan.Option{scan.WithInsecure(dead)},
			wantInMsg: []string{`listing tags of "` + dead + `/app"`, "connection refused"},
			wantReqs:  4,
		},
		{
			name:      "unreachable registry without retries",
			repo:      dead + "/app",
			opts:      []scan.Option{scan.WithRetries(0), scan.WithInsecure(dead)},
			wantInMsg: []string{`listing tags of "` + dead + `/app"`, "connection refused"},
			wantReqs:  1,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := reg.scanner(t, tc.opts...)
			res := s.Scan(context.Background(), []scan.Target{{Name: "x", Repository: tc.repo}})[0]
			err := res.Err
			if err == nil {
				t.Fatalf("got tags %v, want an error", res.Tags)
			}
			var rerr *scan.RepositoryError
			if !errors.As(err, &rerr) || rerr.Repository != tc.repo {
				t.Errorf("error %v is not a *RepositoryError for %q", err, tc.repo)
			}
			if tc.wantIs != nil && !errors.Is(err, tc.wantIs) {
				t.Errorf("errors.Is(%v, %v) = false", err, tc.wantIs)
			}
			for _, s := range tc.wantInMsg {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not contain %q", err, s)
				}
			}
			if res.Requests != tc.wantReqs {
				t.Errorf("Requests = %d, want %d", res.Requests, tc.wantReqs)
			}
			if errors.Is(err, scan.ErrNotFound) != (tc.wantIs == scan.ErrNotFound) {
				t.Errorf("errors.Is(err, ErrNotFound) wrong for %v", err)
			}
			if errors.Is(err, scan.ErrUnauthorized) {
				t.Errorf("errors.Is(err, ErrUnauthorized) for %v", err)
			}
		})
	}
}

// blockTagList makes every tag listing hang until the client goes away.
func blockTagList(started chan<- struct{}) func(http.Handler) http.Handler {
	var once sync.Once
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if strings.HasSuffix(r.URL.Path, "/tags/list") {
				once.Do(func() { close(started) })
				<-r.Context().Done()
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}

func TestContextCancellation(t *testing.T) {
	t.Run("during a request", func(t *testing.T) {
		started := make(chan struct{})
		reg := newTestRegistry(t, blockTagList(started))
		s := reg.scanner(t)
		ctx, cancel := context.WithCancel(context.Background())
		go func() {
			<-started
			cancel()
		}()
		start := time.Now()
		results := s.Scan(ctx, []scan.Target{{Repository: reg.host + "/a"}, {Repository: reg.host + "/b"}})
		if d := time.Since(start); d > 10*time.Second {
			t.Errorf("Scan took %s after cancellation", d)
		}
		for i, r := range results {
			if !errors.Is(r.Err, context.Canceled) {
				t.Errorf("result %d: err = %v, want context.Canceled", i, r.Err)
			}
		}
	})
	t.Run("during retry backoff", func(t *testing.T) {
		var calls sync.WaitGroup
		calls.Add(1)
		var once sync.Once
		reg := newTestRegistry(t, func(next http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if strings.HasSuffix(r.URL.Path, "/tags/list") {
					once.Do(calls.Done)
					w.WriteHeader(http.StatusServiceUnavailable)
					return
				}
				next.ServeHTTP(w, r)
			})
		})
		// A backoff that fits the image's budget, so the scanner waits.
		s := reg.scanner(t, scan.WithRetryBackoff(30*time.Second))
		ctx, cancel := context.WithCancel(context.Background())
		go func() {
			calls.Wait()
			time.Sleep(20 * time.Millisecond)
			cancel()
		}()
		start := time.Now()
		_, err := s.ListTags(ctx, scan.Target{Repository: reg.host + "/app"})
		if d := time.Since(start); d > 10*time.Second {
			t.Errorf("ListTags took %s, the backoff ignored the context", d)
		}
		if !errors.Is(err, context.Canceled) {
			t.Errorf("err = %v, want context.Canceled", err)
		}
	})
}

// failFirst answers the first n tag listings of each repository with code.
func failFirst(n, code int, retryAfter string) func(http.Handler) http.Handler {
	var mu sync.Mutex
	seen := map[string]int{}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if strings.HasSuffix(r.URL.Path, "/tags/list") {
				mu.Lock()
				seen[r.URL.Path]++
				k := seen[r.URL.Path]
				mu.Unlock()
				if k <= n {
					if retryAfter != "" {
						w.Header().Set("Retry-After", retryAfter)
					}
					w.WriteHeader(code)
					return
				}
			}
			next.ServeHTTP(w, r)
		})
	}
}

func TestRetries(t *testing.T) {
	tests := []struct {
		name      string
		failures  int
		code      int
		opts      []scan.Option
		wantErr   string
		wantLists int
	}{
		{name: "503 twice then success", failures: 2, code: http.StatusServiceUnavailable, wantLists: 3},
		{name: "429 then success", failures: 1, code: http.StatusTooManyRequests, wantLists: 2},
		{name: "500 beyond the retries", failures: 10, code: http.StatusInternalServerError, wantErr: "500", wantLists: 4},
		{name: "one retry allowed", failures: 2, code: http.StatusBadGateway, opts: []scan.Option{scan.WithRetries(1)}, wantErr: "502", wantLists: 2},
		{name: "404 is not retried", failures: 1, code: http.StatusNotFound, wantErr: "404", wantLists: 1},
		// A 400 to the first page is taken as the page size refused: the
		// same page again with n=100.
		{name: "400 to the first page asks with n=100", failures: 1, code: http.StatusBadRequest, wantLists: 2},
		{name: "and then without n", failures: 2, code: http.StatusBadRequest, wantLists: 3},
		{name: "and then gives up", failures: 3, code: http.StatusBadRequest, wantErr: "400 Bad Request", wantLists: 3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			reg := newTestRegistry(t, failFirst(tc.failures, tc.code, "0"))
			pushTags(t, reg.host, "app", []string{"v1", "v2"})
			reg.reset()
			s := reg.scanner(t, tc.opts...)
			res := s.Scan(context.Background(), []scan.Target{{Repository: reg.host + "/app"}})[0]
			if tc.wantErr == "" {
				if res.Err != nil {
					t.Fatal(res.Err)
				}
				if diff := cmp.Diff([]string{"v1", "v2"}, res.Tags); diff != "" {
					t.Errorf("tags (-want +got):\n%s", diff)
				}
			} else if res.Err == nil || !strings.Contains(res.Err.Error(), tc.wantErr) {
				t.Errorf("err = %v, want one mentioning %s", res.Err, tc.wantErr)
			}
			if got := reg.count(http.MethodGet, "/tags/list"); got != tc.wantLists {
				t.Errorf("tag list requests = %d, want %d", got, tc.wantLists)
			}
			if want := requestsPerListing - 1 + tc.wantLists; res.Requests != want {
				t.Errorf("Requests = %d, want %d", res.Requests, want)
			}
		})
	}
}

func TestRetryAfterIsHonoured(t *testing.T) {
	reg := newTestRegistry(t, failFirst(1, http.StatusTooManyRequests, "1"))
	pushTags(t, reg.host, "app", []string{"v1"})
	s := reg.scanner(t)
	start := time.Now()
	if _, err := s.ListTags(context.Background(), scan.Target{Repository: reg.host + "/app"}); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < 900*time.Millisecond {
		t.Errorf("retried after %s, want at least the 1s Retry-After", d)
	}
}

func TestDigest(t *testing.T) {
	stripHeadDigest := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodHead {
				w = &dropHeader{ResponseWriter: w, header: "Docker-Content-Digest"}
			}
			next.ServeHTTP(w, r)
		})
	}
	tests := []struct {
		name       string
		wrap       func(http.Handler) http.Handler
		tag        string
		wantErr    error
		wantErrMsg string
	}{
		{name: "HEAD carries the digest", tag: "v1"},
		{name: "HEAD without digest is an error, never a GET", wrap: stripHeadDigest, tag: "v1", wantErrMsg: "no Docker-Content-Digest header"},
		{name: "missing tag", tag: "nope", wantErr: scan.ErrNotFound},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			reg := newTestRegistry(t, tc.wrap)
			img := pushTags(t, reg.host, "app", []string{"v1"})
			want, err := img.Digest()
			if err != nil {
				t.Fatal(err)
			}
			reg.reset()
			s := reg.scanner(t)
			got, err := s.Digest(context.Background(), scan.Target{Repository: reg.host + "/app"}, tc.tag)
			if n := reg.count(http.MethodGet, "/manifests/v1"); n != 0 {
				t.Errorf("manifest GETs = %d, want none", n)
			}
			if tc.wantErrMsg != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErrMsg) {
					t.Errorf("err = %v, want one saying %q", err, tc.wantErrMsg)
				}
				return
			}
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) || !strings.Contains(err.Error(), reg.host+"/app:"+tc.tag) {
					t.Errorf("err = %v, want %v naming the reference", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != want.String() {
				t.Errorf("digest = %s, want %s", got, want)
			}
		})
	}
}

// dropHeader removes one header before the response is written.
type dropHeader struct {
	http.ResponseWriter
	header string
}

func (d *dropHeader) WriteHeader(code int) {
	d.ResponseWriter.Header().Del(d.header)
	d.ResponseWriter.WriteHeader(code)
}

func TestTLSRegistry(t *testing.T) {
	srv, err := registry.TLS("registry.example")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	tr := srv.Client().Transport
	img := pushTags(t, "registry.example", "secure/app", []string{"1.0.0", "1.1.0"}, remote.WithTransport(tr))

	s := newScanner(t, scan.WithTransport(tr))
	target := scan.Target{Repository: "registry.example/secure/app"}
	tags, err := s.ListTags(context.Background(), target)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"1.0.0", "1.1.0"}, tags); diff != "" {
		t.Errorf("tags (-want +got):\n%s", diff)
	}
	d, err := s.Digest(context.Background(), target, "1.1.0")
	if err != nil {
		t.Fatal(err)
	}
	if want, _ := img.Digest(); d != want.String() {
		t.Errorf("digest = %s, want %s", d, want)
	}

	// Without the server's CA the scanner must refuse the certificate.
	plain := newScanner(t, scan.WithRetries(0), scan.WithTransport(&http.Transport{
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, srv.Listener.Addr().String())
		},
	}))
	if _, err := plain.ListTags(context.Background(), target); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("err = %v, want a certificate error", err)
	}
}

func TestInsecureRegistry(t *testing.T) {
	reg := newTestRegistry(t, nil)
	pushTags(t, reg.host, "app", []string{"v1"})
	// Every host name resolves to the plain-HTTP test registry.
	tr := &http.Transport{
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, reg.host)
		},
	}
	target := scan.Target{Repository: "registry.internal.example:5000/app"}

	s := reg.scanner(t, scan.WithTransport(tr), scan.WithInsecure("registry.internal.example:5000"))
	tags, err := s.ListTags(context.Background(), target)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"v1"}, tags); diff != "" {
		t.Errorf("tags (-want +got):\n%s", diff)
	}

	// Not marked insecure: HTTPS only, which this server does not speak.
	strict := reg.scanner(t, scan.WithTransport(tr), scan.WithRetries(0))
	if _, err := strict.ListTags(context.Background(), target); err == nil {
		t.Error("listing a plain-HTTP registry not marked insecure succeeded")
	}
}

func TestUserAgent(t *testing.T) {
	reg := newTestRegistry(t, nil)
	pushTags(t, reg.host, "app", []string{"v1"})
	for _, ua := range []string{"", "uptick-test/1.2"} {
		t.Run(orDefault(ua, "default"), func(t *testing.T) {
			reg.reset()
			var opts []scan.Option
			if ua != "" {
				opts = append(opts, scan.WithUserAgent(ua))
			}
			if _, err := reg.scanner(t, opts...).ListTags(context.Background(), scan.Target{Repository: reg.host + "/app"}); err != nil {
				t.Fatal(err)
			}
			want := orDefault(ua, "uptick")
			reg.mu.Lock()
			defer reg.mu.Unlock()
			for _, got := range reg.agents {
				if !strings.HasPrefix(got, want) {
					t.Errorf("User-Agent %q does not start with %q", got, want)
				}
			}
		})
	}
}

func writeDockerConfig(t testing.TB, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "config.json")
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func authEntry(user, pass string) string {
	return base64.StdEncoding.EncodeToString([]byte(user + ":" + pass))
}

// helperPath puts the credential helpers in testdata/bin first on PATH.
func helperPath(t *testing.T) {
	t.Helper()
	dir, err := filepath.Abs(filepath.Join("testdata", "bin"))
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", dir+string(os.PathListSeparator)+os.Getenv("PATH"))
}

func TestCredentials(t *testing.T) {
	const user, pass, wrong = "robot", "s3cret-Pa55", "wr0ng-Pa55"
	reg := newTestRegistry(t, basicAuth(user, pass))
	pushTags(t, reg.host, "private/app", []string{"v1", "v2"}, basicAuthOption(user, pass))
	target := scan.Target{Name: "app", Repository: reg.host + "/private/app"}

	helperPath(t)
	creds := filepath.Join(t.TempDir(), "creds")
	if err := os.WriteFile(creds, []byte(reg.host+" "+user+" "+pass+"\nother.example "+user+" "+wrong+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("UPTICK_TEST_CREDS", creds)
	// What the broken helper quotes: a token of the kind helpers hold.
	const helperToken = "ya29.A0ARrdaM8Qx7Lk2vB9nT4pW1sZ6cE3fH5jU0"
	t.Setenv("UPTICK_TEST_SECRET", helperToken)

	keychain := authn.NewKeychainFromHelper(helperFunc(func(server string) (string, string, error) {
		if server == reg.host {
			return user, pass, nil
		}
		return "", "", fmt.Errorf("no credentials for %s", server)
	}))

	tests := []struct {
		name   string
		config string // docker config.json content, "" for none
		auth   scan.Auth
		opts   []scan.Option
		// helperCreds, if set, replaces what the test helper knows.
		helperCreds string
		// wantSource is in Result.Source; with wantIs or wantErrHas, in
		// the error.
		wantSource string
		wantIs     error
		wantErrHas string
	}{
		{name: "auth field", config: `{"auths":{"` + reg.host + `":{"auth":"` + authEntry(user, pass) + `"}}}`, wantSource: `(auths["` + reg.host + `"])`},
		{name: "username and password with scheme in key", config: `{"auths":{"http://` + reg.host + `/v2/":{"username":"` + user + `","password":"` + pass + `"}}}`, wantSource: `auths["http://` + reg.host + `/v2/"]`},
		{name: "repository-specific key", config: `{"auths":{"` + reg.host + `/private/app":{"auth":"` + authEntry(user, pass) + `"},"` + reg.host + `":{"auth":"` + authEntry(user, wrong) + `"}}}`, wantSource: `/private/app"]`},
		{name: "credential helper for the registry", config: `{"credHelpers":{"` + reg.host + `":"uptick-test"},"auths":{"` + reg.host + `":{"auth":"` + authEntry(user, wrong) + `"}}}`, wantSource: "docker-credential-uptick-test"},
		{name: "credsStore", config: `{"credsStore":"uptick-test","auths":{"` + reg.host + `":{}}}`, wantSource: "credsStore: docker-credential-uptick-test"},
		{name: "inline auth wins over credsStore", config: `{"credsStore":"uptick-broken","auths":{"` + reg.host + `":{"auth":"` + authEntry(user, pass) + `"}}}`, wantSource: "auths["},
		{name: "username and password", auth: scan.Auth{Username: user, Password: pass, From: "env REG_USER/REG_PASS"}, wantSource: "env REG_USER/REG_PASS"},
		{name: "scanner keychain", opts: []scan.Option{scan.WithKeychain(keychain)}, wantSource: "the scanner's keychain"},
		{name: "provider keychain", auth: scan.Auth{Provider: "aws"}, opts: []scan.Option{scan.WithProviderKeychain("aws", keychain)}, wantSource: "aws"},
		{name: "default docker config", opts: []scan.Option{scan.WithDockerConfig(writeDockerConfig(t, `{"auths":{"`+reg.host+`":{"auth":"`+authEntry(user, pass)+`"}}}`))}, wantSource: "docker config"},

		{name: "wrong password", config: `{"auths":{"` + reg.host + `":{"auth":"` + authEntry(user, wrong) + `"}}}`, wantIs: scan.ErrCredentialsRejected, wantErrHas: "the registry rejected the credentials from docker config"},
		{name: "wrong password from the helper", config: `{"credsStore":"uptick-test"}`, helperCreds: reg.host + " " + user + " " + wrong + "\n", wantIs: scan.ErrCredentialsRejected, wantErrHas: "rejected the credentials from docker config"},
		{name: "no entry for the registry is anonymous", config: `{"auths":{"other.example":{"auth":"` + authEntry(user, pass) + `"}}}`, wantIs: scan.ErrNoCredentials, wantErrHas: "has no entry for " + reg.host},
		{name: "helper without an entry is anonymous", config: `{"credHelpers":{"` + reg.host + `":"uptick-test"}}`, helperCreds: "other.example u p\n", wantIs: scan.ErrNoCredentials, wantErrHas: "docker-credential-uptick-test) has no credentials for"},
		{name: "no credentials at all", wantIs: scan.ErrNoCredentials, wantErrHas: "the registry refused anonymous access, and no credentials for " + reg.host + " were found (no credential source configured)"},
		{name: "missing default docker config is anonymous", opts: []scan.Option{scan.WithDockerConfig("/nonexistent/config.json")}, wantIs: scan.ErrNoCredentials, wantErrHas: "no docker config at /nonexistent/config.json"},
		{name: "helper not on PATH", config: `{"credHelpers":{"` + reg.host + `":"uptick-missing"}}`, wantIs: scan.ErrCredentialSource, wantErrHas: "docker-credential-uptick-missing is not on PATH"},
		{name: "helper fails", config: `{"credHelpers":{"` + reg.host + `":"uptick-broken"}}`, wantIs: scan.ErrCredentialSource, wantErrHas: "expired (refresh token [redacted] is no longer valid): log in again (exit status 1)"},
		{name: "helper hangs", config: `{"credHelpers":{"` + reg.host + `":"uptick-hang"}}`, opts: []scan.Option{scan.WithIdleTimeout(300 * time.Millisecond)}, wantIs: scan.ErrCredentialSource, wantErrHas: "the helper did not answer within 300ms"},
		{name: "helper name with a path", config: `{"credHelpers":{"` + reg.host + `":"../bin/sh"}}`, wantIs: scan.ErrCredentialSource, wantErrHas: "is not a credential helper name"},
		{name: "broken auth field", config: `{"auths":{"` + reg.host + `":{"auth":"%%%"}}}`, wantIs: scan.ErrCredentialSource, wantErrHas: "not valid base64"},
		{name: "broken JSON", config: `{"auths":`, wantIs: scan.ErrCredentialSource, wantErrHas: "invalid JSON"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tg := target
			tg.Auth = tc.auth
			if tc.config != "" {
				tg.Auth.DockerConfig = writeDockerConfig(t, tc.config)
			}
			if tc.helperCreds != "" {
				f := filepath.Join(t.TempDir(), "creds")
				if err := os.WriteFile(f, []byte(tc.helperCreds), 0o600); err != nil {
					t.Fatal(err)
				}
				t.Setenv("UPTICK_TEST_CREDS", f)
			}
			s := reg.scanner(t, tc.opts...)
			res := s.Scan(context.Background(), []scan.Target{tg})[0]
			if tc.wantIs == nil && tc.wantErrHas == "" {
				if res.Err != nil {
					t.Fatal(res.Err)
				}
				if diff := cmp.Diff([]string{"v1", "v2"}, res.Tags); diff != "" {
					t.Errorf("tags (-want +got):\n%s", diff)
				}
				if !strings.Contains(res.Source, tc.wantSource) {
					t.Errorf("Source = %q, want it to contain %q", res.Source, tc.wantSource)
				}
				return
			}
			err := res.Err
			if err == nil {
				t.Fatalf("got tags %v, want an error", res.Tags)
			}
			if tc.wantIs != nil && !errors.Is(err, tc.wantIs) {
				t.Errorf("errors.Is(%v, %v) = false", err, tc.wantIs)
			}
			if errors.Is(err, scan.ErrNoCredentials) && errors.Is(err, scan.ErrCredentialsRejected) {
				t.Errorf("error %v is both no credentials and rejected", err)
			}
			if !strings.Contains(err.Error(), tc.wantErrHas) || !strings.Contains(err.Error(), target.Repository) {
				t.Errorf("error %q should contain %q and the repository", err, tc.wantErrHas)
			}
			for _, secret := range []string{pass, wrong, authEntry(user, pass), authEntry(user, wrong), helperToken, helperToken[5:]} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("error %q leaks a secret", err)
				}
			}
		})
	}

	t.Run("missing config file", func(t *testing.T) {
		missing := filepath.Join(t.TempDir(), "nope.json")
		_, err := reg.scanner(t).ListTags(context.Background(), scan.Target{Repository: target.Repository, Auth: scan.Auth{DockerConfig: missing}})
		if err == nil || !strings.Contains(err.Error(), missing) || !errors.Is(err, scan.ErrCredentialSource) {
			t.Errorf("err = %v, want a credential source error naming %s", err, missing)
		}
	})

	t.Run("digest with credentials", func(t *testing.T) {
		tg := target
		tg.Auth.DockerConfig = writeDockerConfig(t, `{"auths":{"`+reg.host+`":{"auth":"`+authEntry(user, pass)+`"}}}`)
		d, err := reg.scanner(t).Digest(context.Background(), tg, "v2")
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(d, "sha256:") {
			t.Errorf("digest = %q", d)
		}
	})

	t.Run("the helper runs once per registry", func(t *testing.T) {
		cfg := writeDockerConfig(t, `{"credHelpers":{"`+reg.host+`":"uptick-test"}}`)
		reg.reset()
		var targets []scan.Target
		for range 3 {
			targets = append(targets, scan.Target{Repository: reg.host + "/private/app", Auth: scan.Auth{DockerConfig: cfg}})
		}
		targets = append(targets, scan.Target{Repository: reg.host + "/private/other", Auth: scan.Auth{DockerConfig: cfg}})
		results := reg.scanner(t).Scan(context.Background(), targets)
		if !errors.Is(results[3].Err, scan.ErrNotFound) || results[0].Err != nil {
			t.Errorf("results: %v, %v", results[0].Err, results[3].Err)
		}
	})
}

type helperFunc func(string) (string, string, error)

func (f helperFunc) Get(server string) (string, string, error) { return f(server) }

func TestScanDistinguishesDockerConfigs(t *testing.T) {
	const user, pass = "robot", "pw"
	reg := newTestRegistry(t, basicAuth(user, pass))
	pushTags(t, reg.host, "app", []string{"v1"}, basicAuthOption(user, pass))
	good := writeDockerConfig(t, `{"auths":{"`+reg.host+`":{"auth":"`+authEntry(user, pass)+`"}}}`)
	bad := writeDockerConfig(t, `{"auths":{"`+reg.host+`":{"auth":"`+authEntry(user, "nope")+`"}}}`)
	results := reg.scanner(t).Scan(context.Background(), []scan.Target{
		{Repository: reg.host + "/app", Auth: scan.Auth{DockerConfig: good}},
		{Repository: reg.host + "/app", Auth: scan.Auth{DockerConfig: bad}},
		{Repository: reg.host + "/app", Auth: scan.Auth{DockerConfig: good}},
	})
	if results[0].Err != nil || results[2].Err != nil {
		t.Errorf("good credentials failed: %v, %v", results[0].Err, results[2].Err)
	}
	if !errors.Is(results[1].Err, scan.ErrUnauthorized) {
		t.Errorf("bad credentials: err = %v, want ErrUnauthorized", results[1].Err)
	}
	if got := reg.count(http.MethodGet, "/tags/list"); got != 2 {
		t.Errorf("tag listings = %d, want 2 (one per distinct config)", got)
	}
}

func TestNewRejectsBadOptions(t *testing.T) {
	tests := []struct {
		name string
		opt  scan.Option
	}{
		{"zero concurrency", scan.WithConcurrency(0)},
		{"negative retries", scan.WithRetries(-1)},
		{"negative backoff", scan.WithRetryBackoff(-time.Second)},
		{"nil keychain", scan.WithKeychain(nil)},
		{"nil transport", scan.WithTransport(nil)},
		{"nil logger", scan.WithLogger(nil)},
		{"empty user agent", scan.WithUserAgent("")},
		{"empty insecure registry", scan.WithInsecure("")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := scan.New(tc.opt); err == nil {
				t.Error("New accepted a bad option")
			}
		})
	}
	if _, err := scan.New(); err != nil {
		t.Errorf("New() with defaults: %v", err)
	}
}

func TestScanEmpty(t *testing.T) {
	if got := newScanner(t).Scan(context.Background(), nil); len(got) != 0 {
		t.Errorf("Scan(nil) = %v", got)
	}
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func TestLoggingKeepsSecretsOut(t *testing.T) {
	const user, pass = "robot", "log-S3cret"
	reg := newTestRegistry(t, func(next http.Handler) http.Handler {
		return failFirst(1, http.StatusServiceUnavailable, "")(basicAuth(user, pass)(next))
	})
	pushTags(t, reg.host, "app", []string{"v1"}, basicAuthOption(user, pass))
	var buf testserver.SyncBuffer
	logger := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	cfg := writeDockerConfig(t, `{"auths":{"`+reg.host+`":{"auth":"`+authEntry(user, pass)+`"}}}`)
	s := reg.scanner(t, scan.WithLogger(logger))
	res := s.Scan(context.Background(), []scan.Target{{Name: "app", Repository: reg.host + "/app", Auth: scan.Auth{DockerConfig: cfg}}})
	if res[0].Err != nil {
		t.Fatal(res[0].Err)
	}
	out := buf.String()
	for _, want := range []string{`"msg":"retrying registry request"`, `"reason":"503 Service Unavailable"`, `"msg":"listed tags"`, `"repository":"` + reg.host + `/app"`} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %s:\n%s", want, out)
		}
	}
	for _, secret := range []string{pass, authEntry(user, pass)} {
		if strings.Contains(out, secret) {
			t.Errorf("log leaks a secret:\n%s", out)
		}
	}
}
