package main

import (
	"context"
	"errors"
	"fmt"
	"io"
)

// Exit codes, decided in exitCode and nowhere else.
const (
	exitOK          = 0 // success, whether or not anything changed
	exitFailed      = 1 // a stage failed (registry, git, a file that could not be updated)
	exitBadInput    = 2 // bad config, flags or input: only the user can fix it
	exitInterrupted = 3 // stopped by SIGINT or SIGTERM
)

// badInputError is implemented by errors that only a change of config,
// flags, input or environment can fix; retrying cannot. Every stage marks
// its own such errors, so nothing here has to know them.
type badInputError interface {
	error
	BadInput() bool
}

// isBadInput reports whether any error in err's tree says it is bad input.
func isBadInput(err error) bool {
	if err == nil {
		return false
	}
	if bi, ok := err.(badInputError); ok && bi.BadInput() {
		return true
	}
	switch u := err.(type) {
	case interface{ Unwrap() error }:
		return isBadInput(u.Unwrap())
	case interface{ Unwrap() []error }:
		for _, e := range u.Unwrap() {
			if isBadInput(e) {
				return true
			}
		}
	}
	return false
}

// usageError is a bad flag or argument.
type usageError struct{ err error }

func (e *usageError) Error() string  { return e.err.Error() }
func (e *usageError) Unwrap() error  { return e.err }
func (e *usageError) BadInput() bool { return true }

// reportedError is an error the command's output already shows; exitCode
// maps it to a code without printing it again.
type reportedError struct{ err error }

func (e *reportedError) Error() string { return e.err.Error() }
func (e *reportedError) Unwrap() error { return e.err }

// exitCode prints err (unless already reported) and maps it to the process
// exit code. A cancelled ctx means a signal stopped the command.
func exitCode(ctx context.Context, stderr io.Writer, err error) int {
	if ctx.Err() != nil {
		if err != nil && !errors.As(err, new(*reportedError)) && !errors.Is(err, context.Canceled) {
			fmt.Fprintf(stderr, "error: %v\n", err)
		}
		fmt.Fprintln(stderr, "interrupted: stopped by a signal")
		return exitInterrupted
	}
	if err == nil {
		return exitOK
	}
	if !errors.As(err, new(*reportedError)) {
		fmt.Fprintf(stderr, "error: %v\n", err)
	}
	if isBadInput(err) {
		return exitBadInput
	}
	return exitFailed
}
