package update

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// benchTree is the generated 10,000-file repository shared by the benchmarks
// (generating it takes longer than one benchmark run). TestMain removes it.
var benchTree struct {
	once sync.Once
	dir  string
	err  error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if benchTree.dir != "" {
		os.RemoveAll(benchTree.dir)
	}
	os.Exit(code)
}

const (
	benchFiles  = 10000
	benchMarked = 100 // 1%
)

// benchRepo returns a fleet-like tree: 10,000 Deployments, Services and
// ConfigMaps of 1-2 KB in nested directories, 1% of them carrying markers.
func benchRepo(b *testing.B) string {
	b.Helper()
	benchTree.once.Do(func() {
		benchTree.dir, benchTree.err = os.MkdirTemp("", "uptick-update-bench-")
		if benchTree.err != nil {
			return
		}
		for i := range benchFiles {
			dir := filepath.Join(benchTree.dir, "clusters", fmt.Sprintf("c%d", i%5), "apps", fmt.Sprintf("team%02d", i%40), fmt.Sprintf("app%03d", i/40))
			if err := os.MkdirAll(dir, 0o755); err != nil {
				benchTree.err = err
				return
			}
			name, content := benchFile(i)
			if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
				benchTree.err = err
				return
			}
		}
	})
	if benchTree.err != nil {
		b.Fatal(benchTree.err)
	}
	return benchTree.dir
}

func benchFile(i int) (string, string) {
	marker := ""
	if i%(benchFiles/benchMarked) == 0 {
		marker = ` # {"$imagepolicy": "flux-system:podinfo"}`
	}
	switch i % 3 {
	case 0:
		return "deployment.yaml", fmt.Sprintf(`apiVersion: apps/v1
kind: Deployment
metadata:
  name: app-%[1]d
  namespace: team-%[2]d
  labels:
    app.kubernetes.io/name: app-%[1]d
    app.kubernetes.io/part-of: fleet
spec:
  replicas: 2
  selector:
    matchLabels:
      app.kubernetes.io/name: app-%[1]d
  template:
    metadata:
      labels:
        app.kubernetes.io/name: app-%[1]d
    spec:
      containers:
        - name: app
          image: ghcr.io/stefanprodan/podinfo:6.5.0%[3]s
          ports:
            - name: http
              containerPort: 9898
          env:
            - name: PODINFO_UI_COLOR
              value: "#34577c"
          resources:
            limits: {cpu: 500m, memory: 256Mi}
            requests: {cpu: 100m, memory: 64Mi}
          readinessProbe:
            httpGet: {path: /readyz, port: http}
          livenessProbe:
            httpGet: {path: /healthz, port: http}
`, i, i%40, marker)
	case 1:
		return "service.yaml", fmt.Sprintf(`apiVersion: v1
kind: Service
metadata:
  name: app-%[1]d
  namespace: team-%[2]d
  annotations:
    description: "service for app %[1]d, routes http traffic to the pods of the deployment"
spec:
  type: ClusterIP
  selector:
    app.kubernetes.io/name: app-%[1]d
  ports:
    - name: http
      port: 80
      targetPort: http
      protocol: TCP
    - name: grpc
      port: 9999
      targetPort: grpc
      protocol: TCP
# image: ghcr.io/stefanprodan/podinfo:6.5.0%[3]s
`, i, i%40, strings.Repeat(" ", len(marker)%2)+marker)
	}
	return "configmap.yaml", fmt.Sprintf(`apiVersion: v1
kind: ConfigMap
metadata:
  name: app-%[1]d-config
  namespace: team-%[2]d
data:
  tag: 6.5.0%[3]s
  config.yaml: |
    server:
      port: 9898
      timeout: 30s
    logging:
      level: info
      format: json
    features:
      - name: cache
        enabled: true
      - name: tracing
        enabled: false
    upstreams:
      - https://backend-a.team-%[2]d.svc.cluster.local
      - https://backend-b.team-%[2]d.svc.cluster.local
`, i, i%40, strings.Replace(marker, `podinfo"`, `podinfo:tag"`, 1))
}

func BenchmarkApply(b *testing.B) {
	dir := benchRepo(b)
	ctx := context.Background()
	b.Run("dry-run", func(b *testing.B) {
		for b.Loop() {
			res, err := Apply(ctx, dir, nil, testImages, WithDryRun(true))
			if err != nil || res.Scanned != benchFiles || res.Marked != benchMarked {
				b.Fatalf("Apply: %v, %+v", err, res)
			}
		}
	})
	b.Run("write", func(b *testing.B) {
		// Alternate between two tags so every iteration rewrites the marked files.
		other := map[PolicyRef]Image{}
		for k, v := range testImages {
			other[k] = v
		}
		p := PolicyRef{Namespace: "flux-system", Name: "podinfo"}
		img := other[p]
		img.Tag = "6.5.4"
		other[p] = img
		// Start from the other state so the first timed run changes files too.
		if _, err := Apply(ctx, dir, nil, other); err != nil {
			b.Fatal(err)
		}
		i := 0
		for b.Loop() {
			images := testImages
			if i%2 == 1 {
				images = other
			}
			i++
			res, err := Apply(ctx, dir, nil, images)
			if err != nil || res.Err() != nil || len(res.Files) == 0 {
				b.Fatalf("Apply: %v, %v, %d files", err, res.Err(), len(res.Files))
			}
		}
	})
}

// BenchmarkGrepBaseline is the floor Apply is compared with: grep listing
// the files that carry the marker bytes.
func BenchmarkGrepBaseline(b *testing.B) {
	dir := benchRepo(b)
	for b.Loop() {
		out, err := exec.Command("grep", "-rl", `"$imagepolicy"`, dir).Output()
		if err != nil {
			b.Fatal(err)
		}
		if n := strings.Count(string(out), "\n"); n != benchMarked {
			b.Fatalf("grep found %d files, want %d", n, benchMarked)
		}
	}
}
