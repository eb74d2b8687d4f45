package update

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/uptick-gitops/uptick/internal/fleet"
)

// copyTree copies every regular file of src into dst.
func copyTree(t testing.TB, src, dst string) {
	t.Helper()
	writeTree(t, dst, readTree(t, src))
}

// goldenInputs returns every golden case's input files, prefixed by case.
func goldenInputs(t testing.TB) map[string]string {
	t.Helper()
	cases, err := os.ReadDir(filepath.Join("..", "testdata", "update"))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, c := range cases {
		for p, content := range readTree(t, filepath.Join("..", "testdata", "update", c.Name(), "input")) {
			out["golden/"+c.Name()+"/"+p] = content
		}
	}
	return out
}

// treeDiff lists what differs between two snapshots, as a Git diff would.
func treeDiff(before, after map[string]string) []PathChange {
	var out []PathChange
	for p, b := range before {
		a, ok := after[p]
		switch {
		case !ok:
			out = append(out, PathChange{Path: p, Before: 0o644})
		case a != b:
			out = append(out, PathChange{Path: p, Before: 0o644, After: 0o644})
		}
	}
	for p := range after {
		if _, ok := before[p]; !ok {
			out = append(out, PathChange{Path: p, After: 0o644})
		}
	}
	slices.SortFunc(out, func(a, b PathChange) int {
		if a.Path < b.Path {
			return -1
		}
		return 1
	})
	return out
}

