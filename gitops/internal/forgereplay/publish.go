package forgereplay

import (
	"context"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/uptick-gitops/uptick/gitops"
	"github.com/uptick-gitops/uptick/internal/testserver"
)

// PublishScenario is one forge's replay of the pull request publisher's
// three runs: first run, rerun, and the base already having the change.
type PublishScenario struct {
	// Provider and Reviewers go into the pull request spec.
	Provider  string
	Reviewers []string
	// Forge names the fixture directory testdata/forge/<Forge>, whose
	// publish-open, publish-rerun and publish-closed files are replayed
	// under APIPrefix.
	Forge, APIPrefix string
	// New makes the client under test for the fleet at gitURL and the
	// replay server at serverURL.
	New func(gitURL, serverURL string) (gitops.Forge, error)
	// Number is the pull request the fixtures open.
	Number int64
}

const (
	manifest0 = "image: ghcr.io/stefanprodan/podinfo:6.5.0 # {\"$imagepolicy\": \"podinfo\"}\n"
	manifest1 = "image: ghcr.io/stefanprodan/podinfo:6.5.1 # {\"$imagepolicy\": \"podinfo\"}\n"
)

// RunPublish runs the pull request publisher itself with the scenario's
// client: the branch goes to a real git http-backend, the API calls to a
// server replaying the forge's documented exchanges, which fails on any
// request that differs from the recording. First run: find, open,
// duplicate check, label, review request. Rerun: two reads, nothing else.
// The base has the change: comment and close.
func RunPublish(t *testing.T, sc PublishScenario) {
	t.Helper()
	root := t.TempDir()
	seed := filepath.Join(root, "seed")
	bare := filepath.Join(root, "fleet.git")
	git(t, root, "init", "-q", "-b", "main", seed)
	if err := os.MkdirAll(filepath.Join(seed, "apps"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(seed, "apps", "podinfo.yaml"), []byte(manifest0), 0o644); err != nil {
		t.Fatal(err)
	}
	git(t, seed, "add", "-A")
	git(t, seed, "commit", "-qm", "seed")
	git(t, root, "clone", "-q", "--bare", seed, bare)
	srv := testserver.GitHTTP(t, root, testserver.GitHTTPOptions{})
	spec := gitops.Spec{URL: srv.URL + "/fleet.git", Push: gitops.PushSpec{PullRequest: &gitops.PullRequestSpec{
		Provider: sc.Provider, Labels: []string{"images"}, Reviewers: sc.Reviewers,
	}}}

	run := func(t *testing.T, fixture string) gitops.PullRequestOutcome {
		t.Helper()
		fx := Load(t, filepath.Join("..", "..", "testdata", "forge", sc.Forge, fixture+".json"))
		api := Serve(t, fx, sc.APIPrefix, func(h http.Header) error { return nil })
		c, err := sc.New(spec.URL, api.URL)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		repo, err := gitops.Checkout(ctx, spec, t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		out := gitops.PublishPullRequests(ctx, repo, c, []gitops.PullRequestGroup{{Name: gitops.GroupAll, Rewrite: rewrite}})
		if len(out) != 1 || out[0].Err != nil {
			t.Fatalf("outcomes = %+v", out)
		}
		return out[0]
	}

	o := run(t, "publish-open")
	if o.Action != gitops.ActionOpened || o.PullRequest.Number != sc.Number || !o.Pushed {
		t.Fatalf("first run = %+v, want %d opened", o, sc.Number)
	}
	tip := git(t, bare, "rev-parse", "uptick/all")
	if tip != o.Commit || git(t, bare, "rev-parse", "uptick/all^") != git(t, bare, "rev-parse", "main") {
		t.Errorf("branch uptick/all is not one commit on main")
	}

	if o := run(t, "publish-rerun"); o.Action != gitops.ActionUnchanged || o.Pushed || o.PullRequest.Number != sc.Number {
		t.Errorf("rerun = %+v, want %d unchanged", o, sc.Number)
	}
	if got := git(t, bare, "rev-parse", "uptick/all"); got != tip {
		t.Errorf("rerun moved the branch to %s", got)
	}

	// Someone makes the change on main.
	if err := os.WriteFile(filepath.Join(seed, "apps", "podinfo.yaml"), []byte(manifest1), 0o644); err != nil {
		t.Fatal(err)
	}
	git(t, seed, "commit", "-qam", "by hand")
	git(t, seed, "push", "-q", bare, "main")
	if o := run(t, "publish-closed"); o.Action != gitops.ActionClosed || o.PullRequest.Number != sc.Number {
		t.Errorf("main has it = %+v, want %d closed", o, sc.Number)
	}
}

// rewrite sets podinfo to 6.5.1, as the update stage would.
func rewrite(_ context.Context, dir string) (gitops.Rewrite, error) {
	p := filepath.Join(dir, "apps", "podinfo.yaml")
	old, err := os.ReadFile(p)
	if err != nil {
		return gitops.Rewrite{}, err
	}
	if string(old) == manifest1 {
		return gitops.Rewrite{}, nil
	}
	if err := os.WriteFile(p, []byte(manifest1), 0o644); err != nil {
		return gitops.Rewrite{}, err
	}
	changes := []gitops.Change{{Image: "podinfo", Repository: "ghcr.io/stefanprodan/podinfo", File: "apps/podinfo.yaml",
		Old: "ghcr.io/stefanprodan/podinfo:6.5.0", New: "ghcr.io/stefanprodan/podinfo:6.5.1"}}
	msg, err := gitops.RenderMessage("", changes)
	return gitops.Rewrite{Files: []string{"apps/podinfo.yaml"}, Message: msg, Changes: changes}, err
}

// git runs the git CLI in dir with a fixed identity and no user config.
func git(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1",
		"GIT_AUTHOR_NAME=Fixture", "GIT_AUTHOR_EMAIL=fixture@example.org", "GIT_COMMITTER_NAME=Fixture", "GIT_COMMITTER_EMAIL=fixture@example.org")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}
