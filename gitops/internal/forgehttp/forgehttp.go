package forgehttp

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"
)

// Defaults, in one place; each client's WithX doc repeats the value.
const (
	// DefaultTimeout bounds each HTTP request, body included.
	DefaultTimeout = 30 * time.Second
	// DefaultMaxResponseBytes caps one response body: pull request lists
	// are a few hundred KiB; a forge or proxy answering more is broken.
	DefaultMaxResponseBytes = 16 << 20
	// DefaultUserAgent is sent with every request.
	DefaultUserAgent = "uptick"
	redacted         = "***"
)

// Settings is what a forge client is configured with.
type Settings struct {
	// Token authenticates every request; empty means anonymous.
	Token string
	// APIURL overrides the API base URL derived from the git URL.
	APIURL string
	// Repository overrides the repository path derived from the git URL.
	Repository string
	// CABundle is PEM certificates trusted besides the system roots.
	CABundle []byte
	// Timeout bounds each request.
	Timeout time.Duration
	// MaxResponseBytes caps each response body.
	MaxResponseBytes int64
	// UserAgent is sent with every request.
	UserAgent string
	// Logger receives one debug line per request (method, URL, status,
	// duration; never headers).
	Logger *slog.Logger
	// Getenv reads the environment (GITHUB_API_URL under Actions).
	Getenv func(string) string
	// Transport, when set, replaces the default transport (tests).
	Transport http.RoundTripper
}

// DefaultSettings returns every default.
func DefaultSettings() Settings {
	return Settings{
		Timeout:          DefaultTimeout,
		MaxResponseBytes: DefaultMaxResponseBytes,
		UserAgent:        DefaultUserAgent,
		Logger:           slog.New(slog.NewTextHandler(io.Discard, nil)),
		Getenv:           os.Getenv,
	}
}

// Apply returns the defaults with opts applied and validated: what every
// forge client's New starts from. An option's error is returned as it is
// (it names the option); a failed validation is prefixed with
// "CLIENT client: ".
func Apply[O ~func(*Settings) error](client string, opts []O) (Settings, error) {
	s := DefaultSettings()
	for _, o := range opts {
		if err := o(&s); err != nil {
			return Settings{}, err
		}
	}
	if err := s.Validate(); err != nil {
		return Settings{}, fmt.Errorf("%s client: %w", client, err)
	}
	return s, nil
}

// Validate checks settings after options were applied.
func (s Settings) Validate() error {
	if s.Timeout <= 0 {
		return errors.New("timeout must be positive")
	}
	if s.MaxResponseBytes <= 0 {
		return errors.New("maximum response size must be positive")
	}
	if strings.ContainsAny(s.Token, "\r\n") {
		return errors.New("token contains a line break")
	}
	if s.APIURL != "" {
		u, err := url.Parse(s.APIURL)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return fmt.Errorf("API URL %q is not an http(s) URL", s.APIURL)
		}
		if u.User != nil {
			return errors.New("API URL must not carry credentials; give the token separately")
		}
	}
	return nil
}

// HTTPClient returns a client with the CA bundle, the per-request timeout,
// the response size cap and request logging. The Authorization header is
// set by each SDK; Go's client drops it on redirects to another host.
func (s Settings) HTTPClient() (*http.Client, error) {
	rt := s.Transport
	if rt == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		if len(s.CABundle) > 0 {
			pool, err := x509.SystemCertPool()
			if err != nil || pool == nil {
				pool = x509.NewCertPool()
			}
			if !pool.AppendCertsFromPEM(s.CABundle) {
				return nil, errors.New("CA bundle holds no PEM certificate")
			}
			t.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
		}
		rt = t
	}
	return &http.Client{
		Timeout:   s.Timeout,
		Transport: &transport{next: rt, max: s.MaxResponseBytes, logger: s.Logger},
	}, nil
}

// transport caps response bodies and logs requests.
type transport struct {
	next   http.RoundTripper
	max    int64
	logger *slog.Logger
}

