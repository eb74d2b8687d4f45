package update

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
)

// ErrPathEscapesRoot is returned (wrapped) by Apply for a path that is
// absolute or leaves the root with "..".
var ErrPathEscapesRoot = errors.New("path escapes the root")

// Apply walks each of paths (relative to root; "" or "." is the whole root)
// and rewrites the scalars marked with an image policy found in images.
// Only *.yaml, *.yml and files named Kustomization are considered; .git
// directories and symbolic links are skipped, and all access goes through
// os.Root so nothing outside root is read or written. Changed files are
// replaced atomically (temp file in the same directory, then rename), keeping
// their mode, unless WithDryRun(true).
//
// The error is non-nil only when the run cannot proceed at all: root cannot be
// opened, a path escapes root or does not exist, an option is invalid, or ctx
// is cancelled (files already written stay written). Problems with single
// files are in Result.Errors and Result.Warnings, and other files are still
// updated.
func Apply(ctx context.Context, root string, paths []string, images map[PolicyRef]Image, opts ...Option) (*Result, error) {
	o := defaultOptions()
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, fmt.Errorf("update options: %w", err)
		}
	}
	r, err := os.OpenRoot(root)
	if err != nil {
		return nil, fmt.Errorf("opening root %q: %w", root, err)
	}
	defer r.Close()
	if len(paths) == 0 {
		paths = []string{"."}
	}
	top := &dirRef{root: r, keep: true}
	q := newQueue()
	for _, p := range paths {
		if p == "" {
			p = "."
		}
		clean := filepath.Clean(p)
		if !filepath.IsLocal(clean) && clean != "." {
			return nil, fmt.Errorf("update path %q under %q: %w", p, root, ErrPathEscapesRoot)
		}
		info, err := r.Stat(clean)
		if err != nil {
			return nil, fmt.Errorf("update path %q under %q: %w", p, root, err)
		}
		slash := filepath.ToSlash(clean)
		switch {
		case info.IsDir():
			q.push(job{parent: top, name: clean, rel: slash, dir: true})
		case info.Mode().IsRegular() && considered(path.Base(slash)):
			q.push(job{parent: top, name: clean, rel: slash})
		}
	}

	parts := make([]Result, o.concurrency)
	var seen sync.Map // rel path → struct{}: overlapping paths visit a file once
	var wg sync.WaitGroup
	for w := range o.concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			wk := worker{images: images, dryRun: o.dryRun, res: &parts[w], q: q, seen: &seen, multi: len(paths) > 1}
			for {
				j, ok := q.pop()
				if !ok {
					return
				}
				if ctx.Err() == nil {
					if j.dir {
						wk.dir(j)
					} else {
						wk.file(j)
					}
				}
				j.parent.release()
				q.done()
			}
		}()
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("updating %q: %w", root, err)
	}

	res := &Result{}
	for i := range parts {
		p := &parts[i]
		res.Scanned += p.Scanned
		res.Files = append(res.Files, p.Files...)
		res.Changes = append(res.Changes, p.Changes...)
		res.Warnings = append(res.Warnings, p.Warnings...)
		res.Errors = append(res.Errors, p.Errors...)
		res.Marked += p.Marked
	}
	slices.SortFunc(res.Files, func(a, b FileChange) int { return strings.Compare(a.Path, b.Path) })
	slices.SortStableFunc(res.Changes, func(a, b Change) int {
		return cmp.Or(strings.Compare(a.File, b.File), cmp.Compare(a.Line, b.Line))
	})
	slices.SortStableFunc(res.Warnings, func(a, b Warning) int {
		return cmp.Or(strings.Compare(a.File, b.File), cmp.Compare(a.Line, b.Line))
	})
	slices.SortStableFunc(res.Errors, func(a, b *FileError) int {
		return cmp.Or(strings.Compare(a.File, b.File), cmp.Compare(a.Line, b.Line))
	})
	return res, nil
}

// considered reports whether a file name is one Apply looks at.
func considered(name string) bool {
	return strings.HasSuffix(name, ".yaml") || strings.HasSuffix(name, ".yml") || name == "Kustomization"
}

// dirRef is an open directory shared by the jobs for its entries; the last
// one to finish closes it, so a walk holds few descriptors open at once.
type dirRef struct {
	root *os.Root
	refs atomic.Int32
	keep bool // the top root, closed by Apply
}

func (d *dirRef) acquire() {
	if !d.keep {
		d.refs.Add(1)
	}
}

func (d *dirRef) release() {
	if !d.keep && d.refs.Add(-1) == 0 {
		d.root.Close()
	}
}

