package main

import (
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"reflect"
	"strings"

	"sigs.k8s.io/kustomize/kyaml/yaml"

	"github.com/uptick-gitops/uptick/gitops"
	"github.com/uptick-gitops/uptick/policy"
	"github.com/uptick-gitops/uptick/scan"
	"github.com/uptick-gitops/uptick/update"
)

// Config is the uptick.yaml file: each stage's own spec, composed.
type Config struct {
	Git      gitops.Spec `yaml:"git"`
	Images   []ImageSpec `yaml:"images"`
	Scan     ScanSpec    `yaml:"scan"`
	Update   UpdateSpec  `yaml:"update"`
	Sync     *yaml.Node  `yaml:"sync"`
	Schedule string      `yaml:"schedule"`
}

// ImageSpec is one entry of `images:`: a repository, the policy that picks
// its tag, and the name markers use to refer to it.
type ImageSpec struct {
	Name       string             `yaml:"name"`
	Repository string             `yaml:"repository"`
	Policy     policy.Spec        `yaml:"policy"`
	FilterTags *policy.FilterSpec `yaml:"filterTags"`
	Exclude    []string           `yaml:"exclude"`
	Auth       ImageAuth          `yaml:"auth"`
	// PinDigest looks up the chosen tag's digest, so full markers become
	// repo:tag@digest and :digest markers can be set (Flux's
	// digestReflectionPolicy: Always).
	PinDigest bool `yaml:"pinDigest"`
}

// ImageAuth says where registry credentials for one image come from.
type ImageAuth struct {
	DockerConfig string `yaml:"dockerConfig"`
}

// ScanSpec tunes registry access for the whole run.
type ScanSpec struct {
	Concurrency int      `yaml:"concurrency"`
	Insecure    []string `yaml:"insecure"`
	// CAFile is a PEM bundle of extra CAs trusted for registries.
	CAFile string `yaml:"caFile"`
}

// UpdateSpec says which part of the repository the rewrite looks at.
type UpdateSpec struct {
	Paths []string `yaml:"paths"`
}

// loadedConfig is a validated Config with what validation built, so stages
// never re-parse policies.
type loadedConfig struct {
	Config
	File      string
	selectors []*policy.Selector
	refs      []update.PolicyRef
}

// configError is bad user input: exit code 2.
type configError struct{ err error }

func (e *configError) Error() string { return e.err.Error() }
func (e *configError) Unwrap() error { return e.err }

// loadConfig reads, strictly decodes and validates a config file. Every
// problem found is reported at once, each with the file and the field path.
func loadConfig(file string) (*loadedConfig, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, &configError{fmt.Errorf("reading config: %w", err)}
	}
	cfg, err := parseConfig(file, data)
	if err != nil {
		return nil, &configError{err}
	}
	return cfg, nil
}

func parseConfig(file string, data []byte) (*loadedConfig, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		return nil, fmt.Errorf("%s: empty config", file)
	}
	root := doc.Content[0]
	var errs []error
	(&fieldChecker{seen: map[checked]bool{}, errs: &errs}).check(root, reflect.TypeOf(Config{}), "")
	if len(errs) > 0 {
		return nil, prefixErrors(file, errs)
	}
	lc := &loadedConfig{File: file}
	if err := root.Decode(&lc.Config); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	if errs := lc.validate(); len(errs) > 0 {
		return nil, prefixErrors(file, errs)
	}
	return lc, nil
}

func prefixErrors(file string, errs []error) error {
	for i, err := range errs {
		errs[i] = fmt.Errorf("%s: %w", file, err)
	}
	return errors.Join(errs...)
}