// TestIncrementalMatchesFullWalk mutates a tree step by step (files
// edited, added, deleted, markers added and removed, images changed) and
// checks that an incremental Apply, given the previous state and the
// diff, reports and writes exactly what a full walk of a copy does.
func TestIncrementalMatchesFullWalk(t *testing.T) {
	for _, paths := range [][]string{nil, {"clusters", "golden"}} {
		t.Run(fmt.Sprint(paths), func(t *testing.T) {
			gen := t.TempDir()
			fl, err := fleet.Generate(gen, fleet.Spec{Files: 150, Marked: 30, Seed: 5, Images: 3})
			if err != nil {
				t.Fatal(err)
			}
			tree := readTree(t, gen)
			for p, c := range goldenInputs(t) {
				tree[p] = c
			}
			full, inc := t.TempDir(), t.TempDir()
			writeTree(t, full, tree)
			writeTree(t, inc, tree)
			images := map[PolicyRef]Image{}
			for k, v := range testImages {
				images[k] = v
			}
			for _, img := range fl.Images {
				ref, _ := ParsePolicyRef(img.Policy)
				images[ref] = Image{Repository: img.Repository, Tag: "2.0.0"}
			}
			ctx := context.Background()
			res, err := Apply(ctx, inc, paths, images)
			if err != nil || res.State == nil {
				t.Fatalf("first Apply: %v, state %v", err, res.State)
			}
			if _, err := Apply(ctx, full, paths, images); err != nil {
				t.Fatal(err)
			}
			state := res.State
			r := rand.New(rand.NewPCG(1, 2))
			for step := range 40 {
				before := readTree(t, inc)
				names := make([]string, 0, len(before))
				for p := range before {
					names = append(names, p)
				}
				slices.Sort(names)
				pick := names[r.IntN(len(names))]
				what := ""
				switch r.IntN(7) {
				case 0:
					what = "edit " + pick
					writeBoth(t, full, inc, pick, before[pick]+"# edited\n")
				case 1:
					what = "delete " + pick
					removeBoth(t, full, inc, pick)
				case 2:
					what = "new marked file"
					writeBoth(t, full, inc, fmt.Sprintf("clusters/new/f%d.yaml", step), nginxLine)
				case 3:
					what = "marker removed from " + pick
					writeBoth(t, full, inc, pick, "kind: ConfigMap\n")
				case 4:
					what = "new unmarked file"
					writeBoth(t, full, inc, fmt.Sprintf("golden/new/f%d.yml", step), "a: b\n")
				case 5:
					what = "images changed"
					img := images[PolicyRef{Name: "nginx"}]
					img.Tag = fmt.Sprintf("1.%d.0", step)
					images[PolicyRef{Name: "nginx"}] = img
				default:
					what = "nothing changed"
				}
				changes := treeDiff(before, readTree(t, inc))
				want, err := Apply(ctx, full, paths, images)
				if err != nil {
					t.Fatal(err)
				}
				got, err := Apply(ctx, inc, paths, images, WithIncremental(state, changes))
				if err != nil {
					t.Fatal(err)
				}
				if diff := cmp.Diff(report(want), report(got)); diff != "" {
					t.Fatalf("step %d (%s): incremental report differs (-full +incremental):\n%s", step, what, diff)
				}
				if diff := cmp.Diff(readTree(t, full), readTree(t, inc)); diff != "" {
					t.Fatalf("step %d (%s): trees differ (-full +incremental):\n%s", step, what, diff)
				}
				if got.State == nil {
					t.Fatalf("step %d (%s): no state", step, what)
				}
				// The state goes through its file between passes.
				b, err := got.State.Marshal()
				if err != nil {
					t.Fatal(err)
				}
				if state, err = UnmarshalState(b); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}

func writeBoth(t *testing.T, a, b, p, content string) {
	t.Helper()
	for _, dir := range []string{a, b} {
		writeTree(t, dir, map[string]string{p: content})
	}
}

func removeBoth(t *testing.T, a, b, p string) {
	t.Helper()
	for _, dir := range []string{a, b} {
		if err := os.Remove(filepath.Join(dir, filepath.FromSlash(p))); err != nil {
			t.Fatal(err)
		}
	}
}

// With neither the tree nor the images changed, nothing is read: a file
// changed behind Apply's back is not seen.
func TestIncrementalReadsNothingWhenNothingChanged(t *testing.T) {
	root := t.TempDir()
	writeTree(t, root, map[string]string{"a/one.yaml": nginxLine, "a/two.yaml": "image: x # {\"$imagepolicy\": \"missing\"}\n", "b/plain.yaml": "a: b\n"})
	ctx := context.Background()
	if _, err := Apply(ctx, root, nil, testImages); err != nil {
		t.Fatal(err)
	}
	again, err := Apply(ctx, root, nil, testImages)
	if err != nil {
		t.Fatal(err)
	}
	writeTree(t, root, map[string]string{"a/one.yaml": "image: y:1 # {\"$imagepolicy\": \"nginx\"}\n"})
	got, err := Apply(ctx, root, nil, testImages, WithIncremental(again.State, nil))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(report(again), report(got)); diff != "" {
		t.Errorf("report (-full walk +incremental):\n%s", diff)
	}
	if len(got.Files) != 0 {
		t.Errorf("a file was read and rewritten: %v", changedPaths(got))
	}
	// Other images: the marked files are read again, and the change is seen.
	other := map[PolicyRef]Image{{Name: "nginx"}: {Repository: "docker.io/library/nginx", Tag: "1.28.0"}}
	got, err = Apply(ctx, root, nil, other, WithIncremental(again.State, nil))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"a/one.yaml"}, changedPaths(got)); diff != "" {
		t.Errorf("changed with other images (-want +got):\n%s", diff)
	}
	if got.Scanned != 3 || got.Marked != 2 {
		t.Errorf("scanned %d marked %d, want 3 and 2", got.Scanned, got.Marked)
	}
}

// A state of other paths, or a change list naming a file that is not
// there, falls back to a full walk, and a result that says so.
func TestIncrementalFallsBack(t *testing.T) {
	root := t.TempDir()
	writeTree(t, root, map[string]string{"a/one.yaml": nginxLine, "b/two.yaml": nginxLine})
	ctx := context.Background()
	first, err := Apply(ctx, root, []string{"a"}, testImages, WithDryRun(true))
	if err != nil {
		t.Fatal(err)
	}
	got, err := Apply(ctx, root, nil, testImages, WithDryRun(true), WithIncremental(first.State, nil))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"a/one.yaml", "b/two.yaml"}, changedPaths(got)); diff != "" {
		t.Errorf("other paths: changed (-want +got):\n%s", diff)
	}
	got, err = Apply(ctx, root, []string{"a"}, testImages, WithDryRun(true),
		WithIncremental(first.State, []PathChange{{Path: "a/gone.yaml", After: 0o644}}))
	if err != nil {
		t.Fatal(err)
	}
	if got.State != nil || len(got.Errors) != 1 || !errors.Is(got.Errors[0], fs.ErrNotExist) {
		t.Errorf("a change naming a missing file: state %v, errors %v", got.State, got.Errors)
	}
	got, err = Apply(ctx, root, []string{"a"}, testImages, WithDryRun(true),
		WithIncremental(first.State, []PathChange{{Path: "../x.yaml", After: 0o644}}))
	if err != nil || got.State == nil || len(got.Files) != 1 {
		t.Errorf("a change outside the tree: %v, %+v", err, got)
	}
}

