package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
)

// writeSyscalls are the syscalls that change a file's content or put a
// file in place: in-place writes, and the rename a temp-file-plus-rename
// writer ends with. A kill "at the first write" to a path is a kill at
// the first of these that touches it, before it runs.
const writeSyscalls = "write,pwrite64,writev,rename,renameat,renameat2"

// gitMetadata are the git files of a --workdir whose first write
// TestCrashSafety kills uptick at, relative to the git directory.
var gitMetadata = []string{"HEAD", "config", "index", "refs/heads/main", "packed-refs"}

// crashTally counts TestCrashSafety's kills; subtests run one at a time.
type crashTally struct{ tries, survived, lost int }

// TestCrashSafety kills uptick with SIGKILL, injected by strace, at the
// first write to each git metadata file of a fresh and of a warm --workdir
// and at the first write to the remote's branch ref during a file:// push.
// After every kill the next run must converge on exactly one correct
// commit on the remote, and a third run must make none.
//
// Where the workdir keeps its git files is not part of the CLI's contract
// (the clone may move into a subdirectory of --workdir), so the kill
// points are discovered: one run per scenario under strace lists every
// path written below the workdir, and each metadata file is matched by
// its suffix ".git/NAME" there. A file the product never writes in place
// at a stable path is not a kill point; the test says so in its log.
func TestCrashSafety(t *testing.T) {
	if _, err := exec.LookPath("strace"); err != nil {
		t.Fatalf("strace is not installed (Debian package strace): run `make tools`: %v", err)
	}
	var tally crashTally
	for _, warm := range []bool{false, true} {
		scenario := "fresh"
		if warm {
			scenario = "warm"
		}
		written := discoverWrites(t, warm)
		t.Logf("%s workdir: uptick wrote %d paths below --workdir: %s", scenario, len(written), strings.Join(written, " "))
		reached := 0
		for _, name := range gitMetadata {
			var targets []string
			for _, p := range written {
				if p == ".git/"+name || strings.HasSuffix(p, "/.git/"+name) {
					targets = append(targets, p)
				}
			}
			t.Run(scenario+" workdir .git/"+name, func(t *testing.T) {
				if len(targets) == 0 {
					t.Logf("not a kill point: a %s run writes no .git/%s below --workdir", scenario, name)
					return
				}
				if crashAndConverge(t, &tally, warm, func(f *fleet, work string) []string {
					var abs []string
					for _, p := range targets {
						abs = append(abs, filepath.Join(work, p))
					}
					return abs
				}) {
					reached++
				}
			})
		}
		if warm && reached == 0 {
			t.Errorf("no kill point was reached in a warm workdir: the discovery found none of %v among %v", gitMetadata, written)
		}
		// The remote's ref moves the way git moves it: the new value is
		// written to refs/heads/main.lock, then renamed over the ref.
		// Kill at the lock's write and at the rename onto the ref.
		for _, point := range []struct{ name, file string }{
			{"lock write", "refs/heads/main.lock"},
			{"rename onto the ref", "refs/heads/main"},
		} {
			t.Run(scenario+" workdir, remote ref of a file:// push, "+point.name, func(t *testing.T) {
				if !crashAndConverge(t, &tally, warm, func(f *fleet, _ string) []string {
					return []string{filepath.Join(f.bare, filepath.FromSlash(point.file)), filepath.Join(f.bare, "packed-refs")}
				}) {
					t.Errorf("the push never wrote the remote's %s or packed-refs: the kill point was not reached", point.file)
				}
			})
		}
	}
	t.Logf("crash safety: %d kills, %d converged (one correct commit, then none), %d did not", tally.tries, tally.survived, tally.lost)
}

// prepareCrash seeds a fleet with one app and, for a warm workdir, does a
// first normal run into it. It then pushes the tag the next run must
// bring to the remote and returns the config, the workdir and that tag.
func prepareCrash(t *testing.T, warm bool) (f *fleet, config, work, tag string) {
	t.Helper()
	f = newFleet(t, 1)
	config = f.writeConfig("uptick.yaml", configSpec{})
	work = filepath.Join(f.dir, "work")
	if warm {
		f.pushTag(0, "1.0.1")
		if res := uptick(t, nil, "run", "--config", config, "--workdir", work); res.code != 0 {
			t.Fatalf("preparing a warm workdir:\n%s", res)
		}
	}
	tag = "1.0.2"
	f.pushTag(0, tag)
	return f, config, work, tag
}

