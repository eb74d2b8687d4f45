package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/uptick-gitops/uptick"
	"github.com/uptick-gitops/uptick/cmd/uptick/demo"
	"github.com/uptick-gitops/uptick/cmd/uptick/output"
	"github.com/uptick-gitops/uptick/gitops"
	"github.com/uptick-gitops/uptick/internal/testserver"
)

// TestMain lets a test re-execute this binary as the uptick command, so the
// signal handling in main is tested on a real process.
func TestMain(m *testing.M) {
	if os.Getenv("UPTICK_TEST_AS_MAIN") == "1" {
		main()
		return
	}
	gitops.InstallFileTransport()
	os.Exit(kube.Run(m, testserver.KubeOptions{}))
}

// fleet is a real registry (in-process) and a real bare Git repository
// seeded with the demo fleet, plus a config file pointing at both.
type fleet struct {
	t      *testing.T
	dir    string
	host   string
	remote string
	config string
}

func newFleet(t *testing.T, extraConfig string) *fleet {
	t.Helper()
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(srv.Close)
	f := &fleet{t: t, dir: t.TempDir(), host: strings.TrimPrefix(srv.URL, "http://")}
	if err := demo.SeedRegistry(context.Background(), f.host); err != nil {
		t.Fatal(err)
	}
	f.remote = filepath.Join(f.dir, "fleet.git")
	if err := demo.SeedFleet(f.remote, f.host); err != nil {
		t.Fatal(err)
	}
	f.writeConfig(extraConfig)
	return f
}

func (f *fleet) writeConfig(extra string) {
	f.t.Helper()
	cfg := fmt.Sprintf(`git:
  url: file://%s
  commit:
    author: {name: uptick-test, email: test@uptick.invalid}
scan: {insecure: [%q]}
images:
  - name: demo:podinfo
    repository: %s/demo/podinfo
    policy: {semver: {range: "^6.x"}}
  - name: demo:redis
    repository: %s/demo/redis
    policy: {semver: {range: "~7.2"}}
    exclude: ['-alpine$']
%s`, f.remote, f.host, f.host, f.host, extra)
	f.config = filepath.Join(f.dir, "uptick.yaml")
	if err := os.WriteFile(f.config, []byte(cfg), 0o644); err != nil {
		f.t.Fatal(err)
	}
}

// addInsecure lists host, a further plain-HTTP registry, in the config's
// scan.insecure.
func (f *fleet) addInsecure(host string) {
	f.t.Helper()
	cfg, err := os.ReadFile(f.config)
	if err != nil {
		f.t.Fatal(err)
	}
	cfg = []byte(strings.Replace(string(cfg), "scan: {insecure: [", fmt.Sprintf("scan: {insecure: [%q, ", host), 1))
	if err := os.WriteFile(f.config, cfg, 0o644); err != nil {
		f.t.Fatal(err)
	}
}

func (f *fleet) push(repo, tag string) {
	f.t.Helper()
	img, err := random.Image(256, 1)
	if err != nil {
		f.t.Fatal(err)
	}
	ref, err := name.ParseReference(f.host + "/" + repo + ":" + tag)
	if err != nil {
		f.t.Fatal(err)
	}
	if err := remote.Write(ref, img); err != nil {
		f.t.Fatal(err)
	}
}

// git runs the real git CLI against the bare remote.
func (f *fleet) git(args ...string) string {
	f.t.Helper()
	out, err := exec.Command("git", append([]string{"--git-dir", f.remote}, args...)...).CombinedOutput()
	if err != nil {
		f.t.Fatalf("git %v: %v\n%s", args, err, out)
	}
	return strings.TrimSpace(string(out))
}

// fixture returns a demo fleet file as the seeded remote holds it.
func (f *fleet) fixture(p string) string {
	f.t.Helper()
	data, err := uptick.DemoFleet.ReadFile("testdata/demo/fleet/" + p)
	if err != nil {
		f.t.Fatal(err)
	}
	return strings.ReplaceAll(string(data), "127.0.0.1:5000", f.host)
}

