package update

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	"sigs.k8s.io/kustomize/kyaml/yaml"
)

// Rewrite is the pure core of the update stage on one file's bytes: it finds
// the marked scalars and splices the chosen images into src. name is used for
// messages and Change.File. Nothing is re-serialised: out differs from src
// only inside the changed scalars (whose quoting style is kept unless a plain
// value would no longer read back as the same string). When nothing changes,
// out is src itself.
//
// A non-nil err (a *FileError) means the file cannot be updated safely (it
// does not parse, or a scalar's source position does not match its value);
// out is then src. Warnings name markers that were left alone.
func Rewrite(name string, src []byte, images map[PolicyRef]Image) (out []byte, changes []Change, warnings []Warning, err error) {
	return rewrite(name, src, images, false, nil)
}

// rewrite is Rewrite; whole parses every document of the file, as
// Rewrite did before it parsed only the marked ones (the tests compare).
// plain, when not nil, keeps what plainSafe said of each new value, for
// the next files of a pass (every marker of an image gets the same one).
func rewrite(name string, src []byte, images map[PolicyRef]Image, whole bool, plain plainCache) (out []byte, changes []Change, warnings []Warning, err error) {
	if !hasScreen(src) {
		return src, nil, nil, nil
	}
	f := &setterFilter{}
	parsed := false
	if !whole {
		if segs := documentSegments(src); segs != nil {
			parsed = f.decodeSegments(src, segs)
		} else if ts, ok := scanDocument(src, 0); ok {
			f.targets, parsed = ts, true
		}
	}
	if !parsed {
		*f = setterFilter{}
		dec := yaml.NewDecoder(bytes.NewReader(src))
		for {
			var doc yaml.Node
			if derr := dec.Decode(&doc); derr == io.EOF {
				break
			} else if derr != nil {
				return src, nil, nil, parseError(name, derr)
			}
			f.document(&doc)
		}
	}
	if len(f.targets) == 0 && len(f.bad) == 0 {
		return src, nil, nil, nil
	}
	lines := lineStarts(src)
	for _, b := range f.bad {
		if b.text != "" {
			b.line = findLine(src, lines, b.line, b.dir, b.text)
		}
		warnings = append(warnings, Warning{File: name, Line: b.line, Message: b.msg})
	}
	var splices []splice
	for _, t := range f.targets {
		n := t.node
		warn := func(format string, args ...any) {
			warnings = append(warnings, Warning{File: name, Line: n.Line, Message: fmt.Sprintf(format, args...)})
		}
		switch {
		case n.Kind == yaml.AliasNode:
			warn("marker %q is on an alias, not a scalar: left alone", t.raw)
			continue
		case n.Kind != yaml.ScalarNode:
			warn("marker %q is on a %s, not a scalar: left alone", t.raw, kindName(n.Kind))
			continue
		case n.Style&(yaml.LiteralStyle|yaml.FoldedStyle) != 0:
			warn("marker %q is on a block scalar: left alone", t.raw)
			continue
		case n.Style&yaml.TaggedStyle != 0 && n.Tag != "!!str":
			warn("marker %q is on a scalar tagged %s: left alone", t.raw, n.Tag)
			continue
		case n.Style&(yaml.SingleQuotedStyle|yaml.DoubleQuotedStyle) == 0 && n.Value == "":
			// An empty plain scalar has no bytes to replace; inserting a value
			// would need a separator guessed from the surroundings.
			warn("marker %q is on an empty value: left alone", t.raw)
			continue
		}
		key, img, msg := lookup(images, t.m.Policy)
		if msg != "" {
			warn("%s", msg)
			continue
		}
		if img.Unavailable != "" {
			warn("skipped: image %q was not updated this pass: %s", key.String(), img.Unavailable)
			continue
		}
		newVal := t.m.Field.value(img)
		if t.m.Field == FieldDigest && newVal == "" {
			warn("no digest known for image policy %q: left alone", t.m.Policy.String())
			continue
		}
		if img.Repository == "" || img.Tag == "" {
			warn("image for policy %q has no repository or no tag: left alone", t.m.Policy.String())
			continue
		}
		if !utf8.ValidString(newVal) {
			warn("new value for image policy %q is not valid UTF-8: left alone", t.m.Policy.String())
			continue
		}
		start, end, multiline, serr := scalarSpan(src, lines, n, t.flow)
		if serr != nil {
			return src, nil, nil, &FileError{File: name, Line: n.Line, Err: serr}
		}
		if multiline {
			warn("marker %q is on a multi-line scalar: left alone", t.raw)
			continue
		}
		if n.Value == newVal {
			continue
		}
		splices = append(splices, splice{start: start, end: end, text: render(newVal, n.Style, t.flow, plain)})
		changes = append(changes, Change{
			File:   name,
			Line:   lineOf(lines, start),
			Object: t.object,
			Policy: t.m.Policy,
			Image:  key,
			Field:  t.m.Field,
			Old:    n.Value,
			New:    newVal,
		})
	}
	slices.SortStableFunc(warnings, func(a, b Warning) int { return a.Line - b.Line })
	if len(splices) == 0 {
		return src, nil, warnings, nil
	}
	slices.SortFunc(splices, func(a, b splice) int { return a.start - b.start })
	for i := 1; i < len(splices); i++ {
		if splices[i].start < splices[i-1].end {
			return src, nil, nil, &FileError{File: name, Line: lineOf(lines, splices[i].start), Err: errors.New("overlapping marked scalars")}
		}
	}
	size := len(src)
	for _, s := range splices {
		size += len(s.text) - (s.end - s.start)
	}
	out = make([]byte, 0, size)
	prev := 0
	for _, s := range splices {
		out = append(out, src[prev:s.start]...)
		out = append(out, s.text...)
		prev = s.end
	}
	out = append(out, src[prev:]...)
	slices.SortStableFunc(changes, func(a, b Change) int { return a.Line - b.Line })
	return out, changes, warnings, nil
}

