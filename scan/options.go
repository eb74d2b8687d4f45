package scan

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// Option configures a Scanner; see New.
type Option func(*options) error

type options struct {
	concurrency  int
	keychain     authn.Keychain
	transport    http.RoundTripper
	insecure     map[string]bool
	userAgent    string
	logger       *slog.Logger
	retries      int
	retryBackoff time.Duration
	caBundle     []byte

	imageTimeout   time.Duration
	requestTimeout time.Duration
	idleTimeout    time.Duration
}

// Defaults, kept in one place.
const (
	defaultConcurrency  = 8
	defaultUserAgent    = "uptick"
	defaultRetries      = 3
	defaultRetryBackoff = 500 * time.Millisecond
	// maxRetryAfter caps how long a registry's Retry-After can make us wait.
	maxRetryAfter = time.Minute

	// A registry that never answers costs an image at most about a minute.
	defaultImageTimeout   = time.Minute
	defaultRequestTimeout = 30 * time.Second
	defaultIdleTimeout    = 15 * time.Second
)

func defaultOptions() *options {
	return &options{
		concurrency:  defaultConcurrency,
		keychain:     authn.DefaultKeychain,
		transport:    defaultTransport(),
		insecure:     map[string]bool{},
		userAgent:    defaultUserAgent,
		logger:       slog.New(slog.NewTextHandler(io.Discard, nil)),
		retries:      defaultRetries,
		retryBackoff: defaultRetryBackoff,

		imageTimeout:   defaultImageTimeout,
		requestTimeout: defaultRequestTimeout,
		idleTimeout:    defaultIdleTimeout,
	}
}

// defaultTransport clones ggcr's tuned transport so that settings we might
// change never leak into other users of remote.DefaultTransport.
func defaultTransport() http.RoundTripper {
	if t, ok := remote.DefaultTransport.(*http.Transport); ok {
		return t.Clone()
	}
	return remote.DefaultTransport
}

// WithConcurrency bounds how many repositories Scan lists at once, to be
// gentle with registries and rate limits. Default 8; n must be at least 1.
func WithConcurrency(n int) Option {
	return func(o *options) error {
		if n < 1 {
			return fmt.Errorf("concurrency must be at least 1, got %d", n)
		}
		o.concurrency = n
		return nil
	}
}

// WithKeychain sets where credentials come from for targets without their
// own DockerConfig. Default authn.DefaultKeychain (~/.docker/config.json,
// $DOCKER_CONFIG, podman's auth.json, else anonymous).
func WithKeychain(k authn.Keychain) Option {
	return func(o *options) error {
		if k == nil {
			return errors.New("keychain must not be nil")
		}
		o.keychain = k
		return nil
	}
}

// WithTransport sets the HTTP transport shared by all requests (so
// connections are reused across repositories); use it to trust a private CA.
// Default a clone of remote.DefaultTransport.
func WithTransport(t http.RoundTripper) Option {
	return func(o *options) error {
		if t == nil {
			return errors.New("transport must not be nil")
		}
		o.transport = t
		return nil
	}
}

// WithCABundle makes registries whose certificates chain to one of the PEM
// certificates in bundle trusted, in addition to the system roots: for
// registries behind a private CA. It applies to the transport in effect
// (the default, or one from WithTransport, which must then be an
// *http.Transport). Default: system roots only.
func WithCABundle(bundle []byte) Option {
	return func(o *options) error {
		if !x509.NewCertPool().AppendCertsFromPEM(bundle) {
			return errors.New("CA bundle holds no PEM certificate")
		}
		o.caBundle = bundle
		return nil
	}
}

// trustCABundle returns o.transport trusting o.caBundle as well.
func (o *options) trustCABundle() (http.RoundTripper, error) {
	t, ok := o.transport.(*http.Transport)
	if !ok {
		return nil, fmt.Errorf("a CA bundle needs an *http.Transport, got %T", o.transport)
	}
	pool, err := x509.SystemCertPool()
	if err != nil {
		pool = x509.NewCertPool()
	}
	pool.AppendCertsFromPEM(o.caBundle)
	t = t.Clone()
	if t.TLSClientConfig == nil {
		t.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	t.TLSClientConfig.RootCAs = pool
	return t, nil
}

// WithInsecure names registries (host or host:port, exactly as written in
// repositories) that are reached over plain HTTP. Default none; note that
// go-containerregistry already falls back to HTTP for localhost, loopback
// and RFC 1918 addresses.
func WithInsecure(registries ...string) Option {
	return func(o *options) error {
		for _, r := range registries {
			if r == "" {
				return errors.New("insecure registry name must not be empty")
			}
			o.insecure[r] = true
		}
		return nil
	}
}

// WithUserAgent sets the User-Agent prefix sent to registries, so registry
// operators can tell uptick's traffic apart. Default "uptick".
func WithUserAgent(ua string) Option {
	return func(o *options) error {
		if ua == "" {
			return errors.New("user agent must not be empty")
		}
		o.userAgent = ua
		return nil
	}
}

// WithLogger sets where retries and listings are logged (at debug and warn
// levels; never credentials). Default a logger that discards everything.
func WithLogger(l *slog.Logger) Option {
	return func(o *options) error {
		if l == nil {
			return errors.New("logger must not be nil")
		}
		o.logger = l
		return nil
	}
}

// WithRetries sets how many times one HTTP request is retried after a
// 5xx, 429 or transient network error, with exponential backoff that stops
// when the context ends. Default 3; 0 disables retries.
func WithRetries(n int) Option {
	return func(o *options) error {
		if n < 0 {
			return fmt.Errorf("retries must not be negative, got %d", n)
		}
		o.retries = n
		return nil
	}
}

// WithRetryBackoff sets the wait before the first retry; it doubles for each
// further retry, and a longer Retry-After from the registry (capped at one
// minute) wins. Default 500ms.
func WithRetryBackoff(d time.Duration) Option {
	return func(o *options) error {
		if d < 0 {
			return fmt.Errorf("retry backoff must not be negative, got %s", d)
		}
		o.retryBackoff = d
		return nil
	}
}

// WithImageTimeout sets the time budget of one image: listing all its tag
// pages, with retries and waits, and separately looking up a digest. When
// it runs out the image fails with ErrTimeout and the others go on; a
// Retry-After longer than what is left fails the image at once. Default
// 1m; d must be positive.
func WithImageTimeout(d time.Duration) Option {
	return func(o *options) error {
		if d <= 0 {
			return fmt.Errorf("image timeout must be positive, got %s", d)
		}
		o.imageTimeout = d
		return nil
	}
}

// WithRequestTimeout bounds one HTTP request from start to the end of its
// body, so a body trickled a byte at a time still ends. Timed-out requests
// are not retried. Default 30s; d must be positive.
func WithRequestTimeout(d time.Duration) Option {
	return func(o *options) error {
		if d <= 0 {
			return fmt.Errorf("request timeout must be positive, got %s", d)
		}
		o.requestTimeout = d
		return nil
	}
}

// WithIdleTimeout bounds how long a request waits for its response headers,
// and for each further piece of the body. Default 15s; d must be positive.
func WithIdleTimeout(d time.Duration) Option {
	return func(o *options) error {
		if d <= 0 {
			return fmt.Errorf("idle timeout must be positive, got %s", d)
		}
		o.idleTimeout = d
		return nil
	}
}
