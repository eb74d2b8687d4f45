package testserver

import (
	"io"
	"log"
	"net/http"
	"net/http/cgi"
	"net/http/httptest"
	"os/exec"
	"testing"
)

// GitHTTPOptions configure GitHTTP.
type GitHTTPOptions struct {
	// User and Password, when User is set, are required as basic auth.
	User, Password string
	// TLS serves https with a test certificate (see the server's
	// Certificate method for the CA to trust).
	TLS bool
}

// GitHTTP serves the bare repositories under root with the real
// `git http-backend` over CGI on 127.0.0.1, push enabled, and closes it in
// the test's Cleanup. Repository URLs are srv.URL + "/name.git".
func GitHTTP(t testing.TB, root string, opts GitHTTPOptions) *httptest.Server {
	t.Helper()
	gitPath, err := exec.LookPath("git")
	if err != nil {
		t.Fatalf("git is not installed: run `make tools`: %v", err)
	}
	backend := &cgi.Handler{
		Path:   gitPath,
		Stderr: io.Discard,
		Args:   []string{"http-backend"},
		Env: []string{
			"GIT_PROJECT_ROOT=" + root,
			"GIT_HTTP_EXPORT_ALL=1",
			"GIT_CONFIG_NOSYSTEM=1",
			"GIT_CONFIG_GLOBAL=/dev/null",
			// http-backend refuses anonymous pushes unless told otherwise.
			"GIT_CONFIG_COUNT=1",
			"GIT_CONFIG_KEY_0=http.receivepack",
			"GIT_CONFIG_VALUE_0=true",
		},
	}
	var h http.Handler = backend
	if opts.User != "" {
		h = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			u, p, ok := r.BasicAuth()
			if !ok || u != opts.User || p != opts.Password {
				w.Header().Set("WWW-Authenticate", `Basic realm="git"`)
				http.Error(w, "unauthorized", http.StatusUnauthorized)
				return
			}
			backend.ServeHTTP(w, r)
		})
	}
	srv := httptest.NewUnstartedServer(h)
	if opts.TLS {
		// Handshakes from clients that rightly distrust the cert are expected.
		srv.Config.ErrorLog = log.New(io.Discard, "", 0)
		srv.StartTLS()
	} else {
		srv.Start()
	}
	t.Cleanup(srv.Close)
	return srv
}
