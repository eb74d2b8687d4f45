package gitops

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/transport"
)

// The Repo methods here build a pull request's branch without moving the
// work tree's branch, index or HEAD: a commit whose parent is the
// checked-out base and whose tree is the base's with the rewritten files
// replaced, pushed to a branch of uptick's own. Their cost grows with the
// files changed, not with the repository.

// commitOnto makes a commit of files (slash paths relative to Dir, as the
// rewrite left them in the work tree; a missing file is a deletion) on top
// of Head, signed like Commit's, and stores it without moving any ref. It
// returns ErrNothingToCommit when no file differs from Head.
func (r *Repo) commitOnto(ctx context.Context, files []string, message string) (*object.Commit, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if strings.TrimSpace(message) == "" {
		return nil, ErrEmptyMessage
	}
	for _, f := range files {
		if err := checkRelPath(f); err != nil {
			return nil, err
		}
	}
	parent, err := r.repo.CommitObject(r.head)
	if err != nil {
		return nil, fmt.Errorf("reading base commit %s: %w", r.head, err)
	}
	tree, err := parent.Tree()
	if err != nil {
		return nil, fmt.Errorf("reading tree of %s: %w", r.head, err)
	}
	changed, err := r.changedFiles(tree, files)
	if err != nil {
		return nil, err
	}
	if len(changed) == 0 {
		return nil, ErrNothingToCommit
	}
	edits := map[string]*treeEntryEdit{}
	for _, f := range changed {
		e, err := r.blobEdit(tree, f)
		if err != nil {
			return nil, err
		}
		edits[f] = e
	}
	treeHash, err := r.editTree(tree, "", edits)
	if err != nil {
		return nil, err
	}
	key, err := r.signingKey()
	if err != nil {
		return nil, err
	}
	sig := object.Signature{Name: r.spec.Commit.Author.Name, Email: r.spec.Commit.Author.Email, When: r.opts.now()}
	c := &object.Commit{Author: sig, Committer: sig, Message: message, TreeHash: treeHash, ParentHashes: []plumbing.Hash{r.head}}
	if key != nil {
		unsigned := &plumbing.MemoryObject{}
		if err := c.EncodeWithoutSignature(unsigned); err != nil {
			return nil, fmt.Errorf("encoding commit: %w", err)
		}
		rd, err := unsigned.Reader()
		if err != nil {
			return nil, err
		}
		s, err := key.Sign(rd)
		if err != nil {
			return nil, err
		}
		c.PGPSignature = string(s)
	}
	h, err := r.store(c)
	if err != nil {
		return nil, fmt.Errorf("storing commit in %s: %w", r.dir, pathErrText(err))
	}
	commit, err := r.repo.CommitObject(h)
	if err != nil {
		return nil, fmt.Errorf("reading back commit %s: %w", h, err)
	}
	r.opts.logger.Info("committed", "commit", h.String(), "parent", r.head.String(), "files", len(changed), "signed", key != nil)
	return commit, nil
}

// treeEntryEdit is the new state of one path: a blob and its mode, or
// deleted.
type treeEntryEdit struct {
	hash    plumbing.Hash
	mode    filemode.FileMode
	deleted bool
}

// blobEdit stores the work tree's content of f as a blob.
func (r *Repo) blobEdit(base *object.Tree, f string) (*treeEntryEdit, error) {
	full := filepath.Join(r.dir, filepath.FromSlash(f))
	info, err := os.Lstat(full)
	if errors.Is(err, fs.ErrNotExist) {
		return &treeEntryEdit{deleted: true}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", f, pathErrText(err))
	}
	if !info.Mode().IsRegular() {
		return nil, fmt.Errorf("committing %s: not a regular file", f)
	}
	data, err := os.ReadFile(full)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", f, pathErrText(err))
	}
	mode := filemode.Regular
	if e, err := base.FindEntry(f); err == nil && e.Mode == filemode.Executable {
		mode = filemode.Executable
	} else if err != nil && info.Mode().Perm()&0o111 != 0 {
		mode = filemode.Executable
	}
	obj := r.repo.Storer.NewEncodedObject()
	obj.SetType(plumbing.BlobObject)
	w, err := obj.Writer()
	if err != nil {
		return nil, err
	}
	if _, err := w.Write(data); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	h, err := r.repo.Storer.SetEncodedObject(obj)
	if err != nil {
		return nil, fmt.Errorf("storing %s in %s: %w", f, r.dir, pathErrText(err))
	}
	return &treeEntryEdit{hash: h, mode: mode}, nil
}

