package flux

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"

	"sigs.k8s.io/kustomize/kyaml/yaml"
)

// SecretsFileName is the uptick config read beside the Flux objects: in the
// directory given to Load, or the directory of the file given.
const SecretsFileName = "uptick-flux.yaml"

// DefaultNamespace is the namespace of objects without metadata.namespace,
// as for `kubectl apply` without -n, unless uptick-flux.yaml says otherwise.
const DefaultNamespace = "default"

// SecretsConfig is uptick-flux.yaml: where the Kubernetes Secrets the Flux
// objects reference can be read without a cluster. It holds no secret
// values, only the names of files and environment variables.
//
//	defaultNamespace: flux-system   # for objects without metadata.namespace
//	secrets:
//	  - name: regcred               # the Secret's name, as secretRef.name says
//	    namespace: flux-system      # default: defaultNamespace
//	    dir: /var/run/secrets/regcred   # a mounted Secret volume: a file per key
//	  - name: signing-key
//	    keys:                       # or key by key
//	      git.asc: {file: /keys/flux.asc}
//	      passphrase: {env: GPG_PASSPHRASE}
type SecretsConfig struct {
	DefaultNamespace string          `yaml:"defaultNamespace"`
	Secrets          []SecretMapping `yaml:"secrets"`
}

// SecretMapping says where the keys of one Secret are.
type SecretMapping struct {
	Name      string `yaml:"name"`
	Namespace string `yaml:"namespace"`
	// Dir holds one file per key, named after it, as Kubernetes mounts a
	// Secret volume. Relative to the directory of uptick-flux.yaml.
	Dir string `yaml:"dir"`
	// Keys name a file or an environment variable per key; they win over
	// Dir.
	Keys map[string]SecretSource `yaml:"keys"`
}

// SecretSource is where one key's value is: a file (relative paths are
// resolved against the directory of uptick-flux.yaml) or an environment
// variable. Exactly one is set.
type SecretSource struct {
	File string `yaml:"file"`
	Env  string `yaml:"env"`
}

// String describes the source for messages, never its value.
func (s SecretSource) String() string {
	if s.Env != "" {
		return "env " + s.Env
	}
	return "file " + s.File
}

// FieldError is a problem with one field of uptick-flux.yaml, named by its
// path ("secrets[1].keys.git.asc").
type FieldError struct {
	Field string
	Err   error
}

// Error implements error.
func (e *FieldError) Error() string { return e.Field + ": " + e.Err.Error() }

// Unwrap returns the underlying error.
func (e *FieldError) Unwrap() error { return e.Err }

// BadInput reports that only a change of the config fixes this.
func (e *FieldError) BadInput() bool { return true }

// SetDefaults fills the default namespace, of the file and of each secret.
func (c *SecretsConfig) SetDefaults() {
	if c.DefaultNamespace == "" {
		c.DefaultNamespace = DefaultNamespace
	}
	for i := range c.Secrets {
		if c.Secrets[i].Namespace == "" {
			c.Secrets[i].Namespace = c.DefaultNamespace
		}
	}
}

