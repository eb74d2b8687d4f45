package update

import (
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// Every new content goes to a temporary file created beside its target
// (O_EXCL, same directory, so the rename stays on one file system), with
// the target's mode; it is made durable and only then renamed over its
// target. A crash before the rename leaves the target as it was (and an
// unused temporary file); the rename is atomic and comes after the new
// content is on disk, so after a crash each file is whole: old or new.
//
// Two schemes make the temporary files durable.
//
// The whole-file-system scheme, the default while the machine is quiet:
// ioWorkers writers take the new contents from the walk's workers, which
// go on parsing, and write the temporary files; every batchFiles written
// files, one syncfs per file system makes the batch durable at once and
// its renames run, ioWorkers at a time, while the walk goes on. One sync
// per batch instead of one per file: 1,000 files rewritten by a whole
// process took 0.32 s instead of 0.45 s on a journaled ext4 (a few
// journal commits instead of dozens); on this project's test disk, ext4
// without a journal, the writers and batches took 0.87 of the time of
// the per-file scheme (paired medians). But a syncfs also writes
// whatever else is dirty on that file system: 11 ms on a quiet machine,
// 0.8 s and once 11 s while other processes were writing. So it is used
// only while the machine holds little dirty data (quietDirty, read from
// /proc/meminfo), checked when the pass starts and again before each
// batch's sync; a batch that finds the machine busy is fdatasync'ed file
// by file, ioWorkers at once.
//
// The per-file scheme, otherwise (and where there is no syncfs): the
// walk's workers write the temporary files, and the syncs and renames
// run in a pipeline beside the walk, on ioWorkers goroutines, so the
// waits for the device overlap the parsing of the next files, and many
// fdatasyncs are in flight at once; each waits for the pass's own file
// only.

// syncMode says which scheme makes the temporary files durable.
type syncMode uint8

const (
	syncAuto    syncMode = iota // whole file system while the machine is quiet, else per file
	syncPerFile                 // always per file (tests, benchmarks)
	syncWholeFS                 // always one syncfs per file system (tests, benchmarks)
)

// quietDirty is how much dirty data, beyond the pass's own, the machine
// may hold for a syncfs to be used. A syncfs writes only what was dirty
// when it started: on this project's test disk 16 MiB took 13 ms and 128
// MiB 59 ms; at the 125 MB/s of a slow cloud disk 64 MiB is about half a
// second, against the 0.15 s the per-file scheme adds to a 1,000-file
// pass. A pass itself leaves about 6 MiB of metadata dirty (inodes,
// directories, bitmaps) for writeback: a bound much lower would make
// passes in quick succession see each other as load.
const quietDirty = 64 << 20

// ioWorkers is how many temporary files are written, synced or renamed
// at once (they mostly wait for the device: a create may search the inode
// table, a rename frees the old file's blocks), and pipeDepth how many
// files may wait for one.
const (
	ioWorkers = 16
	pipeDepth = 64
)

// batchFiles is how many written files the whole-file-system scheme
// syncs and renames together: a few batches a pass, so the renames of one
// overlap the walk and the parsing of the files after it. A batch holds a
// descriptor per file (and keeps their directories open): under a low
// limit of open files, batches stay within an eighth of it. The pipeline
// holds at most pipeDepth+ioWorkers.
const batchFiles = 256

// stager commits the staged writes of all workers.
type stager struct {
	mu sync.Mutex
	// res holds the committed files and changes, and failed writes.
	res Result

	mode      syncMode
	quiet     func(own int64) bool
	startOnce sync.Once
	wg        sync.WaitGroup
	cancelled atomic.Bool

	// The per-file scheme: a pipeline of syncs and renames.
	pipeline bool
	pipe     chan staged

	// The whole-file-system scheme: writers take the new contents from
	// writes and gather the written files in pending (under mu) until a
	// batch is full.
	writes  chan staged
	pending []staged
	bytes   int64 // written to the pending temporary files
	batch   int
}

// staged is one file on its way: its new content, then its open
// temporary file. It holds a reference to its directory.
type staged struct {
	dir     *dirRef
	fd      int // the temporary file, open until committed
	tmp     string
	name    string
	mode    fs.FileMode
	dev     uint64 // of the directory, for the whole-file-system sync
	change  FileChange
	changes []Change
}

func newStager(o *options) *stager {
	s := &stager{mode: o.sync, quiet: o.quiet, batch: o.batch}
	if s.quiet == nil {
		s.quiet = quiet
	}
	if s.batch < 1 {
		s.batch = batchFiles
	}
	s.pipeline = !haveSyncFS || o.sync == syncPerFile || o.sync == syncAuto && !s.quiet(0)
	var lim unix.Rlimit
	if unix.Getrlimit(unix.RLIMIT_NOFILE, &lim) == nil && uint64(lim.Cur) < uint64(8*s.batch) {
		s.batch = max(4, int(lim.Cur)/8)
	}
	return s
}

// stage has fc.After written for name in d and renamed over it, after a
// sync; the outcome is in s.res once flush returns.
func (s *stager) stage(d *dirRef, name string, mode fs.FileMode, fc FileChange, changes []Change) error {
	p := staged{dir: d, name: name, mode: mode, change: fc, changes: changes}
	if !s.pipeline {
		s.startOnce.Do(func() { s.start(&s.writes, s.write) })
		d.acquire()
		s.writes <- p
		return nil
	}
	fd, tmp, err := writeTemp(d.fd, name, fc.After, mode)
	if err != nil {
		return err
	}
	p.fd, p.tmp = fd, tmp
	s.startOnce.Do(func() { s.start(&s.pipe, s.commit) })
	d.acquire()
	s.pipe <- p
	return nil
}

// start runs ioWorkers goroutines taking files from a new channel.
func (s *stager) start(ch *chan staged, f func(staged)) {
	c := make(chan staged, pipeDepth)
	*ch = c
	for range ioWorkers {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			for p := range c {
				f(p)
			}
		}()
	}
}

