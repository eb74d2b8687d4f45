package gitops

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// Crash tests kill a real process with SIGKILL at one chosen system call
// on one chosen file, the way production kills a run (OOM killer, node
// drain, CronJob deadline), using strace's fault injection. The process
// is this test binary re-executed in crashChild mode: one Checkout and one
// Publish, like an uptick run.

// Environment of a crash child.
const (
	crashChildEnv   = "GITOPS_CRASH_CHILD"
	crashURLEnv     = "GITOPS_CRASH_URL"
	crashWorkdirEnv = "GITOPS_CRASH_WORKDIR"
	crashCaseEnv    = "GITOPS_CRASH_CASE"
)

// crashRewrite writes crash.txt naming the case: the same change however
// often it is applied, so runs after a crash converge on one commit.
func crashRewrite(name string) RewriteFunc {
	return func(ctx context.Context, dir string) (Rewrite, error) {
		if err := os.WriteFile(filepath.Join(dir, "crash.txt"), []byte(name+"\n"), 0o644); err != nil {
			return Rewrite{}, err
		}
		return Rewrite{Files: []string{"crash.txt"}, Message: "crash " + name + "\n"}, nil
	}
}

// crashRun is one run: Checkout into workdir, Publish the case's change.
func crashRun(url, workdir, name string, logger *slog.Logger) error {
	ctx := context.Background()
	repo, err := Checkout(ctx, Spec{URL: url}, workdir, WithLogger(logger))
	if err != nil {
		return err
	}
	_, err = Publish(ctx, repo, crashRewrite(name), nil)
	return err
}

// crashChild is the re-executed test binary's whole life (see TestMain).
func crashChild() int {
	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))
	if err := crashRun(os.Getenv(crashURLEnv), os.Getenv(crashWorkdirEnv), os.Getenv(crashCaseEnv), logger); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		return 1
	}
	return 0
}

// crashPoint is where a child is killed: at the when-th call of syscalls
// naming path (relative to the remote's git directory or the work
// directory). strace counts calls per thread, and Go moves goroutines
// between threads, so only when=1 is exact.
type crashPoint struct {
	name     string
	inRemote bool
	path     string
	syscalls string
	when     int
	warm     bool // the work directory holds a clone from an earlier run
}

