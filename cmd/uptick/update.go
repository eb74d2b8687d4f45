package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/uptick-gitops/uptick/cmd/uptick/config"
	"github.com/uptick-gitops/uptick/cmd/uptick/output"
	"github.com/uptick-gitops/uptick/cmd/uptick/pass"
	"github.com/uptick-gitops/uptick/update"
)

// updateOptions are the flags of `uptick update`.
type updateOptions struct {
	streams ioStreams
	global  *globalOptions
	path    string
	images  []string
	dryRun  bool
	output  string
	maxSize int64
}

func newCmdUpdate(streams ioStreams, g *globalOptions) *cobra.Command {
	opts := &updateOptions{streams: streams, global: g}
	cmd := &cobra.Command{
		Use:   "update",
		Short: "Set marked image fields in local YAML files (the update stage alone)",
		Long: `Apply setter values to the YAML files under --path, without a registry or git.
Each --image NAME=REF sets the fields whose marker names policy NAME (with
or without a "namespace:" prefix) from REF, a full image reference:
the whole reference for plain markers, and its repository, tag or digest for
":name", ":tag" and ":digest" markers. Only the marked values change; every
other byte of a file stays as it was.`,
		Example: `  uptick update --path clusters/prod --image podinfo=ghcr.io/stefanprodan/podinfo:6.5.3
  uptick update --path . --image flux-system:app=registry.example/app:1.2.3@sha256:0123...  --dry-run`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runUpdate(cmd.Context(), opts) },
	}
	cmd.Flags().StringVar(&opts.path, "path", ".", "directory holding the YAML files")
	cmd.Flags().StringArrayVar(&opts.images, "image", nil, "NAME=REF: the image policy NAME now selects REF (repeatable)")
	cmd.Flags().BoolVar(&opts.dryRun, "dry-run", false, "print the diff instead of writing the files")
	cmd.Flags().StringVarP(&opts.output, "output", "o", outputText, "summary format: text or json")
	cmd.Flags().Int64Var(&opts.maxSize, "max-file-size", update.DefaultMaxFileSize, "largest file with markers rewritten, in bytes; a larger one is left alone with a warning")
	return cmd
}

func parseImageFlags(flags []string) (map[update.PolicyRef]update.Image, error) {
	if len(flags) == 0 {
		return nil, &usageError{fmt.Errorf("--image: at least one NAME=REF is required")}
	}
	images := make(map[update.PolicyRef]update.Image, len(flags))
	for _, f := range flags {
		name, ref, ok := strings.Cut(f, "=")
		if !ok {
			return nil, &usageError{fmt.Errorf("--image %q: want NAME=REF", f)}
		}
		pr, err := update.ParsePolicyRef(name)
		if err != nil {
			return nil, &usageError{fmt.Errorf("--image %q: %w", f, err)}
		}
		img, err := update.ParseImage(ref)
		if err != nil {
			return nil, &usageError{fmt.Errorf("--image %q: %w", f, err)}
		}
		if _, dup := images[pr]; dup {
			return nil, &usageError{fmt.Errorf("--image %q: %s given twice", f, pr)}
		}
		images[pr] = img
	}
	return images, nil
}

func runUpdate(ctx context.Context, opts *updateOptions) error {
	if err := checkOutput(opts.output); err != nil {
		return err
	}
	images, err := parseImageFlags(opts.images)
	if err != nil {
		return err
	}
	if opts.maxSize < 1 || opts.maxSize > config.MaxUpdateFileSize {
		return &usageError{fmt.Errorf("--max-file-size: must be between 1 and %d bytes (256 MiB), got %d", config.MaxUpdateFileSize, opts.maxSize)}
	}
	res := pass.Update(ctx, opts.path, images, opts.dryRun, opts.maxSize)
	if opts.dryRun && opts.output == outputText {
		if err := output.Diff(opts.streams.Out, res); err != nil {
			return fmt.Errorf("writing the diff: %w", err)
		}
	}
	return render(opts.streams, opts.output, "update", res)
}
