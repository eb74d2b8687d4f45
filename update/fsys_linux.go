//go:build linux

package update

import (
	"bytes"
	"os"
	"strconv"
	"unsafe"

	"golang.org/x/sys/unix"
)

// direntBufSize is the getdents64 buffer of one worker: a directory of a
// few hundred entries is listed in one call (and one more that says the
// end was reached).
const direntBufSize = 32 << 10

// haveSyncFS says syncFS makes a whole file system durable in one call.
const haveSyncFS = true

// readDirents lists the directory open at fd with getdents64, which
// returns each entry's type with its name: no stat per entry. fn gets
// each name (valid only during the call) and its type, DT_UNKNOWN when the
// file system does not say (then the caller asks with fstatat). "." and
// ".." are left out.
func readDirents(fd int, buf []byte, fn func(name []byte, typ uint8)) error {
	for {
		n, err := unix.Getdents(fd, buf)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return err
		}
		if n <= 0 {
			return nil
		}
		for off := 0; off < n; {
			// struct linux_dirent64: ino u64, off s64, reclen u16, type u8, name.
			reclen := int(*(*uint16)(unsafe.Pointer(&buf[off+16])))
			typ := buf[off+18]
			name := buf[off+19 : off+reclen]
			for i, c := range name {
				if c == 0 {
					name = name[:i]
					break
				}
			}
			off += reclen
			if len(name) == 0 || (name[0] == '.' && (len(name) == 1 || (len(name) == 2 && name[1] == '.'))) {
				continue
			}
			fn(name, typ)
		}
	}
}

// syncFS makes everything written to the file system holding fd durable:
// one call for all the temporary files of a pass, instead of an fsync per
// file.
func syncFS(fd int) error {
	for {
		err := unix.Syncfs(fd)
		if err != unix.EINTR {
			return err
		}
	}
}

// datasync makes a file's data durable, and the metadata needed to read it.
func datasync(fd int) error { return unix.Fdatasync(fd) }

// quiet says whether the machine holds at most quietDirty bytes of dirty
// data (dirty or being written back) beyond own, the pass's own temporary
// files, so that a syncfs has little else to write. It says false when
// /proc/meminfo cannot be read.
func quiet(own int64) bool {
	meminfo, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return false
	}
	dirty, ok := meminfoBytes(meminfo, "Dirty:")
	writeback, ok2 := meminfoBytes(meminfo, "Writeback:")
	return ok && ok2 && dirty+writeback <= quietDirty+own
}

// meminfoBytes returns the value of a /proc/meminfo line such as
// "Dirty:   116 kB", in bytes.
func meminfoBytes(meminfo []byte, key string) (int64, bool) {
	for line := range bytes.Lines(meminfo) {
		rest, found := bytes.CutPrefix(line, []byte(key))
		if !found {
			continue
		}
		f := bytes.Fields(rest)
		if len(f) != 2 || string(f[1]) != "kB" {
			return 0, false
		}
		v, err := strconv.ParseInt(string(f[0]), 10, 64)
		if err != nil || v < 0 || v > 1<<40 {
			return 0, false
		}
		return v << 10, true
	}
	return 0, false
}
