package gitops

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/go-git/go-git/v5/plumbing/object"
)

// PullRequestGroup is the changes one pull request proposes: all of a
// pass's, or one image's.
type PullRequestGroup struct {
	// Name is "all", or the image's name with group per-image; the branch
	// template renders it as .Group.
	Name string
	// Rewrite applies this group's changes, and only those, to the work
	// tree at the base's tip and returns the files, the commit message and
	// the changes (Rewrite.Changes feed the title, body and marker).
	Rewrite RewriteFunc
	// Unavailable maps the images (as Change.Image names them) this pass
	// chose no tag for to why (their registry failed, say). An open pull
	// request that proposes one of them is left exactly as it is: a
	// rebuild would drop that image's change.
	Unavailable map[string]string
}

// PullRequestAction is what a pass did to a group's pull request.
type PullRequestAction string

// Pull request actions, as the JSON report names them.
const (
	// ActionOpened: a new pull request was opened.
	ActionOpened PullRequestAction = "opened"
	// ActionUpdated: the open pull request's branch was rebuilt (newer
	// tags, or the base moved) or its title or body brought up to date.
	ActionUpdated PullRequestAction = "updated"
	// ActionUnchanged: the pull request already proposes exactly this, or
	// uptick must leave it alone (closed by a person for these tags, a
	// branch with someone else's commits, an image that failed).
	ActionUnchanged PullRequestAction = "unchanged"
	// ActionClosed: the base already has the changes (merged, or made by
	// hand), so the left-over open pull request was closed with a comment.
	ActionClosed PullRequestAction = "closed"
)

// PullRequestOutcome is what PublishPullRequests did for one group.
type PullRequestOutcome struct {
	Group string
	// Branch is the group's branch, Base the branch it merges into.
	Branch, Base string
	// Action is "" when there was nothing to propose and no pull request
	// to close.
	Action PullRequestAction
	// PullRequest is the one acted on (Number 0 when none).
	PullRequest PullRequest
	// Commit is the branch tip the pull request proposes.
	Commit string
	// Pushed is true when this run pushed Branch.
	Pushed bool
	// Changes are what the group's rewrite changed.
	Changes []Change
	// Note says why, when the action needs explaining.
	Note string
	// Warning is set when uptick leaves the pull request alone for a
	// reason a person should act on (commits it did not make on its
	// branch).
	Warning string
	// Closed are pull requests closed this run: left-overs whose changes
	// the base has, or duplicates an overlapping run opened.
	Closed []PullRequest
	// Attempts are the rebuild–push tries, as Publish's.
	Attempts []Attempt
	// Err is why the group failed; the other groups still ran.
	Err error
}

// Comments uptick closes pull requests with.
const (
	closedMergedComment    = "uptick closes this pull request: `%s` already has its changes (it was merged, or someone made them by hand)."
	closedDuplicateComment = "uptick closes this duplicate of #%d, which an overlapping run opened for the same branch."
)

// PublishPullRequests proposes each group's changes as a pull request on
// forge, one group after the other, from the branch the config's template
// names for it:
//
//   - The branch is rebuilt from the base's tip by the group's Rewrite
//     (never merged or rebased): a commit on the base with the rewritten
//     files. When the remote branch already holds exactly that (same
//     parent, same tree), nothing is pushed; otherwise it is force-pushed
//     with a lease on the tip uptick fetched, and only when that tip is a
//     commit uptick made: someone else's commits are never overwritten.
//     A lost lease (another run pushed) is retried on a fresh base, as
//     Publish retries.
//   - The open pull request from the branch is updated (title and body
//     when the branch changed, the body when its marker is stale), or a
//     new one is opened, labelled and given reviewers. When the base
//     already has the changes, an open one is closed with a comment.
//     A pull request a person closed without merging is not reopened for
//     the same changes; other changes open a new one.
//   - Only the run that pushed a branch tip opens its pull request:
//     another run that finds the tip up to date but no pull request waits
//     for the pusher's (WithPullRequestClaim), so overlapping runs do not
//     open duplicates (Gitea does not stop them); any duplicate found is
//     closed, the lowest-numbered one kept.
//
// The work tree is left at the base's tip. Each group has its own
// push.attempts and push.timeout; a failing group does not stop the
// others.
func PublishPullRequests(ctx context.Context, repo *Repo, forge Forge, groups []PullRequestGroup) []PullRequestOutcome {
	spec := repo.spec.Push.PullRequest
	out := make([]PullRequestOutcome, 0, len(groups))
	for _, g := range groups {
		o := PullRequestOutcome{Group: g.Name, Base: spec.Base}
		branch, err := spec.BranchFor(g.Name)
		if err != nil {
			o.Err = &badInput{fmt.Errorf("push.pullRequest.branch: %w", err)}
			out = append(out, o)
			continue
		}
		o.Branch = branch
		p := &prRun{repo: repo, forge: forge, spec: spec, group: g, branch: branch, out: &o}
		o.Attempts, o.Err = retry(ctx, repo, p.attempt)
		if o.Err != nil {
			repo.opts.logger.Error("pull request failed", "group", g.Name, "branch", branch, "error", o.Err)
		} else if o.Action != "" {
			repo.opts.logger.Info("pull request", "group", g.Name, "branch", branch, "action", o.Action,
				"number", o.PullRequest.Number, "url", o.PullRequest.URL)
		}
		out = append(out, o)
		if ctx.Err() != nil {
			break
		}
	}
	return out
}

