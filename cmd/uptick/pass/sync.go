package pass

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/uptick-gitops/uptick/gitops"
	"github.com/uptick-gitops/uptick/sync"
)

// StepSync is where the sync stage's problems are reported.
const StepSync Step = "sync"

// SyncOutcome is the sync stage's part of a pass, or all of `uptick sync`.
type SyncOutcome struct {
	// Path is the synced directory, relative to the repository root.
	Path string
	// Revision is the commit synced; "" for `uptick sync` on a directory.
	Revision string
	// Result is what the sync did; nil when it did not get to the cluster
	// (Err says why) or did not run (Skipped says why).
	Result *sync.Result
	// Warnings are about the manifests (documents that are not objects).
	Warnings []string
	// Skipped says why the sync did not run at all.
	Skipped string
	// Err is a problem before any object was applied: the manifests do
	// not build, the kubeconfig is wrong, the cluster is unreachable.
	Err      error
	Duration time.Duration
}

// Errors returns the sync's problems: Err, then each failed object and a
// health timeout.
func (s *SyncOutcome) Errors() []*Problem {
	if s == nil {
		return nil
	}
	var out []*Problem
	if s.Err != nil {
		p := &Problem{Step: StepSync, Err: fmt.Errorf("sync of %s: %w", s.Path, s.Err)}
		var be *sync.BuildError
		if errors.As(s.Err, &be) && be.File != "" {
			// The message starts with the file and line already.
			p.File, p.Line, p.Err = be.File, be.Line, s.Err
		}
		out = append(out, p)
	}
	if s.Result != nil {
		for _, err := range s.Result.Errors() {
			out = append(out, &Problem{Step: StepSync, Err: err})
		}
	}
	return out
}

// PassResult wraps the outcome of `uptick sync` as a pass result, so that
// the reports and the exit code are those of every command.
func (s *SyncOutcome) PassResult() *Result {
	r := &Result{Sync: s, Durations: Durations{Sync: s.Duration, Total: s.Duration}}
	if s.Result != nil {
		r.DryRun = s.Result.DryRun
	}
	return r
}

// SyncOptions configure one sync.
type SyncOptions struct {
	// Root is the directory Spec.Path is relative to and the build is
	// confined to: the checkout.
	Root string
	Spec sync.Spec
	// DryRun changes nothing and computes diffs (plan, --dry-run).
	DryRun bool
	// Revision is recorded in the inventory.
	Revision string
	// Files replace files of the checkout for the build (plan's rewritten,
	// unwritten files), by slash path relative to Root.
	Files map[string][]byte
	// Logger receives progress; default discards.
	Logger *slog.Logger
	// Getenv reads KUBECONFIG and the in-cluster variables; default
	// os.Getenv.
	Getenv    func(string) string
	UserAgent string
}

// Sync builds the manifests at o.Spec.Path under o.Root and syncs them to
// the cluster the spec names: `uptick sync` and the sync step of a pass.
func Sync(ctx context.Context, o SyncOptions) *SyncOutcome {
	start := time.Now()
	out := &SyncOutcome{Path: o.Spec.Path, Revision: o.Revision}
	defer func() { out.Duration = time.Since(start) }()
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Getenv == nil {
		o.Getenv = os.Getenv
	}
	spec := o.Spec
	spec.SetDefaults()
	built, err := sync.Build(o.Root, spec.Path, sync.WithFiles(o.Files))
	if err != nil {
		out.Err = err
		return out
	}
	out.Warnings = built.Warnings
	buildTime := time.Since(start)
	target := spec.Target(o.Getenv)
	target.UserAgent = o.UserAgent
	cfg, namespace, err := sync.RESTConfig(target)
	if err != nil {
		out.Err = err
		return out
	}
	res := sync.Run(ctx, cfg, built.Manifests, namespace,
		sync.WithInventory(spec.Inventory), sync.WithPrune(spec.PruneEnabled()), sync.WithWait(spec.Wait),
		sync.WithForce(spec.Force), sync.WithDryRun(o.DryRun), sync.WithRevision(o.Revision), sync.WithLogger(o.Logger))
	res.Durations.Build = buildTime
	if res.Fatal != nil && len(res.Objects) == 0 {
		// Nothing was applied: report it as the sync's own error.
		out.Err, res.Fatal = res.Fatal, nil
	}
	out.Result = res
	c := res.Count()
	o.Logger.Info("synced", "path", spec.Path, "inventory", res.Inventory, "dryRun", o.DryRun,
		"created", c[sync.Created], "configured", c[sync.Configured], "unchanged", c[sync.Unchanged],
		"deleted", c[sync.Deleted], "failed", c[sync.Failed], "drifted", len(res.Drifted()))
	return out
}

