package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/spf13/cobra"
)

// stageOptions are the flags of the commands that run the pipeline partway:
// plan, scan and policy.
type stageOptions struct {
	streams    ioStreams
	global     *globalOptions
	configFile string
	workdir    string
	output     string
	timeout    time.Duration
	until      stage
}

func newCmdPlan(streams ioStreams, g *globalOptions) *cobra.Command {
	opts := &stageOptions{streams: streams, global: g, until: stageUpdate}
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
	addConfigFlags(cmd, &opts.configFile, &opts.workdir, &opts.output, &opts.timeout)
	return cmd
}

func newCmdScan(streams ioStreams, g *globalOptions) *cobra.Command {
	opts := &stageOptions{streams: streams, global: g, until: stageScan}
	cmd := &cobra.Command{
		Use:     "scan",
		Short:   "List the tags of every configured image (the scan stage alone)",
		Example: `  uptick scan --config uptick.yaml --output json`,
		Args:    noArgs,
		RunE:    func(cmd *cobra.Command, _ []string) error { return runStage(cmd.Context(), opts) },
	}
	addConfigFlags(cmd, &opts.configFile, nil, &opts.output, &opts.timeout)
	return cmd
}

func newCmdPolicy(streams ioStreams, g *globalOptions) *cobra.Command {
	opts := &stageOptions{streams: streams, global: g, until: stagePolicy}
	cmd := &cobra.Command{
		Use:     "policy",
		Short:   "Show the tag each image's policy selects (scan and policy stages)",
		Example: `  uptick policy --config uptick.yaml`,
		Args:    noArgs,
		RunE:    func(cmd *cobra.Command, _ []string) error { return runStage(cmd.Context(), opts) },
	}
	addConfigFlags(cmd, &opts.configFile, nil, &opts.output, &opts.timeout)
	return cmd
}

func runStage(ctx context.Context, opts *stageOptions) error {
	log, cfg, err := setup(opts.global, opts.streams.Err, opts.output, opts.configFile)
	if err != nil {
		return err
	}
	rep, err := runPass(ctx, passOptions{cfg: cfg, until: opts.until, workdir: opts.workdir, timeout: opts.timeout, logger: log, getenv: opts.global.getenv})
	if err == nil && opts.until == stageUpdate && opts.output == outputText {
		if err := writeDiff(opts.streams.Out, rep); err != nil {
			return err
		}
		if rep.Message != "" {
			fmt.Fprintf(opts.streams.Out, "\ncommit message:\n%s\n", indent(rep.Message))
		}
	}
	return finishPass(opts.streams.Out, rep, err, opts.output, opts.until)
}

// setup is what every config-driven command does first: check the output
// format, build the logger, load the config.
func setup(g *globalOptions, stderr io.Writer, output, configFile string) (*slog.Logger, *loadedConfig, error) {
	if err := checkOutput(output); err != nil {
		return nil, nil, err
	}
	log, err := g.logger(stderr)
	if err != nil {
		return nil, nil, err
	}
	cfg, err := loadConfig(configFile)
	if err != nil {
		return nil, nil, err
	}
	return log, cfg, nil
}
