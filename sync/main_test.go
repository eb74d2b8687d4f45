package sync_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"

	"github.com/uptick-gitops/uptick/internal/testserver"
	"github.com/uptick-gitops/uptick/sync"
)

// kube is one real kube-apiserver (with etcd and the namespace, garbage
// collector and service account controllers) for the whole package; each
// test works in namespaces of its own.
var kube testserver.SharedKube

func TestMain(m *testing.M) {
	os.Exit(kube.Run(m, testserver.KubeOptions{ControllerManager: true}))
}

// env is one test's corner of the shared API server.
type env struct {
	t    *testing.T
	kube *testserver.Kube
	cfg  *rest.Config
	dyn  dynamic.Interface
	// ns is a namespace made for the test; inventory lives in it.
	ns        string
	inventory string
}

// newEnv makes a namespace for the test, deleted when it ends.
func newEnv(t *testing.T) *env {
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
	e := &env{t: t, kube: k, cfg: cfg, dyn: dyn, ns: k.Namespace(t)}
	e.inventory = e.ns + "/uptick-inventory"
	return e
}

func gvr(group, version, resource string) schema.GroupVersionResource {
	return schema.GroupVersionResource{Group: group, Version: version, Resource: resource}
}

var (
	configMapsGVR  = gvr("", "v1", "configmaps")
	deploymentsGVR = gvr("apps", "v1", "deployments")
	servicesGVR    = gvr("", "v1", "services")
)

func (e *env) create(obj map[string]any) *unstructured.Unstructured {
	e.t.Helper()
	u := &unstructured.Unstructured{Object: obj}
	res := resourceOf(u)
	c := e.dyn.Resource(res)
	var out *unstructured.Unstructured
	var err error
	if ns := u.GetNamespace(); ns != "" {
		out, err = c.Namespace(ns).Create(context.Background(), u, metav1.CreateOptions{})
	} else {
		out, err = c.Create(context.Background(), u, metav1.CreateOptions{})
	}
	if err != nil {
		e.t.Fatalf("creating %s %s: %v", u.GetKind(), u.GetName(), err)
	}
	return out
}

// resourceOf knows the few kinds tests create by hand.
func resourceOf(u *unstructured.Unstructured) schema.GroupVersionResource {
	switch u.GetKind() {
	case "Namespace":
		return gvr("", "v1", "namespaces")
	case "ConfigMap":
		return configMapsGVR
	case "ServiceAccount":
		return gvr("", "v1", "serviceaccounts")
	case "Role":
		return gvr("rbac.authorization.k8s.io", "v1", "roles")
	case "RoleBinding":
		return gvr("rbac.authorization.k8s.io", "v1", "rolebindings")
	}
	panic("resourceOf: add kind " + u.GetKind())
}

// get reads an object, nil when it does not exist.
func (e *env) get(res schema.GroupVersionResource, ns, name string) *unstructured.Unstructured {
	e.t.Helper()
	c := e.dyn.Resource(res)
	var u *unstructured.Unstructured
	var err error
	if ns != "" {
		u, err = c.Namespace(ns).Get(context.Background(), name, metav1.GetOptions{})
	} else {
		u, err = c.Get(context.Background(), name, metav1.GetOptions{})
	}
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		e.t.Fatalf("getting %s %s/%s: %v", res.Resource, ns, name, err)
	}
	return u
}

// writeTree writes files (slash paths) under a new directory.
func writeTree(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for p, content := range files {
		full := filepath.Join(dir, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// sync builds dir and syncs it into the env's namespace with its
// inventory, failing the test on a fatal error.
func (e *env) sync(dir string, opts ...sync.Option) *sync.Result {
	e.t.Helper()
	res := e.trySync(dir, opts...)
	if res.Fatal != nil {
		e.t.Fatalf("sync failed: %v", res.Fatal)
	}
	return res
}

func (e *env) trySync(dir string, opts ...sync.Option) *sync.Result {
	e.t.Helper()
	return e.syncAs(e.cfg, dir, opts...)
}

// syncAs syncs dir with another client configuration.
func (e *env) syncAs(cfg *rest.Config, dir string, opts ...sync.Option) *sync.Result {
	e.t.Helper()
	built, err := sync.Build(dir, ".")
	if err != nil {
		e.t.Fatalf("build: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	return sync.Run(ctx, cfg, built.Manifests, e.ns, append([]sync.Option{sync.WithInventory(e.inventory)}, opts...)...)
}

// actions maps "Kind/name" (namespace left out) to each object's action.
func actions(res *sync.Result) map[string]sync.Action {
	out := map[string]sync.Action{}
	for _, o := range res.Objects {
		out[o.Kind+"/"+o.Name] = o.Action
	}
	return out
}

// deleteNow deletes in the background, without waiting for dependents.
var deleteNow = metav1.DeleteOptions{PropagationPolicy: func() *metav1.DeletionPropagation { p := metav1.DeletePropagationBackground; return &p }()}
