package gitops

import (
	"bytes"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/format/index"
	"github.com/go-git/go-git/v5/plumbing/object"
	"golang.org/x/sys/unix"
)

// The work tree is reset without hashing it. go-git's hard reset computes
// the status of the whole work tree, reading and hashing every file, on
// every run: over a second for a clean 10,000-file clone. Like git itself,
// resetWorktree trusts the stat data the index records for each file
// (size, modification and change times, inode, type) and looks only at
// files whose stat differs, or that are "racily clean" (modified in the
// same instant the index was written). What must change is known from the
// index: when .git/uptick-index-tree records which tree the index holds
// (with the index's own checksum, so any other writer of the index voids
// it), only a diff of that tree and the new one is needed; otherwise every
// entry of the new tree is compared with the index.
//
// Order keeps every crash recoverable: stale tracked files are removed,
// then untracked ones, then files are written; the index is written last,
// to a temporary file renamed over .git/index, and the record after it. A
// run killed before the index is renamed leaves files whose stat no
// longer matches the old index, so the next run writes them again.

// indexTreeRecord names the file recording which tree the index holds.
const indexTreeRecord = "uptick-index-tree"

// errResetFallback means the tree holds what resetWorktree does not
// handle (submodules): go-git's own reset is used instead.
var errResetFallback = errors.New("work tree needs go-git's reset")

// op is one path of the work tree to bring to the target tree.
type op struct {
	path   string
	delete bool
	hash   plumbing.Hash
	mode   filemode.FileMode
}

// resetWorktree makes the work tree and the index exactly the tree of
// commit, as a hard reset followed by removing every untracked file would.
func (r *Repo) resetWorktree(commit plumbing.Hash) error {
	c, err := r.repo.CommitObject(commit)
	if err != nil {
		return fmt.Errorf("reading commit %s: %w", commit, err)
	}
	tree, err := c.Tree()
	if err != nil {
		return fmt.Errorf("reading tree of %s: %w", commit, err)
	}
	gitDir := filepath.Join(r.dir, git.GitDirName)
	idx, indexTime, indexSum, err := readIndex(gitDir)
	if err != nil {
		return err
	}
	entries := make(map[string]*index.Entry, len(idx.Entries))
	for _, e := range idx.Entries {
		if e.Stage != 0 || e.SkipWorktree || e.IntentToAdd { // stage 0: merged (go-git's index.Merged is 1)
			return errResetFallback
		}
		entries[e.Name] = e
	}

	var ops []op
	base, ok := readIndexTree(gitDir, indexSum)
	switch {
	case ok && base == tree.Hash:
	case ok:
		if ops, err = r.treeDiffOps(base, tree); err != nil {
			if errors.Is(err, errResetFallback) {
				return err
			}
			ops, err = fullOps(tree, entries)
		}
	default:
		ops, err = fullOps(tree, entries)
	}
	if err != nil {
		return err
	}

	root, err := os.OpenRoot(r.dir)
	if err != nil {
		return fmt.Errorf("opening work tree %s: %w", r.dir, pathErrText(err))
	}
	defer root.Close()

	// What the work tree must hold afterwards: nil for files to write.
	final := make(map[string]*index.Entry, len(entries)+len(ops))
	for name, e := range entries {
		final[name] = e
	}
	for _, o := range ops {
		if o.delete {
			delete(final, o.path)
			delete(entries, o.path)
		} else {
			final[o.path] = nil
		}
	}
	// One walk removes what the target does not have (untracked files,
	// stale tracked ones, links in the way) and finds files whose stat
	// no longer matches their entry, which are written again.
	sw := &sweeper{root: root, final: final, indexTime: indexTime, seen: make(map[string]bool, len(final))}
	if err := sw.sweep(r.dir); err != nil {
		return fmt.Errorf("cleaning work tree %s: %w", r.dir, err)
	}
	for name, e := range final {
		if e != nil && !sw.seen[name] {
			sw.unclean = append(sw.unclean, name)
		}
	}
	for _, name := range sw.unclean {
		e := final[name]
		ops = append(ops, op{path: name, hash: e.Hash, mode: e.Mode})
	}
	slices.SortFunc(ops, func(a, b op) int { return strings.Compare(a.path, b.path) })

	// 3. New and changed files.
	for _, o := range ops {
		if o.delete {
			continue
		}
		e, err := r.checkoutEntry(root, o)
		if err != nil {
			return err
		}
		entries[o.path] = e
	}
	if len(ops) == 0 {
		// The index is already the tree: keep it (and its stat data).
		if ok && base == tree.Hash {
			return nil
		}
		return writeIndexTree(gitDir, tree.Hash, indexSum)
	}
	idx.Entries = idx.Entries[:0]
	for _, e := range entries {
		idx.Entries = append(idx.Entries, e)
	}
	idx.Cache, idx.ResolveUndo, idx.EndOfIndexEntry = nil, nil, nil
	if idx.Version < 2 || idx.Version > 3 {
		idx.Version = 2
	}
	sum, err := writeIndex(gitDir, idx)
	if err != nil {
		return err
	}
	return writeIndexTree(gitDir, tree.Hash, sum)
}

