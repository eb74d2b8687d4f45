package update

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// The walk reads the tree with plain file descriptors and the system
// calls themselves: a directory is opened once (relative to its parent,
// never following a symbolic link) and listed with getdents64, which
// gives each entry's type, so no entry is stat'ed; a file is opened
// relative to its directory, read and closed, four calls in all, with no
// os.File (no poller registration, no fcntl). Workers on every core take
// directories and batches of files from one stack, and parse the files
// with markers as they find them, so the parsing of one overlaps the
// walking of the other.

// Flags of every open: never follow a symbolic link, never leak a
// descriptor to a child, never block on a FIFO that replaced a file.
const (
	openDirFlags  = unix.O_RDONLY | unix.O_DIRECTORY | unix.O_NOFOLLOW | unix.O_CLOEXEC
	openFileFlags = unix.O_RDONLY | unix.O_NOFOLLOW | unix.O_CLOEXEC | unix.O_NONBLOCK | unix.O_NOCTTY
)

// filesPerJob splits a large directory's files into jobs, so both
// workers share a flat tree.
const filesPerJob = 64

// dirRef is an open directory shared by the jobs for its entries and by
// staged writes into it; the last one to finish closes it, so a walk
// holds few descriptors open at once.
type dirRef struct {
	fd   int
	rel  string // slash path relative to Apply's root; "." for the root
	refs atomic.Int32
	keep bool // a start directory, closed by Apply
}

func (d *dirRef) acquire() {
	if !d.keep {
		d.refs.Add(1)
	}
}

func (d *dirRef) release() {
	if !d.keep && d.refs.Add(-1) == 0 {
		unix.Close(d.fd)
	}
}

// join returns the slash path of name in d.
func (d *dirRef) join(name string) string {
	if d.rel == "." {
		return name
	}
	return d.rel + "/" + name
}

// job is a directory to open and list (name below dir) or to list (list),
// or files of dir to read.
type job struct {
	dir   *dirRef
	name  string
	list  bool
	files []string
}

// queue is the walk's work list: a LIFO stack (depth first, so few
// directories are open at a time) that knows when all work is done.
type queue struct {
	mu      sync.Mutex
	cond    sync.Cond
	items   []job
	pending int // pushed and not yet done
}

func newQueue() *queue {
	q := &queue{}
	q.cond.L = &q.mu
	return q
}

func (q *queue) push(j job) {
	q.mu.Lock()
	q.items = append(q.items, j)
	q.pending++
	q.mu.Unlock()
	q.cond.Signal()
}

// pop waits for a job; false means all work is done.
func (q *queue) pop() (job, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for len(q.items) == 0 && q.pending > 0 {
		q.cond.Wait()
	}
	if len(q.items) == 0 {
		return job{}, false
	}
	j := q.items[len(q.items)-1]
	q.items = q.items[:len(q.items)-1]
	return j, true
}

func (q *queue) done() {
	q.mu.Lock()
	q.pending--
	last := q.pending == 0
	q.mu.Unlock()
	if last {
		q.cond.Broadcast()
	}
}

// budget bounds the bytes of files being parsed at once, so the parse
// trees of two large files never add up past the memory bound.
type budget struct {
	mu    sync.Mutex
	cond  sync.Cond
	free  int64
	total int64
}

func newBudget(total int64) *budget {
	b := &budget{free: total, total: total}
	b.cond.L = &b.mu
	return b
}

func (b *budget) acquire(n int64) int64 {
	n = min(n, b.total)
	b.mu.Lock()
	for b.free < n {
		b.cond.Wait()
	}
	b.free -= n
	b.mu.Unlock()
	return n
}

func (b *budget) release(n int64) {
	b.mu.Lock()
	b.free += n
	b.mu.Unlock()
	b.cond.Broadcast()
}

// worker lists directories and reads, screens and rewrites files. It owns
// a read buffer reused across files, so screening allocates nothing per
// unmarked file, and its own part of the result.
type worker struct {
	images map[PolicyRef]Image
	o      *options
	q      *queue
	st     *stager
	budget *budget
	seen   *sync.Map // several start paths: (dev, inode) of marked files already read
	res    Result
	marked []markedFile
	buf    []byte
	dents  []byte
	plain  plainCache
	// incomplete is set when a directory could not be listed: the
	// result says nothing of what it holds.
	incomplete bool
}

