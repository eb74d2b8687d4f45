package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"

	"github.com/uptick-gitops/uptick/internal/testserver"
	"github.com/uptick-gitops/uptick/sync"
)

// kube is the package's one kube-apiserver, started by the first test that
// needs it (TestMain stops it).
var kube testserver.SharedKube

// cluster is a test's namespace on the shared API server.
type cluster struct {
	t   *testing.T
	k   *testserver.Kube
	dyn dynamic.Interface
	ns  string
}

func newCluster(t *testing.T) *cluster {
	t.Helper()
	k := kube.Get(t)
	cfg, _, err := sync.RESTConfig(sync.Target{Kubeconfig: k.Kubeconfig})
	if err != nil {
		t.Fatal(err)
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return &cluster{t: t, k: k, dyn: dyn, ns: k.Namespace(t)}
}

var (
	namespacesGVR  = schema.GroupVersionResource{Version: "v1", Resource: "namespaces"}
	configMapsGVR  = schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}
	deploymentsGVR = schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments"}
)

func (c *cluster) ensureNamespace(name string) {
	c.t.Helper()
	ns := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "Namespace", "metadata": map[string]any{"name": name}}}
	if _, err := c.dyn.Resource(namespacesGVR).Create(context.Background(), ns, metav1.CreateOptions{}); err != nil && !strings.Contains(err.Error(), "already exists") {
		c.t.Fatal(err)
	}
}

func (c *cluster) get(res schema.GroupVersionResource, ns, name string) *unstructured.Unstructured {
	c.t.Helper()
	u, err := c.dyn.Resource(res).Namespace(ns).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		return nil
	}
	return u
}

