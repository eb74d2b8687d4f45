package update

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/uptick-gitops/uptick/internal/fleet"
)

// Crash tests kill a real process with SIGKILL in the middle of the write
// phase, at a chosen system call, with strace's fault injection: this test
// binary re-executed as a child that runs one Apply over a generated
// fleet. Afterwards every file must be whole: byte for byte its old
// content or its new one.

const (
	crashChildEnv = "UPDATE_CRASH_CHILD"
	crashDirEnv   = "UPDATE_CRASH_DIR"
	crashSyncEnv  = "UPDATE_CRASH_SYNC" // the child's syncMode, as a number
)

// syncSchemes are the ways temporary files are made durable; the crash
// and order tests run the child under each. busyAtFlush is the
// whole-file-system scheme chosen on a quiet machine that is busy by the
// time of the sync: the staged files are then synced one by one.
const busyAtFlush syncMode = 99

var syncSchemes = []struct {
	name string
	mode syncMode
}{{"per-file", syncPerFile}, {"whole-fs", syncWholeFS}, {"busy-at-flush", busyAtFlush}}

// busyAtFlushOption makes the machine look quiet when a pass starts and
// busy at every batch's sync.
func busyAtFlushOption(o *options) error {
	o.sync = syncAuto
	asked := 0
	o.quiet = func(int64) bool {
		asked++
		return asked == 1
	}
	return nil
}

// crashImages is what the child applies: every policy of the fleet at 2.0.0.
func crashImages(f *fleet.Fleet) map[PolicyRef]Image {
	return fleetImages(f, "2.0.0")
}

var crashSpec = fleet.Spec{Files: 300, Marked: 120, Seed: 11, Images: 4}

func crashChild() int {
	images := fleetImages(&fleet.Fleet{Images: crashSpec.ImageList()}, "2.0.0")
	mode, err := strconv.Atoi(os.Getenv(crashSyncEnv))
	if err != nil {
		fmt.Fprintln(os.Stderr, "error: no sync scheme:", err)
		return 1
	}
	opt := withSync(syncMode(mode))
	if syncMode(mode) == busyAtFlush {
		opt = busyAtFlushOption
	}
	// Batches of 50 of the 120 files: two are committed while the walk
	// goes on, the last one after it.
	batch := func(o *options) error {
		o.batch = 50
		return nil
	}
	res, err := Apply(context.Background(), os.Getenv(crashDirEnv), nil, images, opt, batch)
	if err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		return 1
	}
	if err := res.Err(); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		return 1
	}
	return 0
}

