package output

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/uptick-gitops/uptick/cmd/uptick/config"
	"github.com/uptick-gitops/uptick/cmd/uptick/pass"
	"github.com/uptick-gitops/uptick/gitops"
	"github.com/uptick-gitops/uptick/scan"
	"github.com/uptick-gitops/uptick/update"
)

// sample is a pass that chose one image, failed another, and pushed on its
// second attempt after losing a race.
func sample() *pass.Result {
	ref := update.PolicyRef{Namespace: "flux-system", Name: "app"}
	return &pass.Result{
		Until:  pass.Publish,
		Branch: "main",
		Images: []pass.Image{
			{Image: config.Image{Name: "flux-system:app", Ref: ref, Repository: "r.example/app"}, TagsListed: 3, TagsDropped: 1, Pages: 1, Requests: 2, Credentials: "docker config /c.json (auths[\"r.example\"])",
				Chosen: update.Image{Repository: "r.example/app", Tag: "1.2.0"}, Selected: true},
			{Image: config.Image{Name: "db", Ref: update.PolicyRef{Name: "db"}, Repository: "r.example/db"},
				Problem: &pass.Problem{Step: pass.StepScan, Image: "db", Err: errors.New(`image db: listing tags of "r.example/db": not found`)}},
		},
		Attempts: []pass.Attempt{
			{Number: 1, Base: "aaa", Commit: "bbb", Problem: &pass.Problem{Step: pass.StepPush, Err: errors.New("push rejected")}},
			{Number: 2, Base: "ccc", Commit: "0123456789abcdef", Pushed: true, Message: "chore(images): update flux-system:app",
				Update: &update.Result{
					Files:    []update.FileChange{{Path: "apps/app.yaml", Before: []byte("image: r.example/app:1.1.0\n"), After: []byte("image: r.example/app:1.2.0\n")}},
					Changes:  []update.Change{{File: "apps/app.yaml", Line: 1, Object: "Deployment/prod/app", Policy: ref, Image: ref, Old: "r.example/app:1.1.0", New: "r.example/app:1.2.0"}},
					Warnings: []update.Warning{{File: "apps/db.yaml", Line: 4, Message: `skipped: image "db" was not updated this pass`}},
				}},
		},
		Durations:  pass.Durations{Scan: 1500 * time.Microsecond, Total: 2 * time.Second},
		Registries: []scan.RegistryStats{{Host: "r.example", Requests: 3, Pings: 1, Pages: 1, Heads: 1}},
	}
}

func TestText(t *testing.T) {
	var b bytes.Buffer
	if err := Text(&b, sample()); err != nil {
		t.Fatal(err)
	}
	want := `IMAGE            REPOSITORY     TAGS  SELECTED
flux-system:app  r.example/app  3     1.2.0
db               r.example/db   0     failed: see errors
flux-system:app: 1 tags left out: not valid OCI tags

changes (1 in 1 files):
  apps/app.yaml:1 Deployment/prod/app
      r.example/app:1.1.0 -> r.example/app:1.2.0

warnings:
  apps/db.yaml:4: skipped: image "db" was not updated this pass

errors:
  image db: listing tags of "r.example/db": not found

committed 0123456789ab and pushed it to main
`
	if diff := cmp.Diff(want, b.String()); diff != "" {
		t.Errorf("text (-want +got):\n%s", diff)
	}
}

