package sync

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"sigs.k8s.io/kustomize/kyaml/filesys"
)

// maxFileSize bounds one manifest file (and so the memory a build takes
// per file); larger files are refused by name.
const maxFileSize = 16 << 20

// errReadOnly is what rootFS answers to every write: a build only reads.
var errReadOnly = errors.New("the repository is read-only to a manifest build")

// rootFS is the file system kustomize and the plain-YAML reader see: the
// repository directory through an os.Root, so no path, ".." or symbolic
// link reaches outside it, plus an overlay of files whose content replaces
// what is on disk (plan's rewritten files, not yet written). kustomize
// works with absolute paths; rootFS maps them onto the root and refuses
// any other.
type rootFS struct {
	root    *os.Root
	abs     string            // the root's absolute, cleaned path
	overlay map[string][]byte // keyed by slash path relative to the root
}

var _ filesys.FileSystem = (*rootFS)(nil)

// rel maps a path (absolute, or relative to the root) to a root-relative
// slash path, or fails for a path outside the root.
func (f *rootFS) rel(p string) (string, error) {
	if !filepath.IsAbs(p) {
		p = filepath.Join(f.abs, p)
	}
	p = filepath.Clean(p)
	if p == f.abs {
		return ".", nil
	}
	r, ok := strings.CutPrefix(p, f.abs+string(filepath.Separator))
	if !ok {
		return "", fmt.Errorf("%s is outside the repository", p)
	}
	return filepath.ToSlash(r), nil
}

func (f *rootFS) abspath(rel string) string {
	if rel == "." {
		return f.abs
	}
	return filepath.Join(f.abs, filepath.FromSlash(rel))
}

func (f *rootFS) Create(string) (filesys.File, error) { return nil, errReadOnly }
func (f *rootFS) Mkdir(string) error                  { return errReadOnly }
func (f *rootFS) MkdirAll(string) error               { return errReadOnly }
func (f *rootFS) RemoveAll(string) error              { return errReadOnly }
func (f *rootFS) WriteFile(string, []byte) error      { return errReadOnly }

// Open opens a file for reading.
func (f *rootFS) Open(p string) (filesys.File, error) {
	r, err := f.rel(p)
	if err != nil {
		return nil, err
	}
	if data, ok := f.overlay[r]; ok {
		return &memFile{Reader: bytes.NewReader(data), name: path.Base(r), size: int64(len(data))}, nil
	}
	return f.root.Open(r)
}

// IsDir reports whether p is a directory inside the root.
func (f *rootFS) IsDir(p string) bool {
	r, err := f.rel(p)
	if err != nil {
		return false
	}
	fi, err := f.root.Stat(r)
	return err == nil && fi.IsDir()
}

// ReadDir lists the names in a directory.
func (f *rootFS) ReadDir(p string) ([]string, error) {
	r, err := f.rel(p)
	if err != nil {
		return nil, err
	}
	entries, err := fs.ReadDir(f.root.FS(), r)
	if err != nil {
		return nil, err
	}
	names := make([]string, len(entries))
	for i, e := range entries {
		names[i] = e.Name()
	}
	return names, nil
}

// CleanedAbs splits a path into its directory and file name, the whole
// path being the directory when it is one. Symbolic links are not
// resolved here: every read goes through the os.Root, which refuses a
// link leading outside.
func (f *rootFS) CleanedAbs(p string) (filesys.ConfirmedDir, string, error) {
	r, err := f.rel(p)
	if err != nil {
		return "", "", err
	}
	fi, err := f.root.Stat(r)
	if err != nil {
		if _, ok := f.overlay[r]; !ok {
			return "", "", fmt.Errorf("%s does not exist in the repository", r)
		}
	} else if fi.IsDir() {
		return filesys.ConfirmedDir(f.abspath(r)), "", nil
	}
	return filesys.ConfirmedDir(f.abspath(path.Dir(r))), path.Base(r), nil
}

// Exists reports whether p exists inside the root.
func (f *rootFS) Exists(p string) bool {
	r, err := f.rel(p)
	if err != nil {
		return false
	}
	if _, ok := f.overlay[r]; ok {
		return true
	}
	_, err = f.root.Stat(r)
	return err == nil
}

// Glob returns the absolute paths matching pattern inside the root.
func (f *rootFS) Glob(pattern string) ([]string, error) {
	r, err := f.rel(pattern)
	if err != nil {
		return nil, err
	}
	matches, err := fs.Glob(f.root.FS(), r)
	if err != nil {
		return nil, err
	}
	for i, m := range matches {
		matches[i] = f.abspath(m)
	}
	return matches, nil
}

// ReadFile reads a file: the overlay's content if it has one, else the
// disk's, refusing files over maxFileSize.
func (f *rootFS) ReadFile(p string) ([]byte, error) {
	r, err := f.rel(p)
	if err != nil {
		return nil, err
	}
	return f.read(r)
}

func (f *rootFS) read(r string) ([]byte, error) {
	if data, ok := f.overlay[r]; ok {
		return data, nil
	}
	file, err := f.root.Open(r)
	if err != nil {
		return nil, err
	}
	defer file.Close()
	data, err := io.ReadAll(io.LimitReader(file, maxFileSize+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxFileSize {
		return nil, fmt.Errorf("%s is larger than %d MiB", r, maxFileSize>>20)
	}
	return data, nil
}

// Walk walks the tree under p inside the root, in lexical order.
func (f *rootFS) Walk(p string, walkFn filepath.WalkFunc) error {
	r, err := f.rel(p)
	if err != nil {
		return err
	}
	return fs.WalkDir(f.root.FS(), r, func(name string, d fs.DirEntry, err error) error {
		if err != nil {
			return walkFn(f.abspath(name), nil, err)
		}
		info, err := d.Info()
		return walkFn(f.abspath(name), info, err)
	})
}

// memFile is an overlay file opened for reading.
type memFile struct {
	*bytes.Reader
	name string
	size int64
}

func (m *memFile) Write([]byte) (int, error) { return 0, errReadOnly }
func (m *memFile) Close() error              { return nil }
func (m *memFile) Stat() (os.FileInfo, error) {
	return memInfo{name: m.name, size: m.size}, nil
}

type memInfo struct {
	name string
	size int64
}

func (i memInfo) Name() string       { return i.name }
func (i memInfo) Size() int64        { return i.size }
func (i memInfo) Mode() fs.FileMode  { return 0o444 }
func (i memInfo) ModTime() time.Time { return time.Time{} }
func (i memInfo) IsDir() bool        { return false }
func (i memInfo) Sys() any           { return nil }
