package main

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/robfig/cron/v3"
	"github.com/spf13/cobra"
)

// runOptions are the flags of `uptick run` (and, in part, `uptick plan`).
type runOptions struct {
	streams    ioStreams
	global     *globalOptions
	configFile string
	workdir    string
	schedule   string
	daemon     bool
	output     string
	timeout    time.Duration
}

func newCmdRun(streams ioStreams, g *globalOptions) *cobra.Command {
	opts := &runOptions{streams: streams, global: g}
	cmd := &cobra.Command{
		Use:   "run",
		Short: "Do one full pass: clone, scan, select, rewrite, commit and push",
		Long: `Do one full pass of the pipeline: clone (or refresh --workdir), list the tags of
every configured image, pick the newest tag each policy allows, rewrite the
marked YAML fields, commit (signed when a key is configured) and push.
A pass with nothing new makes no commit.

With --schedule (or --daemon and the config's schedule) uptick keeps running
and does a pass at each tick of the cron schedule, one pass at a time, until
it receives SIGINT or SIGTERM.`,
		Example: `  # one pass, as a CronJob or CI step would run it
  uptick run --config uptick.yaml

  # keep a clone between passes and print a machine-readable summary
  uptick run --config uptick.yaml --workdir /var/cache/uptick --output json

  # run every five minutes until stopped
  uptick run --config uptick.yaml --schedule "*/5 * * * *"`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runRun(cmd.Context(), opts) },
	}
	addConfigFlags(cmd, &opts.configFile, &opts.workdir, &opts.output, &opts.timeout)
	cmd.Flags().StringVar(&opts.schedule, "schedule", "", `keep running, one pass per tick of this cron schedule ("*/5 * * * *", "@every 10m")`)
	cmd.Flags().BoolVar(&opts.daemon, "daemon", false, "keep running on the config file's schedule")
	return cmd
}

// defaultTimeout bounds one pass unless --timeout says otherwise.
const defaultTimeout = 15 * time.Minute

func addConfigFlags(cmd *cobra.Command, config, workdir, output *string, timeout *time.Duration) {
	cmd.Flags().StringVarP(config, "config", "c", "uptick.yaml", "config file")
	if workdir != nil {
		cmd.Flags().StringVar(workdir, "workdir", "", "directory to keep the clone in between runs, locked while in use (default: a temporary directory)")
	}
	cmd.Flags().StringVarP(output, "output", "o", outputText, "summary format: text or json")
	cmd.Flags().DurationVar(timeout, "timeout", defaultTimeout, "give up on a pass that takes longer than this (0: never)")
}

func runRun(ctx context.Context, opts *runOptions) error {
	log, cfg, err := setup(opts.global, opts.streams.Err, opts.output, opts.configFile)
	if err != nil {
		return err
	}
	spec := opts.schedule
	if spec == "" && opts.daemon {
		if spec = cfg.Schedule; spec == "" {
			return &configError{fmt.Errorf("%s: schedule: required with --daemon", cfg.File)}
		}
	}
	pass := func(ctx context.Context) error {
		rep, err := runPass(ctx, passOptions{cfg: cfg, until: stageAll, workdir: opts.workdir, timeout: opts.timeout, logger: log, getenv: opts.global.getenv})
		return finishPass(opts.streams.Out, rep, err, opts.output, stageAll)
	}
	if spec == "" {
		return pass(ctx)
	}
	sched, err := parseSchedule(spec)
	if err != nil {
		return &usageError{fmt.Errorf("--schedule: %w", err)}
	}
	return runScheduled(ctx, sched, spec, pass, log)
}

// parseSchedule reads a standard five-field cron line or a descriptor such
// as "@hourly" or "@every 10m".
func parseSchedule(spec string) (cron.Schedule, error) {
	s, err := cron.ParseStandard(spec)
	if err != nil {
		return nil, fmt.Errorf("invalid cron schedule %q: %w", spec, err)
	}
	return s, nil
}

// runScheduled does a pass at each tick until ctx is done. Passes never
// overlap: the next tick is computed after a pass ends, so ticks missed
// while a long pass runs are skipped rather than queued. A failed pass is
// logged and the schedule goes on; a stop signal ends the loop cleanly.
func runScheduled(ctx context.Context, sched cron.Schedule, spec string, pass func(context.Context) error, log *slog.Logger) error {
	log.Info("running on a schedule", "schedule", spec)
	for {
		next := sched.Next(time.Now())
		log.Info("waiting for the next pass", "at", next.Format(time.RFC3339))
		timer := time.NewTimer(time.Until(next))
		select {
		case <-ctx.Done():
			timer.Stop()
			log.Info("stopping: signal received")
			return nil
		case <-timer.C:
		}
		if err := pass(ctx); err != nil {
			if ctx.Err() != nil {
				log.Info("stopping: signal received during a pass")
				return nil
			}
			log.Error("pass failed", "error", err)
		}
	}
}
