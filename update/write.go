package update

import (
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// Writing is in two phases, so that durability costs one wait per pass
// instead of one fsync after another, and no file is ever torn:
//
//  1. stage: each new content goes to a temporary file created beside its
//     target (O_EXCL, same directory, so the rename stays on one file
//     system), with the target's mode, and is kept open;
//  2. flush: every temporary file is made durable at once (fdatasync on
//     syncWorkers threads, so the file system writes them together),
//     then they are renamed over their targets, renameWorkers at a time.
//
// A crash before a rename leaves the target as it was (and an unused
// temporary file); a rename is atomic, and it happens only once the new
// content is on disk, so after a crash each file is whole: old or new.
//
// One syncfs per file system would be a single call, and is as safe; it
// is not the default because it also waits for everything else written to
// that file system: measured on a shared machine, 11 ms when it was quiet
// but 0.8 s and once 11 s while other processes were writing, where
// fdatasync of the pass's own files took 5 to 50 ms (withSyncFS in the
// benchmarks compares the two).
//
// Staged files hold their own descriptor and their directory's open until
// the flush; when more than maxStagedFDs are held, the stager flushes
// early, so a pass never runs out of file descriptors.

// maxStagedFDs bounds the descriptors held open by staged writes; the
// stager keeps within half the process's limit too.
const maxStagedFDs = 1024

// syncWorkers is how many temporary files are fdatasync'ed at once, and
// renameWorkers how many renames run at once: both mostly wait for the
// device (a rename frees the old file's blocks), so more than the cores.
const (
	syncWorkers   = 32
	renameWorkers = 8
)

// stager collects the staged writes of all workers and commits them.
type stager struct {
	mu      sync.Mutex
	pending []staged
	fds     int // held by pending: temporary files and directories
	maxFDs  int
	perFile bool // fdatasync each file (the default), not syncfs
	// res holds the committed files and changes, and failed writes.
	res Result
}

type staged struct {
	dir     *dirRef
	fd      int // the temporary file, open until flushed
	tmp     string
	name    string
	change  FileChange
	changes []Change
}

func newStager(o *options) *stager {
	s := &stager{perFile: !haveSyncFS || !o.syncFS, maxFDs: maxStagedFDs}
	var lim unix.Rlimit
	if unix.Getrlimit(unix.RLIMIT_NOFILE, &lim) == nil && lim.Cur < uint64(4*maxStagedFDs) {
		s.maxFDs = max(8, int(lim.Cur)/4)
	}
	return s
}

// stage writes fc.After to a temporary file in d for name, to be renamed
// by flush.
func (s *stager) stage(d *dirRef, name string, mode fs.FileMode, fc FileChange, changes []Change) error {
	fd, tmp, err := writeTemp(d.fd, name, fc.After, mode)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !d.staged {
		var st unix.Stat_t
		if err := fstat(d.fd, &st); err != nil {
			unix.Close(fd)
			unlinkat(d.fd, tmp)
			return fmt.Errorf("writing temp file for %q: %w", fc.Path, err)
		}
		d.staged, d.dev = true, uint64(st.Dev)
		d.acquire()
		s.fds++
	}
	s.pending = append(s.pending, staged{dir: d, fd: fd, tmp: tmp, name: name, change: fc, changes: changes})
	s.fds++
	if s.fds >= s.maxFDs {
		s.flushLocked()
	}
	return nil
}

// flush makes the staged files durable and renames them into place.
func (s *stager) flush() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.flushLocked()
}

