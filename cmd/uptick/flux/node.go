package flux

import (
	"fmt"
	"slices"
	"strings"

	"sigs.k8s.io/kustomize/kyaml/yaml"
)

// walker reads one object (or one config file) node by node, so every
// problem is reported with its line and field path, and every key is
// accounted for.
type walker struct {
	file   string
	object string
	diags  *[]*Diagnostic
	failed bool // an Error was reported: the object is not used
}

func (w *walker) report(sev Severity, line int, field, format string, args ...any) {
	if sev == Error {
		w.failed = true
	}
	*w.diags = append(*w.diags, &Diagnostic{
		File: w.file, Line: line, Object: w.object, Field: field, Severity: sev,
		Message: fmt.Sprintf(format, args...),
	})
}

// mapping is a YAML mapping being read; done reports the keys nobody read.
type mapping struct {
	w     *walker
	path  string
	node  *yaml.Node
	index map[string]int // key -> position of the key node in node.Content
	used  map[string]bool
}

func resolve(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool {
	n = resolve(n)
	return n == nil || n.Kind == yaml.ScalarNode && n.Tag == "!!null"
}

// newMapping wraps n, which must be a mapping; anything else is reported
// and read as an empty mapping.
func (w *walker) newMapping(n *yaml.Node, path string) *mapping {
	m := &mapping{w: w, path: path, index: map[string]int{}, used: map[string]bool{}}
	n = resolve(n)
	if n == nil || isNull(n) {
		return m
	}
	if n.Kind != yaml.MappingNode {
		w.report(Error, n.Line, path, "must be a mapping, not %s", kindName(n))
		return m
	}
	m.node = n
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := resolve(n.Content[i])
		if k.Kind != yaml.ScalarNode {
			w.report(Error, k.Line, path, "keys must be strings")
			continue
		}
		if k.Value == "<<" {
			w.report(Error, k.Line, m.field(k.Value), "merge keys are not supported")
			continue
		}
		if _, dup := m.index[k.Value]; dup {
			w.report(Error, k.Line, m.field(k.Value), "defined twice")
			continue
		}
		m.index[k.Value] = i
	}
	return m
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.SequenceNode:
		return "a list"
	case yaml.MappingNode:
		return "a mapping"
	case yaml.ScalarNode:
		return fmt.Sprintf("the %s %q", strings.TrimPrefix(n.Tag, "!!"), n.Value)
	}
	return "this"
}

func (m *mapping) field(key string) string {
	if m.path == "" {
		return key
	}
	return m.path + "." + key
}

// has reports whether key is present and not null, without reading it.
func (m *mapping) has(key string) bool {
	i, ok := m.index[key]
	return ok && !isNull(m.node.Content[i+1])
}

// line is the line of key, or of the mapping when key is absent.
func (m *mapping) line(key string) int {
	if i, ok := m.index[key]; ok {
		return m.node.Content[i].Line
	}
	if m.node != nil {
		return m.node.Line
	}
	return 0
}

// get marks key read and returns its value, nil when absent or null.
func (m *mapping) get(key string) *yaml.Node {
	m.used[key] = true
	i, ok := m.index[key]
	if !ok || isNull(m.node.Content[i+1]) {
		return nil
	}
	return resolve(m.node.Content[i+1])
}

func (m *mapping) str(key string) string {
	s, _ := m.strOK(key)
	return s
}

// strOK is str, also reporting whether a well-typed value was there.
func (m *mapping) strOK(key string) (string, bool) {
	n := m.get(key)
	if n == nil {
		return "", false
	}
	if n.Kind != yaml.ScalarNode || n.Tag != "!!str" {
		m.w.report(Error, n.Line, m.field(key), "must be a string, not %s", kindName(n))
		return "", false
	}
	return n.Value, true
}

// required is str, reporting an absent or empty value.
func (m *mapping) required(key string) string {
	if !m.has(key) {
		m.used[key] = true
		m.w.report(Error, m.line(key), m.field(key), "required")
		return ""
	}
	s, ok := m.strOK(key)
	if ok && s == "" {
		m.w.report(Error, m.line(key), m.field(key), "must not be empty")
	}
	return s
}

func (m *mapping) boolean(key string) bool {
	n := m.get(key)
	if n == nil {
		return false
	}
	if n.Kind != yaml.ScalarNode || n.Tag != "!!bool" {
		m.w.report(Error, n.Line, m.field(key), "must be true or false, not %s", kindName(n))
		return false
	}
	return n.Value == "true"
}

func (m *mapping) child(key string) *mapping {
	n := m.get(key)
	if n == nil {
		return nil
	}
	return m.w.newMapping(n, m.field(key))
}

func (m *mapping) list(key string) []*yaml.Node {
	n := m.get(key)
	if n == nil {
		return nil
	}
	if n.Kind != yaml.SequenceNode {
		m.w.report(Error, n.Line, m.field(key), "must be a list, not %s", kindName(n))
		return nil
	}
	items := make([]*yaml.Node, len(n.Content))
	for i, c := range n.Content {
		items[i] = resolve(c)
	}
	return items
}

func (m *mapping) strList(key string) []string {
	var out []string
	for i, n := range m.list(key) {
		if n.Kind != yaml.ScalarNode || n.Tag != "!!str" {
			m.w.report(Error, n.Line, fmt.Sprintf("%s[%d]", m.field(key), i), "must be a string, not %s", kindName(n))
			continue
		}
		out = append(out, n.Value)
	}
	return out
}

func (m *mapping) strMap(key string) map[string]string {
	c := m.child(key)
	if c == nil || c.node == nil {
		return nil
	}
	out := map[string]string{}
	for k := range c.index {
		if v := c.str(k); v != "" || c.has(k) {
			out[k] = v
		}
	}
	return out
}

// known marks keys that exist in Flux's schema but mean nothing for a
// one-shot run (documented in the package's README text).
func (m *mapping) known(keys ...string) {
	for _, k := range keys {
		m.used[k] = true
	}
}

// unsupported reports key, when present, and marks it read.
func (m *mapping) unsupported(key string, sev Severity, format string, args ...any) bool {
	m.used[key] = true
	if !m.has(key) {
		return false
	}
	m.w.report(sev, m.line(key), m.field(key), format, args...)
	return true
}

// done reports every key nothing read: a typo or a field of a newer Flux
// must not pass unnoticed.
func (m *mapping) done() {
	var unknown []string
	for k := range m.index {
		if !m.used[k] {
			unknown = append(unknown, k)
		}
	}
	slices.SortFunc(unknown, func(a, b string) int { return m.index[a] - m.index[b] })
	for _, k := range unknown {
		m.w.report(Error, m.line(k), m.field(k), "unknown field")
	}
}
