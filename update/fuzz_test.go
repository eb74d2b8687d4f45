package update

import (
	"bytes"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"sigs.k8s.io/kustomize/kyaml/yaml"
)

// decodeAll parses a yaml stream into its documents.
func decodeAll(src []byte) ([]*yaml.Node, error) {
	var docs []*yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(src))
	for {
		var n yaml.Node
		if err := dec.Decode(&n); err == io.EOF {
			return docs, nil
		} else if err != nil {
			return nil, err
		}
		docs = append(docs, &n)
	}
}

// sameTree compares two parsed trees node by node: everything must be equal
// except scalars whose value changed, each of which must be one of changes
// (consumed from the map, keyed by old and new value).
func sameTree(a, b *yaml.Node, pending map[[2]string]int, path string) error {
	if a.Kind != b.Kind || a.Anchor != b.Anchor || a.Line != b.Line ||
		a.HeadComment != b.HeadComment || a.LineComment != b.LineComment || a.FootComment != b.FootComment ||
		len(a.Content) != len(b.Content) {
		return fmt.Errorf("%s: node differs: %+v vs %+v", path, *a, *b)
	}
	if a.Kind == yaml.ScalarNode && a.Value != b.Value {
		k := [2]string{a.Value, b.Value}
		if pending[k] == 0 {
			return fmt.Errorf("%s line %d: unexpected value change %q -> %q", path, a.Line, a.Value, b.Value)
		}
		pending[k]--
		if a.Style != b.Style && !(a.Style == 0 && b.Style == yaml.DoubleQuotedStyle) {
			return fmt.Errorf("%s line %d: style changed %v -> %v", path, a.Line, a.Style, b.Style)
		}
	} else if a.Value != b.Value || a.Style != b.Style || (a.Kind == yaml.ScalarNode && a.Tag != b.Tag) {
		return fmt.Errorf("%s line %d: node differs: %q %v %s vs %q %v %s", path, a.Line, a.Value, a.Style, a.Tag, b.Value, b.Style, b.Tag)
	}
	for i := range a.Content {
		if err := sameTree(a.Content[i], b.Content[i], pending, fmt.Sprintf("%s/%d", path, i)); err != nil {
			return err
		}
	}
	return nil
}

// checkRewrite holds Rewrite to its contract on one input.
func checkRewrite(t *testing.T, in []byte) {
	out, changes, _, err := Rewrite("f.yaml", in, testImages)
	if err != nil {
		if !bytes.Equal(out, in) {
			t.Fatalf("error %v but output differs from input", err)
		}
		return
	}
	if len(changes) == 0 {
		if !bytes.Equal(out, in) {
			t.Fatalf("no changes reported but output differs:\n%q\n%q", in, out)
		}
		return
	}
	inDocs, outDocs := decodeBoth(t, in, out)
	if len(inDocs) != len(outDocs) {
		t.Fatalf("%d documents in, %d out", len(inDocs), len(outDocs))
	}
	pending := map[[2]string]int{}
	for _, c := range changes {
		pending[[2]string{c.Old, c.New}]++
	}
	// Aliases compare by anchor name only, so a changed anchored scalar is
	// counted once however often it is aliased.
	for i := range inDocs {
		if err := sameTree(inDocs[i], outDocs[i], pending, fmt.Sprint(i)); err != nil {
			t.Fatalf("%v\nin:  %q\nout: %q", err, in, out)
		}
	}
	for k, n := range pending {
		if n != 0 {
			t.Fatalf("change %q -> %q reported but not found in the output", k[0], k[1])
		}
	}
	// Lines without a change are byte-identical.
	inLines, outLines := splitLines(in), splitLines(out)
	if len(inLines) != len(outLines) {
		t.Fatalf("%d lines in, %d out", len(inLines), len(outLines))
	}
	changed := map[int]bool{}
	for _, c := range changes {
		changed[c.Line] = true
	}
	for i := range inLines {
		if !changed[i+1] && !bytes.Equal(inLines[i], outLines[i]) {
			t.Fatalf("line %d changed without a change: %q -> %q", i+1, inLines[i], outLines[i])
		}
	}
	again, changes2, _, err := Rewrite("f.yaml", out, testImages)
	if err != nil || len(changes2) != 0 || !bytes.Equal(again, out) {
		t.Fatalf("second Rewrite not a no-op: err %v, changes %+v", err, changes2)
	}
}

