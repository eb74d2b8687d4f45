package pass

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/uptick-gitops/uptick/cmd/uptick/config"
	"github.com/uptick-gitops/uptick/gitops"
	"github.com/uptick-gitops/uptick/policy"
	"github.com/uptick-gitops/uptick/scan"
	"github.com/uptick-gitops/uptick/update"
)

// Options configure one pass. The zero value of each field is its default.
type Options struct {
	// Until is how far the pass goes; default Publish.
	Until Stage
	// Workdir keeps the clone between passes; "" uses a temporary
	// directory removed afterwards.
	Workdir string
	// Timeout bounds the whole pass; 0 means no bound. Commit and push keep
	// a share of it (publishReserve), so images chosen before a slow
	// registry ran out the clock are still committed.
	Timeout time.Duration
	// ListTags keeps every listed tag in the result (always for Scan).
	ListTags bool
	// Logger receives progress; default discards.
	Logger *slog.Logger
	// Getenv reads the environment variables the config names; default
	// os.Getenv.
	Getenv func(string) string
	// ScanOptions are extra scanner options (tests: a TLS transport).
	ScanOptions []scan.Option
	// UserAgent is sent to registries; default "uptick".
	UserAgent string
	// Now is the clock; default time.Now.
	Now func() time.Time
	// Reconfigure, when set, is called once after the checkout with the
	// work tree and returns the config the rest of the pass uses (Flux
	// objects kept in the repository). Its git.branch must be the one
	// checked out; a changed author, signing key or push branch takes a
	// refresh of the checkout. Default none.
	Reconfigure func(dir string) (*config.Config, error)
}

