package scan_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/uptick-gitops/uptick/scan"
)

// paginate serves tag lists in pages of size with a Link header to the
// next page, as distribution v3, Docker Hub and GHCR do, whatever n the
// client asks for. The tags come from the real registry behind it; linkHost,
// if set, replaces the host in the Link (to test that foreign hosts are
// refused).
func paginate(size int, linkHost string) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method != http.MethodGet || !strings.HasSuffix(r.URL.Path, "/tags/list") {
				next.ServeHTTP(w, r)
				return
			}
			inner := httptest.NewRecorder()
			next.ServeHTTP(inner, httptest.NewRequest(http.MethodGet, r.URL.Path, nil))
			if inner.Code != http.StatusOK {
				w.WriteHeader(inner.Code)
				_, _ = w.Write(inner.Body.Bytes())
				return
			}
			var all struct {
				Name string   `json:"name"`
				Tags []string `json:"tags"`
			}
			if err := json.Unmarshal(inner.Body.Bytes(), &all); err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
			start := 0
			if last := r.URL.Query().Get("last"); last != "" {
				start = slices.Index(all.Tags, last) + 1
			}
			end := min(start+size, len(all.Tags))
			if end < len(all.Tags) {
				q := url.Values{"n": {fmt.Sprint(size)}, "last": {all.Tags[end-1]}}
				link := r.URL.Path + "?" + q.Encode()
				if linkHost != "" {
					link = "http://" + linkHost + link
				}
				w.Header().Set("Link", "<"+link+`>; rel="next"`)
			}
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(map[string]any{"name": all.Name, "tags": all.Tags[start:end]})
		})
	}
}

func TestPagination(t *testing.T) {
	tags := numberedTags("v", 10)
	slices.Sort(tags) // the registry keeps them sorted; pages follow that order
	tests := []struct {
		name      string
		size      int
		wantLists int
	}{
		{name: "pages of 3", size: 3, wantLists: 4},
		{name: "pages of 5", size: 5, wantLists: 2},
		{name: "one page", size: 100, wantLists: 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			reg := newTestRegistry(t, paginate(tc.size, ""))
			pushTags(t, reg.host, "app", tags)
			reg.reset()
			got, err := reg.scanner(t).ListTags(context.Background(), scan.Target{Repository: reg.host + "/app"})
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tags, got); diff != "" {
				t.Errorf("tags (-want +got):\n%s", diff)
			}
			if n := reg.count(http.MethodGet, "/tags/list"); n != tc.wantLists {
				t.Errorf("tag list requests = %d, want %d", n, tc.wantLists)
			}
		})
	}

	t.Run("link to another host is refused", func(t *testing.T) {
		reg := newTestRegistry(t, paginate(3, "evil.example:80"))
		pushTags(t, reg.host, "app", tags)
		_, err := reg.scanner(t).ListTags(context.Background(), scan.Target{Repository: reg.host + "/app"})
		if err == nil || !strings.Contains(err.Error(), reg.host+"/app") {
			t.Errorf("err = %v, want an error naming the repository", err)
		}
	})
}
