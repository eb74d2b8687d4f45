package gitops

import (
	"fmt"
	"io/fs"
	"path/filepath"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// What a caller needs to do work only where the tree changed between two
// runs: the checked-out tree's hash, a diff of two trees by path, and a
// place in the clone for what it keeps about the tree.

// TreeChange is one file that differs between two trees. A mode of 0
// means the file is absent on that side.
type TreeChange struct {
	Path     string // slash path relative to the work tree
	From, To fs.FileMode
}

// Tree returns the hex hash of the root tree of the checked-out commit,
// which names the work tree's content exactly (Checkout and Refresh make
// the work tree that tree).
func (r *Repo) Tree() (string, error) {
	c, err := r.repo.CommitObject(r.head)
	if err != nil {
		return "", fmt.Errorf("reading commit %s: %w", r.head, err)
	}
	return c.TreeHash.String(), nil
}

// DiffTrees lists the files that differ between the trees from and to
// (hex hashes), reading only the subtrees whose hashes differ. An error
// (a tree no longer in the clone, say) means the caller must look at the
// whole tree.
func (r *Repo) DiffTrees(from, to string) ([]TreeChange, error) {
	if !isHexHash(from) || !isHexHash(to) {
		return nil, fmt.Errorf("diffing trees %q and %q: not hex hashes", from, to)
	}
	if from == to {
		return nil, nil
	}
	a, err := r.repo.TreeObject(plumbing.NewHash(from))
	if err != nil {
		return nil, fmt.Errorf("reading tree %s: %w", from, err)
	}
	b, err := r.repo.TreeObject(plumbing.NewHash(to))
	if err != nil {
		return nil, fmt.Errorf("reading tree %s: %w", to, err)
	}
	changes, err := object.DiffTree(a, b)
	if err != nil {
		return nil, fmt.Errorf("diffing trees %s and %s: %w", from, to, err)
	}
	var out []TreeChange
	add := func(p string, from, to filemode.FileMode) {
		tc := TreeChange{Path: p}
		if from != filemode.Empty {
			tc.From, _ = from.ToOSFileMode()
		}
		if to != filemode.Empty {
			tc.To, _ = to.ToOSFileMode()
		}
		out = append(out, tc)
	}
	for _, c := range changes {
		switch {
		case c.From.Name == c.To.Name:
			add(c.To.Name, c.From.TreeEntry.Mode, c.To.TreeEntry.Mode)
		default:
			if c.From.Name != "" {
				add(c.From.Name, c.From.TreeEntry.Mode, filemode.Empty)
			}
			if c.To.Name != "" {
				add(c.To.Name, filemode.Empty, c.To.TreeEntry.Mode)
			}
		}
	}
	return out, nil
}

// StateFile returns the path of a file named uptick-NAME inside the
// clone's .git directory, where a stage may keep what it learned of the
// tree between runs. It lives and dies with the clone (a re-clone starts
// without it) and is never part of a commit or a sync.
func (r *Repo) StateFile(name string) string {
	return filepath.Join(r.dir, git.GitDirName, "uptick-"+name)
}
