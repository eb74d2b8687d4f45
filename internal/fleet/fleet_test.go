package fleet

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	"sigs.k8s.io/kustomize/kyaml/yaml"

	"github.com/uptick-gitops/uptick/update"
)

func readAll(t *testing.T, dir string, files []string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	for _, f := range files {
		b, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(f)))
		if err != nil {
			t.Fatal(err)
		}
		out[f] = b
	}
	return out
}

func TestGenerateDeterministic(t *testing.T) {
	spec := Spec{Files: 300, Marked: 30, Seed: 7}
	a, err := Generate(t.TempDir(), spec)
	if err != nil {
		t.Fatal(err)
	}
	b, err := Generate(t.TempDir(), spec)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(a.Files, b.Files); diff != "" {
		t.Fatalf("file lists differ:\n%s", diff)
	}
	if diff := cmp.Diff(readAll(t, a.Dir, a.Files), readAll(t, b.Dir, b.Files)); diff != "" {
		t.Fatalf("same seed, different bytes:\n%s", diff)
	}
	c, err := Generate(t.TempDir(), Spec{Files: 300, Marked: 30, Seed: 8})
	if err != nil {
		t.Fatal(err)
	}
	if cmp.Equal(readAll(t, a.Dir, a.Files), readAll(t, c.Dir, c.Files)) {
		t.Fatal("another seed gave the same tree")
	}
}

func TestGenerateShape(t *testing.T) {
	for _, tt := range []struct {
		name          string
		files, marked int
	}{
		{name: "none", files: 200, marked: 0},
		{name: "1%", files: 1000, marked: Percent(1000, 1)},
		{name: "10%", files: 1000, marked: Percent(1000, 10)},
		{name: "all", files: 50, marked: 50},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f, err := Generate(t.TempDir(), Spec{Files: tt.files, Marked: tt.marked, Seed: 1})
			if err != nil {
				t.Fatal(err)
			}
			if len(f.Files) != tt.files || len(f.Marked) != tt.marked {
				t.Fatalf("%d files, %d marked; want %d, %d", len(f.Files), len(f.Marked), tt.files, tt.marked)
			}
			var withMarker []string
			multiDoc, comments := 0, 0
			for _, rel := range f.Files {
				b, err := os.ReadFile(filepath.Join(f.Dir, filepath.FromSlash(rel)))
				if err != nil {
					t.Fatal(err)
				}
				if n := bytes.Count(b, []byte("\n")); n < minLines || n > maxLines {
					t.Errorf("%s: %d lines, want %d to %d", rel, n, minLines, maxLines)
				}
				if bytes.Contains(b, []byte(`"$imagepolicy"`)) {
					withMarker = append(withMarker, rel)
				}
				if bytes.Contains(b, []byte("\n---\n")) {
					multiDoc++
				}
				if bytes.Contains(b, []byte("\n# ")) || bytes.Contains(b, []byte("  # ")) {
					comments++
				}
				docs := 0
				dec := yaml.NewDecoder(bytes.NewReader(b))
				for {
					var n yaml.Node
					if err := dec.Decode(&n); errors.Is(err, io.EOF) {
						break
					} else if err != nil {
						t.Fatalf("%s does not parse: %v", rel, err)
					}
					docs++
				}
				if docs == 0 {
					t.Errorf("%s: no document", rel)
				}
			}
			if diff := cmp.Diff(f.Marked, withMarker); diff != "" {
				t.Errorf("files holding the marker bytes (-reported +found):\n%s", diff)
			}
			if tt.files >= 200 && (multiDoc < tt.files/4 || comments < tt.files/4) {
				t.Errorf("%d multi-document files and %d with comments of %d", multiDoc, comments, tt.files)
			}
		})
	}
}

// Every generated marker resolves and is rewritten by the update stage,
// and a second pass changes nothing.
func TestGenerateMarkersApply(t *testing.T) {
	f, err := Generate(t.TempDir(), Spec{Files: 500, Marked: 100, Seed: 3, Images: 5})
	if err != nil {
		t.Fatal(err)
	}
	images := map[update.PolicyRef]update.Image{}
	for _, img := range f.Images {
		ref, err := update.ParsePolicyRef(img.Policy)
		if err != nil {
			t.Fatal(err)
		}
		images[ref] = update.Image{Repository: img.Repository + "-moved", Tag: "2.0.0"}
	}
	res, err := update.Apply(context.Background(), f.Dir, nil, images)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Warnings) != 0 || len(res.Errors) != 0 {
		t.Fatalf("warnings %v, errors %v", res.Warnings, res.Errors)
	}
	if len(res.Changes) != f.Markers || len(res.Files) != len(f.Marked) || res.Scanned != len(f.Files) {
		t.Fatalf("%d changes in %d files of %d scanned; want %d in %d of %d", len(res.Changes), len(res.Files), res.Scanned, f.Markers, len(f.Marked), len(f.Files))
	}
	again, err := update.Apply(context.Background(), f.Dir, nil, images)
	if err != nil || len(again.Changes) != 0 {
		t.Fatalf("second pass: %v, %d changes", err, len(again.Changes))
	}
}

func TestGenerateRefusesNonEmpty(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "x"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Generate(dir, Spec{Files: 1}); !errors.Is(err, ErrNotEmpty) {
		t.Fatalf("Generate into a non-empty directory: %v", err)
	}
	if _, err := Generate(t.TempDir(), Spec{Files: 2, Marked: 3}); err == nil {
		t.Fatal("more marked than files accepted")
	}
}
