package main

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/spf13/cobra"

	"github.com/uptick-gitops/uptick/cmd/uptick/config"
	"github.com/uptick-gitops/uptick/cmd/uptick/pass"
)

const (
	outputText = "text"
	outputJSON = "json"
)

func newCmdPlan(streams ioStreams, g *globalOptions) *cobra.Command {
	opts := &runOptions{streams: streams, global: g, command: "plan", until: pass.Plan}
	cmd := &cobra.Command{
		Use:   "plan",
		Short: "Show what run would change, as a unified diff, without writing anything",
		Long: `Run every stage but the writing ones: clone, scan, select and rewrite in
memory, then print the unified diff that "uptick run" would commit and the
commit message it would use. Nothing is written to the repository or pushed.`,
		Example: `  uptick plan --config uptick.yaml
  uptick plan --config uptick.yaml --output json`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runStage(cmd.Context(), opts) },
	}
	addPassFlags(cmd, opts, true)
	return cmd
}

func newCmdScan(streams ioStreams, g *globalOptions) *cobra.Command {
	opts := &runOptions{streams: streams, global: g, command: "scan", until: pass.Scan}
	cmd := &cobra.Command{
		Use:     "scan",
		Short:   "List the tags of every configured image (the scan stage alone)",
		Example: `  uptick scan --config uptick.yaml --output json`,
		Args:    noArgs,
		RunE:    func(cmd *cobra.Command, _ []string) error { return runStage(cmd.Context(), opts) },
	}
	addPassFlags(cmd, opts, false)
	return cmd
}

func newCmdPolicy(streams ioStreams, g *globalOptions) *cobra.Command {
	opts := &runOptions{streams: streams, global: g, command: "policy", until: pass.Policy}
	cmd := &cobra.Command{
		Use:     "policy",
		Short:   "Show the tag each image's policy selects (scan and policy stages)",
		Example: `  uptick policy --config uptick.yaml`,
		Args:    noArgs,
		RunE:    func(cmd *cobra.Command, _ []string) error { return runStage(cmd.Context(), opts) },
	}
	addPassFlags(cmd, opts, false)
	return cmd
}

func runStage(ctx context.Context, opts *runOptions) error {
	log, cfg, err := setup(opts.global, opts.streams, opts.output, opts.configFile)
	if err != nil {
		return err
	}
	return runPass(ctx, opts, log, cfg)
}

func checkOutput(format string) error {
	if format != outputText && format != outputJSON {
		return &usageError{fmt.Errorf("--output: unknown format %q (want text or json)", format)}
	}
	return nil
}

// setup is what every config-driven command does first: check the output
// format, build the logger, load the config.
func setup(g *globalOptions, streams ioStreams, format, configFile string) (*slog.Logger, *config.Config, error) {
	if err := checkOutput(format); err != nil {
		return nil, nil, err
	}
	log, err := g.logger(streams.Err)
	if err != nil {
		return nil, nil, err
	}
	cfg, err := config.Load(configFile)
	if err != nil {
		return nil, nil, err
	}
	return log, cfg, nil
}
