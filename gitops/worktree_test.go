package gitops

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/format/index"
	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"
)

// changeElsewhere commits what edit does in a fresh clone of bare's main
// and pushes it.
func changeElsewhere(t *testing.T, bare string, edit func(work string)) {
	t.Helper()
	work := t.TempDir()
	gitRun(t, work, nil, "clone", "-q", "-b", "main", bare, ".")
	edit(work)
	gitRun(t, work, nil, "add", "-A")
	gitRun(t, work, nil, "commit", "-q", "-m", "change elsewhere")
	gitRun(t, work, nil, "push", "-q", "origin", "main")
}

// assertExactlyHead checks with the git CLI that the work tree and the
// index are exactly HEAD's tree: nothing modified, staged or untracked
// (ignored files included), and every mode as committed.
func assertExactlyHead(t *testing.T, work string) {
	t.Helper()
	// No index refresh by git status: the index stays uptick's.
	ro := []string{"GIT_OPTIONAL_LOCKS=0"}
	if st := gitRun(t, work, ro, "status", "--porcelain", "--ignored", "--untracked-files=all"); st != "" {
		t.Errorf("work tree differs from HEAD:\n%s", st)
	}
	stage := gitRun(t, work, ro, "ls-files", "-s")
	var fromIndex []string
	for _, l := range strings.Split(strings.TrimSpace(stage), "\n") {
		// "mode hash stage\tpath" → "mode hash\tpath"
		f := strings.SplitN(l, "\t", 2)
		mh := strings.Fields(f[0])
		fromIndex = append(fromIndex, mh[0]+" "+mh[1]+"\t"+f[1])
	}
	var fromTree []string
	for _, l := range strings.Split(strings.TrimSpace(gitRun(t, work, ro, "ls-tree", "-r", "HEAD")), "\n") {
		f := strings.SplitN(l, "\t", 2)
		mh := strings.Fields(f[0])
		fromTree = append(fromTree, mh[0]+" "+mh[2]+"\t"+f[1])
	}
	if diff := cmp.Diff(fromTree, fromIndex); diff != "" {
		t.Errorf("index differs from HEAD's tree (-tree +index):\n%s", diff)
	}
	// git status trusts stat data too: compare every byte.
	for _, l := range fromTree {
		mh, p, _ := strings.Cut(l, "\t")
		mode, hash, _ := strings.Cut(mh, " ")
		want := gitRun(t, work, ro, "cat-file", "blob", hash)
		var got string
		if mode == "120000" {
			target, err := os.Readlink(filepath.Join(work, p))
			if err != nil {
				t.Errorf("%s: %v", p, err)
			}
			got = target
		} else {
			b, err := os.ReadFile(filepath.Join(work, p))
			if err != nil {
				t.Errorf("%s: %v", p, err)
			}
			got = string(b)
		}
		if got != want {
			t.Errorf("%s holds %q, HEAD has %q", p, got, want)
		}
	}
}

