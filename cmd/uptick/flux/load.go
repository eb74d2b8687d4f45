package flux

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"sigs.k8s.io/kustomize/kyaml/yaml"
)

// Group is the API group of Flux's image automation objects.
const Group = "image.toolkit.fluxcd.io"

// MaxFileSize bounds each YAML file read, so a stray large file cannot take
// the process's memory.
const MaxFileSize = 8 << 20

// Option configures Load.
type Option func(*options) error

type options struct {
	secretsFile string
}

// WithSecretsFile reads the SecretsConfig from file instead of the default:
// uptick-flux.yaml in the directory given to Load (or beside the file given).
func WithSecretsFile(file string) Option {
	return func(o *options) error {
		if file == "" {
			return errors.New("WithSecretsFile: empty path")
		}
		o.secretsFile = file
		return nil
	}
}

// Load reads the Flux objects in path, a YAML file or a directory searched
// recursively for *.yaml and *.yml (multi-document files and v1 Lists
// included; hidden directories and uptick-flux.yaml skipped; nothing
// outside the directory is read, symlinks included), and translates them.
//
// Objects of other kinds and groups are ignored. Load returns what
// translated cleanly, with warnings in Config.Warnings, and an error
// joining one *Diagnostic per problem that left an object out (each names
// file, line, object and field). A caller may refuse to run on any error
// or run what is healthy.
func Load(root string, opts ...Option) (*Config, error) {
	o := options{}
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	info, err := os.Stat(root)
	if err != nil {
		return nil, &Diagnostic{File: root, Severity: Error, Message: fmt.Sprintf("reading Flux objects: %v", unwrapPath(err))}
	}
	dir, only := root, ""
	if !info.IsDir() {
		dir, only = filepath.Dir(root), filepath.Base(root)
	}
	if o.secretsFile == "" {
		o.secretsFile = filepath.Join(dir, SecretsFileName)
	}

	var diags []*Diagnostic
	secrets, ok := loadSecretsConfig(o.secretsFile, &diags)
	if !ok {
		return &Config{}, joinDiagnostics(diags)
	}
	l := &loader{secrets: secrets, diags: &diags}

	r, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("reading Flux objects: %w", err)
	}
	defer r.Close()
	fsys := r.FS()
	display := func(rel string) string {
		if only != "" {
			return root
		}
		return filepath.Join(root, filepath.FromSlash(rel))
	}
	if only != "" {
		l.readFile(fsys, only, display(only))
	} else {
		err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				diags = append(diags, &Diagnostic{File: display(p), Severity: Error, Message: fmt.Sprintf("reading: %v", unwrapPath(err))})
				return nil
			}
			name := d.Name()
			if d.IsDir() {
				if p != "." && strings.HasPrefix(name, ".") {
					return fs.SkipDir
				}
				return nil
			}
			ext := path.Ext(name)
			if (ext != ".yaml" && ext != ".yml") || name == SecretsFileName || !d.Type().IsRegular() && d.Type()&fs.ModeSymlink == 0 {
				return nil
			}
			l.readFile(fsys, p, display(p))
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("reading Flux objects: %w", err)
		}
	}
	cfg := l.translate()
	for _, d := range diags {
		if d.Severity == Warning {
			cfg.Warnings = append(cfg.Warnings, d)
		}
	}
	return cfg, joinDiagnostics(diags)
}

func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

func joinDiagnostics(diags []*Diagnostic) error {
	var errs []error
	for _, d := range diags {
		if d.Severity == Error {
			errs = append(errs, d)
		}
	}
	return errors.Join(errs...)
}

// loader collects the objects of every file, then translate joins them.
type loader struct {
	secrets  *SecretsConfig
	diags    *[]*Diagnostic
	repos    []*repoObj
	policies []*policyObj
	autos    []*autoObj
}

func (l *loader) readFile(fsys fs.FS, rel, display string) {
	w := &walker{file: display, diags: l.diags}
	f, err := fsys.Open(rel)
	if err != nil {
		w.report(Error, 0, "", "reading: %v", unwrapPath(err))
		return
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		w.report(Error, 0, "", "reading: %v", unwrapPath(err))
		return
	}
	if len(data) > MaxFileSize {
		w.report(Error, 0, "", "larger than %d MiB; not read", MaxFileSize>>20)
		return
	}
	l.readData(data, display)
}

var yamlLine = regexp.MustCompile(`^(?:yaml: )?line (\d+): `)

