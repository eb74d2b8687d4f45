package scan

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// registry is what a Scanner knows about one registry host for its
// lifetime (one run): the answer to its /v2/ ping, asked once and shared
// by every repository on it, the tokens it issued per scope and
// credential, its request rate, and whether it already failed to answer.
type registry struct {
	host     string
	scheme   string // "https", or "http" for registries listed as insecure
	insecure bool
	limiter  *limiter

	ping   onceCache[*transport.Challenge]
	tokens onceCache[*transport.Token]

	// issued holds the tokens this registry's token server handed out, so
	// they are scrubbed from every message about it.
	issued secretSet

	requests                   countValue
	pings, tokenRequests, head atomic.Int64
	pages                      atomic.Int64

	// broken is set when a request to the registry timed out or was
	// rate-limited beyond the budget: images scanned after that fail at
	// once instead of each spending a budget on it.
	broken atomic.Pointer[brokenRegistry]
}

type brokenRegistry struct {
	image string
	err   error
}

// pingRegistry asks GET /v2/ once for the whole run (concurrent callers
// wait for the one request) and returns its challenge. A failure is
// remembered too: every image on a registry that does not answer fails
// with the same reason, at once.
func (s *Scanner) pingRegistry(ctx context.Context, reg *registry) (*transport.Challenge, error) {
	return reg.ping.get(ctx, "", func(ctx context.Context) (*transport.Challenge, time.Time, error) {
		reg.pings.Add(1)
		c, err := s.doPing(ctx, reg)
		return c, time.Time{}, err
	})
}

func (s *Scanner) doPing(ctx context.Context, reg *registry) (*transport.Challenge, error) {
	u := reg.scheme + "://" + reg.host + "/v2/"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	resp, err := s.client(s.base).Do(req)
	if err != nil {
		return nil, requestError(req, err)
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK:
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		return &transport.Challenge{Insecure: reg.insecure}, nil
	case http.StatusUnauthorized:
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		cs := parseChallenges(resp.Header.Values("WWW-Authenticate"))
		c := pickChallenge(cs)
		if c == nil {
			return &transport.Challenge{Scheme: "basic", Insecure: reg.insecure}, nil
		}
		if realm, err := url.Parse(c.Params["realm"]); err == nil && reg.insecure && realm.Scheme == "http" {
			// An insecure registry's token server may be plain HTTP too.
			s.mu.Lock()
			s.realms[realm.Host] = true
			s.mu.Unlock()
		}
		return &transport.Challenge{Scheme: c.Scheme, Parameters: c.Params, Insecure: reg.insecure}, nil
	}
	return nil, statusError(resp, nil)
}

// pickChallenge prefers a scheme uptick can answer (bearer, then basic).
func pickChallenge(cs []challenge) *challenge {
	for _, want := range []string{"bearer", "basic"} {
		for i := range cs {
			if cs[i].Scheme == want {
				return &cs[i]
			}
		}
	}
	if len(cs) > 0 {
		return &cs[0]
	}
	return nil
}

// authorize returns a transport that carries cred to reg for pulling repo:
// the registry's ping answer decides how. For a bearer challenge the token
// for this scope and credential is fetched once per run (and again only
// when it expires) and shared by every image that needs it.
func (s *Scanner) authorize(ctx context.Context, reg *registry, repo name.Repository, cred *credential) (http.RoundTripper, error) {
	pr, err := s.pingRegistry(ctx, reg)
	if err != nil {
		return nil, err
	}
	switch strings.ToLower(pr.Scheme) {
	case "":
		return s.base, nil // anonymous access allowed
	case "bearer":
	default:
		if cred.anonymous {
			return s.base, nil
		}
		tr, err := transport.FromToken(repo.Registry, cred.auth, s.base, pr, &transport.Token{})
		if err != nil {
			return nil, err
		}
		return tr, nil
	}
	scope := repo.Scope(transport.PullScope)
	key := scope + "\x00" + cred.fingerprint
	tok, err := reg.tokens.get(ctx, key, func(ctx context.Context) (*transport.Token, time.Time, error) {
		if cred.cfg.RegistryToken != "" {
			// A registry token from a credential helper is the bearer
			// token itself.
			return &transport.Token{Token: cred.cfg.RegistryToken}, time.Time{}, nil
		}
		reg.tokenRequests.Add(1)
		start := time.Now()
		tok, err := transport.Exchange(ctx, repo.Registry, cred.auth, s.base, []string{scope}, pr)
		if err != nil {
			return nil, time.Time{}, tokenError(err)
		}
		if tok.Token == "" {
			tok.Token = tok.AccessToken // OAuth2-style servers
		}
		reg.issued.add(tok.Token, tok.AccessToken, tok.RefreshToken)
		ttl := time.Duration(tok.ExpiresIn) * time.Second
		if ttl <= 0 {
			ttl = 60 * time.Second // the token spec's default lifetime
		}
		// Renew a little early, so a token never expires mid-request.
		return tok, start.Add(ttl - min(ttl/10, 10*time.Second)), nil
	})
	if err != nil {
		return nil, err
	}
	tr, err := transport.FromToken(repo.Registry, cred.auth, s.base, pr, tok)
	if err != nil {
		return nil, err
	}
	return tr, nil
}

