package scan

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"
)

// ErrTimeout marks a registry that did not answer in time: no response
// headers, a body that stalled or trickled past the request deadline, or an
// image whose whole time budget ran out. Callers can branch on it with
// errors.Is; the error itself says which limit was hit.
var ErrTimeout = errors.New("registry timed out")

// TimeoutError is one request that hit a deadline.
type TimeoutError struct {
	// Method and URL are the request's (URL without query or user info).
	Method, URL string
	// What says which limit: "no response headers", "response body stalled"
	// or "request not finished".
	What string
	// After is the limit that was exceeded.
	After time.Duration
}

// Error reads "GET https://host/v2/: no response headers within 15s".
func (e *TimeoutError) Error() string {
	return fmt.Sprintf("%s %s: %s within %s", e.Method, e.URL, e.What, e.After)
}

// Is makes errors.Is(err, ErrTimeout) true.
func (e *TimeoutError) Is(target error) bool { return target == ErrTimeout }

// BudgetError is the per-image time budget running out.
type BudgetError struct {
	// Budget is the per-image time budget.
	Budget time.Duration
}

// Error says which budget ran out.
func (e *BudgetError) Error() string {
	return fmt.Sprintf("the image's time budget of %s ran out", e.Budget)
}

// Is makes errors.Is(err, ErrTimeout) true.
func (e *BudgetError) Is(target error) bool { return target == ErrTimeout }

// deadlineTransport bounds every request in time, whatever the server
// does: response headers must arrive within idle, the body must never go
// idle for longer than idle, and the whole request (body included) must be
// done within total. A server that accepts a connection and never answers,
// or trickles its body a byte at a time, ends in a *TimeoutError instead of
// holding the scan until the pass deadline.
type deadlineTransport struct {
	inner http.RoundTripper
	idle  time.Duration
	total time.Duration
}

func (d *deadlineTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx, cancel := context.WithCancelCause(req.Context())
	timeout := func(what string, after time.Duration) func() {
		return func() {
			cancel(&TimeoutError{Method: req.Method, URL: redactURL(req.URL), What: what, After: after})
		}
	}
	total := time.AfterFunc(d.total, timeout("request not finished", d.total))
	headers := time.AfterFunc(d.idle, timeout("no response headers", d.idle))
	resp, err := d.inner.RoundTrip(req.WithContext(ctx))
	headers.Stop()
	if err != nil {
		total.Stop()
		err = ourTimeout(ctx, err)
		cancel(nil)
		return nil, err
	}
	b := &watchedBody{ctx: ctx, cancel: cancel, body: resp.Body, total: total, idleFor: d.idle}
	b.idle = time.AfterFunc(d.idle, timeout("response body stalled: no data", d.idle))
	resp.Body = b
	return resp, nil
}

// ourTimeout replaces the error of a request this transport cancelled with
// the reason it did so.
func ourTimeout(ctx context.Context, err error) error {
	var te *TimeoutError
	if cause := context.Cause(ctx); errors.As(cause, &te) && ctx.Err() != nil {
		return te
	}
	return err
}

// watchedBody re-arms the idle deadline whenever data arrives and releases
// the request's timers when closed.
type watchedBody struct {
	ctx     context.Context
	cancel  context.CancelCauseFunc
	body    io.ReadCloser
	total   *time.Timer
	idle    *time.Timer
	idleFor time.Duration
	once    sync.Once
}

func (b *watchedBody) Read(p []byte) (int, error) {
	n, err := b.body.Read(p)
	if n > 0 {
		b.idle.Reset(b.idleFor)
	}
	if err != nil && err != io.EOF {
		err = ourTimeout(b.ctx, err)
	}
	return n, err
}

func (b *watchedBody) Close() error {
	err := b.body.Close()
	b.once.Do(func() {
		b.total.Stop()
		b.idle.Stop()
		b.cancel(nil)
	})
	return err
}
