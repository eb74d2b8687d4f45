package update

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestMeminfoBytes(t *testing.T) {
	meminfo := "MemTotal:       24683520 kB\nDirty:               116 kB\nWriteback:             0 kB\nWritebackTmp:       9 kB\nHuge:  12\nOdd:   1 MB\n"
	for _, c := range []struct {
		key  string
		want int64
		ok   bool
	}{
		{"Dirty:", 116 << 10, true},
		{"Writeback:", 0, true}, // not WritebackTmp, a later line
		{"MemTotal:", 24683520 << 10, true},
		{"Missing:", 0, false},
		{"Huge:", 0, false}, // no unit
		{"Odd:", 0, false},  // not kB
	} {
		t.Run(c.key, func(t *testing.T) {
			got, ok := meminfoBytes([]byte(meminfo), c.key)
			if diff := cmp.Diff([2]any{c.want, c.ok}, [2]any{got, ok}); diff != "" {
				t.Errorf("meminfoBytes(%q) (-want +got):\n%s", c.key, diff)
			}
		})
	}
}

// TestQuiet reads this machine's /proc/meminfo: it is quiet whatever its
// dirty data when the pass's own data is counted as huge, and never quiet
// when its own data is negative beyond the bound.
func TestQuiet(t *testing.T) {
	if !quiet(1 << 50) {
		t.Error("quiet(1<<50) = false: /proc/meminfo was not read")
	}
	if quiet(-quietDirty - 1) {
		t.Error("quiet below zero = true")
	}
}
