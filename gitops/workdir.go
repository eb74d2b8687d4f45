package gitops

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
)

// A work directory (--workdir, or a temporary directory) is laid out so
// that a run killed at any moment leaves something the next run can use or
// repair, and so that only the directory itself needs to be writable (a
// volume mounted under a read-only root filesystem):
//
//	DIR/.uptick.lock     flock held by the run using DIR (LockWorkdir)
//	DIR/repo/            the clone: work tree and .git (Repo.Dir)
//	DIR/repo/.git/uptick-workdir   marker: uptick made this clone, of this URL
//	DIR/repo/.git/uptick-index-tree  the tree the index holds (refresh)
//	DIR/repo/.git/uptick-*         what stages keep of the tree (StateFile)
//	DIR/.repo.new/       a clone being made; renamed to repo when complete
//	DIR/.repo.old/       a damaged clone being removed
//
// A clone is made in .repo.new and renamed into place only when complete,
// so repo always holds a whole clone with its marker. go-git rewrites
// HEAD, config, index and refs in place, so a run killed while refreshing
// repo can leave one of them empty or torn: the next Checkout finds that,
// warns, and clones again. A repo without the marker, or any other entry
// in DIR, was not made by uptick and is never modified.
const (
	workdirLock   = ".uptick.lock"
	workdirRepo   = "repo"
	workdirNew    = ".repo.new"
	workdirOld    = ".repo.old"
	workdirMarker = "uptick-workdir"
	// lostAndFound is what mkfs puts at the root of a fresh volume.
	lostAndFound = "lost+found"
)

// markerHeader starts every marker file.
const markerHeader = "uptick work directory; remove the parent directory to reset it\n"

var (
	// ErrWorkdirMismatch means the work directory holds uptick's clone of
	// another repository than the configured one.
	ErrWorkdirMismatch error = &inputError{"work directory holds a clone of another repository"}
	// ErrWorkdirForeign means the work directory holds files uptick did
	// not create; uptick never deletes them.
	ErrWorkdirForeign error = &inputError{"work directory holds files uptick did not create"}
	// ErrWorkdirBusy means another uptick run holds the work directory's
	// lock. It is not bad input: the next scheduled run finds it free.
	ErrWorkdirBusy = errors.New("work directory is in use by another uptick run")
)

// WorkdirBusyError is returned by LockWorkdir when another process holds
// the lock; it wraps ErrWorkdirBusy.
type WorkdirBusyError struct {
	Dir string
	// PID is the holder's process id as it recorded it, or 0 if unknown.
	PID int
}

// Error implements error.
func (e *WorkdirBusyError) Error() string {
	if e.PID > 0 {
		return fmt.Sprintf("%s: %v (pid %d)", e.Dir, ErrWorkdirBusy, e.PID)
	}
	return fmt.Sprintf("%s: %v", e.Dir, ErrWorkdirBusy)
}

// Unwrap returns ErrWorkdirBusy.
func (e *WorkdirBusyError) Unwrap() error { return ErrWorkdirBusy }

// LockWorkdir creates dir if needed and takes an exclusive, non-blocking
// lock on it for this process, so two runs never share one clone (each
// would reset the other's work tree mid-pass). The lock is a flock on
// DIR/.uptick.lock, inside dir (so only dir must be writable), a file
// Checkout never removes; the kernel releases it when the process dies, so
// a crash never leaves it held. Another holder gives a *WorkdirBusyError;
// a dir holding files uptick did not create gives ErrWorkdirForeign
// (bad input), and nothing is created in it. Call release when the run is
// over.
func LockWorkdir(dir string) (release func(), err error) {
	dir, err = filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("resolving work directory %q: %w", dir, err)
	}
	if err := prepareWorkdir(dir); err != nil {
		return nil, err
	}
	name := filepath.Join(dir, workdirLock)
	f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("opening the lock of work directory %s: %w", dir, pathErrText(err))
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		holder, _ := os.ReadFile(name)
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			pid, _ := strconv.Atoi(string(bytes.TrimSpace(holder)))
			return nil, &WorkdirBusyError{Dir: dir, PID: pid}
		}
		return nil, fmt.Errorf("locking work directory %s: %w", dir, err)
	}
	// Who holds it, for the message another run prints.
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return func() { f.Close() }, nil // closing releases the flock
}