// fullOps compares every file of tree with the index.
func fullOps(tree *object.Tree, entries map[string]*index.Entry) ([]op, error) {
	var ops []op
	seen := make(map[string]bool, len(entries))
	w := object.NewTreeWalker(tree, true, nil)
	defer w.Close()
	for {
		name, e, err := w.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("reading tree %s: %w", tree.Hash, err)
		}
		switch e.Mode {
		case filemode.Dir:
			continue
		case filemode.Submodule:
			return nil, errResetFallback
		}
		seen[name] = true
		if ie := entries[name]; ie == nil || ie.Hash != e.Hash || ie.Mode != e.Mode {
			ops = append(ops, op{path: name, hash: e.Hash, mode: e.Mode})
		}
	}
	for name := range entries {
		if !seen[name] {
			ops = append(ops, op{path: name, delete: true})
		}
	}
	return ops, nil
}

// treeDiffOps lists what differs between the tree the index holds and
// tree; equal subtrees are skipped without being read.
func (r *Repo) treeDiffOps(base plumbing.Hash, tree *object.Tree) ([]op, error) {
	from, err := r.repo.TreeObject(base)
	if err != nil {
		return nil, err
	}
	changes, err := object.DiffTree(from, tree)
	if err != nil {
		return nil, err
	}
	var ops []op
	for _, c := range changes {
		if c.From.Name != "" && c.From.Name != c.To.Name {
			if err := checkTreePath(c.From.Name); err != nil {
				return nil, err
			}
			ops = append(ops, op{path: c.From.Name, delete: true})
		}
		if c.To.Name == "" {
			continue
		}
		if err := checkTreePath(c.To.Name); err != nil {
			return nil, err
		}
		if c.To.TreeEntry.Mode == filemode.Submodule {
			return nil, errResetFallback
		}
		ops = append(ops, op{path: c.To.Name, hash: c.To.TreeEntry.Hash, mode: c.To.TreeEntry.Mode})
	}
	return ops, nil
}

// checkTreePath refuses a path no checkout may write: empty, dot or
// dot-dot components, or a .git component in any case.
func checkTreePath(p string) error {
	for _, c := range strings.Split(p, "/") {
		if c == "" || c == "." || c == ".." || strings.EqualFold(c, git.GitDirName) {
			return fmt.Errorf("tree path %q is not a safe path in a work tree", p)
		}
	}
	return nil
}

// sweeper walks the work tree once with directory descriptors (every
// directory opened relative to its parent, never through a link), removes
// what final does not list, and stats what it lists.
type sweeper struct {
	root      *os.Root
	final     map[string]*index.Entry
	indexTime time.Time
	seen      map[string]bool
	unclean   []string
}

func (s *sweeper) sweep(dir string) error {
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	_, err = s.dir(fd, "")
	return err
}

