package policy

import (
	"errors"
	"fmt"
	"strings"
)

// ErrNoMatch is returned (wrapped in a *NoMatchError) when no tag satisfies a
// policy. Callers branch on it to tell "nothing to do" from a broken policy.
var ErrNoMatch = errors.New("no tag matches the policy")

// NoMatchError explains why no tag was chosen: how many tags were listed and
// what removed them, so a person can fix the range or the filter.
type NoMatchError struct {
	Policy   string // the policy, e.g. `semver "^6.x"`
	Listed   int    // tags the registry listed
	Excluded int    // tags dropped by exclude patterns
	Filtered int    // tags dropped by filterTags.pattern
	Invalid  int    // tags the strategy could not read (not semver, not a number)
}

// Error implements error.
func (e *NoMatchError) Error() string {
	var why []string
	if e.Excluded > 0 {
		why = append(why, fmt.Sprintf("%d excluded", e.Excluded))
	}
	if e.Filtered > 0 {
		why = append(why, fmt.Sprintf("%d not matching filterTags", e.Filtered))
	}
	if e.Invalid > 0 {
		why = append(why, fmt.Sprintf("%d not valid for the policy", e.Invalid))
	}
	msg := fmt.Sprintf("none of %d tags satisfies %s", e.Listed, e.Policy)
	if len(why) > 0 {
		msg += " (" + strings.Join(why, ", ") + ")"
	}
	return msg
}

// Unwrap lets errors.Is(err, ErrNoMatch) hold.
func (e *NoMatchError) Unwrap() error { return ErrNoMatch }

// Policer picks the newest value among candidates. Implementations are pure
// and deterministic: the same input, in any order, gives the same answer.
// The interface is sealed: the strategies are this package's own.
type Policer interface {
	// Latest returns the newest acceptable value, and how many values it
	// could not interpret (for error messages). It returns ok=false when no
	// value is acceptable.
	Latest(values []string) (latest string, invalid int, ok bool)
	// String describes the policy for messages, e.g. `semver "^6.x"`.
	String() string

	newChooser() chooser
}

// chooser keeps the best candidate of one selection in a single pass, with
// the strategy's explicit tie-breaks, so no tag list is ever sorted or
// held.
type chooser interface {
	// offer considers a candidate: value is what the policy compares (the
	// tag, or what filterTags extracted from it). It reports false when
	// the strategy cannot read value (not a version, not a number).
	offer(value, tag string) bool
	// result returns the best candidate offered, if any.
	result() (value, tag string, ok bool)
}

func latestOf(p Policer, values []string) (string, int, bool) {
	c := p.newChooser()
	invalid := 0
	for _, v := range values {
		if !c.offer(v, v) {
			invalid++
		}
	}
	v, _, ok := c.result()
	return v, invalid, ok
}

// Spec is the `policy:` section of an image in the config. Exactly one
// strategy must be set.
type Spec struct {
	SemVer       *SemVerSpec `yaml:"semver,omitempty" json:"semver,omitempty"`
	Alphabetical *OrderSpec  `yaml:"alphabetical,omitempty" json:"alphabetical,omitempty"`
	Numerical    *OrderSpec  `yaml:"numerical,omitempty" json:"numerical,omitempty"`
}

// SemVerSpec selects the highest version within a range.
type SemVerSpec struct {
	// Range is a Masterminds/semver constraint, e.g. "^6.x" or ">=1.2.0 <2".
	Range string `yaml:"range" json:"range"`
}

// OrderSpec is the shared spec of the alphabetical and numerical policies.
type OrderSpec struct {
	// Order is "asc" (default: the latest is the highest value) or "desc"
	// (the latest is the lowest), as in Flux's ImagePolicy.
	Order string `yaml:"order,omitempty" json:"order,omitempty"`
}

// FieldError is a validation error about one field of a spec, named by its
// path relative to the image entry in the config ("policy.semver.range",
// "filterTags.pattern", "exclude[1]"), so the config loader can report
// "images[2].policy.semver.range: ...".
type FieldError struct {
	Field string
	Err   error
}

// Error implements error.
func (e *FieldError) Error() string { return e.Field + ": " + e.Err.Error() }

// Unwrap returns the underlying error.
func (e *FieldError) Unwrap() error { return e.Err }

// FieldPath returns Field, so a config loader can place the error in its
// file without knowing this type.
func (e *FieldError) FieldPath() string { return e.Field }

// BadInput reports that only a change of the spec fixes this error (exit
// code 2).
func (e *FieldError) BadInput() bool { return true }

