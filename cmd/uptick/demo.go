package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/go-git/go-git/v5"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/spf13/cobra"

	"github.com/uptick-gitops/uptick/cmd/uptick/config"
	"github.com/uptick-gitops/uptick/cmd/uptick/demo"
	"github.com/uptick-gitops/uptick/cmd/uptick/output"
	"github.com/uptick-gitops/uptick/cmd/uptick/pass"
)

// demoOptions are the flags of `uptick demo`.
type demoOptions struct {
	streams ioStreams
	global  *globalOptions
	dir     string
}

const demoConfig = `# uptick demo config: the same file a CronJob would mount.
git:
  url: %s
  branch: main
  commit:
    author: {name: uptick, email: uptick@example.org}
    signingKey: {file: %s}
  push:
    branch: main
images:
  - name: demo:podinfo
    repository: %s/demo/podinfo
    policy: {semver: {range: "^6.x"}}
  - name: demo:redis
    repository: %s/demo/redis
    policy: {semver: {range: "~7.2"}}
    exclude: ['-alpine$']
update:
  paths: [clusters]
scan:
  insecure: [%s]   # the in-process registry serves plain HTTP
`

func newCmdDemo(streams ioStreams, g *globalOptions) *cobra.Command {
	opts := &demoOptions{streams: streams, global: g}
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run one real pass against an in-process registry and a throwaway Git repository",
		Long: `Start an in-process OCI registry holding two images with several tags, seed a
throwaway bare Git repository with the embedded demo fleet (manifests with
setter markers), generate a throwaway OpenPGP key, and do one real
"uptick run" against them: the same code a CronJob runs. Then print the
commit's diff, verify its signature, and run a second pass to show that
nothing new means no commit.

With --dir the repository, key and config stay there for inspection, e.g.
  git --git-dir DIR/fleet.git log --show-signature -1`,
		Example: `  uptick demo
  uptick demo --dir /tmp/uptick-demo`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runDemo(cmd.Context(), opts) },
	}
	cmd.Flags().StringVar(&opts.dir, "dir", "", "keep the demo repository, key and config in this directory (default: a temporary directory, removed afterwards)")
	return cmd
}

func runDemo(ctx context.Context, opts *demoOptions) error {
	out := opts.streams.Out
	logger, err := opts.global.logger(opts.streams.Err)
	if err != nil {
		return err
	}
	dir := opts.dir
	if dir == "" {
		if dir, err = os.MkdirTemp("", "uptick-demo-"); err != nil {
			return err
		}
		defer os.RemoveAll(dir)
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if dir, err = filepath.Abs(dir); err != nil {
		return err
	}

	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	fmt.Fprintf(out, "==> in-process registry at %s\n", host)
	if err := demo.SeedRegistry(ctx, host); err != nil {
		return fmt.Errorf("seeding the demo registry: %w", err)
	}

	remoteDir := filepath.Join(dir, "fleet.git")
	if err := demo.SeedFleet(remoteDir, host); err != nil {
		return fmt.Errorf("seeding the demo repository: %w", err)
	}
	fmt.Fprintf(out, "==> throwaway Git remote at %s (branch main)\n", remoteDir)

	keyFile := filepath.Join(dir, "signing-key.asc")
	pub, err := demo.WriteKey(keyFile, filepath.Join(dir, "signing-key.pub.asc"))
	if err != nil {
		return fmt.Errorf("generating the demo signing key: %w", err)
	}
	fmt.Fprintf(out, "==> throwaway OpenPGP key %X written to %s\n", pub.PrimaryKey.Fingerprint, keyFile)

	cfgFile := filepath.Join(dir, "uptick.yaml")
	cfgText := fmt.Sprintf(demoConfig, "file://"+filepath.ToSlash(remoteDir), keyFile, host, host, strconv.Quote(host))
	if err := os.WriteFile(cfgFile, []byte(cfgText), 0o644); err != nil {
		return err
	}
	cfg, err := config.Load(cfgFile)
	if err != nil {
		return err
	}
	if err := cfg.Preflight(opts.global.getenv); err != nil {
		return err
	}

	fmt.Fprintf(out, "\n==> uptick run --config %s\n", cfgFile)
	po := pass.Options{ListTags: true, Logger: logger, Getenv: opts.global.getenv, UserAgent: "uptick/" + buildVersion()}
	res := pass.Run(ctx, cfg, po)
	for _, img := range res.Images {
		fmt.Fprintf(out, "image %s (%s): %d tags listed: %s\n", img.Name, img.Repository, len(img.Tags), strings.Join(img.Tags, " "))
	}
	fmt.Fprintln(out)
	if err := output.Text(out, res); err != nil {
		return err
	}
	if err := res.Err(); err != nil {
		return &reportedError{err}
	}
	if !res.Pushed() {
		return errors.New("the demo pass pushed nothing")
	}

	fmt.Fprintf(out, "\n==> the pushed commit\n")
	if err := showCommit(out, remoteDir, res.Last().Commit, pub); err != nil {
		return err
	}
	if err := output.Diff(out, res); err != nil {
		return err
	}

	fmt.Fprintf(out, "\n==> a second run, with nothing new in the registry\n")
	res2 := pass.Run(ctx, cfg, po)
	if err := output.Text(out, res2); err != nil {
		return err
	}
	if err := res2.Err(); err != nil {
		return &reportedError{err}
	}
	if a := res2.Last(); a == nil || a.Commit != "" {
		return errors.New("second demo pass: expected no commit")
	}
	return nil
}

// showCommit prints the pushed commit as the remote has it, and checks its
// signature against the demo public key.
func showCommit(out io.Writer, remoteDir, sha string, pub *openpgp.Entity) error {
	repo, err := git.PlainOpen(remoteDir)
	if err != nil {
		return err
	}
	ref, err := repo.Head()
	if err != nil {
		return err
	}
	if ref.Hash().String() != sha {
		return fmt.Errorf("remote main is at %s, not the pushed commit %s", ref.Hash(), sha)
	}
	c, err := repo.CommitObject(ref.Hash())
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "commit %s\nAuthor: %s <%s>\n\n%s\n", c.Hash, c.Author.Name, c.Author.Email, output.Indent(c.Message))
	var armored bytes.Buffer
	w, err := armor.Encode(&armored, openpgp.PublicKeyType, nil)
	if err != nil {
		return err
	}
	if err := pub.Serialize(w); err != nil {
		return err
	}
	w.Close()
	signer, err := c.Verify(armored.String())
	if err != nil {
		return fmt.Errorf("verifying the signature of %s: %w", output.Short(sha), err)
	}
	for id := range signer.Identities {
		fmt.Fprintf(out, "signature: good, by %q (key %X)\n\n", id, signer.PrimaryKey.Fingerprint)
		break
	}
	return nil
}
