package sync_test

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	sigsyaml "sigs.k8s.io/yaml"

	"github.com/uptick-gitops/uptick/sync"
)

var update = flag.Bool("update", false, "rewrite the golden files of TestBuildGolden")

// TestBuildGolden builds each testdata/build/<case>/input (at the path in
// <case>/path, default the whole input) and compares the whole result, the
// objects with their sources and warnings, or the error, with
// <case>/expected.
func TestBuildGolden(t *testing.T) {
	cases, err := os.ReadDir("testdata/build")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cases {
		t.Run(c.Name(), func(t *testing.T) {
			dir := filepath.Join("testdata/build", c.Name())
			path := "."
			if b, err := os.ReadFile(filepath.Join(dir, "path")); err == nil {
				path = strings.TrimSpace(string(b))
			}
			got := renderBuild(t, filepath.Join(dir, "input"), path)
			golden := filepath.Join(dir, "expected")
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if diff := cmp.Diff(string(want), got); diff != "" {
				t.Errorf("build of %s (-want +got):\n%s", c.Name(), diff)
			}
		})
	}
}

func renderBuild(t *testing.T, root, path string) string {
	t.Helper()
	built, err := sync.Build(root, path)
	if err != nil {
		var be *sync.BuildError
		if !errors.As(err, &be) || !be.BadInput() {
			t.Errorf("error %v is not a bad-input *BuildError", err)
		}
		return "error: " + err.Error() + "\n"
	}
	var b strings.Builder
	for _, w := range built.Warnings {
		b.WriteString("# warning: " + w + "\n")
	}
	for _, m := range built.Manifests {
		y, err := sigsyaml.Marshal(m.Object.Object)
		if err != nil {
			t.Fatal(err)
		}
		b.WriteString("---\n# source: " + m.Source + "\n")
		b.Write(y)
	}
	return b.String()
}

// TestBuildStaysInTheRepository refuses symbolic links that lead out of the
// root, for plain YAML and for kustomize alike.
func TestBuildStaysInTheRepository(t *testing.T) {
	outside := writeTree(t, map[string]string{"secret.yaml": configMap("stolen", "x"), "kustomization.yaml": "resources: [secret.yaml]\n"})
	for _, tc := range []struct {
		name  string
		files map[string]string
		link  string // path in the root made a link to outside
		path  string
	}{
		{name: "plain-file-link", files: map[string]string{"ok.yaml": configMap("ok", "1")}, link: "evil.yaml", path: "."},
		{name: "plain-dir-link", files: map[string]string{"ok.yaml": configMap("ok", "1")}, link: "evil", path: "."},
		{name: "kustomize-resource-link", files: map[string]string{"kustomization.yaml": "resources: [evil.yaml]\n"}, link: "evil.yaml", path: "."},
		{name: "kustomize-base-link", files: map[string]string{"kustomization.yaml": "resources: [evil]\n"}, link: "evil", path: "."},
		{name: "path-link", files: map[string]string{"ok.yaml": configMap("ok", "1")}, link: "clusters", path: "clusters"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := writeTree(t, tc.files)
			target := outside
			if strings.HasSuffix(tc.link, ".yaml") {
				target = filepath.Join(outside, "secret.yaml")
			}
			if err := os.Symlink(target, filepath.Join(root, tc.link)); err != nil {
				t.Fatal(err)
			}
			built, err := sync.Build(root, tc.path)
			if err == nil {
				t.Fatalf("built %d objects through a link out of the repository", len(built.Manifests))
			}
			if !strings.Contains(err.Error(), "outside the repository") && !strings.Contains(err.Error(), "escapes") {
				t.Errorf("error %q does not say the link leads outside", err)
			}
			if strings.Contains(err.Error(), outside) {
				t.Errorf("error %q names the outside path", err)
			}
		})
	}
}

// TestBuildOverlay reads a rewritten file from WithFiles instead of disk,
// for plain YAML and kustomize.
func TestBuildOverlay(t *testing.T) {
	for _, kust := range []bool{false, true} {
		files := map[string]string{"app/cm.yaml": configMap("cm", "disk")}
		if kust {
			files["app/kustomization.yaml"] = "resources: [cm.yaml]\n"
		}
		root := writeTree(t, files)
		built, err := sync.Build(root, "app", sync.WithFiles(map[string][]byte{"app/cm.yaml": []byte(configMap("cm", "overlay"))}))
		if err != nil {
			t.Fatal(err)
		}
		if len(built.Manifests) != 1 {
			t.Fatalf("kustomize %v: %d objects", kust, len(built.Manifests))
		}
		if got := built.Manifests[0].Object.Object["data"].(map[string]any)["value"]; got != "overlay" {
			t.Errorf("kustomize %v: value %v, want the overlay's", kust, got)
		}
	}
}