func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	start := time.Now()
	resp, err := t.next.RoundTrip(req)
	u := *req.URL
	u.User = nil
	if err != nil {
		t.logger.Debug("forge request failed", "method", req.Method, "url", u.String(), "duration", time.Since(start))
		return nil, err
	}
	t.logger.Debug("forge request", "method", req.Method, "url", u.String(), "status", resp.StatusCode, "duration", time.Since(start))
	if resp.ContentLength > t.max {
		resp.Body.Close()
		return nil, fmt.Errorf("%s %s: response of %d bytes is over the %d-byte limit", req.Method, u.Redacted(), resp.ContentLength, t.max)
	}
	resp.Body = &limitedBody{rc: resp.Body, left: t.max, max: t.max}
	return resp, nil
}

// ErrResponseTooLarge is what reading a response body over the cap returns.
var ErrResponseTooLarge = errors.New("forge response is over the size limit")

type limitedBody struct {
	rc   io.ReadCloser
	left int64
	max  int64
}

func (b *limitedBody) Read(p []byte) (int, error) {
	if b.left <= 0 {
		// One byte more tells a body of exactly max bytes from a longer one.
		var one [1]byte
		n, err := b.rc.Read(one[:])
		if n > 0 {
			return 0, fmt.Errorf("%w (%d bytes)", ErrResponseTooLarge, b.max)
		}
		return 0, err
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.rc.Read(p)
	b.left -= int64(n)
	return n, err
}

func (b *limitedBody) Close() error { return b.rc.Close() }

// Scrubber removes a token from text bound for errors and logs.
type Scrubber struct{ r *strings.Replacer }

// NewScrubber returns a scrubber for token (and its URL-escaped form).
// Tokens shorter than 4 bytes are not scrubbed: they would mangle messages
// while hiding nothing.
func NewScrubber(token string) Scrubber {
	var pairs []string
	if len(token) >= 4 {
		pairs = append(pairs, token, redacted)
		if esc := url.QueryEscape(token); esc != token {
			pairs = append(pairs, esc, redacted)
		}
	}
	return Scrubber{r: strings.NewReplacer(pairs...)}
}

// String returns s with the token replaced by ***.
func (s Scrubber) String(str string) string {
	if s.r == nil {
		return str
	}
	return s.r.Replace(str)
}

// TrimMessage shortens a forge's error text to one readable line of at
// most 300 bytes, so an HTML error page does not flood the log.
func TrimMessage(msg string) string {
	msg = strings.Join(strings.Fields(msg), " ")
	const max = 300
	if len(msg) > max {
		cut := max
		for cut > 0 && msg[cut]&0xC0 == 0x80 { // keep UTF-8 whole
			cut--
		}
		msg = msg[:cut] + "…"
	}
	return msg
}

// TransportReason says in plain words why a request got no answer: no
// Go type names, no syscall names, the timeout that fired.
func TransportReason(err error, timeout time.Duration) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	var dns *net.DNSError
	var op *net.OpError
	var certErr *tls.CertificateVerificationError
	var unknownCA x509.UnknownAuthorityError
	var hostErr x509.HostnameError
	switch {
	case errors.Is(err, context.DeadlineExceeded) || strings.Contains(err.Error(), "Client.Timeout exceeded"):
		return fmt.Sprintf("no answer within the %v timeout", timeout)
	case errors.Is(err, context.Canceled):
		return "canceled"
	case errors.As(err, &dns):
		return fmt.Sprintf("cannot resolve host %q", dns.Name)
	case errors.As(err, &unknownCA), errors.As(err, &certErr) && errors.As(certErr.Err, &unknownCA):
		return "TLS certificate not trusted (signed by an unknown authority; set a CA bundle)"
	case errors.As(err, &hostErr):
		return "TLS certificate is not valid for " + hostErr.Host
	case errors.As(err, &op) && op.Op == "dial":
		addr := ""
		if op.Addr != nil {
			addr = " " + op.Addr.String()
		}
		var se *os.SyscallError
		reason := op.Err.Error()
		if errors.As(op.Err, &se) {
			reason = se.Err.Error()
		}
		return fmt.Sprintf("cannot connect to%s: %s", addr, reason)
	case errors.Is(err, ErrResponseTooLarge):
		return err.Error()
	}
	return err.Error()
}
