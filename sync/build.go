package sync

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/sync/errgroup"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	kruntime "k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/kustomize/api/konfig"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/api/types"
	sigsyaml "sigs.k8s.io/yaml"
)

// Manifest is one object to apply and where it came from.
type Manifest struct {
	Object *unstructured.Unstructured
	// Source is the slash path, relative to the build root, of the file
	// (plain YAML) or kustomization directory the object came from.
	Source string
}

// Built is what Build read.
type Built struct {
	// Manifests are in file order (plain YAML) or kustomize's order.
	Manifests []Manifest
	// Warnings name YAML documents that are not Kubernetes objects (no
	// apiVersion and no kind, such as a Helm values file) and were left out.
	Warnings []string
}

// BuildError is a manifest that cannot be read or built: bad input, named
// by file and line. A failed build applies nothing.
type BuildError struct {
	// File is a slash path relative to the build root.
	File string
	// Line is 1-based, 0 when unknown.
	Line int
	Err  error
}

// Error renders "file:line: problem".
func (e *BuildError) Error() string {
	loc := e.File
	if e.Line > 0 {
		loc += ":" + strconv.Itoa(e.Line)
	}
	if loc == "" {
		return e.Err.Error()
	}
	return loc + ": " + e.Err.Error()
}

// Unwrap returns the cause.
func (e *BuildError) Unwrap() error { return e.Err }

// BadInput reports that only a change of the manifests fixes it.
func (e *BuildError) BadInput() bool { return true }

// BuildOption configures Build.
type BuildOption func(*buildOptions) error

type buildOptions struct {
	overlay map[string][]byte
}

// WithFiles makes Build read these contents instead of the files on disk,
// keyed by slash path relative to the root (plan's rewritten files that
// were not written). Default: none.
func WithFiles(files map[string][]byte) BuildOption {
	return func(o *buildOptions) error {
		for p := range files {
			if err := RelativePath(p); err != nil {
				return fmt.Errorf("WithFiles: %w", err)
			}
		}
		o.overlay = make(map[string][]byte, len(files))
		for p, b := range files {
			o.overlay[path.Clean(p)] = b
		}
		return nil
	}
}

// Build reads the manifests in dir, a slash path relative to root. When
// dir holds a kustomization file it is built with kustomize; otherwise
// every .yaml, .yml and .json file under dir is read (dot files and dot
// directories are skipped), and a subdirectory holding a kustomization
// file is built with kustomize as one unit. Nothing outside root is read:
// not through "..", a symbolic link, nor a remote kustomize base (which
// would fetch from the network; vendor it into the repository instead).
// Errors are *BuildError.
func Build(root, dir string, opts ...BuildOption) (*Built, error) {
	var o buildOptions
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	if err := RelativePath(dir); err != nil {
		return nil, &BuildError{Err: err}
	}
	dir = path.Clean(filepath.ToSlash(dir))
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, &BuildError{Err: fmt.Errorf("resolving %s: %w", root, err)}
	}
	r, err := os.OpenRoot(abs)
	if err != nil {
		return nil, &BuildError{Err: fmt.Errorf("opening %s: %w", root, pathCause(err))}
	}
	defer r.Close()
	b := &builder{fs: &rootFS{root: r, abs: filepath.Clean(abs), overlay: o.overlay}, out: &Built{}, seen: map[key]string{}}
	fi, err := r.Stat(dir)
	switch {
	case err != nil:
		return nil, &BuildError{File: dir, Err: fmt.Errorf("cannot read the manifests: %w", pathCause(err))}
	case !fi.IsDir():
		if err := b.file(dir); err != nil {
			return nil, err
		}
	default:
		if err := b.dir(dir); err != nil {
			return nil, err
		}
	}
	if err := b.build(); err != nil {
		return nil, err
	}
	return b.out, nil
}

// pathCause drops Go's "op path:" prefix from a path error: callers name
// the file themselves.
func pathCause(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		if strings.Contains(pe.Err.Error(), "escapes from parent") {
			return errors.New("leads outside the repository")
		}
		return pe.Err
	}
	return err
}

type builder struct {
	fs   *rootFS
	out  *Built
	seen map[key]string // object → the source that declared it first
	// units are the plain files and kustomizations found, in order.
	units []unit
}

// unit is one plain YAML file (its documents) or one kustomization
// directory.
type unit struct {
	kustomization string
	file          string
	docs          []document
	parsed        []parsed
}

// parsed is what one document held.
type parsed struct {
	objs    []*unstructured.Unstructured
	warning string
	err     error
}

