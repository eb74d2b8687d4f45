package policy

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
)

// MaxTagLine is the longest line a tag list may have. OCI tags are at most
// 128 bytes; the slack allows for Windows line endings and padding.
const MaxTagLine = 4096

// TagListError is a tag list that cannot be read as one, such as a line too
// long to hold a tag. It is bad input: only a different list fixes it.
type TagListError struct {
	Line int // 1-based
	Err  error
}

// Error implements error.
func (e *TagListError) Error() string { return fmt.Sprintf("tag list line %d: %v", e.Line, e.Err) }

// Unwrap returns the underlying error.
func (e *TagListError) Unwrap() error { return e.Err }

// BadInput reports that only a different tag list fixes this error.
func (e *TagListError) BadInput() bool { return true }

// SelectReader chooses as Select does from a tag list read from r, one tag
// per line, in one pass and in memory bounded by MaxTagLine whatever the
// length of the list. Surrounding whitespace (no tag can hold any) is
// trimmed and blank lines are skipped. Errors are a *NoMatchError when no
// tag fits, a *TagListError for a line that cannot be a tag, or the
// reader's own error, wrapped.
func (s *Selector) SelectReader(r io.Reader) (Choice, error) {
	sel := s.start()
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 512), MaxTagLine)
	line := 0
	for sc.Scan() {
		line++
		tag := bytes.TrimSpace(sc.Bytes())
		if len(tag) == 0 {
			continue
		}
		sel.offer(string(tag))
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return Choice{}, &TagListError{Line: line + 1, Err: fmt.Errorf("longer than %d bytes, not a tag", MaxTagLine)}
		}
		return Choice{}, fmt.Errorf("reading tags: %w", err)
	}
	return sel.finish()
}

// SelectFrom is what `uptick policy --tags-from FILE|-` runs: it validates
// spec, filter and exclude as NewSelector does (errors are *FieldError,
// bad input) and chooses from the tag list in r as SelectReader does
// (*NoMatchError when no tag fits).
func SelectFrom(r io.Reader, spec Spec, filter *FilterSpec, exclude []string) (Choice, error) {
	s, err := NewSelector(spec, filter, exclude)
	if err != nil {
		return Choice{}, err
	}
	return s.SelectReader(r)
}
