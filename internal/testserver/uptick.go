package testserver

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// BuildTags are the build tags `make build` and the Dockerfile use; the
// binary tests run must be the one users run (without them kustomize links
// its Go plugin loader, about 28 MB more at start).
const BuildTags = "kustomize_disable_go_plugin_support"

// BuildUptick builds cmd/uptick, as `make build` does, to the file out. It
// finds the module from the working directory (a package directory under
// `go test`).
func BuildUptick(out string) error {
	root, err := ModuleRoot()
	if err != nil {
		return err
	}
	build := exec.Command("go", "build", "-trimpath", "-tags", BuildTags, "-o", out, "./cmd/uptick")
	build.Dir = root
	if b, err := build.CombinedOutput(); err != nil {
		return fmt.Errorf("go build ./cmd/uptick: %v\n%s", err, b)
	}
	return nil
}

// ModuleRoot walks up from the working directory to the directory holding
// go.mod.
func ModuleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory")
		}
		dir = parent
	}
}
