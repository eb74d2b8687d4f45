package main

import (
	"errors"
	"fmt"
	"io"
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
	var ce *configError
	var ue *usageError
	if errors.As(err, &ce) || errors.As(err, &ue) {
		return exitBadArgs
	}
	return exitFailed
}
