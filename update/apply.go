package update

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"
)

// ErrPathEscapesRoot is returned (wrapped) by Apply for a path that is
// absolute or leaves the root with "..".
var ErrPathEscapesRoot = errors.New("path escapes the root")

// Apply walks each of paths (relative to root; "" or "." is the whole root)
// and rewrites the scalars marked with an image policy found in images.
// Only *.yaml, *.yml and files named Kustomization are considered; .git
// directories and symbolic links are skipped. The paths are resolved
// through os.Root, and the walk below them opens every entry relative to
// its directory without following symbolic links, so nothing outside root
// is read or written.
//
// Changed files are replaced atomically, keeping their mode, unless
// WithDryRun(true): every new content is first written to a temporary
// file beside its target, made durable (fdatasync, or one syncfs for all
// of them), and only then renamed over its target. A crash at any moment
// leaves each file either as it was or wholly rewritten, and at worst
// unused temporary files (".NAME.uptick-*.tmp") behind.
//
// A file with markers larger than the limit (WithMaxFileSize) is left
// alone with a warning naming it and the limit; other files are still
// updated.
//
// The error is non-nil only when the run cannot proceed at all: root cannot be
// opened, a path escapes root or does not exist, an option is invalid, or ctx
// is cancelled (then nothing is renamed, unless a very large pass had
// already renamed a first batch). Problems with single files are in
// Result.Errors and Result.Warnings, and other files are still updated.
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
	starts, err := resolvePaths(r, root, paths)
	if err != nil {
		return nil, err
	}
	defer func() {
		for _, s := range starts {
			s.file.Close()
		}
	}()
	if o.incremental != nil {
		return applyIncremental(ctx, r, starts, images, &o)
	}
	return fullWalk(ctx, starts, images, &o, stateKey(images, &o), startPaths(starts))
}

// start is one resolved path of Apply: an open directory, and for a path
// naming a file, that file in it.
type start struct {
	file *os.File // the directory, opened through os.Root
	dir  *dirRef
	name string // the file to read in dir; "" to walk dir
}

// resolvePaths cleans and resolves Apply's paths through os.Root. A path
// inside another (or equal to it) is dropped, so no file is visited twice.
func resolvePaths(r *os.Root, root string, paths []string) ([]start, error) {
	if len(paths) == 0 {
		paths = []string{"."}
	}
	var clean []string
	for _, p := range paths {
		if p == "" {
			p = "."
		}
		c := filepath.Clean(p)
		if !filepath.IsLocal(c) && c != "." {
			return nil, fmt.Errorf("update path %q under %q: %w", p, root, ErrPathEscapesRoot)
		}
		if _, err := r.Stat(c); err != nil {
			return nil, fmt.Errorf("update path %q under %q: %w", p, root, err)
		}
		clean = append(clean, filepath.ToSlash(c))
	}
	slices.Sort(clean)
	var kept []string
	for _, c := range clean {
		if len(kept) > 0 && within(c, kept[len(kept)-1]) {
			continue
		}
		kept = append(kept, c)
	}
	var starts []start
	fail := func(err error) ([]start, error) {
		for _, s := range starts {
			s.file.Close()
		}
		return nil, err
	}
	for _, c := range kept {
		info, err := r.Stat(filepath.FromSlash(c))
		if err != nil {
			return fail(fmt.Errorf("update path %q under %q: %w", c, root, err))
		}
		dir, name := c, ""
		switch {
		case info.IsDir():
		case info.Mode().IsRegular() && considered(path.Base(c)):
			dir, name = path.Dir(c), path.Base(c)
		default:
			continue
		}
		f, err := r.Open(filepath.FromSlash(dir))
		if err != nil {
			return fail(fmt.Errorf("update path %q under %q: %w", c, root, err))
		}
		starts = append(starts, start{file: f, dir: &dirRef{fd: int(f.Fd()), rel: dir, keep: true}, name: name})
	}
	return starts, nil
}

// within reports whether slash path p is dir or below it.
func within(p, dir string) bool {
	return dir == "." || p == dir || strings.HasPrefix(p, dir+"/")
}

// considered reports whether a file name is one Apply looks at.
func considered(name string) bool {
	return strings.HasSuffix(name, ".yaml") || strings.HasSuffix(name, ".yml") || name == "Kustomization"
}

// walkAndRewrite visits starts (walking their directories) and the files
// in only, rewrites what is marked, and commits the writes. It also
// returns what it learned of each file with markers, and whether every
// directory could be listed.
func walkAndRewrite(ctx context.Context, starts []start, only []fileJob, images map[PolicyRef]Image, o *options) (*Result, []markedFile, bool, error) {
	st := newStager(o)
	q := newQueue()
	for _, s := range starts {
		switch {
		case s.name != "":
			q.push(job{dir: s.dir, files: []string{s.name}})
		default:
			q.push(job{dir: s.dir, list: true})
		}
	}
	for _, j := range only {
		q.push(job{dir: j.dir, files: []string{j.name}})
	}
	parts := make([]worker, o.concurrency)
	budget := newBudget(o.maxFileSize)
	var seen *sync.Map
	if len(starts) > 1 {
		seen = &sync.Map{}
	}
	var wg sync.WaitGroup
	for i := range parts {
		w := &parts[i]
		*w = worker{images: images, o: o, q: q, st: st, budget: budget, seen: seen}
		wg.Add(1)
		go func() {
			defer wg.Done()
			w.run(ctx)
		}()
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		st.discard()
		return nil, nil, false, fmt.Errorf("updating: %w", err)
	}
	st.flush()

	res := &st.res
	var marked []markedFile
	complete := true
	for i := range parts {
		complete = complete && !parts[i].incomplete
		p := &parts[i].res
		res.Scanned += p.Scanned
		res.Marked += p.Marked
		res.Files = append(res.Files, p.Files...)
		res.Changes = append(res.Changes, p.Changes...)
		res.Warnings = append(res.Warnings, p.Warnings...)
		res.Errors = append(res.Errors, p.Errors...)
		marked = append(marked, parts[i].marked...)
	}
	sortResult(res)
	slices.SortFunc(marked, func(a, b markedFile) int { return strings.Compare(a.path, b.path) })
	return res, marked, complete, nil
}

func sortResult(res *Result) {
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
}

// markedFile is what a pass learned of one file holding the marker bytes:
// enough for the next pass to skip reading it when neither it nor the
// images changed.
type markedFile struct {
	path string
	// clean is true when the rewrite left the file as it was and
	// reported no error: the same images give the same outcome again.
	clean    bool
	warnings []Warning
}

// fileJob is one file of an incremental pass: name in dir.
type fileJob struct {
	dir  *dirRef
	name string
}

// fsMode is the permission bits of a stat mode.
func fsMode(m uint32) fs.FileMode { return fs.FileMode(m & 0o777) }
