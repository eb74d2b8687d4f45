package update

import (
	"bytes"

	"sigs.k8s.io/kustomize/kyaml/yaml"
)

// Most marked documents are plain block YAML, one node or entry a line:
// a Deployment, a HelmRelease's values. For them a line scan finds the
// marked scalars, with the positions go-yaml would give, at a small
// fraction of a parse (go-yaml decodes about 12 MB/s; it was most of the
// CPU of a pass that rewrites many files). scanDocument accepts a
// document only when it keeps to a subset whose meaning is plain, and
// says so; anything else is parsed as before, which also reports every
// error and every misplaced or malformed marker. The subset:
//
//   - printable ASCII, no tabs, no carriage returns;
//   - block mappings and sequences, one entry a line, with keys of
//     letters, digits and "_./-", indented consistently (a sequence may
//     sit at its key's indentation);
//   - single-line values: plain scalars that cannot be read as anything
//     else, quoted scalars without escapes, flow collections closed on
//     their line, block scalars (|, >, with chomping) without the
//     marker's key inside;
//   - comments anywhere outside scalars; a "---" first line, a "..."
//     last line;
//   - no anchors, aliases, tags, directives, complex keys or multi-line
//     scalars.
//
// Every line holding the marker's key must be a well-formed marker in
// one of two places: the comment at the end of a "key: value" or
// "- value" line (the value's line comment), or a comment line directly
// above a "key: value" line at the key's column, where the line above
// the comments is the key's previous sibling or its parent (the key's
// head comment). Those are the places go-yaml attaches a comment to
// without surprises; a marker elsewhere goes to the parser. The
// differential tests (TestScanDocumentMatchesParse, FuzzScanDocument, and
// FuzzRewritePerDocument through rewrite) hold the two to the same
// targets.

// level is an open block collection: its column (0-based) and kind.
type level struct {
	col     int
	seq     bool
	compact bool // a sequence at its parent key's column
	id      int  // tells apart collections opened at the same place
}

// lineScanner holds the state of scanDocument.
type lineScanner struct {
	stack []level
	ids   int
	// pending: the last line ended with "key:" (pendKey) or "-" (pendSeq)
	// and no value; pendCol is the column of that mapping or sequence.
	pendKey, pendSeq bool
	pendCol          int
	// A block scalar is open: its parent's column, and the content's
	// indentation once a content line was seen (-1 before).
	inBlock      bool
	blockParent  int
	blockIndent  int
	prevWasBlock bool // the last content line was a block scalar's
	rootDone     bool
	kindSeen     bool
	metaSeen     bool
	metaID       int // the id of metadata's mapping; 0: none
	nameSeen     bool
	nsSeen       bool
	metaPending  bool // "metadata:" is pending: its child mapping gets metaID
	kind, name   string
	ns           string
	// The comment lines right above the current line (since the last
	// blank or content line): the marker among them, if any.
	run       bool // the previous line was a comment in a run
	runMarker *marker
	runRaw    string
	runOK     bool // every comment of the run is at runCol, and the run follows a content line
	runCol    int
	prevBlank bool // the previous line was blank (or there was none)
	targets   []target
}