// prepareWorkdir creates dir if missing and refuses it when it holds
// anything but uptick's own entries.
func prepareWorkdir(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("creating work directory: %w", pathErrText(err))
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("reading work directory: %w", pathErrText(err))
	}
	var foreign []string
	for _, e := range entries {
		switch e.Name() {
		case workdirLock, workdirRepo, workdirNew, workdirOld, lostAndFound:
		default:
			foreign = append(foreign, e.Name())
		}
	}
	if len(foreign) == 0 {
		repo := filepath.Join(dir, workdirRepo)
		if _, err := os.Lstat(repo); err == nil {
			if _, ok := readMarker(repo); !ok {
				return fmt.Errorf("work directory %s holds %s, which uptick did not make: %w; use an empty directory", dir, workdirRepo, ErrWorkdirForeign)
			}
		}
		return nil
	}
	slices.Sort(foreign)
	if len(foreign) > 3 {
		foreign = append(foreign[:3], "…")
	}
	hint := "use an empty directory or one an earlier run of uptick made"
	if slices.Contains(foreign, git.GitDirName) {
		hint = "uptick keeps its clone in DIR/" + workdirRepo + " now; remove the old clone or use another directory"
	}
	return fmt.Errorf("work directory %s holds %s: %w; %s", dir, strings.Join(foreign, ", "), ErrWorkdirForeign, hint)
}

// writeMarker records in the clone at dir that uptick made it, of url.
func writeMarker(dir, url string) error {
	name := filepath.Join(dir, git.GitDirName, workdirMarker)
	if err := os.WriteFile(name, []byte(markerHeader+"url "+url+"\n"), 0o644); err != nil {
		return fmt.Errorf("marking work directory: %w", pathErrText(err))
	}
	return nil
}

// readMarker returns the URL recorded in the clone at dir; ok is false
// when dir has no marker, i.e. uptick did not make it.
func readMarker(dir string) (url string, ok bool) {
	b, err := os.ReadFile(filepath.Join(dir, git.GitDirName, workdirMarker))
	if err != nil {
		return "", false
	}
	rest, found := strings.CutPrefix(string(b), markerHeader)
	if !found {
		return "", false
	}
	url, found = strings.CutPrefix(strings.TrimSuffix(rest, "\n"), "url ")
	return url, found
}

// damagedError says why a clone uptick made cannot be used.
type damagedError struct{ reason error }

func (e *damagedError) Error() string { return e.reason.Error() }
func (e *damagedError) Unwrap() error { return e.reason }

// damaged wraps a reason a clone cannot be used.
func damaged(format string, args ...any) error {
	return &damagedError{fmt.Errorf(format, args...)}
}

// openClone opens the clone uptick made at dir and checks everything a run
// reads: config and remote, HEAD, every ref and the object it names, the
// index. A clone that fails any check returns a *damagedError.
func openClone(dir, remoteURL string) (*git.Repository, error) {
	repo, err := git.PlainOpen(dir)
	if err != nil {
		return nil, damaged("opening it: %v", pathErrText(err))
	}
	cfg, err := repo.Config()
	if err != nil {
		return nil, damaged("its config: %v", pathErrText(err))
	}
	rem, ok := cfg.Remotes[remoteName]
	if !ok {
		return nil, damaged("its config names no %q remote", remoteName)
	}
	if len(rem.URLs) != 1 || stripUserinfo(rem.URLs[0]) != stripUserinfo(remoteURL) {
		return nil, damaged("its config names another remote URL than it was cloned from")
	}
	head, err := repo.Storer.Reference(plumbing.HEAD)
	if err != nil {
		return nil, damaged("HEAD: %v", pathErrText(err))
	}
	if head.Type() == plumbing.SymbolicReference {
		if _, err := repo.Storer.Reference(head.Target()); err != nil {
			return nil, damaged("HEAD names %s: %v", head.Target(), pathErrText(err))
		}
	}
	iter, err := repo.Storer.IterReferences()
	if err != nil {
		return nil, damaged("refs: %v", pathErrText(err))
	}
	err = iter.ForEach(func(ref *plumbing.Reference) error {
		if ref.Type() != plumbing.HashReference {
			return nil
		}
		if err := repo.Storer.HasEncodedObject(ref.Hash()); err != nil {
			return fmt.Errorf("%s names a missing object %s", ref.Name(), ref.Hash())
		}
		return nil
	})
	if err != nil {
		return nil, damaged("refs: %v", pathErrText(err))
	}
	if err := checkIndexFile(filepath.Join(dir, git.GitDirName, "index")); err != nil {
		return nil, damaged("index: %v", pathErrText(err))
	}
	return repo, nil
}

// removeDir removes path, which uptick made, entirely.
func removeDir(path string) error {
	if err := os.RemoveAll(path); err != nil {
		return fmt.Errorf("removing %s: %w", path, pathErrText(err))
	}
	return nil
}

// isNotExist reports whether err says a file does not exist.
func isNotExist(err error) bool { return errors.Is(err, fs.ErrNotExist) }
