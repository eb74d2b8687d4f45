package config

import (
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"time"

	"sigs.k8s.io/kustomize/kyaml/yaml"
)

// checker walks the YAML tree alongside the Go type it decodes into. It
// reports every mapping key no field is tagged with and every node of the
// wrong shape, by path and line (yaml.v3's own KnownFields stops at the
// first one, and its type errors name Go types), and it records the line of
// every field so that later validation errors can name it too.
type checker struct {
	// seen makes aliases cheap: an anchored node is checked once per type,
	// however often it is referred to (no exponential "billion laughs" walk).
	seen     map[checked]bool
	problems []*FieldError
	lines    map[string]int
}

type checked struct {
	n *yaml.Node
	t reflect.Type
}

func newChecker() *checker {
	return &checker{seen: map[checked]bool{}, lines: map[string]int{}}
}

func (c *checker) fail(path string, line int, format string, args ...any) {
	c.problems = append(c.problems, &FieldError{Path: path, Line: line, Err: fmt.Errorf(format, args...)})
}

var (
	durationType = reflect.TypeOf(time.Duration(0))
	nodeType     = reflect.TypeOf(yaml.Node{})
)

func (c *checker) check(n *yaml.Node, t reflect.Type, path string) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if n.Kind == yaml.AliasNode {
		if n.Alias == nil || c.seen[checked{n.Alias, t}] {
			return
		}
		n = n.Alias
		c.seen[checked{n, t}] = true
	}
	if _, ok := c.lines[path]; !ok {
		c.lines[path] = n.Line
	}
	if t == nodeType || isNull(n) {
		return
	}
	switch t.Kind() {
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			c.fail(path, n.Line, "want a mapping, got %s", describe(n))
			return
		}
		fields := yamlFields(t)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			child := k.Value
			if path != "" {
				child = path + "." + k.Value
			}
			ft, ok := fields[k.Value]
			if !ok {
				c.fail(child, k.Line, "unknown field")
				continue
			}
			c.lines[child] = k.Line
			c.check(v, ft, child)
		}
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			c.fail(path, n.Line, "want a list, got %s", describe(n))
			return
		}
		for i, item := range n.Content {
			c.check(item, t.Elem(), fmt.Sprintf("%s[%d]", path, i))
		}
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			c.fail(path, n.Line, "want a mapping, got %s", describe(n))
			return
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			c.check(n.Content[i+1], t.Elem(), path+"."+n.Content[i].Value)
		}
	case reflect.String:
		if n.Kind != yaml.ScalarNode {
			c.fail(path, n.Line, "want a string, got %s", describe(n))
		}
	case reflect.Bool:
		if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!bool" {
			c.fail(path, n.Line, "want true or false, got %s", describe(n))
		}
	case reflect.Int, reflect.Int32, reflect.Int64, reflect.Uint, reflect.Uint32, reflect.Uint64, reflect.Float64:
		if t == durationType {
			if _, err := time.ParseDuration(n.Value); n.Kind != yaml.ScalarNode || err != nil {
				c.fail(path, n.Line, "want a duration such as 30s or 2m, got %s", describe(n))
			}
			return
		}
		if n.Kind != yaml.ScalarNode || (n.ShortTag() != "!!int" && n.ShortTag() != "!!float") {
			c.fail(path, n.Line, "want a number, got %s", describe(n))
		} else if t.Kind() != reflect.Float64 {
			if _, err := strconv.ParseInt(n.Value, 0, 64); err != nil {
				c.fail(path, n.Line, "want a whole number, got %s", describe(n))
			}
		}
	}
}

// isNull reports an explicit or empty null, which decodes to the zero value.
func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

// describe names a node's shape for messages, without Go or YAML tag jargon.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		v := n.Value
		if len(v) > 40 {
			v = v[:40] + "…"
		}
		return strconv.Quote(v)
	}
	return "something else"
}

func yamlFields(t reflect.Type) map[string]reflect.Type {
	out := map[string]reflect.Type{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "-" || !f.IsExported() {
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		out[name] = f.Type
	}
	return out
}
