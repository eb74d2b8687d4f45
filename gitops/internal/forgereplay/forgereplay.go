package forgereplay

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// Fixture is one file: what it shows and its exchanges, in order.
type Fixture struct {
	Description string     `json:"description"`
	Exchanges   []Exchange `json:"exchanges"`
}

// Exchange is one request the client must send and the answer it gets.
type Exchange struct {
	// Doc is the documentation page the pair is taken from.
	Doc string `json:"doc"`
	// Note says how the pair differs from the page, if it does.
	Note     string   `json:"note,omitempty"`
	Request  Request  `json:"request"`
	Response Response `json:"response"`
}

// Request is what the client must send. Path is relative to the API root
// and compared escaped (GitLab's "group%2Fproject"); Query is compared as
// a whole; Body, when not null, is compared as JSON.
type Request struct {
	Method string              `json:"method"`
	Path   string              `json:"path"`
	Query  map[string][]string `json:"query,omitempty"`
	Body   json.RawMessage     `json:"body,omitempty"`
}

// Response is what the server answers.
type Response struct {
	Status  int               `json:"status"`
	Headers map[string]string `json:"headers,omitempty"`
	Body    json.RawMessage   `json:"body,omitempty"`
}

// Load reads a fixture file, failing the test when it is unreadable or an
// exchange cites no documentation page.
func Load(t testing.TB, path string) Fixture {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var f Fixture
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if len(f.Exchanges) == 0 {
		t.Fatalf("%s: no exchanges", path)
	}
	for i, e := range f.Exchanges {
		if !strings.HasPrefix(e.Doc, "https://") {
			t.Fatalf("%s: exchange %d cites no documentation page", path, i)
		}
	}
	return f
}

// Server replays a fixture.
type Server struct {
	*httptest.Server
	// Requests counts the requests received.
	Requests int

	t      testing.TB
	prefix string
	header func(http.Header) error
	mu     sync.Mutex
	left   []Exchange
}

// Serve starts a server for f whose API root is srv.URL+prefix (e.g.
// "/api/v4"). check, when not nil, is run on every request's headers (the
// token header); its error fails the test. At Cleanup the server closes and
// the test fails if exchanges were left unused.
func Serve(t testing.TB, f Fixture, prefix string, check func(http.Header) error) *Server {
	t.Helper()
	s := &Server{t: t, prefix: prefix, header: check, left: append([]Exchange(nil), f.Exchanges...)}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(func() {
		s.Close()
		s.mu.Lock()
		defer s.mu.Unlock()
		for _, e := range s.left {
			t.Errorf("the client never sent %s %s", e.Request.Method, e.Request.Path)
		}
	})
	return s
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.Requests++
	body, _ := io.ReadAll(r.Body)
	got := fmt.Sprintf("%s %s", r.Method, r.URL.RequestURI())
	if len(s.left) == 0 {
		s.t.Errorf("unexpected request %s (all recorded exchanges used)", got)
		http.Error(w, "unexpected request", http.StatusTeapot)
		return
	}
	e := s.left[0]
	s.left = s.left[1:]
	if s.header != nil {
		if err := s.header(r.Header); err != nil {
			s.t.Errorf("%s: %v", got, err)
		}
	}
	if d := diffRequest(e.Request, s.prefix, r, body); d != "" {
		s.t.Errorf("request %s differs from the recorded one (-want +got):\n%s", got, d)
		http.Error(w, "request differs from the recording", http.StatusTeapot)
		return
	}
	for k, v := range e.Response.Headers {
		w.Header().Set(k, v)
	}
	if w.Header().Get("Content-Type") == "" && len(e.Response.Body) > 0 {
		w.Header().Set("Content-Type", "application/json")
	}
	w.WriteHeader(e.Response.Status)
	w.Write(e.Response.Body)
}

// normalRequest is a request reduced to what is compared.
type normalRequest struct {
	Method string
	Path   string
	Query  url.Values
	Body   any
}

func diffRequest(want Request, prefix string, r *http.Request, body []byte) string {
	w := normalRequest{Method: want.Method, Path: prefix + want.Path, Query: url.Values(want.Query)}
	if w.Query == nil {
		w.Query = url.Values{}
	}
	if len(want.Body) > 0 && string(want.Body) != "null" {
		if err := json.Unmarshal(want.Body, &w.Body); err != nil {
			return "recorded body is not JSON: " + err.Error()
		}
	}
	g := normalRequest{Method: r.Method, Path: r.URL.EscapedPath(), Query: r.URL.Query()}
	if len(bytes.TrimSpace(body)) > 0 {
		if err := json.Unmarshal(body, &g.Body); err != nil {
			g.Body = "not JSON: " + string(body)
		}
	}
	return cmp.Diff(w, g)
}
