package pass

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/uptick-gitops/uptick/gitops"
	"github.com/uptick-gitops/uptick/gitops/gitea"
	"github.com/uptick-gitops/uptick/gitops/github"
	"github.com/uptick-gitops/uptick/gitops/gitlab"
	"github.com/uptick-gitops/uptick/update"
)

// StepPullRequest is the step pull request problems are reported under.
const StepPullRequest Step = "pullRequest"

// PullRequest is what the pass did with one group's pull request.
type PullRequest struct {
	// Group is "all", or the image's name with group per-image.
	Group string
	// Branch is the branch uptick owns for the group, Base the branch it
	// merges into.
	Branch, Base string
	// Action is opened, updated, unchanged or closed; "" when there was
	// nothing to propose and nothing to close.
	Action gitops.PullRequestAction
	// Number and URL identify the pull request (0 and "" when none);
	// State is "open" or "closed", Merged when it was merged.
	Number int64
	URL    string
	State  gitops.PullRequestState
	Merged bool
	// Commit is the branch tip the pull request proposes; Pushed says
	// whether this pass pushed it.
	Commit string
	Pushed bool
	// Changes are the group's rewritten fields.
	Changes []update.Change
	// Note explains the action when it needs it.
	Note string
	// Closed are the pull requests this pass closed (left-overs, or
	// duplicates of an overlapping run).
	Closed []int64
	// Attempts counts the rebuild–push tries.
	Attempts int
	// Problem is why the group failed; Warning a reason a person should
	// look at it.
	Problem *Problem
	Warning string
}

// publishPullRequests is publish for git.push.pullRequest: a dry run of
// the whole rewrite for the report, then one pull request per group, each
// rebuilt by a rewrite of its own images only.
func (r *runner) publishPullRequests(ctx context.Context, repo *gitops.Repo, images map[update.PolicyRef]update.Image) {
	a := Attempt{Number: 1, Base: repo.Head()}
	rw, err := r.rewrite(ctx, repo.Dir(), images, true, &a)
	if err != nil {
		var re *rewriteError
		if errors.As(err, &re) {
			err = re.err
		}
		r.fatal(ctx, StepUpdate, err)
		return
	}
	a.Message = rw.Message
	r.res.Attempts = []Attempt{a}

	forge, err := newForge(r.cfg.Git, r.opts.Getenv, r.opts.UserAgent, r.log)
	if err != nil {
		r.fatal(ctx, StepPullRequest, err)
		return
	}
	// The changes of each group's last rewrite, with their lines.
	changes := map[string][]update.Change{}
	groups := r.pullRequestGroups(images, changes)
	start := time.Now()
	outcomes := gitops.PublishPullRequests(ctx, repo, forge, groups)
	r.res.Durations.Push += time.Since(start)
	for _, o := range outcomes {
		pr := PullRequest{
			Group: o.Group, Branch: o.Branch, Base: o.Base, Action: o.Action,
			Number: o.PullRequest.Number, URL: o.PullRequest.URL, State: o.PullRequest.State, Merged: o.PullRequest.Merged,
			Commit: o.Commit, Pushed: o.Pushed, Note: o.Note, Warning: o.Warning, Attempts: len(o.Attempts),
		}
		for _, c := range o.Closed {
			pr.Closed = append(pr.Closed, c.Number)
		}
		for _, ga := range o.Attempts {
			r.res.Durations.Checkout += ga.Timings.Refresh
			r.res.Durations.Commit += ga.Timings.Commit
		}
		if len(o.Changes) > 0 {
			pr.Changes = changes[o.Group]
		}
		if o.Err != nil {
			pr.Problem = &Problem{Step: StepPullRequest, Err: withCause(ctx, fmt.Errorf("pull request %s (branch %s): %w", o.Group, o.Branch, o.Err))}
		}
		r.res.PullRequests = append(r.res.PullRequests, pr)
	}
}

