package gitops

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
)

// The refs of a repository served over file:// are read and written here,
// the way git itself does, so uptick and the git CLI (or git http-backend,
// or sshd's git-receive-pack) can share one repository safely:
//
//   - An update takes git's own lock, "<ref>.lock" created with O_EXCL, so
//     real git and uptick exclude each other.
//   - Under the lock it compares the ref's current value (loose file, else
//     packed-refs) with the value the pushing client saw, and refuses with
//     git's "cannot lock ref …: is at X but expected Y" when they differ:
//     a push is a compare-and-swap, never a silent overwrite.
//   - The new value is written to the lock file, fsynced, and renamed over
//     the ref: a reader sees the old or the new value, never an empty or a
//     torn file, whenever the writer dies.
//
// A writer killed while it holds "<ref>.lock" leaves the lock behind, and
// git leaves such a lock for a person to remove. uptick recovers on its own:
// uptick writers also hold a flock on refsLockName for the whole update and
// first record there which lock files they are about to create (the
// intent). The next uptick writer takes that flock (the kernel released
// the dead writer's), finds the recorded lock files and removes them. Lock
// files not recorded there belong to git and are never touched.

const (
	// refsLockName is uptick's own lock and intent record in the git
	// directory; git ignores files it does not know there.
	refsLockName = "uptick-refs.lock"
	// lockSuffix is git's lock file suffix.
	lockSuffix = ".lock"
	// packedRefsName is git's file of packed refs.
	packedRefsName = "packed-refs"
	// refLockWait is how long an update waits for a lock another process
	// holds; like git's core.filesRefLockTimeout, ref locks are held for
	// milliseconds, so a longer wait means a stuck or crashed writer.
	refLockWait = time.Second
	// refLockPoll is how often a held lock is tried again.
	refLockPoll = 5 * time.Millisecond
)

// errRefLockBusy means another writer holds a lock past refLockWait.
var errRefLockBusy = errors.New("file exists: another git process holds it, or one crashed (remove the file if no git process is running)")

// refStore reads and compare-and-swaps the refs of the git directory dir.
type refStore struct{ dir string }

// refUpdate is one command of a push: move Name from Old to New (a zero
// Old creates, a zero New deletes).
type refUpdate struct {
	Name     plumbing.ReferenceName
	Old, New plumbing.Hash
}

// read returns the reference called name: its loose file, else its line in
// packed-refs. A missing ref returns plumbing.ErrReferenceNotFound.
func (s refStore) read(name plumbing.ReferenceName) (*plumbing.Reference, error) {
	ref, err := s.readLoose(name)
	if err == nil || !errors.Is(err, plumbing.ErrReferenceNotFound) {
		return ref, err
	}
	if name == plumbing.HEAD {
		return nil, err
	}
	packed, err := s.readPacked()
	if err != nil {
		return nil, err
	}
	if h, ok := packed[name]; ok {
		return plumbing.NewHashReference(name, h), nil
	}
	return nil, plumbing.ErrReferenceNotFound
}

// readLoose reads the loose ref file of name. Files are replaced by rename,
// so a read sees one whole value; an empty or malformed file is reported,
// never taken for a missing ref.
func (s refStore) readLoose(name plumbing.ReferenceName) (*plumbing.Reference, error) {
	b, err := os.ReadFile(filepath.Join(s.dir, filepath.FromSlash(name.String())))
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.EISDIR) || errors.Is(err, syscall.ENOTDIR) {
		return nil, plumbing.ErrReferenceNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("reading ref %s: %w", name, pathErrText(err))
	}
	return parseLooseRef(name, b)
}

// parseLooseRef parses the content of a loose ref file.
func parseLooseRef(name plumbing.ReferenceName, b []byte) (*plumbing.Reference, error) {
	line := strings.TrimRight(string(b), "\n")
	if target, ok := strings.CutPrefix(line, "ref: "); ok {
		return plumbing.NewSymbolicReference(name, plumbing.ReferenceName(strings.TrimSpace(target))), nil
	}
	if !isHexHash(line) {
		if line == "" {
			return nil, fmt.Errorf("ref %s is an empty file", name)
		}
		return nil, fmt.Errorf("ref %s is not a valid object name", name)
	}
	return plumbing.NewHashReference(name, plumbing.NewHash(line)), nil
}

