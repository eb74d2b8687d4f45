package sync

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// FuzzBuildYAML feeds arbitrary bytes to the plain-YAML reader: it never
// panics, and every failure is a *BuildError naming the file.
func FuzzBuildYAML(f *testing.F) {
	f.Add([]byte("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\nkind: List\napiVersion: v1\nitems: [{apiVersion: v1, kind: Secret, metadata: {name: b}}]\n"))
	f.Add([]byte("a: [\n"))
	f.Add([]byte("--- # c\n---\n- 1\n"))
	f.Add([]byte("apiVersion: v1\nkind: ConfigMap\nmetadata: {generateName: x-}\n"))
	f.Add([]byte("{\"apiVersion\": 1, \"kind\": [], \"metadata\": \"x\"}"))
	root := f.TempDir()
	if err := os.WriteFile(filepath.Join(root, "f.yaml"), nil, 0o644); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		built, err := Build(root, ".", WithFiles(map[string][]byte{"f.yaml": data}))
		if err != nil {
			var be *BuildError
			if !errors.As(err, &be) || be.File != "f.yaml" {
				t.Fatalf("error %v (%T) is not a *BuildError about f.yaml", err, err)
			}
			return
		}
		for _, m := range built.Manifests {
			if m.Object.GetName() == "" || m.Object.GetKind() == "" || m.Object.GetAPIVersion() == "" {
				t.Fatalf("built an object without name, kind or apiVersion: %v", m.Object)
			}
		}
	})
}

// FuzzInventory parses arbitrary inventory text: no panic, and what parses
// formats and parses back to the same entries.
func FuzzInventory(f *testing.F) {
	f.Add("apps Deployment web frontend v1:abc def\n_ Namespace _ web - -\n")
	f.Add("too few fields\n")
	f.Add("\n\n_ ConfigMap ns name v1:x y z\n")
	f.Fuzz(func(t *testing.T, text string) {
		first := map[key]entry{}
		if err := parseInventory(text, first); err != nil {
			return
		}
		second := map[key]entry{}
		if err := parseInventory(formatInventory(first), second); err != nil {
			t.Fatalf("formatted inventory does not parse: %v", err)
		}
		if diff := cmp.Diff(first, second, cmp.AllowUnexported(key{}, entry{})); diff != "" {
			t.Fatalf("round trip (-first +second):\n%s", diff)
		}
	})
}