// editTree returns the hash of t (nil: an empty tree) at prefix with
// edits (keyed by full slash path) applied, storing every new tree.
func (r *Repo) editTree(t *object.Tree, prefix string, edits map[string]*treeEntryEdit) (plumbing.Hash, error) {
	var entries []object.TreeEntry
	if t != nil {
		entries = slices.Clone(t.Entries)
	}
	// Edits below a subdirectory, by its name.
	sub := map[string]map[string]*treeEntryEdit{}
	for p, e := range edits {
		rest := strings.TrimPrefix(p, prefix)
		name, _, nested := strings.Cut(rest, "/")
		if nested {
			if sub[name] == nil {
				sub[name] = map[string]*treeEntryEdit{}
			}
			sub[name][p] = e
			continue
		}
		i := slices.IndexFunc(entries, func(te object.TreeEntry) bool { return te.Name == name })
		switch {
		case e.deleted && i >= 0:
			entries = slices.Delete(entries, i, i+1)
		case e.deleted:
		case i >= 0:
			entries[i] = object.TreeEntry{Name: name, Mode: e.mode, Hash: e.hash}
		default:
			entries = append(entries, object.TreeEntry{Name: name, Mode: e.mode, Hash: e.hash})
		}
	}
	for name, es := range sub {
		i := slices.IndexFunc(entries, func(te object.TreeEntry) bool { return te.Name == name })
		var st *object.Tree
		if i >= 0 {
			if entries[i].Mode != filemode.Dir {
				return plumbing.ZeroHash, fmt.Errorf("committing under %s%s: it is a file in the base commit", prefix, name)
			}
			var err error
			if st, err = r.repo.TreeObject(entries[i].Hash); err != nil {
				return plumbing.ZeroHash, fmt.Errorf("reading tree %s%s: %w", prefix, name, err)
			}
		}
		h, err := r.editTree(st, prefix+name+"/", es)
		if err != nil {
			return plumbing.ZeroHash, err
		}
		switch {
		case h.IsZero() && i >= 0: // the directory became empty
			entries = slices.Delete(entries, i, i+1)
		case h.IsZero():
		case i >= 0:
			entries[i].Hash = h
		default:
			entries = append(entries, object.TreeEntry{Name: name, Mode: filemode.Dir, Hash: h})
		}
	}
	if len(entries) == 0 && prefix != "" {
		return plumbing.ZeroHash, nil
	}
	// git orders entries by name, a directory's as if it ended in "/".
	key := func(e object.TreeEntry) string {
		if e.Mode == filemode.Dir {
			return e.Name + "/"
		}
		return e.Name
	}
	slices.SortFunc(entries, func(a, b object.TreeEntry) int { return strings.Compare(key(a), key(b)) })
	return r.store(&object.Tree{Entries: entries})
}

// store encodes an object into the repository's object database.
func (r *Repo) store(o interface {
	Encode(plumbing.EncodedObject) error
}) (plumbing.Hash, error) {
	obj := r.repo.Storer.NewEncodedObject()
	if err := o.Encode(obj); err != nil {
		return plumbing.ZeroHash, err
	}
	return r.repo.Storer.SetEncodedObject(obj)
}

// restoreFiles puts files (as a rewrite named them) back to their content
// at Head, deleting the ones Head does not have, so the next rewrite
// starts from the base again. Only those files are touched: the index,
// HEAD and the branch never moved.
func (r *Repo) restoreFiles(files []string) error {
	c, err := r.repo.CommitObject(r.head)
	if err != nil {
		return fmt.Errorf("reading base commit %s: %w", r.head, err)
	}
	tree, err := c.Tree()
	if err != nil {
		return fmt.Errorf("reading tree of %s: %w", r.head, err)
	}
	for _, f := range files {
		if checkRelPath(f) != nil {
			continue
		}
		full := filepath.Join(r.dir, filepath.FromSlash(f))
		file, err := tree.File(f)
		if errors.Is(err, object.ErrFileNotFound) {
			if err := os.Remove(full); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("restoring %s: %w", f, pathErrText(err))
			}
			continue
		}
		if err != nil {
			return fmt.Errorf("restoring %s: %w", f, err)
		}
		rd, err := file.Reader()
		if err != nil {
			return fmt.Errorf("restoring %s: %w", f, err)
		}
		data, err := io.ReadAll(rd)
		rd.Close()
		if err != nil {
			return fmt.Errorf("restoring %s: %w", f, err)
		}
		if cur, err := os.ReadFile(full); err == nil && bytes.Equal(cur, data) {
			continue
		}
		perm := os.FileMode(0o644)
		if file.Mode == filemode.Executable {
			perm = 0o755
		}
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			return fmt.Errorf("restoring %s: %w", f, pathErrText(err))
		}
		if err := writeFileAtomic(full, data, perm); err != nil {
			return fmt.Errorf("restoring %s: %w", f, pathErrText(err))
		}
	}
	return nil
}

