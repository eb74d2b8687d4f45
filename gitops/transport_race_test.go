package gitops

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-git/go-billy/v5"
	"github.com/go-git/go-billy/v5/osfs"
)

// TestServedRepoListsPacksWhileAPushRenamesOne lists objects/pack while
// another writer keeps renaming temporary files into place, as a
// concurrent push does. go-billy's own listing fails now and then (an
// entry vanishes between the read and its stat), which go-git turns into
// "object not found" for a whole fetch; the served repository's listing
// must never fail and must always show the packs that were there before.
func TestServedRepoListsPacksWhileAPushRenamesOne(t *testing.T) {
	dir := t.TempDir()
	packDir := filepath.Join(dir, "objects", "pack")
	if err := os.MkdirAll(packDir, 0o755); err != nil {
		t.Fatal(err)
	}
	const stable = 20
	for i := range stable {
		writeFiles(t, packDir, map[string]string{fmt.Sprintf("pack-%040d.pack", i): "x"})
	}
	// list runs ReadDir on fsys for d and reports failures and listings
	// that miss a stable pack.
	list := func(fsys billy.Filesystem, d time.Duration) (failed, short int) {
		var stop atomic.Bool
		var wg sync.WaitGroup
		wg.Go(func() {
			for n := 0; !stop.Load(); n++ {
				tmp := filepath.Join(packDir, fmt.Sprintf("tmp_pack_%d", n))
				if err := os.WriteFile(tmp, []byte("x"), 0o644); err != nil {
					t.Error(err)
					return
				}
				if err := os.Rename(tmp, filepath.Join(packDir, fmt.Sprintf("pack-new-%d.pack", n%8))); err != nil {
					t.Error(err)
					return
				}
			}
		})
		for deadline := time.Now().Add(d); time.Now().Before(deadline); {
			infos, err := fsys.ReadDir(filepath.Join("objects", "pack"))
			if err != nil {
				if !errors.Is(err, os.ErrNotExist) {
					t.Errorf("listing: %v", err)
				}
				failed++
				continue
			}
			seen := 0
			for _, fi := range infos {
				var i int
				if _, err := fmt.Sscanf(fi.Name(), "pack-%040d.pack", &i); err == nil {
					seen++
				}
			}
			if seen != stable {
				short++
			}
		}
		stop.Store(true)
		wg.Wait()
		return failed, short
	}

	plainFailed, _ := list(osfs.New(dir), time.Second)
	t.Logf("plain osfs: %d listings failed in 1s", plainFailed)
	failed, short := list(racingReaderFS{osfs.New(dir)}, time.Second)
	if failed != 0 || short != 0 {
		t.Errorf("served repository: %d listings failed, %d missed a pack that was there all along; want none", failed, short)
	}
}
