package flux

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/uptick-gitops/uptick/policy"
)

// FuzzLoad feeds arbitrary bytes to the object reader: it must not panic,
// every problem must be a diagnostic naming the file, and what it returns
// must be usable as is (valid policies, sorted unique names, automations
// naming only images it returned, messages that render).
func FuzzLoad(f *testing.F) {
	for _, dir := range []string{"docs-v1/input/apps", "docs-v1/input/clusters/my-cluster", "docs-v1beta2/input"} {
		files, _ := filepath.Glob(filepath.Join(testdata, dir, "*.yaml"))
		for _, file := range files {
			if data, err := os.ReadFile(file); err == nil {
				f.Add(data)
			}
		}
	}
	f.Add([]byte(repoV1 + polV1 + autoV1))
	f.Add([]byte("apiVersion: image.toolkit.fluxcd.io/v1\nkind: ImagePolicy\nmetadata: &m {name: a}\nspec: *m\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		var diags []*Diagnostic
		secrets := &SecretsConfig{}
		secrets.SetDefaults()
		l := &loader{secrets: secrets, diags: &diags}
		l.decode(data, "fuzz.yaml")
		cfg := l.translate()
		for _, d := range diags {
			if d.File != "fuzz.yaml" || d.Line < 0 || d.Message == "" {
				t.Fatalf("diagnostic without a place or a message: %#v", d)
			}
		}
		names := map[string]bool{}
		for i, im := range cfg.Images {
			if i > 0 && cfg.Images[i-1].Name >= im.Name {
				t.Fatalf("images not sorted or not unique: %q then %q", cfg.Images[i-1].Name, im.Name)
			}
			names[im.Name] = true
			if im.Repository == "" || len(im.Exclude) == 0 {
				t.Fatalf("image %q without repository or exclusions: %+v", im.Name, im)
			}
			if _, err := policy.NewSelector(im.Policy, im.FilterTags, im.Exclude); err != nil {
				t.Fatalf("image %q has an invalid policy: %v", im.Name, err)
			}
		}
		for _, a := range cfg.Automations {
			for _, n := range a.Images {
				if !names[n] {
					t.Fatalf("automation %q names image %q, which Load did not return", a.Name, n)
				}
			}
			if !slices.IsSorted(a.Images) || a.Message == nil || len(a.Paths) != 1 || strings.HasPrefix(a.Paths[0], "..") {
				t.Fatalf("automation %q: images %q, paths %q, message %v", a.Name, a.Images, a.Paths, a.Message)
			}
			if _, err := a.Message.Render([]Change{{File: "f.yaml", Setter: "ns:x", OldValue: "1", NewValue: "2", Image: "r/x:2"}}); err != nil && !strings.HasPrefix(err.Error(), "rendering: ") {
				t.Fatalf("automation %q: message: %v", a.Name, err)
			}
		}
	})
}
