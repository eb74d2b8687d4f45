package config

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/uptick-gitops/uptick/cmd/uptick/flux"
	"github.com/uptick-gitops/uptick/policy"
	"github.com/uptick-gitops/uptick/update"
)

// FromFlux makes the config a pass runs from Flux's objects (read by
// flux.Load from path) on top of base, an uptick config that says where
// the repository is and how to reach it (git.url, git.auth) and tunes the
// scan. The images are the ImagePolicies, named "namespace:name" as Flux
// markers name them. With an ImageUpdateAutomation (the one named
// automation, "namespace/name", or the only one) its checkout branch,
// author, signing key, push branch, update path, message template and
// policies replace base's; without one, base's git and update sections
// apply to every policy. What the objects declare that uptick cannot do is
// an error naming the object; what it does differently is in Warnings.
// Errors are *Error (bad input).
func FromFlux(base *Config, path string, fc *flux.Config, automation string) (*Config, error) {
	cfg := *base
	cfg.Images = nil
	cfg.Scan.Insecure = slices.Clone(base.Scan.Insecure)
	var problems []*FieldError
	fail := func(format string, args ...any) {
		problems = append(problems, &FieldError{Err: fmt.Errorf(format, args...)})
	}
	for _, w := range fc.Warnings {
		cfg.Warnings = append(cfg.Warnings, w.Error())
	}

	auto, err := pickAutomation(fc, automation)
	if err != nil {
		return nil, &Error{File: path, Problems: []*FieldError{{Err: err}}}
	}
	selected := func(string) bool { return true }
	if auto != nil {
		if auto.Suspended {
			return nil, &Error{File: path, Problems: []*FieldError{{Err: fmt.Errorf("%s: ImageUpdateAutomation %s is suspended (spec.suspend): Flux would not run it, and neither does uptick", auto.Source, auto.Name)}}}
		}
		selected = func(n string) bool { return slices.Contains(auto.Images, n) }
		applyAutomation(&cfg, auto)
	}

	seen := map[update.PolicyRef]bool{}
	for _, fi := range fc.Images {
		if !selected(fi.Name) {
			continue
		}
		ref, err := update.ParsePolicyRef(fi.Name)
		if err != nil {
			fail("%s: ImagePolicy %s: %v", fi.Source, fi.Name, err)
			continue
		}
		if seen[ref] {
			continue
		}
		seen[ref] = true
		sel, err := policy.NewSelector(fi.Policy, fi.FilterTags, fi.Exclude)
		if err != nil {
			fail("%s: ImagePolicy %s: %v", fi.Source, fi.Name, err)
			continue
		}
		img := Image{Name: fi.Name, Field: fmt.Sprintf("ImagePolicy %s (%s)", fi.Name, fi.Source), Ref: ref, Repository: fi.Repository,
			Selector: sel, PinDigest: fi.PinDigest, Suspended: fi.Suspended}
		if err := fluxRegistry(&cfg, &img, fi); err != nil {
			fail("%s: ImageRepository %s of ImagePolicy %s: %v", fi.Source, fi.RepositoryObject, fi.Name, err)
			continue
		}
		if fi.Digest == flux.DigestIfNotPresent {
			cfg.Warnings = append(cfg.Warnings, fmt.Sprintf("%s: ImagePolicy %s: digestReflectionPolicy IfNotPresent looks the digest up on every run, as Always does", fi.Source, fi.Name))
		}
		cfg.Images = append(cfg.Images, img)
	}
	if len(cfg.Images) == 0 && len(problems) == 0 {
		fail("no usable ImagePolicy in the Flux objects%s", map[bool]string{true: " that the automation selects", false: ""}[auto != nil])
	}
	if len(problems) > 0 {
		return nil, &Error{File: path, Problems: problems}
	}
	return &cfg, nil
}

// pickAutomation returns the automation named, the only one, or none.
func pickAutomation(fc *flux.Config, want string) (*flux.Automation, error) {
	var names []string
	for i := range fc.Automations {
		a := &fc.Automations[i]
		if a.Name == want {
			return a, nil
		}
		names = append(names, a.Name)
	}
	switch {
	case want != "":
		return nil, fmt.Errorf("--automation %s: no such ImageUpdateAutomation among %s", want, orNone(names))
	case len(names) == 1:
		return &fc.Automations[0], nil
	case len(names) > 1:
		return nil, fmt.Errorf("the Flux objects hold %d ImageUpdateAutomations (%s): choose one with --automation", len(names), strings.Join(names, ", "))
	}
	return nil, nil
}

