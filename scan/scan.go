package scan

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
)

// Target is one repository to list.
type Target struct {
	// Name is the config image name, used in messages.
	Name string
	// Repository is the image repository, e.g. "ghcr.io/stefanprodan/podinfo".
	Repository string
	// Auth says where its credentials come from; the zero value uses the
	// scanner's default source.
	Auth Auth
}

// Result is the outcome of listing one target.
type Result struct {
	Target Target
	// Tags are the valid tags of every page, in the order the registry
	// sent them.
	Tags []string
	// Dropped counts tags the registry sent that are not valid OCI tags;
	// they are in no list and shown nowhere.
	Dropped int
	// Pages counts the tag-list pages read.
	Pages int
	// Err is a *RepositoryError when listing failed.
	Err error
	// Requests is the number of HTTP round trips (retries, the registry's
	// ping and token requests included) made for this target. The ping and
	// a token shared with an earlier target are counted for that one, and
	// a target that shares the listing of an identical earlier one reports
	// 0, so the sum over results is the real cost of a Scan.
	Requests int
	// Source says where the credentials came from (or were looked for).
	Source string
	// Duration is how long the listing took.
	Duration time.Duration
}

// RegistryStats are the requests a Scanner made to one registry.
type RegistryStats struct {
	// Host is the registry (host or host:port).
	Host string
	// Requests counts every round trip made for it (token requests to
	// another host and retries included).
	Requests int
	// Pings, Tokens, Pages and Heads count first attempts of each kind.
	Pings, Tokens, Pages, Heads int
}

// Scanner lists tags and looks up digests. It is safe for concurrent use.
// It is meant to live for one run: it pings each registry once and keeps
// the answer, the tokens it was issued (until they expire) and the
// credentials it resolved, for every repository and digest after.
type Scanner struct {
	opts *options
	// base is the chain every request goes through, below authentication:
	// retries, the meter (scheme, rate, counts) and the deadlines.
	base http.RoundTripper

	mu         sync.Mutex
	registries map[string]*registry
	// realms are plain-HTTP token hosts of insecure registries.
	realms map[string]bool

	creds   onceCache[*credential]
	configs onceCache[*dockerConfig]
	helpers onceCache[*credential]
}

// New returns a Scanner configured by opts; see the With* options for
// defaults.
func New(opts ...Option) (*Scanner, error) {
	o := defaultOptions()
	for _, opt := range opts {
		if err := opt(o); err != nil {
			return nil, fmt.Errorf("configuring scanner: %w", err)
		}
	}
	if o.caBundle != nil {
		t, err := o.trustCABundle()
		if err != nil {
			return nil, fmt.Errorf("configuring scanner: %w", err)
		}
		o.transport = t
	}
	s := &Scanner{opts: o, registries: map[string]*registry{}, realms: map[string]bool{}}
	s.base = &userAgentTransport{ua: o.userAgent, inner: &retryTransport{
		retries: o.retries, backoff: o.retryBackoff, logger: o.logger,
		inner: &meterTransport{s: s, inner: &deadlineTransport{
			inner: o.transport, idle: o.idleTimeout, total: o.requestTimeout,
		}},
	}}
	return s, nil
}

type userAgentTransport struct {
	ua    string
	inner http.RoundTripper
}

func (u *userAgentTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Header.Get("User-Agent") == "" {
		req = req.Clone(req.Context())
		req.Header.Set("User-Agent", u.ua)
	}
	return u.inner.RoundTrip(req)
}

// client is an http.Client over rt that follows redirects only within the
// same scheme and host: a registry's redirect elsewhere (or to plain HTTP)
// is an error, not a place to send credentials.
func (s *Scanner) client(rt http.RoundTripper) *http.Client {
	return &http.Client{Transport: rt, CheckRedirect: func(req *http.Request, via []*http.Request) error {
		if len(via) >= 5 {
			return errors.New("stopped after 5 redirects")
		}
		if first := via[0].URL; req.URL.Host != first.Host || req.URL.Scheme != first.Scheme {
			return fmt.Errorf("refusing a redirect from %s to %s", first.Host, redactURL(req.URL))
		}
		return nil
	}}
}

