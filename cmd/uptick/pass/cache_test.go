package pass

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/uptick-gitops/uptick/update"
)

// updateReport renders what a pass's update stage found, for comparing a
// pass that reused the saved state with one that read the whole tree.
func updateReport(res *Result) string {
	a := res.Last()
	if a == nil || a.Update == nil {
		return "no update"
	}
	u := a.Update
	var b strings.Builder
	fmt.Fprintf(&b, "scanned %d marked %d\n", u.Scanned, u.Marked)
	for _, f := range u.Files {
		fmt.Fprintf(&b, "file %s\n%s\n", f.Path, f.After)
	}
	for _, c := range u.Changes {
		fmt.Fprintf(&b, "change %s:%d %s -> %s\n", c.File, c.Line, c.Old, c.New)
	}
	for _, w := range u.Warnings {
		fmt.Fprintf(&b, "warning %s\n", w)
	}
	for _, e := range u.Errors {
		fmt.Fprintf(&b, "error %s\n", e)
	}
	return b.String()
}

// pushChange commits edit's changes to the fixture's remote main from a
// clone of its own, as a colleague would.
func (f *fixture) pushChange(t *testing.T, edit func(work string)) {
	t.Helper()
	work := t.TempDir()
	run := func(args ...string) {
		cmd := exec.Command("git", args...)
		cmd.Dir = work
		cmd.Env = append(os.Environ(), "GIT_CONFIG_GLOBAL=/dev/null", "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.org", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.org")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	run("clone", "-q", "-b", "main", f.remote, ".")
	edit(work)
	run("add", "-A")
	run("commit", "-q", "-m", "colleague")
	run("push", "-q", "origin", "main")
}

var reusedRE = regexp.MustCompile(`msg="update state reused" tree=\S+ since=\S+ changed=(\d+)`)

// TestRunKeepsUpdateState runs passes over one --workdir while the
// remote changes, and checks that each pass reuses the update stage's
// saved state, reading only what changed, and finds exactly what a pass
// reading the whole tree finds (a plan without a work directory, on the
// same remote tip).
func TestRunKeepsUpdateState(t *testing.T) {
	f := newFixture(t, "")
	workdir := filepath.Join(t.TempDir(), "work")
	stateFile := filepath.Join(workdir, "repo", ".git", "uptick-"+updateStateName)
	var logs bytes.Buffer
	withState := Options{Workdir: workdir, Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))}

	pass := func(t *testing.T, wantReused string) *Result {
		t.Helper()
		full := Run(context.Background(), f.cfg, Options{Until: Plan})
		if err := full.Err(); err != nil {
			t.Fatal(err)
		}
		logs.Reset()
		res := Run(context.Background(), f.cfg, withState)
		if err := res.Err(); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(updateReport(full), updateReport(res)); diff != "" {
			t.Errorf("pass with the saved state differs from a full read (-full +state):\n%s", diff)
		}
		got := "full walk"
		if m := reusedRE.FindStringSubmatch(logs.String()); m != nil {
			got = "changed=" + m[1]
		}
		if got != wantReused {
			t.Errorf("update state: %s, want %s\n%s", got, wantReused, logs.String())
		}
		if _, err := update.LoadState(stateFile); err != nil {
			t.Errorf("state file after the pass: %v", err)
		}
		return res
	}

	t.Run("first pass reads the tree", func(t *testing.T) {
		if res := pass(t, "full walk"); !res.Pushed() {
			t.Error("nothing pushed")
		}
	})
	t.Run("then the files it committed", func(t *testing.T) { pass(t, "changed=3") })
	t.Run("then nothing", func(t *testing.T) { pass(t, "changed=0") })
	t.Run("a colleague's change", func(t *testing.T) {
		f.pushChange(t, func(work string) {
			p := filepath.Join(work, "clusters/prod/redis/values.yaml")
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			os.WriteFile(p, bytes.Replace(b, []byte(`"7.2.5"`), []byte(`"7.2.4"`), 1), 0o644)
			os.WriteFile(filepath.Join(work, "README.md"), []byte("edited\n"), 0o644)
			os.MkdirAll(filepath.Join(work, "clusters/new"), 0o755)
			os.WriteFile(filepath.Join(work, "clusters/new/app.yaml"), []byte("image: x:1 # {\"$imagepolicy\": \"demo:redis:tag\"}\nother: y # {\"$imagepolicy\": \"unknown\"}\n"), 0o644)
			os.WriteFile(filepath.Join(work, "clusters/new/plain.yaml"), []byte("a: b\n"), 0o644)
		})
		if res := pass(t, "changed=4"); !res.Pushed() || len(res.Warnings()) != 1 {
			t.Errorf("pushed %v, warnings %v", res.Pushed(), res.Warnings())
		}
	})
	t.Run("a torn state file costs one full walk", func(t *testing.T) {
		pass(t, "changed=2") // what the last pass committed
		b, err := os.ReadFile(stateFile)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(stateFile, b[:len(b)/2], 0o644); err != nil {
			t.Fatal(err)
		}
		pass(t, "full walk")
		if !strings.Contains(logs.String(), "ignoring the update stage's saved state") {
			t.Errorf("no warning about the torn state:\n%s", logs.String())
		}
		pass(t, "changed=0")
	})
	t.Run("a state of a tree the clone lacks costs one full walk", func(t *testing.T) {
		s, err := update.LoadState(stateFile)
		if err != nil {
			t.Fatal(err)
		}
		s.Tree = strings.Repeat("ab", 20)
		if err := update.SaveState(stateFile, s); err != nil {
			t.Fatal(err)
		}
		pass(t, "full walk")
		pass(t, "changed=0")
	})
}
