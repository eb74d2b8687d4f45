package e2e

import (
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// fleet is a bare Git repository holding one manifest per app, each with
// a setter marker for its own image, and an in-process registry (ggcr)
// holding tag 1.0.0 of every app's image. Every request the registry
// answers is counted.
type fleet struct {
	t    *testing.T
	dir  string
	apps int
	// bare is the remote: a bare repository on branch main.
	bare string
	// seed is the remote's first commit.
	seed string
	// host is the registry's host:port.
	host string
	// registryRequests counts every request the registry received.
	registryRequests atomic.Int64
}

// newFleet seeds a registry and a bare repository for apps apps.
func newFleet(t *testing.T, apps int) *fleet {
	t.Helper()
	f := &fleet{t: t, dir: t.TempDir(), apps: apps}
	reg := registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.registryRequests.Add(1)
		reg.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	f.host = strings.TrimPrefix(srv.URL, "http://")
	for app := range apps {
		f.pushTag(app, "1.0.0")
	}

	f.bare = filepath.Join(f.dir, "remote", "fleet.git")
	seed := filepath.Join(f.dir, "seed")
	gitCLI(t, "", "init", "-q", "--bare", "-b", "main", f.bare)
	gitCLI(t, "", "init", "-q", "-b", "main", seed)
	writeFile(t, filepath.Join(seed, "README.md"), "The e2e fleet.\n")
	for app := range apps {
		writeFile(t, filepath.Join(seed, filepath.FromSlash(f.file(app))), f.manifest(app, "1.0.0"))
	}
	gitCLI(t, seed, "add", ".")
	gitCLI(t, seed, "commit", "-q", "-m", "seed the fleet")
	gitCLI(t, seed, "push", "-q", f.bare, "main")
	f.seed = f.git("rev-parse", "main")
	return f
}

// image is app's image repository.
func (f *fleet) image(app int) string { return fmt.Sprintf("%s/e2e/app%d", f.host, app) }

// file is app's manifest, relative to the repository root.
func (f *fleet) file(app int) string { return fmt.Sprintf("apps/app%d/deployment.yaml", app) }

// manifest is app's manifest with its image at tag.
func (f *fleet) manifest(app int, tag string) string {
	return fmt.Sprintf(`apiVersion: apps/v1
kind: Deployment
metadata:
  name: app%d
spec:
  template:
    spec:
      containers:
        - name: app
          image: %s:%s # {"$imagepolicy": "app%d"}
`, app, f.image(app), tag, app)
}

// pushTag pushes a small random image as app:tag.
func (f *fleet) pushTag(app int, tag string) {
	f.t.Helper()
	img, err := random.Image(64, 1)
	if err != nil {
		f.t.Fatal(err)
	}
	ref, err := name.NewTag(f.image(app)+":"+tag, name.Insecure)
	if err != nil {
		f.t.Fatal(err)
	}
	if err := remote.Write(ref, img); err != nil {
		f.t.Fatalf("pushing %s: %v", ref, err)
	}
}

// configSpec is what varies between the configs tests write.
type configSpec struct {
	url     string   // git.url; default file://<bare>
	auth    string   // git.auth as a YAML flow map, if any
	signing string   // git.commit.signingKey as a YAML flow map, if any
	push    string   // extra git.push keys, as "key: value" lines
	apps    []int    // images configured; default all
	images  []string // further images: YAML flow maps under images:
	hosts   []string // further plain-HTTP registries (scan.insecure)
	extra   []string // further top-level lines
}

// writeConfig writes an uptick config for spec and returns its path.
func (f *fleet) writeConfig(file string, spec configSpec) string {
	f.t.Helper()
	url := spec.url
	if url == "" {
		url = "file://" + f.bare
	}
	var b strings.Builder
	fmt.Fprintf(&b, "git:\n  url: %s\n", url)
	if spec.auth != "" {
		fmt.Fprintf(&b, "  auth: %s\n", spec.auth)
	}
	b.WriteString("  commit:\n    author: {name: uptick-e2e, email: e2e@uptick.invalid}\n")
	if spec.signing != "" {
		fmt.Fprintf(&b, "    signingKey: %s\n", spec.signing)
	}
	if spec.push != "" {
		b.WriteString("  push:\n")
		for _, line := range strings.Split(strings.TrimSpace(spec.push), "\n") {
			fmt.Fprintf(&b, "    %s\n", line)
		}
	}
	apps := spec.apps
	if apps == nil {
		for app := range f.apps {
			apps = append(apps, app)
		}
	}
	b.WriteString("images:\n")
	var paths []string
	for _, app := range apps {
		fmt.Fprintf(&b, "  - name: app%d\n    repository: %s\n    policy: {semver: {range: \">=1.0.0\"}}\n", app, f.image(app))
		paths = append(paths, filepath.Dir(f.file(app)))
	}
	for _, img := range spec.images {
		fmt.Fprintf(&b, "  - %s\n", img)
	}
	// Listed as insecure because they serve plain HTTP, whatever the
	// scanner's default for loopback addresses.
	insecure := []string{strconv.Quote(f.host)}
	for _, h := range spec.hosts {
		insecure = append(insecure, strconv.Quote(h))
	}
	fmt.Fprintf(&b, "scan:\n  insecure: [%s]\n", strings.Join(insecure, ", "))
	fmt.Fprintf(&b, "update:\n  paths: [%s]\n", strings.Join(paths, ", "))
	for _, line := range spec.extra {
		b.WriteString(line + "\n")
	}
	path := filepath.Join(f.dir, file)
	writeFile(f.t, path, b.String())
	return path
}

// git runs the git CLI on the bare remote.
func (f *fleet) git(args ...string) string {
	f.t.Helper()
	return gitCLI(f.t, "", append([]string{"--git-dir", f.bare}, args...)...)
}

// tagOnRemote returns the tag app's manifest holds on the remote's main.
func (f *fleet) tagOnRemote(app int) string {
	f.t.Helper()
	content := f.git("show", "main:"+f.file(app))
	m := regexp.MustCompile(`image: \S+:(\S+) #`).FindStringSubmatch(content)
	if m == nil {
		f.t.Fatalf("%s on the remote has no marked image:\n%s", f.file(app), content)
	}
	return m[1]
}

// change is one image update as a commit on the remote shows it.
type change struct {
	app int
	tag string
}

// history reads the remote's main from the seed on: for every commit, the
// image changes it made (the marked lines it added). It fails the test if
// main does not descend from the seed.
func (f *fleet) history() (commits []string, changes map[string][]change) {
	f.t.Helper()
	if _, err := gitCLIErr("", "--git-dir", f.bare, "merge-base", "--is-ancestor", f.seed, "main"); err != nil {
		f.t.Fatalf("the remote's main no longer descends from the seed commit %s: history was rewritten", f.seed)
	}
	out := f.git("log", "--format=commit %H", "-U0", "--no-color", f.seed+"..main")
	added := regexp.MustCompile(`^\+\s+image: \S+/e2e/app(\d+):(\S+) #`)
	changes = map[string][]change{}
	var cur string
	for _, line := range strings.Split(out, "\n") {
		if sha, ok := strings.CutPrefix(line, "commit "); ok {
			cur = sha
			commits = append(commits, sha)
			continue
		}
		if m := added.FindStringSubmatch(line); m != nil {
			app, _ := strconv.Atoi(m[1])
			changes[cur] = append(changes[cur], change{app, m[2]})
		}
	}
	return commits, changes
}

// newCommits counts the commits on the remote's main after base.
func (f *fleet) newCommits(base string) int {
	f.t.Helper()
	n, err := strconv.Atoi(f.git("rev-list", "--count", base+"..main"))
	if err != nil {
		f.t.Fatal(err)
	}
	return n
}

// gitEnv isolates the git CLI the tests run from the machine's config.
var gitEnv = []string{
	"GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1",
	"GIT_AUTHOR_NAME=e2e", "GIT_AUTHOR_EMAIL=e2e@example.org",
	"GIT_COMMITTER_NAME=e2e", "GIT_COMMITTER_EMAIL=e2e@example.org",
}

// gitCLI runs git in dir and returns its trimmed output, failing the test
// on error.
func gitCLI(t testing.TB, dir string, args ...string) string {
	t.Helper()
	out, err := gitCLIErr(dir, args...)
	if err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

func gitCLIErr(dir string, args ...string) (string, error) {
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(baseEnv(), gitEnv...)
	out, err := cmd.CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

func writeFile(t testing.TB, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}