// build parses every plain document, spread over the cores (YAML parsing
// is most of a large build), then adds the objects in file order, so
// results and the first error reported do not depend on timing;
// kustomizations are built one at a time (kustomize keeps global state).
func (b *builder) build() error {
	type task struct{ u, d int }
	var tasks []task
	for i := range b.units {
		b.units[i].parsed = make([]parsed, len(b.units[i].docs))
		for j := range b.units[i].docs {
			tasks = append(tasks, task{i, j})
		}
	}
	var g errgroup.Group
	g.SetLimit(runtime.GOMAXPROCS(0))
	for _, t := range tasks {
		g.Go(func() error {
			u := &b.units[t.u]
			u.parsed[t.d] = parseDocument(u.file, u.docs[t.d])
			return nil
		})
	}
	_ = g.Wait()
	for _, u := range b.units {
		if u.kustomization != "" {
			if err := b.kustomize(u.kustomization); err != nil {
				return err
			}
			continue
		}
		for j, p := range u.parsed {
			if p.err != nil {
				return p.err
			}
			if p.warning != "" {
				b.out.Warnings = append(b.out.Warnings, p.warning)
			}
			for _, obj := range p.objs {
				if err := b.add(u.file, u.docs[j].line, obj); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// kustomizationFile returns the kustomization file in dir, "" if none.
func (b *builder) kustomizationFile(dir string) string {
	for _, name := range konfig.RecognizedKustomizationFileNames() {
		p := path.Join(dir, name)
		if fi, err := b.fs.root.Stat(p); err == nil && !fi.IsDir() {
			return p
		}
	}
	return ""
}

func (b *builder) dir(dir string) error {
	if b.kustomizationFile(dir) != "" {
		b.units = append(b.units, unit{kustomization: dir})
		return nil
	}
	entries, err := fs.ReadDir(b.fs.root.FS(), dir)
	if err != nil {
		return &BuildError{File: dir, Err: fmt.Errorf("cannot read the directory: %w", pathCause(err))}
	}
	for _, e := range entries {
		name := e.Name()
		if strings.HasPrefix(name, ".") {
			continue
		}
		p := path.Join(dir, name)
		fi, err := b.fs.root.Stat(p) // follows links that stay inside
		if err != nil {
			return &BuildError{File: p, Err: pathCause(err)}
		}
		switch {
		case fi.IsDir():
			if err := b.dir(p); err != nil {
				return err
			}
		case isManifestFile(name):
			if err := b.file(p); err != nil {
				return err
			}
		}
	}
	return nil
}

func isManifestFile(name string) bool {
	switch strings.ToLower(path.Ext(name)) {
	case ".yaml", ".yml", ".json":
		return true
	}
	return false
}

// file reads every YAML document of one file.
func (b *builder) file(p string) error {
	data, err := b.fs.read(p)
	if err != nil {
		return &BuildError{File: p, Err: fmt.Errorf("cannot read the file: %w", pathCause(err))}
	}
	b.units = append(b.units, unit{file: p, docs: splitDocuments(data)})
	return nil
}

// document is one YAML document of a file and the line it starts on.
type document struct {
	line int
	data []byte
}

// yamlLine finds "line N" in a YAML parser's message.
var yamlLine = regexp.MustCompile(`line (\d+)`)

// parseDocument reads one document: objects (a List's items), a warning
// for YAML that is not a Kubernetes object, or a *BuildError.
func parseDocument(file string, doc document) parsed {
	fail := func(line int, err error) parsed { return parsed{err: &BuildError{File: file, Line: line, Err: err}} }
	j, err := sigsyaml.YAMLToJSON(doc.data)
	if err != nil {
		line := doc.line
		msg := strings.TrimPrefix(err.Error(), "error converting YAML to JSON: ")
		msg = strings.TrimPrefix(msg, "yaml: ")
		if m := yamlLine.FindStringSubmatch(msg); m != nil {
			n, _ := strconv.Atoi(m[1])
			line = doc.line + n - 1
			msg = strings.TrimSpace(strings.Replace(msg, m[0]+":", "", 1))
		}
		return fail(line, fmt.Errorf("not valid YAML: %s", msg))
	}
	j = bytes.TrimSpace(j)
	if len(j) == 0 || string(j) == "null" {
		return parsed{}
	}
	if j[0] != '{' {
		return fail(doc.line, errors.New("a manifest must be a mapping with apiVersion, kind and metadata"))
	}
	obj := &unstructured.Unstructured{}
	if err := obj.UnmarshalJSON(j); err != nil {
		var raw map[string]any
		if jerr := sigsyaml.Unmarshal(j, &raw); jerr == nil && raw["apiVersion"] == nil && raw["kind"] == nil {
			return parsed{warning: fmt.Sprintf("%s:%d: not a Kubernetes object (no apiVersion or kind); left out", file, doc.line)}
		}
		return fail(doc.line, fmt.Errorf("not a Kubernetes object: %s", cleanJSONError(err)))
	}
	if !obj.IsList() {
		return parsed{objs: []*unstructured.Unstructured{obj}}
	}
	var p parsed
	err = obj.EachListItem(func(item kruntime.Object) error {
		p.objs = append(p.objs, item.(*unstructured.Unstructured))
		return nil
	})
	if err != nil {
		return fail(doc.line, err)
	}
	return p
}

// cleanJSONError drops Go type names from apimachinery's decode errors.
func cleanJSONError(err error) string {
	msg := err.Error()
	if strings.Contains(msg, "Object 'Kind' is missing") {
		return "kind is missing"
	}
	if strings.Contains(msg, "Object 'apiVersion' is missing") {
		return "apiVersion is missing"
	}
	return msg
}

func (b *builder) add(file string, line int, obj *unstructured.Unstructured) error {
	if err := checkObject(obj); err != nil {
		return &BuildError{File: file, Line: line, Err: err}
	}
	gvk := obj.GroupVersionKind()
	k := key{group: gvk.Group, kind: gvk.Kind, namespace: obj.GetNamespace(), name: obj.GetName()}
	if prev, dup := b.seen[k]; dup {
		ref := ObjectRef{Group: k.group, Kind: k.kind, Namespace: k.namespace, Name: k.name}
		return &BuildError{File: file, Line: line, Err: fmt.Errorf("%s is declared twice (also in %s)", ref, prev)}
	}
	b.seen[k] = file
	b.out.Manifests = append(b.out.Manifests, Manifest{Object: obj, Source: file})
	return nil
}

// checkObject checks what every manifest must have.
func checkObject(obj *unstructured.Unstructured) error {
	switch {
	case obj.GetAPIVersion() == "":
		return fmt.Errorf("%s %q: apiVersion is missing", obj.GetKind(), obj.GetName())
	case obj.GetKind() == "":
		return fmt.Errorf("object %q: kind is missing", obj.GetName())
	case obj.GetName() == "" && obj.GetGenerateName() != "":
		return fmt.Errorf("%s: metadata.generateName is not supported (uptick applies objects by name)", obj.GetKind())
	case obj.GetName() == "":
		return fmt.Errorf("%s: metadata.name is missing", obj.GetKind())
	}
	return nil
}

// splitDocuments splits a YAML stream on "---" lines, keeping each
// document's first line number for messages.
func splitDocuments(data []byte) []document {
	var docs []document
	var cur bytes.Buffer
	start, n := 1, 0
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 64<<10), maxFileSize+1)
	for sc.Scan() {
		n++
		line := sc.Bytes()
		if isSeparator(line) {
			docs = append(docs, document{line: start, data: slices.Clone(cur.Bytes())})
			cur.Reset()
			start = n + 1
			continue
		}
		cur.Write(line)
		cur.WriteByte('\n')
	}
	return append(docs, document{line: start, data: slices.Clone(cur.Bytes())})
}

func isSeparator(line []byte) bool {
	rest, ok := bytes.CutPrefix(line, []byte("---"))
	if !ok {
		return false
	}
	rest = bytes.TrimSpace(rest)
	return len(rest) == 0 || rest[0] == '#'
}

// kustomize builds the kustomization in dir in-process.
func (b *builder) kustomize(dir string) error {
	if err := b.checkKustomization(dir, map[string]bool{}); err != nil {
		return err
	}
	opts := krusty.MakeDefaultOptions()
	opts.LoadRestrictions = types.LoadRestrictionsRootOnly
	opts.PluginConfig = types.DisabledPluginConfig()
	k := krusty.MakeKustomizer(opts)
	m, err := k.Run(b.fs, b.fs.abspath(dir))
	if err != nil {
		return &BuildError{File: dir, Err: fmt.Errorf("kustomize build failed: %s", b.relMessage(err.Error()))}
	}
	for _, res := range m.Resources() {
		j, err := res.MarshalJSON()
		if err != nil {
			return &BuildError{File: dir, Err: fmt.Errorf("kustomize build: %s %s: %w", res.GetKind(), res.GetName(), err)}
		}
		obj := &unstructured.Unstructured{}
		if err := obj.UnmarshalJSON(j); err != nil {
			return &BuildError{File: dir, Err: fmt.Errorf("kustomize build: %s %s: %s", res.GetKind(), res.GetName(), cleanJSONError(err))}
		}
		if err := b.add(dir, 0, obj); err != nil {
			return err
		}
	}
	return nil
}

// relMessage shortens the absolute paths in kustomize's messages to
// repository paths.
func (b *builder) relMessage(msg string) string {
	return strings.ReplaceAll(msg, b.fs.abs+string(filepath.Separator), "")
}

// checkKustomization refuses, before kustomize runs, every reference a
// build would fetch from the network (remote bases and components are git
// clones, remote files are HTTP GETs) and every directory outside the
// repository; then checks the local bases it names the same way.
func (b *builder) checkKustomization(dir string, seen map[string]bool) error {
	if seen[dir] {
		return nil
	}
	seen[dir] = true
	file := b.kustomizationFile(dir)
	if file == "" {
		return nil // a plain directory of resources: kustomize reads it as such
	}
	data, err := b.fs.read(file)
	if err != nil {
		return &BuildError{File: file, Err: fmt.Errorf("cannot read the file: %w", pathCause(err))}
	}
	var k types.Kustomization
	if err := k.Unmarshal(data); err != nil {
		return &BuildError{File: file, Err: errors.New(strings.TrimPrefix(err.Error(), "invalid Kustomization: "))}
	}
	fail := func(field, entry, why string) error {
		return &BuildError{File: file, Err: fmt.Errorf("%s entry %q: %s", field, entry, why)}
	}
	if len(k.HelmCharts) > 0 || len(k.HelmChartInflationGenerator) > 0 {
		return &BuildError{File: file, Err: errors.New("helmCharts are not supported (they run helm and fetch charts): render the chart into the repository")}
	}
	bases := map[string][]string{"resources": k.Resources, "components": k.Components, "bases": k.Bases}
	for _, field := range []string{"resources", "components", "bases"} {
		for _, entry := range bases[field] {
			if isRemoteBase(entry) {
				return fail(field, entry, "remote bases are not fetched; vendor it into the repository")
			}
			p := path.Clean(path.Join(dir, filepath.ToSlash(entry)))
			if path.IsAbs(filepath.ToSlash(entry)) || p == ".." || strings.HasPrefix(p, "../") {
				return fail(field, entry, "leads outside the repository")
			}
			if fi, err := b.fs.root.Stat(p); err == nil && fi.IsDir() {
				if err := b.checkKustomization(p, seen); err != nil {
					return err
				}
			} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
				return fail(field, entry, pathCause(err).Error())
			}
		}
	}
	files := map[string][]string{
		"crds": k.Crds, "configurations": k.Configurations, "generators": k.Generators,
		"transformers": k.Transformers, "validators": k.Validators,
	}
	for _, p := range k.Patches {
		files["patches"] = append(files["patches"], p.Path)
	}
	for _, p := range k.PatchesJson6902 {
		files["patchesJson6902"] = append(files["patchesJson6902"], p.Path)
	}
	for _, p := range k.PatchesStrategicMerge {
		files["patchesStrategicMerge"] = append(files["patchesStrategicMerge"], string(p))
	}
	for _, r := range k.Replacements {
		files["replacements"] = append(files["replacements"], r.Path)
	}
	for _, g := range k.ConfigMapGenerator {
		files["configMapGenerator"] = append(files["configMapGenerator"], kvFiles(g.KvPairSources)...)
	}
	for _, g := range k.SecretGenerator {
		files["secretGenerator"] = append(files["secretGenerator"], kvFiles(g.KvPairSources)...)
	}
	files["openapi"] = []string{k.OpenAPI["path"]}
	for field, entries := range files {
		for _, entry := range entries {
			if isRemoteFile(entry) {
				return fail(field, entry, "remote files are not fetched; vendor it into the repository")
			}
		}
	}
	return nil
}

// kvFiles are the file paths of a generator's sources ("key=path" or
// "path").
func kvFiles(s types.KvPairSources) []string {
	var out []string
	for _, f := range s.FileSources {
		if _, p, ok := strings.Cut(f, "="); ok {
			f = p
		}
		out = append(out, f)
	}
	out = append(out, s.EnvSources...)
	if s.EnvSource != "" {
		out = append(out, s.EnvSource)
	}
	return out
}

// isRemoteFile reports a reference kustomize would fetch over HTTP.
func isRemoteFile(entry string) bool {
	if strings.ContainsAny(entry, "\n") {
		return false // inline YAML
	}
	u, err := url.Parse(strings.TrimSpace(entry))
	return err == nil && u.Scheme != ""
}

// isRemoteBase reports a resource or component entry kustomize would treat
// as a git repository to clone: a URL with a scheme, go-getter's "git::",
// an scp-like "user@host:path", or a bare "github.com/..." path.
func isRemoteBase(entry string) bool {
	e := strings.ToLower(strings.TrimSpace(entry))
	first, _, _ := strings.Cut(e, "/")
	return strings.Contains(e, "://") || strings.HasPrefix(e, "git::") ||
		strings.Contains(first, "@") || strings.HasPrefix(e, "github.com/") || strings.HasPrefix(e, "github.com:")
}
