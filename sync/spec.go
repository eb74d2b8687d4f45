package sync

import (
	"errors"
	"fmt"
	"path"
	"path/filepath"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/util/validation"
)

// Defaults of Spec and of the options.
const (
	// DefaultInventory is where the inventory ConfigMap lives unless
	// Spec.Inventory or --inventory says otherwise.
	DefaultInventory = "default/uptick-inventory"
	// FieldManager is the server-side apply field manager uptick applies
	// as, and whose managedFields entry the no-op check reads.
	FieldManager = "uptick"
)

// Spec is the `sync:` section of the config file. Paths are relative to
// the repository root; the caller resolves them.
type Spec struct {
	// Path holds the manifests: plain YAML (recursively) or a
	// kustomization.yaml. Required.
	Path string `yaml:"path"`
	// Inventory is NAMESPACE/NAME of the ConfigMap recording what uptick
	// applied; default DefaultInventory.
	Inventory string `yaml:"inventory"`
	// Prune deletes objects that left git (default true); false reports
	// them instead.
	Prune *bool `yaml:"prune"`
	// Wait, when positive, waits this long for the applied objects to be
	// ready (kstatus rules); 0 does not wait.
	Wait time.Duration `yaml:"wait"`
	// Force deletes and recreates an object whose change touches an
	// immutable field.
	Force bool `yaml:"force"`
	// Kubeconfig is the kubeconfig file; default $KUBECONFIG, then the
	// pod's service account when running in a cluster, then
	// ~/.kube/config.
	Kubeconfig string `yaml:"kubeconfig"`
	// Context is the kubeconfig context; default its current context.
	Context string `yaml:"context"`
	// ServiceAccount, NAMESPACE/NAME, is impersonated for every request,
	// so a tenant's sync has only that account's RBAC rights.
	ServiceAccount string `yaml:"serviceAccount"`
}

// FieldError is a problem with one field of Spec; Field is relative to the
// sync section ("inventory"). It is always bad input.
type FieldError struct {
	Field string
	Err   error
}

// Error implements error.
func (e *FieldError) Error() string { return e.Field + ": " + e.Err.Error() }

// Unwrap returns the cause.
func (e *FieldError) Unwrap() error { return e.Err }

// FieldPath returns Field, so a config loader places the error in its file.
func (e *FieldError) FieldPath() string { return e.Field }

// BadInput reports that only a change of config fixes it.
func (e *FieldError) BadInput() bool { return true }

// SetDefaults fills every empty field that has a default.
func (s *Spec) SetDefaults() {
	if s.Inventory == "" {
		s.Inventory = DefaultInventory
	}
	if s.Prune == nil {
		t := true
		s.Prune = &t
	}
}

// PruneEnabled reports Prune with its default.
func (s *Spec) PruneEnabled() bool { return s.Prune == nil || *s.Prune }

// Validate checks the spec's shape and returns every problem joined, each
// a *FieldError.
func (s *Spec) Validate() error {
	var errs []error
	add := func(field string, err error) { errs = append(errs, &FieldError{Field: field, Err: err}) }
	if strings.TrimSpace(s.Path) == "" {
		add("path", errors.New("required"))
	} else if err := RelativePath(s.Path); err != nil {
		add("path", err)
	}
	inv := s.Inventory
	if inv == "" {
		inv = DefaultInventory
	}
	if _, _, err := ParseNamespacedName(inv); err != nil {
		add("inventory", err)
	}
	if s.Wait < 0 {
		add("wait", errors.New("must not be negative"))
	}
	if s.ServiceAccount != "" {
		if _, _, err := ParseNamespacedName(s.ServiceAccount); err != nil {
			add("serviceAccount", err)
		}
	}
	return errors.Join(errs...)
}

// RelativePath checks that p is a relative path that stays inside the
// directory it is relative to.
func RelativePath(p string) error {
	clean := path.Clean(filepath.ToSlash(p))
	if path.IsAbs(clean) || clean == ".." || strings.HasPrefix(clean, "../") {
		return fmt.Errorf("%q must be a relative path inside the repository", p)
	}
	return nil
}

// ParseNamespacedName splits "NAMESPACE/NAME", checking both are valid
// Kubernetes names.
func ParseNamespacedName(s string) (namespace, name string, err error) {
	ns, n, ok := strings.Cut(s, "/")
	if !ok || ns == "" || n == "" || strings.Contains(n, "/") {
		return "", "", fmt.Errorf("%q: want NAMESPACE/NAME", s)
	}
	if msgs := validation.IsDNS1123Label(ns); len(msgs) > 0 {
		return "", "", fmt.Errorf("%q: namespace %q is not a valid name: %s", s, ns, strings.Join(msgs, "; "))
	}
	if msgs := validation.IsDNS1123Subdomain(n); len(msgs) > 0 {
		return "", "", fmt.Errorf("%q: name %q is not a valid name: %s", s, n, strings.Join(msgs, "; "))
	}
	return ns, n, nil
}

// Preflight checks, before any request, that the target can be resolved:
// the kubeconfig exists and parses and has the context. getenv reads
// KUBECONFIG and the in-cluster variables.
func (s *Spec) Preflight(getenv func(string) string) error {
	_, _, err := RESTConfig(s.Target(getenv))
	if err == nil {
		return nil
	}
	field := "kubeconfig"
	if s.Context != "" && strings.Contains(err.Error(), "context") {
		field = "context"
	}
	var te *TargetError
	if errors.As(err, &te) {
		err = te.Err
	}
	return &FieldError{Field: field, Err: err}
}

// Target is the cluster the spec names.
func (s *Spec) Target(getenv func(string) string) Target {
	return Target{Kubeconfig: s.Kubeconfig, Context: s.Context, ServiceAccount: s.ServiceAccount, Getenv: getenv}
}
