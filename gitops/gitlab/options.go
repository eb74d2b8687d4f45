package gitlab

import (
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/uptick-gitops/uptick/gitops/internal/forgehttp"
)

// Option configures New.
type Option func(*forgehttp.Settings) error

// WithToken sets the personal, project or group access token sent with
// every request (the PRIVATE-TOKEN header). It never appears in errors or
// logs. Default: none, which only reads public projects.
func WithToken(token string) Option {
	return func(s *forgehttp.Settings) error {
		s.Token = token
		return nil
	}
}

// WithAPIURL sets the server's base URL, e.g. https://gitlab.example or
// https://example.org/gitlab (a trailing /api/v4 is accepted). Default: the
// scheme and host of the git URL (https for ssh URLs).
func WithAPIURL(u string) Option {
	return func(s *forgehttp.Settings) error {
		s.APIURL = u
		return nil
	}
}

// WithRepository sets the project's full path, e.g. "group/sub/fleet".
// Default: the git URL's path (below the API URL's path prefix, if any).
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
			return errors.New("gitlab.WithTimeout: timeout must be positive")
		}
		s.Timeout = d
		return nil
	}
}

// WithMaxResponseBytes caps every response body. Default: 16 MiB.
func WithMaxResponseBytes(n int64) Option {
	return func(s *forgehttp.Settings) error {
		if n <= 0 {
			return errors.New("gitlab.WithMaxResponseBytes: limit must be positive")
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
			return errors.New("gitlab.WithLogger: nil logger")
		}
		s.Logger = l
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
