package update

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
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
)

// crashImages is what the child applies: every policy of the fleet at 2.0.0.
func crashImages(f *fleet.Fleet) map[PolicyRef]Image {
	return fleetImages(f, "2.0.0")
}

var crashSpec = fleet.Spec{Files: 300, Marked: 120, Seed: 11, Images: 4}

func crashChild() int {
	images := fleetImages(&fleet.Fleet{Images: crashSpec.ImageList()}, "2.0.0")
	res, err := Apply(context.Background(), os.Getenv(crashDirEnv), nil, images)
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
	points := []struct {
		syscalls string
		when     int
	}{
		// strace counts per thread: the writes are spread over two
		// workers, the syncs over syncWorkers threads, the renames over
		// renameWorkers.
		{"write", 1}, {"write", 3}, {"write", 20}, {"write", 40},
		{"fdatasync", 1}, {"fdatasync", 2}, {"fdatasync", 3},
		{"close", 60}, {"close", 100},
		{renames, 1}, {renames, 3}, {renames, 8}, {renames, 12},
	}
	var figures struct{ tries, killed, survived, lost, asNew, leftovers int }
	for _, p := range points {
		t.Run(fmt.Sprintf("%s#%d", strings.Split(p.syscalls, ",")[0], p.when), func(t *testing.T) {
			figures.tries++
			dir := t.TempDir()
			writeTree(t, dir, old)
			var stderr bytes.Buffer
			cmd := exec.Command(strace, "-f", "-qq", "-o", "/dev/null",
				"-e", "trace="+p.syscalls,
				"-e", fmt.Sprintf("inject=%s:signal=KILL:when=%d", p.syscalls, p.when),
				os.Args[0], "-test.run=^$")
			cmd.Env = append(os.Environ(), crashChildEnv+"=1", crashDirEnv+"="+dir)
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
			if p.syscalls != renames && renamed > 0 {
				t.Errorf("%d files renamed before every new content was synced", renamed)
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
	if figures.killed < len(points)*3/4 {
		t.Errorf("only %d of %d crash points were reached", figures.killed, len(points))
	}
	t.Logf("crash figures: %d tries, %d killed, %d survived, %d lost (files already new: %d, temp files left: %d)",
		figures.tries, figures.killed, figures.survived, figures.lost, figures.asNew, figures.leftovers)
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
