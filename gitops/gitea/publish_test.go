package gitea

import (
	"context"
	"errors"
	"fmt"
	"os"
	osexec "os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	sdk "code.gitea.io/sdk/gitea"
	"github.com/google/go-cmp/cmp"

	"github.com/uptick-gitops/uptick/gitops"
	"github.com/uptick-gitops/uptick/internal/testserver"
	"github.com/uptick-gitops/uptick/update"
)

// The tests below run gitops.PublishPullRequests with this package's
// client against the real Gitea: every pull-request behaviour uptick
// promises, each in a repository of its own.

const (
	podinfoRepo = "ghcr.io/stefanprodan/podinfo"
	redisRepo   = "docker.io/library/redis"
)

func fleetFiles() map[string]string {
	return map[string]string{
		"apps/podinfo.yaml": "image: " + podinfoRepo + ":6.5.0 # {\"$imagepolicy\": \"podinfo\"}\n",
		"apps/redis.yaml":   "image: " + redisRepo + ":7.2.0 # {\"$imagepolicy\": \"redis\"}\n",
		"README.md":         "fleet\n",
	}
}

// prFleet is one test's repository and what runs against it need.
type prFleet struct {
	t    *testing.T
	srv  *testserver.Gitea
	url  string
	name string // the repository's name
	spec gitops.Spec
}

func newPRFleet(t *testing.T, pr gitops.PullRequestSpec) *prFleet {
	t.Helper()
	srv := forge.Get(t)
	repoSeq++
	name := strings.NewReplacer("/", "-", "_", "-").Replace(strings.ToLower(t.Name())) + fmt.Sprint("-", repoSeq)
	url := srv.CreateRepo(t, name, fleetFiles())
	pr.Provider = gitops.ProviderGitea
	return &prFleet{t: t, srv: srv, url: url, name: name, spec: gitops.Spec{
		URL:  url,
		Auth: gitops.Auth{UsernameEnv: "GITEA_USER", PasswordEnv: "GITEA_TOKEN"},
		Push: gitops.PushSpec{PullRequest: &pr},
	}}
}

func (f *prFleet) getenv(name string) string {
	return map[string]string{"GITEA_USER": f.srv.Admin, "GITEA_TOKEN": f.srv.Token}[name]
}

// rewriteTo is a RewriteFunc with the real update stage, setting images
// (marker name → tag) and nothing else.
func rewriteTo(tags map[string]string) gitops.RewriteFunc {
	repos := map[string]string{"podinfo": podinfoRepo, "redis": redisRepo}
	return func(ctx context.Context, dir string) (gitops.Rewrite, error) {
		images := map[update.PolicyRef]update.Image{}
		for name, tag := range tags {
			images[update.PolicyRef{Name: name}] = update.Image{Repository: repos[name], Tag: tag}
		}
		res, err := update.Apply(ctx, dir, []string{"."}, images)
		if err != nil {
			return gitops.Rewrite{}, err
		}
		var rw gitops.Rewrite
		for _, f := range res.Files {
			rw.Files = append(rw.Files, f.Path)
		}
		for _, c := range res.Changes {
			rw.Changes = append(rw.Changes, gitops.Change{Image: c.Image.String(), Repository: repos[c.Image.Name], File: c.File, Old: c.Old, New: c.New})
		}
		if len(rw.Files) > 0 {
			if rw.Message, err = gitops.RenderMessage("", rw.Changes); err != nil {
				return gitops.Rewrite{}, err
			}
		}
		return rw, nil
	}
}

// run is one uptick pass's publishing: a fresh checkout (its own work
// directory), then PublishPullRequests with the groups.
func (f *prFleet) run(groups ...gitops.PullRequestGroup) []gitops.PullRequestOutcome {
	f.t.Helper()
	return f.runIn(f.t.TempDir(), groups...)
}

func (f *prFleet) runIn(dir string, groups ...gitops.PullRequestGroup) []gitops.PullRequestOutcome {
	f.t.Helper()
	return f.runClaim(dir, 20*time.Second, groups...)
}

