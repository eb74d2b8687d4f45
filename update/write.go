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

// Every new content goes to a temporary file created beside its target
// (O_EXCL, same directory, so the rename stays on one file system), with
// the target's mode; it is made durable (fdatasync) and only then renamed
// over its target. A crash before the rename leaves the target as it was
// (and an unused temporary file); the rename is atomic and comes after
// the new content is on disk, so after a crash each file is whole: old
// or new.
//
// Two schemes make the temporary files durable; both rename a file only
// after its new content is on disk.
//
// The whole-file-system scheme, the default while the machine is quiet:
// the temporary files are written while the walk goes on, then one
// syncfs per file system makes them all durable at once, then the
// renames run, ioWorkers at a time. One sync instead of one per file:
// 1,000 files rewritten by a whole process took 0.28 s instead of 0.41 s
// on a journaled ext4 (one journal commit instead of dozens), 0.34 s
// instead of 0.37 s on this project's test disk (ext4 without a journal).
// But a syncfs also writes whatever else is dirty on that file system:
// 11 ms on a quiet machine, 0.8 s and once 11 s while other processes
// were writing. So it is used only while the machine holds little dirty
// data (quietDirty, read from /proc/meminfo), checked when the pass
// starts and again right before the sync.
//
// The per-file scheme, otherwise (and where there is no syncfs): the
// syncs and renames run in a pipeline beside the walk, on ioWorkers
// goroutines, so the waits for the device overlap the parsing of the next
// files, and many fdatasyncs are in flight at once; each waits for the
// pass's own file only. Files staged for a syncfs that then finds the
// machine busy are fdatasync'ed the same way, ioWorkers at once.

// syncMode says which scheme makes the temporary files durable.
type syncMode uint8

const (
	syncAuto    syncMode = iota // whole file system while the machine is quiet, else per file
	syncPerFile                 // always per file (tests, benchmarks)
	syncWholeFS                 // always one syncfs per file system (tests, benchmarks)
)

// quietDirty is how much dirty data, beyond the pass's own, the machine
// may hold for a syncfs to be used: written at the 30-100 MB/s of a slow
// cloud disk, it costs about what the per-file scheme's round trips do.
const quietDirty = 16 << 20

// maxStagedFDs bounds the descriptors held open by the syncfs scheme's
// staged writes; the stager keeps within a quarter of the process's limit
// too. The pipeline holds at most pipeDepth+ioWorkers.
const maxStagedFDs = 1024

// ioWorkers is how many syncs and renames run at once (they mostly wait
// for the device: a rename also frees the old file's blocks), and
// pipeDepth how many staged files may wait for one.
const (
	ioWorkers = 16
	pipeDepth = 64
)

// stager commits the staged writes of all workers.
type stager struct {
	mu sync.Mutex
	// res holds the committed files and changes, and failed writes.
	res Result

	// The pipeline (the default).
	pipeline  bool
	startOnce sync.Once
	pipe      chan staged
	wg        sync.WaitGroup
	cancelled atomic.Bool

	// The whole-file-system scheme: everything staged first.
	mode    syncMode
	quiet   func(own int64) bool
	pending []staged
	bytes   int64 // written to the pending temporary files
	fds     int   // held by pending: temporary files and directories
	maxFDs  int
}

type staged struct {
	dir     *dirRef
	fd      int // the temporary file, open until committed
	tmp     string
	name    string
	change  FileChange
	changes []Change
}

func newStager(o *options) *stager {
	s := &stager{mode: o.sync, quiet: o.quiet, maxFDs: maxStagedFDs}
	if s.quiet == nil {
		s.quiet = quiet
	}
	s.pipeline = !haveSyncFS || o.sync == syncPerFile || o.sync == syncAuto && !s.quiet(0)
	var lim unix.Rlimit
	if unix.Getrlimit(unix.RLIMIT_NOFILE, &lim) == nil && uint64(lim.Cur) < uint64(4*maxStagedFDs) {
		s.maxFDs = max(8, int(lim.Cur)/4)
	}
	return s
}

// commit syncs one staged file and renames it into place, unless the pass
// was cancelled; it releases the file's directory.
func (s *stager) commit(p staged) {
	err := retry(func() error { return datasync(p.fd) })
	if cerr := unix.Close(p.fd); err == nil && cerr != nil {
		err = cerr
	}
	switch {
	case s.cancelled.Load():
		unlinkat(p.dir.fd, p.tmp)
		p.dir.release()
		return
	case err != nil:
		err = fmt.Errorf("syncing the new content to disk: %w", err)
	default:
		if err = renameat(p.dir.fd, p.tmp, p.name); err != nil {
			err = fmt.Errorf("replacing %q: %w", p.change.Path, err)
		}
	}
	if err != nil {
		unlinkat(p.dir.fd, p.tmp)
	}
	p.dir.release()
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		s.res.Errors = append(s.res.Errors, &FileError{File: p.change.Path, Err: err})
		return
	}
	s.res.Files = append(s.res.Files, p.change)
	s.res.Changes = append(s.res.Changes, p.changes...)
}

// stage writes fc.After to a temporary file in d for name, to be renamed
// by flush.
func (s *stager) stage(d *dirRef, name string, mode fs.FileMode, fc FileChange, changes []Change) error {
	fd, tmp, err := writeTemp(d.fd, name, fc.After, mode)
	if err != nil {
		return err
	}
	if s.pipeline {
		s.startOnce.Do(func() {
			s.pipe = make(chan staged, pipeDepth)
			for range ioWorkers {
				s.wg.Add(1)
				go func() {
					defer s.wg.Done()
					for p := range s.pipe {
						s.commit(p)
					}
				}()
			}
		})
		d.acquire()
		s.pipe <- staged{dir: d, fd: fd, tmp: tmp, name: name, change: fc, changes: changes}
		return nil
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
	s.bytes += int64(len(fc.After))
	s.fds++
	if s.fds >= s.maxFDs {
		s.flushLocked()
	}
	return nil
}

// flush makes the staged files durable and renames them into place.
func (s *stager) flush() {
	if s.pipe != nil {
		close(s.pipe)
		s.wg.Wait()
		return
	}
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
	if s.mode == syncWholeFS || s.quiet(s.bytes) {
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
	} else {
		parallel(len(pending), ioWorkers, func(i int) {
			errs[i] = retry(func() error { return datasync(pending[i].fd) })
		})
	}
	s.bytes = 0
	for i, p := range pending {
		if cerr := unix.Close(p.fd); errs[i] == nil && cerr != nil {
			errs[i] = cerr
		}
		s.fds--
	}
	parallel(len(pending), ioWorkers, func(i int) {
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

// discard removes the staged files not yet renamed.
func (s *stager) discard() {
	if s.pipe != nil {
		s.cancelled.Store(true)
		close(s.pipe)
		s.wg.Wait()
		return
	}
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