type splice struct {
	start, end int
	text       string
}

// target is a node carrying a marker, found by setterFilter.
type target struct {
	node   *yaml.Node
	m      marker
	raw    string // the marker's policy string as written, for messages
	flow   bool   // inside a flow collection: plain scalars end at ,[]{}
	object string
}

type badMarker struct {
	line int
	msg  string
	// For orphaned comments: the comment line and the direction (-1 up,
	// +1 down) from line in which to look for it, to report its own line.
	text string
	dir  int
}

// setterFilter walks documents and collects the nodes that carry an image
// policy marker as a line comment, or as a head comment of the node or of
// its mapping key. It changes nothing.
type setterFilter struct {
	object  string
	targets []target
	bad     []badMarker
	seen    map[*yaml.Node]bool
}

// document collects the targets of one parsed document. It reports
// false for a node that is not a document.
func (f *setterFilter) document(doc *yaml.Node) bool {
	if doc.Kind != yaml.DocumentNode {
		return false
	}
	f.object = objectName(doc)
	f.orphan(doc, doc.HeadComment, -1)
	f.orphan(doc, doc.FootComment, +1)
	root := doc
	if len(doc.Content) > 0 {
		root = doc.Content[0] // the document's content, not the document node
	}
	f.check(root, false, root.LineComment, root.HeadComment)
	f.walk(root, false)
	return true
}

func (f *setterFilter) walk(n *yaml.Node, flow bool) {
	if n == nil {
		return
	}
	f.orphan(n, n.FootComment, +1)
	switch n.Kind {
	case yaml.MappingNode:
		flow = flow || n.Style&yaml.FlowStyle != 0
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			f.orphan(k, k.FootComment, +1)
			f.check(v, flow, v.LineComment, v.HeadComment, k.LineComment, k.HeadComment)
			f.walk(v, flow)
		}
	case yaml.SequenceNode:
		flow = flow || n.Style&yaml.FlowStyle != 0
		for _, c := range n.Content {
			f.check(c, flow, c.LineComment, c.HeadComment)
			f.walk(c, flow)
		}
	}
}