// runClaim runs with claim as WithPullRequestClaim's window.
func (f *prFleet) runClaim(dir string, claim time.Duration, groups ...gitops.PullRequestGroup) []gitops.PullRequestOutcome {
	f.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	repo, err := gitops.Checkout(ctx, f.spec, dir, gitops.WithGetenv(f.getenv), gitops.WithBackoff(10*time.Millisecond, 100*time.Millisecond),
		gitops.WithPullRequestClaim(claim, 100*time.Millisecond))
	if err != nil {
		f.t.Fatalf("Checkout: %v", err)
	}
	out := gitops.PublishPullRequests(ctx, repo, f.client(), groups)
	// The work tree is left at the base, untouched.
	if st := f.srv.Git(f.t, repo.Dir(), "status", "--porcelain"); st != "" {
		f.t.Errorf("work tree not clean after publishing:\n%s", st)
	}
	return out
}

func (f *prFleet) client() *Client {
	c, err := New(f.url, WithToken(f.srv.Token), WithTimeout(30*time.Second))
	if err != nil {
		f.t.Fatal(err)
	}
	return c
}

func all(tags map[string]string) gitops.PullRequestGroup {
	return gitops.PullRequestGroup{Name: gitops.GroupAll, Rewrite: rewriteTo(tags)}
}

// one returns the only outcome, failing on any error.
func one(t *testing.T, out []gitops.PullRequestOutcome) gitops.PullRequestOutcome {
	t.Helper()
	if len(out) != 1 {
		t.Fatalf("%d outcomes, want 1: %+v", len(out), out)
	}
	if out[0].Err != nil {
		t.Fatalf("outcome error: %v", out[0].Err)
	}
	return out[0]
}

// pulls returns every pull request of the repository, open and closed.
func (f *prFleet) pulls() []*sdk.PullRequest {
	f.t.Helper()
	prs, _, err := f.srv.API(f.t).ListRepoPullRequests(f.srv.Admin, f.name, sdk.ListPullRequestsOptions{State: sdk.StateAll, ListOptions: sdk.ListOptions{PageSize: 50}})
	if err != nil {
		f.t.Fatal(err)
	}
	slices.SortFunc(prs, func(a, b *sdk.PullRequest) int { return int(a.Index - b.Index) })
	return prs
}

// remote runs the git CLI on a fresh clone of the repository.
func (f *prFleet) clone() string {
	f.t.Helper()
	dir := f.t.TempDir()
	f.srv.Git(f.t, dir, "clone", "-q", f.srv.AuthURL(f.url), ".")
	f.srv.Git(f.t, dir, "fetch", "-q", "origin", "+refs/heads/*:refs/remotes/origin/*")
	return dir
}

func (f *prFleet) rev(dir, rev string) string {
	f.t.Helper()
	return strings.TrimSpace(f.srv.Git(f.t, dir, "rev-parse", rev))
}

// pushMain commits a change to main as a person would.
func (f *prFleet) pushMain(file, content string) string {
	f.t.Helper()
	dir := f.clone()
	full := filepath.Join(dir, filepath.FromSlash(file))
	if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
		f.t.Fatal(err)
	}
	f.srv.Git(f.t, dir, "add", "-A")
	f.srv.Git(f.t, dir, "commit", "-qm", "a person's change to "+file)
	f.srv.Git(f.t, dir, "push", "-q", "origin", "main")
	return f.rev(dir, "HEAD")
}

