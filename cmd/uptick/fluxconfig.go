package main

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/uptick-gitops/uptick/cmd/uptick/config"
	"github.com/uptick-gitops/uptick/cmd/uptick/flux"
	"github.com/uptick-gitops/uptick/cmd/uptick/pass"
)

// addFluxFlags adds --flux, --flux-from-checkout and --automation to a
// config-driven command.
func addFluxFlags(cmd *cobra.Command, opts *runOptions) {
	cmd.Flags().StringVar(&opts.flux, "flux", "", "read Flux's ImageRepository, ImagePolicy and ImageUpdateAutomation objects from this file or directory and run what they declare; --config still gives git.url, git.auth and the scan settings (and uptick-flux.yaml beside the objects says where their Secrets are)")
	if opts.until >= pass.Plan {
		cmd.Flags().BoolVar(&opts.fluxFromCheckout, "flux-from-checkout", false, "like --flux, with the objects read from the checkout under update.paths of --config (and uptick-flux.yaml beside --config)")
	}
	cmd.Flags().StringVar(&opts.automation, "automation", "", "with --flux: the ImageUpdateAutomation to run, as namespace/name (needed when there are several)")
}

var errAutomationWithoutFlux = errors.New("--automation needs --flux or --flux-from-checkout")

// loadConfig reads --config, and with --flux the Flux objects on top of
// it; with --flux-from-checkout it sets opts.reconfigure to read them once
// the pass has checked the repository out.
func loadConfig(opts *runOptions) (*config.Config, error) {
	switch {
	case opts.flux != "" && opts.fluxFromCheckout:
		return nil, &usageError{errors.New("--flux and --flux-from-checkout exclude each other")}
	case opts.fluxFromCheckout:
		base, err := config.LoadBase(opts.configFile)
		if err != nil {
			return nil, err
		}
		secrets := filepath.Join(filepath.Dir(opts.configFile), flux.SecretsFileName)
		opts.reconfigure = func(dir string) (*config.Config, error) {
			return fluxFromCheckout(base, dir, secrets, opts.automation)
		}
		return base, nil
	case opts.flux == "":
		if opts.automation != "" {
			return nil, &usageError{errAutomationWithoutFlux}
		}
		return config.Load(opts.configFile)
	}
	base, err := config.LoadBase(opts.configFile)
	if err != nil {
		return nil, err
	}
	fc, err := flux.Load(opts.flux)
	if err != nil {
		// Every problem, each naming file, line, object and field; the
		// diagnostics are bad input.
		return nil, err
	}
	return config.FromFlux(base, opts.flux, fc, opts.automation)
}

// fluxFromCheckout reads the Flux objects under each of base's update
// paths in the checkout dir and makes the pass's config of them.
func fluxFromCheckout(base *config.Config, dir, secrets, automation string) (*config.Config, error) {
	merged := &flux.Config{}
	var errs []error
	for _, p := range base.Update.Paths {
		root, err := insideCheckout(dir, p)
		if err != nil {
			return nil, err
		}
		fc, err := flux.Load(root, flux.WithSecretsFile(secrets))
		if err != nil {
			errs = append(errs, err)
			continue
		}
		merged.Images = append(merged.Images, fc.Images...)
		merged.Automations = append(merged.Automations, fc.Automations...)
		merged.Warnings = append(merged.Warnings, fc.Warnings...)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return config.FromFlux(base, "the checkout's "+strings.Join(base.Update.Paths, ", "), merged, automation)
}

// insideCheckout resolves p (a relative update path, checked by the
// config) in dir and refuses a symlink that leads out of the checkout.
func insideCheckout(dir, p string) (string, error) {
	root := filepath.Join(dir, filepath.FromSlash(p))
	real, err := filepath.EvalSymlinks(root)
	if err != nil {
		return "", &badInputErr{fmt.Errorf("update.paths: %s is not in the checkout", p)}
	}
	top, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return "", err
	}
	if rel, err := filepath.Rel(top, real); err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return "", &badInputErr{fmt.Errorf("update.paths: %s leads out of the checkout", p)}
	}
	return root, nil
}

// badInputErr marks an error only a change of config fixes.
type badInputErr struct{ err error }

func (e *badInputErr) Error() string  { return e.err.Error() }
func (e *badInputErr) Unwrap() error  { return e.err }
func (e *badInputErr) BadInput() bool { return true }
