package main

import (
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/uptick-gitops/uptick/internal/testserver"
)

// TestRunRetriesWhenSomeoneElsePushesFirst makes a colleague push to the
// branch between uptick's fetch and its push: the first push is rejected as
// non-fast-forward, and uptick fetches again, rewrites on top of the
// colleague's commit and pushes, keeping both changes.
func TestRunRetriesWhenSomeoneElsePushesFirst(t *testing.T) {
	f := newFleet(t, "")
	raced := f.raceFirstPush(t, func() {
		colleagueCommit(t, f.remote, "clusters/prod/podinfo/kustomization.yaml", func(s string) string { return s + "# reviewed by a colleague\n" })
	})
	res := f.uptick("run", "--config", f.config, "-o", "json")
	if res.code != 0 {
		t.Fatalf("run: exit %d\n%s\n%s", res.code, res.stdout, res.stderr)
	}
	if !raced.Load() || !strings.Contains(res.stderr, "push lost a race with another writer; retrying on the new tip") {
		t.Fatalf("the race was not exercised:\n%s", res.stderr)
	}
	rep := decodeReport(t, res.stdout)
	if !rep.Pushed || rep.Commit != f.git("rev-parse", "main") {
		t.Fatalf("report commit %s pushed=%v, remote main %s", rep.Commit, rep.Pushed, f.git("rev-parse", "main"))
	}
	if got := f.git("log", "-1", "--format=%s", "main^"); got != "colleague" {
		t.Errorf("uptick's commit is not on top of the colleague's: parent subject %q", got)
	}
	if !strings.Contains(f.git("show", "main:clusters/prod/podinfo/kustomization.yaml"), "reviewed by a colleague") ||
		!strings.Contains(f.git("show", "main:clusters/prod/redis/values.yaml"), `tag: "7.2.5"`) {
		t.Errorf("main lacks one of the two changes")
	}
}

// raceFirstPush serves the fleet over the real git http-backend, points the
// config at it, and runs colleague once, just before uptick's first push is
// served: the push starts by asking for the receive-pack advertisement, so
// that is the moment a colleague's commit can sneak in. The result reports
// whether the race happened.
func (f *fleet) raceFirstPush(t *testing.T, colleague func()) *atomic.Bool {
	t.Helper()
	srv := testserver.GitHTTP(t, filepath.Dir(f.remote), testserver.GitHTTPOptions{})
	var raced atomic.Bool
	next := srv.Config.Handler
	srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("service") == "git-receive-pack" && raced.CompareAndSwap(false, true) {
			colleague()
		}
		next.ServeHTTP(w, r)
	})
	cfg, err := os.ReadFile(f.config)
	if err != nil {
		t.Fatal(err)
	}
	cfg = []byte(strings.Replace(string(cfg), "url: file://"+f.remote, "url: "+srv.URL+"/fleet.git", 1))
	if err := os.WriteFile(f.config, cfg, 0o644); err != nil {
		t.Fatal(err)
	}
	return &raced
}

// colleagueCommit edits file on main of bare from a separate clone, with
// the git CLI.
func colleagueCommit(t *testing.T, bare, file string, edit func(string) string) {
	t.Helper()
	work := t.TempDir()
	run := func(args ...string) {
		cmd := exec.Command("git", args...)
		cmd.Dir = work
		cmd.Env = append(os.Environ(), "GIT_CONFIG_GLOBAL=/dev/null", "GIT_AUTHOR_NAME=colleague", "GIT_AUTHOR_EMAIL=c@example.org", "GIT_COMMITTER_NAME=colleague", "GIT_COMMITTER_EMAIL=c@example.org")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("git %v: %v\n%s", args, err, out)
		}
	}
	run("clone", "-q", "-b", "main", bare, ".")
	p := filepath.Join(work, filepath.FromSlash(file))
	old, err := os.ReadFile(p)
	if err != nil {
		t.Error(err)
		return
	}
	if err := os.WriteFile(p, []byte(edit(string(old))), 0o644); err != nil {
		t.Error(err)
	}
	run("commit", "-qam", "colleague")
	run("push", "-q", "origin", "main")
}

// TestRunRetryFindsNothingLeftToDo: the colleague's push made the very
// change uptick was about to push. After the retry nothing is left, so the
// pass reports no commit (not the rejected one) and succeeds.
func TestRunRetryFindsNothingLeftToDo(t *testing.T) {
	f := newFleet(t, "")
	raced := f.raceFirstPush(t, func() {
		bump := func(old, new string) func(string) string {
			return func(s string) string { return strings.ReplaceAll(s, old, new) }
		}
		colleagueCommit(t, f.remote, "clusters/prod/podinfo/deployment.yaml", bump("podinfo:6.4.0 #", "podinfo:6.5.3 #"))
		colleagueCommit(t, f.remote, "clusters/prod/redis/values.yaml", bump(`"7.2.4"`, `"7.2.5"`))
		colleagueCommit(t, f.remote, "clusters/staging/kustomization.yaml", bump("newTag: 6.4.0", "newTag: 6.5.3"))
	})
	res := f.uptick("run", "--config", f.config, "-o", "json")
	rep := decodeReport(t, res.stdout)
	if res.code != 0 || !raced.Load() || rep.Commit != "" || rep.Pushed || len(rep.Changes) != 0 {
		t.Fatalf("exit %d, raced %v, report commit %q pushed %v changes %d\n%s", res.code, raced.Load(), rep.Commit, rep.Pushed, len(rep.Changes), res.stderr)
	}
	if who := f.git("log", "-1", "--format=%an", "main"); who != "colleague" {
		t.Errorf("main's last commit is by %q, want the colleague's", who)
	}
}
