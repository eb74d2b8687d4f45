package sync_test

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/uptick-gitops/uptick/sync"
)

// TestWaitForHealth waits for a Deployment no controller rolls out: the
// wait times out naming it and kstatus' reason; once its status says it is
// available (set through the status subresource, as nothing runs pods
// here), the same wait succeeds.
func TestWaitForHealth(t *testing.T) {
	e := newEnv(t)
	dir := writeTree(t, map[string]string{"web.yaml": deployment("web", "nginx:1.27"), "cm.yaml": configMap("cm", "1")})

	start := time.Now()
	res := e.sync(dir, sync.WithWait(1500*time.Millisecond))
	if took := time.Since(start); took > 20*time.Second {
		t.Errorf("a 1.5s wait took %s", took)
	}
	if !res.WaitTimedOut {
		t.Fatalf("the wait did not time out: %+v", res.Objects)
	}
	err := res.Err()
	if err == nil || !strings.Contains(err.Error(), "apps/Deployment/"+e.ns+"/web is InProgress") || !strings.Contains(err.Error(), "1.5s") {
		t.Fatalf("error %v should name the Deployment, its status and the wait", err)
	}
	if strings.Contains(err.Error(), "ConfigMap") {
		t.Errorf("error %v names the ConfigMap, which is ready", err)
	}
	for _, o := range res.Objects {
		if o.Kind == "ConfigMap" && o.Health != "Current" {
			t.Errorf("ConfigMap health %q, want Current", o.Health)
		}
	}

	live := e.get(deploymentsGVR, e.ns, "web")
	status := `{"status":{"observedGeneration":` + itoa(live.GetGeneration()) + `,"replicas":2,"updatedReplicas":2,"readyReplicas":2,"availableReplicas":2,` +
		`"conditions":[{"type":"Available","status":"True","reason":"MinimumReplicasAvailable"},{"type":"Progressing","status":"True","reason":"NewReplicaSetAvailable"}]}}`
	if _, err := e.dyn.Resource(deploymentsGVR).Namespace(e.ns).Patch(context.Background(), "web", types.MergePatchType, []byte(status), metav1.PatchOptions{}, "status"); err != nil {
		t.Fatal(err)
	}
	res = e.sync(dir, sync.WithWait(30*time.Second))
	if res.Err() != nil || res.WaitTimedOut {
		t.Fatalf("wait on a ready Deployment: %v", res.Err())
	}
	for _, o := range res.Objects {
		if o.Health != "Current" {
			t.Errorf("%s health %q (%s)", o.Name, o.Health, o.HealthMessage)
		}
	}
	if res.Requests.Writes != 0 {
		t.Errorf("waiting wrote %d times", res.Requests.Writes)
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// TestImpersonateServiceAccount syncs as a tenant's ServiceAccount that may
// only manage ConfigMaps in its namespace: those apply, the Deployment is
// refused by RBAC, named, and the rest goes on.
func TestImpersonateServiceAccount(t *testing.T) {
	e := newEnv(t)
	e.create(map[string]any{"apiVersion": "v1", "kind": "ServiceAccount", "metadata": map[string]any{"name": "tenant", "namespace": e.ns}})
	e.create(map[string]any{
		"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
		"metadata": map[string]any{"name": "tenant", "namespace": e.ns},
		"rules":    []any{map[string]any{"apiGroups": []any{""}, "resources": []any{"configmaps"}, "verbs": []any{"get", "list", "create", "update", "patch", "delete"}}},
	})
	e.create(map[string]any{
		"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
		"metadata": map[string]any{"name": "tenant", "namespace": e.ns},
		"roleRef":  map[string]any{"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "tenant"},
		"subjects": []any{map[string]any{"kind": "ServiceAccount", "name": "tenant", "namespace": e.ns}},
	})
	cfg, _, err := sync.RESTConfig(sync.Target{Kubeconfig: e.kube.Kubeconfig, ServiceAccount: e.ns + "/tenant"})
	if err != nil {
		t.Fatal(err)
	}
	dir := writeTree(t, map[string]string{"cm.yaml": configMap("cm", "1"), "web.yaml": deployment("web", "nginx:1.27")})
	res := e.syncAs(cfg, dir)
	got := actions(res)
	if got["ConfigMap/cm"] != sync.Created || got["Deployment/web"] != sync.Failed {
		t.Fatalf("actions %v, %v", got, res.Err())
	}
	if err := res.Err(); !strings.Contains(err.Error(), "system:serviceaccount:"+e.ns+":tenant") || !strings.Contains(err.Error(), "forbidden") {
		t.Errorf("error %v should say the service account is forbidden", err)
	}
	if e.get(deploymentsGVR, e.ns, "web") != nil {
		t.Error("the Deployment was created despite RBAC")
	}
	cm := e.get(configMapsGVR, e.ns, "cm")
	if cm == nil {
		t.Fatal("the ConfigMap was not created")
	}
}
