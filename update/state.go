package update

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
)

// State is what one Apply learned of a tree that the next Apply over the
// same tree, or a newer version of it, can reuse (WithIncremental): how
// many files it considered, which of them hold the marker bytes, and for
// each of those whether the images gave it nothing to change, with its
// warnings. Files without the marker bytes are not listed: no choice of
// images can change them, so only a change to their content makes them
// worth reading again.
type State struct {
	// Tree names the content the state describes. Apply leaves it empty;
	// the caller records what it knows the tree to be (a Git tree hash)
	// and diffs the next tree against it.
	Tree string

	key     string   // the images and options the outcomes hold for
	paths   []string // Apply's paths, cleaned
	scanned int
	files   []markedFile
}

// PathChange is one file that differs between the tree a State was made
// on and the tree Apply is now given. A mode of 0 means the file is absent
// on that side; only regular files are ever read.
type PathChange struct {
	Path          string // slash path relative to Apply's root
	Before, After fs.FileMode
}

type incremental struct {
	prev    *State
	changes []PathChange
}

// WithIncremental makes Apply reuse prev, the State of an earlier Apply
// with the same paths, given every file that changed since (changes, from
// a diff of the two trees). It then reads only the changed files and the
// files prev lists with markers, and when neither the tree nor the images
// changed it reads nothing at all. The caller vouches that root holds
// exactly prev's tree with changes applied. With a nil prev, other paths,
// or changes touching a large share of the tree, Apply walks the whole
// tree as without this option. Default: no previous state.
func WithIncremental(prev *State, changes []PathChange) Option {
	return func(o *options) error {
		o.incremental = &incremental{prev: prev, changes: changes}
		return nil
	}
}

// stateFormat changes whenever the rewrite could decide differently on
// the same bytes, so that no state of an older rule is trusted.
const stateFormat = "uptick-update-state-1"

// stateKey digests what the outcome of a file depends on besides its
// bytes: the images, the options, and the build.
func stateKey(images map[PolicyRef]Image, o *options) string {
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%d\x00", stateFormat, o.maxFileSize)
	if bi, ok := debug.ReadBuildInfo(); ok {
		fmt.Fprintf(h, "%s\x00", bi.Main.Version)
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" || s.Key == "vcs.modified" {
				fmt.Fprintf(h, "%s=%s\x00", s.Key, s.Value)
			}
		}
	}
	refs := make([]PolicyRef, 0, len(images))
	for r := range images {
		refs = append(refs, r)
	}
	slices.SortFunc(refs, func(a, b PolicyRef) int {
		if c := strings.Compare(a.Namespace, b.Namespace); c != 0 {
			return c
		}
		return strings.Compare(a.Name, b.Name)
	})
	for _, r := range refs {
		img := images[r]
		for _, s := range []string{r.Namespace, r.Name, img.Repository, img.Tag, img.Digest, img.Unavailable} {
			fmt.Fprintf(h, "%d:%s", len(s), s)
		}
	}
	return hex.EncodeToString(h.Sum(nil))
}

// startPaths returns the cleaned paths a walk covers, for comparing states.
func startPaths(starts []start) []string {
	out := make([]string, len(starts))
	for i, s := range starts {
		out[i] = s.dir.rel
		if s.name != "" {
			out[i] = s.dir.join(s.name)
		}
	}
	return out
}

// maxChangedShare: when more than this share of the files changed, a
// full walk is as cheap as opening each changed file's directory.
const maxChangedShare = 4

