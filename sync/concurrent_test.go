package sync_test

import (
	"fmt"
	"slices"
	"strings"
	gosync "sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/uptick-gitops/uptick/sync"
)

// inventoryNames lists the object names the env's inventory records.
func (e *env) inventoryNames() []string {
	e.t.Helper()
	cm := e.get(configMapsGVR, e.ns, "uptick-inventory")
	if cm == nil {
		e.t.Fatal("no inventory")
	}
	text, _ := cm.Object["data"].(map[string]any)["objects"].(string)
	var names []string
	for _, line := range strings.Split(strings.TrimSpace(text), "\n") {
		if f := strings.Fields(line); len(f) == 6 {
			names = append(names, f[3])
		}
	}
	slices.Sort(names)
	return names
}

// TestConcurrentSyncs runs several syncs at once on one inventory, as
// overlapping CronJob runs do: the same tree (then its next revision) from
// four syncs converges with every object applied and recorded once; four
// syncs of different objects with prune off all end up recorded, because an
// inventory write that loses the compare-and-swap merges and retries.
func TestConcurrentSyncs(t *testing.T) {
	e := newEnv(t)
	const racers = 4
	race := func(dirs []string, opts ...sync.Option) []*sync.Result {
		t.Helper()
		out := make([]*sync.Result, len(dirs))
		var wg gosync.WaitGroup
		for i, d := range dirs {
			wg.Go(func() { out[i] = e.trySync(d, opts...) })
		}
		wg.Wait()
		for i, r := range out {
			if err := r.Err(); err != nil {
				t.Fatalf("sync %d: %v", i, err)
			}
		}
		return out
	}
	files := map[string]string{}
	for i := range 10 {
		files[fmt.Sprintf("cm-%d.yaml", i)] = configMap(fmt.Sprintf("cm-%d", i), "v1")
	}
	v1 := writeTree(t, files)
	race(slices.Repeat([]string{v1}, racers))
	want := []string{"cm-0", "cm-1", "cm-2", "cm-3", "cm-4", "cm-5", "cm-6", "cm-7", "cm-8", "cm-9"}
	if diff := cmp.Diff(want, e.inventoryNames()); diff != "" {
		t.Fatalf("inventory after racing v1 (-want +got):\n%s", diff)
	}

	delete(files, "cm-0.yaml")
	files["cm-new.yaml"] = configMap("cm-new", "v1")
	v2 := writeTree(t, files)
	race(slices.Repeat([]string{v2}, racers))
	want = append(slices.Clone(want[1:]), "cm-new")
	slices.Sort(want)
	if diff := cmp.Diff(want, e.inventoryNames()); diff != "" {
		t.Fatalf("inventory after racing v2 (-want +got):\n%s", diff)
	}
	if e.get(configMapsGVR, e.ns, "cm-0") != nil || e.get(configMapsGVR, e.ns, "cm-new") == nil {
		t.Error("v2 not converged: cm-0 should be pruned and cm-new applied")
	}

	var dirs []string
	for i := range racers {
		dirs = append(dirs, writeTree(t, map[string]string{"own.yaml": configMap(fmt.Sprintf("own-%d", i), "x")}))
	}
	race(dirs, sync.WithPrune(false))
	for i := range racers {
		want = append(want, fmt.Sprintf("own-%d", i))
	}
	slices.Sort(want)
	if diff := cmp.Diff(want, e.inventoryNames()); diff != "" {
		t.Fatalf("inventory after racing different trees with prune off: lost records (-want +got):\n%s", diff)
	}
}
