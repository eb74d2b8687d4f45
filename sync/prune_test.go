package sync_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/uptick-gitops/uptick/sync"
)

func TestPrune(t *testing.T) {
	e := newEnv(t)
	files := map[string]string{
		"keep.yaml":   configMap("keep", "1"),
		"gone.yaml":   configMap("gone", "1"),
		"pinned.yaml": strings.Replace(configMap("pinned", "1"), "  labels:", "  annotations: {uptick.dev/prune: disabled}\n  labels:", 1),
		"later.yaml":  configMap("later", "1"),
	}
	e.sync(writeTree(t, files))
	// Made by someone else in the same namespace: never uptick's to delete.
	e.create(map[string]any{"apiVersion": "v1", "kind": "ConfigMap", "metadata": map[string]any{"name": "not-uptick", "namespace": e.ns}})

	delete(files, "gone.yaml")
	delete(files, "pinned.yaml")
	delete(files, "later.yaml")
	dir := writeTree(t, files)

	// prune: false reports what left git and deletes nothing.
	res := e.sync(dir, sync.WithPrune(false))
	want := map[string]sync.Action{"ConfigMap/keep": sync.Unchanged, "ConfigMap/gone": sync.Skipped, "ConfigMap/pinned": sync.Skipped, "ConfigMap/later": sync.Skipped}
	if diff := cmp.Diff(want, actions(res)); diff != "" {
		t.Fatalf("prune off (-want +got):\n%s", diff)
	}
	for _, name := range []string{"gone", "pinned", "later"} {
		if e.get(configMapsGVR, e.ns, name) == nil {
			t.Errorf("prune off deleted %s", name)
		}
	}

	for _, o := range res.Objects {
		if o.Name == "pinned" && !strings.Contains(o.Reason, "uptick.dev/prune: disabled") {
			t.Errorf("pinned: reason %q does not name the annotation", o.Reason)
		}
		if o.Name == "gone" && !strings.Contains(o.Reason, "prune is off") {
			t.Errorf("gone: reason %q does not say prune is off", o.Reason)
		}
	}

	// Then a sync with prune deletes the rest; the pinned one was let go
	// (no longer tracked) and stays.
	res = e.sync(dir)
	want = map[string]sync.Action{"ConfigMap/keep": sync.Unchanged, "ConfigMap/gone": sync.Deleted, "ConfigMap/later": sync.Deleted}
	if diff := cmp.Diff(want, actions(res)); diff != "" {
		t.Fatalf("prune on (-want +got):\n%s", diff)
	}
	for name, present := range map[string]bool{"keep": true, "gone": false, "pinned": true, "later": false, "not-uptick": true} {
		if got := e.get(configMapsGVR, e.ns, name) != nil; got != present {
			t.Errorf("%s present: %v, want %v", name, got, present)
		}
	}
	res = e.sync(dir)
	if diff := cmp.Diff(map[string]sync.Action{"ConfigMap/keep": sync.Unchanged}, actions(res)); diff != "" {
		t.Errorf("after prune (-want +got):\n%s", diff)
	}
	if res.Requests.Writes != 0 {
		t.Errorf("after prune: %d writes", res.Requests.Writes)
	}
}

