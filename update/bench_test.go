package update

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/uptick-gitops/uptick/internal/fleet"
)

// benchTrees are the generated fleets shared by the benchmarks
// (generating one takes longer than a benchmark run), by marked share.
// TestMain removes them.
var benchTrees struct {
	mu   sync.Mutex
	dirs map[int]*fleet.Fleet
	tmp  []string
}

func TestMain(m *testing.M) {
	if os.Getenv(crashChildEnv) != "" {
		os.Exit(crashChild())
	}
	code := m.Run()
	for _, d := range benchTrees.tmp {
		os.RemoveAll(d)
	}
	os.Exit(code)
}

const benchFiles = 10000

// benchRepo returns a generated fleet of 10,000 files (internal/fleet,
// seed 1), pct percent of them carrying markers.
func benchRepo(b *testing.B, pct int) *fleet.Fleet {
	b.Helper()
	benchTrees.mu.Lock()
	defer benchTrees.mu.Unlock()
	if f := benchTrees.dirs[pct]; f != nil {
		return f
	}
	dir, err := os.MkdirTemp("", "uptick-update-bench-")
	if err != nil {
		b.Fatal(err)
	}
	benchTrees.tmp = append(benchTrees.tmp, dir)
	f, err := fleet.Generate(dir, fleet.Spec{Files: benchFiles, Marked: fleet.Percent(benchFiles, float64(pct)), Seed: 1})
	if err != nil {
		b.Fatal(err)
	}
	if benchTrees.dirs == nil {
		benchTrees.dirs = map[int]*fleet.Fleet{}
	}
	benchTrees.dirs[pct] = f
	return f
}

// fleetImages maps every policy of f to its repository at tag.
func fleetImages(f *fleet.Fleet, tag string) map[PolicyRef]Image {
	images := map[PolicyRef]Image{}
	for _, img := range f.Images {
		ref, err := ParsePolicyRef(img.Policy)
		if err != nil {
			panic(err)
		}
		images[ref] = Image{Repository: img.Repository, Tag: tag}
	}
	return images
}

func BenchmarkApply(b *testing.B) {
	ctx := context.Background()
	for _, pct := range []int{1, 10} {
		b.Run(fmt.Sprintf("marked=%d%%", pct), func(b *testing.B) {
			f := benchRepo(b, pct)
			b.Run("dry-run", func(b *testing.B) {
				images := fleetImages(f, "9.9.9")
				for b.Loop() {
					res, err := Apply(ctx, f.Dir, nil, images, WithDryRun(true))
					if err != nil || res.Scanned != len(f.Files) || res.Marked != len(f.Marked) || len(res.Files) != len(f.Marked) {
						b.Fatalf("Apply: %v, scanned %d marked %d changed %d", err, res.Scanned, res.Marked, len(res.Files))
					}
				}
			})
			// write picks the scheme as a pass does (from the machine's
			// dirty data); write-fdatasync syncs each file,
			// write-syncfs their file system once.
			for _, mode := range []struct {
				name string
				opts []Option
			}{{"write", nil}, {"write-fdatasync", []Option{withSync(syncPerFile)}}, {"write-syncfs", []Option{withSync(syncWholeFS)}}} {
				b.Run(mode.name, func(b *testing.B) {
					// Alternate between two tags so every iteration rewrites the marked files.
					tags := [2]map[PolicyRef]Image{fleetImages(f, "1.1.0"), fleetImages(f, "1.2.0")}
					if _, err := Apply(ctx, f.Dir, nil, tags[1]); err != nil {
						b.Fatal(err)
					}
					i := 0
					for b.Loop() {
						res, err := Apply(ctx, f.Dir, nil, tags[i%2], mode.opts...)
						i++
						if err != nil || res.Err() != nil || len(res.Files) != len(f.Marked) {
							b.Fatalf("Apply: %v, %v, %d files", err, res.Err(), len(res.Files))
						}
					}
				})
			}
		})
	}
}

// BenchmarkGrepBaseline is the floor Apply is compared with: grep listing
// the files that carry the marker bytes.
func BenchmarkGrepBaseline(b *testing.B) {
	f := benchRepo(b, 1)
	for b.Loop() {
		out, err := exec.Command("grep", "-rl", `"$imagepolicy"`, f.Dir).Output()
		if err != nil {
			b.Fatal(err)
		}
		if n := strings.Count(string(out), "\n"); n != len(f.Marked) {
			b.Fatalf("grep found %d files, want %d", n, len(f.Marked))
		}
	}
}

// withSync sets the scheme that makes temporary files durable.
func withSync(m syncMode) Option {
	return func(o *options) error {
		o.sync = m
		return nil
	}
}

// BenchmarkRewriteMarked is the CPU of the update stage alone: rewriting
// the marked files of the 10% fleet, read into memory first.
func BenchmarkRewriteMarked(b *testing.B) {
	f := benchRepo(b, 10)
	var srcs [][]byte
	for _, p := range f.Marked {
		src, err := os.ReadFile(filepath.Join(f.Dir, p))
		if err != nil {
			b.Fatal(err)
		}
		srcs = append(srcs, src)
	}
	images := fleetImages(f, "9.9.9")
	b.SetBytes(int64(len(bytes.Join(srcs, nil))))
	for b.Loop() {
		plain := plainCache{}
		for _, src := range srcs {
			if _, changes, _, err := rewrite("x.yaml", src, images, false, plain); err != nil || len(changes) == 0 {
				b.Fatalf("rewrite: %v, %d changes", err, len(changes))
			}
		}
	}
}

// BenchmarkScreen compares the marker screen with bytes.Contains over
// 2,000 unmarked fleet files.
func BenchmarkScreen(b *testing.B) {
	var files [][]byte
	n := 0
	for i := range 2000 {
		_, f, _ := fleet.File(fleet.Spec{Files: 2000, Marked: 20, Seed: 1}, i, false)
		files = append(files, f)
		n += len(f)
	}
	b.Run("contains", func(b *testing.B) {
		b.SetBytes(int64(n))
		for b.Loop() {
			for _, f := range files {
				bytes.Contains(f, markerScreen)
			}
		}
	})
	b.Run("hasScreen", func(b *testing.B) {
		b.SetBytes(int64(n))
		for b.Loop() {
			for _, f := range files {
				hasScreen(f)
			}
		}
	})
}
