// Package uptick is the root of the uptick module. The program is in
// cmd/uptick and each pipeline stage in its own package (scan, policy,
// update, gitops); this package only carries fixtures that the binary itself
// needs.
package uptick

import "embed"

// DemoFleet is the fleet repository `uptick demo` seeds its throwaway Git
// remote with, under testdata/demo/fleet. Embedding it keeps `uptick demo`
// a single self-contained binary.
//
//go:embed testdata/demo/fleet
var DemoFleet embed.FS
