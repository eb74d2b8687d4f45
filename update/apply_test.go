package update

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"
)

const nginxLine = "image: docker.io/library/nginx:1.0 # {\"$imagepolicy\": \"nginx\"}\n"
const nginxNew = "image: docker.io/library/nginx:1.27.3 # {\"$imagepolicy\": \"nginx\"}\n"

func TestApplyPathErrors(t *testing.T) {
	outside := t.TempDir()
	writeTree(t, outside, map[string]string{"x/secret.yaml": nginxLine})
	root := t.TempDir()
	writeTree(t, root, map[string]string{"ok/a.yaml": nginxLine})

	tests := []struct {
		name  string
		paths []string
		want  error
	}{
		{name: "dotdot", paths: []string{"../x"}, want: ErrPathEscapesRoot},
		{name: "dotdot inside", paths: []string{"ok/../../x"}, want: ErrPathEscapesRoot},
		{name: "absolute", paths: []string{filepath.Join(outside, "x")}, want: ErrPathEscapesRoot},
		{name: "missing", paths: []string{"nope"}, want: fs.ErrNotExist},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := Apply(context.Background(), root, tt.paths, testImages)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Apply(%q) = %v, %v; want %v", tt.paths, res, err, tt.want)
			}
		})
	}
	if _, err := Apply(context.Background(), filepath.Join(root, "missing-root"), nil, testImages); err == nil {
		t.Error("Apply on a missing root succeeded")
	}
	if _, err := Apply(context.Background(), root, nil, testImages, WithConcurrency(0)); err == nil {
		t.Error("WithConcurrency(0) accepted")
	}
	if diff := cmp.Diff(map[string]string{"x/secret.yaml": nginxLine}, readTree(t, outside)); diff != "" {
		t.Errorf("outside tree changed:\n%s", diff)
	}
}

func TestApplySymlinks(t *testing.T) {
	outside := t.TempDir()
	writeTree(t, outside, map[string]string{"x/secret.yaml": nginxLine, "y.yaml": nginxLine})
	root := t.TempDir()
	writeTree(t, root, map[string]string{"in/a.yaml": nginxLine})
	if err := os.Symlink(filepath.Join(outside, "x"), filepath.Join(root, "linkdir")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(outside, "y.yaml"), filepath.Join(root, "in", "link.yaml")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("a.yaml", filepath.Join(root, "in", "inside-link.yaml")); err != nil {
		t.Fatal(err)
	}

	res, err := Apply(context.Background(), root, []string{"."}, testImages)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"in/a.yaml"}, changedPaths(res)); diff != "" {
		t.Errorf("changed files (-want +got):\n%s", diff)
	}
	// A path naming a symlink to outside must not be followed out of root.
	if _, err := Apply(context.Background(), root, []string{"linkdir"}, testImages); err == nil {
		t.Error("Apply through a symlink pointing outside root succeeded")
	}
	if diff := cmp.Diff(map[string]string{"x/secret.yaml": nginxLine, "y.yaml": nginxLine}, readTree(t, outside)); diff != "" {
		t.Errorf("outside tree changed:\n%s", diff)
	}
	if fi, err := os.Lstat(filepath.Join(root, "in", "inside-link.yaml")); err != nil || fi.Mode()&fs.ModeSymlink == 0 {
		t.Errorf("symlink inside root was replaced: %v %v", fi, err)
	}
}

func changedPaths(res *Result) []string {
	var p []string
	for _, f := range res.Files {
		p = append(p, f.Path)
	}
	return p
}