// orphan reports a marker in a comment that belongs to no value: a foot
// comment (after the last entry of a block) or a document's head comment
// separated from its content by a blank line.
func (f *setterFilter) orphan(n *yaml.Node, comment string, dir int) {
	if !strings.Contains(comment, markerKey) {
		return
	}
	for _, l := range strings.Split(comment, "\n") {
		if _, err := parseMarkerComment(l); !errors.Is(err, errNotMarker) {
			f.bad = append(f.bad, badMarker{line: n.Line, text: strings.TrimSpace(l), dir: dir,
				msg: fmt.Sprintf("marker comment %q is not attached to a value (put it at the end of the value's line): left alone", strings.TrimSpace(l))})
		}
	}
}

// check records n as a target if one of its comments is a marker; the first
// comment given wins, and within a multi-line head comment the last marker line.
func (f *setterFilter) check(n *yaml.Node, flow bool, comments ...string) {
	for _, c := range comments {
		if !strings.Contains(c, markerKey) {
			continue
		}
		lines := strings.Split(c, "\n")
		for i := len(lines) - 1; i >= 0; i-- {
			m, err := parseMarkerComment(lines[i])
			if errors.Is(err, errNotMarker) {
				continue
			}
			if err != nil {
				f.bad = append(f.bad, badMarker{line: n.Line, msg: fmt.Sprintf("%v: left alone", err)})
				return
			}
			if f.seen == nil {
				f.seen = map[*yaml.Node]bool{}
			}
			if f.seen[n] {
				return
			}
			f.seen[n] = true
			f.targets = append(f.targets, target{node: n, m: m, raw: markerRaw(m), flow: flow, object: f.object})
			return
		}
	}
}

func markerRaw(m marker) string {
	if m.Field == FieldImage {
		return m.Policy.String()
	}
	return m.Policy.String() + ":" + string(m.Field)
}

func kindName(k yaml.Kind) string {
	switch k {
	case yaml.MappingNode:
		return "mapping"
	case yaml.SequenceNode:
		return "sequence"
	case yaml.DocumentNode:
		return "document"
	}
	return "node"
}

// objectName names the Kubernetes object a document holds, from its
// top-level kind and metadata: "Kind/namespace/name", "Kind/name" or "".
func objectName(doc *yaml.Node) string {
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
		return ""
	}
	kind := scalarField(doc.Content[0], "kind")
	if kind == "" {
		return ""
	}
	var name, ns string
	if md := mapField(doc.Content[0], "metadata"); md != nil && md.Kind == yaml.MappingNode {
		name, ns = scalarField(md, "name"), scalarField(md, "namespace")
	}
	switch {
	case name == "":
		return kind
	case ns == "":
		return kind + "/" + name
	}
	return kind + "/" + ns + "/" + name
}

func mapField(m *yaml.Node, key string) *yaml.Node {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Kind == yaml.ScalarNode && m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}

func scalarField(m *yaml.Node, key string) string {
	if v := mapField(m, key); v != nil && v.Kind == yaml.ScalarNode {
		return v.Value
	}
	return ""
}

// ErrParse is wrapped by the FileError of a file that is not valid YAML.
var ErrParse = errors.New("cannot parse yaml")

// yamlLineRE reads the line of a go-yaml message. The package's patterns
// are compiled on first use: a regexp compiled at init costs every
// command's start, and most passes never need these.
var yamlLineRE = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`^line (\d+): `)
})

// parseError turns a yaml decoding error into a FileError at the right line.
// go-yaml reports 0-based lines for parser errors and 1-based lines for
// scanner errors, in the same "line N:" form, and no line at all when the
// 0-based line is 0; the parser's messages are few and known, so they are
// recognised and corrected here.
func parseError(name string, err error) *FileError {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	line := 0
	if m := yamlLineRE().FindStringSubmatch(msg); m != nil {
		line, _ = strconv.Atoi(m[1])
		msg = msg[len(m[0]):]
	}
	if isParserProblem(msg) {
		line++
	}
	return &FileError{File: name, Line: line, Err: fmt.Errorf("%w: %s", ErrParse, msg)}
}

