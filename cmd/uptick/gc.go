package main

import "runtime/debug"

// Memory settings of the uptick process, unless GOGC or GOMEMLIMIT says
// otherwise. A pass allocates much and keeps little (each marked file's
// parse tree is garbage once it is rewritten), and its live heap is a few
// MiB, so Go's default (collect when the heap doubles, from 4 MiB) runs a
// collection every few dozen files: measured on the update stage, a
// third of its parsing time. Collecting at five times the live heap, with
// a soft limit on the total, spends less time collecting and still keeps
// the process's memory bounded.
const (
	gcPercent   = 400
	memoryLimit = 80 << 20
)

// tuneMemory applies the memory settings the environment leaves open.
func tuneMemory(getenv func(string) string) {
	if getenv("GOGC") == "" {
		debug.SetGCPercent(gcPercent)
	}
	if getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(memoryLimit)
	}
}
