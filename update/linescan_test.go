package update

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"sigs.k8s.io/kustomize/kyaml/yaml"

	"github.com/uptick-gitops/uptick/internal/fleet"
)

// scanned is what rewrite reads of a target, for comparing the line
// scanner with the parser.
type scanned struct {
	Kind         yaml.Kind
	Style        yaml.Style
	Value        string
	Line, Column int
	Marker       marker
	Raw          string
	Flow         bool
	Object       string
}

func project(ts []target) []scanned {
	out := make([]scanned, len(ts))
	for i, t := range ts {
		out[i] = scanned{t.node.Kind, t.node.Style, t.node.Value, t.node.Line, t.node.Column, t.m, t.raw, t.flow, t.object}
	}
	return out
}

// pieces are the documents of src as rewrite feeds them to scanDocument:
// its segments, or the whole file.
func pieces(src []byte) []segment {
	if segs := documentSegments(src); segs != nil {
		return segs
	}
	return []segment{{start: 0, end: len(src)}}
}

// checkScanDocument holds scanDocument to the parser: for every marked
// document it accepts, go-yaml must parse the document, find no
// misplaced or malformed marker, and find the same targets. It returns
// how many documents were accepted and how many were marked.
func checkScanDocument(t *testing.T, src []byte) (accepted, marked int) {
	t.Helper()
	for _, s := range pieces(src) {
		piece := src[s.start:s.end]
		if !bytes.Contains(piece, markerKeyBytes) {
			continue
		}
		marked++
		got, ok := scanDocument(piece, s.line)
		if !ok {
			continue
		}
		accepted++
		dec := yaml.NewDecoder(bytes.NewReader(piece))
		var doc yaml.Node
		if err := dec.Decode(&doc); err != nil {
			t.Fatalf("the line scanner accepts a document go-yaml rejects (%v):\n%q", err, piece)
		}
		var more yaml.Node
		if err := dec.Decode(&more); err != io.EOF {
			t.Fatalf("the line scanner accepts a piece of more than one document (%v):\n%q", err, piece)
		}
		shiftLines(&doc, s.line)
		f := &setterFilter{}
		f.document(&doc)
		if len(f.bad) > 0 {
			t.Fatalf("the line scanner accepts a document with a misplaced marker (%s):\n%q", f.bad[0].msg, piece)
		}
		if diff := cmp.Diff(project(f.targets), project(got)); diff != "" {
			t.Fatalf("targets (-parsed +scanned):\n%s\n%q", diff, piece)
		}
	}
	return accepted, marked
}

func FuzzScanDocument(f *testing.F) {
	addGoldenSeeds(f)
	for _, s := range append(documentSeeds, scanCases...) {
		f.Add([]byte(s))
	}
	for i := range 8 {
		_, b, _ := fleet.File(fleet.Spec{Files: 100, Marked: 100, Seed: 3}, i, true)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, src []byte) { checkScanDocument(t, src) })
}