// isParserProblem reports whether msg is one of go-yaml's parser (as opposed
// to scanner or decoder) problems.
func isParserProblem(msg string) bool {
	switch msg {
	case "did not find expected key",
		"did not find expected ',' or ']'",
		"did not find expected ',' or '}'",
		"did not find expected node content",
		"did not find expected '-' indicator",
		"did not find expected <document start>",
		"found duplicate %YAML directive",
		"found incompatible YAML document",
		"found duplicate %TAG directive",
		"found undefined tag handle":
		return true
	}
	return false
}

// lineStarts returns the byte offset at which each line starts, counting line
// breaks the way the yaml scanner does: \r\n, \r, \n, NEL, LS and PS.
func lineStarts(src []byte) []int {
	starts := make([]int, 1, 64)
	br := newBreaks(src)
	for i := 0; ; {
		j, w := br.next(i)
		if w == 0 {
			return starts
		}
		i = j + w
		starts = append(starts, i)
	}
}

// breaks finds the line breaks of src; with only "\n" ones (no '\r', and
// no lead byte of NEL, LS or PS), by the vectorised byte search.
type breaks struct {
	src []byte
	lf  bool
}

func newBreaks(src []byte) breaks {
	return breaks{src: src, lf: bytes.IndexByte(src, '\r') < 0 && bytes.IndexByte(src, 0xC2) < 0 && bytes.IndexByte(src, 0xE2) < 0}
}

// next returns the position and the width of the first line break at or
// after i; len(src) and 0 when there is none.
func (b breaks) next(i int) (int, int) {
	if b.lf {
		if j := bytes.IndexByte(b.src[i:], '\n'); j >= 0 {
			return i + j, 1
		}
		return len(b.src), 0
	}
	for j := i; j < len(b.src); j++ {
		if w := breakWidth(b.src, j); w > 0 {
			return j, w
		}
	}
	return len(b.src), 0
}

// breakWidth is the byte length of the line break at src[i], 0 if none.
func breakWidth(src []byte, i int) int {
	switch src[i] {
	case '\n':
		return 1
	case '\r':
		if i+1 < len(src) && src[i+1] == '\n' {
			return 2
		}
		return 1
	case 0xC2:
		if i+1 < len(src) && src[i+1] == 0x85 {
			return 2
		}
	case 0xE2:
		if i+2 < len(src) && src[i+1] == 0x80 && (src[i+2] == 0xA8 || src[i+2] == 0xA9) {
			return 3
		}
	}
	return 0
}

// findLine looks for the line whose trimmed text is text, from line from
// going in direction dir; it returns from if there is none.
func findLine(src []byte, starts []int, from, dir int, text string) int {
	for l := from; l >= 1 && l <= len(starts); l += dir {
		end := len(src)
		if l < len(starts) {
			end = starts[l]
		}
		if strings.TrimSpace(string(src[starts[l-1]:end])) == text {
			return l
		}
	}
	return from
}

// lineOf is the 1-based line holding byte offset off.
func lineOf(starts []int, off int) int {
	i, found := slices.BinarySearch(starts, off)
	if found {
		return i + 1
	}
	return i
}