// scanDocument returns the targets of the document piece, whose first
// line is 0-based line line0 of the file, and true; or false when the
// document is outside the subset (it must then be parsed). The targets'
// nodes carry what rewrite reads: kind, style, value, line and column.
func scanDocument(piece []byte, line0 int) ([]target, bool) {
	for _, c := range piece {
		if c < 0x20 && c != '\n' || c >= 0x7f {
			return nil, false
		}
	}
	s := &lineScanner{prevBlank: true}
	marks := bytes.Index(piece, markerKeyBytes) // next marker key at or after pos
	started := false                            // a content line or "---" was seen
	ended := false                              // a "..." line was seen
	lineNo := line0
	for pos := 0; pos < len(piece); {
		end := bytes.IndexByte(piece[pos:], '\n')
		next := len(piece)
		if end < 0 {
			end = len(piece)
		} else {
			end += pos
			next = end + 1
		}
		lineNo++
		line := piece[pos:end]
		marked := false
		if marks >= 0 && marks < end {
			marked = true
			if m := bytes.Index(piece[next:], markerKeyBytes); m >= 0 {
				marks = next + m
			} else {
				marks = -1
			}
		}
		pos = next
		indent := 0
		for indent < len(line) && line[indent] == ' ' {
			indent++
		}
		rest := line[indent:]
		if ended {
			if len(rest) > 0 && rest[0] != '#' || marked {
				return nil, false
			}
			continue
		}
		if s.inBlock {
			if len(rest) == 0 {
				if s.blockIndent < 0 && len(line) > s.blockParent {
					return nil, false // leading spaces-only lines: the parser decides
				}
				if marked {
					return nil, false
				}
				continue
			}
			if s.blockIndent < 0 && indent > s.blockParent {
				s.blockIndent = indent
			}
			if s.blockIndent >= 0 && indent >= s.blockIndent {
				if marked {
					return nil, false
				}
				s.prevWasBlock = true
				s.prevBlank, s.run = false, false
				continue
			}
			if indent > s.blockParent {
				return nil, false
			}
			s.inBlock = false
		}
		switch {
		case len(rest) == 0:
			if s.runMarker != nil {
				return nil, false // a blank line parts the marker from its key
			}
			s.prevBlank, s.run, s.runOK = true, false, false
			continue
		case rest[0] == '#':
			if !s.run {
				s.run = true
				s.runOK = !s.prevBlank && !s.prevWasBlock && started
				s.runCol = indent
				s.runMarker = nil
			}
			if indent != s.runCol {
				s.runOK = false
			}
			if marked {
				if s.runMarker != nil {
					return nil, false
				}
				m, err := parseMarkerComment(string(rest))
				if err != nil {
					return nil, false
				}
				s.runMarker, s.runRaw = &m, markerRaw(m)
			}
			s.prevBlank = false
			continue
		case indent == 0 && indicator(line, 0, '-'):
			if started || marked || s.runMarker != nil || !blankTail(line[3:]) {
				return nil, false
			}
			started = true
			s.prevBlank, s.run, s.runMarker = true, false, nil
			continue
		case indent == 0 && indicator(line, 0, '.'):
			if marked || s.runMarker != nil || !blankTail(line[3:]) {
				return nil, false
			}
			ended = true
			continue
		case indent == 0 && rest[0] == '%':
			return nil, false
		}
		started = true
		if !s.content(line, indent, lineNo, marked) {
			return nil, false
		}
		s.prevBlank, s.run, s.runMarker = false, false, nil
	}
	if s.runMarker != nil || !s.rootDone {
		return nil, false
	}
	obj := s.object()
	for i := range s.targets {
		s.targets[i].object = obj
	}
	return s.targets, true
}

// object is objectName of the scanned document.
func (s *lineScanner) object() string {
	if s.kind == "" {
		return ""
	}
	switch {
	case s.name == "":
		return s.kind
	case s.ns == "":
		return s.kind + "/" + s.name
	}
	return s.kind + "/" + s.ns + "/" + s.name
}

// blankTail reports whether b holds spaces only.
func blankTail(b []byte) bool {
	for _, c := range b {
		if c != ' ' {
			return false
		}
	}
	return true
}

// enter places an entry (a sequence entry or a mapping key) at column col:
// in the collection a pending key or entry opens, or in an open one. It
// reports whether the entry continues the innermost collection open
// before this line, or is the first entry of a pending key's value (the
// places where a comment above it is its head comment).
func (s *lineScanner) enter(col int, seq bool) (sibling, ok bool) {
	meta := s.metaPending
	s.metaPending = false
	if s.pendKey || s.pendSeq {
		pc, key := s.pendCol, s.pendKey
		s.pendKey, s.pendSeq = false, false
		if col > pc || col == pc && seq && key {
			s.push(col, seq, col == pc)
			if meta && !seq {
				s.metaID = s.ids
			}
			return key, true
		}
		// A null value; the entry belongs further out.
	}
	popped := false
	for len(s.stack) > 0 {
		top := s.stack[len(s.stack)-1]
		if top.col > col || top.col == col && top.compact && !seq {
			s.stack = s.stack[:len(s.stack)-1]
			popped = true
			continue
		}
		break
	}
	if len(s.stack) == 0 {
		if s.rootDone {
			return false, false
		}
		s.push(col, seq, false)
		return false, true
	}
	top := s.stack[len(s.stack)-1]
	if top.col != col || top.seq != seq {
		return false, false
	}
	return !popped, true
}

func (s *lineScanner) push(col int, seq, compact bool) {
	s.ids++
	s.stack = append(s.stack, level{col: col, seq: seq, compact: compact, id: s.ids})
	s.rootDone = true
}