// isHexHash reports whether s is a full SHA-1 object name.
func isHexHash(s string) bool {
	if len(s) != 40 {
		return false
	}
	for _, c := range s {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// readPacked parses packed-refs; a missing file holds no refs.
func (s refStore) readPacked() (map[plumbing.ReferenceName]plumbing.Hash, error) {
	refs := map[plumbing.ReferenceName]plumbing.Hash{}
	b, err := os.ReadFile(filepath.Join(s.dir, packedRefsName))
	if errors.Is(err, fs.ErrNotExist) {
		return refs, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", packedRefsName, pathErrText(err))
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if line == "" || line[0] == '#' || line[0] == '^' { // header, peeled tag
			continue
		}
		hash, name, ok := strings.Cut(line, " ")
		if !ok || !isHexHash(hash) || name == "" {
			return nil, fmt.Errorf("%s line %d is malformed", packedRefsName, n)
		}
		refs[plumbing.ReferenceName(name)] = plumbing.NewHash(hash)
	}
	return refs, sc.Err()
}

// list returns HEAD and every ref under refs/, loose values overriding
// packed ones. Lock files and names git would reject are skipped, as git
// skips them.
func (s refStore) list() ([]*plumbing.Reference, error) {
	var out []*plumbing.Reference
	head, err := s.readLoose(plumbing.HEAD)
	switch {
	case err == nil:
		out = append(out, head)
	case !errors.Is(err, plumbing.ErrReferenceNotFound):
		return nil, err
	}
	seen := map[plumbing.ReferenceName]bool{}
	root := filepath.Join(s.dir, "refs")
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if errors.Is(err, fs.ErrNotExist) { // removed while walking
			return nil
		}
		if err != nil {
			return err
		}
		if d.IsDir() || strings.HasSuffix(p, lockSuffix) {
			return nil
		}
		rel, err := filepath.Rel(s.dir, p)
		if err != nil {
			return err
		}
		name := plumbing.ReferenceName(filepath.ToSlash(rel))
		if name.Validate() != nil {
			return nil
		}
		ref, err := s.readLoose(name)
		if errors.Is(err, plumbing.ErrReferenceNotFound) { // deleted meanwhile
			return nil
		}
		if err != nil {
			return err
		}
		seen[name] = true
		out = append(out, ref)
		return nil
	})
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("listing refs: %w", pathErrText(err))
	}
	packed, err := s.readPacked()
	if err != nil {
		return nil, err
	}
	for name, h := range packed {
		if !seen[name] {
			out = append(out, plumbing.NewHashReference(name, h))
		}
	}
	return out, nil
}

// update applies cmds one by one, each a compare-and-swap under git's ref
// lock, and returns one error (nil for success) per command.
func (s refStore) update(ctx context.Context, cmds []refUpdate) []error {
	errs := make([]error, len(cmds))
	in, unlock, err := s.lockUpdates(ctx)
	if err != nil {
		for i := range errs {
			errs[i] = fmt.Errorf("cannot lock ref '%s': %w", cmds[i].Name, err)
		}
		return errs
	}
	defer unlock()
	for i, c := range cmds {
		errs[i] = s.updateOne(ctx, in, c)
	}
	return errs
}

// intentFile is the open, flocked refsLockName while an update runs.
type intentFile struct{ f *os.File }

// lockUpdates takes uptick's flock on refsLockName (waiting while another
// uptick holds it) and removes the lock files a crashed uptick recorded.
func (s refStore) lockUpdates(ctx context.Context) (intentFile, func(), error) {
	name := filepath.Join(s.dir, refsLockName)
	f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return intentFile{}, nil, fmt.Errorf("opening %s: %w", refsLockName, pathErrText(err))
	}
	deadline := time.Now().Add(refLockWait)
	for {
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			break
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) || time.Now().After(deadline) || ctx.Err() != nil {
			f.Close()
			if errors.Is(err, syscall.EWOULDBLOCK) {
				return intentFile{}, nil, fmt.Errorf("another uptick process held %s for more than %s", refsLockName, refLockWait)
			}
			return intentFile{}, nil, fmt.Errorf("locking %s: %w", refsLockName, err)
		}
		time.Sleep(refLockPoll)
	}
	in := intentFile{f}
	if err := s.removeCrashedLocks(in); err != nil {
		f.Close()
		return intentFile{}, nil, err
	}
	return in, func() { f.Close() }, nil // closing releases the flock
}

