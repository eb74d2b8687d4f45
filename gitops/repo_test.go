package gitops

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// fixedClock is the commit time of every test commit.
var fixedTime = time.Date(2026, 3, 14, 15, 9, 26, 0, time.UTC)

func fixedClock() time.Time { return fixedTime }

// fleet is one bare fixture repository, reachable over file:// and HTTP.
type fleet struct {
	root, bare string
	httpURL    string
}

func newFleet(t *testing.T) fleet {
	t.Helper()
	root := t.TempDir()
	files := fixtureFiles()
	files[".gitignore"] = "*.tmp\n"
	bare := newBareRepo(t, root, "fleet", files)
	srv := serveGit(t, root, "", "")
	return fleet{root: root, bare: bare, httpURL: srv.URL + "/fleet.git"}
}

// bump rewrites the podinfo tag in the work tree, as the update stage would.
func bump(t *testing.T, r *Repo, from, to string) Change {
	t.Helper()
	p := filepath.Join(r.Dir(), "clusters/prod/podinfo.yaml")
	old := readFile(t, p)
	if !strings.Contains(old, "podinfo:"+from) {
		t.Fatalf("podinfo.yaml does not contain tag %s:\n%s", from, old)
	}
	if err := os.WriteFile(p, []byte(strings.Replace(old, "podinfo:"+from, "podinfo:"+to, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	return Change{Image: "podinfo", File: "clusters/prod/podinfo.yaml", Object: "Deployment/apps/podinfo", Old: from, New: to}
}

func TestCheckout(t *testing.T) {
	f := newFleet(t)
	tests := []struct {
		name string
		url  string
	}{
		{"local path", f.bare},
		{"file url", "file://" + f.bare},
		{"http", f.httpURL},
	}
	want := revParse(t, f.bare, "main")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "work")
			r, err := Checkout(context.Background(), Spec{URL: tt.url}, dir)
			if err != nil {
				t.Fatalf("Checkout() error = %v", err)
			}
			got := struct{ Head, Base, Dir, README string }{r.Head(), r.BaseBranch(), r.Dir(), readFile(t, filepath.Join(r.Dir(), "README.md"))}
			wantS := struct{ Head, Base, Dir, README string }{want, "main", filepath.Join(dir, "repo"), "fleet\n"}
			if diff := cmp.Diff(wantS, got); diff != "" {
				t.Errorf("Checkout() mismatch (-want +got):\n%s", diff)
			}
			// The git CLI agrees about the work tree: clean, on main.
			if st := gitRun(t, r.Dir(), nil, "status", "--porcelain"); st != "" {
				t.Errorf("work tree not clean:\n%s", st)
			}
			if b := strings.TrimSpace(gitRun(t, r.Dir(), nil, "symbolic-ref", "--short", "HEAD")); b != "main" {
				t.Errorf("HEAD is on %q, want main", b)
			}
		})
	}
}

func TestCheckoutReusesWorkdir(t *testing.T) {
	f := newFleet(t)
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "cache")
	spec := Spec{URL: f.httpURL}
	r, err := Checkout(ctx, spec, dir)
	if err != nil {
		t.Fatal(err)
	}
	first := r.Head()
	work := r.Dir()

	// Garbage a previous run may have left, and a new remote commit.
	writeFiles(t, work, map[string]string{
		"clusters/prod/podinfo.yaml": "half-written\n",
		"stray.txt":                  "x\n",
		"newdir/deep/file.yaml":      "y\n",
		"clusters/prod/ignored.tmp":  "ignored garbage\n",
	})
	if err := os.Remove(filepath.Join(work, "README.md")); err != nil {
		t.Fatal(err)
	}
	newHead := pushFromElsewhere(t, f.bare, "main", map[string]string{"clusters/prod/extra.yaml": "kind: ConfigMap\n"}, "add extra")

	r2, err := Checkout(ctx, spec, dir)
	if err != nil {
		t.Fatalf("second Checkout() error = %v", err)
	}
	if r2.Head() != newHead || r2.Head() == first {
		t.Errorf("second Checkout() Head = %s, want new remote head %s (first was %s)", r2.Head(), newHead, first)
	}
	if got, want := readFile(t, filepath.Join(work, "clusters/prod/podinfo.yaml")), fixtureFiles()["clusters/prod/podinfo.yaml"]; got != want {
		t.Errorf("modified tracked file not restored:\n%s", got)
	}
	for _, p := range []string{"stray.txt", "newdir", "clusters/prod/ignored.tmp"} {
		if _, err := os.Stat(filepath.Join(work, p)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("untracked %s survived the second checkout (stat err %v)", p, err)
		}
	}
	for _, p := range []string{"README.md", "clusters/prod/extra.yaml"} {
		if _, err := os.Stat(filepath.Join(work, p)); err != nil {
			t.Errorf("%s missing after second checkout: %v", p, err)
		}
	}
	if st := gitRun(t, work, nil, "status", "--porcelain", "--ignored"); st != "" {
		t.Errorf("work tree not clean after reuse:\n%s", st)
	}
}

