package gitops

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/google/go-cmp/cmp"
)

// refFixture is a bare repository with three commits on main (c0 <- c1 <-
// c2), main at c2 and a packed-only branch "packed" at c1.
type refFixture struct {
	bare       string
	c0, c1, c2 plumbing.Hash
}

func newRefFixture(t *testing.T) refFixture {
	t.Helper()
	bare := newBareRepo(t, t.TempDir(), "fleet", map[string]string{"a": "0\n"})
	c0 := revParse(t, bare, "main")
	c1 := pushFromElsewhere(t, bare, "main", map[string]string{"a": "1\n"}, "one")
	gitRun(t, bare, nil, "branch", "packed", c1)
	gitRun(t, bare, nil, "pack-refs", "--all")
	c2 := pushFromElsewhere(t, bare, "main", map[string]string{"a": "2\n"}, "two")
	if _, err := os.Stat(filepath.Join(bare, "refs/heads/packed")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("refs/heads/packed is loose; the fixture wants it packed only")
	}
	return refFixture{bare, plumbing.NewHash(c0), plumbing.NewHash(c1), plumbing.NewHash(c2)}
}

func TestRefStoreCompareAndSwap(t *testing.T) {
	z := plumbing.ZeroHash
	tests := []struct {
		name    string
		update  func(f refFixture) refUpdate
		wantErr string                                      // "" for success
		want    func(f refFixture) map[string]plumbing.Hash // refs after, as git sees them; zero = absent
	}{
		{
			name:   "fast-forward from the expected value",
			update: func(f refFixture) refUpdate { return refUpdate{"refs/heads/main", f.c2, f.c1} },
			want:   func(f refFixture) map[string]plumbing.Hash { return map[string]plumbing.Hash{"main": f.c1} },
		},
		{
			name:    "stale old value is refused",
			update:  func(f refFixture) refUpdate { return refUpdate{"refs/heads/main", f.c1, f.c0} },
			wantErr: "cannot lock ref 'refs/heads/main': is at ",
			want:    func(f refFixture) map[string]plumbing.Hash { return map[string]plumbing.Hash{"main": f.c2} },
		},
		{
			name:   "packed-only ref compared and updated",
			update: func(f refFixture) refUpdate { return refUpdate{"refs/heads/packed", f.c1, f.c2} },
			want:   func(f refFixture) map[string]plumbing.Hash { return map[string]plumbing.Hash{"packed": f.c2} },
		},
		{
			name:    "packed-only ref with a stale old value",
			update:  func(f refFixture) refUpdate { return refUpdate{"refs/heads/packed", f.c0, f.c2} },
			wantErr: "but expected",
			want:    func(f refFixture) map[string]plumbing.Hash { return map[string]plumbing.Hash{"packed": f.c1} },
		},
		{
			name:   "create",
			update: func(f refFixture) refUpdate { return refUpdate{"refs/heads/env/prod", z, f.c0} },
			want: func(f refFixture) map[string]plumbing.Hash {
				return map[string]plumbing.Hash{"env/prod": f.c0, "main": f.c2}
			},
		},
		{
			name:    "create over an existing ref",
			update:  func(f refFixture) refUpdate { return refUpdate{"refs/heads/main", z, f.c0} },
			wantErr: "reference already exists",
			want:    func(f refFixture) map[string]plumbing.Hash { return map[string]plumbing.Hash{"main": f.c2} },
		},
		{
			name:    "create over an existing packed ref",
			update:  func(f refFixture) refUpdate { return refUpdate{"refs/heads/packed", z, f.c0} },
			wantErr: "reference already exists",
			want:    func(f refFixture) map[string]plumbing.Hash { return map[string]plumbing.Hash{"packed": f.c1} },
		},
		{
			name:    "update of a missing ref",
			update:  func(f refFixture) refUpdate { return refUpdate{"refs/heads/gone", f.c0, f.c1} },
			wantErr: "unable to resolve reference",
			want:    func(f refFixture) map[string]plumbing.Hash { return map[string]plumbing.Hash{"gone": z} },
		},
		{
			name:   "delete a packed ref",
			update: func(f refFixture) refUpdate { return refUpdate{"refs/heads/packed", f.c1, z} },
			want: func(f refFixture) map[string]plumbing.Hash {
				return map[string]plumbing.Hash{"packed": z, "main": f.c2}
			},
		},
		{
			name:    "delete with a stale old value",
			update:  func(f refFixture) refUpdate { return refUpdate{"refs/heads/main", f.c0, z} },
			wantErr: "but expected",
			want:    func(f refFixture) map[string]plumbing.Hash { return map[string]plumbing.Hash{"main": f.c2} },
		},
		{
			name:    "a name git refuses",
			update:  func(f refFixture) refUpdate { return refUpdate{"refs/heads/a..b", z, f.c0} },
			wantErr: "funny refname",
			want:    func(f refFixture) map[string]plumbing.Hash { return map[string]plumbing.Hash{"main": f.c2} },
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newRefFixture(t)
			err := refStore{f.bare}.update(context.Background(), []refUpdate{tt.update(f)})[0]
			if tt.wantErr == "" && err != nil {
				t.Fatalf("update() error = %v", err)
			}
			if tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("update() error = %v, want it to contain %q", err, tt.wantErr)
			}
			got := map[string]plumbing.Hash{}
			for name := range tt.want(f) {
				out, _ := gitCmd(f.bare, "rev-parse", "--verify", "-q", "refs/heads/"+name)
				got[name] = plumbing.NewHash(strings.TrimSpace(out))
			}
			if diff := cmp.Diff(tt.want(f), got); diff != "" {
				t.Errorf("refs as git sees them (-want +got):\n%s", diff)
			}
			// No lock is left behind, and git finds the repository sound.
			if locks, _ := filepath.Glob(filepath.Join(f.bare, "refs/heads/*.lock")); len(locks) > 0 {
				t.Errorf("lock files left: %v", locks)
			}
			gitRun(t, f.bare, nil, "fsck", "--no-progress")
		})
	}
}