func (c *loadedConfig) validate() []error {
	var errs []error
	add := func(field string, err error) { errs = append(errs, fmt.Errorf("%s: %w", field, err)) }

	c.Git.SetDefaults()
	if err := c.Git.Validate(); err != nil {
		errs = append(errs, err)
	}
	if c.Sync != nil {
		add("sync", errors.New("not supported by this version of uptick yet"))
	}
	if len(c.Images) == 0 {
		add("images", errors.New("at least one image is required"))
	}
	seen := map[update.PolicyRef]int{}
	for i, img := range c.Images {
		field := fmt.Sprintf("images[%d]", i)
		ref, err := update.ParsePolicyRef(img.Name)
		switch {
		case img.Name == "":
			add(field+".name", errors.New("required"))
		case err != nil:
			add(field+".name", err)
		default:
			if j, dup := seen[ref]; dup {
				add(field+".name", fmt.Errorf("%q is already used by images[%d]", img.Name, j))
			}
			seen[ref] = i
		}
		switch {
		case img.Repository == "":
			add(field+".repository", errors.New("required"))
		case strings.ContainsAny(img.Repository, "@") || hasTag(img.Repository):
			add(field+".repository", fmt.Errorf("%q must be a repository without tag or digest", img.Repository))
		default:
			if err := scan.ValidateRepository(img.Repository); err != nil {
				add(field+".repository", err)
			}
		}
		sel, err := policy.NewSelector(img.Policy, img.FilterTags, img.Exclude)
		if err != nil {
			var fe *policy.FieldError
			if errors.As(err, &fe) {
				add(field+"."+fe.Field, fe.Err)
			} else {
				add(field, err)
			}
		}
		c.selectors = append(c.selectors, sel)
		c.refs = append(c.refs, ref)
		if img.Auth.DockerConfig != "" {
			c.Images[i].Auth.DockerConfig = expandHome(img.Auth.DockerConfig)
		}
	}
	if c.Scan.Concurrency < 0 {
		add("scan.concurrency", errors.New("must not be negative"))
	}
	if len(c.Update.Paths) == 0 {
		c.Update.Paths = []string{"."}
	}
	for i, p := range c.Update.Paths {
		clean := path.Clean(filepath.ToSlash(p))
		if path.IsAbs(clean) || clean == ".." || strings.HasPrefix(clean, "../") {
			add(fmt.Sprintf("update.paths[%d]", i), fmt.Errorf("%q must be a relative path inside the repository", p))
		}
	}
	if c.Schedule != "" {
		if _, err := parseSchedule(c.Schedule); err != nil {
			add("schedule", err)
		}
	}
	return errs
}

// hasTag reports whether a repository reference carries a tag: a ':' after
// the last '/' (a ':' before it is a registry port).
func hasTag(repo string) bool {
	return strings.Contains(repo[strings.LastIndex(repo, "/")+1:], ":")
}

func expandHome(p string) string {
	if p == "~" || strings.HasPrefix(p, "~/") {
		if home, err := os.UserHomeDir(); err == nil {
			return filepath.Join(home, p[1:])
		}
	}
	return p
}

// fieldChecker walks the YAML tree alongside the Go type and reports every
// mapping key no field is tagged with, by its path. yaml.v3's own
// KnownFields stops at the first one and names a Go type, not a path.
type fieldChecker struct {
	// seen makes aliases cheap: an anchored node is checked once per type,
	// however often it is referred to (no exponential "billion laughs" walk).
	seen map[checked]bool
	errs *[]error
}

type checked struct {
	n *yaml.Node
	t reflect.Type
}

func (c *fieldChecker) check(n *yaml.Node, t reflect.Type, path string) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if n.Kind == yaml.AliasNode {
		if n.Alias == nil || c.seen[checked{n.Alias, t}] {
			return
		}
		n = n.Alias
		c.seen[checked{n, t}] = true
	}
	if t == reflect.TypeOf(yaml.Node{}) {
		return
	}
	switch t.Kind() {
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			return // the decoder reports the type mismatch with its line
		}
		fields := yamlFields(t)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			child := k.Value
			if path != "" {
				child = path + "." + k.Value
			}
			ft, ok := fields[k.Value]
			if !ok {
				*c.errs = append(*c.errs, fmt.Errorf("%s: unknown field (line %d)", child, k.Line))
				continue
			}
			c.check(v, ft, child)
		}
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			return
		}
		for i, item := range n.Content {
			c.check(item, t.Elem(), fmt.Sprintf("%s[%d]", path, i))
		}
	}
}

func yamlFields(t reflect.Type) map[string]reflect.Type {
	out := map[string]reflect.Type{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "-" || !f.IsExported() {
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		out[name] = f.Type
	}
	return out
}