// tokenError turns a token server's refusal into a *StatusError (so it
// maps to ErrUnauthorized); its body is scrubbed later with everything
// else.
func tokenError(err error) error {
	var te *transport.Error
	if errors.As(err, &te) {
		se := &StatusError{Method: http.MethodGet, URL: "the token server", StatusCode: te.StatusCode, Status: fmt.Sprintf("%d %s", te.StatusCode, http.StatusText(te.StatusCode))}
		if te.Request != nil {
			se.Method, se.URL = te.Request.Method, redactURL(te.Request.URL)
		}
		for _, d := range te.Errors {
			se.Codes = append(se.Codes, string(d.Code))
			if se.Detail != "" {
				se.Detail += "; "
			}
			se.Detail += string(d.Code) + ": " + d.Message
		}
		return se
	}
	return fmt.Errorf("getting a token: %w", err)
}

// onceCache runs one function per key at a time and shares its result:
// concurrent callers wait for the one call. A result stays until its
// expiry (zero: for the cache's lifetime), except a failure caused by the
// caller's own context ending, which the next caller retries.
type onceCache[T any] struct {
	mu    sync.Mutex
	calls map[string]*onceCall[T]
}

type onceCall[T any] struct {
	done    chan struct{}
	val     T
	err     error
	expires time.Time
}

func (c *onceCache[T]) get(ctx context.Context, key string, fn func(context.Context) (T, time.Time, error)) (T, error) {
	var zero T
	for {
		c.mu.Lock()
		if c.calls == nil {
			c.calls = map[string]*onceCall[T]{}
		}
		call := c.calls[key]
		if call != nil {
			select {
			case <-call.done:
				if call.expires.IsZero() || time.Now().Before(call.expires) {
					c.mu.Unlock()
					return call.val, call.err
				}
			default:
				c.mu.Unlock()
				select {
				case <-call.done:
					continue
				case <-ctx.Done():
					return zero, causeOf(ctx)
				}
			}
		}
		call = &onceCall[T]{done: make(chan struct{})}
		c.calls[key] = call
		c.mu.Unlock()

		v, exp, err := fn(ctx)
		c.mu.Lock()
		call.val, call.err, call.expires = v, err, exp
		if err != nil && ctx.Err() != nil {
			delete(c.calls, key)
		}
		close(call.done)
		c.mu.Unlock()
		return v, err
	}
}

// fingerprint identifies a credential without holding it in clear.
func fingerprint(cfg authn.AuthConfig) string {
	h := sha256.New()
	for _, v := range []string{cfg.Username, cfg.Password, cfg.Auth, cfg.IdentityToken, cfg.RegistryToken} {
		_, _ = io.WriteString(h, v)
		_, _ = h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))
}

// statusError reads a failed response: its OCI error body (at most
// maxErrorBody bytes of it), scrubbed of secrets and cut short.
func statusError(resp *http.Response, secrets *secretSet) error {
	se := &StatusError{StatusCode: resp.StatusCode, Status: resp.Status}
	if resp.Request != nil {
		se.Method, se.URL = resp.Request.Method, redactURL(resp.Request.URL)
	}
	if se.Status == "" {
		se.Status = fmt.Sprintf("%d %s", resp.StatusCode, http.StatusText(resp.StatusCode))
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	truncated := len(body) == maxErrorBody
	codes, detail := parseErrorBody(body)
	if truncated {
		detail = secrets.trimPartial(detail)
	}
	se.Codes = codes
	for i, c := range se.Codes {
		se.Codes[i] = secrets.scrub(c, 64)
	}
	se.Detail = secrets.scrub(detail, maxDetail)
	return se
}

// parseErrorBody reads an OCI error body's codes and messages ("CODE:
// message; ..."); the "detail" members, which registries fill with Go
// maps of the access they wanted, are left out. A body that is not one is
// returned as text.
func parseErrorBody(body []byte) (codes []string, detail string) {
	var doc struct {
		Errors []struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"errors"`
	}
	if err := json.Unmarshal(body, &doc); err != nil || len(doc.Errors) == 0 {
		return nil, string(body)
	}
	var parts []string
	for _, e := range doc.Errors {
		codes = append(codes, e.Code)
		switch {
		case e.Code != "" && e.Message != "":
			parts = append(parts, e.Code+": "+e.Message)
		case e.Code != "":
			parts = append(parts, e.Code)
		default:
			parts = append(parts, e.Message)
		}
	}
	return codes, strings.Join(parts, "; ")
}

// maxErrorBody is how much of a registry's error body is read.
const maxErrorBody = 16 << 10

// maxDetail is how much of a registry's own words an error keeps.
const maxDetail = 300
