package update

import (
	"bytes"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

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
	inDocs, err := decodeAll(in)
	if err != nil {
		t.Fatalf("input parsed in Rewrite but not here: %v", err)
	}
	outDocs, err := decodeAll(out)
	if err != nil {
		t.Fatalf("output does not parse: %v\n%q", err, out)
	}
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

func FuzzRewrite(f *testing.F) {
	root := filepath.Join("..", "testdata", "update")
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
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
	f.Add([]byte("a: &x b # {\"$imagepolicy\": \"nginx\"}\nc: *x\n"))
	f.Add([]byte("- [a, {b: c # {\"$imagepolicy\": \"nginx:tag\"}\n  }]\n"))
	f.Fuzz(checkRewrite)
}

// TestRewriteContract runs the fuzz checks over every golden input, so the
// properties hold in a plain `go test` too.
func TestRewriteContract(t *testing.T) {
	root := filepath.Join("..", "testdata", "update")
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		t.Run(filepath.ToSlash(p[len(root)+1:]), func(t *testing.T) { checkRewrite(t, b) })
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