// registry returns the state of host for this scanner's lifetime.
func (s *Scanner) registry(host string) *registry {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.registries[host]
	if r == nil {
		r = &registry{host: host, scheme: "https", insecure: s.opts.insecure[host], limiter: newLimiter(s.opts.rates[host])}
		if r.insecure {
			r.scheme = "http"
		}
		s.registries[host] = r
	}
	return r
}

// plainHTTPAllowed reports whether host may be reached over plain HTTP: a
// registry listed as insecure, or the token realm one of them named.
func (s *Scanner) plainHTTPAllowed(host string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.opts.insecure[host] || s.realms[host]
}

// Stats returns the requests made to each registry so far, by host.
func (s *Scanner) Stats() []RegistryStats {
	s.mu.Lock()
	regs := make([]*registry, 0, len(s.registries))
	for _, r := range s.registries {
		regs = append(regs, r)
	}
	s.mu.Unlock()
	out := make([]RegistryStats, len(regs))
	for i, r := range regs {
		out[i] = RegistryStats{
			Host: r.host, Requests: r.requests.get(),
			Pings: int(r.pings.Load()), Tokens: int(r.tokenRequests.Load()),
			Pages: int(r.pages.Load()), Heads: int(r.head.Load()),
		}
	}
	slices.SortFunc(out, func(a, b RegistryStats) int {
		if a.Host < b.Host {
			return -1
		}
		if a.Host > b.Host {
			return 1
		}
		return 0
	})
	return out
}

// ListTags lists every tag of one repository (following pagination),
// within the per-image time budget. Errors are *RepositoryError.
func (s *Scanner) ListTags(ctx context.Context, t Target) ([]string, error) {
	r := s.scanOne(ctx, t)
	return r.Tags, r.Err
}

// Scan lists all targets concurrently (at most the configured concurrency
// at once) and returns results in the order of targets. Targets with the
// same repository and the same credential source are listed once and share
// the result.
func (s *Scanner) Scan(ctx context.Context, targets []Target) []Result {
	type key struct{ repo, auth string }
	keyOf := func(t Target) key {
		k := key{repo: t.Repository, auth: t.Auth.key()}
		if r, err := name.NewRepository(t.Repository); err == nil {
			k.repo = r.Name() // "nginx" and "index.docker.io/library/nginx" are one listing
		}
		return k
	}
	results := make([]Result, len(targets))
	first := make(map[key]int, len(targets))
	var unique []int
	for i, t := range targets {
		k := keyOf(t)
		if _, ok := first[k]; !ok {
			first[k] = i
			unique = append(unique, i)
		}
	}

	work := make(chan int)
	var wg sync.WaitGroup
	for range min(s.opts.concurrency, len(unique)) {
		wg.Go(func() {
			for i := range work {
				results[i] = s.scanOne(ctx, targets[i])
			}
		})
	}
	for _, i := range unique {
		work <- i
	}
	close(work)
	wg.Wait()

	for i, t := range targets {
		j := first[keyOf(t)]
		if j == i {
			continue
		}
		shared := results[j]
		shared.Target = t
		shared.Tags = slices.Clone(shared.Tags) // callers may sort or filter their copy
		shared.Requests = 0
		results[i] = shared
	}
	return results
}

// budget bounds one image's work by the per-image time budget.
func (s *Scanner) budget(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeoutCause(ctx, s.opts.imageTimeout, &BudgetError{Budget: s.opts.imageTimeout})
}

// session is one target's work: its repository, registry, credential and
// request count.
type session struct {
	t     Target
	repo  name.Repository
	reg   *registry
	cred  *credential
	scope *requestScope
}

// open resolves t's repository, registry and credential, in a context
// that counts t's requests.
func (s *Scanner) open(ctx context.Context, t Target) (context.Context, *session, error) {
	repo, err := name.NewRepository(t.Repository)
	if err != nil {
		return ctx, nil, fmt.Errorf("%w: %w", ErrInvalidRepository, err)
	}
	reg := s.registry(repo.RegistryStr())
	sess := &session{t: t, repo: repo, reg: reg, scope: &requestScope{requests: &countValue{}, reg: reg, secrets: &reg.issued}}
	ctx = withScope(ctx, sess.scope)
	if b := reg.broken.Load(); b != nil {
		return ctx, sess, fmt.Errorf("skipped: %s did not answer image %s in time earlier in this run: %w", reg.host, b.image, b.err)
	}
	cred, err := s.credentialFor(ctx, t, repo)
	if err != nil {
		return ctx, sess, err
	}
	sess.cred = cred
	sess.scope.secrets = cred.secrets.merged(&reg.issued)
	return ctx, sess, nil
}