// offsetOf converts a yaml node position (1-based line, 1-based column in
// characters, not bytes) into a byte offset in src.
func offsetOf(src []byte, starts []int, line, col int) (int, error) {
	if line < 1 || line > len(starts) || col < 1 {
		return 0, fmt.Errorf("position %d:%d out of range", line, col)
	}
	pos := starts[line-1]
	if line == 1 && bytes.HasPrefix(src, []byte("\ufeff")) {
		pos += 3
	}
	for range col - 1 {
		if pos >= len(src) || breakWidth(src, pos) > 0 {
			return 0, fmt.Errorf("column %d past the end of line %d", col, line)
		}
		_, w := utf8.DecodeRune(src[pos:])
		pos += w
	}
	return pos, nil
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' }

// scalarSpan finds the exact bytes of scalar n in src, from its node
// position, skipping any anchor and tag before it. It verifies that the span
// decodes to n.Value and reports an error if not; a scalar continued on a
// following line is reported as multiline instead.
func scalarSpan(src []byte, starts []int, n *yaml.Node, flow bool) (start, end int, multiline bool, err error) {
	i, err := offsetOf(src, starts, n.Line, n.Column)
	if err != nil {
		return 0, 0, false, fmt.Errorf("locating scalar %q: %w", n.Value, err)
	}
	// Node properties: &anchor and !tag, in any order, each followed by space.
	for i < len(src) && (src[i] == '&' || src[i] == '!') {
		for i < len(src) && !isSpace(src[i]) && breakWidth(src, i) == 0 && !(flow && strings.IndexByte(",[]{}", src[i]) >= 0) {
			i++
		}
		for i < len(src) {
			if isSpace(src[i]) {
				i++
			} else if w := breakWidth(src, i); w > 0 {
				i += w
			} else {
				break
			}
		}
	}
	mismatch := func(got string) error {
		return fmt.Errorf("scalar at line %d column %d reads %q in the source but %q when parsed: not rewriting", n.Line, n.Column, got, n.Value)
	}
	switch {
	case n.Style&yaml.DoubleQuotedStyle != 0:
		if i >= len(src) || src[i] != '"' {
			return 0, 0, false, mismatch(string(src[i:min(i+20, len(src))]))
		}
		j := i + 1
		escaped := false
		for ; j < len(src) && src[j] != '"'; j++ {
			if src[j] == '\\' {
				escaped = true
				if j+1 < len(src) && breakWidth(src, j+1) > 0 {
					multiline = true // an escaped line break
				}
				j++
				continue
			}
			if breakWidth(src, j) > 0 {
				multiline = true
			}
		}
		if j >= len(src) {
			return 0, 0, false, mismatch(string(src[i:]))
		}
		if multiline {
			return i, j + 1, true, nil
		}
		got := string(src[i+1 : j])
		if escaped {
			var s string
			if uerr := yaml.Unmarshal(src[i:j+1], &s); uerr != nil {
				return 0, 0, false, mismatch(string(src[i : j+1]))
			}
			got = s
		}
		if got != n.Value {
			return 0, 0, false, mismatch(got)
		}
		return i, j + 1, false, nil
	case n.Style&yaml.SingleQuotedStyle != 0:
		if i >= len(src) || src[i] != '\'' {
			return 0, 0, false, mismatch(string(src[i:min(i+20, len(src))]))
		}
		j := i + 1
		for ; j < len(src); j++ {
			if src[j] == '\'' {
				if j+1 < len(src) && src[j+1] == '\'' {
					j++
					continue
				}
				break
			}
			if breakWidth(src, j) > 0 {
				multiline = true
			}
		}
		if j >= len(src) {
			return 0, 0, false, mismatch(string(src[i:]))
		}
		if multiline {
			return i, j + 1, true, nil
		}
		if got := strings.ReplaceAll(string(src[i+1:j]), "''", "'"); got != n.Value {
			return 0, 0, false, mismatch(got)
		}
		return i, j + 1, false, nil
	}
	j := i
	for j < len(src) && breakWidth(src, j) == 0 {
		c := src[j]
		if c == '#' && j > i && isSpace(src[j-1]) {
			break
		}
		// go-yaml ends a plain scalar in a flow collection at ",?[]{}",
		// and at a ':' followed by a blank ("a:," is "a:").
		if flow && strings.IndexByte(",?[]{}", c) >= 0 {
			break
		}
		if flow && c == ':' && (j+1 == len(src) || isSpace(src[j+1]) || breakWidth(src, j+1) > 0) {
			break
		}
		j++
	}
	for j > i && isSpace(src[j-1]) {
		j--
	}
	got := string(src[i:j])
	if got != n.Value {
		if got != "" && strings.HasPrefix(n.Value, got+" ") {
			return i, j, true, nil
		}
		return 0, 0, false, mismatch(got)
	}
	return i, j, false, nil
}

// render writes v as a scalar in the given original style: quoted styles are
// kept; plain stays plain only if it would read back as the same string.
func render(v string, style yaml.Style, flow bool, plain plainCache) string {
	switch {
	case style&yaml.DoubleQuotedStyle != 0:
		return doubleQuote(v)
	case style&yaml.SingleQuotedStyle != 0:
		if printableLine(v) {
			return "'" + strings.ReplaceAll(v, "'", "''") + "'"
		}
		return doubleQuote(v)
	}
	if plain.safe(v, flow) {
		return v
	}
	return doubleQuote(v)
}

// printableLine reports whether v can go in a single-quoted scalar as is.
func printableLine(v string) bool {
	for _, r := range v {
		if needsEscape(r) {
			return false
		}
	}
	return true
}

func needsEscape(r rune) bool {
	return r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) || r == 0x2028 || r == 0x2029 || r == 0xfeff || r == utf8.RuneError
}

