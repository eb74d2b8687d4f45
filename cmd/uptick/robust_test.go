package main

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/uptick-gitops/uptick/gitops"
)

// TestRunTimeout: a registry that accepts connections but never answers
// must not hold a pass forever; --timeout ends it, naming the cause.
func TestRunTimeout(t *testing.T) {
	f := newFleet(t, "")
	hung := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done()
	}))
	t.Cleanup(hung.Close)
	cfg, err := os.ReadFile(f.config)
	if err != nil {
		t.Fatal(err)
	}
	host := strings.TrimPrefix(hung.URL, "http://")
	cfg = append(cfg, fmt.Sprintf("  - {name: stuck, repository: %s/stuck/app, policy: {semver: {range: '*'}}}\n", host)...)
	if err := os.WriteFile(f.config, cfg, 0o644); err != nil {
		t.Fatal(err)
	}
	f.addInsecure(host)
	for _, args := range [][]string{
		{"run", "--config", f.config, "--timeout", "1s"},
		{"scan", "--config", f.config, "--timeout", "1s"},
	} {
		t.Run(args[0], func(t *testing.T) {
			res := f.uptick(args...)
			if res.code != exitFailed || !strings.Contains(res.stdout+res.stderr, "pass timed out after 1s (--timeout)") || !strings.Contains(res.stdout, "image stuck") {
				t.Errorf("exit %d, want %d and the timeout named:\nstdout:\n%s\nstderr:\n%s", res.code, exitFailed, res.stdout, res.stderr)
			}
		})
	}
}

// TestWorkdirLock: a second run on a --workdir in use fails at once and
// names the holder, instead of resetting the first run's work tree.
func TestWorkdirLock(t *testing.T) {
	f := newFleet(t, "")
	work := filepath.Join(f.dir, "cache", "fleet")
	unlock, err := gitops.LockWorkdir(work)
	if err != nil {
		t.Fatal(err)
	}
	res := f.uptick("run", "--config", f.config, "--workdir", work)
	want := fmt.Sprintf("%s: work directory is in use by another uptick run (pid %d)", work, os.Getpid())
	if res.code != exitFailed || !strings.Contains(res.stdout, want) {
		t.Errorf("while locked: exit %d, want %d and %q:\n%s", res.code, exitFailed, want, res.stdout)
	}
	unlock()
	if res := f.uptick("run", "--config", f.config, "--workdir", work); res.code != 0 {
		t.Errorf("after unlock: exit %d\n%s", res.code, res.stdout)
	}
	// Nothing is written beside the work directory: only it must be writable.
	if entries, _ := os.ReadDir(filepath.Dir(work)); len(entries) != 1 {
		t.Errorf("the work directory's parent holds %d entries, want only the work directory", len(entries))
	}
}
