// Command uptick keeps a GitOps repository's image references up to date:
// one run clones the repository, lists registry tags, picks the newest tag
// each policy allows, rewrites the marked YAML fields byte-exactly, and
// commits and pushes the change.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/uptick-gitops/uptick/gitops"
)

func main() {
	// A closed stdout (uptick plan | head -1) must fail a write, not kill
	// the process before it removes its temporary clone.
	signal.Ignore(syscall.SIGPIPE)
	tuneMemory(os.Getenv)
	// file:// remotes are served in-process, so the image needs no git.
	gitops.InstallFileTransport()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		// The first signal stops the run cleanly; a second one kills it.
		<-ctx.Done()
		stop()
	}()
	err := newCmdRoot(ioStreams{In: os.Stdin, Out: os.Stdout, Err: os.Stderr}, os.Getenv).ExecuteContext(ctx)
	code := exitCode(ctx, os.Stderr, err)
	stop()
	os.Exit(code)
}
