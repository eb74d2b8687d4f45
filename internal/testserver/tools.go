package testserver

import (
	"os"
	"path/filepath"
	"testing"
)

// ToolsDir is where hack/tools/*.sh cache the binaries they build from the
// Go module proxy: $UPTICK_TOOLS_DIR, else $XDG_CACHE_HOME/uptick-tools,
// else ~/.cache/uptick-tools. hack/tools/lib.sh computes the same path.
func ToolsDir() string {
	if d := os.Getenv("UPTICK_TOOLS_DIR"); d != "" {
		return d
	}
	if d := os.Getenv("XDG_CACHE_HOME"); d != "" {
		return filepath.Join(d, "uptick-tools")
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return filepath.Join(os.TempDir(), "uptick-tools")
	}
	return filepath.Join(home, ".cache", "uptick-tools")
}

// ToolPath returns the path of binary bin built by hack/tools/<name>.sh at
// version, failing the test (never skipping it) when `make tools` has not
// built it yet.
func ToolPath(t testing.TB, name, version, bin string) string {
	t.Helper()
	p := filepath.Join(ToolsDir(), name+"-"+version, bin)
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("%s %s is not built: run `make tools` (hack/tools/%s.sh): %v", name, version, name, err)
	}
	return p
}