// TestRefreshResetsWithoutHashing makes a warm work directory wrong in
// every way a killed run or a stray process could, while the remote
// moves on in every way a commit can, and checks that the next Checkout
// leaves exactly the remote's tip.
func TestRefreshResetsWithoutHashing(t *testing.T) {
	tests := []struct {
		name   string
		local  func(t *testing.T, work string)
		remote func(work string)
	}{
		{name: "nothing changed"},
		{name: "same-size edit with the old mtime", local: func(t *testing.T, work string) {
			p := filepath.Join(work, "clusters/prod/redis.yaml")
			fi, _ := os.Stat(p)
			b, _ := os.ReadFile(p)
			b[len(b)-5] = 'X'
			writeFiles(t, work, map[string]string{"clusters/prod/redis.yaml": string(b)})
			os.Chtimes(p, fi.ModTime(), fi.ModTime())
		}},
		{name: "file replaced by a directory and a link out", local: func(t *testing.T, work string) {
			os.Remove(filepath.Join(work, "README.md"))
			writeFiles(t, work, map[string]string{"README.md/inner.yaml": "x\n"})
			os.Remove(filepath.Join(work, "clusters/prod/podinfo.yaml"))
			if err := os.Symlink(t.TempDir(), filepath.Join(work, "clusters/prod/podinfo.yaml")); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "directory replaced by a link to outside", local: func(t *testing.T, work string) {
			outside := t.TempDir()
			os.RemoveAll(filepath.Join(work, "clusters/prod"))
			if err := os.Symlink(outside, filepath.Join(work, "clusters/prod")); err != nil {
				t.Fatal(err)
			}
		}, remote: func(work string) {
			os.WriteFile(filepath.Join(work, "clusters/prod/new.yaml"), []byte("kind: ConfigMap\n"), 0o644)
		}},
		{name: "temp files and strays left by a killed run", local: func(t *testing.T, work string) {
			writeFiles(t, work, map[string]string{
				"clusters/prod/.redis.yaml.uptick-abc.tmp": "half\n",
				"stray/deep/x.yaml":                        "y\n",
			})
		}},
		{name: "index removed", local: func(t *testing.T, work string) {
			os.Remove(filepath.Join(work, ".git/index"))
		}},
		{name: "index rewritten by another writer", local: func(t *testing.T, work string) {
			gitRun(t, work, nil, "update-index", "--refresh")
			gitRun(t, work, nil, "rm", "-q", "--cached", "README.md")
		}},
		{name: "remote adds, edits, deletes, turns a file into a directory", remote: func(work string) {
			os.WriteFile(filepath.Join(work, "clusters/prod/redis.yaml"), []byte("kind: Edited\n"), 0o644)
			os.Remove(filepath.Join(work, "clusters/prod/podinfo.yaml"))
			os.Remove(filepath.Join(work, "README.md"))
			os.MkdirAll(filepath.Join(work, "README.md"), 0o755)
			os.WriteFile(filepath.Join(work, "README.md/index.yaml"), []byte("a: b\n"), 0o644)
			os.MkdirAll(filepath.Join(work, "apps/new"), 0o755)
			os.WriteFile(filepath.Join(work, "apps/new/x.yaml"), []byte("a: b\n"), 0o644)
		}},
		{name: "remote turns a directory into a file, adds a link and an executable", remote: func(work string) {
			os.RemoveAll(filepath.Join(work, "clusters"))
			os.WriteFile(filepath.Join(work, "clusters"), []byte("now a file\n"), 0o644)
			os.Symlink("README.md", filepath.Join(work, "readme-link"))
			os.WriteFile(filepath.Join(work, "run.sh"), []byte("#!/bin/sh\n"), 0o755)
		}},
		{name: "local damage and remote change together", local: func(t *testing.T, work string) {
			writeFiles(t, work, map[string]string{"clusters/prod/redis.yaml": "torn"})
		}, remote: func(work string) {
			os.WriteFile(filepath.Join(work, "clusters/prod/redis.yaml"), []byte("kind: Edited\n"), 0o644)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bare := newBareRepo(t, t.TempDir(), "fleet", fixtureFiles())
			ctx := context.Background()
			dir := filepath.Join(t.TempDir(), "work")
			spec := Spec{URL: "file://" + bare}
			r, err := Checkout(ctx, spec, dir)
			if err != nil {
				t.Fatal(err)
			}
			assertExactlyHead(t, r.Dir())
			// A second, clean refresh: the index stays as it is.
			if _, err := Checkout(ctx, spec, dir); err != nil {
				t.Fatal(err)
			}
			before, err := os.Stat(filepath.Join(r.Dir(), ".git/index"))
			if err != nil {
				t.Fatal(err)
			}
			if tt.local != nil {
				tt.local(t, r.Dir())
			}
			if tt.remote != nil {
				changeElsewhere(t, bare, tt.remote)
			}
			r2, err := Checkout(ctx, spec, dir)
			if err != nil {
				t.Fatalf("Checkout after the damage: %v", err)
			}
			if r2.Head() != revParse(t, bare, "main") {
				t.Errorf("Head %s, want the remote's main", r2.Head())
			}
			assertExactlyHead(t, r2.Dir())
			after, err := os.Stat(filepath.Join(r2.Dir(), ".git/index"))
			if err != nil {
				t.Fatal(err)
			}
			if tt.local == nil && tt.remote == nil && !os.SameFile(before, after) {
				t.Error("a clean refresh rewrote the index")
			}
			if _, err := os.Stat(filepath.Join(r2.Dir(), ".git", indexTreeRecord)); err != nil {
				t.Errorf("no index tree record after the refresh: %v", err)
			}
		})
	}
}

// A file whose stat matches its entry but that changed in the instant the
// index was written is hashed, not trusted.
func TestSweeperCleanRacy(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"a.yaml": "one\n"})
	root, err := os.OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	dirfd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(dirfd)
	good := plumbing.ComputeHash(plumbing.BlobObject, []byte("one\n"))
	e, err := statEntry(root, "a.yaml", good, filemode.Regular)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name      string
		entry     func(e index.Entry) index.Entry
		indexTime time.Time
		want      bool
	}{
		{"index written later: trusted", func(e index.Entry) index.Entry { e.Hash = plumbing.ZeroHash; return e }, e.ModifiedAt.Add(time.Second), true},
		{"racy, same content", func(e index.Entry) index.Entry { return e }, e.ModifiedAt, true},
		{"racy, other content", func(e index.Entry) index.Entry { e.Hash = plumbing.ZeroHash; return e }, e.ModifiedAt, false},
		{"other size", func(e index.Entry) index.Entry { e.Size++; return e }, e.ModifiedAt.Add(time.Second), false},
		{"other inode", func(e index.Entry) index.Entry { e.Inode++; return e }, e.ModifiedAt.Add(time.Second), false},
		{"other change time", func(e index.Entry) index.Entry { e.CreatedAt = e.CreatedAt.Add(time.Nanosecond); return e }, e.ModifiedAt.Add(time.Second), false},
		{"now executable", func(e index.Entry) index.Entry { e.Mode = filemode.Executable; return e }, e.ModifiedAt.Add(time.Second), false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			entry := tt.entry(*e)
			s := &sweeper{indexTime: tt.indexTime}
			if got := s.clean(dirfd, "a.yaml", &entry); got != tt.want {
				t.Errorf("clean = %v, want %v", got, tt.want)
			}
		})
	}
	if (&sweeper{indexTime: e.ModifiedAt.Add(time.Second)}).clean(dirfd, "missing.yaml", e) {
		t.Error("a missing file was trusted")
	}
}

// A tree path that would write outside the work tree, or into .git, is
// refused before anything is written.
func TestCheckTreePath(t *testing.T) {
	for _, p := range []string{"../x", "a/../../x", ".git/config", "a/.GIT/hooks/x", "", "a//b", "./a"} {
		if checkTreePath(p) == nil {
			t.Errorf("checkTreePath(%q) accepted", p)
		}
	}
	for _, p := range []string{"a", "a/b.yaml", ".github/x", "a/.gitkeep"} {
		if err := checkTreePath(p); err != nil {
			t.Errorf("checkTreePath(%q) = %v", p, err)
		}
	}
}