// TestPullRequestLifecycleAgainstGitea walks one group through every
// state: opened, rerun unchanged, newer tag updated in place, base moved
// rebuilt, base already has it closed, and merged then nothing.
func TestPullRequestLifecycleAgainstGitea(t *testing.T) {
	f := newPRFleet(t, gitops.PullRequestSpec{Labels: []string{"images"}})

	// Open.
	o := one(t, f.run(all(map[string]string{"podinfo": "6.5.1"})))
	if o.Action != gitops.ActionOpened || !o.Pushed || o.Branch != "uptick/all" || o.PullRequest.Number == 0 {
		t.Fatalf("first run = %+v, want a pull request opened from uptick/all", o)
	}
	number := o.PullRequest.Number
	if want := fmt.Sprintf("%s/%s/%s/pulls/%d", f.srv.URL, f.srv.Admin, f.name, number); o.PullRequest.URL != want {
		t.Errorf("URL = %q, want %q", o.PullRequest.URL, want)
	}
	dir := f.clone()
	main := f.rev(dir, "origin/main")
	if got := f.rev(dir, "origin/uptick/all"); got != o.Commit {
		t.Errorf("branch tip %s, outcome says %s", got, o.Commit)
	}
	if got := f.rev(dir, "origin/uptick/all^"); got != main {
		t.Errorf("branch built on %s, want main %s", got, main)
	}
	if got := f.srv.Git(t, dir, "show", "origin/uptick/all:apps/podinfo.yaml"); !strings.Contains(got, ":6.5.1 ") {
		t.Errorf("branch's podinfo.yaml = %q", got)
	}
	prs := f.pulls()
	if len(prs) != 1 || prs[0].Title != "chore(images): update podinfo to 6.5.1" || len(prs[0].Labels) != 1 || prs[0].Labels[0].Name != "images" {
		t.Fatalf("pull requests = %+v", prs)
	}
	body := prs[0].Body
	for _, want := range []string{"| [podinfo](https://ghcr.io/stefanprodan/podinfo) | `6.5.0` | `6.5.1` | `apps/podinfo.yaml` |", `<!-- uptick:v1 {"group":"all","changes":{"podinfo":"ghcr.io/stefanprodan/podinfo:6.5.1"}} -->`} {
		if !strings.Contains(body, want) {
			t.Errorf("body lacks %q:\n%s", want, body)
		}
	}

	// Rerun with the same tags: nothing pushed, nothing opened, nothing edited.
	updated := prs[0].Updated
	o = one(t, f.run(all(map[string]string{"podinfo": "6.5.1"})))
	if o.Action != gitops.ActionUnchanged || o.Pushed || o.PullRequest.Number != number || o.Commit != f.rev(f.clone(), "origin/uptick/all") {
		t.Errorf("rerun = %+v, want #%d unchanged, nothing pushed", o, number)
	}
	if prs := f.pulls(); len(prs) != 1 || !prs[0].Updated.Equal(*updated) {
		t.Errorf("rerun touched the pull requests: %+v", prs)
	}

	// A newer tag: the same pull request, its branch rebuilt from main.
	o = one(t, f.run(all(map[string]string{"podinfo": "6.5.2"})))
	if o.Action != gitops.ActionUpdated || !o.Pushed || o.PullRequest.Number != number {
		t.Fatalf("newer tag = %+v, want #%d updated", o, number)
	}
	dir = f.clone()
	if got := f.srv.Git(t, dir, "rev-list", "--count", "origin/main..origin/uptick/all"); strings.TrimSpace(got) != "1" {
		t.Errorf("branch has %s commits on main, want 1 (rebuilt, not stacked)", strings.TrimSpace(got))
	}
	if prs := f.pulls(); len(prs) != 1 || prs[0].Title != "chore(images): update podinfo to 6.5.2" || !strings.Contains(prs[0].Body, `podinfo:6.5.2"}`) {
		t.Errorf("after a newer tag: %d pull requests, title %q", len(prs), prs[0].Title)
	}

	// The base moved: rebuilt on the new main, same pull request.
	moved := f.pushMain("README.md", "fleet, edited\n")
	o = one(t, f.run(all(map[string]string{"podinfo": "6.5.2"})))
	if o.Action != gitops.ActionUpdated || !o.Pushed || o.PullRequest.Number != number {
		t.Fatalf("base moved = %+v, want #%d updated", o, number)
	}
	if got := f.rev(f.clone(), "origin/uptick/all^"); got != moved {
		t.Errorf("branch built on %s, want the new main %s", got, moved)
	}

	// Someone makes the change on main by hand: the pull request is left
	// over and closed with a comment.
	f.pushMain("apps/podinfo.yaml", "image: "+podinfoRepo+":6.5.2 # {\"$imagepolicy\": \"podinfo\"}\n")
	o = one(t, f.run(all(map[string]string{"podinfo": "6.5.2"})))
	if o.Action != gitops.ActionClosed || o.PullRequest.Number != number || o.Pushed {
		t.Fatalf("base has it = %+v, want #%d closed", o, number)
	}
	pr, _, err := f.srv.API(t).GetPullRequest(f.srv.Admin, f.name, number)
	if err != nil || pr.State != sdk.StateClosed || pr.HasMerged {
		t.Fatalf("#%d: %+v, %v; want closed unmerged", number, pr, err)
	}
	comments, _, err := f.srv.API(t).ListIssueComments(f.srv.Admin, f.name, number, sdk.ListIssueCommentOptions{})
	if err != nil || len(comments) != 1 || !strings.Contains(comments[0].Body, "`main` already has its changes") {
		t.Errorf("comments on #%d: %+v, %v", number, comments, err)
	}

	// Again: nothing to do, nothing reported.
	if o := one(t, f.run(all(map[string]string{"podinfo": "6.5.2"}))); o.Action != "" || o.PullRequest.Number != 0 {
		t.Errorf("after closing = %+v, want nothing", o)
	}
	if n := len(f.pulls()); n != 1 {
		t.Errorf("%d pull requests, want still 1", n)
	}
}