// crashAndConverge kills a run at the first write to any of the paths
// targets returns, then checks that the next run converges and a third
// does nothing. It reports whether the kill point was reached.
func crashAndConverge(t *testing.T, tally *crashTally, warm bool, targets func(f *fleet, work string) []string) bool {
	t.Helper()
	f, config, work, tag := prepareCrash(t, warm)
	base := f.git("rev-parse", "main")
	paths := targets(f, work)

	log := filepath.Join(f.dir, "strace.log")
	wrap := []string{"strace", "-f", "-q", "-y", "-s", "24", "-o", log}
	for _, p := range paths {
		wrap = append(wrap, "-P", p)
	}
	wrap = append(wrap, "-e", "trace="+writeSyscalls, "-e", "inject="+writeSyscalls+":signal=KILL:when=1")
	killed := runWrapped(t, nil, wrap, "run", "--config", config, "--workdir", work)
	if killed.signal != syscall.SIGKILL {
		t.Logf("not a kill point: the run never wrote %s (%s)", strings.Join(paths, " or "), strings.SplitN(killed.String(), "\n", 2)[0])
		return false
	}
	trace, _ := os.ReadFile(log)
	t.Logf("killed at %s", killedAt(string(trace)))
	tally.tries++

	ok := true
	second := uptick(t, nil, "run", "--config", config, "--workdir", work)
	if second.code != 0 {
		t.Errorf("the run after the kill failed:\n%s", second)
		ok = false
	} else if n := f.newCommits(base); n != 1 {
		t.Errorf("after the kill and one more run the remote has %d new commits, want exactly 1:\n%s", n, second)
		ok = false
	} else if got := f.tagOnRemote(0); got != tag {
		t.Errorf("after the kill and one more run the remote has app0 at %s, want %s:\n%s", got, tag, second)
		ok = false
	} else if out, err := gitCLIErr("", "--git-dir", f.bare, "fsck", "--connectivity-only", "--no-dangling"); err != nil {
		t.Errorf("the remote is damaged: git fsck: %v\n%s", err, out)
		ok = false
	} else {
		third := uptick(t, nil, "run", "--config", config, "--workdir", work)
		if third.code != 0 || f.newCommits(base) != 1 {
			t.Errorf("a third run made a commit or failed (remote now %d commits past the base):\n%s", f.newCommits(base), third)
			ok = false
		}
	}
	if ok {
		tally.survived++
	} else {
		tally.lost++
	}
	return true
}

// killedAt returns the syscall an strace log shows the kill injected at.
func killedAt(trace string) string {
	for _, line := range strings.Split(trace, "\n") {
		if _, call, ok := strings.Cut(line, " "); ok && !strings.HasPrefix(call, "---") && !strings.HasPrefix(call, "+++") && !strings.HasPrefix(call, "<...") {
			return strings.TrimSpace(call)
		}
	}
	return "(no syscall in the strace log)"
}

// discoverWrites runs one pass like the kill runs of a scenario, under
// strace, and returns every path below --workdir that a write or rename
// touched, relative to the workdir, in the order first touched.
func discoverWrites(t *testing.T, warm bool) []string {
	t.Helper()
	f, config, work, _ := prepareCrash(t, warm)
	log := filepath.Join(f.dir, "discover.log")
	wrap := []string{"strace", "-f", "-qq", "-y", "-s", "0", "-o", log, "-e", "trace=" + writeSyscalls}
	if res := runWrapped(t, nil, wrap, "run", "--config", config, "--workdir", work); res.code != 0 {
		t.Fatalf("discovery run under strace:\n%s", res)
	}
	trace, err := os.ReadFile(log)
	if err != nil {
		t.Fatal(err)
	}
	var written []string
	for _, p := range writtenPaths(string(trace)) {
		rel, err := filepath.Rel(work, p)
		if err != nil || rel == "." || strings.HasPrefix(rel, "..") || slices.Contains(written, rel) {
			continue
		}
		written = append(written, rel)
	}
	return written
}

var (
	// fdWrite is a write to a descriptor that strace -y annotated with
	// its path: `write(8</w/.git/HEAD>, ...`.
	fdWrite = regexp.MustCompile(`\b(?:write|pwrite64|writev)\(\d+<([^>]*)>`)
	// atPath is a (dirfd, name) argument pair of renameat and
	// renameat2: `AT_FDCWD</cwd>, "/abs"` or `12</dir>, "rel"`.
	atPath = regexp.MustCompile(`\d*\w*<([^>]*)>, "([^"]*)"`)
	// plainRename is rename(2): `rename("/old", "/new")`.
	plainRename = regexp.MustCompile(`\brename\("([^"]*)", "([^"]*)"`)
)

// writtenPaths lists the absolute paths an strace -y log shows written or
// renamed from or to.
func writtenPaths(trace string) []string {
	var paths []string
	for _, line := range strings.Split(trace, "\n") {
		if m := fdWrite.FindStringSubmatch(line); m != nil {
			paths = append(paths, m[1])
			continue
		}
		if strings.Contains(line, "renameat") {
			for _, m := range atPath.FindAllStringSubmatch(line, 2) {
				if filepath.IsAbs(m[2]) {
					paths = append(paths, m[2])
				} else {
					paths = append(paths, filepath.Join(m[1], m[2]))
				}
			}
			continue
		}
		if m := plainRename.FindStringSubmatch(line); m != nil {
			paths = append(paths, m[1], m[2])
		}
	}
	return paths
}