func applyIncremental(ctx context.Context, r *os.Root, starts []start, images map[PolicyRef]Image, o *options) (*Result, error) {
	inc := o.incremental
	key := stateKey(images, o)
	paths := startPaths(starts)
	prev := inc.prev
	if prev == nil || !slices.Equal(prev.paths, paths) || len(inc.changes) > max(256, prev.scanned/maxChangedShare) {
		return fullWalk(ctx, starts, images, o, key, paths)
	}
	covered := func(p string) bool {
		for _, s := range paths {
			if within(p, s) {
				return true
			}
		}
		return false
	}
	candidate := func(p string, m fs.FileMode) bool {
		return m != 0 && m.IsRegular() && considered(path.Base(p)) && !slices.Contains(strings.Split(p, "/"), ".git")
	}

	scanned := prev.scanned
	changed := map[string]bool{}
	var read []string
	for _, c := range inc.changes {
		if !fs.ValidPath(c.Path) || c.Path == "." {
			return fullWalk(ctx, starts, images, o, key, paths)
		}
		if !covered(c.Path) || changed[c.Path] {
			continue
		}
		changed[c.Path] = true
		if candidate(c.Path, c.Before) {
			scanned--
		}
		if candidate(c.Path, c.After) {
			scanned++
			read = append(read, c.Path)
		}
	}
	res := &Result{}
	var kept []markedFile
	for _, f := range prev.files {
		switch {
		case changed[f.path]:
		case f.clean && prev.key == key:
			kept = append(kept, f)
			res.Warnings = append(res.Warnings, f.warnings...)
		default:
			read = append(read, f.path)
		}
	}
	slices.Sort(read)

	// Open each directory holding a file to read once, through os.Root.
	var jobs []fileJob
	var opened []*os.File
	defer func() {
		for _, f := range opened {
			f.Close()
		}
	}()
	dirs := map[string]*dirRef{}
	for _, p := range read {
		dir, name := path.Split(p)
		dir = strings.TrimSuffix(dir, "/")
		if dir == "" {
			dir = "."
		}
		d := dirs[dir]
		if d == nil {
			f, err := r.Open(filepath.FromSlash(dir))
			if err != nil {
				// The tree is not what the caller said: start over.
				return fullWalk(ctx, starts, images, o, key, paths)
			}
			opened = append(opened, f)
			d = &dirRef{fd: int(f.Fd()), rel: dir, keep: true}
			dirs[dir] = d
		}
		jobs = append(jobs, fileJob{dir: d, name: name})
	}
	var part *Result
	var marked []markedFile
	complete := true
	if len(jobs) > 0 {
		var err error
		part, marked, complete, err = walkAndRewrite(ctx, nil, jobs, images, o)
		if err != nil {
			return nil, err
		}
	} else {
		part = &Result{}
	}
	for _, e := range part.Errors {
		if errors.Is(e.Err, fs.ErrNotExist) {
			complete = false // the tree is not what the caller said
		}
	}
	res.Scanned = scanned
	res.Marked = len(kept) + part.Marked
	res.Files = part.Files
	res.Changes = part.Changes
	res.Warnings = append(res.Warnings, part.Warnings...)
	res.Errors = part.Errors
	sortResult(res)
	if complete {
		files := append(kept, marked...)
		slices.SortFunc(files, func(a, b markedFile) int { return strings.Compare(a.path, b.path) })
		res.State = &State{key: key, paths: paths, scanned: scanned, files: files}
	}
	return res, nil
}

// fullWalk is Apply without a usable previous state.
func fullWalk(ctx context.Context, starts []start, images map[PolicyRef]Image, o *options, key string, paths []string) (*Result, error) {
	res, marked, complete, err := walkAndRewrite(ctx, starts, nil, images, o)
	if err != nil {
		return nil, err
	}
	if complete {
		res.State = &State{key: key, paths: paths, scanned: res.Scanned, files: marked}
	}
	return res, nil
}

// The state file: a header line with the format and the SHA-256 of the
// body, then the body as JSON. A file that fails any check is not used.

const stateHeader = stateFormat + " sha256="

// ErrInvalidState is returned (wrapped) by LoadState for a state file that
// is torn, corrupt or of another format: the caller then does a full walk.
var ErrInvalidState = errors.New("invalid update state file")

