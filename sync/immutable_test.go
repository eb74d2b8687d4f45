package sync_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/uptick-gitops/uptick/sync"
)

func service(name, clusterIP string) string {
	return fmt.Sprintf(`apiVersion: v1
kind: Service
metadata: {name: %s}
spec:
  clusterIP: %s
  selector: {app: %s}
  ports: [{port: 80}]
`, name, clusterIP, name)
}

func job(name, command string) string {
	return fmt.Sprintf(`apiVersion: batch/v1
kind: Job
metadata: {name: %s}
spec:
  template:
    spec:
      restartPolicy: Never
      containers: [{name: run, image: busybox, command: ["%s"]}]
`, name, command)
}

// TestImmutableField changes a Service's clusterIP and a Job's template:
// without force each fails alone with the server's reason and a hint;
// with force each is deleted and recreated.
func TestImmutableField(t *testing.T) {
	e := newEnv(t)
	// Each test namespace gets its own clusterIPs from the /24.
	ip := func(n int) string { return fmt.Sprintf("10.0.0.%d", 10+n+int(time.Now().UnixNano()%100)) }
	ip1, ip2 := ip(0), ip(100)
	files := map[string]string{"svc.yaml": service("svc", ip1), "job.yaml": job("job", "true"), "cm.yaml": configMap("cm", "1")}
	if res := e.sync(writeTree(t, files)); res.Err() != nil {
		t.Fatal(res.Err())
	}
	oldJob := e.get(gvr("batch", "v1", "jobs"), e.ns, "job")
	files["svc.yaml"] = service("svc", ip2)
	files["job.yaml"] = job("job", "false")
	files["cm.yaml"] = configMap("cm", "2")
	dir := writeTree(t, files)

	res := e.sync(dir)
	want := map[string]sync.Action{"Service/svc": sync.Failed, "Job/job": sync.Failed, "ConfigMap/cm": sync.Configured}
	if diff := cmp.Diff(want, actions(res)); diff != "" {
		t.Fatalf("without force (-want +got):\n%s", diff)
	}
	for _, o := range res.Objects {
		if o.Action == sync.Failed && (!strings.Contains(o.Reason, "immutable") || !strings.Contains(o.Reason, "--force")) {
			t.Errorf("%s: reason %q should name the immutable field and --force", o.Name, o.Reason)
		}
	}
	if got, _, _ := unstructured.NestedString(e.get(servicesGVR, e.ns, "svc").Object, "spec", "clusterIP"); got != ip1 {
		t.Errorf("clusterIP is %s, want %s still", got, ip1)
	}

	res = e.sync(dir, sync.WithForce(true))
	want = map[string]sync.Action{"Service/svc": sync.Configured, "Job/job": sync.Configured, "ConfigMap/cm": sync.Unchanged}
	if diff := cmp.Diff(want, actions(res)); diff != "" {
		t.Fatalf("with force (-want +got):\n%s\n%v", diff, res.Err())
	}
	for _, o := range res.Objects {
		if o.Action == sync.Configured && !strings.Contains(o.Reason, "recreated") {
			t.Errorf("%s: reason %q should say it was recreated", o.Name, o.Reason)
		}
	}
	if got, _, _ := unstructured.NestedString(e.get(servicesGVR, e.ns, "svc").Object, "spec", "clusterIP"); got != ip2 {
		t.Errorf("clusterIP is %s, want %s", got, ip2)
	}
	newJob := e.get(gvr("batch", "v1", "jobs"), e.ns, "job")
	if newJob.GetUID() == oldJob.GetUID() {
		t.Error("the Job was not recreated")
	}
	again := e.sync(dir, sync.WithForce(true))
	if again.Requests.Writes != 0 {
		t.Errorf("after recreating: %d writes (%v)", again.Requests.Writes, actions(again))
	}
}

// TestDryRunChangesNothing runs a dry run on an empty namespace, then on
// drift and a pending prune: diffs for everything, nothing written.
func TestDryRunChangesNothing(t *testing.T) {
	e := newEnv(t)
	files := map[string]string{"a.yaml": configMap("a", "1"), "web.yaml": deployment("web", "nginx:1.27")}
	dir := writeTree(t, files)

	res := e.sync(dir, sync.WithDryRun(true))
	if diff := cmp.Diff(map[string]sync.Action{"ConfigMap/a": sync.Created, "Deployment/web": sync.Created}, actions(res)); diff != "" {
		t.Fatalf("dry run on nothing (-want +got):\n%s", diff)
	}
	if res.Requests.Writes != 0 || !res.DryRun {
		t.Errorf("dry run: %d writes, DryRun %v", res.Requests.Writes, res.DryRun)
	}
	for _, o := range res.Objects {
		if !strings.Contains(o.Diff, "+kind: "+o.Kind) {
			t.Errorf("%s: diff does not show the new object:\n%s", o.Name, o.Diff)
		}
	}
	if e.get(configMapsGVR, e.ns, "a") != nil || e.get(configMapsGVR, e.ns, "uptick-inventory") != nil {
		t.Fatal("a dry run created objects")
	}

	e.sync(dir)
	if _, err := e.dyn.Resource(deploymentsGVR).Namespace(e.ns).Patch(context.Background(), "web", "application/merge-patch+json", []byte(`{"spec":{"replicas":5}}`), metav1.PatchOptions{FieldManager: "kubectl-edit"}); err != nil {
		t.Fatal(err)
	}
	delete(files, "a.yaml")
	dir = writeTree(t, files)
	rvs := map[string]string{}
	for _, n := range []string{"web", "uptick-inventory", "a"} {
		res := deploymentsGVR
		if n != "web" {
			res = configMapsGVR
		}
		rvs[n] = e.get(res, e.ns, n).GetResourceVersion()
	}
	res = e.sync(dir, sync.WithDryRun(true))
	if diff := cmp.Diff(map[string]sync.Action{"ConfigMap/a": sync.Deleted, "Deployment/web": sync.Configured}, actions(res)); diff != "" {
		t.Fatalf("dry run on drift (-want +got):\n%s", diff)
	}
	for _, o := range res.Objects {
		switch o.Name {
		case "web":
			if !o.Drift || !strings.Contains(o.Diff, "-  replicas: 5") || !strings.Contains(o.Diff, "+  replicas: 2") {
				t.Errorf("web: drift %v, diff:\n%s", o.Drift, o.Diff)
			}
		case "a":
			if !strings.Contains(o.Diff, "-kind: ConfigMap") {
				t.Errorf("a: the diff does not show the deletion:\n%s", o.Diff)
			}
		}
	}
	if res.Requests.Writes != 0 {
		t.Errorf("dry run: %d writes", res.Requests.Writes)
	}
	for _, n := range []string{"web", "uptick-inventory", "a"} {
		res := deploymentsGVR
		if n != "web" {
			res = configMapsGVR
		}
		u := e.get(res, e.ns, n)
		if u == nil || u.GetResourceVersion() != rvs[n] {
			t.Errorf("%s changed in a dry run", n)
		}
	}
}
