package scan

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// requestScope travels in a request's context: whose request it is, so
// the meter can count it for the image and the registry it serves.
type requestScope struct {
	// requests counts the image's round trips (retries included).
	requests *countValue
	// reg is the registry the request is made for (token requests go to
	// another host but are counted for the registry they unlock).
	reg *registry
	// secrets are the target's credentials, scrubbed from log lines.
	secrets *secretSet
}

type countValue struct {
	mu sync.Mutex
	n  int
}

func (c *countValue) add(n int) {
	if c == nil {
		return
	}
	c.mu.Lock()
	c.n += n
	c.mu.Unlock()
}

func (c *countValue) get() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}

type scopeKey struct{}

func withScope(ctx context.Context, sc *requestScope) context.Context {
	return context.WithValue(ctx, scopeKey{}, sc)
}

func scopeOf(ctx context.Context) *requestScope {
	sc, _ := ctx.Value(scopeKey{}).(*requestScope)
	if sc == nil {
		return &requestScope{}
	}
	return sc
}

// meterTransport sits just above the deadlines, so it sees every attempt:
// it refuses plain HTTP to registries not listed as insecure (go-
// containerregistry would otherwise fall back to it for loopback and
// private addresses), waits for the registry's request rate, and counts
// the request for its image and its registry.
type meterTransport struct {
	inner http.RoundTripper
	s     *Scanner
}

func (m *meterTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Scheme != "https" && !m.s.plainHTTPAllowed(req.URL.Host) {
		if req.Body != nil {
			_ = req.Body.Close()
		}
		return nil, &PlainHTTPError{Host: req.URL.Host}
	}
	sc := scopeOf(req.Context())
	if sc.reg != nil {
		if err := sc.reg.limiter.wait(req.Context()); err != nil {
			if req.Body != nil {
				_ = req.Body.Close()
			}
			return nil, err
		}
		sc.reg.requests.add(1)
	}
	sc.requests.add(1)
	return m.inner.RoundTrip(req)
}

// limiter spaces one registry's requests at least interval apart; the
// zero interval lets everything through.
type limiter struct {
	mu       sync.Mutex
	interval time.Duration
	next     time.Time
}

func newLimiter(rps float64) *limiter {
	if rps <= 0 {
		return &limiter{}
	}
	return &limiter{interval: time.Duration(float64(time.Second) / rps)}
}

func (l *limiter) wait(ctx context.Context) error {
	if l == nil || l.interval == 0 {
		return nil
	}
	l.mu.Lock()
	now := time.Now()
	at := now
	if l.next.After(now) {
		at = l.next
	}
	l.next = at.Add(l.interval)
	l.mu.Unlock()
	d := at.Sub(now)
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return causeOf(ctx)
	case <-t.C:
		return nil
	}
}

// retryTransport retries one request after 5xx, 429 and transient network
// errors, with exponential backoff and full jitter (so concurrent copies
// of uptick do not retry in lockstep). Unlike go-containerregistry's own
// retry, its waits end with the context, and a wait that would outlast the
// image's time budget is not started: the image fails at once with the
// registry's last answer.
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
		// Full jitter: anywhere in (wait/2, wait].
		delay := wait/2 + rand.N(wait/2+1)
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
			slog.String("reason", scopeOf(ctx).secrets.scrub(reason, maxErrorLen)), slog.Int("attempt", attempt+1), slog.Duration("delay", delay))
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
// Timeouts are not: a registry that did not answer within the idle or
// request timeout is stuck, and another try would only spend the image's
// budget. Refused plain HTTP and TLS errors are not either.
func retryable(resp *http.Response, err error) bool {
	if err != nil {
		if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, ErrTimeout) || errors.Is(err, ErrPlainHTTP) {
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
