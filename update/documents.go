package update

import (
	"bytes"
	"io"

	"sigs.k8s.io/kustomize/kyaml/yaml"
)

// Only the documents of a file that can hold a marker are parsed. A line
// that starts, at column 0, with "---" or "..." followed by a space, a
// tab, a line break or the end of the file always ends a document: the
// YAML spec forbids such a line inside any scalar (c-forbidden), and
// go-yaml ends a plain scalar there and rejects it inside a quoted one,
// while block scalars are indented. So a file is cut before each "---"
// line and after each "..." line, and each piece holding the marker's
// key is decoded alone, its nodes' lines shifted by the piece's first
// line. Parsing is most of the cost of a marked file, and in a typical
// manifest file (a workload, then a Service, a ConfigMap...) the markers
// are in one document of several.
//
// A piece that holds only comments, blank lines and directives is
// joined to the document after it: directives ("%YAML", "%TAG") belong
// to the document they precede, which YAML allows only at the start of
// the stream or after a "..." line. Directive lines right after a
// document's content are left to the parser (the whole file is parsed).
//
// The pieces are decoded with a fresh parser each, so whatever go-yaml
// carries from one document to the next (anchors: an alias may name an
// anchor of an earlier document) is not there; and a piece is judged
// alone. Whenever a marked piece does not decode as exactly one
// document, the whole file is parsed as before, so a file whose marked
// documents do not parse alone gets the same error, at the same line, as
// it always did. Documents without the marker's key are not parsed at
// all: a syntax error in one of them no longer keeps the marked
// documents of the file from being updated (per the spec the documents
// are independent; Flux too decodes each document on its own).

// segment is one piece of a file: src[start:end], starting at 0-based
// line line of the file.
type segment struct {
	start, end int
	line       int
}

var (
	markerKeyBytes = []byte(markerKey)
	bom            = []byte("\ufeff")
)

// documentSegments cuts src into pieces of one document each. It returns
// nil when the file should be parsed whole: one piece only, or a byte
// order mark past the start (go-yaml counts a byte order mark at the
// start of a line as a column, except at the start of the stream), or a
// UTF-16 or UTF-32 stream.
func documentSegments(src []byte) []segment {
	if len(src) >= 2 && (src[0] == 0xFE && src[1] == 0xFF || src[0] == 0xFF && src[1] == 0xFE || src[0] == 0) {
		return nil
	}
	if bytes.Contains(src[min(len(bom), len(src)):], bom) {
		return nil
	}
	var segs []segment
	cur := segment{}
	content := false    // cur holds something other than comments, directives and blank lines
	directives := false // the line before is a directive ("%...")
	ended := false      // cur follows a "..." line
	line := 0
	br := newBreaks(src)
	for pos := 0; pos < len(src); line++ {
		j, w := br.next(pos)
		next := j + w
		switch {
		case indicator(src, pos, '-'):
			ended = false
			if content {
				if directives {
					// Directives after a document's content, with no
					// "..." between: not YAML, or a plain scalar
					// going on at column 0. The parser decides.
					return nil
				}
				cur.end = pos
				segs = append(segs, cur)
				cur = segment{start: pos, line: line}
			}
			content = true
			directives = false
		case indicator(src, pos, '.'):
			cur.end = next
			segs = append(segs, cur)
			cur = segment{start: next, line: line + 1}
			content, directives, ended = false, false, true
		case src[pos] == '%':
			directives = true
		default:
			directives = false
			if !content && !blankOrComment(src[pos:next]) {
				if ended {
					// A bare document after "...": YAML allows it,
					// go-yaml does not. The parser decides.
					return nil
				}
				content = true
			}
		}
		pos = next
	}
	cur.end = len(src)
	if cur.start < cur.end {
		segs = append(segs, cur)
	}
	if len(segs) < 2 {
		return nil
	}
	return segs
}

// indicator reports whether the line at pos starts with the document
// marker of c ("---" or "...") followed by a blank, a break or the end.
func indicator(src []byte, pos int, c byte) bool {
	if pos+3 > len(src) || src[pos] != c || src[pos+1] != c || src[pos+2] != c {
		return false
	}
	if pos+3 == len(src) {
		return true
	}
	b := src[pos+3]
	return b == ' ' || b == '\t' || b == 0 || breakWidth(src, pos+3) > 0
}

// bareStart reports whether piece starts with a line that is "---" and
// white space only, or with no "---" line at all (after a "..." line).
func bareStart(piece []byte) bool {
	if !indicator(piece, 0, '-') {
		return true
	}
	for _, c := range piece[3:] {
		switch c {
		case ' ', '\t':
			continue
		case '\r', '\n':
			return true
		}
		return false
	}
	return true
}

// blankOrComment reports whether a line holds only white space or a comment.
func blankOrComment(l []byte) bool {
	for _, c := range l {
		switch c {
		case ' ', '\t', '\r', '\n':
			continue
		case '#':
			return true
		}
		return false
	}
	return true
}

// decodeSegments feeds f the documents of the pieces of src that hold the
// marker's key. It returns false, having fed f nothing it keeps, when one
// of them is not exactly one document that parses.
func (f *setterFilter) decodeSegments(src []byte, segs []segment) bool {
	for i, s := range segs {
		piece := src[s.start:s.end]
		if !bytes.Contains(piece, markerKeyBytes) {
			continue
		}
		if i > 0 && !bareStart(piece) {
			// Something after the "---": go-yaml reads a comment
			// there differently at the start of the stream than
			// after an earlier document.
			return false
		}
		if ts, ok := scanDocument(piece, s.line); ok {
			f.targets = append(f.targets, ts...)
			continue
		}
		dec := yaml.NewDecoder(bytes.NewReader(piece))
		var doc yaml.Node
		if err := dec.Decode(&doc); err != nil {
			return false
		}
		var more yaml.Node
		if err := dec.Decode(&more); err != io.EOF {
			return false
		}
		if i > 0 && len(doc.Content) == 1 && doc.Content[0].Kind == yaml.ScalarNode {
			// A bare scalar: after an earlier document go-yaml may drop
			// its line comment (":0 # ..." loses it, "x:0 # ..." keeps
			// it). The whole file decides.
			return false
		}
		shiftLines(&doc, s.line)
		if !f.document(&doc) {
			return false
		}
	}
	return true
}

// shiftLines adds off to the line of n and of every node below it.
func shiftLines(n *yaml.Node, off int) {
	if off == 0 {
		return
	}
	n.Line += off
	for _, c := range n.Content {
		shiftLines(c, off)
	}
}
