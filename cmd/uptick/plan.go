package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/uptick-gitops/uptick/cmd/uptick/config"
	"github.com/uptick-gitops/uptick/cmd/uptick/pass"
	"github.com/uptick-gitops/uptick/policy"
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

// policyFlags are `uptick policy`'s flags for choosing from a tag list
// instead of a config file's registries.
type policyFlags struct {
	tagsFrom      string
	semver        string
	alphabetical  string
	numerical     string
	filterPattern string
	filterExtract string
	exclude       []string
}

func newCmdPolicy(streams ioStreams, g *globalOptions) *cobra.Command {
	opts := &runOptions{streams: streams, global: g, command: "policy", until: pass.Policy}
	pf := &policyFlags{}
	cmd := &cobra.Command{
		Use:   "policy",
		Short: "Show the tag each image's policy selects (scan and policy stages)",
		Long: `Without --tags-from: list every configured image's tags and show the tag its
policy selects.

With --tags-from FILE (or - for stdin): read one tag per line, apply the
policy given by flags, and print only the chosen tag, for scripts and for
comparing with other tools. Exit 1 with the reason on stderr when no tag
fits, 2 for a bad policy.`,
		Example: `  uptick policy --config uptick.yaml
  crane ls ghcr.io/org/app | uptick policy --tags-from - --semver '^1.x' --exclude '^.*\.sig$'
  uptick policy --tags-from tags.txt --numerical asc --filter-pattern '^main-[a-f0-9]+-(?P<ts>[0-9]+)$' --filter-extract '$ts'`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if pf.tagsFrom != "" {
				return runPolicyTags(opts.streams, pf)
			}
			if pf.semver != "" || pf.alphabetical != "" || pf.numerical != "" || pf.filterPattern != "" || pf.filterExtract != "" || len(pf.exclude) > 0 {
				return &usageError{errors.New("--semver, --alphabetical, --numerical, --filter-* and --exclude need --tags-from")}
			}
			return runStage(cmd.Context(), opts)
		},
	}
	addPassFlags(cmd, opts, false)
	f := cmd.Flags()
	f.StringVar(&pf.tagsFrom, "tags-from", "", "choose from the tags in this file, one per line (- for stdin), instead of the config's registries")
	f.StringVar(&pf.semver, "semver", "", "with --tags-from: the highest version in this semver range")
	f.StringVar(&pf.alphabetical, "alphabetical", "", "with --tags-from: alphabetical order, asc or desc")
	f.StringVar(&pf.numerical, "numerical", "", "with --tags-from: numerical order, asc or desc")
	f.StringVar(&pf.filterPattern, "filter-pattern", "", "with --tags-from: only tags matching this regular expression")
	f.StringVar(&pf.filterExtract, "filter-extract", "", "with --tags-from: compare this expansion of the pattern ($name, ${name}, $1) instead of the tag")
	f.StringArrayVar(&pf.exclude, "exclude", nil, "with --tags-from: never choose tags matching this regular expression (repeatable)")
	return cmd
}

// runPolicyTags chooses from a tag list and prints only the chosen tag.
func runPolicyTags(streams ioStreams, pf *policyFlags) error {
	var spec policy.Spec
	if pf.semver != "" {
		spec.SemVer = &policy.SemVerSpec{Range: pf.semver}
	}
	if pf.alphabetical != "" {
		spec.Alphabetical = &policy.OrderSpec{Order: pf.alphabetical}
	}
	if pf.numerical != "" {
		spec.Numerical = &policy.OrderSpec{Order: pf.numerical}
	}
	var filter *policy.FilterSpec
	if pf.filterPattern != "" || pf.filterExtract != "" {
		filter = &policy.FilterSpec{Pattern: pf.filterPattern, Extract: pf.filterExtract}
	}
	in := streams.In
	if pf.tagsFrom != "-" {
		f, err := os.Open(pf.tagsFrom)
		if err != nil {
			return &usageError{fmt.Errorf("--tags-from: %w", err)}
		}
		defer f.Close()
		in = f
	}
	choice, err := policy.SelectFrom(in, spec, filter, pf.exclude)
	var fe *policy.FieldError
	switch {
	case errors.As(err, &fe):
		return &usageError{fmt.Errorf("%s: %w", policyFlag(fe.Field), fe.Err)}
	case err != nil:
		return err
	}
	_, err = fmt.Fprintln(streams.Out, choice.Tag)
	return err
}

// policyFlag names the flag behind a policy field path.
func policyFlag(field string) string {
	switch {
	case strings.HasPrefix(field, "policy.semver"):
		return "--semver"
	case strings.HasPrefix(field, "policy.alphabetical"):
		return "--alphabetical"
	case strings.HasPrefix(field, "policy.numerical"):
		return "--numerical"
	case strings.HasPrefix(field, "policy"):
		return "--semver, --alphabetical or --numerical"
	case field == "filterTags.pattern":
		return "--filter-pattern"
	case strings.HasPrefix(field, "filterTags"):
		return "--filter-extract"
	case strings.HasPrefix(field, "exclude["):
		n, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(field, "exclude["), "]"))
		return fmt.Sprintf("--exclude (#%d)", n+1)
	}
	return field
}

func runStage(ctx context.Context, opts *runOptions) error {
	load := setup
	if opts.until >= pass.Plan {
		load = setupGit
	}
	log, cfg, err := load(opts)
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
// format, build the logger, load the config (and the Flux objects given
// with --flux).
func setup(opts *runOptions) (*slog.Logger, *config.Config, error) {
	if err := checkOutput(opts.output); err != nil {
		return nil, nil, err
	}
	log, err := opts.global.logger(opts.streams.Err)
	if err != nil {
		return nil, nil, err
	}
	cfg, err := loadConfig(opts)
	if err != nil {
		return nil, nil, err
	}
	return log, cfg, nil
}

// setupGit is setup for the commands that touch the repository (run,
// plan): it also checks, before any request, what needs the environment.
func setupGit(opts *runOptions) (*slog.Logger, *config.Config, error) {
	log, cfg, err := setup(opts)
	if err != nil {
		return nil, nil, err
	}
	if err := cfg.Preflight(opts.global.getenv); err != nil {
		return nil, nil, err
	}
	return log, cfg, nil
}