type stateJSON struct {
	Tree    string          `json:"tree"`
	Key     string          `json:"key"`
	Paths   []string        `json:"paths"`
	Scanned int             `json:"scanned"`
	Files   []stateFileJSON `json:"files"`
}

type stateFileJSON struct {
	Path     string        `json:"path"`
	Clean    bool          `json:"clean,omitempty"`
	Warnings []warningJSON `json:"warnings,omitempty"`
}

type warningJSON struct {
	Line    int    `json:"line,omitempty"`
	Message string `json:"message"`
}

// Marshal encodes the state as its file holds it.
func (s *State) Marshal() ([]byte, error) {
	j := stateJSON{Tree: s.Tree, Key: s.key, Paths: s.paths, Scanned: s.scanned, Files: make([]stateFileJSON, len(s.files))}
	for i, f := range s.files {
		jf := stateFileJSON{Path: f.path, Clean: f.clean}
		for _, w := range f.warnings {
			jf.Warnings = append(jf.Warnings, warningJSON{Line: w.Line, Message: w.Message})
		}
		j.Files[i] = jf
	}
	body, err := json.Marshal(j)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(body)
	out := make([]byte, 0, len(stateHeader)+64+1+len(body))
	out = append(out, stateHeader...)
	out = append(out, hex.EncodeToString(sum[:])...)
	out = append(out, '\n')
	return append(out, body...), nil
}

// UnmarshalState decodes a state file's bytes; errors wrap ErrInvalidState.
func UnmarshalState(b []byte) (*State, error) {
	bad := func(why string) (*State, error) { return nil, fmt.Errorf("%w: %s", ErrInvalidState, why) }
	header, body, ok := bytes.Cut(b, []byte("\n"))
	if !ok || !bytes.HasPrefix(header, []byte(stateHeader)) {
		return bad("not a state file of this version")
	}
	sum := sha256.Sum256(body)
	if string(header[len(stateHeader):]) != hex.EncodeToString(sum[:]) {
		return bad("checksum mismatch (torn or changed)")
	}
	var j stateJSON
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&j); err != nil {
		return bad(err.Error())
	}
	if j.Scanned < 0 || len(j.Paths) == 0 {
		return bad("counts out of range")
	}
	s := &State{Tree: j.Tree, key: j.Key, paths: j.Paths, scanned: j.Scanned, files: make([]markedFile, len(j.Files))}
	for i, f := range j.Files {
		if !fs.ValidPath(f.Path) || f.Path == "." || (i > 0 && j.Files[i-1].Path >= f.Path) {
			return bad(fmt.Sprintf("bad or unsorted path %q", f.Path))
		}
		mf := markedFile{path: f.Path, clean: f.Clean}
		for _, w := range f.Warnings {
			mf.warnings = append(mf.warnings, Warning{File: f.Path, Line: w.Line, Message: w.Message})
		}
		s.files[i] = mf
	}
	for _, p := range s.paths {
		if !fs.ValidPath(p) {
			return bad(fmt.Sprintf("bad path %q", p))
		}
	}
	return s, nil
}

// LoadState reads a state file written by SaveState. A missing file
// wraps fs.ErrNotExist; a torn or corrupt one, ErrInvalidState.
func LoadState(file string) (*State, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	return UnmarshalState(b)
}

// SaveState writes s to file atomically: a temporary file beside it, then
// a rename, so a reader sees the old state or the new one; a state torn
// by a crash fails LoadState's checksum and costs one full walk.
func SaveState(file string, s *State) error {
	b, err := s.Marshal()
	if err != nil {
		return fmt.Errorf("encoding update state: %w", err)
	}
	tmp := file + ".tmp-" + strconv.FormatUint(rand.Uint64(), 36)
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("writing update state: %w", err)
	}
	if err := os.Rename(tmp, file); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("writing update state: %w", err)
	}
	return nil
}