func TestApplyAtomicWriteKeepsMode(t *testing.T) {
	root := t.TempDir()
	writeTree(t, root, map[string]string{"a/exec.yaml": nginxLine, "a/ro.yml": nginxLine, "a/Kustomization": nginxLine})
	modes := map[string]os.FileMode{"a/exec.yaml": 0o750, "a/ro.yml": 0o400, "a/Kustomization": 0o664}
	for p, m := range modes {
		if err := os.Chmod(filepath.Join(root, p), m); err != nil {
			t.Fatal(err)
		}
	}
	res, err := Apply(context.Background(), root, nil, testImages)
	if err != nil {
		t.Fatal(err)
	}
	if err := res.Err(); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"a/exec.yaml": nginxNew, "a/ro.yml": nginxNew, "a/Kustomization": nginxNew}
	if diff := cmp.Diff(want, readTree(t, root)); diff != "" {
		t.Errorf("tree (-want +got), temp files left behind?:\n%s", diff)
	}
	for p, m := range modes {
		fi, err := os.Stat(filepath.Join(root, p))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != m {
			t.Errorf("%s: mode %v, want %v", p, fi.Mode().Perm(), m)
		}
	}
}

func TestApplyWriteErrorLeavesFile(t *testing.T) {
	// Tests may run as root, which ignores permissions; a rename over a
	// non-empty directory fails for everyone, after the temp file is written.
	root := t.TempDir()
	writeTree(t, root, map[string]string{"a.yaml": nginxLine})
	if err := os.Mkdir(filepath.Join(root, "dir.yaml"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "dir.yaml", "x"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	fd, err := unix.Open(root, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	st := newStager(&options{})
	d := &dirRef{fd: fd, rel: ".", keep: true}
	if err := st.stage(d, "dir.yaml", 0o644, FileChange{Path: "dir.yaml", After: []byte("new")}, nil); err != nil {
		t.Fatal(err)
	}
	if err := st.stage(d, "a.yaml", 0o644, FileChange{Path: "a.yaml", After: []byte(nginxNew)}, nil); err != nil {
		t.Fatal(err)
	}
	st.flush()
	if len(st.res.Errors) != 1 || !strings.Contains(st.res.Errors[0].Error(), `"dir.yaml"`) {
		t.Fatalf("errors after a failed rename: %v", st.res.Errors)
	}
	if diff := cmp.Diff([]string{"a.yaml"}, changedPaths(&st.res)); diff != "" {
		t.Errorf("committed files (-want +got):\n%s", diff)
	}
	want := map[string]string{"a.yaml": nginxNew, "dir.yaml/x": ""}
	if diff := cmp.Diff(want, readTree(t, root)); diff != "" {
		t.Errorf("tree after failed write (-want +got), temp files left?:\n%s", diff)
	}
}

func TestApplyOptionsAndPaths(t *testing.T) {
	tree := map[string]string{
		"a/one.yaml":           nginxLine,
		"b/two.yaml":           nginxLine,
		"b/c/three.yml":        nginxLine,
		".git/config.yaml":     nginxLine,
		"b/.git/hooks/x.yaml":  nginxLine,
		"b/notes.txt":          nginxLine,
		"b/kustomization.json": nginxLine,
	}
	tests := []struct {
		name    string
		paths   []string
		opts    []Option
		changed []string
		written bool
		scanned int
	}{
		{name: "all", paths: nil, changed: []string{"a/one.yaml", "b/c/three.yml", "b/two.yaml"}, written: true, scanned: 3},
		{name: "empty string", paths: []string{""}, changed: []string{"a/one.yaml", "b/c/three.yml", "b/two.yaml"}, written: true, scanned: 3},
		{name: "subset", paths: []string{"b/c", "a/one.yaml"}, changed: []string{"a/one.yaml", "b/c/three.yml"}, written: true, scanned: 2},
		{name: "overlapping", paths: []string{"b", "b/c", "./b/c/three.yml"}, changed: []string{"b/c/three.yml", "b/two.yaml"}, written: true, scanned: 2},
		{name: "dry run", opts: []Option{WithDryRun(true)}, changed: []string{"a/one.yaml", "b/c/three.yml", "b/two.yaml"}, scanned: 3},
		{name: "one worker", opts: []Option{WithConcurrency(1)}, changed: []string{"a/one.yaml", "b/c/three.yml", "b/two.yaml"}, written: true, scanned: 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			writeTree(t, root, tree)
			res, err := Apply(context.Background(), root, tt.paths, testImages, tt.opts...)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.changed, changedPaths(res)); diff != "" {
				t.Errorf("changed (-want +got):\n%s", diff)
			}
			if res.Scanned != tt.scanned || res.Marked != tt.scanned {
				t.Errorf("scanned %d marked %d, want %d", res.Scanned, res.Marked, tt.scanned)
			}
			want := map[string]string{}
			for p, c := range tree {
				want[p] = c
			}
			if tt.written {
				for _, p := range tt.changed {
					want[p] = nginxNew
				}
			}
			if diff := cmp.Diff(want, readTree(t, root)); diff != "" {
				t.Errorf("tree (-want +got):\n%s", diff)
			}
		})
	}
}

func TestApplyCancelled(t *testing.T) {
	root := t.TempDir()
	writeTree(t, root, map[string]string{"a.yaml": nginxLine})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Apply(ctx, root, nil, testImages); !errors.Is(err, context.Canceled) {
		t.Fatalf("Apply with a cancelled context: %v", err)
	}
	if diff := cmp.Diff(map[string]string{"a.yaml": nginxLine}, readTree(t, root)); diff != "" {
		t.Errorf("tree changed:\n%s", diff)
	}
}

func TestResultErr(t *testing.T) {
	cause := errors.New("boom")
	r := &Result{Errors: []*FileError{{File: "a.yaml", Line: 3, Err: cause}, {File: "b.yaml", Err: cause}}}
	err := r.Err()
	if !errors.Is(err, cause) {
		t.Errorf("Err() does not wrap the cause: %v", err)
	}
	if diff := cmp.Diff("a.yaml:3: boom\nb.yaml: boom", err.Error()); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if (&Result{}).Err() != nil {
		t.Error("Err() of an empty result is not nil")
	}
	if got := (Warning{File: "a.yaml", Line: 2, Message: "m"}).String(); got != "a.yaml:2: m" {
		t.Errorf("Warning.String() = %q", got)
	}
}

// TestApplyMaxFileSize holds the limit at every size, down to limits
// shorter than the marker itself: a file at the limit is rewritten, one
// byte over it is left alone with a warning naming the limit.
func TestApplyMaxFileSize(t *testing.T) {
	size := int64(len(nginxLine))
	for _, limit := range []int64{1, 5, int64(len(markerScreen)) - 1, int64(len(markerScreen)), 2 * int64(len(markerScreen)), size - 1, size, size + 1, 64 << 10} {
		t.Run(fmt.Sprint(limit), func(t *testing.T) {
			root := t.TempDir()
			writeTree(t, root, map[string]string{"a.yaml": nginxLine})
			res, err := Apply(context.Background(), root, nil, testImages, WithMaxFileSize(limit))
			if err != nil || res.Err() != nil {
				t.Fatalf("Apply: %v %v", err, res.Err())
			}
			want, wantFiles := map[string]string{"a.yaml": nginxNew}, []string{"a.yaml"}
			var wantWarnings []string
			if size > limit {
				want, wantFiles = map[string]string{"a.yaml": nginxLine}, nil
				wantWarnings = []string{fmt.Sprintf("a.yaml: file is larger than the %s limit for a file with markers: left alone", sizeText(limit))}
			}
			var warnings []string
			for _, w := range res.Warnings {
				warnings = append(warnings, w.File+": "+w.Message)
			}
			if diff := cmp.Diff(wantWarnings, warnings); diff != "" {
				t.Errorf("warnings (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(wantFiles, changedPaths(res)); diff != "" {
				t.Errorf("changed files (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(want, readTree(t, root)); diff != "" {
				t.Errorf("tree (-want +got):\n%s", diff)
			}
		})
	}
}