// doubleQuote renders v as a double-quoted YAML scalar.
func doubleQuote(v string) string {
	var b strings.Builder
	b.Grow(len(v) + 2)
	b.WriteByte('"')
	for _, r := range v {
		switch {
		case r == '"':
			b.WriteString(`\"`)
		case r == '\\':
			b.WriteString(`\\`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\t':
			b.WriteString(`\t`)
		case r == '\r':
			b.WriteString(`\r`)
		case needsEscape(r):
			fmt.Fprintf(&b, `\u%04X`, r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// yaml11RE matches plain scalars that a YAML 1.1 reader (as Kubernetes
// tooling is) resolves to something other than a string: bools, nulls, ints
// (binary, octal, hex, base 60), floats, timestamps, merge and value keys.
// The float form allows one dot only, as real 1.1 readers do (the spec's own
// regexp would also match "6.5.3", which no reader treats as a number).
var yaml11RE = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`^(?:` +
		`y|Y|yes|Yes|YES|n|N|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF` +
		`|~|null|Null|NULL|<<|=` +
		`|[-+]?0b[01_]+|[-+]?0[0-7_]+|[-+]?(?:0|[1-9][0-9_]*)|[-+]?0x[0-9a-fA-F_]+|[-+]?[1-9][0-9_]*(?::[0-5]?[0-9])+` +
		`|[-+]?(?:[0-9][0-9_]*)?\.[0-9_]*(?:[eE][-+]?[0-9]+)?|[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\.[0-9_]*|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN)` +
		`|[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}(?:(?:[Tt]|[ \t]+)[0-9]{1,2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]*)?(?:[ \t]*Z|[-+][0-9]{1,2}(?::[0-9]{2})?)?)?` +
		`)$`)
})

// plainCache remembers plainSafe's answers (it parses v as YAML).
type plainCache map[plainKey]bool

type plainKey struct {
	v    string
	flow bool
}

// safe is plainSafe, looked up in c first; a nil c only computes.
func (c plainCache) safe(v string, flow bool) bool {
	if c == nil {
		return plainSafe(v, flow)
	}
	k := plainKey{v, flow}
	ok, found := c[k]
	if !found {
		ok = plainSafe(v, flow)
		c[k] = ok
	}
	return ok
}

// plainSafe reports whether v, written as a plain scalar, reads back as the
// string v under both YAML 1.2 (the yaml library itself) and YAML 1.1 rules.
func plainSafe(v string, flow bool) bool {
	if v == "" || yaml11RE().MatchString(v) {
		return false
	}
	if flow && strings.ContainsAny(v, ",[]{}") {
		return false
	}
	b := []byte(v)
	for i := range b {
		if breakWidth(b, i) > 0 {
			return false
		}
	}
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(v), &doc); err != nil {
		return false
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 {
		return false
	}
	s := doc.Content[0]
	return s.Kind == yaml.ScalarNode && s.Style == 0 && s.Tag == "!!str" && s.Value == v && s.Anchor == ""
}