// prRun is one group's publishing.
type prRun struct {
	repo   *Repo
	forge  Forge
	spec   *PullRequestSpec
	group  PullRequestGroup
	branch string
	out    *PullRequestOutcome
}

// held reports whether the open pull request proposes an image that this
// pass chose no tag for, and if so records it as left alone.
func (p *prRun) held(open []PullRequest) bool {
	if len(open) == 0 || len(p.group.Unavailable) == 0 {
		return false
	}
	m, ok := ParsePullRequestMarker(open[0].Body)
	if !ok {
		return false
	}
	var why []string
	for img := range m.Changes {
		if reason, ok := p.group.Unavailable[img]; ok {
			why = append(why, fmt.Sprintf("image %s: %s", img, reason))
		}
	}
	if len(why) == 0 {
		return false
	}
	slices.Sort(why)
	p.out.Action, p.out.PullRequest, p.out.Commit = ActionUnchanged, open[0], open[0].HeadSHA
	p.out.Note = "left as it is: this pass chose no tag for " + strings.Join(why, "; ")
	return true
}

// openOnBase returns the open pull requests into the base, lowest number
// first.
func (p *prRun) openOnBase(prs []PullRequest) []PullRequest {
	var open []PullRequest
	for _, pr := range prs {
		if pr.Open() && pr.Base == p.spec.Base {
			open = append(open, pr)
		}
	}
	slices.SortFunc(open, func(a, b PullRequest) int { return cmp.Compare(a.Number, b.Number) })
	return open
}

