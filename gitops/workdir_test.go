package gitops

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestWorkdirRepair damages one piece of git metadata of a warm work
// directory the way a killed run can (go-git rewrites these files in
// place), or leaves what a run killed while cloning leaves. The next
// Checkout must repair it (re-clone with a warning, or remove the
// leftover) and give a clean checkout that commits and pushes.
func TestWorkdirRepair(t *testing.T) {
	truncate := func(name string, keep float64) func(t *testing.T, repo string) {
		return func(t *testing.T, repo string) {
			p := filepath.Join(repo, ".git", name)
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, b[:int(float64(len(b))*keep)], 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	write := func(name, content string) func(t *testing.T, repo string) {
		return func(t *testing.T, repo string) {
			writeFiles(t, filepath.Join(repo, ".git"), map[string]string{name: content})
		}
	}
	tests := []struct {
		name        string
		damage      func(t *testing.T, repo string)
		wantReclone bool
	}{
		{"empty HEAD", truncate("HEAD", 0), true},
		{"garbage HEAD", write("HEAD", "ref: refs/heads/ma"), true},
		{"empty config", truncate("config", 0), true},
		{"torn config", truncate("config", 0.6), true},
		{"config naming another remote", func(t *testing.T, repo string) {
			gitRun(t, repo, nil, "remote", "set-url", "origin", "/somewhere/else.git")
		}, true},
		{"empty index", truncate("index", 0), true},
		{"torn index", truncate("index", 0.5), true},
		{"empty branch ref", truncate("refs/heads/main", 0), true},
		{"torn remote-tracking ref", truncate("refs/remotes/origin/main", 0.5), true},
		{"ref naming a missing object", write("refs/heads/main", strings.Repeat("ab", 20)+"\n"), true},
		{"malformed packed-refs", write("packed-refs", "not a packed ref\n"), true},
		{"half clone left by a killed first run", func(t *testing.T, repo string) {
			writeFiles(t, filepath.Join(filepath.Dir(repo), workdirNew), map[string]string{".git/HEAD": "", "README.md": "half\n"})
		}, false},
		{"damaged clone being removed", func(t *testing.T, repo string) {
			writeFiles(t, filepath.Join(filepath.Dir(repo), workdirOld), map[string]string{".git/HEAD": "x"})
		}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFleet(t)
			ctx := context.Background()
			workdir := filepath.Join(t.TempDir(), "work")
			r, err := Checkout(ctx, Spec{URL: f.bare}, workdir)
			if err != nil {
				t.Fatal(err)
			}
			tt.damage(t, r.Dir())

			var logs bytes.Buffer
			r2, err := Checkout(ctx, Spec{URL: f.bare}, workdir, WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
			if err != nil {
				t.Fatalf("Checkout() of the damaged work directory = %v", err)
			}
			if got := strings.Contains(logs.String(), "level=WARN") && strings.Contains(logs.String(), "cloning it again"); got != tt.wantReclone {
				t.Errorf("re-clone warning logged = %v, want %v:\n%s", got, tt.wantReclone, logs.String())
			}
			if r2.Head() != revParse(t, f.bare, "main") {
				t.Errorf("Head = %s, want the remote's main", r2.Head())
			}
			if st := gitRun(t, r2.Dir(), nil, "status", "--porcelain", "--ignored"); st != "" {
				t.Errorf("work tree not clean:\n%s", st)
			}
			gitRun(t, r2.Dir(), nil, "fsck", "--no-progress")
			if diff := cmp.Diff([]string{workdirRepo}, dirNames(t, workdir)); diff != "" {
				t.Errorf("work directory entries (-want +got):\n%s", diff)
			}
			ch := bump(t, r2, "6.5.0", "6.5.1")
			if _, err := Publish(ctx, r2, func(context.Context, string) (Rewrite, error) {
				return Rewrite{Files: []string{ch.File}, Message: message(t, ch)}, nil
			}, nil); err != nil {
				t.Fatalf("Publish() after the repair = %v", err)
			}
		})
	}
}

// dirNames lists dir's entries, sorted.
func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	sort.Strings(names)
	return names
}

// TestWorkdirRefused: a directory uptick did not make, or its clone of
// another repository, is bad input, and nothing in it is touched.
func TestWorkdirRefused(t *testing.T) {
	f := newFleet(t)
	other := newBareRepo(t, f.root, "other", map[string]string{"a": "b\n"})
	ctx := context.Background()
	tests := []struct {
		name    string
		prepare func(t *testing.T, dir string)
		wantErr error
		wantMsg string
	}{
		{"a file of someone else", func(t *testing.T, dir string) {
			writeFiles(t, dir, map[string]string{"precious.txt": "keep me\n"})
		}, ErrWorkdirForeign, "precious.txt"},
		{"a clone made by an older uptick, in DIR itself", func(t *testing.T, dir string) {
			gitRun(t, dir, nil, "clone", "-q", f.bare, ".")
		}, ErrWorkdirForeign, "DIR/repo"},
		{"a repo directory without uptick's marker", func(t *testing.T, dir string) {
			gitRun(t, dir, nil, "clone", "-q", f.bare, workdirRepo)
		}, ErrWorkdirForeign, "uptick did not make"},
		{"uptick's clone of another repository", func(t *testing.T, dir string) {
			if _, err := Checkout(ctx, Spec{URL: other}, dir); err != nil {
				t.Fatal(err)
			}
		}, ErrWorkdirMismatch, other},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			tt.prepare(t, dir)
			before := snapshot(t, dir)
			_, err := Checkout(ctx, Spec{URL: f.bare}, dir)
			if !errors.Is(err, tt.wantErr) || !IsBadInput(err) || !strings.Contains(err.Error(), tt.wantMsg) {
				t.Fatalf("Checkout() = %v, want bad input %v mentioning %q", err, tt.wantErr, tt.wantMsg)
			}
			if diff := cmp.Diff(before, snapshot(t, dir)); diff != "" {
				t.Errorf("the refused directory changed (-before +after):\n%s", diff)
			}
			if tt.wantErr == ErrWorkdirForeign {
				release, err := LockWorkdir(dir)
				if !errors.Is(err, ErrWorkdirForeign) {
					if release != nil {
						release()
					}
					t.Errorf("LockWorkdir() = %v, want ErrWorkdirForeign", err)
				}
				if diff := cmp.Diff(before, snapshot(t, dir)); diff != "" {
					t.Errorf("LockWorkdir changed the refused directory (-before +after):\n%s", diff)
				}
			}
		})
	}
}

