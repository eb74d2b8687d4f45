package testserver

import (
	"context"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// Fault decides how a FaultProxy answers one request; next forwards the
// request to the real registry behind the proxy.
type Fault func(w http.ResponseWriter, r *http.Request, next http.Handler)

// FaultProxy is a reverse proxy on 127.0.0.1, in front of a real registry,
// that misbehaves the way production registries sometimes do.
type FaultProxy struct {
	// Host is the proxy's host:port, to use as the registry in image
	// references (plain HTTP).
	Host string
	n    atomic.Int64
}

// Requests counts the requests the proxy received.
func (p *FaultProxy) Requests() int64 { return p.n.Load() }

// StartFaultProxy starts a proxy for upstream (a base URL such as
// "http://127.0.0.1:5000") that answers every request through fault. The
// requests of a fault that hangs end when the test does.
func StartFaultProxy(t testing.TB, upstream string, fault Fault) *FaultProxy {
	t.Helper()
	u, err := url.Parse(upstream)
	if err != nil {
		t.Fatal(err)
	}
	next := httputil.NewSingleHostReverseProxy(u)
	next.ErrorLog = log.New(io.Discard, "", 0) // clients that give up are the point
	p := &FaultProxy{}
	stop, cancel := context.WithCancel(context.Background())
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.n.Add(1)
		fault(w, r, next)
	}))
	// Every request's context ends when the test does, so hung handlers
	// return and Close does not wait for them.
	srv.Config.BaseContext = func(net.Listener) context.Context { return stop }
	srv.Start()
	t.Cleanup(srv.Close)
	t.Cleanup(cancel) // runs before Close
	p.Host = strings.TrimPrefix(srv.URL, "http://")
	return p
}

// Forward passes every request through unchanged.
func Forward() Fault {
	return func(w http.ResponseWriter, r *http.Request, next http.Handler) { next.ServeHTTP(w, r) }
}

// Hang accepts the request and never answers: the connection stays open
// until the client gives up (or the test ends).
func Hang() Fault {
	return func(_ http.ResponseWriter, r *http.Request, _ http.Handler) { <-r.Context().Done() }
}

// Trickle forwards the request and sends the registry's answer one byte
// per every, flushing each, so the body never goes idle for long but takes
// forever.
func Trickle(every time.Duration) Fault {
	return func(w http.ResponseWriter, r *http.Request, next http.Handler) {
		next.ServeHTTP(&trickleWriter{ResponseWriter: w, ctx: r.Context(), every: every}, r)
	}
}

type trickleWriter struct {
	http.ResponseWriter
	ctx   context.Context
	every time.Duration
}

func (tw *trickleWriter) Write(p []byte) (int, error) {
	f, _ := tw.ResponseWriter.(http.Flusher)
	for i := range p {
		if _, err := tw.ResponseWriter.Write(p[i : i+1]); err != nil {
			return i, err
		}
		if f != nil {
			f.Flush()
		}
		select {
		case <-tw.ctx.Done():
			return i + 1, tw.ctx.Err()
		case <-time.After(tw.every):
		}
	}
	return len(p), nil
}

// Status answers every request with code and the given header pairs
// ("Retry-After", "3600", ...), and a registry-style error body whose
// message is the status text.
func Status(code int, header ...string) Fault {
	return func(w http.ResponseWriter, _ *http.Request, _ http.Handler) {
		for i := 0; i+1 < len(header); i += 2 {
			w.Header().Set(header[i], header[i+1])
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		_, _ = fmt.Fprintf(w, `{"errors":[{"code":"UNAVAILABLE","message":%q}]}`, http.StatusText(code))
	}
}

// OnTagLists applies f to tag-list requests and forwards every other
// request (the /v2/ ping, manifests) unchanged.
func OnTagLists(f Fault) Fault {
	return func(w http.ResponseWriter, r *http.Request, next http.Handler) {
		if strings.HasSuffix(r.URL.Path, "/tags/list") {
			f(w, r, next)
			return
		}
		next.ServeHTTP(w, r)
	}
}