func TestCrashLeavesFilesWhole(t *testing.T) {
	strace, err := exec.LookPath("strace")
	if err != nil {
		t.Fatalf("strace is not installed (Debian package strace): run `make tools`: %v", err)
	}
	gen := t.TempDir()
	f, err := fleet.Generate(gen, crashSpec)
	if err != nil {
		t.Fatal(err)
	}
	old := readTree(t, gen)
	// The new content of every marked file, from a dry run.
	want, err := Apply(context.Background(), gen, nil, crashImages(f), WithDryRun(true))
	if err != nil || len(want.Files) != len(f.Marked) {
		t.Fatalf("dry run: %v, %d files", err, len(want.Files))
	}
	newContent := map[string]string{}
	for _, fc := range want.Files {
		newContent[fc.Path] = string(fc.After)
	}

	const renames = "rename,renameat,renameat2"
	type point struct {
		syscalls string
		when     int
	}
	// strace counts per thread: the writes are spread over two workers,
	// the syncs and renames over ioWorkers.
	common := []point{
		{"write", 1}, {"write", 3}, {"write", 20}, {"write", 40},
		{"close", 60}, {"close", 100},
		{renames, 1}, {renames, 3}, {renames, 8}, {renames, 12},
	}
	points := map[syncMode][]point{
		syncPerFile: append([]point{{"fdatasync", 1}, {"fdatasync", 2}, {"fdatasync", 3}}, common...),
		syncWholeFS: append([]point{{"syncfs", 1}}, common...),
		busyAtFlush: append([]point{{"fdatasync", 1}, {"fdatasync", 5}}, common[6:]...),
	}
	var figures struct{ tries, killed, survived, lost, asNew, leftovers int }
	reached := 0
	for _, scheme := range syncSchemes {
		for _, p := range points[scheme.mode] {
			reached++
			t.Run(fmt.Sprintf("%s/%s#%d", scheme.name, strings.Split(p.syscalls, ",")[0], p.when), func(t *testing.T) {
				figures.tries++
				dir := t.TempDir()
				writeTree(t, dir, old)
				var stderr bytes.Buffer
				cmd := exec.Command(strace, "-f", "-qq", "-o", "/dev/null",
					"-e", "trace="+p.syscalls,
					"-e", fmt.Sprintf("inject=%s:signal=KILL:when=%d", p.syscalls, p.when),
					os.Args[0], "-test.run=^$")
				cmd.Env = append(os.Environ(), crashChildEnv+"=1", crashDirEnv+"="+dir, fmt.Sprintf("%s=%d", crashSyncEnv, scheme.mode))
				cmd.Stderr = &stderr
				err := cmd.Run()
				var ee *exec.ExitError
				if err == nil && p.when > 3 {
					// Go spread the calls over more threads than usual: no
					// thread made that many. Not a failure of the writer.
					t.Logf("no thread reached %s #%d: not killed", p.syscalls, p.when)
					return
				}
				if !errors.As(err, &ee) || !killedBySIGKILL(ee) {
					t.Fatalf("the child was not killed at %s #%d (%v):\n%s", p.syscalls, p.when, err, stderr.String())
				}
				figures.killed++
				got := readTree(t, dir)
				renamed, temps := 0, 0
				for path, content := range got {
					base := filepath.Base(path)
					if strings.HasPrefix(base, ".") && strings.Contains(base, ".uptick-") && strings.HasSuffix(base, ".tmp") {
						temps++
						continue
					}
					switch {
					case content == old[path]:
					case content == newContent[path]:
						renamed++
					default:
						figures.lost++
						t.Fatalf("%s is torn after the kill: neither its old nor its new content:\n%q", path, content)
					}
				}
				for path := range old {
					if _, ok := got[path]; !ok {
						figures.lost++
						t.Fatalf("%s is gone after the kill", path)
					}
				}
				// The next run finishes the job; the leftovers are only temp files.
				if res, err := Apply(context.Background(), dir, nil, crashImages(f)); err != nil || res.Err() != nil {
					t.Fatalf("the run after the crash: %v %v", err, res.Err())
				}
				for path, content := range readTree(t, dir) {
					if w, ok := newContent[path]; ok && content != w {
						t.Errorf("%s not updated by the next run", path)
					}
				}
				figures.survived++
				figures.asNew += renamed
				figures.leftovers += temps
				t.Logf("killed at %s #%d: %d of %d files new, %d temporary files left", p.syscalls, p.when, renamed, len(newContent), temps)
			})
		}
	}
	if figures.killed < reached*3/4 {
		t.Errorf("only %d of %d crash points were reached", figures.killed, reached)
	}
	t.Logf("crash figures: %d tries, %d killed, %d survived, %d lost (files already new: %d, temp files left: %d)",
		figures.tries, figures.killed, figures.survived, figures.lost, figures.asNew, figures.leftovers)
}

// TestWritesSyncBeforeRename traces a real run's system calls, under each
// scheme, and checks the order that makes a crash of the machine (not
// only of the process) safe: every temporary file is synced after its
// last write, by an fdatasync of its own or a syncfs, and the sync has
// returned before the rename that puts it in place.
func TestWritesSyncBeforeRename(t *testing.T) {
	strace, err := exec.LookPath("strace")
	if err != nil {
		t.Fatalf("strace is not installed (Debian package strace): run `make tools`: %v", err)
	}
	for _, scheme := range syncSchemes {
		t.Run(scheme.name, func(t *testing.T) {
			dir := t.TempDir()
			if _, err := fleet.Generate(dir, crashSpec); err != nil {
				t.Fatal(err)
			}
			log := filepath.Join(t.TempDir(), "strace.log")
			cmd := exec.Command(strace, "-f", "-qq", "-ttt", "-T", "-o", log,
				"-e", "trace=openat,write,fdatasync,fsync,syncfs,close,rename,renameat,renameat2", os.Args[0], "-test.run=^$")
			cmd.Env = append(os.Environ(), crashChildEnv+"=1", crashDirEnv+"="+dir, fmt.Sprintf("%s=%d", crashSyncEnv, scheme.mode))
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("traced run: %v\n%s", err, out)
			}
			b, err := os.ReadFile(log)
			if err != nil {
				t.Fatal(err)
			}
			checkSyncBeforeRename(t, parseStrace(t, string(b)))
		})
	}
}