// content scans one content line (not blank, not a comment line).
func (s *lineScanner) content(line []byte, indent, lineNo int, marked bool) bool {
	p := indent
	first := true
	s.prevWasBlock = false
	headMarker := s.runMarker
	// Sequence entries: "- " (or a final "-").
	for p < len(line) && line[p] == '-' && (p+1 == len(line) || line[p+1] == ' ') {
		if headMarker != nil {
			return false // a head comment of an entry: the parser decides
		}
		if first {
			if _, ok := s.enter(p, true); !ok {
				return false
			}
			first = false
		} else {
			s.push(p, true, false)
		}
		seqCol := p
		p++
		for p < len(line) && line[p] == ' ' {
			p++
		}
		if p == len(line) || line[p] == '#' {
			if marked {
				return false
			}
			s.pendSeq, s.pendCol = true, seqCol
			return true
		}
	}
	// A key?
	k := p
	for k < len(line) && isKeyChar(line[k]) {
		k++
	}
	isKey := k > p && k < len(line) && line[k] == ':' && (k+1 == len(line) || line[k+1] == ' ') &&
		plainStart(line[p]) && k-p <= 128
	if !isKey {
		if first {
			return false // a scalar at the start of a line: a root scalar or a continuation
		}
		// "- value": the entry's value, in the sequence just entered.
		seqCol := s.stack[len(s.stack)-1].col
		return s.value(line, p, lineNo, marked, seqCol, nil, nil, "")
	}
	var sibling bool
	if first {
		var ok bool
		if sibling, ok = s.enter(p, false); !ok {
			return false
		}
	} else {
		s.push(p, false, false)
	}
	if headMarker != nil && (!first || !sibling || !s.runOK || s.runCol != p) {
		return false
	}
	// objectName's fields: the first kind and metadata of the root
	// mapping, the first name and namespace of that metadata mapping.
	key := line[p:k]
	depth := len(s.stack)
	var field *string
	isMeta := false
	switch {
	case depth == 1 && string(key) == "kind" && !s.kindSeen:
		s.kindSeen, field = true, &s.kind
	case depth == 1 && string(key) == "metadata" && !s.metaSeen:
		s.metaSeen, isMeta = true, true
		field = new(string) // a metadata scalar names nothing
	case depth == 2 && s.stack[1].id == s.metaID && string(key) == "name" && !s.nameSeen:
		s.nameSeen, field = true, &s.name
	case depth == 2 && s.stack[1].id == s.metaID && string(key) == "namespace" && !s.nsSeen:
		s.nsSeen, field = true, &s.ns
	}
	v := k + 1
	for v < len(line) && line[v] == ' ' {
		v++
	}
	if v == len(line) || line[v] == '#' {
		if marked || headMarker != nil {
			return false
		}
		s.pendKey, s.pendCol, s.metaPending = true, p, isMeta
		return true
	}
	if headMarker != nil && marked || isMeta && line[v] == '{' {
		return false // a flow metadata's name: the parser reads it
	}
	return s.value(line, v, lineNo, marked, p, field, headMarker, s.runRaw)
}

// value scans the value at line[v:] of an entry of the collection at
// column parent: a scalar, a flow collection or a block scalar header,
// then an optional comment. A marked line's comment must be a marker, on
// a scalar. head, a marker from the comment lines above the key, makes
// the scalar a target too; field, when not nil, receives a scalar's
// value (kind, metadata's name...), or "" for a collection.
func (s *lineScanner) value(line []byte, v, lineNo int, marked bool, parent int, field *string, head *marker, headRaw string) bool {
	style := yaml.Style(0)
	var text []byte // a scalar's value; made a string only where kept
	j := v          // the end of the value
	scalar := true
	switch c := line[v]; c {
	case '"', '\'':
		end, ok := quotedEnd(line, v)
		if !ok {
			return false
		}
		j = end
		text = line[v+1 : j-1]
		style = yaml.DoubleQuotedStyle
		if c == '\'' {
			style = yaml.SingleQuotedStyle
		}
	case '{', '[':
		end, ok := flowNode(line, v)
		if !ok {
			return false
		}
		j = end
		scalar = false
	case '|', '>':
		if marked || head != nil || field != nil {
			return false // a marker on it is a warning; objectName would read its text
		}
		j = v + 1
		if j < len(line) && (line[j] == '+' || line[j] == '-') {
			j++
		}
		if _, ok := commentAfter(line, j); !ok {
			return false
		}
		s.inBlock, s.blockParent, s.blockIndent = true, parent, -1
		s.prevWasBlock = true
		return true
	case '?', ':', ',', ']', '}', '#', '&', '*', '!', '%', '@', '`':
		return false
	default:
		if c == '-' && (v+1 == len(line) || line[v+1] == ' ') {
			return false
		}
		for j < len(line) && !(line[j] == '#' && line[j-1] == ' ') {
			j++
		}
		for j > v && line[j-1] == ' ' {
			j--
		}
		text = line[v:j]
		if bytes.Contains(text, []byte(": ")) || text[len(text)-1] == ':' {
			return false
		}
	}
	if field != nil {
		*field = string(text) // "" for a collection
	}
	c, ok := commentAfter(line, j)
	switch {
	case !ok:
		return false
	case c == len(line):
		if marked {
			return false
		}
	case marked:
		if head != nil || !scalar {
			return false
		}
		m, err := parseMarkerComment(string(line[c:]))
		if err != nil {
			return false
		}
		head, headRaw = &m, markerRaw(m)
	}
	if head == nil {
		return true
	}
	if !scalar || style == 0 && len(text) == 0 {
		return false
	}
	s.targets = append(s.targets, target{
		node: &yaml.Node{Kind: yaml.ScalarNode, Style: style, Value: string(text), Line: lineNo, Column: v + 1},
		m:    *head,
		raw:  headRaw,
	})
	return true
}

