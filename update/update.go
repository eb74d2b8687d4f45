package update

import (
	"errors"
	"fmt"
	"runtime"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
)

// PolicyRef names an image policy as a marker refers to it: "ns:name" or "name".
// It is the key of the images map given to Apply and Rewrite.
type PolicyRef struct{ Namespace, Name string }

// ErrInvalidPolicyRef is returned (wrapped) by ParsePolicyRef for malformed references.
var ErrInvalidPolicyRef = errors.New("invalid image policy reference")

// ParsePolicyRef parses "ns:name" or "name". Empty parts and more than one
// colon are errors; marker field suffixes (":tag") are not accepted here, see
// parseMarkerValue for the marker form.
func ParsePolicyRef(s string) (PolicyRef, error) {
	parts := strings.Split(s, ":")
	switch {
	case len(parts) == 1 && parts[0] != "":
		return PolicyRef{Name: parts[0]}, nil
	case len(parts) == 2 && parts[0] != "" && parts[1] != "":
		return PolicyRef{Namespace: parts[0], Name: parts[1]}, nil
	}
	return PolicyRef{}, fmt.Errorf("%w: %q (want \"name\" or \"namespace:name\")", ErrInvalidPolicyRef, s)
}

// String renders the reference as a marker would write it.
func (r PolicyRef) String() string {
	if r.Namespace == "" {
		return r.Name
	}
	return r.Namespace + ":" + r.Name
}

// Image is the image chosen for a policy; each marker field takes one part of it.
type Image struct {
	Repository, Tag, Digest string
	// Unavailable, when set, says why this pass chose no image for a
	// configured policy (its registry failed, say): its markers are left
	// alone and reported as skipped for that reason, not as unknown.
	Unavailable string
}

// ErrInvalidImage is returned (wrapped) by ParseImage and ValidateRepository
// for malformed references.
var ErrInvalidImage = errors.New("invalid image reference")

// ParseImage parses "repo:tag" or "repo:tag@algo:hex" by the rules of
// go-containerregistry's name package (the OCI reference grammar). A tag is
// required. The parts are kept as written, so "nginx:1.2" stays "nginx", not
// "index.docker.io/library/nginx".
func ParseImage(ref string) (Image, error) {
	var img Image
	rest := ref
	if at := strings.LastIndexByte(rest, '@'); at >= 0 {
		if _, err := name.NewDigest(ref); err != nil {
			return Image{}, fmt.Errorf("%w %q: %s", ErrInvalidImage, ref, badName(err))
		}
		img.Digest = rest[at+1:]
		rest = rest[:at]
	}
	slash := strings.LastIndexByte(rest, '/')
	colon := strings.LastIndexByte(rest, ':')
	if colon <= slash {
		return Image{}, fmt.Errorf("%w %q: no tag", ErrInvalidImage, ref)
	}
	img.Repository, img.Tag = rest[:colon], rest[colon+1:]
	if err := checkRepository(img.Repository); err != nil {
		return Image{}, fmt.Errorf("%w %q: %w", ErrInvalidImage, ref, err)
	}
	if _, err := name.NewTag(rest); err != nil || !validTagStart(img.Tag) {
		return Image{}, fmt.Errorf("%w %q: bad tag %q", ErrInvalidImage, ref, img.Tag)
	}
	return img, nil
}

// ValidateRepository checks that repo is a repository reference without a
// tag or digest, by go-containerregistry's rules. Errors wrap ErrInvalidImage.
func ValidateRepository(repo string) error {
	if err := checkRepository(repo); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidImage, err)
	}
	return nil
}

func checkRepository(repo string) error {
	if strings.ContainsAny(repo[strings.LastIndexByte(repo, '/')+1:], ":@") {
		return fmt.Errorf("%q must be a repository without tag or digest", repo)
	}
	if _, err := name.NewRepository(repo); err != nil {
		return fmt.Errorf("repository %q: %s", repo, badName(err))
	}
	return nil
}

// validTagStart adds the one rule of the OCI tag grammar
// ([A-Za-z0-9_][A-Za-z0-9._-]{0,127}) that the name package leaves out.
func validTagStart(tag string) bool {
	return tag != "" && tag[0] != '.' && tag[0] != '-'
}

// badName keeps the name package's reason without its generic prefix.
func badName(err error) string {
	return strings.TrimPrefix(err.Error(), "could not parse reference: ")
}

// String renders repo:tag[@digest], the value a whole-image marker receives.
func (i Image) String() string {
	s := i.Repository + ":" + i.Tag
	if i.Digest != "" {
		s += "@" + i.Digest
	}
	return s
}

// Field says which part of an Image a marker sets.
type Field string