// A merged pull request: its changes are on main, so a rerun opens
// nothing; a newer tag opens a new pull request.
func TestMergedPullRequestIsNotReopened(t *testing.T) {
	f := newPRFleet(t, gitops.PullRequestSpec{})
	o := one(t, f.run(all(map[string]string{"podinfo": "6.5.1"})))
	if o.Action != gitops.ActionOpened {
		t.Fatalf("first run = %+v", o)
	}
	ok, _, err := f.srv.API(t).MergePullRequest(f.srv.Admin, f.name, o.PullRequest.Number, sdk.MergePullRequestOption{Style: sdk.MergeStyleMerge})
	if err != nil || !ok {
		t.Fatalf("merging: %v, %v", ok, err)
	}
	if o := one(t, f.run(all(map[string]string{"podinfo": "6.5.1"}))); o.Action != "" || o.Pushed {
		t.Errorf("after merge = %+v, want nothing opened or pushed", o)
	}
	o = one(t, f.run(all(map[string]string{"podinfo": "6.5.2"})))
	if o.Action != gitops.ActionOpened || o.PullRequest.Number == 0 {
		t.Fatalf("newer tag after merge = %+v, want a new pull request", o)
	}
	if prs := f.pulls(); len(prs) != 2 || !prs[0].HasMerged || prs[1].State != sdk.StateOpen {
		t.Errorf("pull requests = %d, want the merged one and a new open one", len(prs))
	}
}

// A pull request a person closed without merging stays closed for the
// same tags, even when main moves; a newer tag opens a new one.
func TestClosedByAPersonIsNotReopened(t *testing.T) {
	f := newPRFleet(t, gitops.PullRequestSpec{})
	o := one(t, f.run(all(map[string]string{"podinfo": "6.5.1"})))
	closedNumber := o.PullRequest.Number
	state := sdk.StateClosed
	if _, _, err := f.srv.API(t).EditPullRequest(f.srv.Admin, f.name, closedNumber, sdk.EditPullRequestOption{State: &state}); err != nil {
		t.Fatal(err)
	}
	tip := f.rev(f.clone(), "origin/uptick/all")
	for _, moveMain := range []bool{false, true} {
		if moveMain {
			f.pushMain("README.md", "fleet, edited\n")
		}
		o = one(t, f.run(all(map[string]string{"podinfo": "6.5.1"})))
		if o.Action != gitops.ActionUnchanged || o.PullRequest.Number != closedNumber || o.PullRequest.Open() || o.Pushed {
			t.Errorf("rerun (main moved: %v) = %+v, want #%d left closed", moveMain, o, closedNumber)
		}
	}
	if got := f.rev(f.clone(), "origin/uptick/all"); got != tip {
		t.Errorf("branch moved to %s while its pull request was declined", got)
	}
	o = one(t, f.run(all(map[string]string{"podinfo": "6.5.2"})))
	if o.Action != gitops.ActionOpened || o.PullRequest.Number == closedNumber {
		t.Fatalf("newer tag = %+v, want a new pull request", o)
	}
	if prs := f.pulls(); len(prs) != 2 || prs[0].State != sdk.StateClosed || prs[1].State != sdk.StateOpen {
		t.Errorf("pull requests: %d", len(prs))
	}
}

