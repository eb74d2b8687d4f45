package update

import (
	"context"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var updateGolden = flag.Bool("update", false, "rewrite the golden expected trees and want.txt files")

const (
	podinfoDigest = "sha256:6c2ee8d15ea9f6ed22a4ae3fbbba3b5bd8ea4e6c05d1dbce8d3c9e0ab1b3e7a1"
	redisDigest   = "sha256:3d9bbf5ac5a24a3b1e5a6e0a4c5e0c9d7b8f1e2a3b4c5d6e7f8091a2b3c4d5e6"
)

// testImages is the one images map every golden case runs with.
var testImages = map[PolicyRef]Image{
	{Namespace: "flux-system", Name: "podinfo"}: {Repository: "ghcr.io/stefanprodan/podinfo", Tag: "6.5.3", Digest: podinfoDigest},
	{Name: "nginx"}:                     {Repository: "docker.io/library/nginx", Tag: "1.27.3"},
	{Namespace: "apps", Name: "redis"}:  {Repository: "localhost:5000/redis", Tag: "7.4.1", Digest: redisDigest},
	{Name: "versioned"}:                 {Repository: "registry.example:5000/team/app", Tag: "1.10"},
	{Name: "boolish"}:                   {Repository: "example.org/app", Tag: "yes"},
	{Namespace: "staging", Name: "app"}: {Repository: "example.org/app", Tag: "2.0.0"},
	{Namespace: "prod", Name: "app"}:    {Repository: "example.org/app", Tag: "1.5.0"},
}

// readTree returns every regular file under dir by slash path.
func readTree(t testing.TB, dir string) map[string]string {
	t.Helper()
	files := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		files[filepath.ToSlash(rel)] = string(b)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

func writeTree(t testing.TB, dir string, files map[string]string) {
	t.Helper()
	for p, c := range files {
		fp := filepath.Join(dir, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(fp), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(fp, []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// report renders what a Result says, one line per item, for want.txt.
func report(res *Result) string {
	var b strings.Builder
	fmt.Fprintf(&b, "scanned %d marked %d files %d\n", res.Scanned, res.Marked, len(res.Files))
	for _, c := range res.Changes {
		fmt.Fprintf(&b, "change %s:%d %s %s=>%s %q %q -> %q\n", c.File, c.Line, c.Object, c.Policy, c.Image, c.Field, c.Old, c.New)
	}
	for _, w := range res.Warnings {
		fmt.Fprintf(&b, "warning %s\n", w)
	}
	for _, e := range res.Errors {
		fmt.Fprintf(&b, "error %s\n", e)
	}
	return b.String()
}

func TestGolden(t *testing.T) {
	cases, err := os.ReadDir(filepath.Join("..", "testdata", "update"))
	if err != nil {
		t.Fatal(err)
	}
	if len(cases) < 15 {
		t.Fatalf("only %d golden cases", len(cases))
	}
	for _, c := range cases {
		t.Run(c.Name(), func(t *testing.T) {
			caseDir := filepath.Join("..", "testdata", "update", c.Name())
			input := readTree(t, filepath.Join(caseDir, "input"))
			dir := t.TempDir()
			writeTree(t, dir, input)

			res, err := Apply(context.Background(), dir, nil, testImages)
			if err != nil {
				t.Fatalf("Apply: %v", err)
			}
			got := readTree(t, dir)
			gotReport := report(res)
			if *updateGolden {
				os.RemoveAll(filepath.Join(caseDir, "expected"))
				writeTree(t, filepath.Join(caseDir, "expected"), got)
				if err := os.WriteFile(filepath.Join(caseDir, "want.txt"), []byte(gotReport), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want := readTree(t, filepath.Join(caseDir, "expected"))
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("tree mismatch (-want +got):\n%s", diff)
			}
			wantReport, err := os.ReadFile(filepath.Join(caseDir, "want.txt"))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(string(wantReport), gotReport); diff != "" {
				t.Errorf("report mismatch (-want +got):\n%s", diff)
			}
			// Result.Files must describe exactly the files that changed.
			changed := map[string][2]string{}
			for p, after := range got {
				if input[p] != after {
					changed[p] = [2]string{input[p], after}
				}
			}
			reported := map[string][2]string{}
			for _, f := range res.Files {
				reported[f.Path] = [2]string{string(f.Before), string(f.After)}
			}
			if diff := cmp.Diff(changed, reported); diff != "" {
				t.Errorf("Result.Files vs changed files (-changed +reported):\n%s", diff)
			}
			// A second run over the result changes nothing.
			again, err := Apply(context.Background(), dir, nil, testImages)
			if err != nil {
				t.Fatal(err)
			}
			if len(again.Files) != 0 || len(again.Changes) != 0 {
				t.Errorf("second run not a no-op: %s", report(again))
			}
		})
	}
}