func (w *worker) run(ctx context.Context) {
	for {
		j, ok := w.q.pop()
		if !ok {
			return
		}
		if ctx.Err() == nil {
			switch {
			case j.list:
				w.list(j.dir)
			case j.files != nil:
				for _, name := range j.files {
					w.file(j.dir, name)
				}
			default:
				w.openDir(j.dir, j.name)
			}
		}
		if !j.list {
			j.dir.release()
		}
		w.q.done()
	}
}

func (w *worker) fail(name string, line int, err error) {
	w.res.Errors = append(w.res.Errors, &FileError{File: name, Line: line, Err: err})
}

// openDir opens directory name below parent and lists it.
func (w *worker) openDir(parent *dirRef, name string) {
	fd, err := openat(parent.fd, name, openDirFlags, 0)
	if err != nil {
		if err == unix.ELOOP || err == unix.ENOTDIR {
			return // replaced by a link or a file since it was listed: never followed
		}
		w.incomplete = true
		w.fail(parent.join(name), 0, fmt.Errorf("opening directory: %w", err))
		return
	}
	d := &dirRef{fd: fd, rel: parent.join(name)}
	d.refs.Store(1) // this call's own reference
	w.list(d)
	d.release()
}

// list queues d's subdirectories and reads its files, in batches.
func (w *worker) list(d *dirRef) {
	if w.dents == nil && direntBufSize > 0 {
		w.dents = make([]byte, direntBufSize)
	}
	var files []string
	err := readDirents(d.fd, w.dents, func(name []byte, typ uint8) {
		if typ == unix.DT_UNKNOWN {
			var st unix.Stat_t
			if err := fstatat(d.fd, string(name), &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
				return // gone since it was listed
			}
			switch uint32(st.Mode) & unix.S_IFMT {
			case unix.S_IFDIR:
				typ = unix.DT_DIR
			case unix.S_IFREG:
				typ = unix.DT_REG
			}
		}
		switch typ {
		case unix.DT_DIR:
			if string(name) == ".git" {
				return
			}
			d.acquire()
			w.q.push(job{dir: d, name: string(name)})
		case unix.DT_REG: // symbolic links are never followed
			if s := string(name); considered(s) {
				files = append(files, s)
			}
		}
	})
	if err != nil {
		w.incomplete = true
		w.fail(d.rel, 0, fmt.Errorf("listing directory: %w", err))
	}
	for len(files) > filesPerJob {
		d.acquire()
		w.q.push(job{dir: d, files: files[len(files)-filesPerJob:]})
		files = files[:len(files)-filesPerJob]
	}
	for _, name := range files {
		w.file(d, name)
	}
}

// file reads, screens and, when it holds markers, rewrites name in d.
func (w *worker) file(d *dirRef, name string) {
	w.res.Scanned++
	fd, err := openat(d.fd, name, openFileFlags, 0)
	if err != nil {
		w.fail(d.join(name), 0, fmt.Errorf("opening: %w", err))
		return
	}
	n, over, marked, err := w.read(fd)
	if err != nil || !marked {
		unix.Close(fd)
		if err != nil {
			w.fail(d.join(name), 0, fmt.Errorf("reading: %w", err))
		}
		return
	}
	rel := d.join(name)
	w.res.Marked++
	if over {
		unix.Close(fd)
		w.res.Warnings = append(w.res.Warnings, Warning{File: rel, Message: fmt.Sprintf(
			"file is larger than the %s limit for a file with markers: left alone", sizeText(w.o.maxFileSize))})
		w.marked = append(w.marked, markedFile{path: rel})
		return
	}
	var st unix.Stat_t
	err = fstat(fd, &st)
	unix.Close(fd)
	if err != nil {
		w.fail(rel, 0, fmt.Errorf("reading: %w", err))
		w.marked = append(w.marked, markedFile{path: rel})
		return
	}
	if w.seen != nil {
		if _, dup := w.seen.LoadOrStore([2]uint64{uint64(st.Dev), st.Ino}, struct{}{}); dup {
			w.res.Marked--
			return // reached again through another start path
		}
	}
	before := bytes.Clone(w.buf[:n])
	held := w.budget.acquire(int64(n))
	if w.plain == nil {
		w.plain = plainCache{}
	}
	after, changes, warnings, err := rewrite(rel, before, w.images, false, w.plain)
	w.budget.release(held)
	w.res.Warnings = append(w.res.Warnings, warnings...)
	if err != nil {
		var fe *FileError
		if errors.As(err, &fe) {
			w.res.Errors = append(w.res.Errors, fe)
		} else {
			w.fail(rel, 0, err)
		}
		w.marked = append(w.marked, markedFile{path: rel})
		return
	}
	if len(changes) == 0 || bytes.Equal(before, after) {
		w.marked = append(w.marked, markedFile{path: rel, clean: true, warnings: warnings})
		return
	}
	w.marked = append(w.marked, markedFile{path: rel})
	fc := FileChange{Path: rel, Before: before, After: after}
	if w.o.dryRun {
		w.res.Files = append(w.res.Files, fc)
		w.res.Changes = append(w.res.Changes, changes...)
		return
	}
	if err := w.st.stage(d, name, fsMode(uint32(st.Mode)), fc, changes); err != nil {
		w.fail(rel, 0, err)
	}
}