// decodeBoth parses input and output of a Rewrite that changed something:
// whole, or when the whole input does not parse, the marked documents
// one by one (the others must be unchanged).
func decodeBoth(t *testing.T, in, out []byte) (inDocs, outDocs []*yaml.Node) {
	inDocs, err := decodeAll(in)
	if err == nil {
		if outDocs, err = decodeAll(out); err != nil {
			t.Fatalf("output does not parse: %v\n%q", err, out)
		}
		return inDocs, outDocs
	}
	inSegs, outSegs := documentSegments(in), documentSegments(out)
	if inSegs == nil || len(inSegs) != len(outSegs) {
		t.Fatalf("input does not parse (%v) and is not cut in documents the same way as the output (%d, %d pieces)", err, len(inSegs), len(outSegs))
	}
	for i, s := range inSegs {
		a, b := in[s.start:s.end], out[outSegs[i].start:outSegs[i].end]
		if !bytes.Contains(a, markerKeyBytes) {
			if !bytes.Equal(a, b) {
				t.Fatalf("unmarked document %d changed: %q -> %q", i, a, b)
			}
			continue
		}
		ad, err := decodeAll(a)
		if err != nil {
			t.Fatalf("marked document %d parsed in Rewrite but not here: %v", i, err)
		}
		bd, err := decodeAll(b)
		if err != nil {
			t.Fatalf("output document %d does not parse: %v\n%q", i, err, b)
		}
		inDocs, outDocs = append(inDocs, ad...), append(outDocs, bd...)
	}
	return inDocs, outDocs
}

func splitLines(b []byte) [][]byte {
	starts := lineStarts(b)
	lines := make([][]byte, len(starts))
	for i, s := range starts {
		end := len(b)
		if i+1 < len(starts) {
			end = starts[i+1]
		}
		lines[i] = b[s:end]
	}
	return lines
}

// goldenRoot holds the golden trees the fuzzers and contract tests read.
var goldenRoot = filepath.Join("..", "testdata", "update")

// addGoldenSeeds adds every golden input that carries a marker (not the
// expected trees) to f's corpus.
func addGoldenSeeds(f *testing.F) {
	err := filepath.WalkDir(goldenRoot, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || filepath.Base(filepath.Dir(p)) == "expected" {
			return err
		}
		if b, err := os.ReadFile(p); err == nil && bytes.Contains(b, markerScreen) {
			f.Add(b)
		}
		return nil
	})
	if err != nil {
		f.Fatal(err)
	}
}

