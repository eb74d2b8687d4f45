package pass

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
)

// ErrWorkdirBusy means another uptick run holds the --workdir cache. It is
// not bad input: the next scheduled run will find it free.
var ErrWorkdirBusy = errors.New("work directory is in use by another uptick run")

// LockWorkdir takes an exclusive, non-blocking lock on dir+".lock", beside
// the cache rather than in it, because a checkout cleans the work tree.
// Two runs sharing one clone would reset each other's work tree mid-pass.
// The lock is the kernel's (flock), so a crashed run never leaves it held.
func LockWorkdir(dir string) (unlock func(), err error) {
	dir = filepath.Clean(dir)
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return nil, fmt.Errorf("creating the parent of work directory %s: %w", dir, err)
	}
	name := dir + ".lock"
	f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("opening lock %s: %w", name, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		holder, _ := os.ReadFile(name)
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("%s (pid %s, lock %s): %w", dir, bytes.TrimSpace(holder), name, ErrWorkdirBusy)
		}
		return nil, fmt.Errorf("locking %s: %w", name, err)
	}
	// Who holds it, for the message another run prints.
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return func() {
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}
