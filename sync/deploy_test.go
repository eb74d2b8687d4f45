package sync_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/uptick-gitops/uptick/sync"
)

// TestDeployWithSyncRBAC builds the shipped CronJob base with its sync
// component (in-process kustomize, as uptick itself would), applies it,
// and then syncs as the uptick ServiceAccount it creates: the RBAC the
// component grants is enough to create, leave unchanged and prune objects
// in other namespaces.
func TestDeployWithSyncRBAC(t *testing.T) {
	e := newEnv(t)
	const ns = "uptick-deploy-test"
	e.create(map[string]any{"apiVersion": "v1", "kind": "Namespace", "metadata": map[string]any{"name": ns}})
	t.Cleanup(func() {
		ctx := context.Background()
		_ = e.dyn.Resource(gvr("", "v1", "namespaces")).Delete(ctx, ns, metav1.DeleteOptions{})
		_ = e.dyn.Resource(gvr("rbac.authorization.k8s.io", "v1", "clusterroles")).Delete(ctx, "uptick-sync", metav1.DeleteOptions{})
		_ = e.dyn.Resource(gvr("rbac.authorization.k8s.io", "v1", "clusterrolebindings")).Delete(ctx, "uptick-sync", metav1.DeleteOptions{})
	})
	built, err := sync.Build("..", "sync/testdata/deploy-overlay")
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, m := range built.Manifests {
		kinds = append(kinds, m.Object.GetKind())
		if m.Object.GetKind() == "ServiceAccount" && m.Object.Object["automountServiceAccountToken"] != true {
			t.Errorf("the component did not give the ServiceAccount its token: %v", m.Object.Object)
		}
	}
	want := []string{"ServiceAccount", "CronJob", "ConfigMap", "ClusterRole", "ClusterRoleBinding"}
	if diff := cmp.Diff(want, kinds); diff != "" {
		t.Errorf("kinds built (-want +got):\n%s", diff)
	}
	res := sync.Run(context.Background(), e.cfg, built.Manifests, ns, sync.WithInventory(ns+"/deploy-inventory"))
	if res.Err() != nil {
		t.Fatal(res.Err())
	}

	as, _, err := sync.RESTConfig(sync.Target{Kubeconfig: e.kube.Kubeconfig, ServiceAccount: ns + "/uptick"})
	if err != nil {
		t.Fatal(err)
	}
	other := e.ns + "-apps"
	files := map[string]string{
		"ns.yaml":  fmt.Sprintf("apiVersion: v1\nkind: Namespace\nmetadata: {name: %s}\n", other),
		"web.yaml": deployment("web", "nginx:1.27"),
		"cm.yaml":  configMap("cm", "1"),
	}
	for _, step := range []struct {
		files map[string]string
		want  map[string]sync.Action
	}{
		{files, map[string]sync.Action{"Namespace/" + other: sync.Created, "Deployment/web": sync.Created, "ConfigMap/cm": sync.Created}},
		{files, map[string]sync.Action{"Namespace/" + other: sync.Unchanged, "Deployment/web": sync.Unchanged, "ConfigMap/cm": sync.Unchanged}},
		{map[string]string{"ns.yaml": files["ns.yaml"], "cm.yaml": files["cm.yaml"]}, map[string]sync.Action{"Namespace/" + other: sync.Unchanged, "Deployment/web": sync.Deleted, "ConfigMap/cm": sync.Unchanged}},
	} {
		dir := writeTree(t, step.files)
		b, err := sync.Build(dir, ".")
		if err != nil {
			t.Fatal(err)
		}
		res := sync.Run(context.Background(), as, b.Manifests, other, sync.WithInventory(ns+"/apps-inventory"))
		if res.Err() != nil {
			t.Fatalf("syncing as the uptick ServiceAccount: %v", res.Err())
		}
		if diff := cmp.Diff(step.want, actions(res)); diff != "" {
			t.Errorf("(-want +got):\n%s", diff)
		}
	}
	_ = e.dyn.Resource(gvr("", "v1", "namespaces")).Delete(context.Background(), other, metav1.DeleteOptions{})
}