func writeFiles(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for p, content := range files {
		full := filepath.Join(dir, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func cm(ns, name, value string) string {
	return fmt.Sprintf("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: %s, namespace: %s}\ndata: {value: %q}\n", name, ns, value)
}

// TestSyncCommand runs `uptick sync` with the exact flags acceptance checks
// use, and checks its JSON report and exit codes.
func TestSyncCommand(t *testing.T) {
	c := newCluster(t)
	inv := c.ns + "/inv"
	dir := writeFiles(t, map[string]string{"a.yaml": cm(c.ns, "a", "1"), "b.yaml": cm(c.ns, "b", "1")})
	base := []string{"sync", "--path", dir, "--kubeconfig", c.k.Kubeconfig, "--context", testserver.KubeContext, "--inventory", inv}

	res := uptickCmd(context.Background(), nil, append(base, "--dry-run", "-o", "json")...)
	rep := decodeReport(t, res.stdout)
	if res.code != 0 || rep.Command != "sync" || !rep.DryRun || rep.Sync == nil || rep.Sync.Counts["created"] != 2 || rep.Sync.Requests.Writes != 0 {
		t.Fatalf("dry run: exit %d %+v\n%s", res.code, rep.Sync, res.stderr)
	}
	if c.get(configMapsGVR, c.ns, "a") != nil {
		t.Fatal("--dry-run created an object")
	}

	res = uptickCmd(context.Background(), nil, append(base, "--wait", "30s", "-o", "json")...)
	rep = decodeReport(t, res.stdout)
	if res.code != 0 || rep.Sync.Counts["created"] != 2 || rep.Sync.Inventory != inv || rep.DurationsMs.Sync <= 0 {
		t.Fatalf("sync: exit %d %+v\n%s", res.code, rep, res.stderr)
	}
	for _, o := range rep.Sync.Objects {
		if o.Health != "Current" || o.Source == "" {
			t.Errorf("%s: health %q, source %q", o.Name, o.Health, o.Source)
		}
	}

	// b leaves git: --prune=false keeps it, then a plain sync deletes it.
	if err := os.Remove(filepath.Join(dir, "b.yaml")); err != nil {
		t.Fatal(err)
	}
	res = uptickCmd(context.Background(), nil, append(base, "--prune=false", "--force")...)
	if res.code != 0 || !strings.Contains(res.stdout, "prune is off") || c.get(configMapsGVR, c.ns, "b") == nil {
		t.Fatalf("--prune=false: exit %d\n%s\n%s", res.code, res.stdout, res.stderr)
	}
	res = uptickCmd(context.Background(), nil, base...)
	if res.code != 0 || !strings.Contains(res.stdout, "deleted") || c.get(configMapsGVR, c.ns, "b") != nil {
		t.Fatalf("prune: exit %d\n%s\n%s", res.code, res.stdout, res.stderr)
	}
	if !strings.Contains(res.stdout, "synced: 1 unchanged, 1 deleted") {
		t.Errorf("summary missing:\n%s", res.stdout)
	}

	// Drift is named in the text report.
	if _, err := c.dyn.Resource(configMapsGVR).Namespace(c.ns).Patch(context.Background(), "a", types.MergePatchType, []byte(`{"data":{"value":"edited"}}`), metav1.PatchOptions{FieldManager: "kubectl-edit"}); err != nil {
		t.Fatal(err)
	}
	res = uptickCmd(context.Background(), nil, base...)
	if res.code != 0 || !strings.Contains(res.stdout, "configured  ConfigMap/"+c.ns+"/a  drift: changed outside git by kubectl-edit") || !strings.Contains(res.stdout, "1 drifted") {
		t.Errorf("drift: exit %d\n%s\n%s", res.code, res.stdout, res.stderr)
	}
}

func TestSyncCommandFailures(t *testing.T) {
	c := newCluster(t)
	good := writeFiles(t, map[string]string{"a.yaml": cm(c.ns, "a", "1")})
	kc := []string{"--kubeconfig", c.k.Kubeconfig, "--inventory", c.ns + "/inv"}
	tests := []struct {
		name string
		args []string
		code int
		want []string
	}{
		{"invalid yaml", append([]string{"--path", writeFiles(t, map[string]string{"x/bad.yaml": "a: [\n"})}, kc...), exitBadInput, []string{"bad.yaml:", "not valid YAML", "failed, nothing was applied"}},
		{"bad inventory flag", []string{"--path", good, "--inventory", "nope"}, exitBadInput, []string{`--inventory: "nope": want NAMESPACE/NAME`}},
		{"missing kubeconfig", []string{"--path", good, "--kubeconfig", filepath.Join(t.TempDir(), "none")}, exitBadInput, []string{"kubeconfig ", "none: no such file"}},
		{"unknown context", append([]string{"--path", good, "--context", "nope"}, kc...), exitBadInput, []string{`context "nope"`}},
		{"missing path", append([]string{"--path", filepath.Join(good, "nope")}, kc...), exitBadInput, []string{"nope: no such file or directory"}},
		{"rejected object", append([]string{"--path", writeFiles(t, map[string]string{"ok.yaml": cm(c.ns, "ok", "1"), "bad.yaml": cm(c.ns, "Bad_Name", "1")})}, kc...), exitFailed, []string{"ConfigMap/" + c.ns + "/Bad_Name (bad.yaml)", "created  ConfigMap/" + c.ns + "/ok"}},
		{"bad output", []string{"--path", good, "-o", "yaml"}, exitBadInput, []string{`--output: unknown format "yaml"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := uptickCmd(context.Background(), map[string]string{"HOME": t.TempDir()}, append([]string{"sync"}, tt.args...)...)
			if res.code != tt.code {
				t.Errorf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", res.code, tt.code, res.stdout, res.stderr)
			}
			for _, w := range tt.want {
				if !strings.Contains(res.stdout+res.stderr, w) {
					t.Errorf("output lacks %q:\nstdout:\n%s\nstderr:\n%s", w, res.stdout, res.stderr)
				}
			}
		})
	}
}

// TestRunSyncsThePushedTree runs the whole pass with a sync section: the
// cluster gets the tree uptick just pushed; the next run changes nothing in
// git or the cluster; drift is put back by the run after it; plan shows the
// sync's diff for a new tag and changes nothing.
func TestRunSyncsThePushedTree(t *testing.T) {
	c := newCluster(t)
	// The demo fleet's manifests live in namespace podinfo (only this test
	// of the package uses it).
	c.ensureNamespace("podinfo")
	f := newFleet(t, fmt.Sprintf("sync:\n  path: clusters/prod\n  kubeconfig: %s\n  inventory: %s/uptick-inventory\n", c.k.Kubeconfig, c.ns))

	res := f.uptick("run", "--config", f.config, "-o", "json")
	rep := decodeReport(t, res.stdout)
	if res.code != 0 || !rep.Pushed || rep.Sync == nil {
		t.Fatalf("run: exit %d, pushed %v\n%s\n%s", res.code, rep.Pushed, res.stdout, res.stderr)
	}
	if rep.Sync.Revision != rep.Commit || rep.Sync.Counts["created"] != 2 || rep.DurationsMs.Sync <= 0 {
		t.Errorf("sync section: %+v (commit %s, durations %+v)", rep.Sync, rep.Commit, rep.DurationsMs)
	}
	dep := c.get(deploymentsGVR, "podinfo", "podinfo")
	if dep == nil {
		t.Fatal("the Deployment was not applied")
	}
	image := func(u *unstructured.Unstructured) string {
		cs, _, _ := unstructured.NestedSlice(u.Object, "spec", "template", "spec", "containers")
		return cs[0].(map[string]any)["image"].(string)
	}
	if got, want := image(dep), f.host+"/demo/podinfo:6.5.3"; got != want {
		t.Errorf("the cluster runs %s, want the pushed %s", got, want)
	}
	var warned bool
	for _, w := range rep.Warnings {
		warned = warned || (w.Stage == "sync" && strings.Contains(w.Message, "redis/values.yaml"))
	}
	if !warned {
		t.Errorf("no warning about the Helm values file: %+v", rep.Warnings)
	}

	res = f.uptick("run", "--config", f.config, "-o", "json")
	rep = decodeReport(t, res.stdout)
	if res.code != 0 || rep.Commit != "" || rep.Sync.Counts["unchanged"] != 2 || rep.Sync.Requests.Writes != 0 {
		t.Fatalf("second run: exit %d %+v\n%s", res.code, rep.Sync, res.stderr)
	}

	if _, err := c.dyn.Resource(deploymentsGVR).Namespace("podinfo").Patch(context.Background(), "podinfo", types.MergePatchType, []byte(`{"spec":{"replicas":9}}`), metav1.PatchOptions{FieldManager: "kubectl-edit"}); err != nil {
		t.Fatal(err)
	}
	res = f.uptick("run", "--config", f.config, "-o", "json")
	rep = decodeReport(t, res.stdout)
	if diff := cmp.Diff([]string{"apps/Deployment/podinfo/podinfo"}, rep.Sync.Drifted); res.code != 0 || diff != "" {
		t.Errorf("drift run: exit %d, drifted (-want +got):\n%s", res.code, diff)
	}
	if n, _, _ := unstructured.NestedInt64(c.get(deploymentsGVR, "podinfo", "podinfo").Object, "spec", "replicas"); n != 2 {
		t.Errorf("replicas %d after the drift run, want 2", n)
	}

	f.push("demo/podinfo", "6.5.4")
	rv := c.get(deploymentsGVR, "podinfo", "podinfo").GetResourceVersion()
	res = f.uptick("plan", "--config", f.config)
	if res.code != 0 {
		t.Fatalf("plan: exit %d\n%s\n%s", res.code, res.stdout, res.stderr)
	}
	for _, w := range []string{"would be configured  apps/Deployment/podinfo/podinfo", "+        image: " + f.host + "/demo/podinfo:6.5.4", "sync dry run (nothing changed)"} {
		if !strings.Contains(res.stdout, w) {
			t.Errorf("plan output lacks %q:\n%s", w, res.stdout)
		}
	}
	if c.get(deploymentsGVR, "podinfo", "podinfo").GetResourceVersion() != rv {
		t.Error("plan changed the Deployment")
	}
}
