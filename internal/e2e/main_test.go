package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/uptick-gitops/uptick/internal/testserver"
)

// uptickBin is the uptick binary TestMain builds for this test process.
// It is set once, before any test runs, and never changed.
var uptickBin string

// TestMain builds cmd/uptick once into a temporary directory, so every test
// runs the real binary as a CronJob would, and removes it afterwards.
func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "uptick-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	uptickBin = filepath.Join(dir, "uptick")
	if err := testserver.BuildUptick(uptickBin); err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	defer giteaServer.Stop()
	defer kubeServer.Stop()
	return m.Run()
}

// result is how one uptick process ended.
type result struct {
	args           []string
	stdout, stderr string
	code           int            // exit code; -1 when killed by a signal
	signal         syscall.Signal // the signal that killed it, if any
	took           time.Duration
}

// String shows a result in a failure message.
func (r result) String() string {
	how := fmt.Sprintf("exit %d", r.code)
	if r.signal != 0 {
		how = "killed by " + r.signal.String()
	}
	return fmt.Sprintf("uptick %s: %s after %s\nstdout:\n%s\nstderr:\n%s", strings.Join(r.args, " "), how, r.took.Round(time.Millisecond), indent(r.stdout), indent(r.stderr))
}

func indent(s string) string {
	s = strings.TrimRight(s, "\n")
	if s == "" {
		return "  (empty)"
	}
	return "  " + strings.ReplaceAll(s, "\n", "\n  ")
}

// procTimeout bounds every uptick process a test starts, so a hung run
// fails its test instead of the whole `go test` binary.
const procTimeout = 3 * time.Minute

// command prepares the uptick binary (or, with wrap, a wrapper such as
// strace running it) with env added to a clean environment.
func command(ctx context.Context, env []string, wrap []string, args ...string) *exec.Cmd {
	argv := append(append(append([]string{}, wrap...), uptickBin), args...)
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = append(baseEnv(), env...)
	cmd.WaitDelay = 5 * time.Second
	return cmd
}

// baseEnv is the environment every uptick process starts from: the test
// process's, minus what would make a run depend on the machine.
func baseEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		switch {
		case strings.HasPrefix(name, "GIT_"), strings.HasPrefix(name, "UPTICK_"), name == "TMPDIR", name == "SSH_AUTH_SOCK":
			continue
		}
		env = append(env, kv)
	}
	return env
}

// uptick runs the binary with args and env and waits for it.
func uptick(t testing.TB, env []string, args ...string) result {
	t.Helper()
	return runWrapped(t, env, nil, args...)
}

// runWrapped runs the binary under wrap (e.g. strace …) and waits for it.
func runWrapped(t testing.TB, env, wrap []string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), procTimeout)
	defer cancel()
	cmd := command(ctx, env, wrap, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	res := result{args: args, stdout: stdout.String(), stderr: stderr.String(), took: time.Since(start)}
	res.code, res.signal = exitStatus(cmd, err)
	if ctx.Err() != nil {
		t.Errorf("still running after %s, killed:\n%s", procTimeout, res)
	}
	return res
}

// exitStatus reads the exit code or killing signal of a finished command.
func exitStatus(cmd *exec.Cmd, err error) (int, syscall.Signal) {
	var exitErr *exec.ExitError
	if err != nil && !errors.As(err, &exitErr) {
		return -1, 0
	}
	if cmd.ProcessState == nil {
		return -1, 0
	}
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return -1, ws.Signal()
	}
	return cmd.ProcessState.ExitCode(), 0
}
