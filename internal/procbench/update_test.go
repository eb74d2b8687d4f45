package procbench

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// grepRun is the floor: grep listing the files that carry the marker bytes.
func grepRun(b *testing.B, dir string, want int) run {
	b.Helper()
	g := runProcess(b, "grep", "-rl", `"$imagepolicy"`, dir)
	if n := strings.Count(g.stdout, "\n"); g.code != 0 || n != want {
		b.Fatalf("grep found %d files (exit %d), want %d", n, g.code, want)
	}
	return g
}

func BenchmarkUpdateVsGrep(b *testing.B) {
	if _, err := exec.LookPath("grep"); err != nil {
		b.Fatalf("grep is not installed: %v", err)
	}
	for _, c := range []struct {
		name    string
		files   int
		pct     float64
		unmoved bool // the files already hold the tag: nothing to write
	}{
		{name: "10k-files-1pct-cold", files: 10000, pct: 1},
		{name: "10k-files-1pct-unchanged", files: 10000, pct: 1, unmoved: true},
		{name: "10k-files-10pct-cold", files: 10000, pct: 10},
		{name: "50k-files-1pct-cold", files: 50000, pct: 1},
	} {
		b.Run(c.name, func(b *testing.B) {
			f := tree(b, c.files, c.pct)
			tags := []string{"1.1.0", "1.2.0"}
			up := func(i int) run {
				tag := tags[i%2]
				if c.unmoved {
					tag = tags[0]
				}
				r := runProcess(b, uptickBin, append([]string{"update", "--path", f.Dir, "-o", "json"}, imageFlags(f, tag)...)...)
				if r.code != 0 {
					b.Fatalf("uptick update: exit %d\n%s", r.code, r.stderr)
				}
				return r
			}
			up(1) // warm-up; leaves the tree at tags[1], so the first run writes
			if c.unmoved {
				up(0)
			}
			var p pairs
			i := 0
			for b.Loop() {
				// Each pass starts with nothing dirty, as a CronJob run
				// minutes after the last one does. A cold pass leaves
				// MiB of dirty data that the kernel writes back only
				// after 30 s: nine in a row would make the later ones
				// see a busy machine and take the per-file scheme.
				syscall.Sync()
				a := up(i)
				g := grepRun(b, f.Dir, len(f.Marked))
				i++
				p.add(a, g)
			}
			p.report(b, "uptick")
		})
	}
}

// TestUpdateMemoryBound holds the update stage to 100 MiB of peak RSS on
// the 10% tree, and on a tree holding a 50 MB YAML file with a marker,
// which is left alone with a warning naming it and the limit while the
// other marked files are updated.
func TestUpdateMemoryBound(t *testing.T) {
	const bound = 100 << 20
	t.Run("10k files, 10% marked", func(t *testing.T) {
		f := tree(t, 10000, 10)
		for _, tag := range []string{"3.0.0", "3.0.1"} {
			r := runProcess(t, uptickBin, append([]string{"update", "--path", f.Dir, "-o", "json"}, imageFlags(f, tag)...)...)
			if r.code != 0 || !strings.Contains(r.stdout, fmt.Sprintf(`"%s:%s"`, "registry.fleet.example/team/app00", tag)) {
				t.Fatalf("exit %d\n%s", r.code, r.stderr)
			}
			if r.maxRSS > bound {
				t.Errorf("peak RSS %.1f MiB, bound %d MiB", float64(r.maxRSS)/(1<<20), bound>>20)
			}
			t.Logf("peak RSS %.1f MiB, %s", float64(r.maxRSS)/(1<<20), r.wall)
		}
	})
	t.Run("a 50 MB file with a marker", func(t *testing.T) {
		dir := t.TempDir()
		small := filepath.Join(dir, "apps", "app.yaml")
		huge := filepath.Join(dir, "generated", "huge.yaml")
		for _, p := range []string{small, huge} {
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
		}
		marked := "image: registry.fleet.example/team/app00:1.0.0 # {\"$imagepolicy\": \"fleet:app00\"}\n"
		if err := os.WriteFile(small, []byte(marked), 0o644); err != nil {
			t.Fatal(err)
		}
		var b strings.Builder
		for n := 0; b.Len() < 50<<20; n++ {
			fmt.Fprintf(&b, "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-%d\ndata:\n", n)
			for k := range 40 {
				fmt.Fprintf(&b, "  key%d: value-%d-%d\n", k, n, k)
			}
			b.WriteString("---\n")
		}
		b.WriteString(marked)
		if err := os.WriteFile(huge, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		r := runProcess(t, uptickBin, "update", "--path", dir, "-o", "json", "--image", "fleet:app00=registry.fleet.example/team/app00:2.0.0")
		if r.code != 0 {
			t.Fatalf("exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
		}
		if !strings.Contains(r.stdout, `"file": "generated/huge.yaml"`) || !strings.Contains(r.stdout, "larger than the 8 MiB limit") {
			t.Errorf("no warning naming the large file and the limit:\n%s", r.stdout)
		}
		if got, _ := os.ReadFile(small); !strings.Contains(string(got), "app00:2.0.0") {
			t.Errorf("the small file was not updated: %s", got)
		}
		if got, _ := os.ReadFile(huge); string(got) != b.String() {
			t.Error("the large file changed")
		}
		if r.maxRSS > bound {
			t.Errorf("peak RSS %.1f MiB, bound %d MiB", float64(r.maxRSS)/(1<<20), bound>>20)
		}
		t.Logf("peak RSS %.1f MiB, %s", float64(r.maxRSS)/(1<<20), r.wall)
	})
}
