package scan

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// Target is one repository to list.
type Target struct {
	// Name is the config image name, used in messages.
	Name string
	// Repository is the image repository, e.g. "ghcr.io/stefanprodan/podinfo".
	Repository string
	// DockerConfig optionally names a docker config.json whose auths are
	// the only credentials used for this target; "" uses the scanner's
	// keychain.
	DockerConfig string
}

// Result is the outcome of listing one target.
type Result struct {
	Target Target
	// Tags are all tags (every page), in the order the registry sent them.
	Tags []string
	// Err is a *RepositoryError when listing failed.
	Err error
	// Requests is the number of HTTP round trips (retries included) made
	// for this target. A target that shares the listing of an earlier,
	// identical target reports 0, so the sum over results is the real
	// cost of a Scan.
	Requests int
	// Duration is how long the listing took.
	Duration time.Duration
}

// Scanner lists tags and looks up digests. It is safe for concurrent use
// and shares one HTTP transport (and so its connections) across targets.
type Scanner struct {
	opts *options
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
	return &Scanner{opts: o}, nil
}

// ListTags lists every tag of one repository (following pagination),
// within the per-image time budget. Errors are *RepositoryError.
func (s *Scanner) ListTags(ctx context.Context, t Target) ([]string, error) {
	ctx, cancel := s.budget(ctx)
	defer cancel()
	tags, _, err := s.listTags(ctx, t)
	return tags, err
}

func (s *Scanner) listTags(ctx context.Context, t Target) ([]string, int, error) {
	fail := func(err error) error { return &RepositoryError{Repository: t.Repository, Err: err} }
	repo, err := s.parseRepository(t.Repository)
	if err != nil {
		return nil, 0, fail(err)
	}
	var n atomic.Int64
	opts, err := s.remoteOptions(ctx, t, &n)
	if err != nil {
		return nil, 0, fail(err)
	}
	// No page size: a registry that honours "n" but sends no Link header
	// (go-containerregistry's own, for one) would silently cut the list at
	// n. Registries that paginate on their own send Link, which is followed.
	tags, err := remote.List(repo, append(opts, remote.WithPageSize(0))...)
	if err != nil {
		return nil, int(n.Load()), fail(s.contextual(ctx, classify(err)))
	}
	return tags, int(n.Load()), nil
}