// attempt is one try: refresh (after the first), rewrite on the base,
// commit, compare with the remote branch, push if needed, then the pull
// request. An error wrapping ErrPushRejected makes retry try again.
func (p *prRun) attempt(ctx context.Context, a *Attempt) (err error) {
	repo := p.repo
	// Every try starts over: what an earlier one found may be stale.
	*p.out = PullRequestOutcome{Group: p.out.Group, Branch: p.out.Branch, Base: p.out.Base}
	t := time.Now()
	lap := func(d *time.Duration) {
		now := time.Now()
		*d, t = now.Sub(t), now
	}
	if a.Number > 1 {
		err := repo.Refresh(ctx)
		lap(&a.Timings.Refresh)
		if err != nil {
			return err
		}
	}
	a.Base = repo.Head()
	rw, err := p.group.Rewrite(ctx, repo.Dir())
	lap(&a.Timings.Rewrite)
	defer func() {
		if rerr := repo.restoreFiles(rw.Files); rerr != nil && err == nil {
			err = rerr
		}
	}()
	if err != nil {
		return err
	}
	a.Files, a.Message = rw.Files, rw.Message
	p.out.Changes = rw.Changes

	var commit *object.Commit
	if len(rw.Files) > 0 {
		commit, err = repo.commitOnto(ctx, rw.Files, rw.Message)
		lap(&a.Timings.Commit)
		if err != nil && !errors.Is(err, ErrNothingToCommit) {
			return err
		}
	}
	// The tip seen here is the lease of any push below.
	tip, err := repo.fetchBranch(ctx, p.branch)
	if err != nil {
		return err
	}
	prs, err := p.forge.FindPullRequests(ctx, p.branch)
	if err != nil {
		return err
	}
	open := p.openOnBase(prs)
	if p.held(open) {
		return nil
	}
	if tip != nil && !repo.ownsCommit(tip) {
		p.out.Commit = tip.Hash.String()
		p.out.Warning = fmt.Sprintf("branch %q has commit %s by %s <%s>, which uptick did not make; uptick leaves the branch and its pull request alone (delete the branch to let uptick rebuild it)",
			p.branch, tip.Hash.String()[:12], tip.Committer.Name, tip.Committer.Email)
		if len(open) > 0 {
			p.out.Action, p.out.PullRequest = ActionUnchanged, open[0]
		}
		return nil
	}
	if commit == nil {
		return p.baseHasChanges(ctx, open)
	}
	a.Commit = commit.Hash.String()

	marker := newMarker(p.group.Name, rw.Changes)
	if len(open) == 0 {
		if closed, ok := latestClosed(prs, p.spec.Base); ok && !closed.Merged {
			if m, ok := ParsePullRequestMarker(closed.Body); ok && m.Equal(marker) {
				p.out.Action, p.out.PullRequest = ActionUnchanged, closed
				p.out.Note = fmt.Sprintf("closed without merging (#%d); not reopened for the same changes", closed.Number)
				if tip != nil {
					p.out.Commit = tip.Hash.String()
				}
				return nil
			}
		}
	}

	upToDate := tip != nil && len(tip.ParentHashes) == 1 && tip.ParentHashes[0] == repo.head && tip.TreeHash == commit.TreeHash
	pushed := false
	if !upToDate {
		expect := ""
		if tip != nil {
			expect = tip.Hash.String()
		}
		pushed, err = repo.pushCommit(ctx, commit.Hash, p.branch, expect)
		lap(&a.Timings.Publish)
		if err != nil {
			return err
		}
	}
	p.out.Commit = commit.Hash.String()
	if !pushed && tip != nil {
		p.out.Commit = tip.Hash.String()
	}
	p.out.Pushed = pushed
	a.Pushed = pushed
	a.Published = Published{Branch: p.branch}
	defer func() { a.Published.URL = p.out.PullRequest.URL }()

	title, body, err := p.texts(rw.Changes, marker)
	if err != nil {
		return err
	}
	// A tip another run pushed moments ago is that run's to describe: it
	// updates the title and body itself.
	fresh := !pushed && tip != nil && repo.opts.now().Before(tip.Committer.When.Add(repo.opts.prClaim))
	if len(open) > 0 {
		return p.update(ctx, open, pushed, !fresh, title, body, marker)
	}
	if !pushed {
		// The tip is up to date but was pushed by another run (now, or a
		// run that died before opening its pull request).
		found, err := p.awaitClaim(ctx, tip)
		if err != nil {
			return err
		}
		if len(found) > 0 {
			return p.update(ctx, found, false, false, title, body, marker)
		}
		// Take the branch over: a new commit, pushed with a lease on the
		// abandoned tip, makes this run the one to open the pull request.
		if pushed, err = repo.pushCommit(ctx, commit.Hash, p.branch, tip.Hash.String()); err != nil {
			return err
		}
		if !pushed { // the same commit, to the second: someone else just pushed it
			return fmt.Errorf("%w: branch %q already holds %s", ErrPushRejected, p.branch, commit.Hash)
		}
		p.out.Commit, p.out.Pushed, a.Pushed = commit.Hash.String(), true, true
	}
	return p.open(ctx, title, body, marker)
}

// baseHasChanges handles a group whose rewrite changed nothing: the base
// has its changes, so an open pull request is left over and closed.
func (p *prRun) baseHasChanges(ctx context.Context, open []PullRequest) error {
	if len(open) == 0 {
		return nil
	}
	for _, pr := range open {
		if err := p.forge.ClosePullRequest(ctx, pr.Number, fmt.Sprintf(closedMergedComment, p.spec.Base)); err != nil {
			return err
		}
		pr.State = PullRequestClosed
		p.out.Closed = append(p.out.Closed, pr)
	}
	p.out.Action, p.out.PullRequest = ActionClosed, p.out.Closed[0]
	p.out.Note = fmt.Sprintf("%s already has these changes", p.spec.Base)
	return nil
}

// update brings the lowest-numbered open pull request up to date and
// closes any other open one (duplicates of overlapping runs). The title
// and body are rewritten when this run pushed the branch; the body alone
// when repair is set and its marker does not say what the branch holds.
func (p *prRun) update(ctx context.Context, open []PullRequest, pushed, repair bool, title, body string, marker PullRequestMarker) error {
	keep := open[0]
	if err := p.closeDuplicates(ctx, keep, open[1:]); err != nil {
		return err
	}
	var edit PullRequestEdit
	m, ok := ParsePullRequestMarker(keep.Body)
	stale := repair && (!ok || !m.Equal(marker))
	if (pushed || stale) && keep.Body != body {
		edit.Body = &body
	}
	if pushed && keep.Title != title {
		edit.Title = &title
	}
	p.out.PullRequest = keep
	p.out.Action = ActionUnchanged
	if pushed {
		p.out.Action = ActionUpdated
	}
	if edit.Title == nil && edit.Body == nil {
		return nil
	}
	got, err := p.forge.UpdatePullRequest(ctx, keep.Number, edit)
	if err != nil {
		return err
	}
	p.out.PullRequest, p.out.Action = got, ActionUpdated
	return nil
}

