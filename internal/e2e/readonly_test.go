package e2e

import (
	"os"
	"path/filepath"
	"testing"
)

// readOnlyRoot is a shell script run by unshare in a private mount
// namespace: it makes $1 a read-only bind mount of itself, mounts the
// writable directory $2 on $1/vol (a volume under a read-only root
// filesystem, as the shipped CronJob runs), checks that $1 refuses
// writes, and runs the rest of its arguments there.
const readOnlyRoot = `set -e
mount --bind "$1" "$1"
mount -o remount,bind,ro "$1"
mount --bind "$2" "$1/vol"
if touch "$1/.probe" 2>/dev/null; then echo "e2e: $1 is still writable" >&2; exit 99; fi
shift 2
exec "$@"`

// TestWorkdirVolumeUnderReadOnlyRoot runs uptick with --workdir a
// writable volume whose parent is read-only. Nothing may be written
// beside the workdir (no DIR.lock there): the fresh run and a warm one
// both succeed and push. The read-only parent is a bind mount remounted
// read-only in a private mount namespace (unshare --mount), so the
// kernel refuses the write whoever asks: chmod 0555 would not stop root,
// which the tests run as. Without root, unshare also maps the user to
// root in a new user namespace, which grants the mounts.
func TestWorkdirVolumeUnderReadOnlyRoot(t *testing.T) {
	f := newFleet(t, 1)
	cfg := f.writeConfig("uptick.yaml", configSpec{})
	root := filepath.Join(f.dir, "ro")
	volume := filepath.Join(f.dir, "volume")
	for _, d := range []string{filepath.Join(root, "vol"), volume} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	wrap := []string{"unshare", "--mount", "--propagation", "private"}
	if os.Geteuid() != 0 {
		wrap = append(wrap, "--map-root-user")
	}
	wrap = append(wrap, "sh", "-c", readOnlyRoot, "sh", root, volume)
	work := filepath.Join(root, "vol")
	for _, tag := range []string{"1.0.1", "1.0.2"} {
		f.pushTag(0, tag)
		res := runWrapped(t, nil, wrap, "run", "--config", cfg, "--workdir", work)
		if res.code != 0 {
			t.Fatalf("run pushing %s with --workdir %s under a read-only parent:\n%s", tag, work, res)
		}
		if got := f.tagOnRemote(0); got != tag {
			t.Fatalf("app0 on the remote is at %s, want %s:\n%s", got, tag, res)
		}
	}
	entries, err := os.ReadDir(volume)
	if err != nil || len(entries) == 0 {
		t.Errorf("the volume holds nothing after two runs (%v): the clone went elsewhere", err)
	}
}