func TestCheckoutWorkdirMismatch(t *testing.T) {
	f := newFleet(t)
	other := newBareRepo(t, f.root, "other", map[string]string{"a": "b\n"})
	ctx := context.Background()
	dir := t.TempDir()
	if _, err := Checkout(ctx, Spec{URL: f.bare}, dir); err != nil {
		t.Fatal(err)
	}
	_, err := Checkout(ctx, Spec{URL: other}, dir)
	if !errors.Is(err, ErrWorkdirMismatch) {
		t.Errorf("Checkout() of another URL into the cache = %v, want ErrWorkdirMismatch", err)
	}

	if !IsBadInput(err) {
		t.Errorf("Checkout() error %q is not bad input", err)
	}

	nonEmpty := t.TempDir()
	writeFiles(t, nonEmpty, map[string]string{"precious.txt": "keep me\n"})
	if _, err := Checkout(ctx, Spec{URL: f.bare}, nonEmpty); !errors.Is(err, ErrWorkdirForeign) || !IsBadInput(err) {
		t.Errorf("Checkout() into a non-empty non-clone = %v, want ErrWorkdirForeign", err)
	}
	if got := readFile(t, filepath.Join(nonEmpty, "precious.txt")); got != "keep me\n" {
		t.Errorf("non-clone directory was modified")
	}
}

func TestCheckoutMissingBranch(t *testing.T) {
	f := newFleet(t)
	_, err := Checkout(context.Background(), Spec{URL: f.httpURL, Branch: "develop"}, t.TempDir())
	if !errors.Is(err, ErrBranchNotFound) {
		t.Fatalf("Checkout() error = %v, want ErrBranchNotFound", err)
	}
	for _, want := range []string{f.httpURL, `"develop"`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %s", err, want)
		}
	}
}