func (o *Options) setDefaults() {
	if o.Until == 0 {
		o.Until = Publish
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Getenv == nil {
		o.Getenv = os.Getenv
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.UserAgent == "" {
		o.UserAgent = "uptick"
	}
}

// publishReserve is the share of --timeout kept for commit and push.
func publishReserve(timeout time.Duration) time.Duration {
	return min(timeout/4, 2*time.Minute)
}

// Run does one pass of the pipeline up to opts.Until. It never returns
// partial nothing: a failure of one image or file is recorded and the rest
// carries on; a failure that stops the pass is Result.Fatal.
func Run(ctx context.Context, cfg *config.Config, opts Options) *Result {
	opts.setDefaults()
	r := &runner{cfg: cfg, opts: opts, log: opts.Logger, res: &Result{Until: opts.Until, DryRun: opts.Until < Publish, Started: opts.Now(), Branch: cfg.Git.Push.Branch, ConfigWarnings: cfg.Warnings}}
	defer func() { r.res.Durations.Total = time.Since(r.res.Started) }()

	// Checkout and scan stop at the pass deadline less a reserve; rewrite,
	// commit and push run to the pass deadline itself.
	work, publish := ctx, ctx
	if opts.Timeout > 0 {
		cause := fmt.Errorf("pass timed out after %s (--timeout)", opts.Timeout)
		var cancel context.CancelFunc
		publish, cancel = context.WithTimeoutCause(ctx, opts.Timeout, cause)
		defer cancel()
		work, cancel = context.WithTimeoutCause(publish, opts.Timeout-publishReserve(opts.Timeout), cause)
		defer cancel()
	}
	r.run(work, publish)
	return r.res
}

type runner struct {
	cfg  *config.Config
	opts Options
	log  *slog.Logger
	res  *Result
	// cache is the update stage's state kept in --workdir; nil without one.
	cache *updateCache
}

func (r *runner) fatal(ctx context.Context, step Step, err error) {
	r.res.Fatal = &Problem{Step: step, Err: withCause(ctx, err)}
}

// withCause names why a context ended (--timeout) when a stage reports a
// bare "context deadline exceeded".
func withCause(ctx context.Context, err error) error {
	if ctx.Err() == nil {
		return err
	}
	if cause := context.Cause(ctx); cause != nil && !errors.Is(err, cause) && !errors.Is(cause, context.Canceled) {
		return fmt.Errorf("%w: %w", cause, err)
	}
	return err
}

func (r *runner) run(work, publish context.Context) {
	var repo *gitops.Repo
	if r.opts.Until >= Plan {
		dir, release, err := workdir(r.opts.Workdir)
		if err != nil {
			r.fatal(work, StepCheckout, err)
			return
		}
		defer release()
		if repo, err = r.checkout(work, dir); err != nil {
			r.fatal(work, StepCheckout, err)
			return
		}
		if r.opts.Reconfigure != nil {
			if repo, err = r.reconfigure(work, dir, repo); err != nil {
				r.fatal(work, StepConfig, err)
				return
			}
		}
		if r.opts.Workdir != "" {
			r.cache = newUpdateCache(repo, r.log)
		}
	}

	scanner, err := r.newScanner()
	if err != nil {
		r.fatal(work, StepScan, err)
		return
	}
	images := r.selectImages(work, scanner)
	if r.opts.Until < Plan {
		return
	}

	if r.opts.Until == Plan {
		a := Attempt{Number: 1, Base: repo.Head()}
		rw, err := r.rewrite(publish, repo.Dir(), images, true, &a)
		if err != nil {
			r.fatal(publish, StepUpdate, err)
			return
		}
		a.Message = rw.Message
		r.res.Attempts = []Attempt{a}
		r.syncPlan(publish, repo, &a)
		return
	}
	r.publish(publish, repo, images)
	r.syncAfterPublish(publish, repo)
}

// publish rewrites, commits and pushes through gitops.Publish, which
// retries on a new tip when another writer wins the push. The rewrite
// runs once per attempt, in order, so the k-th recorded rewrite belongs
// to the k-th attempt that got as far as rewriting.
func (r *runner) publish(ctx context.Context, repo *gitops.Repo, images map[update.PolicyRef]update.Image) {
	var rewrites []Attempt
	rewrite := func(ctx context.Context, dir string) (gitops.Rewrite, error) {
		var a Attempt
		rw, err := r.rewrite(ctx, dir, images, false, &a)
		rewrites = append(rewrites, a)
		return rw, err
	}
	if r.cfg.Git.Push.PullRequest != nil {
		r.publishPullRequests(ctx, repo, images)
		return
	}
	attempts, err := gitops.Publish(ctx, repo, rewrite, gitops.DirectPush{})
	var re *rewriteError
	if errors.As(err, &re) {
		r.fatal(ctx, StepUpdate, re.err)
		return
	}
	k := 0
	for i, ga := range attempts {
		a := Attempt{Number: ga.Number, Base: ga.Base, Message: ga.Message, Commit: ga.Commit, Pushed: ga.Pushed}
		if ga.Base != "" && k < len(rewrites) {
			a.Update = rewrites[k].Update
			k++
		}
		r.res.Durations.Checkout += ga.Timings.Refresh
		r.res.Durations.Commit += ga.Timings.Commit
		r.res.Durations.Push += ga.Timings.Publish
		if ga.Commit == "" {
			a.Message = ""
		}
		switch {
		case i == len(attempts)-1 && err != nil:
			// The give-up error says how many attempts lost, and why.
			a.Problem = &Problem{Step: stepOf(ga), Err: withCause(ctx, err)}
		case ga.Err != nil:
			a.Problem = &Problem{Step: stepOf(ga), Err: ga.Err}
		}
		r.res.Attempts = append(r.res.Attempts, a)
	}
	if len(attempts) == 0 && err != nil {
		r.fatal(ctx, StepPush, err)
	}
}

// stepOf says which step an attempt failed in.
func stepOf(a gitops.Attempt) Step {
	switch {
	case a.Base == "":
		return StepCheckout
	case a.Commit == "":
		return StepCommit
	}
	return StepPush
}

// rewriteError marks an error of the rewrite itself (update.paths missing,
// the work tree unreadable): the pass cannot go on.
type rewriteError struct{ err error }

func (e *rewriteError) Error() string { return e.err.Error() }
func (e *rewriteError) Unwrap() error { return e.err }

// updateOptions are the update stage's options of a pass; maxFileSize 0
// keeps update's default.
func updateOptions(dryRun bool, maxFileSize int64) []update.Option {
	opts := []update.Option{update.WithDryRun(dryRun)}
	if maxFileSize > 0 {
		opts = append(opts, update.WithMaxFileSize(maxFileSize))
	}
	return opts
}

// rewrite runs the update stage on dir and renders the commit message,
// recording the result in a.
func (r *runner) rewrite(ctx context.Context, dir string, images map[update.PolicyRef]update.Image, dryRun bool, a *Attempt) (gitops.Rewrite, error) {
	start := time.Now()
	opts := updateOptions(dryRun, r.cfg.Update.MaxFileSize)
	if r.cache != nil {
		opts = append(opts, r.cache.options()...)
	}
	res, err := update.Apply(ctx, dir, r.cfg.Update.Paths, images, opts...)
	if r.cache != nil && err == nil {
		r.cache.keep(res)
	}
	r.res.Durations.Update += time.Since(start)
	if errors.Is(err, fs.ErrNotExist) {
		return gitops.Rewrite{}, &rewriteError{&badInput{fmt.Errorf("%s: update.paths: %w", r.cfg.Path, err)}}
	}
	if err != nil {
		return gitops.Rewrite{}, &rewriteError{err}
	}
	a.Update = res
	if len(res.Files) == 0 {
		return gitops.Rewrite{}, nil
	}
	changes := gitChanges(res.Changes, images)
	var msg string
	if r.cfg.RenderMessage != nil {
		msg, err = r.cfg.RenderMessage(res.Changes, images)
	} else {
		msg, err = gitops.RenderMessage(r.cfg.Git.Commit.MessageTemplate, changes)
	}
	if err != nil {
		return gitops.Rewrite{}, &rewriteError{fmt.Errorf("commit message: %w", err)}
	}
	files := make([]string, len(res.Files))
	for i, f := range res.Files {
		files[i] = f.Path
	}
	return gitops.Rewrite{Files: files, Message: msg, Changes: changes}, nil
}

// workdir returns the directory to check out into and how to release it:
// the --workdir cache, locked against other runs sharing it, or a
// temporary directory removed afterwards.
func workdir(dir string) (string, func(), error) {
	if dir != "" {
		unlock, err := gitops.LockWorkdir(dir)
		if err != nil {
			return "", nil, err
		}
		return dir, unlock, nil
	}
	tmp, err := os.MkdirTemp("", "uptick-")
	if err != nil {
		return "", nil, fmt.Errorf("creating a temporary work directory: %w", err)
	}
	return tmp, func() { os.RemoveAll(tmp) }, nil
}

// reconfigure replaces the config with the one Options.Reconfigure reads
// from the checkout, checking it as run checks a config before the
// network, and checks out again when the git settings changed.
func (r *runner) reconfigure(ctx context.Context, dir string, repo *gitops.Repo) (*gitops.Repo, error) {
	cfg, err := r.opts.Reconfigure(repo.Dir())
	if err != nil {
		return nil, err
	}
	if cfg.Git.Branch != r.cfg.Git.Branch {
		return nil, &badInput{fmt.Errorf("the configuration read from the checkout checks out branch %q, but branch %q was checked out: set git.branch to %q", cfg.Git.Branch, r.cfg.Git.Branch, cfg.Git.Branch)}
	}
	if err := cfg.Preflight(r.opts.Getenv); err != nil {
		return nil, err
	}
	same := reflect.DeepEqual(cfg.Git, r.cfg.Git)
	r.cfg = cfg
	r.res.Branch = cfg.Git.Push.Branch
	r.res.ConfigWarnings = cfg.Warnings
	if same {
		return repo, nil
	}
	return r.checkout(ctx, dir)
}

func (r *runner) checkout(ctx context.Context, dir string) (*gitops.Repo, error) {
	start := time.Now()
	defer func() { r.res.Durations.Checkout += time.Since(start) }()
	return gitops.Checkout(ctx, r.cfg.Git, dir, gitops.WithLogger(r.log), gitops.WithGetenv(r.opts.Getenv))
}

// scanAuth is an image's credential source for the scanner: usernames and
// passwords read from the variables the config names (checked by
// Preflight).
func (r *runner) scanAuth(a config.ImageAuth) scan.Auth {
	out := scan.Auth{DockerConfig: a.DockerConfig, Provider: a.Provider}
	if a.UsernameEnv != "" || a.PasswordEnv != "" {
		out.Username, out.Password = r.opts.Getenv(a.UsernameEnv), r.opts.Getenv(a.PasswordEnv)
		out.From = fmt.Sprintf("environment variables %s and %s", a.UsernameEnv, a.PasswordEnv)
	}
	return out
}

// statsOf is the request count of the registry of repository.
func statsOf(stats []scan.RegistryStats, repository string) int {
	host := registryHost(repository)
	for _, s := range stats {
		if s.Host == host {
			return s.Requests
		}
	}
	return 0
}

// registryHost is the registry part of a repository reference.
func registryHost(repository string) string {
	ref, err := name.NewRepository(repository)
	if err != nil {
		return ""
	}
	return ref.RegistryStr()
}

// defaultDockerConfig is where the docker CLI looks: $DOCKER_CONFIG, else
// ~/.docker.
func (r *runner) defaultDockerConfig() string {
	if d := r.opts.Getenv("DOCKER_CONFIG"); d != "" {
		return filepath.Join(d, "config.json")
	}
	home := r.opts.Getenv("HOME")
	if home == "" {
		h, err := os.UserHomeDir()
		if err != nil {
			return ""
		}
		home = h
	}
	return filepath.Join(home, ".docker", "config.json")
}

func (r *runner) newScanner() (*scan.Scanner, error) {
	cfg := r.cfg
	opts := []scan.Option{scan.WithLogger(r.log), scan.WithUserAgent(r.opts.UserAgent)}
	if p := r.defaultDockerConfig(); p != "" {
		opts = append(opts, scan.WithDockerConfig(p))
	}
	switch {
	case cfg.Scan.Retries > 0:
		opts = append(opts, scan.WithRetries(cfg.Scan.Retries))
	case cfg.Scan.Retries < 0:
		opts = append(opts, scan.WithRetries(0))
	}
	if l := cfg.Scan.Limits; l != (config.ScanLimits{}) {
		if l.PageSize > 0 {
			opts = append(opts, scan.WithPageSize(l.PageSize))
		}
		if l.Pages > 0 {
			opts = append(opts, scan.WithMaxPages(l.Pages))
		}
		if l.PageBytes > 0 {
			opts = append(opts, scan.WithMaxPageBytes(l.PageBytes))
		}
		if l.Tags > 0 {
			opts = append(opts, scan.WithMaxTags(l.Tags))
		}
	}
	for _, reg := range cfg.Scan.Registries {
		if reg.RPS > 0 {
			opts = append(opts, scan.WithRegistryRate(reg.Host, reg.RPS))
		}
	}
	if cfg.Scan.Concurrency > 0 {
		opts = append(opts, scan.WithConcurrency(cfg.Scan.Concurrency))
	}
	if len(cfg.Scan.Insecure) > 0 {
		opts = append(opts, scan.WithInsecure(cfg.Scan.Insecure...))
	}
	if cfg.Scan.Timeout > 0 {
		opts = append(opts, scan.WithImageTimeout(cfg.Scan.Timeout))
	}
	if cfg.Scan.RequestTimeout > 0 {
		opts = append(opts, scan.WithRequestTimeout(cfg.Scan.RequestTimeout))
	}
	if cfg.Scan.IdleTimeout > 0 {
		opts = append(opts, scan.WithIdleTimeout(cfg.Scan.IdleTimeout))
	}
	if cfg.Scan.CAFile != "" {
		pem, err := os.ReadFile(cfg.Scan.CAFile)
		if err != nil {
			return nil, &badInput{fmt.Errorf("%s: scan.caFile: %w", cfg.Path, err)}
		}
		opts = append(opts, scan.WithCABundle(pem))
	}
	s, err := scan.New(append(opts, r.opts.ScanOptions...)...)
	if err != nil {
		return nil, &badInput{err}
	}
	return s, nil
}

// selectImages lists every image's tags and applies its policy. Images that
// fail are recorded and left out, so the healthy ones still get updated.
func (r *runner) selectImages(ctx context.Context, scanner *scan.Scanner) map[update.PolicyRef]update.Image {
	cfg := r.cfg
	start := time.Now()
	defer func() { r.res.Durations.Scan += time.Since(start) }()
	var targets []scan.Target
	var active []int // config index of each target
	for i, img := range cfg.Images {
		if img.Suspended {
			continue
		}
		targets = append(targets, scan.Target{Name: img.Name, Repository: img.Repository, Auth: r.scanAuth(img.Auth)})
		active = append(active, i)
	}
	results := scanner.Scan(ctx, targets)
	defer func() { r.res.Registries = scanner.Stats() }()
	chosen := make(map[update.PolicyRef]update.Image, len(cfg.Images))
	for _, img := range cfg.Images {
		if img.Suspended {
			// Flux leaves a suspended policy's markers alone; so do we,
			// saying why.
			chosen[img.Ref] = update.Image{Unavailable: "it is suspended (spec.suspend)"}
		}
	}
	for k, sr := range results {
		i := active[k]
		img := Image{Image: cfg.Images[i], TagsListed: len(sr.Tags), TagsDropped: sr.Dropped, Pages: sr.Pages, Requests: sr.Requests, Credentials: sr.Source}
		if r.opts.Until == Scan || r.opts.ListTags {
			img.Tags = sr.Tags
		}
		r.pick(ctx, scanner, targets[k], sr, &img)
		switch {
		case img.Selected:
			chosen[img.Ref] = img.Chosen
		case img.Problem != nil:
			// Its markers are reported as skipped for this reason, not
			// as naming an unknown policy.
			chosen[img.Ref] = update.Image{Unavailable: errors.Unwrap(img.Problem.Err).Error()}
		}
		r.res.Images = append(r.res.Images, img)
	}
	return chosen
}

// pick records one image's listing, its policy's choice and, when pinned,
// the chosen tag's digest.
func (r *runner) pick(ctx context.Context, scanner *scan.Scanner, t scan.Target, sr scan.Result, img *Image) {
	fail := func(step Step, err error) {
		img.Problem = &Problem{Step: step, Image: img.Name, Err: fmt.Errorf("image %s: %w", img.Name, withCause(ctx, err))}
	}
	if sr.Err != nil {
		fail(StepScan, sr.Err)
		return
	}
	r.log.Debug("listed tags", "image", img.Name, "repository", img.Repository, "tags", len(sr.Tags), "requests", sr.Requests, "duration", sr.Duration)
	if r.opts.Until == Scan {
		return
	}
	choice, err := img.Selector.Select(sr.Tags)
	if err != nil {
		if errors.Is(err, policy.ErrNoMatch) {
			r.log.Warn("no tag satisfies the policy", "image", img.Name, "reason", err)
		}
		fail(StepPolicy, fmt.Errorf("repository %s: %w", img.Repository, err))
		return
	}
	img.Chosen = update.Image{Repository: img.Repository, Tag: choice.Tag}
	if img.PinDigest {
		before := statsOf(scanner.Stats(), t.Repository)
		d, err := scanner.Digest(ctx, t, choice.Tag)
		img.Requests += statsOf(scanner.Stats(), t.Repository) - before
		if err != nil {
			fail(StepDigest, fmt.Errorf("resolving the digest of tag %q: %w", choice.Tag, err))
			return
		}
		img.Chosen.Digest = d
	}
	img.Selected = true
	r.log.Info("selected", "image", img.Name, "tag", choice.Tag, "policy", img.Selector.Policer().String())
}

func gitChanges(changes []update.Change, images map[update.PolicyRef]update.Image) []gitops.Change {
	out := make([]gitops.Change, len(changes))
	for i, c := range changes {
		out[i] = gitops.Change{Image: c.Image.String(), Repository: images[c.Image].Repository, File: c.File, Object: c.Object, Old: c.Old, New: c.New}
	}
	return out
}

// badInput is an error only a change of config, flags or environment fixes.
type badInput struct{ err error }

func (e *badInput) Error() string  { return e.err.Error() }
func (e *badInput) Unwrap() error  { return e.err }
func (e *badInput) BadInput() bool { return true }

// Update runs the rewrite stage alone on dir with the given images, no
// registry and no git: `uptick update`. Images are named by their marker
// reference; maxFileSize is update.WithMaxFileSize's, 0 for its default.
// A dir or path that does not exist is Result.Fatal (bad input).
func Update(ctx context.Context, dir string, images map[update.PolicyRef]update.Image, dryRun bool, maxFileSize int64) *Result {
	res := &Result{Until: Local, DryRun: dryRun, Started: time.Now()}
	for ref, img := range images {
		res.Images = append(res.Images, Image{Image: config.Image{Name: ref.String(), Ref: ref, Repository: img.Repository}, Chosen: img, Selected: true})
	}
	slices.SortFunc(res.Images, func(a, b Image) int { return strings.Compare(a.Name, b.Name) })
	up, err := update.Apply(ctx, dir, []string{"."}, images, updateOptions(dryRun, maxFileSize)...)
	res.Durations.Update = time.Since(res.Started)
	res.Durations.Total = res.Durations.Update
	if err != nil {
		res.Fatal = &Problem{Step: StepUpdate, Err: &badInput{err}}
		return res
	}
	res.Attempts = []Attempt{{Number: 1, Update: up}}
	return res
}
