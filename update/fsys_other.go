//go:build unix && !linux

package update

import (
	"io/fs"
	"os"

	"golang.org/x/sys/unix"
)

const direntBufSize = 0

// haveSyncFS is false here: with no syncfs, every temporary file is
// synced on its own before the renames.
const haveSyncFS = false

// readDirents lists the directory open at fd through os.File (no
// getdents64 here); types come from the directory entries where the
// system gives them.
func readDirents(fd int, _ []byte, fn func(name []byte, typ uint8)) error {
	dup, err := unix.Dup(fd)
	if err != nil {
		return err
	}
	f := os.NewFile(uintptr(dup), "")
	defer f.Close()
	entries, err := f.ReadDir(-1)
	for _, e := range entries {
		typ := uint8(unix.DT_UNKNOWN)
		switch t := e.Type(); {
		case t.IsDir():
			typ = unix.DT_DIR
		case t.IsRegular():
			typ = unix.DT_REG
		case t&fs.ModeSymlink != 0:
			typ = unix.DT_LNK
		}
		fn([]byte(e.Name()), typ)
	}
	return err
}

func syncFS(int) error { return nil }

// quiet is false: with no syncfs the per-file scheme is the only one.
func quiet(int64) bool { return false }

// datasync makes a file durable (no fdatasync on every system).
func datasync(fd int) error { return unix.Fsync(fd) }