// writeFileAtomic writes data to a temporary file beside path and renames
// it over path, so a reader never sees a half-written file.
func writeFileAtomic(path string, data []byte, perm os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".uptick-restore-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(perm); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// fetchBranch fetches branch from origin and returns its tip commit, or
// nil when the remote has no such branch (a stale remote-tracking ref of
// an earlier run is then removed).
func (r *Repo) fetchBranch(ctx context.Context, branch string) (*object.Commit, error) {
	rem, err := r.repo.Remote(remoteName)
	if err != nil {
		return nil, fmt.Errorf("work directory %s: %w", r.root, err)
	}
	tracking := plumbing.NewRemoteReferenceName(remoteName, branch)
	spec := config.RefSpec(fmt.Sprintf("+%s:%s", plumbing.NewBranchReferenceName(branch), tracking))
	err = rem.FetchContext(ctx, &git.FetchOptions{
		RefSpecs: []config.RefSpec{spec},
		Auth:     r.tc.auth,
		CABundle: r.tc.caBundle,
		Tags:     git.NoTags,
		Force:    true,
	})
	switch {
	case errors.Is(err, git.NoMatchingRefSpecError{}) || errors.Is(err, transport.ErrEmptyRemoteRepository):
		if err := r.repo.Storer.RemoveReference(tracking); err != nil {
			return nil, fmt.Errorf("removing stale %s in %s: %w", tracking, r.dir, pathErrText(err))
		}
		return nil, nil
	case err != nil && !errors.Is(err, git.NoErrAlreadyUpToDate):
		return nil, r.transportError(fmt.Sprintf("fetching branch %q from %s", branch, r.remote), err)
	}
	ref, err := r.repo.Reference(tracking, true)
	if err != nil {
		return nil, fmt.Errorf("resolving fetched branch %q from %s: %w", branch, r.remote, pathErrText(err))
	}
	c, err := r.repo.CommitObject(ref.Hash())
	if err != nil {
		return nil, fmt.Errorf("reading the tip %s of branch %q: %w", ref.Hash(), branch, err)
	}
	return c, nil
}

// pushCommit pushes commit sha to refs/heads/<branch> on origin. With
// expect (a full hex SHA, the tip fetchBranch saw) it is a force-push with
// a lease: the remote branch must still be exactly there, and sha need
// not descend from it; only pull-request branches uptick owns are pushed
// this way. With expect "" the branch must not exist yet (or the push
// must fast-forward it). pushed is false when the remote already held sha
// (another run pushed the very same commit). A lost race returns a
// *PushError wrapping ErrPushRejected, as PushTo does.
func (r *Repo) pushCommit(ctx context.Context, sha plumbing.Hash, branch, expect string) (pushed bool, err error) {
	if branch == r.base || branch == r.spec.Branch {
		return false, fmt.Errorf("refusing to force-push %q: it is the base branch, not a pull request branch", branch)
	}
	// go-git checks a lease against the local branch of the same name and
	// its remote-tracking ref, so the commit is pushed from
	// refs/heads/<branch> of the clone (never checked out).
	local := plumbing.NewBranchReferenceName(branch)
	if err := r.repo.Storer.SetReference(plumbing.NewHashReference(local, sha)); err != nil {
		return false, fmt.Errorf("setting %s in %s: %w", local, r.dir, pathErrText(err))
	}
	var log remoteLog
	po := &git.PushOptions{
		RemoteName: remoteName,
		RefSpecs:   []config.RefSpec{config.RefSpec(fmt.Sprintf("%s:%s", local, local))},
		Auth:       r.tc.auth,
		CABundle:   r.tc.caBundle,
		Progress:   &log,
	}
	if expect != "" {
		if !isHexHash(expect) {
			return false, fmt.Errorf("pushing to branch %q: expected commit %q is not a full hex SHA", branch, expect)
		}
		po.ForceWithLease = &git.ForceWithLease{RefName: local, Hash: plumbing.NewHash(expect)}
	}
	err = r.repo.PushContext(ctx, po)
	switch {
	case err == nil:
		r.opts.logger.Info("pushed", "remote", r.remote, "branch", branch, "commit", sha.String(), "lease", expect)
		return true, nil
	case errors.Is(err, git.NoErrAlreadyUpToDate):
		r.opts.logger.Info("remote branch already holds the commit", "remote", r.remote, "branch", branch, "commit", sha.String())
		return false, nil
	}
	return false, r.pushError(branch, &log, err)
}

// ownsCommit reports whether c was made by uptick with this config: a
// commit with one parent whose committer is the configured identity. A
// pull request branch whose tip is anything else holds someone's work
// and is never overwritten.
func (r *Repo) ownsCommit(c *object.Commit) bool {
	return len(c.ParentHashes) == 1 &&
		c.Committer.Name == r.spec.Commit.Author.Name &&
		c.Committer.Email == r.spec.Commit.Author.Email
}
