package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	sdk "code.gitea.io/sdk/gitea"

	"github.com/uptick-gitops/uptick/cmd/uptick/output"
	"github.com/uptick-gitops/uptick/internal/testserver"
)

// kubeServer is the real kube-apiserver the sync tests share, started on
// first use and stopped by TestMain.
var kubeServer testserver.SharedKube

// TestPullRequestModeSyncsTheBase runs the real binary in pull-request mode
// with a sync section, against the real Gitea and the real API server:
// what is merged is what runs. The cluster gets the base branch while a
// pull request only proposes the new tag, and the new tag once the pull
// request is merged.
func TestPullRequestModeSyncsTheBase(t *testing.T) {
	r := newPRRepo(t)
	k := kubeServer.Get(t)
	ns := k.Namespace(t)

	// The app's manifest made deployable (the fleet's lacks a selector),
	// marker kept, on the base branch.
	clone := t.TempDir()
	gitCLI(t, clone, "clone", "-q", r.srv.AuthURL(r.direct), ".")
	writeFile(t, filepath.Join(clone, filepath.FromSlash(r.file(0))), fmt.Sprintf(`apiVersion: apps/v1
kind: Deployment
metadata: {name: app0}
spec:
  selector: {matchLabels: {app: app0}}
  template:
    metadata: {labels: {app: app0}}
    spec:
      containers:
        - name: app
          image: %s:1.0.0 # {"$imagepolicy": "app0"}
`, r.image(0)))
	gitCLI(t, clone, "add", ".")
	gitCLI(t, clone, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "a deployable app0")
	gitCLI(t, clone, "push", "-q", "origin", "main")

	// The kubeconfig's context names the test's namespace, where objects
	// without one go.
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	kc := strings.Replace(string(k.KubeconfigYAML()), "context: {cluster: uptick-test, user: uptick-test}", "context: {cluster: uptick-test, user: uptick-test, namespace: "+ns+"}", 1)
	if err := os.WriteFile(kubeconfig, []byte(kc), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := r.writeConfig("pr-sync.yaml", configSpec{
		url:   r.url,
		auth:  fmt.Sprintf("{usernameEnv: %s, passwordEnv: %s}", giteaUserEnv, giteaTokenEnv),
		push:  "pullRequest: {provider: gitea}",
		extra: []string{fmt.Sprintf("sync: {path: %s, kubeconfig: %s, inventory: %s/uptick-inventory}", filepath.Dir(r.file(0)), kubeconfig, ns)},
	})
	run := func() output.Document {
		t.Helper()
		res := uptick(t, r.env(), "run", "--config", cfg, "-o", "json")
		if res.code != 0 {
			t.Fatalf("want exit 0:\n%s", res)
		}
		var doc output.Document
		if err := json.Unmarshal([]byte(res.stdout), &doc); err != nil || doc.Sync == nil {
			t.Fatalf("report: %v, sync %v\n%s", err, doc.Sync, res)
		}
		return doc
	}
	image := func() string {
		t.Helper()
		code, body, err := k.Do("GET", "/apis/apps/v1/namespaces/"+ns+"/deployments/app0", "", nil)
		if err != nil || code != 200 {
			t.Fatalf("the Deployment: %d %v %s", code, err, body)
		}
		var d struct {
			Spec struct {
				Template struct {
					Spec struct{ Containers []struct{ Image string } }
				}
			}
		}
		if err := json.Unmarshal(body, &d); err != nil {
			t.Fatal(err)
		}
		return d.Spec.Template.Spec.Containers[0].Image
	}

	r.pushTag(0, "1.0.1")
	base := strings.Fields(gitCLI(t, clone, "rev-parse", "HEAD"))[0]
	doc := run()
	if len(doc.PullRequests) != 1 || doc.PullRequests[0].Action != "opened" {
		t.Fatalf("pull requests: %+v", doc.PullRequests)
	}
	if doc.Sync.Revision != base || doc.Sync.Counts["created"] != 1 {
		t.Errorf("sync of the base: revision %s (want %s), %+v", doc.Sync.Revision, base, doc.Sync.Objects)
	}
	if got := image(); got != r.image(0)+":1.0.0" {
		t.Errorf("with the pull request open the cluster runs %s, want the base's 1.0.0", got)
	}

	ok, _, err := r.srv.API(t).MergePullRequest(r.srv.Admin, r.name, doc.PullRequests[0].Number, sdk.MergePullRequestOption{Style: sdk.MergeStyleMerge})
	if err != nil || !ok {
		t.Fatalf("merging: %v %v", ok, err)
	}
	doc = run()
	gitCLI(t, clone, "fetch", "-q", "origin")
	if merged := strings.TrimSpace(gitCLI(t, clone, "rev-parse", "origin/main")); doc.Sync.Revision != merged {
		t.Errorf("after the merge synced %s, want main's tip %s", doc.Sync.Revision, merged)
	}
	if doc.Sync.Counts["configured"] != 1 {
		t.Errorf("after the merge: %+v", doc.Sync.Objects)
	}
	if got := image(); got != r.image(0)+":1.0.1" {
		t.Errorf("after the merge the cluster runs %s, want 1.0.1", got)
	}
}