// pullRequestGroups splits the chosen images into the config's groups.
// Images the pass chose no tag for are named in every group's Unavailable,
// so a pull request proposing one of them is left as it is.
func (r *runner) pullRequestGroups(images map[update.PolicyRef]update.Image, changes map[string][]update.Change) []gitops.PullRequestGroup {
	unavailable := map[string]string{}
	for ref, img := range images {
		if img.Unavailable != "" {
			unavailable[ref.String()] = img.Unavailable
		}
	}
	rewriteWith := func(group string, only func(update.PolicyRef) bool) gitops.RewriteFunc {
		// Every configured image stays in the map, the others marked
		// unavailable, so markers resolve exactly as in the full rewrite.
		sub := make(map[update.PolicyRef]update.Image, len(images))
		for ref, img := range images {
			if !only(ref) {
				img = update.Image{Unavailable: "in another pull request"}
			}
			sub[ref] = img
		}
		return func(ctx context.Context, dir string) (gitops.Rewrite, error) {
			var a Attempt
			rw, err := r.rewrite(ctx, dir, sub, false, &a)
			changes[group] = nil
			if a.Update != nil {
				changes[group] = a.Update.Changes
			}
			return rw, err
		}
	}
	if r.cfg.Git.Push.PullRequest.Group != gitops.GroupPerImage {
		return []gitops.PullRequestGroup{{
			Name: gitops.GroupAll, Unavailable: unavailable,
			Rewrite: rewriteWith(gitops.GroupAll, func(update.PolicyRef) bool { return true }),
		}}
	}
	var groups []gitops.PullRequestGroup
	for _, img := range r.cfg.Images {
		ref := img.Ref
		if _, ok := images[ref]; !ok {
			continue
		}
		g := gitops.PullRequestGroup{Name: img.Name, Rewrite: rewriteWith(img.Name, func(x update.PolicyRef) bool { return x == ref })}
		if why, ok := unavailable[ref.String()]; ok {
			g.Unavailable = map[string]string{ref.String(): why}
		}
		groups = append(groups, g)
	}
	slices.SortStableFunc(groups, func(a, b gitops.PullRequestGroup) int { return strings.Compare(a.Name, b.Name) })
	return groups
}

// newForge returns the pull request client git.push.pullRequest.provider
// names, for the repository at git.url, with the token from the variable
// the config names (Preflight checked it is set) and git.auth.caFile's CAs.
func newForge(spec gitops.Spec, getenv func(string) string, userAgent string, log *slog.Logger) (gitops.Forge, error) {
	spec.SetDefaults()
	pr := spec.Push.PullRequest
	token := getenv(pr.TokenEnvName(spec.Auth, getenv))
	var ca []byte
	if spec.Auth.CAFile != "" {
		var err error
		if ca, err = os.ReadFile(spec.Auth.CAFile); err != nil {
			return nil, &badInput{fmt.Errorf("git.auth.caFile: %w", err)}
		}
	}
	var (
		f   gitops.Forge
		err error
	)
	switch pr.Provider {
	case gitops.ProviderGitea:
		opts := []gitea.Option{gitea.WithToken(token), gitea.WithUserAgent(userAgent), gitea.WithLogger(log)}
		if pr.APIURL != "" {
			opts = append(opts, gitea.WithAPIURL(pr.APIURL))
		}
		if len(ca) > 0 {
			opts = append(opts, gitea.WithCABundle(ca))
		}
		f, err = gitea.New(spec.URL, opts...)
	case gitops.ProviderGitHub:
		opts := []github.Option{github.WithToken(token), github.WithUserAgent(userAgent), github.WithLogger(log), github.WithGetenv(getenv)}
		if pr.APIURL != "" {
			opts = append(opts, github.WithAPIURL(pr.APIURL))
		}
		if len(ca) > 0 {
			opts = append(opts, github.WithCABundle(ca))
		}
		f, err = github.New(spec.URL, opts...)
	case gitops.ProviderGitLab:
		opts := []gitlab.Option{gitlab.WithToken(token), gitlab.WithUserAgent(userAgent), gitlab.WithLogger(log)}
		if pr.APIURL != "" {
			opts = append(opts, gitlab.WithAPIURL(pr.APIURL))
		}
		if len(ca) > 0 {
			opts = append(opts, gitlab.WithCABundle(ca))
		}
		f, err = gitlab.New(spec.URL, opts...)
	default:
		return nil, &badInput{fmt.Errorf("git.push.pullRequest.provider: unknown provider %q", pr.Provider)}
	}
	if err != nil {
		return nil, &badInput{fmt.Errorf("git.push.pullRequest: %w", err)}
	}
	return f, nil
}
