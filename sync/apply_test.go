package sync_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/uptick-gitops/uptick/sync"
)

func configMap(name, value string) string {
	return fmt.Sprintf(`apiVersion: v1
kind: ConfigMap
metadata:
  name: %s
  labels: {app: demo}
data:
  value: %q
`, name, value)
}

func deployment(name, image string) string {
	return fmt.Sprintf(`apiVersion: apps/v1
kind: Deployment
metadata:
  name: %s
spec:
  replicas: 2
  selector:
    matchLabels: {app: %s}
  template:
    metadata:
      labels: {app: %s}
    spec:
      containers:
        - name: app
          image: %s
          ports:
            - containerPort: 8080
`, name, name, name, image)
}

func TestFirstApplyThenNoOp(t *testing.T) {
	e := newEnv(t)
	role := e.ns + "-reader"
	dir := writeTree(t, map[string]string{
		"apps/web.yaml": deployment("web", "nginx:1.27") + "---\n" + configMap("web-config", "a"),
		"apps/svc.yaml": `apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  selector: {app: web}
  ports: [{port: 80, targetPort: 8080}]
`,
		"cluster/role.yaml": fmt.Sprintf(`apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: %s}
rules:
  - apiGroups: [""]
    resources: [configmaps]
    verbs: [get]
`, role),
		"README.md": "not a manifest",
	})
	t.Cleanup(func() {
		_ = e.dyn.Resource(gvr("rbac.authorization.k8s.io", "v1", "clusterroles")).Delete(t.Context(), role, deleteNow)
	})

	first := e.sync(dir)
	want := map[string]sync.Action{
		"Deployment/web": sync.Created, "ConfigMap/web-config": sync.Created,
		"Service/web": sync.Created, "ClusterRole/" + role: sync.Created,
	}
	if diff := cmp.Diff(want, actions(first)); diff != "" {
		t.Fatalf("first sync (-want +got):\n%s", diff)
	}
	if first.Err() != nil {
		t.Fatal(first.Err())
	}
	for _, o := range first.Objects {
		if o.Kind == "ClusterRole" && o.Namespace != "" {
			t.Errorf("cluster-scoped %s got namespace %q", o.Name, o.Namespace)
		}
		if o.Kind == "Deployment" && o.Namespace != e.ns {
			t.Errorf("namespaced %s went to %q, want %q", o.Name, o.Namespace, e.ns)
		}
	}
	if first.Requests.Writes < 5 { // 4 applies + the inventory
		t.Errorf("first sync wrote %d times, want at least 5", first.Requests.Writes)
	}

	versions := func() map[string]string {
		out := map[string]string{}
		for _, r := range []struct {
			res       string
			ns, name  string
			namespace bool
		}{{"deployments", e.ns, "web", true}, {"configmaps", e.ns, "web-config", true}, {"services", e.ns, "web", true}, {"clusterroles", "", role, false}, {"configmaps", e.ns, "uptick-inventory", true}} {
			g := ""
			switch r.res {
			case "deployments":
				g = "apps"
			case "clusterroles":
				g = "rbac.authorization.k8s.io"
			}
			u := e.get(gvr(g, "v1", r.res), r.ns, r.name)
			if u == nil {
				t.Fatalf("%s %s is missing", r.res, r.name)
			}
			out[r.res+"/"+r.name] = u.GetResourceVersion()
		}
		return out
	}
	before := versions()

	second := e.sync(dir)
	for _, o := range second.Objects {
		if o.Action != sync.Unchanged {
			t.Errorf("second sync: %s is %s (%s), want unchanged", o.ObjectRef, o.Action, o.Reason)
		}
	}
	if second.Requests.Writes != 0 || second.Requests.DryRuns != 0 {
		t.Errorf("a no-op sync sent %d writes and %d dry runs, want none", second.Requests.Writes, second.Requests.DryRuns)
	}
	if diff := cmp.Diff(before, versions()); diff != "" {
		t.Errorf("resourceVersions changed by a no-op sync (-before +after):\n%s", diff)
	}
	t.Logf("no-op sync: %d reads", second.Requests.Reads)
}

func TestChangeInGitIsConfigured(t *testing.T) {
	e := newEnv(t)
	files := map[string]string{"a.yaml": configMap("a", "1"), "b.yaml": configMap("b", "1")}
	e.sync(writeTree(t, files))
	files["a.yaml"] = configMap("a", "2")
	res := e.sync(writeTree(t, files))
	want := map[string]sync.Action{"ConfigMap/a": sync.Configured, "ConfigMap/b": sync.Unchanged}
	if diff := cmp.Diff(want, actions(res)); diff != "" {
		t.Fatalf("(-want +got):\n%s", diff)
	}
	for _, o := range res.Objects {
		if o.Name == "a" && (o.Drift || o.Reason != "changed in git") {
			t.Errorf("a: drift %v, reason %q; want a git change", o.Drift, o.Reason)
		}
	}
	if got := e.get(configMapsGVR, e.ns, "a").Object["data"].(map[string]any)["value"]; got != "2" {
		t.Errorf("a's value is %v, want 2", got)
	}
}

func TestRejectedManifestFailsAlone(t *testing.T) {
	e := newEnv(t)
	res := e.sync(writeTree(t, map[string]string{
		"good.yaml": configMap("good", "1"),
		"bad.yaml": `apiVersion: apps/v1
kind: Deployment
metadata: {name: bad}
spec:
  replicas: -3
  selector: {matchLabels: {app: bad}}
  template:
    metadata: {labels: {app: other}}
    spec: {containers: [{name: app, image: nginx}]}
`,
	}))
	got := actions(res)
	if got["ConfigMap/good"] != sync.Created || got["Deployment/bad"] != sync.Failed {
		t.Fatalf("actions: %v", got)
	}
	err := res.Err()
	if err == nil {
		t.Fatal("no error for a rejected manifest")
	}
	for _, want := range []string{"apps/Deployment/" + e.ns + "/bad", "bad.yaml", "replicas"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	if e.get(configMapsGVR, e.ns, "good") == nil {
		t.Error("the good ConfigMap was not applied")
	}
}
