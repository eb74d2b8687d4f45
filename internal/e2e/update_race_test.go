package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	genfleet "github.com/uptick-gitops/uptick/internal/fleet"
	"github.com/uptick-gitops/uptick/update"
)

// TestConcurrentUpdatesLeaveFilesWhole runs 4 real `uptick update --path`
// processes at once over one plain directory (no git, no cache), round
// after round, two setting every image to 2.0.0 and two to 3.0.0, while a
// reader reads the marked files over and over. Every read, and every
// file after each round, must be whole: the file as generated, or as a
// pass to 2.0.0 or to 3.0.0 leaves it, never a mix of two writes or a
// truncated file. Every process exits 0, no temporary file is left, the
// unmarked files are never touched, and a last pass converges.
func TestConcurrentUpdatesLeaveFilesWhole(t *testing.T) {
	const (
		racers = 4
		rounds = 4
	)
	dir := filepath.Join(t.TempDir(), "fleet")
	spec := genfleet.Spec{Files: 400, Marked: 80, Seed: 11}
	fl, err := genfleet.Generate(dir, spec)
	if err != nil {
		t.Fatal(err)
	}
	tags := []string{"2.0.0", "3.0.0"}
	// versions holds, per marked file, its three whole contents.
	versions := map[string][][]byte{}
	for _, rel := range fl.Marked {
		src, err := os.ReadFile(filepath.Join(dir, rel))
		if err != nil {
			t.Fatal(err)
		}
		vs := [][]byte{src}
		for _, tag := range tags {
			out, changes, _, err := update.Rewrite(rel, src, imagesAt(t, fl, tag))
			if err != nil || len(changes) == 0 {
				t.Fatalf("rewriting %s to %s in memory: %d changes, %v", rel, tag, len(changes), err)
			}
			vs = append(vs, out)
		}
		versions[rel] = vs
	}
	unmarked := map[string][]byte{}
	for _, rel := range fl.Files {
		if _, ok := versions[rel]; !ok {
			b, err := os.ReadFile(filepath.Join(dir, rel))
			if err != nil {
				t.Fatal(err)
			}
			unmarked[rel] = b
		}
	}

	ctx, stop := context.WithCancel(context.Background())
	var reads, torn atomic.Int64
	var tornExample atomic.Value
	readerDone := make(chan struct{})
	go func() {
		defer close(readerDone)
		for ctx.Err() == nil {
			for _, rel := range fl.Marked {
				b, err := os.ReadFile(filepath.Join(dir, rel))
				if err != nil {
					torn.Add(1) // a missing file is as bad as a torn one
					tornExample.Store(fmt.Sprintf("%s: %v", rel, err))
					continue
				}
				reads.Add(1)
				if !isWhole(versions[rel], b) {
					torn.Add(1)
					tornExample.Store(fmt.Sprintf("%s: %d bytes matching no whole version", rel, len(b)))
				}
			}
		}
	}()

	var runs atomic.Int64
	for round := range rounds {
		var wg sync.WaitGroup
		results := make([]result, racers)
		for r := range racers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				args := []string{"update", "--path", dir, "-o", "json"}
				for _, img := range fl.Images {
					args = append(args, "--image", img.Policy+"="+img.Repository+":"+tags[r%2])
				}
				results[r] = uptick(t, nil, args...)
				runs.Add(1)
			}()
		}
		wg.Wait()
		for _, res := range results {
			if res.code != 0 {
				t.Errorf("round %d: %s", round, res)
			}
		}
		checkTree(t, dir, versions, unmarked)
	}
	stop()
	<-readerDone

	// A last pass alone converges every marked file on its tag.
	args := []string{"update", "--path", dir, "-o", "json"}
	for _, img := range fl.Images {
		args = append(args, "--image", img.Policy+"="+img.Repository+":"+tags[0])
	}
	if res := uptick(t, nil, args...); res.code != 0 {
		t.Fatalf("last pass: %s", res)
	}
	for _, rel := range fl.Marked {
		b, err := os.ReadFile(filepath.Join(dir, rel))
		if err != nil || !bytes.Equal(b, versions[rel][1]) {
			t.Errorf("%s after the last pass: not the file at %s (%v)", rel, tags[0], err)
		}
	}
	if n := torn.Load(); n > 0 {
		t.Errorf("%d of %d reads during the races found a file torn or missing, e.g. %v", n, reads.Load()+n, tornExample.Load())
	}
	if reads.Load() == 0 {
		t.Error("the reader read nothing while the passes ran")
	}
	t.Logf("%d processes in %d rounds of %d; %d reads of marked files during the races, %d torn or missing", runs.Load(), rounds, racers, reads.Load(), torn.Load())
}

// checkTree holds the tree to whole marked files, untouched unmarked
// files and no temporary file left behind.
func checkTree(t *testing.T, dir string, versions map[string][][]byte, unmarked map[string][]byte) {
	t.Helper()
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel := filepath.ToSlash(p[len(dir)+1:])
		if strings.Contains(d.Name(), ".uptick-") {
			t.Errorf("temporary file left: %s", rel)
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if want, ok := unmarked[rel]; ok {
			if !bytes.Equal(b, want) {
				t.Errorf("unmarked file %s was changed", rel)
			}
		} else if vs, ok := versions[rel]; !ok {
			t.Errorf("unexpected file %s", rel)
		} else if !isWhole(vs, b) {
			t.Errorf("%s is not whole", rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// isWhole reports whether b is one of a file's whole versions.
func isWhole(versions [][]byte, b []byte) bool {
	return slices.ContainsFunc(versions, func(v []byte) bool { return bytes.Equal(v, b) })
}

// imagesAt maps every policy of fl to its repository at tag.
func imagesAt(t *testing.T, fl *genfleet.Fleet, tag string) map[update.PolicyRef]update.Image {
	t.Helper()
	images := map[update.PolicyRef]update.Image{}
	for _, img := range fl.Images {
		ref, err := update.ParsePolicyRef(img.Policy)
		if err != nil {
			t.Fatal(err)
		}
		images[ref] = update.Image{Repository: img.Repository, Tag: tag}
	}
	return images
}
