package policy

import (
	"errors"
	"fmt"
	"sort"
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
type Policer interface {
	// Latest returns the newest acceptable value, and how many values it
	// could not interpret (for error messages). It returns ok=false when no
	// value is acceptable.
	Latest(values []string) (latest string, invalid int, ok bool)
	// String describes the policy for messages, e.g. `semver "^6.x"`.
	String() string
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

// Select chooses the newest allowed tag. When two tags give the same
// compared value (e.g. a filter extracts the same timestamp, or "v1.2.3" and
// "1.2.3"), the lexically greatest tag wins, so the result never depends on
// the order the registry listed them in.
func (s *Selector) Select(tags []string) (Choice, error) {
	nm := &NoMatchError{Policy: s.policer.String(), Listed: len(tags)}
	byValue := make(map[string][]string, len(tags))
	values := make([]string, 0, len(tags))
outer:
	for _, tag := range tags {
		for _, ex := range s.exclude {
			if ex.MatchString(tag) {
				nm.Excluded++
				continue outer
			}
		}
		value := tag
		if s.filter != nil {
			v, ok := s.filter.Extract(tag)
			if !ok {
				nm.Filtered++
				continue
			}
			value = v
		}
		if _, seen := byValue[value]; !seen {
			values = append(values, value)
		}
		byValue[value] = append(byValue[value], tag)
	}
	latest, invalid, ok := s.policer.Latest(values)
	if !ok {
		nm.Invalid = invalid
		return Choice{}, nm
	}
	cands := byValue[latest]
	sort.Strings(cands)
	return Choice{Tag: cands[len(cands)-1], Value: latest}, nil
}
