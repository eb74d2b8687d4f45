package gitops

import (
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/uptick-gitops/uptick/internal/testserver"
)

// gitEnv isolates the git CLI used by tests from the machine's config.
func gitEnv(extra ...string) []string {
	env := append(os.Environ(),
		"GIT_CONFIG_GLOBAL=/dev/null",
		"GIT_CONFIG_NOSYSTEM=1",
		"GIT_AUTHOR_NAME=Fixture",
		"GIT_AUTHOR_EMAIL=fixture@example.org",
		"GIT_COMMITTER_NAME=Fixture",
		"GIT_COMMITTER_EMAIL=fixture@example.org",
		"GIT_TERMINAL_PROMPT=0",
	)
	return append(env, extra...)
}

// gitRun runs the git CLI (tests only) in dir and returns its stdout.
func gitRun(t testing.TB, dir string, env []string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = gitEnv(env...)
	out, err := cmd.Output()
	if err != nil {
		stderr := ""
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = string(ee.Stderr)
		}
		t.Fatalf("git %s: %v\n%s%s", strings.Join(args, " "), err, out, stderr)
	}
	return string(out)
}

// fixtureFiles is the fleet repository every test starts from.
func fixtureFiles() map[string]string {
	return map[string]string{
		"clusters/prod/podinfo.yaml": `apiVersion: apps/v1
kind: Deployment
metadata:
  name: podinfo
  namespace: apps
spec:
  template:
    spec:
      containers:
        - name: podinfo
          image: ghcr.io/stefanprodan/podinfo:6.5.0 # {"$imagepolicy": "podinfo"}
`,
		"clusters/prod/redis.yaml": `apiVersion: apps/v1
kind: Deployment
metadata:
  name: redis
  namespace: apps
spec:
  template:
    spec:
      containers:
        - name: redis
          image: redis:7.2.0 # {"$imagepolicy": "redis"}
`,
		"README.md": "fleet\n",
	}
}

// newBareRepo creates root/name.git with one commit of files on main.
func newBareRepo(t testing.TB, root, name string, files map[string]string) string {
	t.Helper()
	work := t.TempDir()
	gitRun(t, work, nil, "init", "-q", "-b", "main")
	writeFiles(t, work, files)
	gitRun(t, work, nil, "add", "-A")
	gitRun(t, work, nil, "commit", "-q", "-m", "initial")
	bare := filepath.Join(root, name+".git")
	gitRun(t, root, nil, "clone", "-q", "--bare", work, bare)
	return bare
}

func writeFiles(t testing.TB, dir string, files map[string]string) {
	t.Helper()
	for p, content := range files {
		full := filepath.Join(dir, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// pushFromElsewhere commits files to branch of bare from an independent
// clone, the way a colleague (or another uptick run) would.
func pushFromElsewhere(t testing.TB, bare, branch string, files map[string]string, msg string) string {
	t.Helper()
	work := t.TempDir()
	gitRun(t, work, nil, "clone", "-q", "-b", branch, bare, ".")
	writeFiles(t, work, files)
	gitRun(t, work, nil, "add", "-A")
	gitRun(t, work, nil, "commit", "-q", "-m", msg)
	gitRun(t, work, nil, "push", "-q", "origin", branch)
	return strings.TrimSpace(gitRun(t, work, nil, "rev-parse", "HEAD"))
}

// revParse resolves rev in the bare repository.
func revParse(t testing.TB, bare, rev string) string {
	t.Helper()
	return strings.TrimSpace(gitRun(t, bare, nil, "rev-parse", "--verify", "-q", rev))
}

// serveGit serves the bare repositories under root with the real
// `git http-backend` on 127.0.0.1, push enabled. With a non-empty user it
// requires that basic-auth user and password.
func serveGit(t testing.TB, root, user, password string) *httptest.Server {
	t.Helper()
	return testserver.GitHTTP(t, root, testserver.GitHTTPOptions{User: user, Password: password})
}

// readFile returns a file of the work tree.
func readFile(t testing.TB, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// message renders the default commit message for changes.
func message(t testing.TB, changes ...Change) string {
	t.Helper()
	msg, err := RenderMessage("", changes)
	if err != nil {
		t.Fatal(err)
	}
	return msg
}

// TestMain installs the in-process file:// transport, as main does. In
// a crash child (crash_test.go) it is one run instead of the tests.
func TestMain(m *testing.M) {
	InstallFileTransport()
	if os.Getenv(crashChildEnv) == "1" {
		os.Exit(crashChild())
	}
	os.Exit(m.Run())
}

// execGit returns the git CLI command for args in dir, isolated like gitRun.
func execGit(dir string, args ...string) *exec.Cmd {
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = gitEnv()
	return cmd
}