// commit syncs one file of the pipeline and renames it into place,
// unless the pass was cancelled; it releases the file's directory.
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
	s.record(p, err)
}

// record notes one file's outcome.
func (s *stager) record(p staged, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		s.res.Errors = append(s.res.Errors, &FileError{File: p.change.Path, Err: err})
		return
	}
	s.res.Files = append(s.res.Files, p.change)
	s.res.Changes = append(s.res.Changes, p.changes...)
}

// write writes one file's temporary file for the whole-file-system
// scheme and, when that fills a batch, commits the batch.
func (s *stager) write(p staged) {
	if s.cancelled.Load() {
		p.dir.release()
		return
	}
	var st unix.Stat_t
	err := fstat(p.dir.fd, &st)
	if err != nil {
		err = fmt.Errorf("writing temp file for %q: %w", p.change.Path, err)
	} else {
		p.dev = uint64(st.Dev)
		p.fd, p.tmp, err = writeTemp(p.dir.fd, p.name, p.change.After, p.mode)
	}
	if err != nil {
		p.dir.release()
		s.record(p, err)
		return
	}
	s.mu.Lock()
	s.pending = append(s.pending, p)
	s.bytes += int64(len(p.change.After))
	var batch []staged
	var bytes int64
	if len(s.pending) >= s.batch {
		batch, bytes = s.pending, s.bytes
		s.pending, s.bytes = nil, 0
	}
	s.mu.Unlock()
	if batch != nil {
		s.commitBatch(batch, bytes)
	}
}

// commitBatch makes a batch of written files durable, by one syncfs per
// file system while the machine is quiet or one fdatasync each, and then
// renames them into place; it releases their directories.
func (s *stager) commitBatch(batch []staged, bytes int64) {
	errs := make([]error, len(batch))
	if s.mode == syncWholeFS || s.quiet(bytes) {
		byDev := map[uint64]error{}
		for i, p := range batch {
			err, done := byDev[p.dev]
			if !done {
				err = syncFS(p.dir.fd)
				byDev[p.dev] = err
			}
			errs[i] = err
		}
	} else {
		parallel(len(batch), ioWorkers, func(i int) {
			errs[i] = retry(func() error { return datasync(batch[i].fd) })
		})
	}
	parallel(len(batch), ioWorkers, func(i int) {
		p := &batch[i]
		err := errs[i]
		if cerr := unix.Close(p.fd); err == nil && cerr != nil {
			err = cerr
		}
		if err != nil {
			err = fmt.Errorf("syncing the new content to disk: %w", err)
		} else if err = renameat(p.dir.fd, p.tmp, p.name); err != nil {
			err = fmt.Errorf("replacing %q: %w", p.change.Path, err)
		}
		if err != nil {
			unlinkat(p.dir.fd, p.tmp)
		}
		p.dir.release()
		s.record(*p, err)
	})
}

// flush waits for every staged file to be committed.
func (s *stager) flush() {
	s.stop()
	if len(s.pending) > 0 {
		s.commitBatch(s.pending, s.bytes)
		s.pending, s.bytes = nil, 0
	}
}

// discard waits for the files being committed and removes the temporary
// files of the others.
func (s *stager) discard() {
	s.cancelled.Store(true)
	s.stop()
	for _, p := range s.pending {
		unix.Close(p.fd)
		unlinkat(p.dir.fd, p.tmp)
		p.dir.release()
	}
	s.pending, s.bytes = nil, 0
}

// stop closes the channel of whichever scheme started and waits for its
// goroutines.
func (s *stager) stop() {
	s.startOnce.Do(func() {}) // nothing staged: nothing to wait for
	if s.pipe != nil {
		close(s.pipe)
	}
	if s.writes != nil {
		close(s.writes)
	}
	s.wg.Wait()
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