type result struct {
	stdout, stderr string
	code           int
}

// uptick runs the CLI in-process, as main would, and returns its output and
// exit code.
func uptickCmd(ctx context.Context, env map[string]string, args ...string) result {
	return uptickCmdIn(ctx, "", env, args...)
}

// uptickCmdIn is uptickCmd with stdin.
func uptickCmdIn(ctx context.Context, stdin string, env map[string]string, args ...string) result {
	var out, errOut bytes.Buffer
	cmd := newCmdRoot(ioStreams{In: strings.NewReader(stdin), Out: &out, Err: &errOut}, func(k string) string { return env[k] })
	cmd.SetArgs(args)
	code := exitCode(ctx, &errOut, cmd.ExecuteContext(ctx))
	return result{stdout: out.String(), stderr: errOut.String(), code: code}
}

func (f *fleet) uptick(args ...string) result {
	return uptickCmd(context.Background(), nil, args...)
}

func decodeReport(t *testing.T, s string) output.Document {
	t.Helper()
	var rep output.Document
	if err := json.Unmarshal([]byte(s), &rep); err != nil {
		t.Fatalf("decoding JSON summary: %v\n%s", err, s)
	}
	return rep
}

func TestRunCommitsPushesAndIsIdempotent(t *testing.T) {
	f := newFleet(t, "")
	before := f.git("rev-parse", "main")

	res := f.uptick("run", "--config", f.config, "--output", "json")
	if res.code != 0 {
		t.Fatalf("run exited %d\nstdout:\n%s\nstderr:\n%s", res.code, res.stdout, res.stderr)
	}
	rep := decodeReport(t, res.stdout)
	type img struct{ Name, Tag, Image string }
	var gotImgs []img
	for _, i := range rep.Images {
		gotImgs = append(gotImgs, img{i.Name, i.Tag, i.Image})
	}
	wantImgs := []img{
		{"demo:podinfo", "6.5.3", f.host + "/demo/podinfo:6.5.3"},
		{"demo:redis", "7.2.5", f.host + "/demo/redis:7.2.5"},
	}
	if diff := cmp.Diff(wantImgs, gotImgs); diff != "" {
		t.Errorf("images (-want +got):\n%s", diff)
	}
	wantFiles := []string{"clusters/prod/podinfo/deployment.yaml", "clusters/prod/redis/values.yaml", "clusters/staging/kustomization.yaml"}
	if diff := cmp.Diff(wantFiles, rep.FilesChanged); diff != "" {
		t.Errorf("files changed (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{f.host + "/demo/podinfo:6.4.0", "6.4.0"}, rep.Images[0].Previous); diff != "" {
		t.Errorf("podinfo previous values (-want +got):\n%s", diff)
	}
	head := f.git("rev-parse", "main")
	if !rep.Pushed || rep.Commit != head || f.git("rev-parse", "main^") != before {
		t.Fatalf("remote main = %s (parent %s), report commit %s pushed=%v, want a new commit on %s", head, f.git("rev-parse", "main^"), rep.Commit, rep.Pushed, before)
	}

	// Byte-exact: the remote file is the fixture with only the marked value changed.
	want := strings.Replace(f.fixture("clusters/prod/podinfo/deployment.yaml"), "podinfo:6.4.0 #", "podinfo:6.5.3 #", 1)
	if diff := cmp.Diff(want, f.git("show", "main:clusters/prod/podinfo/deployment.yaml")+"\n"); diff != "" {
		t.Errorf("deployment.yaml on the remote (-want +got):\n%s", diff)
	}
	msg := f.git("log", "-1", "--format=%an <%ae>%n%B", "main")
	for _, w := range []string{"uptick-test <test@uptick.invalid>", "demo:redis: 7.2.4 -> 7.2.5 in clusters/prod/redis/values.yaml"} {
		if !strings.Contains(msg, w) {
			t.Errorf("commit message/author %q lacks %q", msg, w)
		}
	}

	// A second run with nothing new makes no commit and says so.
	res = f.uptick("run", "--config", f.config)
	if res.code != 0 || !strings.Contains(res.stdout, "up to date: nothing to change, no commit made") {
		t.Fatalf("second run: exit %d\n%s\n%s", res.code, res.stdout, res.stderr)
	}
	if got := f.git("rev-parse", "main"); got != head {
		t.Errorf("second run moved main from %s to %s", head, got)
	}

	// A new tag in range is picked up by the next run.
	f.push("demo/podinfo", "6.5.4")
	res = f.uptick("run", "--config", f.config, "-o", "json")
	rep = decodeReport(t, res.stdout)
	if res.code != 0 || rep.Images[0].Tag != "6.5.4" || f.git("rev-parse", "main^") != head {
		t.Fatalf("third run: exit %d, podinfo %q\n%s", res.code, rep.Images[0].Tag, res.stderr)
	}
}

func TestRunWorkdirIsReused(t *testing.T) {
	f := newFleet(t, "")
	work := filepath.Join(f.dir, "cache")
	if res := f.uptick("run", "--config", f.config, "--workdir", work); res.code != 0 {
		t.Fatalf("run: %d\n%s", res.code, res.stderr)
	}
	if _, err := os.Stat(filepath.Join(work, "repo", "clusters/prod/podinfo/deployment.yaml")); err != nil {
		t.Fatalf("workdir not kept: %v", err)
	}
	f.push("demo/redis", "7.2.9")
	res := f.uptick("run", "--config", f.config, "--workdir", work, "-o", "json")
	if rep := decodeReport(t, res.stdout); res.code != 0 || rep.Images[1].Tag != "7.2.9" || !rep.Pushed {
		t.Fatalf("second run with the cache: exit %d, %+v\n%s", res.code, rep, res.stderr)
	}
}

func TestRunPushesToEnvironmentBranch(t *testing.T) {
	f := newFleet(t, "")
	f.writeConfig("")
	cfg, _ := os.ReadFile(f.config)
	cfg = bytes.Replace(cfg, []byte("  commit:"), []byte("  push: {branch: env/prod}\n  commit:"), 1)
	if err := os.WriteFile(f.config, cfg, 0o644); err != nil {
		t.Fatal(err)
	}
	main := f.git("rev-parse", "main")
	if res := f.uptick("run", "--config", f.config); res.code != 0 {
		t.Fatalf("run: %d\n%s\n%s", res.code, res.stdout, res.stderr)
	}
	env := f.git("rev-parse", "env/prod")
	if f.git("rev-parse", "main") != main || f.git("rev-parse", "env/prod^") != main {
		t.Fatalf("env/prod should be one commit on top of main")
	}
	// The next update builds on the existing env branch (a fast-forward).
	f.push("demo/podinfo", "6.6.1")
	if res := f.uptick("run", "--config", f.config); res.code != 0 {
		t.Fatalf("second run: %d\n%s", res.code, res.stderr)
	}
	if got := f.git("rev-parse", "env/prod^"); got != env {
		t.Errorf("env/prod parent = %s, want previous env/prod %s", got, env)
	}
	if !strings.Contains(f.git("show", "env/prod:clusters/staging/kustomization.yaml"), "newTag: 6.6.1 #") {
		t.Errorf("env/prod lacks the new tag")
	}
}

func TestRunContinuesPastAFailingImage(t *testing.T) {
	f := newFleet(t, "")
	cfg, _ := os.ReadFile(f.config)
	cfg = append(cfg, fmt.Sprintf("  - name: ghost\n    repository: %s/demo/ghost\n    policy: {semver: {range: '*'}}\n", f.host)...)
	if err := os.WriteFile(f.config, cfg, 0o644); err != nil {
		t.Fatal(err)
	}
	res := f.uptick("run", "--config", f.config)
	if res.code != exitFailed {
		t.Fatalf("exit %d, want %d\n%s", res.code, exitFailed, res.stdout)
	}
	if !strings.Contains(res.stdout, "image ghost: listing tags of \""+f.host+"/demo/ghost\"") {
		t.Errorf("summary does not name the failing image and repository:\n%s", res.stdout)
	}
	if !strings.Contains(f.git("show", "main:clusters/prod/redis/values.yaml"), `tag: "7.2.5"`) {
		t.Errorf("healthy images were not committed")
	}
}

func TestRunFailures(t *testing.T) {
	f := newFleet(t, "")
	tests := []struct {
		name   string
		config string
		args   []string
		code   int
		want   string
	}{
		{"unknown field", "git: {url: x}\nimgs: []\n", nil, exitBadInput, "imgs: unknown field (line 2)"},
		{"bad range", "git: {url: x}\nimages: [{name: a, repository: r.example/a, policy: {semver: {range: '^^1'}}}]\n", nil, exitBadInput, "images[0] (a).policy.semver.range"},
		{"missing remote repository", fmt.Sprintf("git: {url: 'file://%s/nope.git'}\nimages: [{name: a, repository: %s/demo/podinfo, policy: {semver: {range: '*'}}}]\n", f.dir, f.host), nil, exitBadInput, "nope.git: repository not found"},
		{"unreachable remote", fmt.Sprintf("git: {url: 'http://%s/fleet.git'}\nimages: [{name: a, repository: %s/demo/podinfo, policy: {semver: {range: '*'}}}]\n", closedAddr(t), f.host), nil, exitFailed, "connection refused"},
		{"bad flag", "", []string{"--bogus"}, exitBadInput, "unknown flag: --bogus"},
		{"bad output", "", []string{"-o", "yaml"}, exitBadInput, `--output: unknown format "yaml"`},
		{"bad schedule", "", []string{"--schedule", "soon"}, exitBadInput, `--schedule: invalid cron schedule "soon"`},
		{"positional args", "", []string{"extra"}, exitBadInput, "takes no arguments"},
		{"daemon without schedule", "", []string{"--daemon"}, exitBadInput, "has no schedule"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := f.config
			if tt.config != "" {
				cfg = filepath.Join(t.TempDir(), "c.yaml")
				if err := os.WriteFile(cfg, []byte(tt.config), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			res := f.uptick(append([]string{"run", "--config", cfg}, tt.args...)...)
			if res.code != tt.code || !strings.Contains(res.stderr+res.stdout, tt.want) {
				t.Errorf("exit %d (want %d); output lacks %q:\nstdout:\n%s\nstderr:\n%s", res.code, tt.code, tt.want, res.stdout, res.stderr)
			}
		})
	}
}

func TestPlanShowsTheDiffAndWritesNothing(t *testing.T) {
	f := newFleet(t, "")
	head := f.git("rev-parse", "main")
	res := f.uptick("plan", "--config", f.config)
	if res.code != 0 {
		t.Fatalf("plan: %d\n%s", res.code, res.stderr)
	}
	for _, w := range []string{
		"--- a/clusters/prod/redis/values.yaml\n+++ b/clusters/prod/redis/values.yaml\n",
		"-  tag: \"7.2.4\" # {\"$imagepolicy\": \"demo:redis:tag\"}\n+  tag: \"7.2.5\" # {\"$imagepolicy\": \"demo:redis:tag\"}\n",
		"commit message:\n  chore(images): update 2 images",
		"plan: 3 files would change on main; nothing was written",
	} {
		if !strings.Contains(res.stdout, w) {
			t.Errorf("plan output lacks %q:\n%s", w, res.stdout)
		}
	}
	if got := f.git("rev-parse", "main"); got != head {
		t.Errorf("plan moved main")
	}
}

func TestScanAndPolicyCommands(t *testing.T) {
	f := newFleet(t, "")
	res := f.uptick("scan", "--config", f.config, "-o", "json")
	rep := decodeReport(t, res.stdout)
	if res.code != 0 || len(rep.Images) != 2 || len(rep.Images[0].Tags) != len(demo.Tags["demo/podinfo"]) || rep.Images[0].Tag != "" {
		t.Fatalf("scan: exit %d %+v", res.code, rep.Images)
	}
	res = f.uptick("policy", "--config", f.config)
	if res.code != 0 || !strings.Contains(res.stdout, "demo:redis    "+f.host+"/demo/redis    5     7.2.5") {
		t.Fatalf("policy: exit %d\n%s", res.code, res.stdout)
	}
}

func TestUpdateCommand(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "deploy.yaml")
	const in = "spec:\n  image: r.example/app:1.0.0 # {\"$imagepolicy\": \"flux-system:app\"}\n\n  # keep me\n  tag: 1.0.0 # {\"$imagepolicy\": \"app:tag\"}\n"
	if err := os.WriteFile(file, []byte(in), 0o600); err != nil {
		t.Fatal(err)
	}
	res := uptickCmd(context.Background(), nil, "update", "--path", dir, "--image", "app=r.example/app:1.10", "--dry-run")
	if res.code != 0 || !strings.Contains(res.stdout, "+  tag: \"1.10\"") || !strings.Contains(res.stdout, "dry run: 1 files would change") {
		t.Fatalf("dry run: %d\n%s\n%s", res.code, res.stdout, res.stderr)
	}
	if got, _ := os.ReadFile(file); string(got) != in {
		t.Fatalf("dry run wrote the file")
	}
	res = uptickCmd(context.Background(), nil, "update", "--path", dir, "--image", "app=r.example/app:1.10")
	if res.code != 0 {
		t.Fatalf("update: %d\n%s", res.code, res.stderr)
	}
	want := "spec:\n  image: r.example/app:1.10 # {\"$imagepolicy\": \"flux-system:app\"}\n\n  # keep me\n  tag: \"1.10\" # {\"$imagepolicy\": \"app:tag\"}\n"
	got, _ := os.ReadFile(file)
	if diff := cmp.Diff(want, string(got)); diff != "" {
		t.Errorf("file (-want +got):\n%s", diff)
	}
	if fi, _ := os.Stat(file); fi.Mode().Perm() != 0o600 {
		t.Errorf("mode changed to %v", fi.Mode())
	}

	for _, bad := range [][]string{{"--image", "app"}, {"--image", "app=r.example/app"}, {"--image", "=r.example/app:1"}, {}} {
		res := uptickCmd(context.Background(), nil, append([]string{"update", "--path", dir}, bad...)...)
		if res.code != exitBadInput || !strings.Contains(res.stderr, "--image") {
			t.Errorf("update %v: exit %d, stderr %q", bad, res.code, res.stderr)
		}
	}
}

func TestDemo(t *testing.T) {
	dir := t.TempDir()
	res := uptickCmd(context.Background(), nil, "demo", "--dir", dir)
	if res.code != 0 {
		t.Fatalf("demo: %d\n%s\n%s", res.code, res.stdout, res.stderr)
	}
	for _, w := range []string{"signature: good", "committed ", "up to date: nothing to change, no commit made", "+          image: "} {
		if !strings.Contains(res.stdout, w) {
			t.Errorf("demo output lacks %q", w)
		}
	}
	// The real git and gpg agree the pushed commit is signed by the demo key.
	verifyCommitWithGPG(t, filepath.Join(dir, "fleet.git"), "main", filepath.Join(dir, "signing-key.pub.asc"))
}

// verifyCommitWithGPG checks rev's signature with the real `git
// verify-commit` and a throwaway gpg keyring holding only pubKeyFile.
func verifyCommitWithGPG(t *testing.T, gitDir, rev, pubKeyFile string) {
	t.Helper()
	// gpg-agent's socket path must be short: not under t.TempDir().
	gnupg, err := os.MkdirTemp("/tmp", "gpg")
	if err != nil {
		t.Fatal(err)
	}
	env := append(os.Environ(), "GNUPGHOME="+gnupg)
	t.Cleanup(func() {
		kill := exec.Command("gpgconf", "--kill", "gpg-agent")
		kill.Env = env
		_ = kill.Run()
		os.RemoveAll(gnupg)
	})
	imp := exec.Command("gpg", "--batch", "--import", pubKeyFile)
	imp.Env = env
	if out, err := imp.CombinedOutput(); err != nil {
		t.Fatalf("gpg --import: %v\n%s", err, out)
	}
	verify := exec.Command("git", "--git-dir", gitDir, "verify-commit", rev)
	verify.Env = env
	out, err := verify.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "Good signature") {
		t.Fatalf("git verify-commit %s: %v\n%s", rev, err, out)
	}
}