// The marker suffixes; FieldImage is a marker without a suffix.
const (
	FieldImage  Field = ""       // whole "repo:tag[@digest]"
	FieldName   Field = "name"   // repository
	FieldTag    Field = "tag"    // tag
	FieldDigest Field = "digest" // digest
)

// value returns the part of img the field selects.
func (f Field) value(img Image) string {
	switch f {
	case FieldName:
		return img.Repository
	case FieldTag:
		return img.Tag
	case FieldDigest:
		return img.Digest
	}
	return img.String()
}

// Change is one rewritten scalar, enough for a commit message or a report.
type Change struct {
	File     string    // slash-separated path relative to the root passed to Apply
	Line     int       // 1-based line of the scalar
	Object   string    // "Kind/namespace/name" or "Kind/name" of the enclosing k8s object, "" if none
	Policy   PolicyRef // as written in the marker
	Image    PolicyRef // the key of the images map the marker resolved to
	Field    Field
	Old, New string // scalar values (unquoted)
}

// FileChange is one file whose bytes changed, so callers can diff or commit it.
type FileChange struct {
	Path          string
	Before, After []byte
}

// Warning is something left alone that a person should know about (unknown
// policy, unsupported node kind, digest marker with no digest known,
// ambiguous policy name).
type Warning struct {
	File    string
	Line    int
	Message string
}

// String renders "path:line: message".
func (w Warning) String() string {
	if w.Line == 0 {
		return w.File + ": " + w.Message
	}
	return fmt.Sprintf("%s:%d: %s", w.File, w.Line, w.Message)
}

// FileError is a file that could not be updated; it was left untouched.
type FileError struct {
	File string
	Line int
	Err  error
}

// Error renders "path:line: cause", without the line when it is unknown.
func (e *FileError) Error() string {
	if e.Line == 0 {
		return fmt.Sprintf("%s: %v", e.File, e.Err)
	}
	return fmt.Sprintf("%s:%d: %v", e.File, e.Line, e.Err)
}

// Unwrap exposes the cause for errors.Is/As.
func (e *FileError) Unwrap() error { return e.Err }

// Result is everything one Apply did and found.
type Result struct {
	Files    []FileChange // sorted by Path; only files whose bytes changed
	Changes  []Change     // sorted by File, then Line
	Warnings []Warning
	Errors   []*FileError
	Scanned  int // files considered (right extension)
	Marked   int // files containing the marker bytes (parsed)
	// State is what a later Apply over this tree, or a newer version of
	// it, can reuse (WithIncremental); nil when a directory could not be
	// listed, so the result may not cover the whole tree.
	State *State
}

// Err joins the per-file errors so a caller can fail a run on them; nil if none.
func (r *Result) Err() error {
	errs := make([]error, len(r.Errors))
	for i, e := range r.Errors {
		errs[i] = e
	}
	return errors.Join(errs...)
}

// Option configures Apply.
type Option func(*options) error

type options struct {
	dryRun      bool
	concurrency int
	maxFileSize int64
	sync        syncMode         // how temporary files are made durable: syncAuto but in tests
	quiet       func(int64) bool // what a test has quiet say; nil: quiet
	batch       int              // files per whole-file-system sync; 0: batchFiles
	incremental *incremental
}

// DefaultMaxFileSize is the largest file with markers Apply parses, by
// default: parsing takes about ten times a file's size in memory, and
// files this large are generated, not edited by hand.
const DefaultMaxFileSize = 8 << 20

func defaultOptions() options {
	return options{concurrency: runtime.GOMAXPROCS(0), maxFileSize: DefaultMaxFileSize}
}

// WithDryRun computes the result without writing any file. Default false:
// changed files are written atomically (a temporary file each, synced,
// then renamed over the file).
func WithDryRun(dry bool) Option {
	return func(o *options) error {
		o.dryRun = dry
		return nil
	}
}

// WithConcurrency sets how many files are read and rewritten at once.
// Default runtime.GOMAXPROCS(0); n < 1 is an error.
func WithConcurrency(n int) Option {
	return func(o *options) error {
		if n < 1 {
			return fmt.Errorf("concurrency must be at least 1, got %d", n)
		}
		o.concurrency = n
		return nil
	}
}

// WithMaxFileSize sets the largest file with markers that is parsed and
// rewritten; a larger one is left alone with a warning naming it and the
// limit, and the pass goes on. Files without markers are screened
// whatever their size, in bounded memory. Default DefaultMaxFileSize
// (8 MiB); n < 1 is an error.
func WithMaxFileSize(n int64) Option {
	return func(o *options) error {
		if n < 1 {
			return fmt.Errorf("maximum file size must be at least 1 byte, got %d", n)
		}
		o.maxFileSize = n
		return nil
	}
}