func orNone(names []string) string {
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ", ")
}

// applyAutomation puts an automation's git and update settings on cfg.
func applyAutomation(cfg *Config, a *flux.Automation) {
	g := a.Git
	if g.Branch != "" {
		cfg.Git.Branch = g.Branch
		// Flux pushes to the checkout branch unless spec.git.push says.
		cfg.Git.Push.Branch = g.Branch
	}
	if g.Push.Branch != "" {
		cfg.Git.Push.Branch = g.Push.Branch
	}
	if g.Commit.Author.Name != "" || g.Commit.Author.Email != "" {
		cfg.Git.Commit.Author = g.Commit.Author
	}
	if g.Commit.SigningKey != nil {
		cfg.Git.Commit.SigningKey = g.Commit.SigningKey
	}
	cfg.Update.Paths = slices.Clone(a.Paths)
	msg := a.Message
	cfg.RenderMessage = func(changes []update.Change, images map[update.PolicyRef]update.Image) (string, error) {
		return msg.Render(fluxChanges(changes, images))
	}
}

// fluxChanges is the update stage's result as Flux's template data needs it.
func fluxChanges(changes []update.Change, images map[update.PolicyRef]update.Image) []flux.Change {
	out := make([]flux.Change, len(changes))
	for i, c := range changes {
		fc := flux.Change{File: c.File, Setter: c.Policy.String(), OldValue: c.Old, NewValue: c.New, Image: images[c.Image].String()}
		if c.Field != "" {
			fc.Setter += ":" + string(c.Field)
		}
		// Object is "Kind/namespace/name" or "Kind/name".
		parts := strings.Split(c.Object, "/")
		switch len(parts) {
		case 3:
			fc.Kind, fc.Namespace, fc.Name = parts[0], parts[1], parts[2]
		case 2:
			fc.Kind, fc.Name = parts[0], parts[1]
		}
		out[i] = fc
	}
	return out
}

// fluxRegistry applies an ImageRepository's registry access to the image
// and the scan section.
func fluxRegistry(cfg *Config, img *Image, fi flux.Image) error {
	r := fi.Registry
	switch r.Provider {
	case "", "generic":
	case "aws", "azure":
		img.Auth.Provider = r.Provider
	case "gcp":
		img.Auth.Provider = "google"
	default:
		return fmt.Errorf("spec.provider %q is not one uptick knows", r.Provider)
	}
	if r.DockerConfig != nil {
		if r.DockerConfig.File == "" {
			return fmt.Errorf("spec.secretRef: the .dockerconfigjson key comes from %s; uptick reads a docker config from a file only: map it to a file in %s", r.DockerConfig, flux.SecretsFileName)
		}
		if img.Auth.Provider != "" {
			return fmt.Errorf("spec.secretRef and spec.provider %s both give credentials; uptick uses one", r.Provider)
		}
		img.Auth.DockerConfig = r.DockerConfig.File
	}
	if r.Cert != nil || r.Key != nil {
		return errors.New("spec.certSecretRef: TLS client certificates (tls.crt, tls.key) are not supported by uptick")
	}
	if r.CA != nil {
		if r.CA.File == "" {
			return fmt.Errorf("spec.certSecretRef: ca.crt comes from %s; uptick reads CA bundles from files only", r.CA)
		}
		switch cfg.Scan.CAFile {
		case "", r.CA.File:
			cfg.Scan.CAFile = r.CA.File
		default:
			return fmt.Errorf("spec.certSecretRef: ca.crt is %s, but uptick trusts one CA bundle for all registries and it is already %s: put both CAs in one file", r.CA.File, cfg.Scan.CAFile)
		}
	}
	if r.Insecure {
		ref, err := name.NewRepository(fi.Repository)
		if err != nil {
			return err
		}
		if h := ref.RegistryStr(); !slices.Contains(cfg.Scan.Insecure, h) {
			cfg.Scan.Insecure = append(cfg.Scan.Insecure, h)
		}
	}
	return nil
}
