package github

import (
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/uptick-gitops/uptick/gitops/internal/forgehttp"
)

// Option configures New.
type Option func(*forgehttp.Settings) error

// WithToken sets the token sent with every request ("Authorization: Bearer
// ..."; GITHUB_TOKEN works under Actions). It never appears in errors or
// logs. Default: none, which only reads public repositories.
func WithToken(token string) Option {
	return func(s *forgehttp.Settings) error {
		s.Token = token
		return nil
	}
}

// WithAPIURL sets the REST API base URL, e.g. https://ghe.example/api/v3.
// Default: https://api.github.com for github.com; under GitHub Actions
// (GITHUB_SERVER_URL naming the git URL's host) $GITHUB_API_URL; else
// https://<host>/api/v3 (GitHub Enterprise Server).
func WithAPIURL(u string) Option {
	return func(s *forgehttp.Settings) error {
		s.APIURL = u
		return nil
	}
}

// WithRepository sets the repository as "owner/name". Default: the git
// URL's path.
func WithRepository(ownerName string) Option {
	return func(s *forgehttp.Settings) error {
		s.Repository = ownerName
		return nil
	}
}

// WithCABundle trusts the PEM certificates in pem besides the system roots.
// Default: the system roots only.
func WithCABundle(pem []byte) Option {
	return func(s *forgehttp.Settings) error {
		s.CABundle = pem
		return nil
	}
}

// WithTimeout bounds every HTTP request, reading the answer included.
// Default: 30s.
func WithTimeout(d time.Duration) Option {
	return func(s *forgehttp.Settings) error {
		if d <= 0 {
			return errors.New("github.WithTimeout: timeout must be positive")
		}
		s.Timeout = d
		return nil
	}
}

// WithMaxResponseBytes caps every response body. Default: 16 MiB.
func WithMaxResponseBytes(n int64) Option {
	return func(s *forgehttp.Settings) error {
		if n <= 0 {
			return errors.New("github.WithMaxResponseBytes: limit must be positive")
		}
		s.MaxResponseBytes = n
		return nil
	}
}

// WithUserAgent sets the User-Agent header. Default: "uptick".
func WithUserAgent(ua string) Option {
	return func(s *forgehttp.Settings) error {
		s.UserAgent = ua
		return nil
	}
}

// WithLogger receives one debug line per request (method, URL, status,
// duration; never headers). Default: discard.
func WithLogger(l *slog.Logger) Option {
	return func(s *forgehttp.Settings) error {
		if l == nil {
			return errors.New("github.WithLogger: nil logger")
		}
		s.Logger = l
		return nil
	}
}

// WithGetenv sets how GITHUB_SERVER_URL and GITHUB_API_URL are read.
// Default: os.Getenv.
func WithGetenv(f func(string) string) Option {
	return func(s *forgehttp.Settings) error {
		if f == nil {
			return errors.New("github.WithGetenv: nil function")
		}
		s.Getenv = f
		return nil
	}
}

// WithTransport replaces the HTTP transport (WithCABundle then has no
// effect). Default: a clone of http.DefaultTransport.
func WithTransport(rt http.RoundTripper) Option {
	return func(s *forgehttp.Settings) error {
		s.Transport = rt
		return nil
	}
}
