package gitops

import (
	"errors"
	"fmt"
)

// FieldError is a problem with one field of Spec. Field is the path
// relative to the git section ("auth.passwordEnv", "commit.signingKey.file"):
// gitops does not know where the section sits in a config file, so the
// caller prefixes it. A FieldError is always bad input.
type FieldError struct {
	Field string
	Err   error
}

// Error implements error.
func (e *FieldError) Error() string { return e.Field + ": " + e.Err.Error() }

// Unwrap returns the cause.
func (e *FieldError) Unwrap() error { return e.Err }

// FieldPath returns Field, so a config loader can place the error in its
// file without knowing this type.
func (e *FieldError) FieldPath() string { return e.Field }

// BadInput reports that only a change of config or environment fixes it.
func (e *FieldError) BadInput() bool { return true }

// fieldErr builds a *FieldError with a formatted cause.
func fieldErr(field, format string, args ...any) error {
	return &FieldError{Field: field, Err: fmt.Errorf(format, args...)}
}

// inputError is a sentinel that only a change of config, flags, input or
// environment can fix: retrying cannot. Callers find it with errors.As on
// interface{ BadInput() bool }.
type inputError struct{ msg string }

func (e *inputError) Error() string  { return e.msg }
func (e *inputError) BadInput() bool { return true }

// badInput marks err as bad input while keeping its text and chain.
type badInput struct{ err error }

func (e *badInput) Error() string  { return e.err.Error() }
func (e *badInput) Unwrap() error  { return e.err }
func (e *badInput) BadInput() bool { return true }

// IsBadInput reports whether err, or an error it wraps, says that only a
// change of config, flags, input or environment can fix it.
func IsBadInput(err error) bool {
	var bi interface{ BadInput() bool }
	return errors.As(err, &bi) && bi.BadInput()
}

// sentinelError has a message of its own while errors.Is (and errors.As
// for BadInput) still find the sentinel it stands for, so a message does
// not repeat the sentinel's text.
type sentinelError struct {
	msg      string
	sentinel error
}

func (e *sentinelError) Error() string { return e.msg }
func (e *sentinelError) Unwrap() error { return e.sentinel }

// withSentinel returns an error reading format, args that wraps sentinel.
func withSentinel(sentinel error, format string, args ...any) error {
	return &sentinelError{msg: fmt.Sprintf(format, args...), sentinel: sentinel}
}