// dir sweeps the directory open at fd (slash path rel; "" for the top),
// closes fd, and returns how many entries are left in it.
func (s *sweeper) dir(fd int, rel string) (int, error) {
	f := os.NewFile(uintptr(fd), rel)
	defer f.Close()
	list, err := f.ReadDir(-1)
	if err != nil {
		return 0, err
	}
	kept := 0
	for _, de := range list {
		name := de.Name()
		p := name
		if rel != "" {
			p = rel + "/" + name
		}
		if rel == "" && name == git.GitDirName {
			kept++
			continue
		}
		e, tracked := s.final[p]
		if de.IsDir() {
			if tracked { // a file belongs here: it is written afterwards
				if err := s.root.RemoveAll(filepath.FromSlash(p)); err != nil {
					return 0, err
				}
				continue
			}
			cfd, err := unix.Openat(fd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
			if err != nil {
				return 0, fmt.Errorf("opening %s: %w", p, err)
			}
			n, err := s.dir(cfd, p)
			if err != nil {
				return 0, err
			}
			if n > 0 {
				kept++
			} else if err := unix.Unlinkat(fd, name, unix.AT_REMOVEDIR); err != nil {
				return 0, fmt.Errorf("removing empty directory %s: %w", p, err)
			}
			continue
		}
		if !tracked {
			if err := unix.Unlinkat(fd, name, 0); err != nil && err != unix.ENOENT {
				return 0, fmt.Errorf("removing %s: %w", p, err)
			}
			continue
		}
		kept++
		s.seen[p] = true
		if e != nil && !s.clean(fd, name, e) {
			s.unclean = append(s.unclean, p)
		}
	}
	return kept, nil
}

// clean reports whether name in the directory fd still has the stat data
// its entry recorded; a racily clean one (changed in the instant the index
// was written, so an equal time proves nothing) is hashed.
func (s *sweeper) clean(dirfd int, name string, e *index.Entry) bool {
	var st unix.Stat_t
	if err := unix.Fstatat(dirfd, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return false
	}
	if !statMatches(&st, e) {
		return false
	}
	if time.Unix(st.Mtim.Unix()).Before(s.indexTime) {
		return true
	}
	data, err := readAt(dirfd, name, st.Mode&unix.S_IFMT == unix.S_IFLNK)
	return err == nil && plumbing.ComputeHash(plumbing.BlobObject, data) == e.Hash
}

// statMatches compares a file's stat with its index entry: type and
// executable bit, size, modification and change times, inode.
func statMatches(st *unix.Stat_t, e *index.Entry) bool {
	mode := fs.FileMode(st.Mode & 0o777)
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFREG:
	case unix.S_IFLNK:
		mode |= fs.ModeSymlink
	default:
		return false
	}
	m, err := filemode.NewFromOSFileMode(mode)
	return err == nil && m == e.Mode && uint32(st.Size) == e.Size && uint32(st.Ino) == e.Inode &&
		time.Unix(st.Mtim.Unix()).Equal(e.ModifiedAt) && time.Unix(st.Ctim.Unix()).Equal(e.CreatedAt)
}

// readAt reads name in the directory dirfd (its target, for a link).
func readAt(dirfd int, name string, link bool) ([]byte, error) {
	if link {
		buf := make([]byte, 4096)
		n, err := unix.Readlinkat(dirfd, name, buf)
		if err != nil {
			return nil, err
		}
		return buf[:n], nil
	}
	fd, err := unix.Openat(dirfd, name, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	f := os.NewFile(uintptr(fd), name)
	defer f.Close()
	return io.ReadAll(f)
}

// checkoutEntry writes o's blob at o.path and returns its index entry.
func (r *Repo) checkoutEntry(root *os.Root, o op) (*index.Entry, error) {
	name := filepath.FromSlash(o.path)
	if err := checkTreePath(o.path); err != nil {
		return nil, err
	}
	blob, err := r.repo.BlobObject(o.hash)
	if err != nil {
		return nil, fmt.Errorf("reading %s (%s): %w", o.path, o.hash, err)
	}
	rd, err := blob.Reader()
	if err != nil {
		return nil, fmt.Errorf("reading %s (%s): %w", o.path, o.hash, err)
	}
	defer rd.Close()
	// Whatever is in the way (a directory, a link, an old file) goes.
	if fi, err := root.Lstat(name); err == nil && (fi.IsDir() || fi.Mode()&fs.ModeSymlink != 0 || o.mode == filemode.Symlink) {
		if err := root.RemoveAll(name); err != nil {
			return nil, fmt.Errorf("replacing %s in the work tree: %w", o.path, pathErrText(err))
		}
	}
	if dir := path.Dir(o.path); dir != "." {
		if err := root.MkdirAll(filepath.FromSlash(dir), 0o755); err != nil {
			return nil, fmt.Errorf("creating the directory of %s: %w", o.path, pathErrText(err))
		}
	}
	switch o.mode {
	case filemode.Symlink:
		target, err := io.ReadAll(rd)
		if err != nil {
			return nil, fmt.Errorf("reading %s: %w", o.path, err)
		}
		if err := root.Symlink(string(target), name); err != nil {
			return nil, fmt.Errorf("writing %s: %w", o.path, pathErrText(err))
		}
	case filemode.Regular, filemode.Deprecated, filemode.Executable:
		perm := fs.FileMode(0o644)
		if o.mode == filemode.Executable {
			perm = 0o755
		}
		f, err := root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_TRUNC|syscall.O_NOFOLLOW, perm)
		if err != nil {
			return nil, fmt.Errorf("writing %s: %w", o.path, pathErrText(err))
		}
		_, err = io.Copy(f, rd)
		if err == nil {
			err = f.Chmod(perm)
		}
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return nil, fmt.Errorf("writing %s: %w", o.path, pathErrText(err))
		}
	default:
		return nil, errResetFallback
	}
	return statEntry(root, o.path, o.hash, o.mode)
}

