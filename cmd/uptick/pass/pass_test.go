package pass

import (
	"context"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/registry"

	"github.com/uptick-gitops/uptick/cmd/uptick/config"
	"github.com/uptick-gitops/uptick/cmd/uptick/demo"
	"github.com/uptick-gitops/uptick/gitops"
	"github.com/uptick-gitops/uptick/update"
)

// fixture is the demo fleet: an in-process registry and a bare repository
// on disk, and a config naming both.
type fixture struct {
	host, remote string
	cfg          *config.Config
}

// newFixture writes a config with extra images after the demo's; insecure
// lists further plain-HTTP registries beside the fixture's own.
func newFixture(t *testing.T, extra string, insecure ...string) *fixture {
	t.Helper()
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(srv.Close)
	f := &fixture{host: strings.TrimPrefix(srv.URL, "http://"), remote: filepath.Join(t.TempDir(), "fleet.git")}
	if err := demo.SeedRegistry(context.Background(), f.host); err != nil {
		t.Fatal(err)
	}
	if err := demo.SeedFleet(f.remote, f.host); err != nil {
		t.Fatal(err)
	}
	text := fmt.Sprintf(`git: {url: 'file://%s'}
images:
  - {name: 'demo:podinfo', repository: %s/demo/podinfo, policy: {semver: {range: '^6.x'}}}
  - {name: 'demo:redis', repository: %s/demo/redis, policy: {semver: {range: '~7.2'}}, exclude: ['-alpine$']}
%sscan: {insecure: [%s]}
`, f.remote, f.host, f.host, extra, strings.Join(append([]string{f.host}, insecure...), ", "))
	cfg, err := config.Parse("uptick.yaml", []byte(text))
	if err != nil {
		t.Fatal(err)
	}
	f.cfg = cfg
	return f
}

func (f *fixture) git(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command("git", append([]string{"--git-dir", f.remote}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("git %v: %v\n%s", args, err, out)
	}
	return strings.TrimSpace(string(out))
}

func TestRunPublishes(t *testing.T) {
	f := newFixture(t, "")
	base := f.git(t, "rev-parse", "main")
	res := Run(context.Background(), f.cfg, Options{})
	if err := res.Err(); err != nil {
		t.Fatal(err)
	}
	type chosen struct{ Name, Image string }
	var got []chosen
	for _, img := range res.Images {
		got = append(got, chosen{img.Name, img.Chosen.String()})
	}
	want := []chosen{{"demo:podinfo", f.host + "/demo/podinfo:6.5.3"}, {"demo:redis", f.host + "/demo/redis:7.2.5"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("chosen images (-want +got):\n%s", diff)
	}
	if len(res.Attempts) != 1 {
		t.Fatalf("%d attempts, want 1", len(res.Attempts))
	}
	a := res.Last()
	if !res.Pushed() || a.Base != base || a.Commit != f.git(t, "rev-parse", "main") || !strings.HasPrefix(a.Message, "chore(images): update 2 images") {
		t.Errorf("attempt = %+v; remote main %s, base was %s", a, f.git(t, "rev-parse", "main"), base)
	}
	if diff := cmp.Diff(map[string][]string{"demo:podinfo": {f.host + "/demo/podinfo:6.4.0", "6.4.0"}, "demo:redis": {"7.2.4"}}, res.Previous()); diff != "" {
		t.Errorf("previous values (-want +got):\n%s", diff)
	}
	if res.Durations.Total <= 0 || res.Durations.Checkout <= 0 || res.Durations.Push <= 0 {
		t.Errorf("durations not measured: %+v", res.Durations)
	}

	again := Run(context.Background(), f.cfg, Options{})
	if err := again.Err(); err != nil || again.Last().Commit != "" || len(again.Last().Update.Files) != 0 {
		t.Errorf("second pass: err %v, attempt %+v", err, again.Last())
	}
}

func TestRunPlanWritesNothing(t *testing.T) {
	f := newFixture(t, "")
	head := f.git(t, "rev-parse", "main")
	res := Run(context.Background(), f.cfg, Options{Until: Plan})
	a := res.Last()
	if res.Err() != nil || !res.DryRun || a == nil || a.Commit != "" || len(a.Update.Files) != 3 || a.Message == "" {
		t.Fatalf("plan: err %v, attempt %+v", res.Err(), a)
	}
	if got := f.git(t, "rev-parse", "main"); got != head {
		t.Errorf("plan moved main from %s to %s", head, got)
	}
}

// TestRunMaxFileSize: update.maxFileSize reaches the update stage; every
// marked file of the demo fleet is larger than 10 bytes and left alone.
func TestRunMaxFileSize(t *testing.T) {
	f := newFixture(t, "update: {maxFileSize: 10}\n")
	a := Run(context.Background(), f.cfg, Options{Until: Plan}).Last()
	if a == nil || len(a.Update.Files) != 0 || len(a.Update.Warnings) != 3 {
		t.Fatalf("attempt %+v, want no file and 3 warnings", a)
	}
	for _, w := range a.Update.Warnings {
		if !strings.Contains(w.Message, "larger than the 10-byte limit") {
			t.Errorf("warning %v does not name the limit", w)
		}
	}
}

// TestRunTimeoutKeepsWhatWasChosen: a registry that never answers runs the
// pass into --timeout, yet the image chosen from the healthy registry is
// still committed and pushed, because commit and push keep a share of the
// time; the stuck image is named with the cause.
func TestRunTimeoutKeepsWhatWasChosen(t *testing.T) {
	hung := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }))
	t.Cleanup(hung.Close)
	f := newFixture(t, fmt.Sprintf("  - {name: stuck, repository: %s/stuck/app, policy: {semver: {range: '*'}}}\n", strings.TrimPrefix(hung.URL, "http://")), strings.TrimPrefix(hung.URL, "http://"))
	res := Run(context.Background(), f.cfg, Options{Timeout: 6 * time.Second})
	if !res.Pushed() {
		t.Fatalf("nothing pushed: %v", res.Err())
	}
	errs := res.Errors()
	if len(errs) != 1 || errs[0].Image != "stuck" || !strings.Contains(errs[0].Error(), "pass timed out after 6s (--timeout)") {
		t.Errorf("errors = %v, want the stuck image, naming --timeout", errs)
	}
	if !strings.Contains(f.git(t, "show", "main:clusters/prod/redis/values.yaml"), `tag: "7.2.5"`) {
		t.Error("the healthy image was not pushed")
	}
}