// scanCases sit at the edges of the line scanner's subset: comment
// placements go-yaml attaches differently, values that read as something
// else, block scalars, flow collections, indentation.
var scanCases = []string{
	"image: nginx:1.0 # {\"$imagepolicy\": \"nginx\"}\n",
	"a: 1\n# {\"$imagepolicy\": \"nginx\"}\nimage: nginx:1.0\n",
	"a: 1\n\n# {\"$imagepolicy\": \"nginx\"}\nimage: nginx:1.0\n",
	"a: 1\n# {\"$imagepolicy\": \"nginx\"}\n\nimage: nginx:1.0\n",
	"a:\n  x: 1\n# {\"$imagepolicy\": \"nginx\"}\nimage: nginx:1.0\n",
	"a:\n  x: 1\n  # {\"$imagepolicy\": \"nginx\"}\nimage: nginx:1.0\n",
	"a:\n# {\"$imagepolicy\": \"nginx\"}\nimage: nginx:1.0\n",
	"a:\n  # {\"$imagepolicy\": \"nginx\"}\n  image: nginx:1.0\n",
	"# {\"$imagepolicy\": \"nginx\"}\nimage: nginx:1.0\n",
	"l:\n  - name: app\n    # {\"$imagepolicy\": \"nginx\"}\n    image: nginx:1.0\n",
	"l:\n- name: app\n  # {\"$imagepolicy\": \"nginx\"}\n  image: nginx:1.0\n",
	"l:\n  - name: app\n    # other\n    # {\"$imagepolicy\": \"nginx\"}\n    # more\n    image: nginx:1.0\n",
	"l:\n  - name: app\n  # {\"$imagepolicy\": \"nginx\"}\n    image: nginx:1.0\n",
	"l:\n  - name: app\n    image: nginx:1.0 # {\"$imagepolicy\": \"nginx\"}\n",
	"l:\n  - image: nginx:1.0 # {\"$imagepolicy\": \"nginx\"}\n",
	"l:\n  - nginx:1.0 # {\"$imagepolicy\": \"nginx\"}\n  - 'nginx:1.0' # {\"$imagepolicy\": \"nginx\"}\n",
	"l:\n  # {\"$imagepolicy\": \"nginx\"}\n  - nginx:1.0\n",
	"image: \"nginx:1.0\" # {\"$imagepolicy\": \"nginx\"}\ntag: '1.0' # {\"$imagepolicy\": \"nginx:tag\"}\n",
	"image: \"ng\\x69nx:1.0\" # {\"$imagepolicy\": \"nginx\"}\n",
	"image: 'it''s' # {\"$imagepolicy\": \"nginx\"}\n",
	"image: nginx:1.0 # {\"$imagepolicy\": \"nginx\"} trailing\n",
	"image: nginx:1.0 # {\"$imagepolicy\": nginx}\n",
	"image: nginx:1.0 #{\"$imagepolicy\": \"nginx\"}\n",
	"image: nginx:1.0# {\"$imagepolicy\": \"nginx\"}\n",
	"image: a: b # {\"$imagepolicy\": \"nginx\"}\n",
	"image: # {\"$imagepolicy\": \"nginx\"}\n  nginx:1.0\n",
	"image: nginx\n  :1.0 # {\"$imagepolicy\": \"nginx\"}\n",
	"image:\n  nginx:1.0 # {\"$imagepolicy\": \"nginx\"}\n",
	"image: &a nginx:1.0 # {\"$imagepolicy\": \"nginx\"}\n",
	"image: !!str nginx:1.0 # {\"$imagepolicy\": \"nginx\"}\n",
	"image: {a: b} # {\"$imagepolicy\": \"nginx\"}\n",
	"image: [a, b] # {\"$imagepolicy\": \"nginx\"}\n",
	"image: | # {\"$imagepolicy\": \"nginx\"}\n  nginx:1.0\n",
	"data: |\n  image: nginx:1.0 # {\"$imagepolicy\": \"nginx\"}\nimage: nginx:1.0 # {\"$imagepolicy\": \"nginx\"}\n",
	"data: |\n  text\n# {\"$imagepolicy\": \"nginx\"}\nimage: nginx:1.0\n",
	"data: |-\n\n  text\n\n  more\nimage: nginx:1.0 # {\"$imagepolicy\": \"nginx\"}\n",
	"data: >+\n    deep\n  shallow\nimage: nginx:1.0 # {\"$imagepolicy\": \"nginx\"}\n",
	"data: |\n   \n  text\nimage: nginx:1.0 # {\"$imagepolicy\": \"nginx\"}\n",
	"data: |\nimage: nginx:1.0 # {\"$imagepolicy\": \"nginx\"}\n",
	"ports: {a: b, c: [d, 'e', \"f\"], g: {}}\nimage: nginx:1.0 # {\"$imagepolicy\": \"nginx\"}\n",
	"ports: {a: b,}\nimage: nginx:1.0 # {\"$imagepolicy\": \"nginx\"}\n",
	"ports: {a: b\nimage: nginx:1.0 # {\"$imagepolicy\": \"nginx\"}\n",
	"ports: {a: http://x}\nimage: nginx:1.0 # {\"$imagepolicy\": \"nginx\"}\n",
	"ports: [0?]\nimage: nginx:1.0 # {\"$imagepolicy\": \"nginx\"}\n",
	"ports: {a: b?c}\nimage: nginx:1.0 # {\"$imagepolicy\": \"nginx\"}\n",
	"ports: a?b\nimage: nginx:1.0 # {\"$imagepolicy\": \"nginx\"}\n",
	"a: 1\n  b: 2\nimage: nginx:1.0 # {\"$imagepolicy\": \"nginx\"}\n",
	"a:\n  - x\n  b: 2\nimage: nginx:1.0 # {\"$imagepolicy\": \"nginx\"}\n",
	"a:\n- x\n- y\nimage: nginx:1.0 # {\"$imagepolicy\": \"nginx\"}\n",
	"a:\n- x\n# {\"$imagepolicy\": \"nginx\"}\nimage: nginx:1.0\n",
	"- a\n- image: nginx:1.0 # {\"$imagepolicy\": \"nginx\"}\n  b: c\n",
	"- - image: nginx:1.0 # {\"$imagepolicy\": \"nginx\"}\n",
	"-\n  image: nginx:1.0 # {\"$imagepolicy\": \"nginx\"}\n",
	"  image: nginx:1.0 # {\"$imagepolicy\": \"nginx\"}\n  b: 1\n",
	"  image: nginx:1.0 # {\"$imagepolicy\": \"nginx\"}\nb: 1\n",
	"image: nginx:1.0 # {\"$imagepolicy\": \"nginx\"}\nimage: nginx:1.1 # {\"$imagepolicy\": \"nginx\"}\n",
	"kind: Deployment\nmetadata:\n  name: web\n  namespace: prod\nspec:\n  image: nginx:1.0 # {\"$imagepolicy\": \"nginx\"}\n",
	"kind: Deployment\nkind: Other\nmetadata:\n  labels:\n    name: no\n  name: \"web\"\nmetadata:\n  name: second\nimage: nginx:1.0 # {\"$imagepolicy\": \"nginx\"}\n",
	"kind:\nmetadata:\nname: x\nimage: nginx:1.0 # {\"$imagepolicy\": \"nginx\"}\n",
	"kind: {a: b}\nmetadata: [x]\nimage: nginx:1.0 # {\"$imagepolicy\": \"nginx\"}\n",
	"metadata:\n- name: x\nkind: K\nimage: nginx:1.0 # {\"$imagepolicy\": \"nginx\"}\n",
	"spec:\n  metadata:\n    name: inner\nkind: K\nimage: nginx:1.0 # {\"$imagepolicy\": \"nginx\"}\n",
	"kind: |\n  K\nimage: nginx:1.0 # {\"$imagepolicy\": \"nginx\"}\n",
	"---\nimage: nginx:1.0 # {\"$imagepolicy\": \"nginx\"}\n...\n# after\n",
	"# head\n---\nimage: nginx:1.0 # {\"$imagepolicy\": \"nginx\"}\n",
	"--- \nimage: nginx:1.0 # {\"$imagepolicy\": \"nginx\"}\n",
	"%YAML 1.2\n---\nimage: nginx:1.0 # {\"$imagepolicy\": \"nginx\"}\n",
	"image: nginx:1.0 # {\"$imagepolicy\": \"nginx\"}\n...\nb: 1\n",
	"image: nginx:1.0 # {\"$imagepolicy\": \"nginx\"}\n---\nb: 1\n",
	"a: 1\n---\nimage: nginx:1.0 # {\"$imagepolicy\": \"nginx\"}\n---\n# {\"$imagepolicy\": \"nginx\"}\nimage: nginx:1.0\n",
	"image:\tnginx:1.0 # {\"$imagepolicy\": \"nginx\"}\n",
	"image: nginx:1.0 # {\"$imagepolicy\": \"nginx\"}\r\n",
	"note: \"$imagepolicy\"\nimage: nginx:1.0 # {\"$imagepolicy\": \"nginx\"}\n",
	"image: -x # {\"$imagepolicy\": \"nginx\"}\nb: - x\n",
	"image: ~ # {\"$imagepolicy\": \"nginx\"}\n",
	"image: x[y]{z},w # {\"$imagepolicy\": \"nginx\"}\n",
	"image: x:\n",
	"image: nginx:1.0 # {\"$imagepolicy\": \"nginx\"}",
	"a: b\n# {\"$imagepolicy\": \"nginx\"}",
	"nginx:1.0 # {\"$imagepolicy\": \"nginx\"}\n",
	"image: \"nginx:1.0\"x # {\"$imagepolicy\": \"nginx\"}\n",
	"image: \"a # {\"$imagepolicy\": \"nginx\"}\n",
	"a.b/c-d: nginx:1.0 # {\"$imagepolicy\": \"ns:nginx:tag\"}\n",
	"\"image\": nginx:1.0 # {\"$imagepolicy\": \"nginx\"}\n",
	"image : nginx:1.0 # {\"$imagepolicy\": \"nginx\"}\n",
	"? image\n: nginx:1.0 # {\"$imagepolicy\": \"nginx\"}\n",
	// A line comment, then comment lines: go-yaml keeps each where it is.

	"image: x # {\"$imagepolicy\": \"a\"}\n# {\"$imagepolicy\": \"b\"}\nb: y\n",
	"image: x # {\"$imagepolicy\": \"a\"}\n  # {\"$imagepolicy\": \"b\"}\nb: y\n",
	"image: x # {\"$imagepolicy\": \"a\"}\n          # {\"$imagepolicy\": \"b\"}\nb: y\n",
	"s:\n  - x # {\"$imagepolicy\": \"a\"}\n  # {\"$imagepolicy\": \"b\"}\n  - y\nc: d\n",
	"m:\n  image: x # {\"$imagepolicy\": \"a\"}\n  # {\"$imagepolicy\": \"b\"}\n  b: y\n",
	"m:\n  - name: x\n    image: x # {\"$imagepolicy\": \"a\"}\n    # {\"$imagepolicy\": \"b\"}\n    b: y\n",
	"m:\n  - name: x\n    # {\"$imagepolicy\": \"b\"}\n    b: y # {\"$imagepolicy\": \"a\"}\n",
	"a: {x: y}\n# {\"$imagepolicy\": \"b\"}\nb: y\n",
	"a: 'q'\n# {\"$imagepolicy\": \"b\"}\nb: y\n",
	"a: |\n  q\n# {\"$imagepolicy\": \"b\"}\nb: y\n",
	"a:\n  b:\n# {\"$imagepolicy\": \"b\"}\nc: y\n",
	"a:\n  b:\n  # {\"$imagepolicy\": \"b\"}\n  c: y\n",
	"a:\n  b:\n    # {\"$imagepolicy\": \"b\"}\n    c: y\n",
	"a:\n  - b\n  # {\"$imagepolicy\": \"b\"}\nc: y\n",
	"a:\n- b\n# {\"$imagepolicy\": \"b\"}\nc: y\n",
	"a:\n  - b:\n    # {\"$imagepolicy\": \"b\"}\n    c: y\n",
	"a:\n  - b:\n      # {\"$imagepolicy\": \"b\"}\n      c: y\n",
	"- a\n# {\"$imagepolicy\": \"b\"}\n- c: y\n",
	"k: v\n---\n",
}