// statEntry makes the index entry of a file just written or staged.
func statEntry(root *os.Root, name string, h plumbing.Hash, mode filemode.FileMode) (*index.Entry, error) {
	fi, err := root.Lstat(filepath.FromSlash(name))
	if err != nil {
		return nil, fmt.Errorf("reading %s in the work tree: %w", name, pathErrText(err))
	}
	e := &index.Entry{Hash: h, Name: name, Mode: mode, ModifiedAt: fi.ModTime(), Size: uint32(fi.Size())}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		e.CreatedAt = time.Unix(st.Ctim.Unix())
		e.Dev, e.Inode, e.UID, e.GID = uint32(st.Dev), uint32(st.Ino), st.Uid, st.Gid
	}
	return e, nil
}

// checkIndexFile checks that an index file is whole (its signature and
// trailing checksum), which is what a run killed while writing it can
// break, without decoding its entries. A missing index is an empty one.
func checkIndexFile(name string) error {
	b, err := os.ReadFile(name)
	if isNotExist(err) {
		return nil
	}
	if err != nil {
		return pathErrText(err)
	}
	if len(b) < 12+sha1.Size || string(b[:4]) != "DIRC" {
		return errors.New("not a whole index file")
	}
	if sum := sha1.Sum(b[:len(b)-sha1.Size]); !bytes.Equal(sum[:], b[len(b)-sha1.Size:]) {
		return errors.New("index checksum mismatch")
	}
	return nil
}

// readIndex decodes .git/index and returns it with the file's modification
// time and checksum. A missing index is an empty one.
func readIndex(gitDir string) (*index.Index, time.Time, string, error) {
	name := filepath.Join(gitDir, "index")
	b, err := os.ReadFile(name)
	if isNotExist(err) {
		return &index.Index{Version: 2}, time.Time{}, "", nil
	}
	if err != nil {
		return nil, time.Time{}, "", fmt.Errorf("reading index of %s: %w", gitDir, pathErrText(err))
	}
	fi, err := os.Stat(name)
	if err != nil {
		return nil, time.Time{}, "", fmt.Errorf("reading index of %s: %w", gitDir, pathErrText(err))
	}
	idx := &index.Index{}
	if err := index.NewDecoder(bytes.NewReader(b)).Decode(idx); err != nil {
		return nil, time.Time{}, "", fmt.Errorf("reading index of %s: %w", gitDir, err)
	}
	sum := ""
	if len(b) >= sha1.Size {
		sum = hex.EncodeToString(b[len(b)-sha1.Size:])
	}
	return idx, fi.ModTime(), sum, nil
}

// writeIndex writes idx to .git/index through a temporary file and a
// rename, so no reader (or crash) sees a torn index, and returns its
// checksum.
func writeIndex(gitDir string, idx *index.Index) (string, error) {
	var buf bytes.Buffer
	if err := index.NewEncoder(&buf).Encode(idx); err != nil {
		return "", fmt.Errorf("encoding index of %s: %w", gitDir, err)
	}
	b := buf.Bytes()
	if err := replaceFile(filepath.Join(gitDir, "index"), b); err != nil {
		return "", fmt.Errorf("writing index of %s: %w", gitDir, err)
	}
	return hex.EncodeToString(b[len(b)-sha1.Size:]), nil
}