func TestRunCheckoutFailureIsFatal(t *testing.T) {
	f := newFixture(t, "")
	f.cfg.Git.URL = "file://" + filepath.Join(t.TempDir(), "missing.git")
	res := Run(context.Background(), f.cfg, Options{})
	if res.Fatal == nil || res.Fatal.Step != StepCheckout || len(res.Images) != 0 || len(res.Attempts) != 0 {
		t.Fatalf("result = %+v, want a fatal checkout problem and nothing else", res)
	}
	if got := res.Errors(); len(got) != 1 || got[0] != res.Fatal {
		t.Errorf("errors = %v, want only the fatal one", got)
	}
}

func TestUpdateLocal(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "app.yaml")
	if err := os.WriteFile(file, []byte("image: r.example/app:1.0.0 # {\"$imagepolicy\": \"app\"}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	images := map[update.PolicyRef]update.Image{{Name: "app"}: {Repository: "r.example/app", Tag: "1.1.0"}}
	// One byte short of the file: left alone, with the limit named.
	small := Update(context.Background(), dir, images, false, 52)
	if w := small.Last().Update.Warnings; small.Err() != nil || len(small.Last().Update.Files) != 0 || len(w) != 1 || !strings.Contains(w[0].Message, "larger than the 52-byte limit") {
		t.Fatalf("update under a 52-byte limit: %v %+v", small.Err(), small.Last().Update)
	}
	res := Update(context.Background(), dir, images, false, 53)
	if res.Err() != nil || res.Until != Local || len(res.Last().Update.Files) != 1 {
		t.Fatalf("update: %v %+v", res.Err(), res.Last())
	}
	if got, _ := os.ReadFile(file); string(got) != "image: r.example/app:1.1.0 # {\"$imagepolicy\": \"app\"}\n" {
		t.Errorf("file = %q", got)
	}
	missing := Update(context.Background(), filepath.Join(dir, "nope"), images, false, 0)
	if missing.Fatal == nil || !strings.Contains(missing.Fatal.Error(), "nope") {
		t.Errorf("missing dir: fatal = %v", missing.Fatal)
	}
}

func TestMain(m *testing.M) {
	gitops.InstallFileTransport()
	os.Exit(m.Run())
}
