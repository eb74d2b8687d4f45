package fleet

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
)

// Spec says what to generate. The zero value of each field is its default.
type Spec struct {
	// Files is how many YAML files to write; default 10,000.
	Files int
	// Marked is how many of them carry setter markers; 0 writes none. Use
	// Percent to derive it from a share.
	Marked int
	// Seed makes the tree; the same Spec always gives the same bytes.
	Seed uint64
	// Images is how many image policies the markers name (fleet:app00,
	// fleet:app01, …); default 20.
	Images int
}

// Percent returns the number of files that is pct percent of files,
// rounded to the nearest file.
func Percent(files int, pct float64) int {
	return int(float64(files)*pct/100 + 0.5)
}

// Image is one image policy the markers name, with the value every marked
// field holds in the generated tree.
type Image struct {
	// Policy is the marker's reference, "fleet:appNN".
	Policy string
	// Repository and Tag are what the generated files hold.
	Repository, Tag string
}

// Ref is the full image reference, repository:tag.
func (i Image) Ref() string { return i.Repository + ":" + i.Tag }

// Fleet describes a generated tree.
type Fleet struct {
	// Dir is the directory the tree was written in.
	Dir string
	// Files are every file written, slash paths relative to Dir, sorted.
	Files []string
	// Marked are the files carrying markers, sorted.
	Marked []string
	// Markers counts the marked fields over all files.
	Markers int
	// Bytes is the total size of the files.
	Bytes int64
	// Images are the policies markers name, in name order.
	Images []Image
}

// OldTag is the tag every marked field holds in a generated tree.
const OldTag = "1.0.0"

// ErrNotEmpty is returned by Generate for a directory that holds files.
var ErrNotEmpty = errors.New("directory is not empty")

func (s *Spec) setDefaults() {
	if s.Files == 0 {
		s.Files = 10000
	}
	if s.Images == 0 {
		s.Images = 20
	}
}

func (s *Spec) validate() error {
	switch {
	case s.Files < 0:
		return fmt.Errorf("files must not be negative, got %d", s.Files)
	case s.Marked < 0 || s.Marked > s.Files:
		return fmt.Errorf("marked must be between 0 and files (%d), got %d", s.Files, s.Marked)
	case s.Images < 1 || s.Images > 1000:
		return fmt.Errorf("images must be between 1 and 1000, got %d", s.Images)
	}
	return nil
}

// ImageList returns the image policies a Spec's markers name.
func (s Spec) ImageList() []Image {
	s.setDefaults()
	out := make([]Image, s.Images)
	for i := range out {
		out[i] = Image{Policy: fmt.Sprintf("fleet:app%02d", i), Repository: fmt.Sprintf("registry.fleet.example/team/app%02d", i), Tag: OldTag}
	}
	return out
}

// Generate writes the tree s describes into dir, which must be empty or
// missing, and returns what it wrote.
func Generate(dir string, s Spec) (*Fleet, error) {
	s.setDefaults()
	if err := s.validate(); err != nil {
		return nil, fmt.Errorf("fleet spec: %w", err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	if entries, err := os.ReadDir(dir); err != nil {
		return nil, err
	} else if len(entries) > 0 {
		return nil, fmt.Errorf("generating a fleet in %s: %w", dir, ErrNotEmpty)
	}
	marked := make([]bool, s.Files)
	for _, i := range rand.New(rand.NewPCG(s.Seed, 0x9e3779b97f4a7c15)).Perm(s.Files)[:s.Marked] {
		marked[i] = true
	}
	f := &Fleet{Dir: dir, Files: make([]string, s.Files), Images: s.ImageList()}
	sizes := make([]int, s.Files)
	markers := make([]int, s.Files)

	// Files are independent (each has its own random stream), so they are
	// written in parallel and the result does not depend on the order.
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	workers := min(runtime.GOMAXPROCS(0), 4)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			made := map[string]bool{}
			for i := w; i < s.Files; i += workers {
				rel, body, n := File(s, i, marked[i])
				p := filepath.Join(dir, filepath.FromSlash(rel))
				d := filepath.Dir(p)
				if !made[d] {
					if err := os.MkdirAll(d, 0o755); err != nil {
						mu.Lock()
						firstErr = cmpErr(firstErr, err)
						mu.Unlock()
						return
					}
					made[d] = true
				}
				if err := os.WriteFile(p, body, 0o644); err != nil {
					mu.Lock()
					firstErr = cmpErr(firstErr, err)
					mu.Unlock()
					return
				}
				f.Files[i], sizes[i], markers[i] = rel, len(body), n
			}
		}()
	}
	wg.Wait()
	if firstErr != nil {
		return nil, firstErr
	}
	for i, rel := range f.Files {
		f.Bytes += int64(sizes[i])
		f.Markers += markers[i]
		if marked[i] {
			f.Marked = append(f.Marked, rel)
		}
	}
	slices.Sort(f.Files)
	slices.Sort(f.Marked)
	return f, nil
}

