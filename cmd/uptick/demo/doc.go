// Package demo holds the embedded default that `uptick demo` runs on, and
// that tests reuse: the tags an in-process registry is seeded with, the
// fleet repository seeded from testdata/demo/fleet, and a throwaway OpenPGP
// signing key.
package demo
