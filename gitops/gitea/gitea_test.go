package gitea

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	sdk "code.gitea.io/sdk/gitea"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/uptick-gitops/uptick/gitops"
	"github.com/uptick-gitops/uptick/internal/testserver"
)

// forge is the real Gitea every test in this package shares; each test
// makes its own repository.
var forge testserver.SharedGitea

func TestMain(m *testing.M) {
	code := m.Run()
	forge.Stop()
	os.Exit(code)
}

const manifest = "image: ghcr.io/stefanprodan/podinfo:6.5.0 # {\"$imagepolicy\": \"podinfo\"}\n"

// repoSeq keeps repository names apart when a test runs more than once
// (-count); tests in this package do not run in parallel.
var repoSeq int

// fleet creates a repository named after the test with one manifest on
// main and returns its clone URL.
func fleet(t *testing.T, srv *testserver.Gitea) string {
	t.Helper()
	repoSeq++
	name := strings.NewReplacer("/", "-", "_", "-").Replace(strings.ToLower(t.Name())) + fmt.Sprint("-", repoSeq)
	return srv.CreateRepo(t, name, map[string]string{"apps/podinfo.yaml": manifest})
}

// pushBranch commits content to apps/podinfo.yaml on branch (made from
// from) with the git CLI, as another uptick run or a person would, and
// returns the commit.
func pushBranch(t *testing.T, srv *testserver.Gitea, cloneURL, from, branch, content string) string {
	t.Helper()
	dir := t.TempDir()
	srv.Git(t, dir, "clone", "-q", "-b", from, srv.AuthURL(cloneURL), ".")
	if from != branch {
		srv.Git(t, dir, "checkout", "-q", "-b", branch)
	}
	if err := os.WriteFile(filepath.Join(dir, "apps", "podinfo.yaml"), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	srv.Git(t, dir, "commit", "-qam", "update podinfo")
	srv.Git(t, dir, "push", "-q", "origin", branch)
	return strings.TrimSpace(srv.Git(t, dir, "rev-parse", "HEAD"))
}

func newClient(t *testing.T, srv *testserver.Gitea, cloneURL string, opts ...Option) *Client {
	t.Helper()
	c, err := New(cloneURL, append([]Option{WithToken(srv.Token), WithTimeout(30 * time.Second)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return c
}

// ignoreTimes drops what the server stamps.
var ignoreTimes = cmpopts.IgnoreFields(gitops.PullRequest{}, "CreatedAt", "ClosedAt")

func TestPullRequestLifecycle(t *testing.T) {
	srv := forge.Get(t)
	url := fleet(t, srv)
	c := newClient(t, srv, url)
	if got, want := c.Repository(), srv.Admin+"/"+strings.ToLower("TestPullRequestLifecycle")+fmt.Sprint("-", repoSeq); got != want {
		t.Fatalf("Repository() = %q, want %q", got, want)
	}
	sha := pushBranch(t, srv, url, "main", "uptick/all", strings.Replace(manifest, "6.5.0", "6.5.1", 1))

	found, err := c.FindPullRequests(ctx(t), "uptick/all")
	if err != nil || len(found) != 0 {
		t.Fatalf("FindPullRequests() before opening = %v, %v; want none", found, err)
	}

	pr, err := c.CreatePullRequest(ctx(t), gitops.NewPullRequest{Head: "uptick/all", Base: "main", Title: "chore(images): update podinfo", Body: "podinfo 6.5.0 -> 6.5.1"})
	if err != nil {
		t.Fatalf("CreatePullRequest() error = %v", err)
	}
	want := gitops.PullRequest{
		Number: pr.Number, URL: fmt.Sprintf("%s/%s/pulls/%d", srv.URL, c.Repository(), pr.Number),
		Title: "chore(images): update podinfo", Body: "podinfo 6.5.0 -> 6.5.1",
		Head: "uptick/all", HeadSHA: sha, Base: "main", State: gitops.PullRequestOpen, Author: srv.Admin,
	}
	if d := cmp.Diff(want, pr, ignoreTimes); d != "" {
		t.Errorf("CreatePullRequest() (-want +got):\n%s", d)
	}
	if pr.CreatedAt.IsZero() {
		t.Error("CreatedAt is zero")
	}

	t.Run("find", func(t *testing.T) {
		found, err := c.FindPullRequests(ctx(t), "uptick/all")
		if err != nil {
			t.Fatal(err)
		}
		if d := cmp.Diff([]gitops.PullRequest{want}, found, ignoreTimes); d != "" {
			t.Errorf("FindPullRequests() (-want +got):\n%s", d)
		}
		if other, err := c.FindPullRequests(ctx(t), "uptick/other"); err != nil || len(other) != 0 {
			t.Errorf("FindPullRequests(other branch) = %v, %v; want none", other, err)
		}
	})

	t.Run("duplicate create", func(t *testing.T) {
		_, err := c.CreatePullRequest(ctx(t), gitops.NewPullRequest{Head: "uptick/all", Base: "main", Title: "again"})
		if !errors.Is(err, gitops.ErrPullRequestExists) {
			t.Fatalf("second CreatePullRequest() error = %v, want ErrPullRequestExists", err)
		}
		var fe *gitops.ForgeError
		if !errors.As(err, &fe) || fe.StatusCode != 409 || fe.BadInput() {
			t.Errorf("error %#v: want a 409 *ForgeError that is not bad input", err)
		}
		t.Logf("error reads: %v", err)
	})

	t.Run("update", func(t *testing.T) {
		title, body := "chore(images): update podinfo to 6.5.2", "podinfo 6.5.0 -> 6.5.2"
		got, err := c.UpdatePullRequest(ctx(t), pr.Number, gitops.PullRequestEdit{Title: &title, Body: &body})
		if err != nil {
			t.Fatal(err)
		}
		if got.Title != title || got.Body != body {
			t.Errorf("UpdatePullRequest() = %q / %q", got.Title, got.Body)
		}
		// Only the body: the title stays.
		body2 := "podinfo 6.5.0 -> 6.5.3"
		got, err = c.UpdatePullRequest(ctx(t), pr.Number, gitops.PullRequestEdit{Body: &body2})
		if err != nil {
			t.Fatal(err)
		}
		if got.Title != title || got.Body != body2 {
			t.Errorf("UpdatePullRequest(body only) = %q / %q", got.Title, got.Body)
		}
	})

	t.Run("labels", func(t *testing.T) {
		if err := c.AddLabels(ctx(t), pr.Number, []string{"images", "automated"}); err != nil {
			t.Fatal(err)
		}
		// Again, from a fresh client (no label cache), with one already set:
		// nothing is duplicated, nothing removed.
		if err := newClient(t, srv, url).AddLabels(ctx(t), pr.Number, []string{"images", "dependencies"}); err != nil {
			t.Fatal(err)
		}
		found, err := c.FindPullRequests(ctx(t), "uptick/all")
		if err != nil {
			t.Fatal(err)
		}
		if d := cmp.Diff([]string{"automated", "dependencies", "images"}, found[0].Labels); d != "" {
			t.Errorf("labels (-want +got):\n%s", d)
		}
		labels, _, err := srv.API(t).ListRepoLabels(srv.Admin, c.name, sdk.ListLabelsOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if len(labels) != 3 {
			t.Errorf("repository has %d labels, want 3 (no duplicates)", len(labels))
		}
		// Updating the title or body leaves labels alone.
		title := "retitled"
		if got, err := c.UpdatePullRequest(ctx(t), pr.Number, gitops.PullRequestEdit{Title: &title}); err != nil || len(got.Labels) != 3 {
			t.Errorf("UpdatePullRequest() labels = %v, %v; want 3 kept", got.Labels, err)
		}
	})

	t.Run("reviewers", func(t *testing.T) {
		alice := fmt.Sprint("alice-", repoSeq)
		srv.CreateUser(t, alice)
		if err := c.RequestReviewers(ctx(t), pr.Number, []string{alice}); err != nil {
			t.Fatal(err)
		}
		if err := c.RequestReviewers(ctx(t), pr.Number, []string{alice}); err != nil {
			t.Errorf("asking again: %v", err)
		}
		got, _, err := srv.API(t).GetPullRequest(srv.Admin, c.name, pr.Number)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, u := range got.RequestedReviewers {
			names = append(names, u.UserName)
		}
		if !slices.Equal(names, []string{alice}) {
			t.Errorf("requested reviewers = %v", names)
		}
		err = c.RequestReviewers(ctx(t), pr.Number, []string{"nobody-by-this-name"})
		var fe *gitops.ForgeError
		if !errors.As(err, &fe) {
			t.Errorf("unknown reviewer: error = %v, want a *ForgeError", err)
		}
		t.Logf("unknown reviewer: %v", err)
	})

	t.Run("close with comment", func(t *testing.T) {
		const comment = "podinfo 6.5.1 is already on main; closing."
		if err := c.ClosePullRequest(ctx(t), pr.Number, comment); err != nil {
			t.Fatal(err)
		}
		found, err := c.FindPullRequests(ctx(t), "uptick/all")
		if err != nil {
			t.Fatal(err)
		}
		if len(found) != 1 || found[0].Open() || found[0].Merged || found[0].ClosedAt.IsZero() {
			t.Fatalf("after closing, FindPullRequests() = %+v; want one closed, not merged", found)
		}
		comments, _, err := srv.API(t).ListIssueComments(srv.Admin, c.name, pr.Number, sdk.ListIssueCommentOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if len(comments) != 1 || comments[0].Body != comment {
			t.Errorf("comments = %+v, want the one closing comment", comments)
		}
		// Closing a closed pull request (a rerun after a crash) is fine.
		if err := c.ClosePullRequest(ctx(t), pr.Number, ""); err != nil {
			t.Errorf("closing again: %v", err)
		}
		// With the old one closed, a new pull request for the branch opens.
		pr2, err := c.CreatePullRequest(ctx(t), gitops.NewPullRequest{Head: "uptick/all", Base: "main", Title: "again"})
		if err != nil {
			t.Fatalf("CreatePullRequest() after close: %v", err)
		}
		found, err = c.FindPullRequests(ctx(t), "uptick/all")
		if err != nil {
			t.Fatal(err)
		}
		if len(found) != 2 || found[0].Number != pr2.Number || !found[0].Open() || found[1].Number != pr.Number {
			t.Errorf("FindPullRequests() = %+v; want the open #%d first, then the closed #%d", found, pr2.Number, pr.Number)
		}
	})
}

// Merged and closed-without-merging must be told apart: the flow reopens
// nothing a person closed, but treats a merged change as done.
func TestMergedVersusClosed(t *testing.T) {
	srv := forge.Get(t)
	url := fleet(t, srv)
	c := newClient(t, srv, url)

	pushBranch(t, srv, url, "main", "uptick/podinfo", strings.Replace(manifest, "6.5.0", "6.5.1", 1))
	merged, err := c.CreatePullRequest(ctx(t), gitops.NewPullRequest{Head: "uptick/podinfo", Base: "main", Title: "6.5.1"})
	if err != nil {
		t.Fatal(err)
	}
	ok, _, err := srv.API(t).MergePullRequest(srv.Admin, c.name, merged.Number, sdk.MergePullRequestOption{Style: sdk.MergeStyleMerge})
	if err != nil || !ok {
		t.Fatalf("merging #%d through the API: %v, %v", merged.Number, ok, err)
	}

	pushBranch(t, srv, url, "main", "uptick/podinfo", strings.Replace(manifest, "6.5.0", "6.5.2", 1))
	closed, err := c.CreatePullRequest(ctx(t), gitops.NewPullRequest{Head: "uptick/podinfo", Base: "main", Title: "6.5.2"})
	if err != nil {
		t.Fatal(err)
	}
	// A person closes it in the web UI; the API call is the same.
	state := sdk.StateClosed
	if _, _, err := srv.API(t).EditPullRequest(srv.Admin, c.name, closed.Number, sdk.EditPullRequestOption{State: &state}); err != nil {
		t.Fatal(err)
	}

	found, err := c.FindPullRequests(ctx(t), "uptick/podinfo")
	if err != nil {
		t.Fatal(err)
	}
	type seen struct {
		Number int64
		State  gitops.PullRequestState
		Merged bool
	}
	var got []seen
	for _, p := range found {
		got = append(got, seen{p.Number, p.State, p.Merged})
	}
	want := []seen{{closed.Number, gitops.PullRequestClosed, false}, {merged.Number, gitops.PullRequestClosed, true}}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("FindPullRequests() (-want +got):\n%s", d)
	}
}

// A pull request from a fork's branch of the same name is not uptick's.
func TestFindIgnoresForks(t *testing.T) {
	srv := forge.Get(t)
	url := fleet(t, srv)
	c := newClient(t, srv, url)
	bobName := fmt.Sprint("bob-", repoSeq)
	bobToken := srv.CreateUser(t, bobName)
	bob := srv.APIAs(t, bobToken)
	fork, _, err := bob.CreateFork(srv.Admin, c.name, sdk.CreateForkOption{})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	bobURL := strings.Replace(fork.CloneURL, "://", "://"+bobName+":"+bobToken+"@", 1)
	srv.Git(t, dir, "clone", "-q", bobURL, ".")
	srv.Git(t, dir, "checkout", "-q", "-b", "uptick/all")
	if err := os.WriteFile(filepath.Join(dir, "apps", "podinfo.yaml"), []byte("image: evil:1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	srv.Git(t, dir, "commit", "-qam", "from a fork")
	srv.Git(t, dir, "push", "-q", "origin", "uptick/all")
	if _, _, err := bob.CreatePullRequest(srv.Admin, c.name, sdk.CreatePullRequestOption{Head: bobName + ":uptick/all", Base: "main", Title: "from a fork"}); err != nil {
		t.Fatal(err)
	}
	found, err := c.FindPullRequests(ctx(t), "uptick/all")
	if err != nil {
		t.Fatal(err)
	}
	if len(found) != 0 {
		t.Errorf("FindPullRequests() = %+v; want the fork's pull request ignored", found)
	}
}

// TestConcurrentCreate opens the same pull request from many clients at
// once, as overlapping runs would: the caller's dedupe relies on every
// loser getting ErrPullRequestExists. It reports how many Gitea opened.
func TestConcurrentCreate(t *testing.T) {
	srv := forge.Get(t)
	url := fleet(t, srv)
	pushBranch(t, srv, url, "main", "uptick/all", strings.Replace(manifest, "6.5.0", "6.5.1", 1))
	const n = 8
	var wg sync.WaitGroup
	errs := make([]error, n)
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := newClient(t, srv, url)
			<-start
			_, errs[i] = c.CreatePullRequest(ctx(t), gitops.NewPullRequest{Head: "uptick/all", Base: "main", Title: fmt.Sprintf("run %d", i)})
		}()
	}
	close(start)
	wg.Wait()
	created, exists := 0, 0
	for _, err := range errs {
		switch {
		case err == nil:
			created++
		case errors.Is(err, gitops.ErrPullRequestExists):
			exists++
		default:
			t.Errorf("unexpected error: %v", err)
		}
	}
	found, err := newClient(t, srv, url).FindPullRequests(ctx(t), "uptick/all")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d concurrent creates: %d opened, %d told it exists; %d open on the server", n, created, exists, len(found))
	if created != len(found) || created+exists != n {
		t.Errorf("the client's view (%d opened) and the server's (%d open) disagree", created, len(found))
	}
	if created < 1 {
		t.Fatalf("no pull request opened")
	}

	// The runs converge: each keeps the lowest-numbered one and closes the
	// rest, at the same time.
	kept := make([]int64, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			k, _, err := gitops.ConvergeOpen(ctx(t), newClient(t, srv, url), "uptick/all", "main", func(k gitops.PullRequest) string {
				return fmt.Sprintf("Duplicate of #%d, opened by an overlapping run.", k.Number)
			})
			if err != nil {
				t.Errorf("ConvergeOpen: %v", err)
			}
			kept[i] = k.Number
		}()
	}
	wg.Wait()
	found, err = newClient(t, srv, url).FindPullRequests(ctx(t), "uptick/all")
	if err != nil {
		t.Fatal(err)
	}
	var open []int64
	for _, p := range found {
		if p.Open() {
			open = append(open, p.Number)
		}
	}
	slices.Sort(kept)
	kept = slices.Compact(kept)
	if len(open) != 1 || len(kept) != 1 || kept[0] != open[0] {
		t.Errorf("after %d concurrent ConvergeOpen: open %v, kept %v; want one, the same", n, open, kept)
	}
}

func TestErrors(t *testing.T) {
	srv := forge.Get(t)
	url := fleet(t, srv)

	t.Run("bad token", func(t *testing.T) {
		const token = "0123456789abcdef0123456789abcdef01234567"
		c := newClient(t, srv, url, WithToken(token))
		_, err := c.CreatePullRequest(ctx(t), gitops.NewPullRequest{Head: "x", Base: "main", Title: "x"})
		if !errors.Is(err, gitops.ErrForgeAuth) {
			t.Fatalf("error = %v, want ErrForgeAuth", err)
		}
		var bi interface{ BadInput() bool }
		if !errors.As(err, &bi) || !bi.BadInput() {
			t.Errorf("error %v is not bad input", err)
		}
		if strings.Contains(err.Error(), token) {
			t.Errorf("error %q leaks the token", err)
		}
		t.Logf("error reads: %v", err)
	})
	t.Run("unknown repository", func(t *testing.T) {
		c := newClient(t, srv, srv.URL+"/"+srv.Admin+"/no-such-repo.git")
		_, err := c.FindPullRequests(ctx(t), "uptick/all")
		if !errors.Is(err, gitops.ErrForgeNotFound) {
			t.Fatalf("error = %v, want ErrForgeNotFound", err)
		}
		t.Logf("error reads: %v", err)
	})
	t.Run("no such base branch", func(t *testing.T) {
		c := newClient(t, srv, url)
		_, err := c.CreatePullRequest(ctx(t), gitops.NewPullRequest{Head: "main", Base: "nope", Title: "x"})
		var fe *gitops.ForgeError
		if !errors.As(err, &fe) || fe.Message == "" {
			t.Fatalf("error = %v, want a *ForgeError with the server's reason", err)
		}
		t.Logf("error reads: %v", err)
	})
	t.Run("server gone", func(t *testing.T) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		l.Close()
		c := newClient(t, srv, "http://"+addr+"/o/r.git")
		_, err = c.FindPullRequests(ctx(t), "uptick/all")
		var fe *gitops.ForgeError
		if !errors.As(err, &fe) || fe.StatusCode != 0 || strings.Contains(err.Error(), srv.Token) {
			t.Fatalf("error = %v, want a *ForgeError without status or token", err)
		}
		t.Logf("error reads: %v", err)
	})
	t.Run("server hangs", func(t *testing.T) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		go func() {
			for {
				conn, err := l.Accept()
				if err != nil {
					return
				}
				defer conn.Close() // accept, never answer
			}
		}()
		c := newClient(t, srv, "http://"+l.Addr().String()+"/o/r.git", WithTimeout(300*time.Millisecond))
		start := time.Now()
		_, err = c.FindPullRequests(ctx(t), "uptick/all")
		if err == nil || time.Since(start) > 10*time.Second {
			t.Fatalf("error = %v after %v, want a timeout within the bound", err, time.Since(start))
		}
		t.Logf("error reads: %v", err)
	})
}
