package sync_test

import (
	"context"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"

	"github.com/uptick-gitops/uptick/sync"
)

// TestDriftIsCorrected proves the no-op decision sound: every way of
// changing a live object outside git that the API server offers is found
// from the LIST alone, put back by the next sync and reported as drift, and
// the sync after that writes nothing. Changes to fields git does not declare
// are not drift.
func TestDriftIsCorrected(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	deploys := e.dyn.Resource(deploymentsGVR).Namespace(e.ns)
	patch := func(name string, pt types.PatchType, manager, body string, sub ...string) {
		t.Helper()
		if _, err := deploys.Patch(ctx, name, pt, []byte(body), metav1.PatchOptions{FieldManager: manager}, sub...); err != nil {
			t.Fatalf("patching %s: %v", name, err)
		}
	}
	replicas := func(u *unstructured.Unstructured) int64 {
		n, _, _ := unstructured.NestedInt64(u.Object, "spec", "replicas")
		return n
	}
	image := func(u *unstructured.Unstructured) string {
		c, _, _ := unstructured.NestedSlice(u.Object, "spec", "template", "spec", "containers")
		return c[0].(map[string]any)["image"].(string)
	}
	cases := []struct {
		name  string
		drift func(name string)
		// restored checks the live object after the correcting sync.
		restored func(u *unstructured.Unstructured) bool
		// isDrift false: the change is to a field git does not declare,
		// which is left to its owner.
		isDrift bool
		by      string // a manager the drift reason names
	}{
		{
			name: "kubectl-edit",
			drift: func(n string) {
				patch(n, types.StrategicMergePatchType, "kubectl-edit", `{"spec":{"replicas":7}}`)
			},
			restored: func(u *unstructured.Unstructured) bool { return replicas(u) == 2 },
			isDrift:  true, by: "kubectl-edit",
		},
		{
			name: "kubectl-patch",
			drift: func(n string) {
				patch(n, types.StrategicMergePatchType, "kubectl-patch", `{"spec":{"template":{"spec":{"containers":[{"name":"app","image":"evil:1"}]}}}}`)
			},
			restored: func(u *unstructured.Unstructured) bool { return image(u) == "nginx:1.27" },
			isDrift:  true, by: "kubectl-patch",
		},
		{
			name: "json-patch",
			drift: func(n string) {
				patch(n, types.JSONPatchType, "kubectl-patch", `[{"op":"replace","path":"/spec/template/spec/containers/0/ports/0/containerPort","value":9090}]`)
			},
			// Ports are keyed by number: the patch made a port 9090 (the
			// patcher's, kept) in place of git's 8080 (put back).
			restored: func(u *unstructured.Unstructured) bool {
				c, _, _ := unstructured.NestedSlice(u.Object, "spec", "template", "spec", "containers")
				for _, p := range c[0].(map[string]any)["ports"].([]any) {
					if p.(map[string]any)["containerPort"] == int64(8080) {
						return true
					}
				}
				return false
			},
			isDrift: true, by: "kubectl-patch",
		},
		{
			name: "forced-apply-by-another-manager",
			drift: func(n string) {
				body := `{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"` + n + `"},"spec":{"replicas":5}}`
				if _, err := deploys.Patch(ctx, n, types.ApplyPatchType, []byte(body), metav1.PatchOptions{FieldManager: "other-controller", Force: ptr(true)}); err != nil {
					t.Fatal(err)
				}
			},
			restored: func(u *unstructured.Unstructured) bool { return replicas(u) == 2 },
			isDrift:  true, by: "other-controller",
		},
		{
			name: "scale-subresource",
			drift: func(n string) {
				patch(n, types.MergePatchType, "kubectl-scale", `{"spec":{"replicas":9}}`, "scale")
			},
			restored: func(u *unstructured.Unstructured) bool { return replicas(u) == 2 },
			isDrift:  true,
		},
		{
			name: "label-removed",
			drift: func(n string) {
				patch(n, types.MergePatchType, "kubectl-label", `{"metadata":{"labels":{"team":null}}}`)
			},
			restored: func(u *unstructured.Unstructured) bool { return u.GetLabels()["team"] == "web" },
			isDrift:  true,
		},
		{
			name: "annotation-of-uptick-edited",
			drift: func(n string) {
				patch(n, types.MergePatchType, "kubectl-annotate", `{"metadata":{"annotations":{"`+sync.HashAnnotation+`":"v1:forged"}}}`)
			},
			restored: func(u *unstructured.Unstructured) bool {
				return strings.HasPrefix(u.GetAnnotations()[sync.HashAnnotation], "v1:") && u.GetAnnotations()[sync.HashAnnotation] != "v1:forged"
			},
			isDrift: true, by: "kubectl-annotate",
		},
		{
			name: "replace-with-exported-managed-fields",
			drift: func(n string) {
				// kubectl get -o yaml | edit | kubectl replace: the body
				// carries the managedFields as read, uptick's entry included.
				u, err := deploys.Get(ctx, n, metav1.GetOptions{})
				if err != nil {
					t.Fatal(err)
				}
				_ = unstructured.SetNestedField(u.Object, int64(4), "spec", "replicas")
				if _, err := deploys.Update(ctx, u, metav1.UpdateOptions{FieldManager: "kubectl-replace"}); err != nil {
					t.Fatal(err)
				}
			},
			restored: func(u *unstructured.Unstructured) bool { return replicas(u) == 2 },
			isDrift:  true, by: "kubectl-replace",
		},
		{
			name: "deleted",
			drift: func(n string) {
				if err := deploys.Delete(ctx, n, deleteNow); err != nil {
					t.Fatal(err)
				}
			},
			restored: func(u *unstructured.Unstructured) bool { return u != nil && replicas(u) == 2 },
			isDrift:  true,
		},
		{
			name: "same-value-applied-by-another-manager",
			drift: func(n string) {
				body := `{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"` + n + `"},"spec":{"replicas":2}}`
				if _, err := deploys.Patch(ctx, n, types.ApplyPatchType, []byte(body), metav1.PatchOptions{FieldManager: "co-owner"}); err != nil {
					t.Fatal(err)
				}
			},
			restored: func(u *unstructured.Unstructured) bool { return replicas(u) == 2 },
			isDrift:  false,
		},
		{
			name: "label-git-does-not-declare",
			drift: func(n string) {
				patch(n, types.MergePatchType, "kubectl-label", `{"metadata":{"labels":{"extra":"kept"}}}`)
			},
			restored: func(u *unstructured.Unstructured) bool { return u.GetLabels()["extra"] == "kept" },
			isDrift:  false,
		},
	}

	files := map[string]string{}
	for _, c := range cases {
		files[c.name+".yaml"] = strings.Replace(deployment(c.name, "nginx:1.27"), "  name: "+c.name+"\n", "  name: "+c.name+"\n  labels: {team: web}\n", 1)
	}
	dir := writeTree(t, files)
	if res := e.sync(dir); res.Err() != nil {
		t.Fatal(res.Err())
	}
	for _, c := range cases {
		c.drift(c.name)
	}

	res := e.sync(dir)
	if res.Err() != nil {
		t.Fatal(res.Err())
	}
	got := map[string]sync.Object{}
	for _, o := range res.Objects {
		got[o.Name] = o
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			o := got[c.name]
			wantAction := sync.Unchanged
			switch {
			case c.name == "deleted":
				wantAction = sync.Created
			case c.isDrift:
				wantAction = sync.Configured
			}
			if o.Action != wantAction || o.Drift != c.isDrift {
				t.Errorf("action %s, drift %v (%s); want %s, drift %v", o.Action, o.Drift, o.Reason, wantAction, c.isDrift)
			}
			if c.by != "" && !strings.Contains(o.Reason, c.by) {
				t.Errorf("reason %q does not name %s", o.Reason, c.by)
			}
			if live := e.get(deploymentsGVR, e.ns, c.name); !c.restored(live) {
				t.Errorf("not as expected after the sync: %v", live)
			}
		})
	}

	again := e.sync(dir)
	if again.Requests.Writes != 0 {
		for _, o := range again.Objects {
			if o.Action != sync.Unchanged {
				t.Errorf("after correcting drift: %s is %s (%s)", o.Name, o.Action, o.Reason)
			}
		}
		t.Errorf("the sync after the correction wrote %d times, want 0", again.Requests.Writes)
	}
}

func ptr[T any](v T) *T { return &v }
