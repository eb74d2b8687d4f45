package main

import (
	"errors"

	"github.com/spf13/cobra"

	"github.com/uptick-gitops/uptick/cmd/uptick/config"
	"github.com/uptick-gitops/uptick/cmd/uptick/flux"
)

// addFluxFlags adds --flux and --automation to a config-driven command.
func addFluxFlags(cmd *cobra.Command, opts *runOptions) {
	cmd.Flags().StringVar(&opts.flux, "flux", "", "read Flux's ImageRepository, ImagePolicy and ImageUpdateAutomation objects from this file or directory and run what they declare; --config still gives git.url, git.auth and the scan settings (and uptick-flux.yaml beside the objects says where their Secrets are)")
	cmd.Flags().StringVar(&opts.automation, "automation", "", "with --flux: the ImageUpdateAutomation to run, as namespace/name (needed when there are several)")
}

// loadConfig reads --config, and with --flux the Flux objects on top of it.
func loadConfig(opts *runOptions) (*config.Config, error) {
	if opts.flux == "" {
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

var errAutomationWithoutFlux = errors.New("--automation needs --flux")
