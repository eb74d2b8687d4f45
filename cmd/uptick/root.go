package main

import (
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/spf13/cobra"
)

// ioStreams are where a command reads and writes; tests pass buffers.
type ioStreams struct {
	In  io.Reader
	Out io.Writer
	Err io.Writer
}

// globalOptions are the flags every command shares.
type globalOptions struct {
	logFormat string
	logLevel  string
	getenv    func(string) string
}

func (g *globalOptions) logger(w io.Writer) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(g.logLevel)); err != nil {
		return nil, &usageError{fmt.Errorf("--log-level: %w", err)}
	}
	hopts := &slog.HandlerOptions{Level: level}
	switch g.logFormat {
	case "text":
		return slog.New(slog.NewTextHandler(w, hopts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, hopts)), nil
	default:
		return nil, &usageError{fmt.Errorf("--log-format: unknown format %q (want text or json)", g.logFormat)}
	}
}

func newCmdRoot(streams ioStreams, getenv func(string) string) *cobra.Command {
	g := &globalOptions{getenv: getenv}
	cmd := &cobra.Command{
		Use:   "uptick",
		Short: "Keep GitOps manifests on the newest images your policies allow",
		Long: strings.TrimSpace(`
uptick closes the GitOps loop for container images, as one job. A run clones
the fleet repository, lists the tags of each configured image, picks the
newest tag its policy allows, rewrites only the YAML fields that carry a
setter marker such as

    image: ghcr.io/org/app:1.2.3 # {"$imagepolicy": "flux-system:app"}

keeping every other byte, and commits (optionally OpenPGP-signed) and pushes.`),
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	cmd.SetIn(streams.In)
	cmd.SetOut(streams.Out)
	cmd.SetErr(streams.Err)
	cmd.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return &usageError{err} })
	cmd.PersistentFlags().StringVar(&g.logFormat, "log-format", "text", "log format: text or json")
	cmd.PersistentFlags().StringVar(&g.logLevel, "log-level", "info", "log level: debug, info, warn or error")

	cmd.AddCommand(
		newCmdRun(streams, g),
		newCmdPlan(streams, g),
		newCmdScan(streams, g),
		newCmdPolicy(streams, g),
		newCmdUpdate(streams, g),
		newCmdSync(streams, g),
		newCmdDemo(streams, g),
		newCmdVersion(streams),
	)
	return cmd
}

// noArgs rejects positional arguments as a usage error (exit 2).
func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return &usageError{fmt.Errorf("%s takes no arguments, got %q", cmd.CommandPath(), args)}
	}
	return nil
}