func (s *stager) flushLocked() {
	if len(s.pending) == 0 {
		return
	}
	pending := s.pending
	s.pending = nil
	slices.SortFunc(pending, func(a, b staged) int { return strings.Compare(a.change.Path, b.change.Path) })
	errs := make([]error, len(pending))
	if s.perFile {
		parallel(len(pending), syncWorkers, func(i int) {
			errs[i] = retry(func() error { return unix.Fdatasync(pending[i].fd) })
		})
	} else {
		// One sync per file system the staged files are on.
		byDev := map[uint64]error{}
		for i, p := range pending {
			err, done := byDev[p.dir.dev]
			if !done {
				err = syncFS(p.dir.fd)
				byDev[p.dir.dev] = err
			}
			errs[i] = err
		}
	}
	for i, p := range pending {
		if cerr := unix.Close(p.fd); errs[i] == nil && cerr != nil {
			errs[i] = cerr
		}
		s.fds--
	}
	parallel(len(pending), renameWorkers, func(i int) {
		p := &pending[i]
		if errs[i] != nil {
			errs[i] = fmt.Errorf("syncing the new content to disk: %w", errs[i])
		} else if err := renameat(p.dir.fd, p.tmp, p.name); err != nil {
			errs[i] = fmt.Errorf("replacing %q: %w", p.change.Path, err)
		}
		if errs[i] != nil {
			unlinkat(p.dir.fd, p.tmp)
		}
	})
	for i, p := range pending {
		if err := errs[i]; err != nil {
			s.res.Errors = append(s.res.Errors, &FileError{File: p.change.Path, Err: err})
			continue
		}
		s.res.Files = append(s.res.Files, p.change)
		s.res.Changes = append(s.res.Changes, p.changes...)
	}
	s.release(pending)
}

// discard removes the staged files without renaming them.
func (s *stager) discard() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range s.pending {
		unix.Close(p.fd)
		unlinkat(p.dir.fd, p.tmp)
		s.fds--
	}
	s.release(s.pending)
	s.pending = nil
}

func (s *stager) release(pending []staged) {
	for _, p := range pending {
		if p.dir.staged {
			p.dir.staged = false
			p.dir.release()
			s.fds--
		}
	}
}

// parallel calls f(0) … f(n-1) on up to workers goroutines and waits.
func parallel(n, workers int, f func(i int)) {
	if n <= 1 || workers <= 1 {
		for i := range n {
			f(i)
		}
		return
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(workers, n) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				f(i)
			}
		}()
	}
	wg.Wait()
}

// writeTemp writes data to a new file beside name in the directory dirfd,
// with mode whatever the umask, and returns it open, and its name.
func writeTemp(dirfd int, name string, data []byte, mode fs.FileMode) (fd int, tmp string, err error) {
	base := name
	if len(base) > 200 { // leave room for the suffix within NAME_MAX
		base = base[:200]
	}
	for range 10 {
		tmp = "." + base + ".uptick-" + strconv.FormatUint(rand.Uint64(), 36) + ".tmp"
		fd, err = openat(dirfd, tmp, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, uint32(mode))
		if err != unix.EEXIST {
			break
		}
	}
	if err != nil {
		return -1, "", fmt.Errorf("creating temp file for %q: %w", name, err)
	}
	fail := func(err error) (int, string, error) {
		unix.Close(fd)
		unlinkat(dirfd, tmp)
		return -1, "", fmt.Errorf("writing temp file for %q: %w", name, err)
	}
	for off := 0; off < len(data); {
		n, werr := unix.Write(fd, data[off:])
		if werr == unix.EINTR {
			continue
		}
		if werr != nil {
			return fail(werr)
		}
		off += n
	}
	// The umask may have narrowed the create mode.
	if err := retry(func() error { return unix.Fchmod(fd, uint32(mode)) }); err != nil {
		return fail(err)
	}
	return fd, tmp, nil
}

func renameat(dirfd int, from, to string) error {
	return retry(func() error { return unix.Renameat(dirfd, from, dirfd, to) })
}

func unlinkat(dirfd int, name string) {
	_ = retry(func() error { return unix.Unlinkat(dirfd, name, 0) })
}

// retry calls f again while a signal interrupts it.
func retry(f func() error) error {
	for {
		err := f()
		if !errors.Is(err, unix.EINTR) {
			return err
		}
	}
}
