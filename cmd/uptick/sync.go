package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/uptick-gitops/uptick/cmd/uptick/output"
	"github.com/uptick-gitops/uptick/cmd/uptick/pass"
	"github.com/uptick-gitops/uptick/sync"
)

// syncOptions are the flags of `uptick sync`.
type syncOptions struct {
	streams ioStreams
	global  *globalOptions
	path    string
	spec    sync.Spec
	prune   bool
	dryRun  bool
	output  string
	timeout time.Duration
}

func newCmdSync(streams ioStreams, g *globalOptions) *cobra.Command {
	opts := &syncOptions{streams: streams, global: g}
	cmd := &cobra.Command{
		Use:   "sync",
		Short: "Apply a directory of manifests to a cluster (the sync stage alone, no git)",
		Long: `Make the cluster match the manifests in --path: plain YAML files found
recursively, or a kustomization built in-process. Objects are applied with
server-side apply as field manager "uptick", forcing ownership of the fields
the manifests declare (CustomResourceDefinitions and Namespaces first), and
recorded in an inventory ConfigMap; objects that uptick applied before and
that left the manifests are deleted (--prune=false only reports them).
Changes made in the cluster to fields the manifests declare are put back and
reported as drift. A sync where nothing changed sends no write.

--dry-run changes nothing and prints, per object, the diff between the live
object and what the sync would make of it.`,
		Example: `  uptick sync --path clusters/prod
  uptick sync --path clusters/prod --dry-run
  uptick sync --path clusters/prod --kubeconfig ~/.kube/prod --context prod --inventory flux-system/uptick-inventory --wait 2m -o json`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if cmd.Flags().Changed("prune") {
				opts.spec.Prune = &opts.prune
			}
			return runSync(cmd.Context(), opts)
		},
	}
	f := cmd.Flags()
	f.StringVar(&opts.path, "path", ".", "directory (or file) of manifests; a kustomization.yaml in it is built with kustomize")
	f.StringVar(&opts.spec.Kubeconfig, "kubeconfig", "", "kubeconfig file (default $KUBECONFIG, then the pod's service account in a cluster, then ~/.kube/config)")
	f.StringVar(&opts.spec.Context, "context", "", "kubeconfig context (default its current context)")
	f.StringVar(&opts.spec.Inventory, "inventory", sync.DefaultInventory, "NAMESPACE/NAME of the ConfigMap recording what uptick applied")
	f.BoolVar(&opts.prune, "prune", true, "delete objects uptick applied before that are no longer in --path (--prune=false reports them)")
	f.DurationVar(&opts.spec.Wait, "wait", 0, "wait this long for the applied objects to be ready (kstatus); 0 does not wait")
	f.BoolVar(&opts.dryRun, "dry-run", false, "change nothing; print the diff of every object that would change")
	f.BoolVar(&opts.spec.Force, "force", false, "delete and recreate objects whose change touches an immutable field")
	f.StringVar(&opts.spec.ServiceAccount, "service-account", "", "NAMESPACE/NAME of a ServiceAccount to impersonate")
	f.StringVarP(&opts.output, "output", "o", outputText, "report format: text or json")
	f.DurationVar(&opts.timeout, "timeout", defaultTimeout, "give up on a sync that takes longer than this (0: never)")
	return cmd
}

func runSync(ctx context.Context, opts *syncOptions) error {
	if err := checkOutput(opts.output); err != nil {
		return err
	}
	log, err := opts.global.logger(opts.streams.Err)
	if err != nil {
		return err
	}
	if _, err := os.Stat(opts.path); err != nil {
		return &usageError{fmt.Errorf("--path %s: %w", opts.path, errors.Unwrap(err))}
	}
	root, rel, err := pass.RepoRoot(opts.path)
	if err != nil {
		return &usageError{fmt.Errorf("--path: %w", err)}
	}
	opts.spec.Path = rel
	if err := opts.spec.Validate(); err != nil {
		return &usageError{flagError(err)}
	}
	if opts.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeoutCause(ctx, opts.timeout, fmt.Errorf("sync timed out after %s (--timeout)", opts.timeout))
		defer cancel()
	}
	out := pass.Sync(ctx, pass.SyncOptions{
		Root: root, Spec: opts.spec, DryRun: opts.dryRun, Logger: log,
		Getenv: opts.global.getenv, UserAgent: "uptick/" + buildVersion(),
	})
	out.Path = opts.path
	res := out.PassResult()
	if opts.output == outputJSON {
		err = output.JSON(opts.streams.Out, "sync", res)
	} else {
		err = output.SyncText(opts.streams.Out, out)
	}
	if err != nil {
		return fmt.Errorf("writing the report: %w", err)
	}
	if perr := res.Err(); perr != nil {
		return &reportedError{perr}
	}
	return nil
}

// flagError names the flag behind each sync spec field in err.
func flagError(err error) error {
	flags := map[string]string{"inventory": "--inventory", "serviceAccount": "--service-account", "wait": "--wait", "path": "--path"}
	var errs []error
	for _, e := range unjoin(err) {
		var fe *sync.FieldError
		if errors.As(e, &fe) && flags[fe.Field] != "" {
			e = fmt.Errorf("%s: %w", flags[fe.Field], fe.Err)
		}
		errs = append(errs, e)
	}
	return errors.Join(errs...)
}

// unjoin splits an errors.Join.
func unjoin(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}