func TestCommitAndPushSameBranch(t *testing.T) {
	f := newFleet(t)
	ctx := context.Background()
	spec := Spec{URL: f.httpURL, Commit: CommitSpec{Author: Signature{Name: "Uptick Bot", Email: "bot@example.org"}}}
	r, err := Checkout(ctx, spec, t.TempDir(), WithClock(fixedClock))
	if err != nil {
		t.Fatal(err)
	}
	base := r.Head()
	ch := bump(t, r, "6.5.0", "6.5.1")
	// An unrelated dirty file must not be committed: only the given files are.
	writeFiles(t, r.Dir(), map[string]string{"README.md": "edited by someone\n"})

	sha, err := r.Commit(ctx, []string{ch.File}, message(t, ch))
	if err != nil {
		t.Fatalf("Commit() error = %v", err)
	}
	if err := r.Push(ctx); err != nil {
		t.Fatalf("Push() error = %v", err)
	}
	if got := revParse(t, f.bare, "main"); got != sha {
		t.Fatalf("remote main = %s, want pushed commit %s", got, sha)
	}
	log := gitRun(t, f.bare, nil, "log", "-1", "--format=%an <%ae>|%cn <%ce>|%at|%P|%B", "main")
	want := "Uptick Bot <bot@example.org>|Uptick Bot <bot@example.org>|" +
		strconv.FormatInt(fixedTime.Unix(), 10) + "|" + base + "|" +
		"chore(images): update podinfo\n\n- podinfo: 6.5.0 -> 6.5.1 in clusters/prod/podinfo.yaml (Deployment/apps/podinfo)\n\n"
	if diff := cmp.Diff(want, log); diff != "" {
		t.Errorf("remote commit mismatch (-want +got):\n%s", diff)
	}
	files := gitRun(t, f.bare, nil, "show", "--format=", "--name-only", "main")
	if diff := cmp.Diff("clusters/prod/podinfo.yaml\n", files); diff != "" {
		t.Errorf("committed files mismatch (-want +got):\n%s", diff)
	}
	if got := gitRun(t, f.bare, nil, "show", "main:clusters/prod/podinfo.yaml"); !strings.Contains(got, "podinfo:6.5.1 # {\"$imagepolicy\": \"podinfo\"}") {
		t.Errorf("remote file not updated:\n%s", got)
	}
	// Pushing again is a no-op, not an error.
	if err := r.Push(ctx); err != nil {
		t.Errorf("second Push() error = %v", err)
	}
}

func TestCommitNothingToCommit(t *testing.T) {
	f := newFleet(t)
	ctx := context.Background()
	r, err := Checkout(ctx, Spec{URL: f.bare}, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		files []string
	}{
		{"unchanged file", []string{"clusters/prod/podinfo.yaml"}},
		{"no files", nil},
		{"rewritten with identical bytes", []string{"README.md"}},
	}
	writeFiles(t, r.Dir(), map[string]string{"README.md": "fleet\n"})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := r.Commit(ctx, tt.files, "x\n")
			if !errors.Is(err, ErrNothingToCommit) {
				t.Errorf("Commit() error = %v, want ErrNothingToCommit", err)
			}
		})
	}
	if got := revParse(t, r.Dir(), "HEAD"); got != r.Head() {
		t.Errorf("HEAD moved to %s without a commit", got)
	}
}

func TestCommitRejectsBadPaths(t *testing.T) {
	f := newFleet(t)
	r, err := Checkout(context.Background(), Spec{URL: f.bare}, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"", "/etc/passwd", "../x", "a/../../x", "./README.md", ".git/config", `a\b`} {
		t.Run(p, func(t *testing.T) {
			if _, err := r.Commit(context.Background(), []string{p}, "x\n"); !errors.Is(err, ErrInvalidPath) {
				t.Errorf("Commit(%q) error = %v, want ErrInvalidPath", p, err)
			}
		})
	}
}

func TestCommitDeletion(t *testing.T) {
	f := newFleet(t)
	ctx := context.Background()
	r, err := Checkout(ctx, Spec{URL: f.bare}, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(r.Dir(), "clusters/prod/redis.yaml")); err != nil {
		t.Fatal(err)
	}
	writeFiles(t, r.Dir(), map[string]string{"clusters/prod/new.yaml": "kind: ConfigMap\n"})
	if _, err := r.Commit(ctx, []string{"clusters/prod/redis.yaml", "clusters/prod/new.yaml"}, message(t, Change{Image: "redis", File: "clusters/prod/redis.yaml"})); err != nil {
		t.Fatalf("Commit() error = %v", err)
	}
	if err := r.Push(ctx); err != nil {
		t.Fatal(err)
	}
	got := gitRun(t, f.bare, nil, "show", "--format=", "--name-status", "main")
	if diff := cmp.Diff("A\tclusters/prod/new.yaml\nD\tclusters/prod/redis.yaml\n", got); diff != "" {
		t.Errorf("committed changes mismatch (-want +got):\n%s", diff)
	}
}