// removeCrashedLocks removes the lock files the intent record names: they
// were created by an uptick writer that died holding them (a live one
// would still hold the flock we now hold).
func (s refStore) removeCrashedLocks(in intentFile) error {
	b, err := os.ReadFile(in.f.Name())
	if err != nil {
		return fmt.Errorf("reading %s: %w", refsLockName, pathErrText(err))
	}
	for _, line := range strings.Split(string(b), "\n") {
		rel := strings.TrimSpace(line)
		if !strings.HasSuffix(rel, lockSuffix) || !filepath.IsLocal(rel) {
			continue // a torn record names no lock it created
		}
		if err := os.Remove(filepath.Join(s.dir, rel)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("removing a lock left by a crashed uptick: %w", pathErrText(err))
		}
	}
	return in.record()
}

// record replaces the intent with the given lock files (relative to the
// git directory), durably, before any of them is created.
func (in intentFile) record(locks ...string) error {
	content := ""
	if len(locks) > 0 {
		content = strings.Join(locks, "\n") + "\n"
	}
	if err := in.f.Truncate(0); err != nil {
		return fmt.Errorf("writing %s: %w", refsLockName, pathErrText(err))
	}
	if _, err := in.f.WriteAt([]byte(content), 0); err != nil {
		return fmt.Errorf("writing %s: %w", refsLockName, pathErrText(err))
	}
	if err := in.f.Sync(); err != nil {
		return fmt.Errorf("writing %s: %w", refsLockName, pathErrText(err))
	}
	return nil
}

// updateOne compare-and-swaps one ref. The caller holds lockUpdates.
func (s refStore) updateOne(ctx context.Context, in intentFile, c refUpdate) (err error) {
	if !strings.HasPrefix(c.Name.String(), "refs/") || c.Name.Validate() != nil {
		return fmt.Errorf("funny refname '%s'", c.Name)
	}
	fail := func(format string, args ...any) error {
		return fmt.Errorf("cannot lock ref '%s': %s", c.Name, fmt.Sprintf(format, args...))
	}
	rel := filepath.FromSlash(c.Name.String())
	locks := []string{rel + lockSuffix}
	if c.New.IsZero() {
		locks = append(locks, packedRefsName+lockSuffix)
	}
	if err := in.record(locks...); err != nil {
		return err
	}
	defer func() {
		if rerr := in.record(); err == nil {
			err = rerr
		}
	}()

	refPath := filepath.Join(s.dir, rel)
	lock, err := s.createLock(ctx, refPath+lockSuffix)
	if err != nil {
		return fail("%v", err)
	}
	defer func() {
		if lock != nil { // not renamed into place
			lock.Close()
			os.Remove(lock.Name())
		}
	}()

	cur, err := s.read(c.Name)
	switch {
	case errors.Is(err, plumbing.ErrReferenceNotFound):
		if !c.Old.IsZero() {
			return fail("unable to resolve reference '%s': it does not exist but was expected at %s", c.Name, c.Old)
		}
	case err != nil:
		return fail("%v", err)
	case cur.Type() != plumbing.HashReference:
		return fail("it is a symbolic ref")
	case c.Old.IsZero():
		return fail("reference already exists")
	case cur.Hash() != c.Old:
		return fail("is at %s but expected %s", cur.Hash(), c.Old)
	}

	if c.New.IsZero() {
		if err := s.deletePacked(ctx, c.Name); err != nil {
			return fail("%v", err)
		}
		if err := os.Remove(refPath); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fail("%v", pathErrText(err))
		}
		return nil
	}
	if err := writeSynced(lock, []byte(c.New.String()+"\n")); err != nil {
		return fail("%v", err)
	}
	if err := os.Rename(lock.Name(), refPath); err != nil {
		return fail("%v", pathErrText(err))
	}
	lock.Close()
	lock = nil
	return syncDir(filepath.Dir(refPath))
}