// read fills w.buf with the file at fd, up to the size limit, and says
// whether it holds the marker bytes. Past the limit it reads on in
// place, only to know whether the marker is there (over).
func (w *worker) read(fd int) (n int, over, marked bool, err error) {
	if w.buf == nil {
		// Never shorter than two marker screens: past the limit,
		// screenRest keeps the last bytes of each read.
		w.buf = make([]byte, min(64<<10, max(int(w.o.maxFileSize)+1, 2*len(markerScreen))))
	}
	buf := w.buf[:cap(w.buf)]
	for {
		if n == len(buf) {
			if int64(n) > w.o.maxFileSize {
				marked, err = screenRest(fd, buf, n)
				return n, true, marked, err
			}
			grown := make([]byte, min(int64(2*len(buf)), w.o.maxFileSize+1))
			copy(grown, buf[:n])
			buf = grown
			w.buf = grown
		}
		k, err := readFD(fd, buf[n:])
		if err != nil {
			return 0, false, false, err
		}
		if k == 0 {
			return n, int64(n) > w.o.maxFileSize, hasScreen(buf[:n]), nil
		}
		n += k
	}
}

// screenRest looks for the marker in the rest of a file too large to keep,
// reusing buf (whose first n bytes were read already).
func screenRest(fd int, buf []byte, n int) (bool, error) {
	if hasScreen(buf[:n]) {
		return true, nil
	}
	keep := len(markerScreen) - 1
	for {
		copy(buf, buf[n-keep:n])
		k, err := readFD(fd, buf[keep:])
		if err != nil {
			return false, err
		}
		if k == 0 {
			return false, nil
		}
		n = keep + k
		if hasScreen(buf[:n]) {
			return true, nil
		}
	}
}

// sizeText renders a byte count the way the limit is documented.
func sizeText(n int64) string {
	if n >= 1<<20 && n%(1<<20) == 0 {
		return fmt.Sprintf("%d MiB", n>>20)
	}
	return fmt.Sprintf("%d-byte", n)
}

// The system calls, retried when a signal interrupts them.

func openat(dirfd int, name string, flags int, mode uint32) (int, error) {
	for {
		fd, err := unix.Openat(dirfd, name, flags, mode)
		if err != unix.EINTR {
			return fd, err
		}
	}
}

func readFD(fd int, p []byte) (int, error) {
	for {
		n, err := unix.Read(fd, p)
		if err != unix.EINTR {
			return n, err
		}
	}
}

func fstat(fd int, st *unix.Stat_t) error {
	for {
		err := unix.Fstat(fd, st)
		if err != unix.EINTR {
			return err
		}
	}
}

func fstatat(dirfd int, name string, st *unix.Stat_t, flags int) error {
	for {
		err := unix.Fstatat(dirfd, name, st, flags)
		if err != unix.EINTR {
			return err
		}
	}
}