// job is a directory to list or a file to screen, named relative to its
// parent directory (so opening it is one openat), and rel to Apply's root.
type job struct {
	parent *dirRef
	name   string
	rel    string
	dir    bool
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

// worker lists directories and reads, screens and rewrites files; it owns a
// read buffer reused across files so screening allocates nothing per
// unmarked file.
type worker struct {
	images map[PolicyRef]Image
	dryRun bool
	res    *Result
	q      *queue
	seen   *sync.Map
	multi  bool // several walk roots: skip files already visited
	buf    []byte
}

func (w *worker) fail(name string, line int, err error) {
	w.res.Errors = append(w.res.Errors, &FileError{File: name, Line: line, Err: err})
}

// dir opens a directory below its parent and queues its entries.
func (w *worker) dir(j job) {
	sub, err := j.parent.root.OpenRoot(j.name)
	if err != nil {
		w.fail(j.rel, 0, fmt.Errorf("opening directory: %w", err))
		return
	}
	d := &dirRef{root: sub}
	d.refs.Store(1) // this call's own reference
	defer d.release()
	f, err := sub.Open(".")
	if err != nil {
		w.fail(j.rel, 0, fmt.Errorf("opening directory: %w", err))
		return
	}
	entries, err := f.ReadDir(-1)
	f.Close()
	if err != nil {
		w.fail(j.rel, 0, fmt.Errorf("listing directory: %w", err))
	}
	for _, e := range entries {
		name := e.Name()
		rel := name
		if j.rel != "." {
			rel = j.rel + "/" + name
		}
		switch {
		case e.IsDir():
			if name == ".git" {
				continue
			}
		case !e.Type().IsRegular() || !considered(name):
			continue // symbolic links are never followed
		}
		d.acquire()
		w.q.push(job{parent: d, name: name, rel: rel, dir: e.IsDir()})
	}
}

func (w *worker) file(j job) {
	if w.multi {
		if _, dup := w.seen.LoadOrStore(j.rel, struct{}{}); dup {
			return
		}
	}
	w.res.Scanned++
	f, err := j.parent.root.OpenFile(j.name, os.O_RDONLY|syscall.O_NOFOLLOW, 0)
	if err != nil {
		w.fail(j.rel, 0, fmt.Errorf("opening: %w", err))
		return
	}
	err = w.read(f)
	if err != nil || !bytes.Contains(w.buf, markerScreen) {
		f.Close()
		if err != nil {
			w.fail(j.rel, 0, fmt.Errorf("reading: %w", err))
		}
		return
	}
	info, err := f.Stat()
	f.Close()
	if err != nil {
		w.fail(j.rel, 0, fmt.Errorf("reading: %w", err))
		return
	}
	w.res.Marked++
	before := bytes.Clone(w.buf)
	after, changes, warnings, err := Rewrite(j.rel, before, w.images)
	w.res.Warnings = append(w.res.Warnings, warnings...)
	if err != nil {
		var fe *FileError
		if errors.As(err, &fe) {
			w.res.Errors = append(w.res.Errors, fe)
		} else {
			w.fail(j.rel, 0, err)
		}
		return
	}
	if len(changes) == 0 || bytes.Equal(before, after) {
		return
	}
	if !w.dryRun {
		if err := writeAtomic(j.parent.root, j.name, after, info.Mode().Perm()); err != nil {
			w.fail(j.rel, 0, err)
			return
		}
	}
	w.res.Files = append(w.res.Files, FileChange{Path: j.rel, Before: before, After: after})
	w.res.Changes = append(w.res.Changes, changes...)
}

// read fills w.buf with the whole of f.
func (w *worker) read(f *os.File) error {
	if cap(w.buf) == 0 {
		w.buf = make([]byte, 0, 64<<10)
	}
	w.buf = w.buf[:0]
	for {
		if len(w.buf) == cap(w.buf) {
			w.buf = append(w.buf, 0)[:len(w.buf)]
		}
		n, err := f.Read(w.buf[len(w.buf):cap(w.buf)])
		w.buf = w.buf[:len(w.buf)+n]
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// writeAtomic replaces name under root with data: it writes a temp file in
// the same directory, syncs it, sets mode and renames it over name, so readers
// see the old or the new file, never a partial one.
func writeAtomic(root *os.Root, name string, data []byte, mode fs.FileMode) (err error) {
	dir, base := path.Split(name)
	var tmp string
	var f *os.File
	for range 10 {
		tmp = path.Join(dir, "."+base+".uptick-"+strconv.FormatUint(rand.Uint64(), 36)+".tmp")
		f, err = root.OpenFile(filepath.FromSlash(tmp), os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
		if !errors.Is(err, fs.ErrExist) {
			break
		}
	}
	if err != nil {
		return fmt.Errorf("creating temp file for %q: %w", name, err)
	}
	defer func() {
		if err != nil {
			root.Remove(filepath.FromSlash(tmp))
		}
	}()
	_, err = f.Write(data)
	if err == nil {
		err = f.Chmod(mode) // the umask may have narrowed the create mode
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("writing temp file for %q: %w", name, err)
	}
	if err = root.Rename(filepath.FromSlash(tmp), filepath.FromSlash(name)); err != nil {
		return fmt.Errorf("replacing %q: %w", name, err)
	}
	return nil
}
