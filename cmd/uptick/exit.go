package main

import (
	"errors"
	"fmt"
	"io"

	"github.com/uptick-gitops/uptick/gitops"
	"github.com/uptick-gitops/uptick/scan"
	"github.com/uptick-gitops/uptick/update"
)

// Exit codes, mapped in exitCode and nowhere else.
const (
	exitOK      = 0 // success, whether or not anything changed
	exitFailed  = 1 // a stage failed (registry, git, a file that could not be updated)
	exitBadArgs = 2 // bad config, flags or input
)

// usageError is a bad flag or argument: exit code 2.
type usageError struct{ err error }

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

// errBadInputReported marks a run whose summary already shows a failure
// that only a change of config, flags or environment can fix.
var errBadInputReported = &reportedError{&configError{errors.New("bad configuration or input")}}

// badInputErrors are the stage errors that retrying cannot fix: the user
// must change the config, the flags or the environment.
var badInputErrors = []error{
	gitops.ErrWorkdirMismatch,
	gitops.ErrBranchNotFound,
	gitops.ErrEmptyCredential,
	gitops.ErrNoPrivateKey,
	gitops.ErrPassphraseRequired,
	gitops.ErrBadPassphrase,
	update.ErrPathEscapesRoot,
	scan.ErrInvalidRepository,
}

func isBadInput(err error) bool {
	var ce *configError
	var ue *usageError
	if errors.As(err, &ce) || errors.As(err, &ue) {
		return true
	}
	for _, target := range badInputErrors {
		if errors.Is(err, target) {
			return true
		}
	}
	return false
}

// errStageFailed marks a run that completed what it could and already
// reported its failures in the summary; exitCode prints nothing more.
var errStageFailed = &reportedError{errors.New("one or more stages failed")}

// reportedError is an error the command's output already shows; exitCode
// maps it to a code without printing it again.
type reportedError struct{ err error }

func (e *reportedError) Error() string { return e.err.Error() }
func (e *reportedError) Unwrap() error { return e.err }

// exitCode prints err (unless already reported) and maps it to the process
// exit code.
func exitCode(stderr io.Writer, err error) int {
	if err == nil {
		return exitOK
	}
	var reported *reportedError
	if !errors.As(err, &reported) {
		fmt.Fprintf(stderr, "error: %v\n", err)
	}
	if isBadInput(err) {
		return exitBadArgs
	}
	return exitFailed
}