func TestStateFile(t *testing.T) {
	root := t.TempDir()
	writeTree(t, root, map[string]string{"a/one.yaml": nginxLine, "a/two.yaml": "image: x # {\"$imagepolicy\": \"missing\"}\n"})
	res, err := Apply(context.Background(), root, nil, testImages, WithDryRun(true))
	if err != nil {
		t.Fatal(err)
	}
	res.State.Tree = "0123abcd"
	file := filepath.Join(t.TempDir(), "state")
	if _, err := LoadState(file); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("LoadState of a missing file: %v", err)
	}
	if err := SaveState(file, res.State); err != nil {
		t.Fatal(err)
	}
	got, err := LoadState(file)
	if err != nil {
		t.Fatal(err)
	}
	if got.Tree != "0123abcd" || got.scanned != 2 || len(got.files) != 2 || got.files[1].warnings[0].Message != `no image policy "missing"` {
		t.Errorf("loaded state %+v", got)
	}
	good, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name string
		b    []byte
	}{
		{"empty", nil},
		{"torn", good[:len(good)/2]},
		{"header only", good[:len(stateHeader)+64]},
		{"flipped byte", func() []byte { b := slices.Clone(good); b[len(b)-3] ^= 1; return b }()},
		{"other format", append([]byte("uptick-update-state-0"), good[len(stateFormat):]...)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if err := os.WriteFile(file, tt.b, 0o644); err != nil {
				t.Fatal(err)
			}
			if s, err := LoadState(file); !errors.Is(err, ErrInvalidState) {
				t.Errorf("LoadState = %+v, %v; want ErrInvalidState", s, err)
			}
		})
	}
	entries, _ := os.ReadDir(filepath.Dir(file))
	if len(entries) != 1 {
		t.Errorf("temporary files left beside the state: %v", entries)
	}
}

// FuzzUnmarshalState holds the state file parser to its contract: any
// bytes give a state or ErrInvalidState, never a panic, and an accepted
// state survives a round trip through its own encoding.
func FuzzUnmarshalState(f *testing.F) {
	root := f.TempDir()
	writeTree(f, root, map[string]string{"a/one.yaml": nginxLine, "a/two.yaml": "image: x # {\"$imagepolicy\": \"missing\"}\n"})
	res, err := Apply(context.Background(), root, nil, testImages, WithDryRun(true))
	if err != nil {
		f.Fatal(err)
	}
	res.State.Tree = "0123abcd"
	good, err := res.State.Marshal()
	if err != nil {
		f.Fatal(err)
	}
	// The input is the body: most mutations of a whole file only break
	// its checksum, so the fuzzer gets past it.
	_, body, _ := bytes.Cut(good, []byte("\n"))
	f.Add(body)
	f.Add([]byte("{}"))
	f.Add([]byte(`{"tree":"x","key":"k","paths":["."],"scanned":1,"files":[{"path":"a/../b"}]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		if _, err := UnmarshalState(body); !errors.Is(err, ErrInvalidState) {
			t.Fatalf("a file without its header: %v", err)
		}
		sum := sha256.Sum256(body)
		b := append([]byte(stateHeader+hex.EncodeToString(sum[:])+"\n"), body...)
		s, err := UnmarshalState(b)
		if err != nil {
			if !errors.Is(err, ErrInvalidState) {
				t.Fatalf("error %v does not wrap ErrInvalidState", err)
			}
			return
		}
		again, err := s.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		s2, err := UnmarshalState(again)
		if err != nil {
			t.Fatalf("a state's own encoding is refused: %v", err)
		}
		if diff := cmp.Diff(s, s2, cmp.AllowUnexported(State{}, markedFile{})); diff != "" {
			t.Fatalf("round trip (-first +second):\n%s", diff)
		}
	})
}