// open opens the group's pull request (this run pushed its tip), labels
// it and asks for reviews. A 409 (one is open after all) adopts that one.
func (p *prRun) open(ctx context.Context, title, body string, marker PullRequestMarker) error {
	pr, err := p.forge.CreatePullRequest(ctx, NewPullRequest{Head: p.branch, Base: p.spec.Base, Title: title, Body: body})
	if errors.Is(err, ErrPullRequestExists) {
		prs, ferr := p.forge.FindPullRequests(ctx, p.branch)
		if ferr != nil {
			return ferr
		}
		if open := p.openOnBase(prs); len(open) > 0 {
			return p.update(ctx, open, true, true, title, body, marker)
		}
	}
	if err != nil {
		return err
	}
	p.out.Action, p.out.PullRequest = ActionOpened, pr
	// Should an overlapping run have opened one too, the lowest number
	// wins everywhere; closing ours is then the right outcome.
	kept, closed, err := ConvergeOpen(ctx, p.forge, p.branch, p.spec.Base, func(kept PullRequest) string {
		return fmt.Sprintf(closedDuplicateComment, kept.Number)
	})
	if err != nil {
		return err
	}
	p.out.Closed = append(p.out.Closed, closed...)
	if kept.Number != 0 && kept.Number != pr.Number {
		p.out.Action, p.out.PullRequest = ActionUnchanged, kept
		p.out.Note = fmt.Sprintf("an overlapping run opened #%d first; #%d was closed as its duplicate", kept.Number, pr.Number)
		return nil
	}
	if err := p.forge.AddLabels(ctx, pr.Number, p.spec.Labels); err != nil {
		return err
	}
	if err := p.forge.RequestReviewers(ctx, pr.Number, p.spec.Reviewers); err != nil {
		return err
	}
	return nil
}

func (p *prRun) closeDuplicates(ctx context.Context, keep PullRequest, dups []PullRequest) error {
	for _, d := range dups {
		if err := p.forge.ClosePullRequest(ctx, d.Number, fmt.Sprintf(closedDuplicateComment, keep.Number)); err != nil {
			return err
		}
		d.State = PullRequestClosed
		p.out.Closed = append(p.out.Closed, d)
	}
	return nil
}

// awaitClaim waits while tip is young enough to be another run's claim
// (WithPullRequestClaim) for that run's pull request to appear. It returns
// the open pull requests into the base, none when the claim ran out.
func (p *prRun) awaitClaim(ctx context.Context, tip *object.Commit) ([]PullRequest, error) {
	o := p.repo.opts
	until := tip.Committer.When.Add(o.prClaim)
	for {
		if !o.now().Before(until) {
			return nil, nil
		}
		p.repo.opts.logger.Info("waiting for the run that pushed the branch to open its pull request",
			"branch", p.branch, "tip", tip.Hash.String(), "until", until.Format(time.RFC3339))
		if !sleep(ctx, min(o.prPoll, until.Sub(o.now()))) {
			return nil, ctx.Err()
		}
		prs, err := p.forge.FindPullRequests(ctx, p.branch)
		if err != nil {
			return nil, err
		}
		if open := p.openOnBase(prs); len(open) > 0 {
			return open, nil
		}
	}
}

// texts renders the title and the body (with the marker) of the group's
// pull request.
func (p *prRun) texts(changes []Change, marker PullRequestMarker) (string, string, error) {
	data := NewPullRequestData(p.group.Name, p.spec.Base, p.branch, changes)
	title, err := renderPullRequestText("title", p.spec.Title, data)
	if err != nil {
		return "", "", err
	}
	title = strings.Join(strings.Fields(title), " ")
	if title == "" {
		return "", "", &badInput{errors.New("push.pullRequest.title renders an empty title")}
	}
	body, err := renderPullRequestText("body", p.spec.Body, data)
	if err != nil {
		return "", "", err
	}
	return title, body + "\n\n" + marker.String() + "\n", nil
}

// newMarker records what a group proposes: per image, its new values.
func newMarker(group string, changes []Change) PullRequestMarker {
	vals := map[string][]string{}
	for _, c := range changes {
		if !slices.Contains(vals[c.Image], c.New) {
			vals[c.Image] = append(vals[c.Image], c.New)
		}
	}
	m := PullRequestMarker{Group: group, Changes: map[string]string{}}
	for img, v := range vals {
		slices.Sort(v)
		m.Changes[img] = strings.Join(v, " ")
	}
	return m
}

// latestClosed returns the most recently closed pull request into base.
func latestClosed(prs []PullRequest, base string) (PullRequest, bool) {
	for _, pr := range prs { // FindPullRequests sorts them newest first
		if !pr.Open() && pr.Base == base {
			return pr, true
		}
	}
	return PullRequest{}, false
}
