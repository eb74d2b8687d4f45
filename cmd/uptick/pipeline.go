package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"sort"
	"time"

	"github.com/uptick-gitops/uptick/gitops"
	"github.com/uptick-gitops/uptick/policy"
	"github.com/uptick-gitops/uptick/scan"
	"github.com/uptick-gitops/uptick/update"
)

// stage is how far a pass goes; the single-stage commands stop early.
type stage int

const (
	stageScan stage = iota + 1
	stagePolicy
	stageUpdate // everything but writing: plan
	stageAll    // commit and push: run
)

// maxPushAttempts bounds the fetch–rewrite–commit–push loop when someone
// else pushes to the branch between our fetch and our push.
const maxPushAttempts = 3

// passOptions configure one pass of the pipeline.
type passOptions struct {
	cfg      *loadedConfig
	until    stage
	workdir  string        // clone cache; "" means a temporary directory
	timeout  time.Duration // bound on the whole pass; 0 means none
	listTags bool          // keep every listed tag in the report (always for stageScan)
	logger   *slog.Logger
	getenv   func(string) string
	scanOpts []scan.Option // extra scanner options (tests: TLS transport)
}

// report is what a pass did, for people (printReport) and machines (JSON).
type report struct {
	Images       []imageReport  `json:"images"`
	Changes      []changeReport `json:"changes"`
	FilesChanged []string       `json:"filesChanged"`
	Warnings     []string       `json:"warnings,omitempty"`
	Errors       []string       `json:"errors,omitempty"`
	Base         string         `json:"base,omitempty"`
	Branch       string         `json:"branch,omitempty"`
	Commit       string         `json:"commit,omitempty"`
	Pushed       bool           `json:"pushed"`
	DryRun       bool           `json:"dryRun,omitempty"`
	Message      string         `json:"message,omitempty"`
	DurationMS   int64          `json:"durationMs"`

	files    []update.FileChange
	badInput bool // some failure needs a config, flag or environment fix
}

type imageReport struct {
	Name       string   `json:"name"`
	Repository string   `json:"repository"`
	TagsListed int      `json:"tagsListed"`
	Requests   int      `json:"registryRequests"`
	Tags       []string `json:"tags,omitempty"` // only for `uptick scan`
	Tag        string   `json:"tag,omitempty"`
	Digest     string   `json:"digest,omitempty"`
	Image      string   `json:"image,omitempty"`
	Previous   []string `json:"previous,omitempty"` // values the markers held before this pass changed them
	Error      string   `json:"error,omitempty"`
}

type changeReport struct {
	File   string `json:"file"`
	Line   int    `json:"line"`
	Object string `json:"object,omitempty"`
	Policy string `json:"policy"` // as written in the marker
	Image  string `json:"image"`  // the configured image it resolved to
	Field  string `json:"field,omitempty"`
	Old    string `json:"old"`
	New    string `json:"new"`
}

func (r *report) failed() bool { return len(r.Errors) > 0 }

func (r *report) fail(err error) {
	r.Errors = append(r.Errors, err.Error())
	r.badInput = r.badInput || isBadInput(err)
}

