package policy

import (
	"errors"
	"fmt"
	"regexp"
)

// FilterSpec is the `filterTags:` section of an image, as in Flux's
// ImagePolicy: only tags matching Pattern are considered, and when Extract is
// set the policy compares the expanded template (e.g. "$ts") instead of the
// whole tag.
type FilterSpec struct {
	Pattern string `yaml:"pattern" json:"pattern"`
	Extract string `yaml:"extract,omitempty" json:"extract,omitempty"`
}

// Filter is a validated FilterSpec.
type Filter struct {
	re      *regexp.Regexp
	extract string
}

// NewFilter compiles the pattern and checks that the extract template only
// names groups the pattern defines.
func NewFilter(spec FilterSpec) (*Filter, error) {
	if spec.Pattern == "" {
		return nil, &FieldError{Field: "pattern", Err: errors.New("required")}
	}
	re, err := regexp.Compile(spec.Pattern)
	if err != nil {
		return nil, &FieldError{Field: "pattern", Err: fmt.Errorf("invalid regular expression %q: %w", spec.Pattern, err)}
	}
	if err := checkTemplate(re, spec.Extract); err != nil {
		return nil, &FieldError{Field: "extract", Err: err}
	}
	return &Filter{re: re, extract: spec.Extract}, nil
}

// Extract reports whether tag passes the filter and the value to compare.
func (f *Filter) Extract(tag string) (string, bool) {
	m := f.re.FindStringSubmatchIndex(tag)
	if m == nil {
		return "", false
	}
	if f.extract == "" {
		return tag, true
	}
	return string(f.re.ExpandString(nil, f.extract, tag, m)), true
}

// checkTemplate rejects references to groups the pattern lacks: regexp's
// Expand silently turns them into "", which would make every tag compare equal.
func checkTemplate(re *regexp.Regexp, tmpl string) error {
	names := map[string]bool{}
	for i, n := range re.SubexpNames() {
		names[fmt.Sprint(i)] = true
		if n != "" {
			names[n] = true
		}
	}
	for i := 0; i < len(tmpl); i++ {
		if tmpl[i] != '$' {
			continue
		}
		i++
		if i < len(tmpl) && tmpl[i] == '$' {
			continue
		}
		var name string
		if i < len(tmpl) && tmpl[i] == '{' {
			end := i + 1
			for end < len(tmpl) && tmpl[end] != '}' {
				end++
			}
			if end == len(tmpl) {
				return fmt.Errorf("unterminated ${ in %q", tmpl)
			}
			name = tmpl[i+1 : end]
			i = end
		} else {
			start := i
			for i < len(tmpl) && isNameByte(tmpl[i]) {
				i++
			}
			name = tmpl[start:i]
			i--
		}
		if name == "" {
			return fmt.Errorf("empty group reference in %q", tmpl)
		}
		if !names[name] {
			return fmt.Errorf("%q refers to group %q, which the pattern does not define", tmpl, name)
		}
	}
	return nil
}

func isNameByte(c byte) bool {
	return c == '_' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

type excludePattern struct{ *regexp.Regexp }

func newExcludePattern(pat string) (*excludePattern, error) {
	re, err := regexp.Compile(pat)
	if err != nil {
		return nil, fmt.Errorf("invalid regular expression %q: %w", pat, err)
	}
	return &excludePattern{re}, nil
}