// replaceFile writes data to name through a temporary file and a rename.
func replaceFile(name string, data []byte) error {
	tmp := name + ".uptick-tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		os.Remove(tmp)
		return pathErrText(err)
	}
	if err := os.Rename(tmp, name); err != nil {
		os.Remove(tmp)
		return pathErrText(err)
	}
	return nil
}

// readIndexTree returns the tree the index holds, as recorded for the
// index with checksum sum; false when there is no record or it is of
// another index.
func readIndexTree(gitDir, sum string) (plumbing.Hash, bool) {
	if sum == "" {
		return plumbing.ZeroHash, false
	}
	b, err := os.ReadFile(filepath.Join(gitDir, indexTreeRecord))
	if err != nil {
		return plumbing.ZeroHash, false
	}
	f := strings.Fields(string(b))
	if len(f) != 4 || f[0] != "tree" || f[2] != "index" || f[3] != sum || !isHexHash(f[1]) {
		return plumbing.ZeroHash, false
	}
	return plumbing.NewHash(f[1]), true
}

// writeIndexTree records that the index with checksum sum holds tree.
func writeIndexTree(gitDir string, tree plumbing.Hash, sum string) error {
	if sum == "" {
		return nil
	}
	if err := replaceFile(filepath.Join(gitDir, indexTreeRecord), []byte("tree "+tree.String()+" index "+sum+"\n")); err != nil {
		return fmt.Errorf("recording the index's tree in %s: %w", gitDir, err)
	}
	return nil
}

// stageFiles records the work tree's content of files (slash paths; a
// missing file is removed) in the object store and the index, and writes
// the index once, atomically. It returns the index's new checksum. It is
// what `git add` of those paths does; go-git's Worktree.Add computes the
// status of the whole work tree for every file added.
func (r *Repo) stageFiles(files []string) (string, error) {
	gitDir := filepath.Join(r.dir, git.GitDirName)
	idx, _, _, err := readIndex(gitDir)
	if err != nil {
		return "", err
	}
	root, err := os.OpenRoot(r.dir)
	if err != nil {
		return "", fmt.Errorf("opening work tree %s: %w", r.dir, pathErrText(err))
	}
	defer root.Close()
	for _, f := range files {
		name := filepath.FromSlash(f)
		fi, err := root.Lstat(name)
		if isNotExist(err) {
			if _, err := idx.Remove(f); err != nil && !errors.Is(err, index.ErrEntryNotFound) {
				return "", fmt.Errorf("staging deletion of %s: %w", f, err)
			}
			continue
		}
		if err != nil {
			return "", fmt.Errorf("staging %s: %w", f, pathErrText(err))
		}
		mode, err := filemode.NewFromOSFileMode(fi.Mode())
		if err != nil || (mode != filemode.Regular && mode != filemode.Executable && mode != filemode.Symlink) {
			return "", fmt.Errorf("staging %s: not a file or a symbolic link", f)
		}
		var data []byte
		if mode == filemode.Symlink {
			target, err := root.Readlink(name)
			if err != nil {
				return "", fmt.Errorf("staging %s: %w", f, pathErrText(err))
			}
			data = []byte(target)
		} else if data, err = root.ReadFile(name); err != nil {
			return "", fmt.Errorf("staging %s: %w", f, pathErrText(err))
		}
		obj := r.repo.Storer.NewEncodedObject()
		obj.SetType(plumbing.BlobObject)
		obj.SetSize(int64(len(data)))
		w, err := obj.Writer()
		if err == nil {
			_, err = w.Write(data)
			if cerr := w.Close(); err == nil {
				err = cerr
			}
		}
		if err != nil {
			return "", fmt.Errorf("staging %s: %w", f, err)
		}
		h, err := r.repo.Storer.SetEncodedObject(obj)
		if err != nil {
			return "", fmt.Errorf("staging %s: %w", f, pathErrText(err))
		}
		e, err := statEntry(root, f, h, mode)
		if err != nil {
			return "", err
		}
		if old, err := idx.Entry(f); err == nil {
			*old = *e
		} else {
			idx.Entries = append(idx.Entries, e)
		}
	}
	idx.Cache, idx.ResolveUndo, idx.EndOfIndexEntry = nil, nil, nil
	if idx.Version < 2 || idx.Version > 3 {
		idx.Version = 2
	}
	return writeIndex(gitDir, idx)
}