// New builds the Policer a spec describes, validating it. Errors are
// *FieldError relative to the spec ("semver.range").
func New(spec Spec) (Policer, error) {
	n := 0
	for _, set := range []bool{spec.SemVer != nil, spec.Alphabetical != nil, spec.Numerical != nil} {
		if set {
			n++
		}
	}
	switch {
	case n == 0:
		return nil, &FieldError{Field: "", Err: errors.New("one of semver, alphabetical or numerical is required")}
	case n > 1:
		return nil, &FieldError{Field: "", Err: errors.New("only one of semver, alphabetical or numerical may be set")}
	case spec.SemVer != nil:
		p, err := NewSemVer(spec.SemVer.Range)
		if err != nil {
			return nil, &FieldError{Field: "semver.range", Err: err}
		}
		return p, nil
	case spec.Alphabetical != nil:
		p, err := NewAlphabetical(spec.Alphabetical.Order)
		if err != nil {
			return nil, &FieldError{Field: "alphabetical.order", Err: err}
		}
		return p, nil
	default:
		p, err := NewNumerical(spec.Numerical.Order)
		if err != nil {
			return nil, &FieldError{Field: "numerical.order", Err: err}
		}
		return p, nil
	}
}

// Order values shared by the alphabetical and numerical policies.
const (
	OrderAsc  = "asc"
	OrderDesc = "desc"
)

func parseOrder(order string) (desc bool, err error) {
	switch order {
	case "", OrderAsc:
		return false, nil
	case OrderDesc:
		return true, nil
	default:
		return false, fmt.Errorf("unknown order %q (want %q or %q)", order, OrderAsc, OrderDesc)
	}
}

// Choice is the outcome of a selection.
type Choice struct {
	Tag   string // the chosen tag, as listed by the registry
	Value string // what the policy compared: the tag, or the value extracted from it
}

// Selector applies exclusions, the tag filter and a Policer to a tag list.
// It is immutable and safe for concurrent use.
type Selector struct {
	policer Policer
	filter  *Filter
	exclude []*excludePattern
}

// NewSelector combines a policy spec with an optional filter and exclusion
// patterns, validating all of them. Errors are *FieldError named relative to
// the image entry ("policy.semver.range", "filterTags.pattern", "exclude[1]").
func NewSelector(spec Spec, filter *FilterSpec, exclude []string) (*Selector, error) {
	p, err := New(spec)
	if err != nil {
		var fe *FieldError
		if errors.As(err, &fe) {
			return nil, &FieldError{Field: strings.TrimSuffix("policy."+fe.Field, "."), Err: fe.Err}
		}
		return nil, err
	}
	s := &Selector{policer: p}
	if filter != nil {
		if s.filter, err = NewFilter(*filter); err != nil {
			var fe *FieldError
			if errors.As(err, &fe) {
				return nil, &FieldError{Field: "filterTags." + fe.Field, Err: fe.Err}
			}
			return nil, &FieldError{Field: "filterTags", Err: err}
		}
	}
	for i, pat := range exclude {
		ex, err := newExcludePattern(pat)
		if err != nil {
			return nil, &FieldError{Field: fmt.Sprintf("exclude[%d]", i), Err: err}
		}
		s.exclude = append(s.exclude, ex)
	}
	return s, nil
}

// Policer returns the strategy the selector uses.
func (s *Selector) Policer() Policer { return s.policer }

// Select chooses the newest allowed tag in one pass over tags, without
// sorting or copying them: tags matching an exclude pattern are dropped,
// then those filterTags.pattern does not match; the policy compares the
// rest (or what filterTags.extract makes of them).
//
// When several tags are equally new, the answer is Flux's wherever Flux's
// answer is fixed (Flux stores tags in descending byte order and its filter
// keeps the last tag per extracted value):
//   - semver: among versions that compare equal ("1.2.3", "v1.2.3",
//     "01.2.3", "1.2.3+build"), the greatest value in byte order;
//   - numerical: among equal numbers ("1", "1.0", "1e0"), the least value;
//   - several tags with the same extracted value: the least tag.
//
// Flux's answer is random only when a filter extracts different values
// that compare equal (its filter returns a Go map); the same rules apply
// there. So the result never depends on the order of tags.
func (s *Selector) Select(tags []string) (Choice, error) {
	r := s.start()
	for _, tag := range tags {
		r.offer(tag)
	}
	return r.finish()
}

// selection is one Select in progress.
type selection struct {
	s  *Selector
	c  chooser
	nm NoMatchError
}

func (s *Selector) start() *selection {
	return &selection{s: s, c: s.policer.newChooser(), nm: NoMatchError{Policy: s.policer.String()}}
}

func (r *selection) offer(tag string) {
	r.nm.Listed++
	for _, ex := range r.s.exclude {
		if ex.MatchString(tag) {
			r.nm.Excluded++
			return
		}
	}
	value := tag
	if r.s.filter != nil {
		v, ok := r.s.filter.Extract(tag)
		if !ok {
			r.nm.Filtered++
			return
		}
		value = v
	}
	if !r.c.offer(value, tag) {
		r.nm.Invalid++
	}
}

func (r *selection) finish() (Choice, error) {
	value, tag, ok := r.c.result()
	if !ok {
		nm := r.nm
		return Choice{}, &nm
	}
	return Choice{Tag: tag, Value: value}, nil
}
