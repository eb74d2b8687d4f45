package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/robfig/cron/v3"
	"github.com/spf13/cobra"

	"github.com/uptick-gitops/uptick/cmd/uptick/config"
	"github.com/uptick-gitops/uptick/cmd/uptick/output"
	"github.com/uptick-gitops/uptick/cmd/uptick/pass"
)

// runOptions are the flags of `uptick run` and of the commands that run the
// pipeline partway (plan, scan, policy).
type runOptions struct {
	streams    ioStreams
	global     *globalOptions
	command    string
	until      pass.Stage
	configFile string
	workdir    string
	schedule   string
	daemon     bool
	output     string
	timeout    time.Duration
	// flux and automation: Flux objects as the config (--flux, --automation).
	flux       string
	automation string
	// fluxFromCheckout reads the Flux objects from the checkout
	// (--flux-from-checkout); reconfigure does it for the pass.
	fluxFromCheckout bool
	reconfigure      func(dir string) (*config.Config, error)
}

func newCmdRun(streams ioStreams, g *globalOptions) *cobra.Command {
	opts := &runOptions{streams: streams, global: g, command: "run", until: pass.Publish}
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
	addPassFlags(cmd, opts, true)
	cmd.Flags().StringVar(&opts.schedule, "schedule", "", `keep running, one pass per tick of this cron schedule ("*/5 * * * *", "@every 10m")`)
	cmd.Flags().BoolVar(&opts.daemon, "daemon", false, "keep running on the config file's schedule")
	return cmd
}

// defaultTimeout bounds one pass unless --timeout says otherwise.
const defaultTimeout = 15 * time.Minute

func addPassFlags(cmd *cobra.Command, opts *runOptions, workdir bool) {
	cmd.Flags().StringVarP(&opts.configFile, "config", "c", "uptick.yaml", "config file")
	if workdir {
		cmd.Flags().StringVar(&opts.workdir, "workdir", "", "directory to keep the clone in between runs, locked while in use (default: a temporary directory)")
	}
	cmd.Flags().StringVarP(&opts.output, "output", "o", outputText, "summary format: text or json")
	cmd.Flags().DurationVar(&opts.timeout, "timeout", defaultTimeout, "give up on a pass that takes longer than this (0: never); commit and push keep a share of it")
	addFluxFlags(cmd, opts)
}

func runRun(ctx context.Context, opts *runOptions) error {
	log, cfg, err := setupGit(opts)
	if err != nil {
		return err
	}
	spec := opts.schedule
	if spec == "" && opts.daemon {
		if spec = cfg.Schedule; spec == "" {
			return &usageError{fmt.Errorf("--daemon: the config file %s has no schedule", cfg.Path)}
		}
	}
	once := func(ctx context.Context) error { return runPass(ctx, opts, log, cfg) }
	if spec == "" {
		return once(ctx)
	}
	sched, err := config.ParseSchedule(spec)
	if err != nil {
		return &usageError{fmt.Errorf("--schedule: %w", err)}
	}
	return runScheduled(ctx, sched, spec, once, log)
}

// runPass does one pass and renders its result.
func runPass(ctx context.Context, opts *runOptions, log *slog.Logger, cfg *config.Config) error {
	res := pass.Run(ctx, cfg, pass.Options{
		Until: opts.until, Workdir: opts.workdir, Timeout: opts.timeout,
		Logger: log, Getenv: opts.global.getenv, UserAgent: "uptick/" + buildVersion(),
		Reconfigure: opts.reconfigure,
	})
	return render(opts.streams, opts.output, opts.command, res)
}

// render prints a result and returns what the command exits with: nil, or
// an error already shown in the output.
func render(streams ioStreams, format, command string, res *pass.Result) error {
	var err error
	switch {
	case format == outputJSON:
		err = output.JSON(streams.Out, command, res)
	case res.Until == pass.Plan && res.Fatal == nil:
		if err = output.Diff(streams.Out, res); err == nil {
			if a := res.Last(); a != nil && a.Message != "" {
				_, err = fmt.Fprintf(streams.Out, "\ncommit message:\n%s\n\n", output.Indent(a.Message))
			}
		}
		if err == nil {
			err = output.Text(streams.Out, res)
		}
	default:
		err = output.Text(streams.Out, res)
	}
	if err != nil {
		return fmt.Errorf("writing the report: %w", err)
	}
	if perr := res.Err(); perr != nil {
		return &reportedError{perr}
	}
	return nil
}

// runScheduled does a pass at each tick until ctx is done. Passes never
// overlap: the next tick is computed after a pass ends, so ticks missed
// while a long pass runs are skipped rather than queued. A failed pass is
// logged and the schedule goes on; a stop signal ends the loop.
func runScheduled(ctx context.Context, sched cron.Schedule, spec string, once func(context.Context) error, log *slog.Logger) error {
	log.Info("running on a schedule", "schedule", spec)
	for {
		next := sched.Next(time.Now())
		log.Info("waiting for the next pass", "at", next.Format(time.RFC3339))
		timer := time.NewTimer(time.Until(next))
		select {
		case <-ctx.Done():
			timer.Stop()
			log.Info("stopping: signal received")
			return ctx.Err()
		case <-timer.C:
		}
		if err := once(ctx); err != nil {
			if ctx.Err() != nil {
				log.Info("stopping: signal received during a pass")
				return ctx.Err()
			}
			var rep *reportedError
			if errors.As(err, &rep) {
				log.Error("pass failed", "error", rep.err)
			} else {
				log.Error("pass failed", "error", err)
			}
		}
	}
}