// TestScanDocumentMatchesParse runs the differential check over the edge
// cases, the golden trees, the document seeds and generated fleet files,
// and holds the scanner to accepting the fleet's marked documents: a
// scanner that declined everything would pass the check alone.
func TestScanDocumentMatchesParse(t *testing.T) {
	marked := "image: nginx:1.0 # {\"$imagepolicy\": \"nginx\"}\n"
	long := []string{ // go-yaml takes no key over 1,024 characters
		strings.Repeat("k", 1100) + ": v\n" + marked,
		"p: {" + strings.Repeat("k", 1100) + ": v}\n" + marked,
		"p: {\"" + strings.Repeat("k", 1100) + "\": v}\n" + marked,
		"p: {[a]: b}\n" + marked,
		"p: [" + strings.Repeat("x", 1100) + "]\n" + marked,
		"p: " + strings.Repeat("x", 1100) + "\n" + marked,
		"l:\n- " + strings.Repeat("x", 1100) + "\n" + marked,
		"image: " + strings.Repeat("x", 1100) + " # {\"$imagepolicy\": \"nginx\"}\n",
	}
	for i, s := range append(append(documentSeeds, scanCases...), long...) {
		t.Run(fmt.Sprintf("case-%d", i), func(t *testing.T) { checkScanDocument(t, []byte(s)) })
	}
	forEachGolden(t, func(t *testing.T, b []byte) { checkScanDocument(t, b) })
	t.Run("fleet", func(t *testing.T) {
		spec := fleet.Spec{Files: 400, Marked: 400, Seed: 7}
		accepted, marked := 0, 0
		for i := range spec.Files {
			_, b, _ := fleet.File(spec, i, true)
			a, m := checkScanDocument(t, b)
			accepted += a
			marked += m
		}
		if marked == 0 || accepted != marked {
			t.Errorf("the line scanner accepted %d of the fleet's %d marked documents, want all", accepted, marked)
		}
	})
}