// checkSyncBeforeRename checks the order of one traced run's calls.
func checkSyncBeforeRename(t *testing.T, calls []call) {
	t.Helper()
	// An open takes effect when it returns (the descriptor it gets may be
	// closed by another thread while it runs), every other call when it
	// starts.
	at := func(c call) float64 {
		if c.name == "openat" {
			return c.exit
		}
		return c.entry
	}
	slices.SortStableFunc(calls, func(a, b call) int { return cmp.Compare(at(a), at(b)) })
	open := map[string]string{}     // fd → temporary file open on it
	written := map[string]float64{} // temporary file → when its last write returned
	synced := map[string]float64{}  // temporary file → when a sync after that write returned
	syncs := map[string]int{}       // per call kind
	renamed := 0
	tmpRE := regexp.MustCompile(`"(\.[^"]*\.uptick-[0-9a-z]+\.tmp)"`)
	for _, c := range calls {
		switch c.name {
		case "openat":
			if m := tmpRE.FindStringSubmatch(c.args); m != nil && c.ret != "" && c.ret[0] != '-' {
				open[c.ret] = m[1]
			}
		case "write":
			fd, _, _ := strings.Cut(c.args, ",")
			if name, ok := open[fd]; ok {
				written[name] = c.exit
				delete(synced, name)
			}
		case "fdatasync", "fsync":
			if name, ok := open[c.args]; ok && c.ret == "0" {
				synced[name] = c.exit
				syncs[c.name]++
			}
		case "syncfs":
			if c.ret != "0" {
				continue
			}
			syncs[c.name]++
			// Every temporary file written before the sync started.
			for _, name := range open {
				if w, ok := written[name]; ok && w < c.entry {
					synced[name] = c.exit
				}
			}
		case "close":
			delete(open, c.args)
		case "rename", "renameat", "renameat2":
			m := tmpRE.FindStringSubmatch(c.args)
			if m == nil {
				continue
			}
			renamed++
			when, ok := synced[m[1]]
			if !ok || when > c.entry {
				t.Errorf("%s renamed at %.6f before a sync after its last write returned (synced: %v at %.6f)", m[1], c.entry, ok, when)
			}
		}
	}
	if renamed != crashSpec.Marked {
		t.Errorf("%d temporary files renamed, want %d", renamed, crashSpec.Marked)
	}
	t.Logf("%d renames, each after its file was synced (syncs: %v)", renamed, syncs)
}

// call is one system call from strace -f -ttt -T output.
type call struct {
	name, args, ret string
	entry, exit     float64
}

// parseStrace joins "<unfinished ...>" and "<... resumed>" halves per
// thread and returns each call with its entry and exit times.
func parseStrace(t *testing.T, log string) []call {
	t.Helper()
	lineRE := regexp.MustCompile(`^(\d+)\s+(\d+\.\d+) (.*)$`)
	doneRE := regexp.MustCompile(`^(\w+)\((.*)\) += (-?\w+)(?: [A-Z].*)? <(\d+\.\d+)>$`)
	resumedRE := regexp.MustCompile(`^<\.\.\. (\w+) resumed>(.*)$`)
	type half struct {
		ts   float64
		text string
	}
	pending := map[string]half{}
	var out []call
	for _, line := range strings.Split(log, "\n") {
		m := lineRE.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		pid, rest := m[1], m[3]
		ts, _ := strconv.ParseFloat(m[2], 64)
		entry := ts
		if text, ok := strings.CutSuffix(rest, " <unfinished ...>"); ok {
			pending[pid] = half{ts, text}
			continue
		}
		if r := resumedRE.FindStringSubmatch(rest); r != nil {
			h, ok := pending[pid]
			if !ok {
				continue
			}
			delete(pending, pid)
			rest, entry = h.text+r[2], h.ts
		}
		d := doneRE.FindStringSubmatch(rest)
		if d == nil {
			continue // a signal, an exit, a call strace could not finish
		}
		dur, _ := strconv.ParseFloat(d[4], 64)
		out = append(out, call{name: d[1], args: d[2], ret: d[3], entry: entry, exit: max(ts, entry+dur)})
	}
	return out
}

// killedBySIGKILL reports whether the process died of SIGKILL.
func killedBySIGKILL(ee *exec.ExitError) bool {
	ws, ok := ee.Sys().(syscall.WaitStatus)
	if ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL {
		return true
	}
	// strace exits with the tracee's signal number + 128 when it was killed.
	return ee.ExitCode() == 128+int(syscall.SIGKILL)
}