// Scan lists all targets concurrently (at most the configured concurrency
// at once) and returns results in the order of targets. Targets with the
// same repository and DockerConfig are listed once and share the result.
func (s *Scanner) Scan(ctx context.Context, targets []Target) []Result {
	type key struct{ repo, config string }
	keyOf := func(t Target) key {
		k := key{repo: t.Repository, config: t.DockerConfig}
		if r, err := s.parseRepository(t.Repository); err == nil {
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

func (s *Scanner) scanOne(ctx context.Context, t Target) Result {
	ctx, cancel := s.budget(ctx)
	defer cancel()
	start := time.Now()
	tags, n, err := s.listTags(ctx, t)
	r := Result{Target: t, Tags: tags, Requests: n, Duration: time.Since(start)}
	if err != nil {
		r.Err = err
		s.opts.logger.LogAttrs(ctx, slog.LevelDebug, "listing tags failed",
			slog.String("image", t.Name), slog.String("repository", t.Repository),
			slog.Int("requests", n), slog.Duration("duration", r.Duration), slog.String("error", err.Error()))
		return r
	}
	s.opts.logger.LogAttrs(ctx, slog.LevelDebug, "listed tags",
		slog.String("image", t.Name), slog.String("repository", t.Repository),
		slog.Int("tags", len(tags)), slog.Int("requests", n), slog.Duration("duration", r.Duration))
	return r
}

// budget bounds one image's work by the per-image time budget.
func (s *Scanner) budget(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeoutCause(ctx, s.opts.imageTimeout, &BudgetError{Budget: s.opts.imageTimeout})
}

// Digest returns the manifest digest ("sha256:...") of repository:tag. It
// asks with HEAD and falls back to GET when the registry's HEAD answer has
// no digest (or HEAD is not allowed). It has its own per-image time budget.
func (s *Scanner) Digest(ctx context.Context, t Target, tag string) (string, error) {
	ctx, cancel := s.budget(ctx)
	defer cancel()
	repo, err := s.parseRepository(t.Repository)
	if err != nil {
		return "", fmt.Errorf("getting digest of %q: %w", t.Repository+":"+tag, err)
	}
	ref, err := name.NewTag(repo.Name()+":"+tag, s.nameOptions(repo.RegistryStr())...)
	if err != nil {
		return "", fmt.Errorf("getting digest of %q: %w: %w", t.Repository+":"+tag, ErrInvalidRepository, err)
	}
	fail := func(err error) error {
		return fmt.Errorf("getting digest of %q: %w", ref.String(), s.contextual(ctx, classify(err)))
	}
	var n atomic.Int64
	opts, err := s.remoteOptions(ctx, t, &n)
	if err != nil {
		return "", fail(err)
	}
	desc, err := remote.Head(ref, opts...)
	if err == nil {
		return desc.Digest.String(), nil
	}
	if !headUnusable(err) || ctx.Err() != nil {
		return "", fail(err)
	}
	s.opts.logger.LogAttrs(ctx, slog.LevelDebug, "HEAD gave no digest, using GET",
		slog.String("reference", ref.String()), slog.String("error", err.Error()))
	full, err := remote.Get(ref, opts...)
	if err != nil {
		return "", fail(err)
	}
	return full.Digest.String(), nil
}

// headUnusable reports whether a HEAD failure means "ask again with GET":
// the digest header is missing, or the registry does not do HEAD.
func headUnusable(err error) bool {
	var terr *transport.Error
	if errors.As(err, &terr) {
		return terr.StatusCode == http.StatusMethodNotAllowed || terr.StatusCode == http.StatusNotImplemented
	}
	return strings.Contains(err.Error(), "Docker-Content-Digest")
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

// parseRepository parses a repository, reaching registries named with
// WithInsecure over plain HTTP.
func (s *Scanner) parseRepository(repository string) (name.Repository, error) {
	repo, err := name.NewRepository(repository)
	if err != nil {
		return name.Repository{}, fmt.Errorf("%w: %w", ErrInvalidRepository, err)
	}
	if opts := s.nameOptions(repo.RegistryStr()); len(opts) > 0 {
		repo, err = name.NewRepository(repository, opts...)
		if err != nil {
			return name.Repository{}, fmt.Errorf("%w: %w", ErrInvalidRepository, err)
		}
	}
	return repo, nil
}

func (s *Scanner) nameOptions(registry string) []name.Option {
	if s.opts.insecure[registry] {
		return []name.Option{name.Insecure}
	}
	return nil
}

// remoteOptions builds per-call options: the shared transport under a
// per-target request counter, our context-aware retry in place of ggcr's,
// and the target's credentials.
func (s *Scanner) remoteOptions(ctx context.Context, t Target, n *atomic.Int64) ([]remote.Option, error) {
	var kc authn.Keychain = s.opts.keychain
	if t.DockerConfig != "" {
		ck, err := loadDockerConfig(t.DockerConfig)
		if err != nil {
			return nil, err
		}
		kc = ck
	}
	rt := &retryTransport{
		inner: &countingTransport{n: n, inner: &deadlineTransport{
			inner: s.opts.transport, idle: s.opts.idleTimeout, total: s.opts.requestTimeout,
		}},
		retries: s.opts.retries,
		backoff: s.opts.retryBackoff,
		logger:  s.opts.logger,
	}
	return []remote.Option{
		remote.WithContext(ctx),
		remote.WithTransport(rt),
		remote.WithAuthFromKeychain(kc),
		remote.WithUserAgent(s.opts.userAgent),
		// One attempt at ggcr's level: retryTransport does the retrying.
		remote.WithRetryBackoff(remote.Backoff{Steps: 1}),
		remote.WithRetryPredicate(func(error) bool { return false }),
		remote.WithRetryStatusCodes(),
	}, nil
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