// TestScheduleStopsOnSIGTERM runs the real binary on a schedule, waits for a
// pass to push, then sends SIGTERM and expects a clean exit.
func TestScheduleStopsOnSIGTERM(t *testing.T) {
	f := newFleet(t, "")
	head := f.git("rev-parse", "main")
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "run", "--config", f.config, "--schedule", "@every 1s", "--log-format", "json")
	cmd.Env = append(os.Environ(), "UPTICK_TEST_AS_MAIN=1")
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = io.Discard, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	deadline := time.Now().Add(60 * time.Second)
	for f.git("rev-parse", "main") == head {
		if time.Now().After(deadline) {
			t.Fatalf("no pass pushed within a minute\n%s", stderr.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	err = cmd.Wait()
	if code := cmd.ProcessState.ExitCode(); code != exitInterrupted {
		t.Fatalf("uptick exited with %v after SIGTERM, want exit code %d\n%s", err, exitInterrupted, stderr.String())
	}
	if !strings.Contains(stderr.String(), "stopping") {
		t.Errorf("no stop message in the log:\n%s", stderr.String())
	}
}

func TestRunFatalFailureOutput(t *testing.T) {
	f := newFleet(t, "")
	missing := filepath.Join(f.dir, "missing.git")
	cfg, _ := os.ReadFile(f.config)
	cfg = bytes.Replace(cfg, []byte("file://"+f.remote), []byte("file://"+missing), 1)
	if err := os.WriteFile(f.config, cfg, 0o644); err != nil {
		t.Fatal(err)
	}

	// The failure is part of the report, once; stderr does not repeat it.
	// A repository that does not exist is a config problem: exit 2.
	res := f.uptick("run", "--config", f.config)
	if res.code != exitBadInput || strings.Count(res.stdout, missing) != 1 || !strings.Contains(res.stdout, "stopped: checkout failed") || strings.Contains(res.stderr, "error:") {
		t.Errorf("text: exit %d, want %d and one error naming %s:\nstdout:\n%s\nstderr:\n%s", res.code, exitBadInput, missing, res.stdout, res.stderr)
	}

	res = f.uptick("run", "--config", f.config, "-o", "json")
	rep := decodeReport(t, res.stdout)
	if res.code != exitBadInput || len(rep.Errors) != 1 || rep.Errors[0].Stage != "checkout" || !strings.Contains(rep.Errors[0].Message, missing) || strings.Contains(res.stderr, "error:") {
		t.Errorf("json: exit %d, errors %+v, stderr:\n%s", res.code, rep.Errors, res.stderr)
	}
}

// TestRunBadInputExits2 covers failures only found mid-pass that retrying
// cannot fix: they exit 2 like a bad config file, and name what to fix.
func TestRunBadInputExits2(t *testing.T) {
	f := newFleet(t, "")
	base, err := os.ReadFile(f.config)
	if err != nil {
		t.Fatal(err)
	}
	pub := filepath.Join(f.dir, "public-only.asc")
	if _, err := demo.WriteKey(filepath.Join(f.dir, "private.asc"), pub); err != nil {
		t.Fatal(err)
	}
	otherRepo := t.TempDir()
	if out, err := exec.Command("git", "init", "-q", otherRepo).CombinedOutput(); err != nil {
		t.Fatalf("git init: %v\n%s", err, out)
	}
	srv := testserver.GitHTTP(t, filepath.Dir(f.remote), testserver.GitHTTPOptions{})
	overHTTP := [2]string{"url: file://" + f.remote, "url: " + srv.URL + "/fleet.git\n  auth: {passwordEnv: UPTICK_TEST_UNSET_TOKEN}"}
	tests := []struct {
		name    string
		replace [2]string // in the config
		extra   string    // appended to the config
		args    []string
		want    string
	}{
		{name: "missing update path", extra: "update: {paths: [clusters/nope]}\n", want: "update.paths"},
		{name: "missing branch", replace: [2]string{"git:\n", "git:\n  branch: nope\n"}, want: "nope"},
		{name: "signing key without a private key", replace: [2]string{"  commit:\n", "  commit:\n    signingKey: {file: " + pub + "}\n"}, want: "commit.signingKey.file: reading signing key " + pub + ": no private signing key"},
		{name: "auth on a local remote", replace: [2]string{"git:\n", "git:\n  auth: {passwordEnv: TOKEN}\n"}, want: "git.auth: not used with local repositories"},
		{name: "credential env var unset", replace: overHTTP, want: "UPTICK_TEST_UNSET_TOKEN"},
		{name: "workdir holds another repository", args: []string{"--workdir", otherRepo}, want: "work directory holds files uptick did not create"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := string(base)
			if tt.replace[0] != "" {
				cfg = strings.Replace(cfg, tt.replace[0], tt.replace[1], 1)
			}
			file := filepath.Join(t.TempDir(), "uptick.yaml")
			if err := os.WriteFile(file, []byte(cfg+tt.extra), 0o644); err != nil {
				t.Fatal(err)
			}
			res := f.uptick(append([]string{"run", "--config", file}, tt.args...)...)
			if res.code != exitBadInput || !strings.Contains(res.stdout+res.stderr, tt.want) {
				t.Errorf("exit %d (want %d); output lacks %q:\nstdout:\n%s\nstderr:\n%s", res.code, exitBadInput, tt.want, res.stdout, res.stderr)
			}
		})
	}
}

// TestRunSkipsMarkersOfAFailedImage: the markers of an image whose registry
// failed this pass are reported as skipped for that reason, not as naming
// an unknown policy, and the other image is still committed.
func TestRunSkipsMarkersOfAFailedImage(t *testing.T) {
	f := newFleet(t, "")
	cfg, _ := os.ReadFile(f.config)
	cfg = bytes.Replace(cfg, []byte("/demo/redis\n"), []byte("/demo/ghost\n"), 1)
	if err := os.WriteFile(f.config, cfg, 0o644); err != nil {
		t.Fatal(err)
	}
	res := f.uptick("run", "--config", f.config, "-o", "json")
	rep := decodeReport(t, res.stdout)
	if res.code != exitFailed || !rep.Pushed {
		t.Fatalf("exit %d pushed %v, want %d and podinfo pushed\n%s", res.code, rep.Pushed, exitFailed, res.stdout)
	}
	var got []string
	for _, w := range rep.Warnings {
		got = append(got, fmt.Sprintf("%s %s:%d %s", w.Stage, w.File, w.Line, w.Message))
	}
	want := []string{fmt.Sprintf(`update clusters/prod/redis/values.yaml:7 skipped: image "demo:redis" was not updated this pass: listing tags of "%s/demo/ghost": GET http://%s/v2/demo/ghost/tags/list: 404 Not Found: NAME_UNKNOWN: Unknown name`, f.host, f.host)}
	if diff := cmp.Diff(want, got, cmp.Comparer(func(a, b string) bool { return strings.HasPrefix(b, a) || strings.HasPrefix(a, b) })); diff != "" {
		t.Errorf("warnings (-want +got):\n%s", diff)
	}
	if len(rep.Errors) != 1 || rep.Errors[0].Stage != "scan" || rep.Errors[0].Image != "demo:redis" {
		t.Errorf("errors = %+v, want one scan error for demo:redis", rep.Errors)
	}
}

// closedAddr returns a loopback address nothing listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}