// createLock creates path with O_EXCL, creating missing parent directories,
// waiting up to refLockWait while someone else holds it.
func (s refStore) createLock(ctx context.Context, path string) (*os.File, error) {
	deadline := time.Now().Add(refLockWait)
	for {
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		switch {
		case err == nil:
			return f, nil
		case errors.Is(err, fs.ErrNotExist):
			if merr := os.MkdirAll(filepath.Dir(path), 0o755); merr != nil {
				return nil, fmt.Errorf("unable to create '%s': %w", path, pathErrText(merr))
			}
			continue
		case errors.Is(err, fs.ErrExist):
			if time.Now().After(deadline) || ctx.Err() != nil {
				return nil, fmt.Errorf("unable to create '%s': %w", path, errRefLockBusy)
			}
			time.Sleep(refLockPoll)
		default:
			return nil, fmt.Errorf("unable to create '%s': %w", path, pathErrText(err))
		}
	}
}

// deletePacked rewrites packed-refs without name, under git's
// packed-refs.lock, when name is packed.
func (s refStore) deletePacked(ctx context.Context, name plumbing.ReferenceName) error {
	path := filepath.Join(s.dir, packedRefsName)
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return pathErrText(err)
	}
	lock, err := s.createLock(ctx, path+lockSuffix)
	if err != nil {
		return err
	}
	defer func() {
		if lock != nil {
			lock.Close()
			os.Remove(lock.Name())
		}
	}()
	// Read again under the lock: it may have been rewritten meanwhile.
	if b, err = os.ReadFile(path); err != nil {
		return pathErrText(err)
	}
	var out bytes.Buffer
	found, skipPeeled := false, false
	for _, line := range strings.SplitAfter(string(b), "\n") {
		if skipPeeled && strings.HasPrefix(line, "^") {
			continue
		}
		skipPeeled = false
		if _, n, ok := strings.Cut(strings.TrimRight(line, "\n"), " "); ok && n == name.String() && !strings.HasPrefix(line, "#") {
			found, skipPeeled = true, true
			continue
		}
		out.WriteString(line)
	}
	if !found {
		return nil
	}
	if err := writeSynced(lock, out.Bytes()); err != nil {
		return err
	}
	if err := os.Rename(lock.Name(), path); err != nil {
		return pathErrText(err)
	}
	lock.Close()
	lock = nil
	return syncDir(s.dir)
}

// writeSynced writes b to f and flushes it to disk.
func writeSynced(f *os.File, b []byte) error {
	if _, err := f.Write(b); err != nil {
		return pathErrText(err)
	}
	if err := f.Sync(); err != nil {
		return pathErrText(err)
	}
	return nil
}

// syncDir flushes a directory, so a rename in it survives a power loss.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return pathErrText(err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, syscall.EINVAL) { // some filesystems cannot
		return pathErrText(err)
	}
	return nil
}

// pathErrText drops the syscall name that *fs.PathError and
// *os.LinkError put in their messages ("open x: permission denied" reads
// "x: permission denied"), wherever they sit in err's chain, keeping the
// rest of the message and the chain for errors.Is/As.
func pathErrText(err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	var pe *fs.PathError
	if errors.As(err, &pe) {
		msg = strings.Replace(msg, pe.Op+" "+pe.Path+": ", pe.Path+": ", 1)
	}
	var le *os.LinkError
	if errors.As(err, &le) {
		msg = strings.Replace(msg, le.Op+" "+le.Old+" "+le.New+": ", "moving "+le.Old+" to "+le.New+": ", 1)
	}
	if msg == err.Error() {
		return err
	}
	return &plainPathError{msg: msg, err: err}
}

// plainPathError is an error whose message lost its syscall name.
type plainPathError struct {
	msg string
	err error // the original, for errors.Is/As
}

func (e *plainPathError) Error() string { return e.msg }
func (e *plainPathError) Unwrap() error { return e.err }