// Per image: one pull request per image, each from its own branch with
// only that image's change; a held image's pull request is left alone.
func TestPerImagePullRequests(t *testing.T) {
	f := newPRFleet(t, gitops.PullRequestSpec{Group: gitops.GroupPerImage})
	group := func(name, tag string) gitops.PullRequestGroup {
		return gitops.PullRequestGroup{Name: name, Rewrite: rewriteTo(map[string]string{name: tag})}
	}
	out := f.run(group("podinfo", "6.5.1"), group("redis", "7.2.4"))
	if len(out) != 2 || out[0].Err != nil || out[1].Err != nil {
		t.Fatalf("outcomes = %+v", out)
	}
	type seen struct {
		Branch string
		Action gitops.PullRequestAction
	}
	got := []seen{{out[0].Branch, out[0].Action}, {out[1].Branch, out[1].Action}}
	if d := cmp.Diff([]seen{{"uptick/podinfo", gitops.ActionOpened}, {"uptick/redis", gitops.ActionOpened}}, got); d != "" {
		t.Errorf("(-want +got):\n%s", d)
	}
	dir := f.clone()
	if d := f.srv.Git(t, dir, "diff", "--name-only", "origin/main", "origin/uptick/podinfo"); strings.TrimSpace(d) != "apps/podinfo.yaml" {
		t.Errorf("uptick/podinfo changes %q, want only apps/podinfo.yaml", d)
	}
	if d := f.srv.Git(t, dir, "diff", "--name-only", "origin/main", "origin/uptick/redis"); strings.TrimSpace(d) != "apps/redis.yaml" {
		t.Errorf("uptick/redis changes %q, want only apps/redis.yaml", d)
	}
	// redis's registry fails this pass: its pull request is held, podinfo's
	// moves on.
	failed := map[string]string{"redis": "listing tags: registry timed out"}
	noRedis := gitops.PullRequestGroup{Name: "redis", Rewrite: rewriteTo(nil), Unavailable: failed}
	out = f.run(group("podinfo", "6.5.2"), noRedis)
	if out[0].Action != gitops.ActionUpdated || out[1].Action != gitops.ActionUnchanged || out[1].PullRequest.Number == 0 || out[1].Note == "" {
		t.Errorf("held run = %+v", out)
	}
	if n := len(f.pulls()); n != 2 {
		t.Errorf("%d pull requests, want 2", n)
	}
	// With one pull request for all, redis's change is kept as well.
	both := gitops.PullRequestGroup{Name: "all", Rewrite: rewriteTo(map[string]string{"podinfo": "6.5.1", "redis": "7.2.4"})}
	one(t, f.run(both))
	both.Rewrite, both.Unavailable = rewriteTo(map[string]string{"podinfo": "6.5.2"}), failed
	if o := one(t, f.run(both)); o.Action != gitops.ActionUnchanged || o.Pushed || !strings.Contains(o.Note, "registry timed out") {
		t.Errorf("all, redis failed = %+v, want the pull request left as it is", o)
	}
}