// secrets are what sess's messages are scrubbed of.
func (sess *session) secrets() *secretSet {
	if sess == nil {
		return nil
	}
	if sess.cred == nil {
		return &sess.reg.issued
	}
	return sess.cred.secrets.merged(&sess.reg.issued)
}

// fail turns err into what callers see: the context's reason if it ended,
// who refused access and why, scrubbed of every secret; and it marks the
// registry as not answering when it timed out or rate-limited this image.
func (s *Scanner) fail(ctx context.Context, sess *session, err error) error {
	err = s.contextual(ctx, err)
	if sess != nil && sess.cred != nil && errors.Is(err, ErrUnauthorized) && !errors.Is(err, ErrCredentialSource) {
		var ae *AuthError
		if !errors.As(err, &ae) {
			err = &AuthError{Registry: sess.reg.host, Source: sess.cred.source, Anonymous: sess.cred.anonymous, Err: err}
		}
	}
	if sess != nil && (errors.Is(err, ErrTimeout) || errors.Is(err, ErrRateLimited)) && !errors.Is(err, context.Canceled) {
		sess.reg.broken.CompareAndSwap(nil, &brokenRegistry{image: sess.t.Name, err: clean(err, sess.secrets())})
	}
	return clean(err, sess.secrets())
}

func (s *Scanner) scanOne(ctx context.Context, t Target) Result {
	ctx, cancel := s.budget(ctx)
	defer cancel()
	start := time.Now()
	r := Result{Target: t}
	ctx, sess, err := s.open(ctx, t)
	if sess != nil && sess.cred != nil {
		r.Source = sess.cred.source
	}
	var tl tagList
	if err == nil {
		err = s.listTags(ctx, sess, &tl)
	}
	r.Tags, r.Dropped, r.Pages, r.Duration = tl.tags, tl.dropped, tl.pages, time.Since(start)
	if sess != nil {
		r.Requests = sess.scope.requests.get()
	}
	if err != nil {
		r.Err = &RepositoryError{Repository: t.Repository, Err: s.fail(ctx, sess, err)}
		s.opts.logger.LogAttrs(ctx, slog.LevelDebug, "listing tags failed",
			slog.String("image", t.Name), slog.String("repository", t.Repository),
			slog.Int("requests", r.Requests), slog.Duration("duration", r.Duration), slog.String("error", r.Err.Error()))
		return r
	}
	s.opts.logger.LogAttrs(ctx, slog.LevelDebug, "listed tags",
		slog.String("image", t.Name), slog.String("repository", t.Repository),
		slog.Int("tags", len(tl.tags)), slog.Int("dropped", tl.dropped), slog.Int("pages", tl.pages),
		slog.Int("requests", r.Requests), slog.String("credentials", r.Source), slog.Duration("duration", r.Duration))
	return r
}