var (
	dnsLabel  = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)
	dnsSub    = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`)
	secretKey = regexp.MustCompile(`^[-._a-zA-Z0-9]+$`)
	envName   = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
)

// Validate checks the config (defaults applied to a copy) offline.
func (c *SecretsConfig) Validate() error {
	cc := *c
	cc.Secrets = append([]SecretMapping(nil), c.Secrets...)
	cc.SetDefaults()
	var errs []error
	add := func(field, format string, args ...any) {
		errs = append(errs, &FieldError{Field: field, Err: fmt.Errorf(format, args...)})
	}
	if len(cc.DefaultNamespace) > 63 || !dnsLabel.MatchString(cc.DefaultNamespace) {
		add("defaultNamespace", "%q is not a namespace name", cc.DefaultNamespace)
	}
	seen := map[string]int{}
	for i, s := range cc.Secrets {
		f := fmt.Sprintf("secrets[%d]", i)
		switch {
		case s.Name == "":
			add(f+".name", "required")
		case len(s.Name) > 253 || !dnsSub.MatchString(s.Name):
			add(f+".name", "%q is not a Secret name", s.Name)
		}
		if len(s.Namespace) > 63 || !dnsLabel.MatchString(s.Namespace) {
			add(f+".namespace", "%q is not a namespace name", s.Namespace)
		}
		id := s.Namespace + "/" + s.Name
		if j, dup := seen[id]; dup {
			add(f, "Secret %s is already mapped by secrets[%d]", id, j)
		}
		seen[id] = i
		if s.Dir == "" && len(s.Keys) == 0 {
			add(f, "set dir, keys, or both")
		}
		keys := make([]string, 0, len(s.Keys))
		for k := range s.Keys {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			src := s.Keys[k]
			kf := f + ".keys." + k
			if !secretKey.MatchString(k) {
				add(kf, "%q is not a Secret key", k)
			}
			switch {
			case (src.File == "") == (src.Env == ""):
				add(kf, "set exactly one of file or env")
			case src.Env != "" && !envName.MatchString(src.Env):
				add(kf+".env", "%q is not an environment variable name", src.Env)
			}
		}
	}
	return errors.Join(errs...)
}

// loadSecretsConfig reads uptick-flux.yaml strictly; a missing file is an
// empty config.
func loadSecretsConfig(path string, diags *[]*Diagnostic) (*SecretsConfig, bool) {
	cfg := &SecretsConfig{}
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		cfg.SetDefaults()
		return cfg, true
	}
	w := &walker{file: path, diags: diags}
	if err != nil {
		w.report(Error, 0, "", "reading: %v", err)
		return nil, false
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		w.report(Error, 0, "", "%v", err)
		return nil, false
	}
	if len(doc.Content) == 0 {
		cfg.SetDefaults()
		return cfg, true
	}
	root := w.newMapping(doc.Content[0], "")
	cfg.DefaultNamespace = root.str("defaultNamespace")
	lines := map[string]int{"defaultNamespace": root.line("defaultNamespace")}
	for i, n := range root.list("secrets") {
		f := fmt.Sprintf("secrets[%d]", i)
		m := w.newMapping(n, f)
		s := SecretMapping{Name: m.str("name"), Namespace: m.str("namespace"), Dir: m.str("dir")}
		lines[f] = n.Line
		lines[f+".name"], lines[f+".namespace"] = m.line("name"), m.line("namespace")
		if keys := m.child("keys"); keys != nil && keys.node != nil {
			s.Keys = map[string]SecretSource{}
			for k := range keys.index {
				km := w.newMapping(keys.get(k), keys.field(k))
				s.Keys[k] = SecretSource{File: km.str("file"), Env: km.str("env")}
				lines[keys.field(k)], lines[keys.field(k)+".env"] = keys.line(k), km.line("env")
				km.done()
			}
		}
		m.done()
		cfg.Secrets = append(cfg.Secrets, s)
	}
	root.done()
	if err := cfg.Validate(); err != nil {
		for _, e := range unjoin(err) {
			var fe *FieldError
			line := 0
			if errors.As(e, &fe) {
				line = lines[fe.Field]
			}
			w.report(Error, line, "", "%v", e)
		}
	}
	if w.failed {
		return nil, false
	}
	cfg.SetDefaults()
	base := filepath.Dir(path)
	for i := range cfg.Secrets {
		s := &cfg.Secrets[i]
		if s.Dir != "" && !filepath.IsAbs(s.Dir) {
			s.Dir = filepath.Join(base, s.Dir)
		}
		for k, src := range s.Keys {
			if src.File != "" && !filepath.IsAbs(src.File) {
				src.File = filepath.Join(base, src.File)
				s.Keys[k] = src
			}
		}
	}
	return cfg, true
}

func unjoin(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

// secretRef is a reference to one Secret from one object's field, resolved
// key by key against the config.
type secretRef struct {
	cfg       *SecretsConfig
	namespace string
	name      string
}

func (r secretRef) mapping() *SecretMapping {
	for i := range r.cfg.Secrets {
		if s := &r.cfg.Secrets[i]; s.Name == r.name && s.Namespace == r.namespace {
			return s
		}
	}
	return nil
}

// errNotMapped says the Secret is absent from uptick-flux.yaml.
type errNotMapped struct{ namespace, name string }

func (e errNotMapped) Error() string {
	return fmt.Sprintf("Secret %s/%s is not mapped: add it to %s under secrets (name: %s, namespace: %s) with a dir or keys", e.namespace, e.name, SecretsFileName, e.name, e.namespace)
}

// key finds key: from keys, else as a file in dir when it exists there.
// found is false when the Secret is mapped but has no such key.
func (r secretRef) key(key string) (src SecretSource, found bool, err error) {
	s := r.mapping()
	if s == nil {
		return SecretSource{}, false, errNotMapped{r.namespace, r.name}
	}
	if src, ok := s.Keys[key]; ok {
		return src, true, nil
	}
	if s.Dir != "" {
		p := filepath.Join(s.Dir, key)
		if _, err := os.Stat(p); err == nil {
			return SecretSource{File: p}, true, nil
		}
	}
	return SecretSource{}, false, nil
}