func TestCrashConverges(t *testing.T) {
	strace, err := exec.LookPath("strace")
	if err != nil {
		t.Fatalf("strace is not installed (Debian package strace): run `make tools`: %v", err)
	}
	const writes = "write,pwrite64"
	points := []crashPoint{
		// The remote's ref update over file://.
		{name: "remote intent record", inRemote: true, path: refsLockName, syscalls: writes, when: 1},
		{name: "remote ref lock write", inRemote: true, path: "refs/heads/main.lock", syscalls: writes, when: 1},
		{name: "remote ref rename", inRemote: true, path: "refs/heads/main", syscalls: "rename,renameat,renameat2", when: 1},
		{name: "remote ref directory synced after rename", inRemote: true, path: "refs/heads", syscalls: "fsync", when: 1},
		// The work directory's git metadata, while cloning it fresh.
		{name: "fresh HEAD", path: workdirNew + "/.git/HEAD", syscalls: writes, when: 1},
		{name: "fresh config", path: workdirNew + "/.git/config", syscalls: writes, when: 1},
		{name: "fresh index", path: workdirNew + "/.git/index.uptick-tmp", syscalls: writes, when: 1},
		{name: "fresh index rename", path: workdirNew + "/.git/index", syscalls: "rename,renameat,renameat2", when: 1},
		{name: "fresh work tree file", path: workdirNew + "/clusters/prod/podinfo.yaml", syscalls: writes, when: 1},
		{name: "fresh index tree record", path: workdirNew + "/.git/" + indexTreeRecord + ".uptick-tmp", syscalls: writes, when: 1},
		{name: "fresh branch ref", path: workdirNew + "/.git/refs/heads/main", syscalls: writes, when: 1},
		{name: "fresh clone rename", path: workdirRepo, syscalls: "rename,renameat,renameat2", when: 1},
		// ... and while refreshing, committing and pushing in a warm one.
		{name: "warm HEAD", path: workdirRepo + "/.git/HEAD", syscalls: writes, when: 1, warm: true},
		{name: "warm index", path: workdirRepo + "/.git/index.uptick-tmp", syscalls: writes, when: 1, warm: true},
		{name: "warm index rename", path: workdirRepo + "/.git/index", syscalls: "rename,renameat,renameat2", when: 1, warm: true},
		{name: "warm index tree record", path: workdirRepo + "/.git/" + indexTreeRecord, syscalls: "rename,renameat,renameat2", when: 1, warm: true},
		{name: "warm branch ref", path: workdirRepo + "/.git/refs/heads/main", syscalls: writes, when: 1, warm: true},
		{name: "warm remote-tracking ref", path: workdirRepo + "/.git/refs/remotes/origin/main", syscalls: writes, when: 1, warm: true},
	}
	var figures struct{ tries, killed, survived, lost int }
	for _, p := range points {
		t.Run(p.name, func(t *testing.T) {
			figures.tries++
			bare := newBareRepo(t, t.TempDir(), "fleet", fixtureFiles())
			url := "file://" + bare
			workdir := filepath.Join(t.TempDir(), "work")
			if p.warm {
				if err := crashRun(url, workdir, "warm-up", slog.New(slog.DiscardHandler)); err != nil {
					t.Fatal(err)
				}
			}
			before := revParse(t, bare, "main")
			root := workdir
			if p.inRemote {
				root = bare
			}
			target := filepath.Join(root, filepath.FromSlash(p.path))

			var stderr bytes.Buffer
			cmd := exec.Command(strace, "-f", "-qq", "-o", "/dev/null",
				"-e", "trace="+p.syscalls, "-P", target,
				"-e", fmt.Sprintf("inject=%s:signal=KILL:when=%d", p.syscalls, p.when),
				os.Args[0], "-test.run=^$")
			cmd.Env = append(os.Environ(), crashChildEnv+"=1", crashURLEnv+"="+url, crashWorkdirEnv+"="+workdir, crashCaseEnv+"="+p.name)
			cmd.Stderr = &stderr
			err := cmd.Run()
			var ee *exec.ExitError
			if !errors.As(err, &ee) || !killed(ee) {
				t.Fatalf("the run was not killed at %s (%v):\n%s", p.path, err, stderr.String())
			}
			figures.killed++

			// Whatever the moment, the remote ref is whole: the old or the new value.
			after := strings.TrimSpace(gitRun(t, bare, nil, "rev-parse", "--verify", "refs/heads/main"))
			landed := after != before
			if landed && strings.TrimSpace(gitRun(t, bare, nil, "log", "-1", "--format=%s", "main")) != "crash "+p.name {
				t.Fatalf("remote main moved to %s, which is not the killed run's commit", after)
			}
			gitRun(t, bare, nil, "fsck", "--no-progress")

			_, err = os.Stat(filepath.Join(workdir, workdirNew))
			halfClone := err == nil
			// The next run uses or repairs the work directory and converges
			// on exactly one commit; the one after makes none.
			var logs bytes.Buffer
			logger := slog.New(slog.NewTextHandler(&logs, nil))
			if err := crashRun(url, workdir, p.name, logger); err != nil {
				figures.lost++
				t.Fatalf("the run after the crash failed: %v\n%s", err, logs.String())
			}
			if n := strings.Count(gitRun(t, bare, nil, "log", "--format=%s", "main"), "crash "+p.name+"\n"); n != 1 {
				figures.lost++
				t.Fatalf("the change is on the remote %d times after the next run, want once", n)
			}
			tip := revParse(t, bare, "main")
			if err := crashRun(url, workdir, p.name, logger); err != nil {
				t.Fatalf("the third run failed: %v", err)
			}
			if got := revParse(t, bare, "main"); got != tip {
				t.Errorf("the third run made another commit %s", got)
			}
			if got := gitRun(t, bare, nil, "show", "main:crash.txt"); got != p.name+"\n" {
				t.Errorf("crash.txt = %q", got)
			}
			if n := gitRun(t, bare, nil, "rev-list", "--merges", "main"); n != "" {
				t.Errorf("merges on main: %s", n)
			}
			if locks, _ := filepath.Glob(filepath.Join(bare, "refs/heads/*.lock")); len(locks) > 0 {
				t.Errorf("ref locks left on the remote: %v", locks)
			}
			figures.survived++
			next := "reused the work directory"
			switch {
			case strings.Contains(logs.String(), "cloning it again"):
				next = "re-cloned the damaged work directory"
			case halfClone:
				next = "removed the half clone and cloned again"
			}
			t.Logf("killed at %s: remote ref %s; next run %s", p.path,
				map[bool]string{true: "already had the change", false: "unchanged"}[landed], next)
		})
	}
	t.Logf("crash figures: %d tries, %d killed, %d survived, %d lost", figures.tries, figures.killed, figures.survived, figures.lost)
}

// killed reports whether the process died of SIGKILL.
func killed(ee *exec.ExitError) bool {
	ws, ok := ee.Sys().(syscall.WaitStatus)
	if ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL {
		return true
	}
	// strace exits with the tracee's signal number + 128 when it was killed.
	return ee.ExitCode() == 128+int(syscall.SIGKILL)
}
