package sync_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"

	"github.com/uptick-gitops/uptick/internal/testserver"
	"github.com/uptick-gitops/uptick/sync"
)

// kubectlVersion is the peer hack/tools/bench/kubectl.sh builds.
const kubectlVersion = "v1.34.4"

// benchObjects writes 500 ConfigMaps and 500 Deployments for namespace ns,
// 100 objects per file.
func benchObjects(b testing.TB, ns string) string {
	b.Helper()
	dir := b.TempDir()
	var f strings.Builder
	n := 0
	flush := func() {
		if f.Len() == 0 {
			return
		}
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("objects-%02d.yaml", n)), []byte(f.String()), 0o644); err != nil {
			b.Fatal(err)
		}
		f.Reset()
		n++
	}
	for i := range 500 {
		fmt.Fprintf(&f, `---
apiVersion: v1
kind: ConfigMap
metadata:
  name: config-%03d
  namespace: %s
  labels: {app: app-%03d, tier: backend}
data:
  LOG_LEVEL: info
  FEATURE_FLAGS: "a,b,c"
  settings.json: '{"replicas": 2, "timeout": "30s", "index": %d}'
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: app-%03d
  namespace: %s
  labels: {app: app-%03d, tier: backend}
spec:
  replicas: 2
  selector:
    matchLabels: {app: app-%03d}
  template:
    metadata:
      labels: {app: app-%03d, tier: backend}
    spec:
      containers:
        - name: app
          image: ghcr.io/example/app:1.%d.0
          args: [--port=8080, --config=/etc/app/settings.json]
          ports: [{name: http, containerPort: 8080}]
          envFrom: [{configMapRef: {name: config-%03d}}]
          resources:
            requests: {cpu: 50m, memory: 64Mi}
            limits: {memory: 128Mi}
          readinessProbe:
            httpGet: {path: /healthz, port: http}
`, i, ns, i, i, i, ns, i, i, i, i, i)
		if (i+1)%50 == 0 {
			flush()
		}
	}
	flush()
	return dir
}

// BenchmarkSyncVsKubectl applies the same 1,000 objects (500 ConfigMaps,
// 500 Deployments) with `uptick sync` and with kubectl 1.34's
// `apply --server-side`, both as processes against the same API server in
// the same run: a first apply into an empty namespace, then a re-apply of
// the unchanged manifests. Metrics are seconds per operation and the ratios
// kubectl/uptick (targets: noop-speedup ≥ 8, first-speedup ≥ 1).
func BenchmarkSyncVsKubectl(b *testing.B) {
	k := kube.Get(b)
	kubectl := testserver.ToolPath(b, "kubectl", kubectlVersion, "kubectl")
	uptick := filepath.Join(b.TempDir(), "uptick")
	if err := testserver.BuildUptick(uptick); err != nil {
		b.Fatal(err)
	}
	cfg, _, err := sync.RESTConfig(sync.Target{Kubeconfig: k.Kubeconfig})
	if err != nil {
		b.Fatal(err)
	}
	// One HOME for the whole benchmark: kubectl keeps its discovery cache
	// there between runs (uptick has none), the peer's best case.
	home := b.TempDir()
	run := func(name string, args ...string) time.Duration {
		b.Helper()
		cmd := exec.Command(name, args...)
		cmd.Env = append(os.Environ(), "KUBECONFIG="+k.Kubeconfig, "HOME="+home)
		start := time.Now()
		out, err := cmd.CombinedOutput()
		took := time.Since(start)
		if err != nil {
			b.Fatalf("%s %v: %v\n%s", filepath.Base(name), args, err, tail(out))
		}
		return took
	}
	var totals [4]time.Duration // uptick first, kubectl first, uptick no-op, kubectl no-op
	var inproc time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		nsU, nsK := fmt.Sprintf("bench-uptick-%d-%d", i, time.Now().UnixNano()%1e6), fmt.Sprintf("bench-kubectl-%d-%d", i, time.Now().UnixNano()%1e6)
		for _, ns := range []string{nsU, nsK} {
			createNamespace(b, cfg, ns)
		}
		dirU, dirK := benchObjects(b, nsU), benchObjects(b, nsK)
		uptickArgs := []string{"sync", "--path", dirU, "--inventory", nsU + "/uptick-inventory", "-o", "json"}
		kubectlArgs := []string{"apply", "--server-side", "-f", dirK}
		b.StartTimer()

		totals[1] += run(kubectl, kubectlArgs...)
		totals[0] += run(uptick, uptickArgs...)
		totals[3] += run(kubectl, kubectlArgs...)
		totals[2] += run(uptick, uptickArgs...)

		// The same no-op in-process, without the process start.
		b.StopTimer()
		built, err := sync.Build(dirU, ".")
		if err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		res := sync.Run(context.Background(), cfg, built.Manifests, nsU, sync.WithInventory(nsU+"/uptick-inventory"))
		inproc += time.Since(start)
		if res.Err() != nil || res.Requests.Writes != 0 || res.Count()[sync.Unchanged] != 1000 {
			b.Fatalf("in-process no-op: %v, %d writes, %v", res.Err(), res.Requests.Writes, res.Count())
		}
		b.StartTimer()
	}
	n := float64(b.N)
	sec := func(d time.Duration) float64 { return d.Seconds() / n }
	b.ReportMetric(sec(totals[0]), "uptick-first-s")
	b.ReportMetric(sec(totals[1]), "kubectl-first-s")
	b.ReportMetric(sec(totals[2]), "uptick-noop-s")
	b.ReportMetric(sec(totals[3]), "kubectl-noop-s")
	b.ReportMetric(sec(inproc), "uptick-noop-inprocess-s")
	b.ReportMetric(totals[1].Seconds()/totals[0].Seconds(), "first-speedup")
	b.ReportMetric(totals[3].Seconds()/totals[2].Seconds(), "noop-speedup")
}

func createNamespace(b *testing.B, cfg *rest.Config, ns string) {
	b.Helper()
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		b.Fatal(err)
	}
	obj := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "Namespace", "metadata": map[string]any{"name": ns}}}
	if _, err := dyn.Resource(gvr("", "v1", "namespaces")).Create(context.Background(), obj, metav1.CreateOptions{}); err != nil {
		b.Fatal(err)
	}
}

func tail(b []byte) string {
	if len(b) > 2000 {
		return string(b[len(b)-2000:])
	}
	return string(b)
}

// BenchmarkBuild1000 reads the benchmark's 1,000 objects from plain YAML.
func BenchmarkBuild1000(b *testing.B) {
	dir := benchObjects(b, "bench")
	b.ResetTimer()
	for range b.N {
		built, err := sync.Build(dir, ".")
		if err != nil || len(built.Manifests) != 1000 {
			b.Fatal(err)
		}
	}
}