func cmpErr(old, err error) error {
	if old != nil {
		return old
	}
	return err
}

// Path returns the slash path of file i of a fleet.
func Path(i int) string {
	app := i / filesPerApp
	return fmt.Sprintf("clusters/%s/team%02d/app%05d/%s-%d.yaml",
		clusters[app%len(clusters)], (app/len(clusters))%teams, app, fileKinds[i%len(fileKinds)], i%filesPerApp)
}

const (
	filesPerApp = 8
	teams       = 25
	minLines    = 40
	maxLines    = 120
)

var (
	clusters  = []string{"prod-eu", "prod-us", "staging", "dev"}
	fileKinds = []string{"deploy", "values", "service", "config", "deploy", "jobs", "policy", "release"}
)

// File returns file i of the fleet s describes: its slash path, its bytes
// and how many markers it carries (0 unless marked). It is what Generate
// writes.
func File(s Spec, i int, marked bool) (string, []byte, int) {
	s.setDefaults()
	r := rand.New(rand.NewPCG(s.Seed, uint64(i)+1))
	g := &gen{r: r, app: i / filesPerApp, i: i}
	img := s.ImageList()[r.IntN(s.Images)]
	lines := minLines + r.IntN(maxLines-minLines+1)

	// The first document carries the images (and the markers, when
	// marked); further documents follow until the file is long enough.
	first := r.IntN(3)
	g.workload(first, img, marked)
	for g.lines < lines-12 {
		if g.lines+maxDoc > lines {
			break
		}
		g.sep()
		switch r.IntN(4) {
		case 0:
			g.service()
		case 1:
			g.configMap()
		case 2:
			g.hpa()
		default:
			g.networkPolicy()
		}
	}
	g.pad(lines)
	return Path(i), g.b.Bytes(), g.markers
}

// maxDoc bounds the lines one extra document takes.
const maxDoc = 34

// gen writes one file.
type gen struct {
	r       *rand.Rand
	b       byteBuf
	lines   int
	app, i  int
	markers int
	// padAt is where filler lines go: the byte offset and indentation of
	// an open list of env vars or data keys in the last document.
	padAt     int
	padIndent string
	padKind   int
}

type byteBuf struct{ buf []byte }

func (b *byteBuf) Bytes() []byte { return b.buf }

func (g *gen) line(format string, args ...any) {
	g.b.buf = fmt.Appendf(g.b.buf, format, args...)
	g.b.buf = append(g.b.buf, '\n')
	g.lines++
}

func (g *gen) blank() {
	g.b.buf = append(g.b.buf, '\n')
	g.lines++
}

func (g *gen) sep() {
	if g.r.IntN(3) == 0 {
		g.blank()
	}
	g.line("---")
}

// comment writes a comment line about something, now and then.
func (g *gen) comment(indent string) {
	if g.r.IntN(3) != 0 {
		return
	}
	notes := []string{
		"keep in sync with the platform defaults",
		"owned by the team; reviewed on every change",
		"TODO: drop once the migration is done",
		"see the runbook before changing this value",
		"tuned after the load test of last quarter",
	}
	g.line("%s# %s", indent, notes[g.r.IntN(len(notes))])
}

func (g *gen) name() string { return fmt.Sprintf("app%05d", g.app) }
func (g *gen) ns() string   { return fmt.Sprintf("team%02d", (g.app/len(clusters))%teams) }

