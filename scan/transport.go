package scan

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"sync/atomic"
	"syscall"
	"time"
)

// countingTransport counts the HTTP round trips of one target, so Result
// can report how many requests a listing cost.
type countingTransport struct {
	inner http.RoundTripper
	n     *atomic.Int64
}

func (c *countingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	c.n.Add(1)
	return c.inner.RoundTrip(req)
}

// retryTransport retries one request after 5xx, 429 and transient network
// errors. Unlike go-containerregistry's own retry (which sleeps without
// looking at the context), its backoff ends as soon as the context does.
type retryTransport struct {
	inner   http.RoundTripper
	retries int
	backoff time.Duration
	logger  *slog.Logger
}

func (rt *retryTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	wait := rt.backoff
	for attempt := 0; ; attempt++ {
		r := req
		if attempt > 0 && req.Body != nil && req.Body != http.NoBody {
			body, err := req.GetBody()
			if err != nil {
				return nil, fmt.Errorf("rewinding body of %s %s: %w", req.Method, redactURL(req.URL), err)
			}
			r = req.Clone(ctx)
			r.Body = body
		}
		resp, err := rt.inner.RoundTrip(r)
		if attempt >= rt.retries || ctx.Err() != nil || !retryable(resp, err) || !rewindable(req) {
			return resp, err
		}
		delay := wait
		reason := ""
		if err != nil {
			reason = err.Error()
		} else {
			reason = resp.Status
			ra := retryAfter(resp.Header.Get("Retry-After"), time.Now())
			if ra > maxRetryAfter || !fitsBudget(ctx, ra) {
				// Waiting that long would outlast what uptick waits for one
				// image: fail this image now, with the registry's answer.
				_ = resp.Body.Close()
				return nil, &RetryAfterError{Status: resp.Status, After: ra, Left: budgetLeft(ctx), Cap: maxRetryAfter}
			}
			delay = max(delay, ra)
		}
		if !fitsBudget(ctx, delay) {
			// The backoff alone would end the budget: report what the
			// registry last said rather than a bare timeout.
			return resp, err
		}
		if resp != nil {
			// Drain a little so the connection can be reused.
			_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
			_ = resp.Body.Close()
		}
		rt.logger.LogAttrs(ctx, slog.LevelWarn, "retrying registry request",
			slog.String("method", req.Method), slog.String("url", redactURL(req.URL)),
			slog.String("reason", reason), slog.Int("attempt", attempt+1), slog.Duration("delay", delay))
		timer := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			timer.Stop()
			return nil, fmt.Errorf("waiting to retry %s %s: %w", req.Method, redactURL(req.URL), causeOf(ctx))
		case <-timer.C:
		}
		wait *= 2
	}
}

// RetryAfterError is a registry asking (429 or 503 with Retry-After) to
// be asked again later than uptick waits for one image.
type RetryAfterError struct {
	// Status is the response status, e.g. "429 Too Many Requests".
	Status string
	// After is the wait the registry asked for.
	After time.Duration
	// Left is what remained of the image's time budget (0: no budget).
	Left time.Duration
	// Cap is the longest Retry-After uptick honours.
	Cap time.Duration
}

// Error says what the registry asked for and why uptick did not wait.
func (e *RetryAfterError) Error() string {
	why := fmt.Sprintf("more than the %s uptick waits at most", e.Cap)
	if e.After <= e.Cap && e.Left > 0 {
		why = fmt.Sprintf("more than the %s left of the image's time budget", e.Left.Round(time.Second))
	}
	return fmt.Sprintf("registry answered %s and asked to retry after %s, %s", e.Status, e.After, why)
}

// Is makes errors.Is(err, ErrRateLimited) true.
func (e *RetryAfterError) Is(target error) bool { return target == ErrRateLimited }

// fitsBudget reports whether waiting d still leaves the context's deadline
// ahead.
func fitsBudget(ctx context.Context, d time.Duration) bool {
	deadline, ok := ctx.Deadline()
	return !ok || time.Until(deadline) > d
}

// budgetLeft is the time until the context's deadline; 0 without one.
func budgetLeft(ctx context.Context) time.Duration {
	deadline, ok := ctx.Deadline()
	if !ok {
		return 0
	}
	return max(time.Until(deadline), 0)
}

// causeOf is why ctx ended: its cause when one was given, else its error.
func causeOf(ctx context.Context) error {
	if cause := context.Cause(ctx); cause != nil {
		return cause
	}
	return ctx.Err()
}

// rewindable reports whether the request can be sent again.
func rewindable(req *http.Request) bool {
	return req.Body == nil || req.Body == http.NoBody || req.GetBody != nil
}

// retryable reports whether a response or error is worth another attempt.
// TLS and certificate errors are not: go-containerregistry probes HTTPS
// before HTTP for loopback registries, and retrying that probe only delays.
func retryable(resp *http.Response, err error) bool {
	if err != nil {
		if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			return false
		}
		if errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) ||
			errors.Is(err, syscall.EPIPE) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
			return true
		}
		var nerr net.Error
		return errors.As(err, &nerr) && nerr.Timeout()
	}
	return resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusRequestTimeout ||
		(resp.StatusCode >= 500 && resp.StatusCode != http.StatusNotImplemented)
}

// maxRetryAfterParsed bounds what retryAfter returns, so absurd values
// neither overflow nor print as nonsense.
const maxRetryAfterParsed = 365 * 24 * time.Hour

// retryAfter parses a Retry-After header (delay-seconds or an HTTP date)
// into a wait; 0 when absent or unparsable.
func retryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs <= 0 {
			return 0
		}
		if secs > int64(maxRetryAfterParsed/time.Second) {
			return maxRetryAfterParsed
		}
		return time.Duration(secs) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := t.Sub(now); d > 0 {
			return min(d, maxRetryAfterParsed)
		}
	}
	return 0
}

// redactURL drops user info and the query (which may carry tokens) from a
// URL before it is logged or put in an error.
func redactURL(u *url.URL) string {
	if u == nil {
		return ""
	}
	c := *u
	c.User = nil
	c.RawQuery = ""
	c.ForceQuery = false
	return c.String()
}