// runPass runs the pipeline up to opts.until. It returns an error only when
// the pass could not go on at all (no checkout, no worktree); failures of
// single images or files are recorded in the report and the rest carries on.
func runPass(ctx context.Context, opts passOptions) (rep *report, err error) {
	start := time.Now()
	cfg, log := opts.cfg, opts.logger
	rep = &report{DryRun: opts.until < stageAll}
	defer func() { rep.DurationMS = time.Since(start).Milliseconds() }()
	if opts.timeout > 0 {
		// A registry or Git server that stops answering must not hold a
		// scheduled run forever; every stage honours ctx.
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeoutCause(ctx, opts.timeout, fmt.Errorf("pass timed out after %s (--timeout)", opts.timeout))
		defer cancel()
		defer func() {
			if !errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return
			}
			// Stages report a bare "context deadline exceeded"; say why.
			if err != nil {
				err = fmt.Errorf("%w: %w", context.Cause(ctx), err)
			} else {
				rep.fail(context.Cause(ctx))
			}
		}()
	}

	var repo *gitops.Repo
	if opts.until >= stageUpdate {
		dir, cleanup, err := workdir(opts.workdir)
		if err != nil {
			return rep, err
		}
		defer cleanup()
		if repo, err = checkout(ctx, opts, dir, rep); err != nil {
			return rep, err
		}
	}

	scanner, err := newScanner(cfg, log, opts.scanOpts)
	if err != nil {
		return rep, &configError{err}
	}
	images := selectImages(ctx, opts, scanner, rep)
	if opts.until < stageUpdate {
		return rep, nil
	}

	for attempt := 1; ; attempt++ {
		res, err := update.Apply(ctx, repo.Dir(), cfg.Update.Paths, images, update.WithDryRun(opts.until < stageAll))
		if errors.Is(err, fs.ErrNotExist) {
			return rep, &configError{fmt.Errorf("%s: update.paths: %w", cfg.File, err)}
		}
		if err != nil {
			return rep, fmt.Errorf("updating %s: %w", repo.Dir(), err)
		}
		recordUpdate(rep, res, cfg)
		if opts.until < stageAll || len(res.Files) == 0 {
			if len(res.Files) > 0 {
				rep.Message, err = gitops.RenderMessage(cfg.Git.Commit.MessageTemplate, gitChanges(res.Changes))
				if err != nil {
					rep.fail(err)
				}
			}
			return rep, nil
		}
		err = commitAndPush(ctx, repo, res, rep, cfg.Git.Commit.MessageTemplate, log)
		if !errors.Is(err, gitops.ErrPushRejected) || attempt == maxPushAttempts {
			if err != nil {
				rep.fail(err)
			}
			return rep, nil
		}
		log.Warn("push rejected, fetching and retrying", "attempt", attempt, "error", err)
		// The rejected commit is gone with the fresh checkout.
		rep.Commit, rep.Message = "", ""
		if repo, err = checkout(ctx, opts, repo.Dir(), rep); err != nil {
			return rep, err
		}
	}
}

// workdir returns the directory to check out into and how to release it:
// the --workdir cache, locked against other runs sharing it, or a
// temporary directory removed afterwards.
func workdir(dir string) (string, func(), error) {
	if dir != "" {
		unlock, err := lockWorkdir(dir)
		if err != nil {
			return "", nil, err
		}
		return dir, unlock, nil
	}
	tmp, err := os.MkdirTemp("", "uptick-")
	if err != nil {
		return "", nil, fmt.Errorf("creating work directory: %w", err)
	}
	return tmp, func() { os.RemoveAll(tmp) }, nil
}

func checkout(ctx context.Context, opts passOptions, dir string, rep *report) (*gitops.Repo, error) {
	repo, err := gitops.Checkout(ctx, opts.cfg.Git, dir, gitops.WithLogger(opts.logger), gitops.WithGetenv(opts.getenv))
	if err != nil {
		return nil, fmt.Errorf("checking out: %w", err)
	}
	rep.Base, rep.Branch = repo.Head(), opts.cfg.Git.Push.Branch
	return repo, nil
}

func newScanner(cfg *loadedConfig, log *slog.Logger, extra []scan.Option) (*scan.Scanner, error) {
	opts := []scan.Option{scan.WithLogger(log), scan.WithUserAgent("uptick/" + buildVersion())}
	if cfg.Scan.Concurrency > 0 {
		opts = append(opts, scan.WithConcurrency(cfg.Scan.Concurrency))
	}
	if len(cfg.Scan.Insecure) > 0 {
		opts = append(opts, scan.WithInsecure(cfg.Scan.Insecure...))
	}
	if cfg.Scan.CAFile != "" {
		pem, err := os.ReadFile(cfg.Scan.CAFile)
		if err != nil {
			return nil, fmt.Errorf("%s: scan.caFile: %w", cfg.File, err)
		}
		opts = append(opts, scan.WithCABundle(pem))
	}
	return scan.New(append(opts, extra...)...)
}