func (g *gen) metadata(suffix string) {
	g.line("metadata:")
	g.line("  name: %s%s", g.name(), suffix)
	g.line("  namespace: %s", g.ns())
	g.line("  labels:")
	g.line("    app.kubernetes.io/name: %s", g.name())
	g.line("    app.kubernetes.io/part-of: fleet")
	if g.r.IntN(2) == 0 {
		g.line("  annotations:")
		g.line("    fleet.example/owner: \"%s@example.org\"", g.ns())
	}
}

// workload writes a Deployment, a StatefulSet or a HelmRelease carrying
// img, with markers when marked.
func (g *gen) workload(kind int, img Image, marked bool) {
	mark := func(field string) string {
		if !marked {
			return ""
		}
		g.markers++
		if field == "" {
			return fmt.Sprintf(` # {"$imagepolicy": "%s"}`, img.Policy)
		}
		return fmt.Sprintf(` # {"$imagepolicy": "%s:%s"}`, img.Policy, field)
	}
	if kind == 2 {
		g.line("apiVersion: helm.toolkit.fluxcd.io/v2")
		g.line("kind: HelmRelease")
		g.metadata("")
		g.line("spec:")
		g.line("  interval: 10m")
		g.line("  chart:")
		g.line("    spec:")
		g.line("      chart: %s", g.name())
		g.line("      version: \"%d.%d.x\"", 1+g.r.IntN(4), g.r.IntN(10))
		g.line("      sourceRef: {kind: HelmRepository, name: fleet, namespace: flux-system}")
		g.blank()
		g.line("  values:")
		g.comment("    ")
		g.line("    replicaCount: %d", 1+g.r.IntN(5))
		g.line("    image:")
		g.line("      repository: %s%s", img.Repository, mark("name"))
		g.line("      tag: %s%s", img.Tag, mark("tag"))
		g.line("      pullPolicy: IfNotPresent")
		g.line("    resources:")
		g.line("      requests: {cpu: %dm, memory: %dMi}", 50+10*g.r.IntN(20), 64*(1+g.r.IntN(8)))
		g.line("    env:")
		g.padAt, g.padIndent, g.padKind = len(g.b.buf), "      ", padEnv
		g.env("      ", 2+g.r.IntN(4))
		return
	}
	if kind == 0 {
		g.line("apiVersion: apps/v1")
		g.line("kind: Deployment")
	} else {
		g.line("apiVersion: apps/v1")
		g.line("kind: StatefulSet")
	}
	g.metadata("")
	g.line("spec:")
	g.line("  replicas: %d", 1+g.r.IntN(5))
	g.line("  selector:")
	g.line("    matchLabels:")
	g.line("      app.kubernetes.io/name: %s", g.name())
	g.line("  template:")
	g.line("    metadata:")
	g.line("      labels:")
	g.line("        app.kubernetes.io/name: %s", g.name())
	g.line("    spec:")
	g.comment("      ")
	g.line("      containers:")
	g.line("        - name: app")
	if marked && g.r.IntN(3) == 0 {
		// The marker on the line above the field, which Flux also reads.
		g.line("          %s", strings.TrimPrefix(mark(""), " "))
		g.line("          image: %s", img.Ref())
	} else {
		g.line("          image: %s%s", img.Ref(), mark(""))
	}
	g.line("          ports:")
	g.line("            - {name: http, containerPort: %d}", 8000+g.r.IntN(1000))
	g.line("          env:")
	g.padAt, g.padIndent, g.padKind = len(g.b.buf), "            ", padEnv
	g.env("            ", 2+g.r.IntN(5))
	g.line("          resources:")
	g.line("            limits: {cpu: %dm, memory: %dMi}", 200+100*g.r.IntN(8), 128*(1+g.r.IntN(8)))
	g.line("            requests: {cpu: %dm, memory: %dMi}", 50+10*g.r.IntN(20), 64*(1+g.r.IntN(8)))
	g.blank()
	g.line("          readinessProbe:")
	g.line("            httpGet: {path: /readyz, port: http}")
	g.line("          livenessProbe:")
	g.line("            httpGet: {path: /healthz, port: http}")
	if g.r.IntN(2) == 0 {
		g.line("        - name: sidecar")
		g.line("          image: registry.fleet.example/platform/proxy:2.%d.%d", g.r.IntN(10), g.r.IntN(10))
		g.line("          args: [\"--port=15001\", \"--admin=15000\"]")
	}
}

const (
	padEnv = iota
	padData
)

