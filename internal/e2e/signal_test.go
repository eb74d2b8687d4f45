package e2e

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// hungRegistry accepts every request and never answers it. requests
// receives one value per request, without blocking.
func hungRegistry(t *testing.T) (host string, requests <-chan struct{}) {
	t.Helper()
	ch := make(chan struct{}, 64)
	stop := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case ch <- struct{}{}:
		default:
		}
		select {
		case <-r.Context().Done():
		case <-stop:
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(stop) }) // runs first: handlers return, Close can finish
	return strings.TrimPrefix(srv.URL, "http://"), ch
}

// leftovers lists the entries of tmp uptick made (uptick-*).
func leftovers(t *testing.T, tmp string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(tmp, "uptick-*"))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestSignals sends SIGTERM or SIGINT to uptick while a one-shot run or a
// pass of `run --schedule` is blocked on a registry that never answers,
// and between scheduled passes. Every case exits 3 (interrupted) and
// leaves no temporary clone in TMPDIR.
func TestSignals(t *testing.T) {
	tests := []struct {
		name     string
		schedule string // "" for a one-shot run
		hung     bool   // the pass blocks on a registry that never answers
		sig      syscall.Signal
	}{
		{"one-shot run blocked on a registry, SIGTERM", "", true, syscall.SIGTERM},
		{"one-shot run blocked on a registry, SIGINT", "", true, syscall.SIGINT},
		{"scheduled pass blocked on a registry, SIGTERM", "@every 1s", true, syscall.SIGTERM},
		{"scheduled pass blocked on a registry, SIGINT", "@every 1s", true, syscall.SIGINT},
		{"schedule between passes, SIGTERM", "@every 1s", false, syscall.SIGTERM},
		{"schedule between passes, SIGINT", "@every 1s", false, syscall.SIGINT},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFleet(t, 1)
			f.pushTag(0, "1.0.1")
			spec := configSpec{}
			var requests <-chan struct{}
			if tt.hung {
				var host string
				host, requests = hungRegistry(t)
				spec.images = []string{fmt.Sprintf("{name: stuck, repository: %s/stuck/app, policy: {semver: {range: '*'}}}", host)}
				spec.hosts = []string{host}
			}
			cfg := f.writeConfig("uptick.yaml", spec)
			tmp := t.TempDir()
			args := []string{"run", "--config", cfg}
			if tt.schedule != "" {
				args = append(args, "--schedule", tt.schedule)
			}

			ctx, cancel := context.WithTimeout(context.Background(), procTimeout)
			defer cancel()
			cmd := command(ctx, []string{"TMPDIR=" + tmp}, nil, args...)
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			start := time.Now()
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			res := func(err error) result {
				r := result{args: args, stdout: stdout.String(), stderr: stderr.String(), took: time.Since(start)}
				r.code, r.signal = exitStatus(cmd, err)
				return r
			}

			// Wait for the moment to interrupt: the pass blocked on the
			// registry, or a finished pass (its commit on the remote).
			deadline := time.After(time.Minute)
			if tt.hung {
				select {
				case <-requests:
				case err := <-done:
					t.Fatalf("uptick ended before it reached the registry:\n%s", res(err))
				case <-deadline:
					t.Fatalf("no request reached the hung registry within a minute")
				}
				time.Sleep(200 * time.Millisecond) // let the pass settle into waiting
			} else {
				for f.git("rev-parse", "main") == f.seed {
					select {
					case err := <-done:
						t.Fatalf("uptick ended before a pass pushed:\n%s", res(err))
					case <-deadline:
						t.Fatalf("no scheduled pass pushed within a minute")
					case <-time.After(50 * time.Millisecond):
					}
				}
			}
			if err := cmd.Process.Signal(tt.sig); err != nil {
				t.Fatal(err)
			}
			sent := time.Now()
			var r result
			select {
			case err := <-done:
				r = res(err)
			case <-time.After(30 * time.Second):
				_ = cmd.Process.Kill()
				t.Fatalf("uptick still running 30s after %s:\n%s", tt.sig, res(<-done))
			}
			t.Logf("exited %s after %s", strings.SplitN(r.String(), "\n", 2)[0], time.Since(sent).Round(time.Millisecond))
			if r.code != 3 {
				t.Errorf("exit %d after %s, want 3 (interrupted):\n%s", r.code, tt.sig, r)
			}
			if left := leftovers(t, tmp); len(left) > 0 {
				t.Errorf("temporary clones left behind: %v", left)
			}
		})
	}
}

// TestBrokenStdoutPipe runs uptick with stdout (and, as with `2>&1`, the
// log) a pipe whose reader goes away, as in `uptick plan | head -1`: the
// write that finds the pipe closed raises SIGPIPE. Whatever that does to
// the process, no temporary clone may be left in TMPDIR.
func TestBrokenStdoutPipe(t *testing.T) {
	tests := []struct {
		name   string
		cmd    string
		lines  int  // lines read before the reader closes; 0: closed at once
		stderr bool // the log goes to the pipe too (2>&1)
	}{
		{"plan, reader closed at once", "plan", 0, false},
		{"plan | head -1", "plan", 1, false},
		{"plan 2>&1, reader closed at once", "plan", 0, true},
		{"plan 2>&1 | head -1", "plan", 1, true},
		{"run, reader closed at once", "run", 0, false},
		{"run | head -1", "run", 1, false},
		{"run 2>&1 | head -1", "run", 1, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFleet(t, 1)
			f.pushTag(0, "1.0.1")
			cfg := f.writeConfig("uptick.yaml", configSpec{})
			tmp := t.TempDir()
			pr, pw, err := os.Pipe()
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), procTimeout)
			defer cancel()
			cmd := command(ctx, []string{"TMPDIR=" + tmp}, nil, tt.cmd, "--config", cfg)
			var stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = pw, &stderr
			if tt.stderr {
				cmd.Stderr = pw
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			pw.Close() // the child holds the only write end now
			var read []string
			if tt.lines > 0 {
				sc := bufio.NewScanner(pr)
				for len(read) < tt.lines && sc.Scan() {
					read = append(read, sc.Text())
				}
			}
			pr.Close()
			err = cmd.Wait()
			code, sig := exitStatus(cmd, err)
			t.Logf("read %q; uptick exit %d, signal %v", read, code, sig)
			if ctx.Err() != nil {
				t.Fatalf("uptick did not end:\n%s", stderr.String())
			}
			if left := leftovers(t, tmp); len(left) > 0 {
				t.Errorf("temporary clones left behind: %v\nstderr:\n%s", left, stderr.String())
			}
			_, _ = io.Copy(io.Discard, pr)
		})
	}
}