// A commit someone else pushed to uptick's branch is never overwritten.
func TestForeignCommitOnTheBranchIsKept(t *testing.T) {
	f := newPRFleet(t, gitops.PullRequestSpec{})
	o := one(t, f.run(all(map[string]string{"podinfo": "6.5.1"})))
	dir := f.clone()
	f.srv.Git(t, dir, "checkout", "-q", "-b", "uptick/all", "origin/uptick/all")
	if err := os.WriteFile(filepath.Join(dir, "NOTES.md"), []byte("a person's note\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	f.srv.Git(t, dir, "add", "-A")
	f.srv.Git(t, dir, "commit", "-qm", "a person's commit")
	f.srv.Git(t, dir, "push", "-q", "origin", "uptick/all")
	theirs := f.rev(dir, "HEAD")

	o = one(t, f.run(all(map[string]string{"podinfo": "6.5.2"})))
	if o.Pushed || o.Warning == "" || o.Action != gitops.ActionUnchanged {
		t.Errorf("newer tag over a foreign commit = %+v, want a warning and no push", o)
	}
	if got := f.rev(f.clone(), "origin/uptick/all"); got != theirs {
		t.Errorf("branch is %s, want the person's %s kept", got, theirs)
	}
	t.Logf("warning reads: %s", o.Warning)
}

// A run pushed the branch and died before opening its pull request: the
// next run waits out the claim, then takes the branch over and opens it.
func TestAbandonedBranchIsTakenOver(t *testing.T) {
	f := newPRFleet(t, gitops.PullRequestSpec{})
	// What the dead run pushed, made as uptick makes it.
	dir := f.clone()
	f.srv.Git(t, dir, "checkout", "-q", "-b", "uptick/all")
	if err := os.WriteFile(filepath.Join(dir, "apps", "podinfo.yaml"), []byte("image: "+podinfoRepo+":6.5.1 # {\"$imagepolicy\": \"podinfo\"}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	gitAs(t, dir, []string{"GIT_COMMITTER_NAME=" + gitops.DefaultAuthorName, "GIT_COMMITTER_EMAIL=" + gitops.DefaultAuthorEmail},
		"commit", "-qam", "chore(images): update podinfo")
	f.srv.Git(t, dir, "push", "-q", "origin", "uptick/all")
	dead := f.rev(dir, "HEAD")

	start := time.Now()
	o := one(t, f.runClaim(t.TempDir(), 2*time.Second, all(map[string]string{"podinfo": "6.5.1"})))
	if o.Action != gitops.ActionOpened || !o.Pushed || o.Commit == dead {
		t.Fatalf("run after a dead one = %+v, want the branch taken over and a pull request opened", o)
	}
	if took := time.Since(start); took < time.Second {
		t.Errorf("took the fresh branch over after %v, within its 2s claim", took)
	}
	if n := len(f.pulls()); n != 1 {
		t.Errorf("%d pull requests, want 1", n)
	}
}

// gitAs runs the git CLI in dir with env added last, so it wins over the
// test identity srv.Git would set.
func gitAs(t *testing.T, dir string, env []string, args ...string) string {
	t.Helper()
	cmd := osexec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null", "GIT_TERMINAL_PROMPT=0",
		"GIT_AUTHOR_NAME=Test Person", "GIT_AUTHOR_EMAIL=person@example.org")
	cmd.Env = append(cmd.Env, env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %s: %v\n%s", args[0], err, out)
	}
	return string(out)
}

// Runs at once, each with its own work directory, as overlapping CronJobs:
// one pull request, never a duplicate (Gitea itself lets concurrent creates
// all succeed, see TestConcurrentCreate).
func TestConcurrentRunsOpenOnePullRequest(t *testing.T) {
	f := newPRFleet(t, gitops.PullRequestSpec{})
	const runs = 4
	for round, tag := range []string{"6.5.1", "6.5.2"} {
		var wg sync.WaitGroup
		outs := make([][]gitops.PullRequestOutcome, runs)
		start := make(chan struct{})
		for i := range runs {
			dir := t.TempDir()
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				outs[i] = f.runIn(dir, all(map[string]string{"podinfo": tag}))
			}()
		}
		close(start)
		wg.Wait()
		actions := map[gitops.PullRequestAction]int{}
		for _, out := range outs {
			o := out[0]
			if o.Err != nil {
				t.Errorf("round %d: a run failed: %v", round, o.Err)
			}
			actions[o.Action]++

		}
		prs := f.pulls()
		t.Logf("round %d (%s): actions %v; %d pull requests on the server", round, tag, actions, len(prs))
		if len(prs) != 1 || prs[0].State != sdk.StateOpen {
			t.Errorf("round %d: %d pull requests, want exactly 1, open", round, len(prs))
		}
		wantFirst := gitops.ActionOpened
		if round > 0 {
			wantFirst = gitops.ActionUpdated
		}
		if actions[wantFirst] != 1 || actions[gitops.ActionUnchanged] != runs-1 {
			t.Errorf("round %d: actions %v, want one %s and %d unchanged", round, actions, wantFirst, runs-1)
		}
	}
}

// hookForge runs onFind once, at the first FindPullRequests: after the
// run fetched the branch and before it pushes.
type hookForge struct {
	gitops.Forge
	once   sync.Once
	onFind func()
}

func (h *hookForge) FindPullRequests(ctx context.Context, branch string) ([]gitops.PullRequest, error) {
	h.once.Do(h.onFind)
	return h.Forge.FindPullRequests(ctx, branch)
}

// The force-push of a rebuilt branch is leased on the tip the run fetched:
// a tip that moved in between is never overwritten unseen. Another
// uptick's commit is rebuilt on the next attempt; a person's is kept.
func TestPushIsLeasedOnTheTipSeen(t *testing.T) {
	for _, tt := range []struct {
		name          string
		committer     []string
		wantPushed    bool
		wantTheirsTip bool
	}{
		{"another uptick run", []string{"GIT_COMMITTER_NAME=" + gitops.DefaultAuthorName, "GIT_COMMITTER_EMAIL=" + gitops.DefaultAuthorEmail}, true, false},
		{"a person", []string{"GIT_COMMITTER_NAME=Test Person", "GIT_COMMITTER_EMAIL=person@example.org"}, false, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := newPRFleet(t, gitops.PullRequestSpec{})
			one(t, f.run(all(map[string]string{"podinfo": "6.5.1"})))
			var theirs string
			hook := &hookForge{Forge: f.client(), onFind: func() {
				dir := f.clone()
				f.srv.Git(t, dir, "checkout", "-q", "-B", "uptick/all", "origin/main")
				if err := os.WriteFile(filepath.Join(dir, "apps", "podinfo.yaml"), []byte("image: "+podinfoRepo+":6.5.3 # {\"$imagepolicy\": \"podinfo\"}\n"), 0o644); err != nil {
					t.Error(err)
				}
				gitAs(t, dir, tt.committer, "commit", "-qam", "theirs")
				f.srv.Git(t, dir, "push", "-q", "-f", "origin", "uptick/all")
				theirs = f.rev(dir, "HEAD")
			}}
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			repo, err := gitops.Checkout(ctx, f.spec, t.TempDir(), gitops.WithGetenv(f.getenv), gitops.WithBackoff(10*time.Millisecond, 100*time.Millisecond))
			if err != nil {
				t.Fatal(err)
			}
			o := one(t, gitops.PublishPullRequests(ctx, repo, hook, []gitops.PullRequestGroup{all(map[string]string{"podinfo": "6.5.2"})}))
			if len(o.Attempts) != 2 || !errors.Is(o.Attempts[0].Err, gitops.ErrPushRejected) {
				t.Fatalf("attempts = %+v, want the first push refused (lease lost), then a second attempt", o.Attempts)
			}
			t.Logf("first attempt: %v", o.Attempts[0].Err)
			tip := f.rev(f.clone(), "origin/uptick/all")
			if o.Pushed != tt.wantPushed || (tip == theirs) != tt.wantTheirsTip {
				t.Errorf("pushed %v, branch at theirs %v; want %v, %v (outcome %+v)", o.Pushed, tip == theirs, tt.wantPushed, tt.wantTheirsTip, o)
			}
			if tt.wantPushed && f.rev(f.clone(), "origin/uptick/all^") != f.rev(f.clone(), "origin/main") {
				t.Errorf("rebuilt branch is not on main")
			}
		})
	}
}