// commentAfter reads what follows a value ending at line[j]: spaces,
// then a comment or the end. It returns where the comment starts
// (len(line) for none); false when something else follows.
func commentAfter(line []byte, j int) (int, bool) {
	c := j
	for c < len(line) && line[c] == ' ' {
		c++
	}
	return c, c == len(line) || line[c] == '#' && c > j
}

// quotedEnd returns the index after the quoted scalar opening at line[p]
// (its quote), which must close on the line with no escape: no '\\' in
// double quotes, no doubled quote in single ones.
func quotedEnd(line []byte, p int) (int, bool) {
	q := line[p]
	i := bytes.IndexByte(line[p+1:], q)
	if i < 0 {
		return 0, false
	}
	end := p + 2 + i
	if q == '"' && bytes.IndexByte(line[p+1:end-1], '\\') >= 0 || q == '\'' && end < len(line) && line[end] == '\'' {
		return 0, false
	}
	return end, true
}

// flowNode checks the flow collection opening at line[p] and returns the
// index after its close; it must close on the line and hold only plain
// scalars of letters, digits and "_./-", quoted scalars without escapes
// and nested collections (not as keys).
func flowNode(line []byte, p int) (int, bool) {
	open := line[p]
	closer := byte('}')
	if open == '[' {
		closer = ']'
	}
	p++
	skip := func() {
		for p < len(line) && line[p] == ' ' {
			p++
		}
	}
	skip()
	if p < len(line) && line[p] == closer {
		return p + 1, true
	}
	for p < len(line) {
		end, ok := flowItem(line, p)
		// A key is a short scalar: go-yaml takes no key over 1,024
		// characters, and a collection as a key is for the parser.
		if !ok || open == '{' && (line[p] == '{' || line[p] == '[' || end-p > 128) {
			return 0, false
		}
		p = end
		skip()
		if open == '{' {
			if p+1 >= len(line) || line[p] != ':' || line[p+1] != ' ' {
				return 0, false
			}
			p += 2
			skip()
			if end, ok = flowItem(line, p); !ok {
				return 0, false
			}
			p = end
			skip()
		}
		if p >= len(line) {
			return 0, false
		}
		switch line[p] {
		case closer:
			return p + 1, true
		case ',':
			p++
			skip()
			if p < len(line) && line[p] == closer {
				return 0, false // a trailing comma: the parser decides
			}
		default:
			return 0, false
		}
	}
	return 0, false
}

// flowItem checks one scalar or collection inside a flow collection.
func flowItem(line []byte, p int) (int, bool) {
	if p >= len(line) {
		return 0, false
	}
	switch c := line[p]; c {
	case '{', '[':
		return flowNode(line, p)
	case '"', '\'':
		return quotedEnd(line, p)
	}
	// A plain scalar in a flow collection: letters, digits and "_./-"
	// only, as a manifest's {cpu: 300m, path: /readyz} has; anything
	// else (spaces, ':', '?', indicators) is for the parser.
	if !plainStart(line[p]) {
		return 0, false
	}
	j := p
	for j < len(line) && isKeyChar(line[j]) {
		j++
	}
	return j, true
}

// plainStart reports whether c may start a key, or a plain scalar in a
// flow collection: a letter, a digit or one of "_./".
func plainStart(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '.' || c == '/'
}

func isKeyChar(c byte) bool { return plainStart(c) || c == '-' }