// forEachGolden runs check on every golden file, inputs and expected trees
// alike, each as a subtest named by its path.
func forEachGolden(t *testing.T, check func(*testing.T, []byte)) {
	err := filepath.WalkDir(goldenRoot, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		t.Run(filepath.ToSlash(p[len(goldenRoot)+1:]), func(t *testing.T) { check(t, b) })
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func FuzzRewrite(f *testing.F) {
	addGoldenSeeds(f)
	f.Add([]byte("a: &x b # {\"$imagepolicy\": \"nginx\"}\nc: *x\n"))
	f.Add([]byte("- [a, {b: c # {\"$imagepolicy\": \"nginx:tag\"}\n  }]\n"))
	for _, s := range documentSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(checkRewrite)
}

// TestRewriteContract runs the fuzz checks over every golden input, so the
// properties hold in a plain `go test` too.
func TestRewriteContract(t *testing.T) {
	forEachGolden(t, checkRewrite)
	for i, s := range documentSeeds {
		t.Run(fmt.Sprintf("document-seed-%d", i), func(t *testing.T) { checkRewrite(t, []byte(s)) })
	}
}

// documentSeeds are inputs around document boundaries: comments before
// and after "---", "..." ends, directives, anchors named across
// documents, byte order marks, scalars that a "---" line ends.
var documentSeeds = []string{
	"a: 1\n---\nimage: nginx:1.0 # {\"$imagepolicy\": \"nginx\"}\n",
	"image: nginx:1.0 # {\"$imagepolicy\": \"nginx\"}\n---\nb: [unclosed\n",
	"b: [unclosed\n---\nimage: nginx:1.0 # {\"$imagepolicy\": \"nginx\"}\n",
	"a: 1\n# {\"$imagepolicy\": \"nginx\"}\n---\nimage: nginx:1.0\n",
	"a: 1\n---\n# {\"$imagepolicy\": \"nginx\"}\nimage: nginx:1.0\n",
	"# {\"$imagepolicy\": \"nginx\"}\n---\nimage: nginx:1.0\n",
	"# head\n\n# {\"$imagepolicy\": \"nginx\"}\n---\nimage: nginx:1.0\n---\nc: d\n",
	"--- # {\"$imagepolicy\": \"nginx\"}\nnginx:1.0\n--- x\n",
	"--- nginx:1.0 # {\"$imagepolicy\": \"nginx\"}\n---\n",
	"a: &x nginx:1.0\n---\nb: *x # {\"$imagepolicy\": \"nginx\"}\nc: nginx:1.0 # {\"$imagepolicy\": \"nginx\"}\n",
	"a: nginx:1.0 # {\"$imagepolicy\": \"nginx\"}\n...\n%YAML 1.1\n---\nb: nginx:1.0 # {\"$imagepolicy\": \"nginx\"}\n",
	"%YAML 1.1\n%TAG !e! tag:example.com,2000:\n---\na: !e!x nginx:1.0 # {\"$imagepolicy\": \"nginx\"}\n---\nb: 1\n",
	"a: 1\n...\n# {\"$imagepolicy\": \"nginx\"}\nimage: nginx:1.0\n",
	"a: 1\n... # {\"$imagepolicy\": \"nginx\"}\nimage: nginx:1.0\n",
	"a: nginx:1.0 # {\"$imagepolicy\": \"nginx\"}\n%YAML 1.1\n---\nb: 2\n",
	"# {\"$imagepolicy\": \"nginx\"}\nnginx:1.0\n%x\n---\nb: 2\n",
	"a: |\n  x\n---\nb: nginx:1.0 # {\"$imagepolicy\": \"nginx\"}\n",
	"a: \"x\n---\nb: nginx:1.0 # {\"$imagepolicy\": \"nginx\"}\n",
	"a: plain\n  more\n---\tb: nginx:1.0 # {\"$imagepolicy\": \"nginx\"}\n",
	"\ufeffa: 1\n---\nb: nginx:1.0 # {\"$imagepolicy\": \"nginx\"}\n",
	"a: 1\n---\n\ufeffb: nginx:1.0 # {\"$imagepolicy\": \"nginx\"}\n",
	"a: 1\r\n---\r\nb: nginx:1.0 # {\"$imagepolicy\": \"nginx\"}\r\n---\r\n",
	"a: 1\u2028---\u2028b: nginx:1.0 # {\"$imagepolicy\": \"nginx\"}\n",
	"a: 1\n----\nb: nginx:1.0 # {\"$imagepolicy\": \"nginx\"}\n",
	"a:\n- x\n---\n- nginx:1.0 # {\"$imagepolicy\": \"nginx\"}\n---\n",
	"a: b\n# {\"$imagepolicy\": \"nginx\"}\n",
	"---\n---\n# {\"$imagepolicy\": \"nginx\"}\n---\na: nginx:1.0 # {\"$imagepolicy\": \"nginx:tag\"}\n",
	"a: 1 # {\"$imagepolicy\": \"nginx\"}\n---\n{b: nginx:1.0, # {\"$imagepolicy\": \"nginx\"}\n}\n",
}

// checkPerDocument holds the per-document parse to the whole-file one:
// where the whole file parses, parsing only its marked documents gives
// the same output, changes and warnings; where it does not, a file whose
// marked documents do not parse alone gets the same error.
func checkPerDocument(t *testing.T, in []byte) {
	wOut, wChanges, wWarnings, wErr := rewrite("f.yaml", in, testImages, true, nil)
	out, changes, warnings, err := rewrite("f.yaml", in, testImages, false, plainCache{})
	if wErr != nil {
		if err != nil && err.Error() != wErr.Error() {
			t.Fatalf("whole file: %v; per document: %v\n%q", wErr, err, in)
		}
		return
	}
	if err != nil {
		t.Fatalf("the whole file rewrites, per document: %v\n%q", err, in)
	}
	if diff := cmp.Diff(string(wOut), string(out)); diff != "" {
		t.Fatalf("output (-whole +per document):\n%s\n%q", diff, in)
	}
	if diff := cmp.Diff(wChanges, changes); diff != "" {
		t.Fatalf("changes (-whole +per document):\n%s\n%q", diff, in)
	}
	if diff := cmp.Diff(wWarnings, warnings); diff != "" && !lostFootComment(in, wWarnings, warnings) {
		t.Fatalf("warnings (-whole +per document):\n%s\n%q", diff, in)
	}
}

// lostFootComment reports the one known way the whole-file parse is
// wrong: when a stream's last document has no content, go-yaml gives its
// comment to the document before as that one's foot comment, replacing
// the foot comment it had, so a misplaced marker there is never reported.
// The per-document parse reads the document alone and reports it. The
// per-document warnings may then hold such "not attached" warnings more,
// and must otherwise be the whole file's.
func lostFootComment(in []byte, whole, perDoc []Warning) bool {
	segs := documentSegments(in)
	if len(segs) < 2 {
		return false
	}
	last := in[segs[len(segs)-1].start:]
	if !indicator(last, 0, '-') || !bareStart(last) {
		return false
	}
	first := true
	for l := range bytes.Lines(last) {
		if !first && !blankOrComment(l) {
			return false
		}
		first = false
	}
	var kept []Warning
	for _, w := range perDoc {
		if !slices.Contains(whole, w) && strings.Contains(w.Message, "is not attached to a value") {
			continue
		}
		kept = append(kept, w)
	}
	return cmp.Diff(whole, kept) == ""
}

func FuzzRewritePerDocument(f *testing.F) {
	addGoldenSeeds(f)
	for _, s := range documentSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(checkPerDocument)
}

// TestRewritePerDocument runs the per-document check over the golden
// inputs, the document seeds and generated fleet files.
func TestRewritePerDocument(t *testing.T) {
	forEachGolden(t, checkPerDocument)
	for i, s := range documentSeeds {
		t.Run(fmt.Sprintf("seed-%d", i), func(t *testing.T) { checkPerDocument(t, []byte(s)) })
	}
}

func TestLostFootComment(t *testing.T) {
	orphan := Warning{File: "f.yaml", Line: 2, Message: `marker comment "x" is not attached to a value (put it at the end of the value's line): left alone`}
	other := Warning{File: "f.yaml", Line: 1, Message: `no image policy "x"`}
	emptyLast := []byte("a: 0\n#{\"$imagepolicy\"\n---\n# only a comment\n")
	for _, c := range []struct {
		name          string
		in            []byte
		whole, perDoc []Warning
		want          bool
	}{
		{"an orphan more, before an empty last document", emptyLast, nil, []Warning{orphan}, true},
		{"the same warnings", emptyLast, []Warning{other}, []Warning{other, orphan}, true},
		{"another warning more", emptyLast, nil, []Warning{other}, false},
		{"a warning fewer", emptyLast, []Warning{other}, []Warning{orphan}, false},
		{"a last document with content", []byte("a: 0\n#{\"$imagepolicy\"\n---\nb: 1\n"), nil, []Warning{orphan}, false},
		{"one document", []byte("a: 0\n#{\"$imagepolicy\"\n"), nil, []Warning{orphan}, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := lostFootComment(c.in, c.whole, c.perDoc); got != c.want {
				t.Errorf("lostFootComment = %v, want %v", got, c.want)
			}
		})
	}
}