// gitCmd runs the git CLI and returns its stdout and error, for checks
// where failure is an expected outcome.
func gitCmd(dir string, args ...string) (string, error) {
	cmd := execGit(dir, args...)
	out, err := cmd.Output()
	return string(out), err
}

// TestRefStoreSharesGitsLock shows uptick and the git CLI exclude each
// other through git's own "<ref>.lock".
func TestRefStoreSharesGitsLock(t *testing.T) {
	f := newRefFixture(t)
	lock := filepath.Join(f.bare, "refs/heads/main.lock")
	// A git process holds the lock (git writes the new value into it).
	if err := os.WriteFile(lock, []byte(f.c0.String()+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	err := refStore{f.bare}.update(context.Background(), []refUpdate{{"refs/heads/main", f.c2, f.c1}})[0]
	if err == nil || !strings.Contains(err.Error(), "cannot lock ref 'refs/heads/main'") || !strings.Contains(err.Error(), "main.lock") {
		t.Fatalf("update() with git's lock held = %v, want cannot lock ref naming the lock file", err)
	}
	if !isRace(err) {
		t.Errorf("a held lock is not classified as a lost race: %v", err)
	}
	if _, err := os.Stat(lock); err != nil {
		t.Errorf("uptick removed the lock git holds: %v", err)
	}
	if got := revParse(t, f.bare, "main"); got != f.c2.String() {
		t.Errorf("main moved to %s under git's lock", got)
	}
	// The ref listing served to clients skips the lock file.
	refs, err := refStore{f.bare}.list()
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range refs {
		if strings.HasSuffix(r.Name().String(), ".lock") {
			t.Errorf("list() serves the lock file as ref %s", r.Name())
		}
	}
	// Once git is done, the update goes through; git then sees it.
	os.Remove(lock)
	s := refStore{f.bare}
	if err := s.update(context.Background(), []refUpdate{{"refs/heads/main", f.c2, f.c1}})[0]; err != nil {
		t.Fatal(err)
	}
	if got := revParse(t, f.bare, "main"); got != f.c1.String() {
		t.Errorf("main = %s, want %s", got, f.c1)
	}
}

// TestRefStoreRecoversCrashedLock: an uptick writer killed while holding a
// ref lock left its intent and the lock; the next writer removes that
// lock (and only that one) and proceeds.
func TestRefStoreRecoversCrashedLock(t *testing.T) {
	f := newRefFixture(t)
	crashed := filepath.Join(f.bare, "refs/heads/main.lock")
	gits := filepath.Join(f.bare, "refs/heads/packed.lock")
	for _, p := range []string{crashed, gits} {
		if err := os.WriteFile(p, nil, 0o644); err != nil { // killed before writing
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(f.bare, refsLockName), []byte("refs/heads/main.lock\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	s := refStore{f.bare}
	if err := s.update(context.Background(), []refUpdate{{"refs/heads/main", f.c2, f.c1}})[0]; err != nil {
		t.Fatalf("update() after a crashed writer = %v", err)
	}
	if got := revParse(t, f.bare, "main"); got != f.c1.String() {
		t.Errorf("main = %s, want %s", got, f.c1)
	}
	if _, err := os.Stat(gits); err != nil {
		t.Errorf("the lock uptick did not record was removed: %v", err)
	}
	if b, _ := os.ReadFile(filepath.Join(f.bare, refsLockName)); len(b) != 0 {
		t.Errorf("intent not cleared: %q", b)
	}
}

// TestRefNeverEmptyUnderConcurrentReads moves main back and forth through
// the file:// transport while readers read it: the raw ref file, the
// ref advertisement go-git's client gets, and the git CLI. No reader may
// ever see an empty, torn or missing ref.
func TestRefNeverEmptyUnderConcurrentReads(t *testing.T) {
	f := newRefFixture(t)
	valid := map[string]bool{f.c1.String(): true, f.c2.String(): true}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	var writes, reads, bad atomic.Int64
	var wg sync.WaitGroup
	report := func(format string, args ...any) {
		if bad.Add(1) <= 5 {
			t.Errorf(format, args...)
		}
	}
	wg.Add(1)
	go func() { // the writer: CAS main c2 -> c1 -> c2 ... through refStore
		defer wg.Done()
		s, cur, next := refStore{f.bare}, f.c2, f.c1
		for ctx.Err() == nil {
			if err := s.update(ctx, []refUpdate{{"refs/heads/main", cur, next}})[0]; err != nil {
				report("update: %v", err)
				return
			}
			cur, next = next, cur
			writes.Add(1)
		}
	}()
	readers := map[string]func() (string, error){
		"raw file": func() (string, error) {
			b, err := os.ReadFile(filepath.Join(f.bare, "refs/heads/main"))
			return strings.TrimSpace(string(b)), err
		},
		"file:// advertisement": func() (string, error) {
			rem := git.NewRemote(nil, &config.RemoteConfig{Name: "origin", URLs: []string{"file://" + f.bare}})
			refs, err := rem.List(&git.ListOptions{})
			if err != nil {
				return "", err
			}
			for _, r := range refs {
				if r.Name() == "refs/heads/main" {
					return r.Hash().String(), nil
				}
			}
			return "", errors.New("main not advertised")
		},
		"git CLI": func() (string, error) {
			out, err := gitCmd(f.bare, "rev-parse", "--verify", "refs/heads/main")
			return strings.TrimSpace(out), err
		},
	}
	for name, read := range readers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				got, err := read()
				reads.Add(1)
				if err != nil || !valid[got] {
					report("%s read %q, %v", name, got, err)
				}
			}
		}()
	}
	wg.Wait()
	t.Logf("%d compare-and-swaps, %d reads, %d bad reads", writes.Load(), reads.Load(), bad.Load())
	if writes.Load() < 10 {
		t.Errorf("only %d writes: the test proved little", writes.Load())
	}
}

// FuzzRefFiles feeds arbitrary bytes to the loose-ref and packed-refs
// parsers, which read files other processes write: they must never panic,
// and what they accept must be well formed.
func FuzzRefFiles(f *testing.F) {
	for _, s := range []string{
		"",
		"ref: refs/heads/main\n",
		strings.Repeat("ab", 20) + "\n",
		"# pack-refs with: peeled fully-peeled sorted\n" + strings.Repeat("ab", 20) + " refs/heads/main\n^" + strings.Repeat("cd", 20) + "\n",
		strings.Repeat("ab", 19) + "\n",
		"xyz refs/heads/x\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if ref, err := parseLooseRef("refs/heads/x", b); err == nil {
			if ref.Type() == plumbing.HashReference && !isHexHash(ref.Hash().String()) {
				t.Errorf("parseLooseRef accepted %q as %v", b, ref)
			}
		} else if strings.Contains(err.Error(), string(b)) && len(b) > 8 {
			t.Errorf("the error quotes the file's content: %v", err)
		}
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, packedRefsName), b, 0o644); err != nil {
			t.Fatal(err)
		}
		refs, err := refStore{dir}.readPacked()
		if err != nil {
			return
		}
		for name, h := range refs {
			if name == "" || !strings.Contains(string(b), h.String()+" "+name.String()) {
				t.Errorf("readPacked accepted %q -> %s, which the file does not say", name, h)
			}
		}
	})
}

func TestPathErrText(t *testing.T) {
	_, open := os.Open("/nonexistent/x")
	rename := os.Rename("/nonexistent/a", "/nonexistent/b")
	tests := []struct {
		err  error
		want string
	}{
		{open, "/nonexistent/x: no such file or directory"},
		{fmt.Errorf("reading index: %w", open), "reading index: /nonexistent/x: no such file or directory"},
		{rename, "moving /nonexistent/a to /nonexistent/b: no such file or directory"},
		{errors.New("plain"), "plain"},
	}
	for _, tt := range tests {
		got := pathErrText(tt.err)
		if diff := cmp.Diff(tt.want, got.Error()); diff != "" {
			t.Errorf("pathErrText(%q) mismatch (-want +got):\n%s", tt.err, diff)
		}
		if !errors.Is(got, tt.err) {
			t.Errorf("pathErrText(%q) lost the chain", tt.err)
		}
	}
}