// snapshot maps every path under dir to its content ("" for directories).
func snapshot(t *testing.T, dir string) map[string]string {
	t.Helper()
	m := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if d.IsDir() {
			m[rel] = ""
			return nil
		}
		b, err := os.ReadFile(p)
		m[rel] = string(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestLockWorkdir: one holder at a time, a typed busy error that is not
// bad input, and nothing written outside the directory, so a volume
// mounted under a read-only root works.
func TestLockWorkdir(t *testing.T) {
	f := newFleet(t)
	parent := t.TempDir()
	dir := filepath.Join(parent, "work")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	parentBefore := dirNames(t, parent)

	release, err := LockWorkdir(dir)
	if err != nil {
		t.Fatal(err)
	}
	_, err = LockWorkdir(dir)
	var busy *WorkdirBusyError
	if !errors.As(err, &busy) || !errors.Is(err, ErrWorkdirBusy) || IsBadInput(err) {
		t.Fatalf("second LockWorkdir() = %v, want a *WorkdirBusyError that is not bad input", err)
	}
	if busy.PID != os.Getpid() || busy.Dir != dir {
		t.Errorf("busy error = %+v, want pid %d and dir %s", busy, os.Getpid(), dir)
	}

	// A whole run under the lock, and a repair, keep the lock file.
	ctx := context.Background()
	r, err := Checkout(ctx, Spec{URL: f.bare}, dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(r.Dir(), ".git", "HEAD"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Checkout(ctx, Spec{URL: f.bare}, dir); err != nil {
		t.Fatal(err)
	}
	if _, err := LockWorkdir(dir); !errors.Is(err, ErrWorkdirBusy) {
		t.Errorf("LockWorkdir() after checkouts under the lock = %v, want still busy", err)
	}
	release()
	release2, err := LockWorkdir(dir)
	if err != nil {
		t.Fatalf("LockWorkdir() after release = %v", err)
	}
	release2()
	if diff := cmp.Diff(parentBefore, dirNames(t, parent)); diff != "" {
		t.Errorf("the work directory's parent changed (-before +after):\n%s", diff)
	}
	if diff := cmp.Diff([]string{workdirLock, workdirRepo}, dirNames(t, dir)); diff != "" {
		t.Errorf("work directory entries (-want +got):\n%s", diff)
	}
}
