package scan

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/http"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
)

// Option configures a Scanner; see New.
type Option func(*options) error

type options struct {
	concurrency  int
	keychain     authn.Keychain
	dockerConfig string
	providers    map[string]authn.Keychain
	transport    http.RoundTripper
	insecure     map[string]bool
	rates        map[string]float64
	userAgent    string
	logger       *slog.Logger
	retries      int
	retryBackoff time.Duration
	caBundle     []byte

	imageTimeout   time.Duration
	requestTimeout time.Duration
	idleTimeout    time.Duration

	pageSize     int
	maxPages     int
	maxPageBytes int64
	maxTags      int
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

	// Tag lists. What one listing can hold is bounded by maxTags (at most
	// 128 bytes each, by the OCI grammar): 100,000 tags are at most about
	// 16 MiB of strings, and 8 listings at once (the default concurrency)
	// at most about 128 MiB, plus one page being read per listing, 8 MiB
	// at most: within a 512 MiB pod with room for the garbage collector.
	// Quay serves at most 100 tags a page, so 1,000 pages reach 100,000.
	defaultPageSize     = 1000
	fallbackPageSize    = 100
	defaultMaxPages     = 1000
	defaultMaxPageBytes = 8 << 20
	defaultMaxTags      = 100_000
)

func defaultOptions() *options {
	return &options{
		concurrency:  defaultConcurrency,
		transport:    defaultTransport(),
		insecure:     map[string]bool{},
		rates:        map[string]float64{},
		providers:    map[string]authn.Keychain{},
		userAgent:    defaultUserAgent,
		logger:       slog.New(slog.DiscardHandler),
		retries:      defaultRetries,
		retryBackoff: defaultRetryBackoff,

		imageTimeout:   defaultImageTimeout,
		requestTimeout: defaultRequestTimeout,
		idleTimeout:    defaultIdleTimeout,

		pageSize:     defaultPageSize,
		maxPages:     defaultMaxPages,
		maxPageBytes: defaultMaxPageBytes,
		maxTags:      defaultMaxTags,
	}
}

// defaultTransport is a tuned transport of the scanner's own, so settings
// never leak into other users of http.DefaultTransport.
func defaultTransport() *http.Transport {
	return &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          100,
		MaxIdleConnsPerHost:   defaultConcurrency,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
		TLSClientConfig:       &tls.Config{MinVersion: tls.VersionTLS12},
	}
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
// own Auth, in place of the default docker config. Default none: the
// docker config of WithDockerConfig, else anonymous.
func WithKeychain(k authn.Keychain) Option {
	return func(o *options) error {
		if k == nil {
			return errors.New("keychain must not be nil")
		}
		o.keychain = k
		return nil
	}
}

// WithDockerConfig names the docker config.json used for targets without
// their own Auth (the caller computes it from $DOCKER_CONFIG or the home
// directory); a missing file means anonymous access. Its credHelpers and
// credsStore run the docker-credential-* programs on PATH. Default none:
// anonymous.
func WithDockerConfig(path string) Option {
	return func(o *options) error {
		o.dockerConfig = path
		return nil
	}
}

// WithProviderKeychain sets the keychain used for targets whose Auth names
// provider, in place of the cloud provider's own library (tests; a
// keychain of the caller's). Default: the library for "aws", "google" and
// "azure".
func WithProviderKeychain(provider string, k authn.Keychain) Option {
	return func(o *options) error {
		if k == nil {
			return errors.New("keychain must not be nil")
		}
		o.providers[provider] = k
		return nil
	}
}

// WithTransport sets the HTTP transport shared by all requests (so
// connections are reused across repositories). Default a transport of the
// scanner's own with 10s dial and TLS handshake timeouts.
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
// repositories) that are reached over plain HTTP, and only over it: no
// HTTPS probe is made. Every other registry is reached over HTTPS only; a
// plain-HTTP request to one (a Link header, a redirect, a token realm) is
// refused with ErrPlainHTTP, whatever its address. Default none.
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

// WithRegistryRate limits the requests sent to registry (host or
// host:port) to rps per second, spaced evenly, across all images. Default
// no limit.
func WithRegistryRate(registry string, rps float64) Option {
	return func(o *options) error {
		if registry == "" {
			return errors.New("registry name must not be empty")
		}
		if rps <= 0 || math.IsInf(rps, 0) || math.IsNaN(rps) {
			return fmt.Errorf("requests per second for %s must be a positive number, got %v", registry, rps)
		}
		o.rates[registry] = rps
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
// 5xx, 429 or transient network error, with exponential backoff and
// jitter, within the image's time budget. Default 3; 0 disables retries.
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
// further retry (each wait is jittered down by up to half), and a longer
// Retry-After from the registry wins. Default 500ms.
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
// and for each further piece of the body; a credential helper gets as
// long. Default 15s; d must be positive.
func WithIdleTimeout(d time.Duration) Option {
	return func(o *options) error {
		if d <= 0 {
			return fmt.Errorf("idle timeout must be positive, got %s", d)
		}
		o.idleTimeout = d
		return nil
	}
}

// WithPageSize sets the "n" asked for on tag-list pages. A registry that
// rejects it is asked again with n=100 and then without n. Default 1000.
func WithPageSize(n int) Option {
	return func(o *options) error {
		if n < 1 {
			return fmt.Errorf("page size must be at least 1, got %d", n)
		}
		o.pageSize = n
		return nil
	}
}

// WithMaxPages caps the tag-list pages read per repository; past it the
// image fails with ErrTooLarge. Default 1000.
func WithMaxPages(n int) Option {
	return func(o *options) error {
		if n < 1 {
			return fmt.Errorf("max pages must be at least 1, got %d", n)
		}
		o.maxPages = n
		return nil
	}
}

// WithMaxPageBytes caps the size of one tag-list page body; a larger one
// fails the image with ErrTooLarge as soon as the limit is read, so it
// never takes more memory than that. Default 8 MiB.
func WithMaxPageBytes(n int64) Option {
	return func(o *options) error {
		if n < 1 {
			return fmt.Errorf("max page bytes must be at least 1, got %d", n)
		}
		o.maxPageBytes = n
		return nil
	}
}

// WithMaxTags caps the tags kept per repository; past it the image fails
// with ErrTooLarge. Default 100,000.
func WithMaxTags(n int) Option {
	return func(o *options) error {
		if n < 1 {
			return fmt.Errorf("max tags must be at least 1, got %d", n)
		}
		o.maxTags = n
		return nil
	}
}