func TestJSON(t *testing.T) {
	var b bytes.Buffer
	if err := JSON(&b, "run", sample()); err != nil {
		t.Fatal(err)
	}
	var got Document
	if err := json.Unmarshal(b.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	want := Document{
		SchemaVersion: 1, Command: "run",
		Images: []Image{
			{Name: "flux-system:app", Repository: "r.example/app", TagsListed: 3, TagsDropped: 1, TagPages: 1, Credentials: "docker config /c.json (auths[\"r.example\"])", RegistryRequests: 2, Tag: "1.2.0", Image: "r.example/app:1.2.0", Previous: []string{"r.example/app:1.1.0"}},
			{Name: "db", Repository: "r.example/db", Previous: []string{}, Error: `image db: listing tags of "r.example/db": not found`},
		},
		Changes:      []Change{{File: "apps/app.yaml", Line: 1, Object: "Deployment/prod/app", Policy: "flux-system:app", Image: "flux-system:app", Old: "r.example/app:1.1.0", New: "r.example/app:1.2.0"}},
		FilesChanged: []string{"apps/app.yaml"},
		Warnings:     []Problem{{Stage: "update", File: "apps/db.yaml", Line: 4, Message: `skipped: image "db" was not updated this pass`}},
		Errors:       []Problem{{Stage: "scan", Image: "db", Message: `image db: listing tags of "r.example/db": not found`}},
		Base:         "ccc", Branch: "main", Commit: "0123456789abcdef", Pushed: true, Message: "chore(images): update flux-system:app",
		Attempts:     []Attempt{{Attempt: 1, Base: "aaa", Commit: "bbb", Error: "push rejected"}, {Attempt: 2, Base: "ccc", Commit: "0123456789abcdef", Pushed: true}},
		DurationsMs:  Durations{Scan: 1, Total: 2000},
		PullRequests: []PullRequest{},
		Registries:   []Registry{{Host: "r.example", Requests: 3, Pings: 1, Pages: 1, Heads: 1}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("document (-want +got):\n%s", diff)
	}
}

// prSample is a pass with pull requests, one per image: one opened, one
// left closed by a person, one failed.
func prSample() *pass.Result {
	app := update.PolicyRef{Namespace: "flux-system", Name: "app"}
	ch := update.Change{File: "apps/app.yaml", Line: 1, Object: "Deployment/prod/app", Policy: app, Image: app, Old: "r.example/app:1.1.0", New: "r.example/app:1.2.0"}
	return &pass.Result{
		Until: pass.Publish, Branch: "main",
		Attempts: []pass.Attempt{{Number: 1, Base: "ccc", Update: &update.Result{Changes: []update.Change{ch}, Files: []update.FileChange{{Path: "apps/app.yaml"}}}}},
		PullRequests: []pass.PullRequest{
			{Group: "flux-system:app", Branch: "uptick/flux-system-app", Base: "main", Action: gitops.ActionOpened, Number: 7,
				URL: "https://git.example/o/fleet/pulls/7", State: gitops.PullRequestOpen, Commit: "ddd", Pushed: true, Changes: []update.Change{ch}, Attempts: 1},
			{Group: "db", Branch: "uptick/db", Base: "main", Action: gitops.ActionUnchanged, Number: 5, URL: "https://git.example/o/fleet/pulls/5",
				State: gitops.PullRequestClosed, Note: "closed without merging (#5); not reopened for the same changes", Attempts: 1},
			{Group: "web", Branch: "uptick/web", Base: "main", Attempts: 1,
				Problem: &pass.Problem{Step: pass.StepPullRequest, Err: errors.New("pull request web (branch uptick/web): gitea: 500 Internal Server Error")}},
		},
	}
}

func TestPullRequestReports(t *testing.T) {
	var b bytes.Buffer
	if err := Text(&b, prSample()); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"pull requests:\n" +
			"  flux-system:app: #7 opened https://git.example/o/fleet/pulls/7 (uptick/flux-system-app -> main)\n" +
			"  db: #5 unchanged https://git.example/o/fleet/pulls/5 (uptick/db -> main): closed without merging (#5); not reopened for the same changes\n" +
			"  web: failed: see errors (uptick/web -> main)\n",
		"errors:\n  pull request web (branch uptick/web): gitea: 500 Internal Server Error\n",
		"pull requests: 1 opened, 1 unchanged, 1 failed\n",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("text lacks %q:\n%s", want, b.String())
		}
	}
	b.Reset()
	if err := JSON(&b, "run", prSample()); err != nil {
		t.Fatal(err)
	}
	var got Document
	if err := json.Unmarshal(b.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	want := []PullRequest{
		{Group: "flux-system:app", Branch: "uptick/flux-system-app", Base: "main", Action: "opened", Number: 7, URL: "https://git.example/o/fleet/pulls/7",
			State: "open", Commit: "ddd", Pushed: true, Closed: []int64{},
			Changes: []Change{{File: "apps/app.yaml", Line: 1, Object: "Deployment/prod/app", Policy: "flux-system:app", Image: "flux-system:app", Old: "r.example/app:1.1.0", New: "r.example/app:1.2.0"}}},
		{Group: "db", Branch: "uptick/db", Base: "main", Action: "unchanged", Number: 5, URL: "https://git.example/o/fleet/pulls/5", State: "closed",
			Changes: []Change{}, Closed: []int64{}, Note: "closed without merging (#5); not reopened for the same changes"},
		{Group: "web", Branch: "uptick/web", Base: "main", Changes: []Change{}, Closed: []int64{}, Error: "pull request web (branch uptick/web): gitea: 500 Internal Server Error"},
	}
	if d := cmp.Diff(want, got.PullRequests); d != "" {
		t.Errorf("pullRequests (-want +got):\n%s", d)
	}
	if len(got.Errors) != 1 || got.Errors[0].Stage != "pullRequest" {
		t.Errorf("errors = %+v, want the failed group's", got.Errors)
	}
	if strings.Contains(b.String(), "null") {
		t.Errorf("document has a null:\n%s", b.String())
	}
}

// TestJSONArraysNeverNull: a consumer can iterate every array without a
// null check, even for a pass that stopped before doing anything.
func TestJSONArraysNeverNull(t *testing.T) {
	for _, r := range []*pass.Result{
		{Until: pass.Publish, Fatal: &pass.Problem{Step: pass.StepCheckout, Err: errors.New("no remote")}},
		{Until: pass.Scan, Images: []pass.Image{{Image: config.Image{Name: "a"}}}},
	} {
		var b bytes.Buffer
		if err := JSON(&b, "run", r); err != nil {
			t.Fatal(err)
		}
		if strings.Contains(b.String(), "null") {
			t.Errorf("document has a null:\n%s", b.String())
		}
	}
}

func TestDiff(t *testing.T) {
	var b bytes.Buffer
	if err := Diff(&b, sample()); err != nil {
		t.Fatal(err)
	}
	want := "--- a/apps/app.yaml\n+++ b/apps/app.yaml\n@@ -1 +1 @@\n-image: r.example/app:1.1.0\n+image: r.example/app:1.2.0\n"
	if diff := cmp.Diff(want, b.String()); diff != "" {
		t.Errorf("diff (-want +got):\n%s", diff)
	}
}

func TestOutcome(t *testing.T) {
	changed := &update.Result{Files: []update.FileChange{{Path: "a.yaml"}}}
	tests := []struct {
		name string
		r    *pass.Result
		want string
	}{
		{"pushed", sample(), "committed 0123456789ab and pushed it to main"},
		{"fatal", &pass.Result{Until: pass.Publish, Fatal: &pass.Problem{Step: pass.StepCheckout, Err: errors.New("x")}}, "stopped: checkout failed, nothing was committed"},
		{"plan", &pass.Result{Until: pass.Plan, DryRun: true, Branch: "env/prod", Attempts: []pass.Attempt{{Update: changed}}}, "plan: 1 files would change on env/prod; nothing was written"},
		{"up to date", &pass.Result{Until: pass.Publish, Attempts: []pass.Attempt{{Update: &update.Result{}}}}, "up to date: nothing to change, no commit made"},
		{"local dry run", &pass.Result{Until: pass.Local, DryRun: true, Attempts: []pass.Attempt{{Update: changed}}}, "dry run: 1 files would change; nothing was written"},
		{"local", &pass.Result{Until: pass.Local, Attempts: []pass.Attempt{{Update: changed}}}, "updated 1 files"},
		{"one pull request", &pass.Result{Until: pass.Publish, PullRequests: []pass.PullRequest{{Action: gitops.ActionUpdated}}}, "pull request: 1 updated"},
		{"pull requests with nothing to do", &pass.Result{Until: pass.Publish, PullRequests: []pass.PullRequest{{}, {}}}, "up to date: nothing to propose, no pull request open"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Outcome(tt.r); got != tt.want {
				t.Errorf("Outcome = %q, want %q", got, tt.want)
			}
		})
	}
}