// listTags reads every tag-list page of sess's repository into tl: asking
// for n tags a page, following Link headers (same host and scheme only),
// falling back to n=100 and then to no n for registries that reject the
// size, and stopping with an error at the page, byte and tag limits and at
// a Link that loops.
func (s *Scanner) listTags(ctx context.Context, sess *session, tl *tagList) error {
	rt, err := s.authorize(ctx, sess.reg, sess.repo, sess.cred)
	if err != nil {
		return err
	}
	client := s.client(rt)
	base := &url.URL{Scheme: sess.reg.scheme, Host: sess.reg.host, Path: "/v2/" + sess.repo.RepositoryStr() + "/tags/list"}
	sizes := []int{s.opts.pageSize}
	if s.opts.pageSize > fallbackPageSize {
		sizes = append(sizes, fallbackPageSize)
	}
	sizes = append(sizes, 0)

	next := withPageSize(base, sizes[0], "")
	seen := map[string]bool{}
	seenLast := map[string]bool{}
	linked := false // the registry paginates with Link headers
	for {
		if tl.pages >= s.opts.maxPages {
			return &LimitError{What: "pages", Limit: s.opts.maxPages, Option: "scan.limits.pages"}
		}
		if seen[next.String()] {
			return &LoopError{URL: redactURL(next), Why: "the Link header points back to a page already read"}
		}
		seen[next.String()] = true
		sess.reg.pages.Add(1)
		var pg page
		link, status, err := s.readPage(ctx, client, sess, next, &pg, s.opts.maxTags-len(tl.tags))
		if err != nil {
			if tl.pages == 0 && status == http.StatusBadRequest && len(sizes) > 1 && next.Query().Has("n") {
				// Quay has refused n above 100, distribution 3.1 above its
				// maximum: ask again with less.
				sizes = sizes[1:]
				s.opts.logger.LogAttrs(ctx, slog.LevelDebug, "registry refused the page size, asking again",
					slog.String("repository", sess.t.Repository), slog.String("error", sess.secrets().scrub(err.Error(), maxErrorLen)))
				next = withPageSize(base, sizes[0], "")
				continue
			}
			return err
		}
		tl.pages++
		// A page asked for with "last" that starts at or before it is the
		// registry ignoring "last" (go-containerregistry's registry answers
		// a last past every tag with the first page again): the list ended.
		if sent := next.Query().Get("last"); link == nil && sent != "" && pg.entries > 0 && pg.first <= sent {
			return nil
		}
		tl.tags = append(tl.tags, pg.tags...)
		tl.dropped += pg.dropped
		switch {
		case link != nil:
			linked = true
		case linked:
			return nil
		default:
			// No Link ever: a full page of n may not be the last one (the
			// registry honours n but does not link, as the spec allowed);
			// ask for what follows its last tag.
			// More than n is a registry that ignores n (Debian's 2.8):
			// that was the whole list.
			n, _ := strconv.Atoi(next.Query().Get("n"))
			if n == 0 || pg.entries != n || pg.last == "" {
				return nil
			}
			link = withPageSize(base, n, pg.last)
		}
		if link.Host == base.Host && link.Scheme == "http" && base.Scheme == "https" {
			return &PlainHTTPError{Host: link.Host}
		}
		if link.Host != base.Host || link.Scheme != base.Scheme {
			return fmt.Errorf("the registry's Link header points to %s, not to %s: refusing to follow it", redactURL(link), base.Host)
		}
		if last := link.Query().Get("last"); last != "" {
			if seenLast[last] {
				return &LoopError{URL: redactURL(link), Why: fmt.Sprintf("its \"last\" (%s) does not advance", strconv.Quote(shorten(printable(last), 64)))}
			}
			seenLast[last] = true
		}
		next = link
	}
}

// withPageSize returns base asking for n tags a page (no n when 0),
// after last (when not "").
func withPageSize(base *url.URL, n int, last string) *url.URL {
	u := *base
	q := url.Values{}
	if n > 0 {
		q.Set("n", strconv.Itoa(n))
	}
	if last != "" {
		q.Set("last", last)
	}
	u.RawQuery = q.Encode()
	return &u
}

// readPage fetches one page (keeping at most room tags) and returns the
// next page's URL, if any, and the HTTP status.
func (s *Scanner) readPage(ctx context.Context, client *http.Client, sess *session, u *url.URL, pg *page, room int) (*url.URL, int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, 0, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return nil, 0, requestError(req, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, resp.StatusCode, statusError(resp, sess.secrets())
	}
	if err := readPageBody(resp.Body, pg, s.opts.maxPageBytes, room, s.opts.maxTags); err != nil {
		var te *TimeoutError
		if errors.As(err, &te) {
			return nil, resp.StatusCode, te
		}
		return nil, resp.StatusCode, fmt.Errorf("GET %s: %w", redactURL(u), err)
	}
	// Drain what follows the JSON (a trailing newline), for reuse.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
	link, _ := nextLink(resp.Header.Values("Link"), resp.Request.URL)
	return link, resp.StatusCode, nil
}

// manifestTypes are asked for by Digest, index types first, so a
// multi-arch image answers with its index digest.
var manifestTypes = []string{
	"application/vnd.oci.image.index.v1+json",
	"application/vnd.docker.distribution.manifest.list.v2+json",
	"application/vnd.oci.image.manifest.v1+json",
	"application/vnd.docker.distribution.manifest.v2+json",
}

// digestPattern is a manifest digest as a registry must send it.
var digestPattern = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`^sha(256:[a-f0-9]{64}|512:[a-f0-9]{128})$`)
})