// TestScanDocumentAccepts pins which edge cases the scanner takes itself
// (the rest go to the parser), so that a change to the subset is seen.
func TestScanDocumentAccepts(t *testing.T) {
	for _, c := range []struct {
		src  string
		want bool
	}{
		{"image: nginx:1.0 # {\"$imagepolicy\": \"nginx\"}\n", true},
		{"l:\n  - name: app\n    # {\"$imagepolicy\": \"nginx\"}\n    image: nginx:1.0\n", true},
		{"data: |\n  x\nimage: nginx:1.0 # {\"$imagepolicy\": \"nginx\"}\n", true},
		{"p: {a: b, c: [d]}\nimage: nginx:1.0 # {\"$imagepolicy\": \"nginx\"}\n", true},
		{"a: 1\n# {\"$imagepolicy\": \"nginx\"}\n\nimage: nginx:1.0\n", false}, // a foot comment
		{"image: &a nginx:1.0 # {\"$imagepolicy\": \"nginx\"}\n", false},
		{"image: nginx:1.0 # {\"$imagepolicy\": nginx}\n", false},
		{"data: |\n  image: x # {\"$imagepolicy\": \"nginx\"}\n", false},
		{"image:\tnginx:1.0 # {\"$imagepolicy\": \"nginx\"}\n", false},
		{"a: 1\n  b: 2\n# {\"$imagepolicy\": \"nginx\"}\n", false},
	} {
		t.Run(strings.ReplaceAll(c.src, "\n", "⏎"), func(t *testing.T) {
			if _, ok := scanDocument([]byte(c.src), 0); ok != c.want {
				t.Errorf("scanDocument accepts: %v, want %v", ok, c.want)
			}
		})
	}
}