// TestPruneOrder prunes a namespace, a cluster-scoped object, a CRD and the
// objects inside them: namespaced objects first, the Namespace and CRD last.
func TestPruneOrder(t *testing.T) {
	e := newEnv(t)
	ns2 := e.ns + "-b"
	group := e.ns + ".uptick.test"
	files := map[string]string{
		"keep.yaml":        configMap("keep", "1"),
		"ns.yaml":          fmt.Sprintf("apiVersion: v1\nkind: Namespace\nmetadata: {name: %s}\n", ns2),
		"in-ns2.yaml":      strings.Replace(configMap("inside", "1"), "metadata:\n", "metadata:\n  namespace: "+ns2+"\n", 1),
		"crd.yaml":         crd(group, "Widget", "widgets"),
		"widget.yaml":      fmt.Sprintf("apiVersion: %s/v1\nkind: Widget\nmetadata: {name: w1}\nspec: {size: 3}\n", group),
		"clusterrole.yaml": fmt.Sprintf("apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {name: %s-pruned}\nrules: []\n", e.ns),
	}
	res := e.sync(writeTree(t, files))
	if res.Err() != nil {
		t.Fatal(res.Err())
	}
	res = e.sync(writeTree(t, map[string]string{"keep.yaml": files["keep.yaml"]}))
	if res.Err() != nil {
		t.Fatal(res.Err())
	}
	var order []string
	for _, o := range res.Objects {
		if o.Action == sync.Deleted {
			order = append(order, o.Kind)
		}
	}
	want := []string{"ConfigMap", "Widget", "ClusterRole", "Namespace", "CustomResourceDefinition"}
	if diff := cmp.Diff(want, order); diff != "" {
		t.Errorf("prune order (-want +got):\n%s", diff)
	}
	// The namespace goes away for good with the controller manager's help.
	deadline := time.Now().Add(30 * time.Second)
	for e.get(gvr("", "v1", "namespaces"), "", ns2) != nil {
		if time.Now().After(deadline) {
			t.Fatalf("namespace %s still there 30s after it was pruned", ns2)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func crd(group, kind, plural string) string {
	return fmt.Sprintf(`apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: %s.%s
spec:
  group: %s
  scope: Namespaced
  names: {kind: %s, plural: %s, singular: %s, listKind: %sList}
  versions:
    - name: v1
      served: true
      storage: true
      subresources: {status: {}}
      schema:
        openAPIV3Schema:
          type: object
          properties:
            spec:
              type: object
              properties:
                size: {type: integer}
            status:
              type: object
              x-kubernetes-preserve-unknown-fields: true
`, plural, group, group, kind, plural, strings.ToLower(kind), kind)
}

// TestCRDAndCustomResourceInOneSync creates a CRD and an object of its kind
// in one sync: the CRD first, established, then the object.
func TestCRDAndCustomResourceInOneSync(t *testing.T) {
	e := newEnv(t)
	group := e.ns + ".uptick.test"
	t.Cleanup(func() {
		_ = e.dyn.Resource(gvr("apiextensions.k8s.io", "v1", "customresourcedefinitions")).Delete(context.Background(), "gadgets."+group, metav1.DeleteOptions{})
	})
	files := map[string]string{
		// The object sorts before its CRD on disk: staging must not care.
		"a-gadget.yaml": fmt.Sprintf("apiVersion: %s/v1\nkind: Gadget\nmetadata: {name: g1}\nspec: {size: 3}\n", group),
		"b-crd.yaml":    crd(group, "Gadget", "gadgets"),
	}
	dir := writeTree(t, files)
	want := map[string]sync.Action{"Gadget/g1": sync.Created, "CustomResourceDefinition/gadgets." + group: sync.Created}
	dry := e.sync(dir, sync.WithDryRun(true))
	if diff := cmp.Diff(want, actions(dry)); diff != "" || dry.Err() != nil {
		t.Fatalf("dry run (-want +got):\n%s\n%v", diff, dry.Err())
	}
	res := e.sync(dir)
	if diff := cmp.Diff(want, actions(res)); diff != "" {
		t.Fatalf("(-want +got):\n%s\n%v", diff, res.Err())
	}
	if res.Objects[0].Namespace != e.ns {
		t.Errorf("the custom resource went to namespace %q, want %q", res.Objects[0].Namespace, e.ns)
	}
	if g := e.get(gvr(group, "v1", "gadgets"), e.ns, "g1"); g == nil {
		t.Fatal("the custom resource was not created")
	}
	again := e.sync(dir)
	if again.Requests.Writes != 0 {
		t.Errorf("second sync: %d writes, %v", again.Requests.Writes, actions(again))
	}
}