func (g *gen) env(indent string, n int) {
	for k := range n {
		g.envVar(indent, k)
	}
}

func (g *gen) envVar(indent string, k int) {
	g.line("%s- name: SETTING_%d", indent, k)
	switch g.r.IntN(3) {
	case 0:
		g.line("%s  value: \"%d\"", indent, g.r.IntN(100000))
	case 1:
		g.line("%s  value: https://svc-%d.%s.svc.cluster.local:%d", indent, g.r.IntN(50), g.ns(), 8000+g.r.IntN(1000))
	default:
		g.line("%s  valueFrom: {secretKeyRef: {name: %s-secrets, key: key-%d}}", indent, g.name(), k)
	}
}

func (g *gen) service() {
	g.line("apiVersion: v1")
	g.line("kind: Service")
	g.metadata("")
	g.line("spec:")
	g.line("  type: ClusterIP")
	g.line("  selector:")
	g.line("    app.kubernetes.io/name: %s", g.name())
	g.line("  ports:")
	for _, p := range []string{"http", "grpc"}[:1+g.r.IntN(2)] {
		g.line("    - name: %s", p)
		g.line("      port: %d", 80+g.r.IntN(9000))
		g.line("      targetPort: %s", p)
		g.line("      protocol: TCP")
	}
}

func (g *gen) configMap() {
	g.line("apiVersion: v1")
	g.line("kind: ConfigMap")
	g.metadata("-config")
	g.line("data:")
	g.comment("  ")
	g.line("  LOG_LEVEL: %s", []string{"debug", "info", "warn"}[g.r.IntN(3)])
	g.line("  config.yaml: |")
	g.line("    server:")
	g.line("      port: %d", 8000+g.r.IntN(1000))
	g.line("      timeout: %ds", 5+g.r.IntN(60))
	g.line("    upstreams:")
	for range 1 + g.r.IntN(3) {
		g.line("      - https://backend-%d.%s.svc.cluster.local", g.r.IntN(100), g.ns())
	}
	g.padAt, g.padIndent, g.padKind = len(g.b.buf), "  ", padData
}

func (g *gen) hpa() {
	g.line("apiVersion: autoscaling/v2")
	g.line("kind: HorizontalPodAutoscaler")
	g.metadata("")
	g.line("spec:")
	g.line("  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: %s}", g.name())
	g.line("  minReplicas: %d", 1+g.r.IntN(3))
	g.line("  maxReplicas: %d", 4+g.r.IntN(20))
	g.line("  metrics:")
	g.line("    - type: Resource")
	g.line("      resource:")
	g.line("        name: cpu")
	g.line("        target: {type: Utilization, averageUtilization: %d}", 50+g.r.IntN(40))
}

func (g *gen) networkPolicy() {
	g.line("apiVersion: networking.k8s.io/v1")
	g.line("kind: NetworkPolicy")
	g.metadata("-ingress")
	g.line("spec:")
	g.line("  podSelector:")
	g.line("    matchLabels: {app.kubernetes.io/name: %s}", g.name())
	g.line("  policyTypes: [Ingress]")
	g.line("  ingress:")
	g.line("    - from:")
	g.line("        - namespaceSelector:")
	g.line("            matchLabels: {kubernetes.io/metadata.name: %s}", g.ns())
	g.comment("      ")
}

// pad brings the file to exactly lines lines: filler entries go into the
// last open list (env vars or data keys), so the file stays valid YAML of
// the same shape, and a trailing comment makes up an odd line.
func (g *gen) pad(lines int) {
	if g.lines >= lines {
		return
	}
	tail := append([]byte(nil), g.b.buf[g.padAt:]...)
	g.b.buf = g.b.buf[:g.padAt]
	for k := 0; g.lines+2 <= lines; k++ {
		if g.padKind == padEnv {
			g.line("%s- name: EXTRA_%d", g.padIndent, k)
			g.line("%s  value: \"%x\"", g.padIndent, g.r.Uint32())
		} else {
			g.line("%sEXTRA_%d: \"%x\"", g.padIndent, k, g.r.Uint32())
			if g.lines < lines-1 && g.r.IntN(4) == 0 {
				g.blank()
			}
		}
	}
	g.b.buf = append(g.b.buf, tail...)
	if g.lines < lines {
		g.line("# end of %s", g.name())
	}
}