func TestPushToEnvBranch(t *testing.T) {
	f := newFleet(t)
	ctx := context.Background()
	spec := Spec{URL: f.httpURL, Branch: "main", Push: PushSpec{Branch: "env/prod"}}
	mainTip := revParse(t, f.bare, "main")

	// First run: env/prod does not exist, so it is created from main.
	r, err := Checkout(ctx, spec, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if r.BaseBranch() != "main" || r.Head() != mainTip {
		t.Fatalf("first run based on %s@%s, want main@%s", r.BaseBranch(), r.Head(), mainTip)
	}
	ch := bump(t, r, "6.5.0", "6.5.1")
	first, err := r.Commit(ctx, []string{ch.File}, message(t, ch))
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Push(ctx); err != nil {
		t.Fatalf("Push() creating env/prod error = %v", err)
	}
	if got := revParse(t, f.bare, "env/prod"); got != first {
		t.Fatalf("env/prod = %s, want %s", got, first)
	}
	if got := revParse(t, f.bare, "main"); got != mainTip {
		t.Errorf("main moved to %s; only env/prod may change", got)
	}

	// main moves on; the next run must still build on env/prod (fast-forward).
	pushFromElsewhere(t, f.bare, "main", map[string]string{"README.md": "fleet v2\n"}, "docs")
	dir := t.TempDir()
	r2, err := Checkout(ctx, spec, dir)
	if err != nil {
		t.Fatal(err)
	}
	if r2.BaseBranch() != "env/prod" || r2.Head() != first {
		t.Fatalf("second run based on %s@%s, want env/prod@%s", r2.BaseBranch(), r2.Head(), first)
	}
	if got := readFile(t, filepath.Join(r2.Dir(), "README.md")); got != "fleet\n" {
		t.Errorf("work tree is not env/prod's: README = %q", got)
	}
	ch = bump(t, r2, "6.5.1", "6.5.2")
	second, err := r2.Commit(ctx, []string{ch.File}, message(t, ch))
	if err != nil {
		t.Fatal(err)
	}
	if err := r2.Push(ctx); err != nil {
		t.Fatalf("fast-forward Push() error = %v", err)
	}
	if got := revParse(t, f.bare, "env/prod"); got != second {
		t.Fatalf("env/prod = %s, want %s", got, second)
	}
	if got := revParse(t, f.bare, "env/prod^"); got != first {
		t.Errorf("env/prod parent = %s, want previous env/prod tip %s", got, first)
	}
}

func TestPushRejectedWhenRemoteMoved(t *testing.T) {
	f := newFleet(t)
	ctx := context.Background()
	for _, tt := range []struct{ name, url string }{{"http", f.httpURL}, {"file", f.bare}} {
		t.Run(tt.name, func(t *testing.T) {
			r, err := Checkout(ctx, Spec{URL: tt.url}, t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			ch := bump(t, r, "6.5.0", "6.5.1")
			if _, err := r.Commit(ctx, []string{ch.File}, message(t, ch)); err != nil {
				t.Fatal(err)
			}
			theirs := pushFromElsewhere(t, f.bare, "main", map[string]string{"clusters/prod/other-" + tt.name + ".yaml": "x: 1\n"}, "someone else")

			err = r.Push(ctx)
			if !errors.Is(err, ErrPushRejected) {
				t.Fatalf("Push() error = %v, want ErrPushRejected", err)
			}
			var pe *PushError
			if !errors.As(err, &pe) {
				t.Fatalf("Push() error %T is not a *PushError", err)
			}
			if diff := cmp.Diff(struct{ Remote, Branch string }{tt.url, "main"}, struct{ Remote, Branch string }{pe.Remote, pe.Branch}); diff != "" {
				t.Errorf("PushError mismatch (-want +got):\n%s", diff)
			}
			if got := revParse(t, f.bare, "main"); got != theirs {
				t.Errorf("remote main = %s, want the other pusher's %s kept", got, theirs)
			}
			// A fresh run then succeeds on top of the other commit.
			r2, err := Checkout(ctx, Spec{URL: tt.url}, filepath.Dir(r.Dir()))
			if err != nil {
				t.Fatal(err)
			}
			if r2.Head() != theirs {
				t.Errorf("retry based on %s, want %s", r2.Head(), theirs)
			}
		})
	}
}
