package policy

import (
	"errors"
	"fmt"
	"regexp"
	"regexp/syntax"
	"slices"
	"strings"
	"unicode/utf8"
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

// excludePattern is one exclusion. Patterns of the form ^.*LITERAL$ (Flux's
// default ^.*\.sig$ among them) are matched as a suffix test, which is what
// the regular expression means (. never matches a newline), at a fraction
// of the cost; a fuzz test holds the two to the same answers.
type excludePattern struct {
	re     *regexp.Regexp
	suffix string // set for ^.*LITERAL$
}

func newExcludePattern(pat string) (*excludePattern, error) {
	re, err := regexp.Compile(pat)
	if err != nil {
		return nil, fmt.Errorf("invalid regular expression %q: %w", pat, err)
	}
	ex := &excludePattern{re: re}
	if sfx, ok := literalSuffix(pat); ok {
		ex.suffix = sfx
	}
	return ex, nil
}

// literalSuffix recognises ^.*LITERAL$ as regexp.Compile parses it.
func literalSuffix(pat string) (string, bool) {
	t, err := syntax.Parse(pat, syntax.Perl)
	if err != nil {
		return "", false
	}
	t = t.Simplify()
	if t.Op != syntax.OpConcat || len(t.Sub) != 4 {
		return "", false
	}
	begin, star, lit, end := t.Sub[0], t.Sub[1], t.Sub[2], t.Sub[3]
	if begin.Op != syntax.OpBeginText || end.Op != syntax.OpEndText ||
		star.Op != syntax.OpStar || star.Sub[0].Op != syntax.OpAnyCharNotNL ||
		lit.Op != syntax.OpLiteral || lit.Flags&syntax.FoldCase != 0 {
		return "", false
	}
	// regexp reads invalid UTF-8 as U+FFFD; a byte comparison would not.
	if slices.Contains(lit.Rune, utf8.RuneError) {
		return "", false
	}
	return string(lit.Rune), true
}

// MatchString reports whether the pattern matches tag.
func (ex *excludePattern) MatchString(tag string) bool {
	if ex.suffix == "" {
		return ex.re.MatchString(tag)
	}
	rest, ok := strings.CutSuffix(tag, ex.suffix)
	return ok && !strings.Contains(rest, "\n")
}