// selectImages lists every image's tags and applies its policy. Images that
// fail are reported and left out, so the healthy ones still get updated.
func selectImages(ctx context.Context, opts passOptions, scanner *scan.Scanner, rep *report) map[update.PolicyRef]update.Image {
	cfg, log := opts.cfg, opts.logger
	targets := make([]scan.Target, len(cfg.Images))
	for i, img := range cfg.Images {
		targets[i] = scan.Target{Name: img.Name, Repository: img.Repository, DockerConfig: img.Auth.DockerConfig}
	}
	results := scanner.Scan(ctx, targets)
	images := make(map[update.PolicyRef]update.Image, len(results))
	for i, res := range results {
		img := cfg.Images[i]
		ir := imageReport{Name: img.Name, Repository: img.Repository, TagsListed: len(res.Tags), Requests: res.Requests}
		if opts.until == stageScan || opts.listTags {
			ir.Tags = res.Tags
		}
		if res.Err != nil {
			ir.Error = res.Err.Error()
			rep.fail(fmt.Errorf("image %s: %w", img.Name, res.Err))
			rep.Images = append(rep.Images, ir)
			continue
		}
		log.Debug("listed tags", "image", img.Name, "repository", img.Repository, "tags", len(res.Tags), "requests", res.Requests, "duration", res.Duration)
		if opts.until == stageScan {
			rep.Images = append(rep.Images, ir)
			continue
		}
		choice, err := cfg.selectors[i].Select(res.Tags)
		if err != nil {
			ir.Error = err.Error()
			if errors.Is(err, policy.ErrNoMatch) {
				log.Warn("no tag satisfies the policy", "image", img.Name, "reason", err)
			}
			rep.fail(fmt.Errorf("image %s (%s): %w", img.Name, img.Repository, err))
			rep.Images = append(rep.Images, ir)
			continue
		}
		ir.Tag = choice.Tag
		chosen := update.Image{Repository: img.Repository, Tag: choice.Tag}
		if img.PinDigest {
			d, err := scanner.Digest(ctx, targets[i], choice.Tag)
			if err != nil {
				ir.Error = err.Error()
				rep.fail(fmt.Errorf("image %s: resolving digest of tag %q: %w", img.Name, choice.Tag, err))
				rep.Images = append(rep.Images, ir)
				continue
			}
			chosen.Digest, ir.Digest = d, d
		}
		ir.Image = chosen.String()
		images[cfg.refs[i]] = chosen
		log.Info("selected", "image", img.Name, "tag", choice.Tag, "policy", cfg.selectors[i].Policer().String())
		rep.Images = append(rep.Images, ir)
	}
	return images
}

// recordUpdate replaces the report's update section with res: a retried
// attempt starts from a fresh checkout and recomputes it.
func recordUpdate(rep *report, res *update.Result, cfg *loadedConfig) {
	recordChanges(rep, res)
	for i := range rep.Images {
		seen := map[string]bool{}
		rep.Images[i].Previous = nil
		for _, c := range res.Changes {
			if c.Image == cfg.refs[i] && !seen[c.Old] {
				seen[c.Old] = true
				rep.Images[i].Previous = append(rep.Images[i].Previous, c.Old)
			}
		}
		sort.Strings(rep.Images[i].Previous)
	}
}

// recordChanges copies an update result into the report.
func recordChanges(rep *report, res *update.Result) {
	rep.Changes, rep.FilesChanged, rep.Warnings, rep.files = nil, nil, nil, res.Files
	for _, w := range res.Warnings {
		rep.Warnings = append(rep.Warnings, w.String())
	}
	for _, e := range res.Errors {
		rep.fail(e)
	}
	for _, c := range res.Changes {
		rep.Changes = append(rep.Changes, changeReport{
			File: c.File, Line: c.Line, Object: c.Object, Policy: c.Policy.String(),
			Image: c.Image.String(), Field: string(c.Field), Old: c.Old, New: c.New,
		})
	}
	for _, f := range res.Files {
		rep.FilesChanged = append(rep.FilesChanged, f.Path)
	}
}

func gitChanges(changes []update.Change) []gitops.Change {
	out := make([]gitops.Change, len(changes))
	for i, c := range changes {
		out[i] = gitops.Change{Image: c.Image.String(), File: c.File, Object: c.Object, Old: c.Old, New: c.New}
	}
	return out
}

func commitAndPush(ctx context.Context, repo *gitops.Repo, res *update.Result, rep *report, tmpl string, log *slog.Logger) error {
	files := make([]string, len(res.Files))
	for i, f := range res.Files {
		files[i] = f.Path
	}
	changes := gitChanges(res.Changes)
	// Repo.Commit renders the same template; the report shows the message.
	if msg, err := gitops.RenderMessage(tmpl, changes); err == nil {
		rep.Message = msg
	}
	sha, err := repo.Commit(ctx, files, changes)
	if errors.Is(err, gitops.ErrNothingToCommit) {
		log.Info("nothing to commit")
		return nil
	}
	if err != nil {
		return fmt.Errorf("committing: %w", err)
	}
	rep.Commit = sha
	if err := repo.Push(ctx); err != nil {
		return fmt.Errorf("pushing: %w", err)
	}
	rep.Pushed = true
	return nil
}

func short(sha string) string {
	if len(sha) > 12 {
		return sha[:12]
	}
	return sha
}