// Digest returns the manifest digest ("sha256:...") of repository:tag,
// with one HEAD request (the index digest for a multi-arch image): never a
// manifest GET. It shares the registry's ping, token and credentials with
// the listing, and has its own per-image time budget.
func (s *Scanner) Digest(ctx context.Context, t Target, tag string) (string, error) {
	ctx, cancel := s.budget(ctx)
	defer cancel()
	ref := t.Repository + ":" + tag
	fail := func(sess *session, err error) (string, error) {
		return "", fmt.Errorf("getting digest of %q: %w", ref, s.fail(ctx, sess, err))
	}
	if !ValidTag(tag) {
		return fail(nil, fmt.Errorf("%w: %q is not a valid tag", ErrInvalidRepository, tag))
	}
	ctx, sess, err := s.open(ctx, t)
	if err != nil {
		return fail(sess, err)
	}
	rt, err := s.authorize(ctx, sess.reg, sess.repo, sess.cred)
	if err != nil {
		return fail(sess, err)
	}
	u := &url.URL{Scheme: sess.reg.scheme, Host: sess.reg.host, Path: "/v2/" + sess.repo.RepositoryStr() + "/manifests/" + tag}
	req, err := http.NewRequestWithContext(ctx, http.MethodHead, u.String(), nil)
	if err != nil {
		return fail(sess, err)
	}
	for _, mt := range manifestTypes {
		req.Header.Add("Accept", mt)
	}
	sess.reg.head.Add(1)
	resp, err := s.client(rt).Do(req)
	if err != nil {
		return fail(sess, requestError(req, err))
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fail(sess, statusError(resp, sess.secrets()))
	}
	d := resp.Header.Get("Docker-Content-Digest")
	if !digestPattern().MatchString(d) {
		if d == "" {
			return fail(sess, fmt.Errorf("HEAD %s: the registry's answer has no Docker-Content-Digest header (uptick asks for digests by HEAD only)", redactURL(u)))
		}
		return fail(sess, fmt.Errorf("HEAD %s: the registry's Docker-Content-Digest %q is not a digest", redactURL(u), shorten(printable(d), 80)))
	}
	return d, nil
}

// requestError says which request failed and why, once: it drops the
// *url.Error wrapping (whose text repeats the URL with its query) and keeps
// errors that already name their request as they are.
func requestError(req *http.Request, err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	var te *TimeoutError
	var se *StatusError
	var pe *PlainHTTPError
	switch {
	case errors.As(err, &te), errors.As(err, &se), errors.As(err, &pe):
		return err
	case isPlainHTTPAnswer(err):
		return fmt.Errorf("%s %s: the registry answered plain HTTP to HTTPS; if it serves only plain HTTP, list %s in scan.insecure: %w", req.Method, redactURL(req.URL), req.URL.Host, err)
	}
	return fmt.Errorf("%s %s: %w", req.Method, redactURL(req.URL), err)
}

// isPlainHTTPAnswer reports net/http's error for an HTTPS request that got
// a plain-HTTP answer.
func isPlainHTTPAnswer(err error) bool {
	var rhe tls.RecordHeaderError
	return errors.As(err, &rhe) || strings.Contains(err.Error(), "server gave HTTP response to HTTPS client")
}

// ValidateRepository checks that repository is a well-formed repository
// reference (no tag, no digest), so a config loader can reject it before any
// request is made. Errors wrap ErrInvalidRepository.
func ValidateRepository(repository string) error {
	if _, err := name.NewRepository(repository); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidRepository, err)
	}
	return nil
}

// contextual replaces the error of a request that a cancelled or expired
// context ended (which libraries phrase as "context deadline exceeded")
// with why the context ended: the image's budget, the pass deadline or a
// signal. Both stay in the chain for errors.Is.
func (s *Scanner) contextual(ctx context.Context, err error) error {
	if ctx.Err() == nil || err == nil {
		return err
	}
	cause := causeOf(ctx)
	if errors.Is(err, cause) && errors.Is(err, ctx.Err()) {
		return err
	}
	return &endedError{cause: cause, ctxErr: ctx.Err(), err: err}
}

// endedError is an error of a request its context ended: it reads as
// the reason the context ended.
type endedError struct{ cause, ctxErr, err error }

func (e *endedError) Error() string   { return e.cause.Error() }
func (e *endedError) Unwrap() []error { return []error{e.cause, e.ctxErr, e.err} }