// RepoRoot returns the git work tree holding dir (the nearest parent with
// a .git entry) and dir's slash path inside it; a directory in no work
// tree is its own root. `uptick sync --path DIR` confines the build there,
// so an overlay may use bases elsewhere in the same repository.
func RepoRoot(dir string) (root, rel string, err error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", "", err
	}
	for d := abs; ; d = filepath.Dir(d) {
		if _, err := os.Lstat(filepath.Join(d, ".git")); err == nil {
			r, err := filepath.Rel(d, abs)
			return d, filepath.ToSlash(r), err
		}
		if filepath.Dir(d) == d {
			return abs, ".", nil
		}
	}
}

// syncSource is the tree a pass syncs after publishing, and its commit.
// After a direct push the work tree holds the pushed commit (or, when
// nothing changed, the checked-out tip). In pull-request mode what is
// merged is what runs: gitops.PublishPullRequests leaves the work tree at
// the base branch's tip (refreshed), never at a pull request's branch.
func (r *runner) syncSource(repo *gitops.Repo, last *Attempt) (dir, revision string) {
	revision = repo.Head()
	if r.cfg.Git.Push.PullRequest == nil && last != nil {
		switch {
		case last.Pushed && last.Commit != "":
			revision = last.Commit
		case last.Base != "":
			revision = last.Base
		}
	}
	return repo.Dir(), revision
}

// syncAfterPublish is the pass's sync step: it runs when the config has a
// sync section, after a publish that did not fail (a commit the remote
// lacks must not reach the cluster). In pull-request mode it syncs the
// base branch whatever became of the pull requests.
func (r *runner) syncAfterPublish(ctx context.Context, repo *gitops.Repo) {
	if r.cfg.Sync == nil {
		return
	}
	last := r.res.Last()
	if last != nil && last.Problem != nil {
		r.res.Sync = &SyncOutcome{Path: r.cfg.Sync.Path, Skipped: "the commit was not pushed, so the cluster is left as it is"}
		return
	}
	if r.res.Fatal != nil {
		r.res.Sync = &SyncOutcome{Path: r.cfg.Sync.Path, Skipped: "the pass stopped before publishing, so the cluster is left as it is"}
		return
	}
	dir, rev := r.syncSource(repo, last)
	r.res.Sync = Sync(ctx, SyncOptions{Root: dir, Spec: *r.cfg.Sync, Revision: rev, Logger: r.log, Getenv: r.opts.Getenv, UserAgent: r.opts.UserAgent})
	r.res.Durations.Sync = r.res.Sync.Duration
}

// syncPlan is plan's sync step: a dry run of the rewritten tree, whose
// changed files are read from memory.
func (r *runner) syncPlan(ctx context.Context, repo *gitops.Repo, a *Attempt) {
	if r.cfg.Sync == nil {
		return
	}
	var files map[string][]byte
	if a.Update != nil && len(a.Update.Files) > 0 {
		files = make(map[string][]byte, len(a.Update.Files))
		for _, f := range a.Update.Files {
			files[f.Path] = f.After
		}
	}
	r.res.Sync = Sync(ctx, SyncOptions{Root: repo.Dir(), Spec: *r.cfg.Sync, DryRun: true, Revision: a.Base, Files: files, Logger: r.log, Getenv: r.opts.Getenv, UserAgent: r.opts.UserAgent})
	r.res.Durations.Sync = r.res.Sync.Duration
}