// readData reads the documents of one file.
func (l *loader) readData(data []byte, display string) {
	if !bytes.Contains(data, []byte(Group)) {
		return // cannot hold one of our objects; not even parsed
	}
	l.decode(data, display)
}

// decode reads every document of data.
func (l *loader) decode(data []byte, display string) {
	w := &walker{file: display, diags: l.diags}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for {
		var doc yaml.Node
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			return
		}
		if err != nil {
			// The rest of the file is lost: yaml cannot resume.
			msg, line := err.Error(), 0
			if m := yamlLine.FindStringSubmatch(msg); m != nil {
				line, _ = strconv.Atoi(m[1])
				msg = msg[len(m[0]):]
			}
			w.report(Error, line, "", "not valid YAML: %s", strings.TrimPrefix(msg, "yaml: "))
			return
		}
		if len(doc.Content) > 0 {
			l.readObject(display, doc.Content[0], 0)
		}
	}
}

// readObject dispatches one document (or List item) by apiVersion and kind.
func (l *loader) readObject(file string, n *yaml.Node, depth int) {
	n = resolve(n)
	if n == nil || n.Kind != yaml.MappingNode {
		return
	}
	// A throwaway walker: only apiVersion and kind are read here, and
	// typing problems in them mean the document is not one of ours.
	peek := (&walker{file: file, diags: new([]*Diagnostic)}).newMapping(n, "")
	apiVersion, kind := peek.str("apiVersion"), peek.str("kind")
	group, version, _ := strings.Cut(apiVersion, "/")
	if kind == "List" && apiVersion == "v1" && depth == 0 {
		for _, item := range peek.list("items") {
			l.readObject(file, item, depth+1)
		}
		return
	}
	if group != Group {
		return
	}
	w := &walker{file: file, diags: l.diags, object: kind}
	switch kind {
	case "ImageRepository", "ImagePolicy", "ImageUpdateAutomation":
	default:
		w.report(Warning, n.Line, "kind", "%s %s is not an object uptick reads; ignored", apiVersion, kind)
		return
	}
	if version != "v1" && version != "v1beta2" {
		w.report(Error, peek.line("apiVersion"), "apiVersion", "%s is not supported: uptick reads v1 and v1beta2 (upgrade the object to %s/v1)", apiVersion, Group)
		return
	}
	root := w.newMapping(n, "")
	root.known("apiVersion", "kind", "status")
	m := readMeta(w, root, l.secrets.DefaultNamespace)
	m.apiVersion = apiVersion
	m.kind = kind
	w.object = kind + " " + m.id()
	spec := root.child("spec")
	if spec == nil {
		w.report(Error, n.Line, "spec", "required")
		return
	}
	var add func()
	switch kind {
	case "ImageRepository":
		o := l.readRepository(m, spec)
		add = func() { l.repos = append(l.repos, o) }
	case "ImagePolicy":
		o := l.readPolicy(m, spec)
		add = func() { l.policies = append(l.policies, o) }
	case "ImageUpdateAutomation":
		o := l.readAutomation(m, spec)
		add = func() { l.autos = append(l.autos, o) }
	}
	spec.done()
	root.done()
	if !w.failed {
		add()
	}
}

// meta is what every object carries.
type meta struct {
	w                     *walker
	file                  string
	line                  int
	apiVersion, kind      string
	name, namespace       string
	labels                map[string]string
	namespaceFromDefaults bool
}

func (m *meta) id() string     { return m.namespace + "/" + m.name }
func (m *meta) source() string { return fmt.Sprintf("%s:%d", m.file, m.line) }

func readMeta(w *walker, root *mapping, defaultNS string) *meta {
	m := &meta{w: w, file: w.file, line: root.node.Line}
	md := root.child("metadata")
	if md == nil {
		w.report(Error, root.line("metadata"), "metadata.name", "required")
		return m
	}
	// Only name, namespace and labels mean anything here; the rest of
	// metadata is Kubernetes bookkeeping.
	for k := range md.index {
		md.known(k)
	}
	m.name = md.required("name")
	if m.name != "" && (len(m.name) > 253 || !dnsSub.MatchString(m.name)) {
		w.report(Error, md.line("name"), "metadata.name", "%q is not a valid object name", m.name)
	}
	m.namespace = md.str("namespace")
	if m.namespace == "" {
		m.namespace, m.namespaceFromDefaults = defaultNS, true
	} else if len(m.namespace) > 63 || !dnsLabel.MatchString(m.namespace) {
		w.report(Error, md.line("namespace"), "metadata.namespace", "%q is not a valid namespace", m.namespace)
	}
	m.labels = md.strMap("labels")
	return m
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
