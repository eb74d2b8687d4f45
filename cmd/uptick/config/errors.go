package config

import (
	"errors"
	"fmt"
	"strings"
)

// FieldError is one problem with one field of a config file.
type FieldError struct {
	// Path names the field as a person finds it in the file:
	// "images[2] (payments-api).policy.semver.range".
	Path string
	// Line is the 1-based line of the field in the file, 0 if unknown.
	Line int
	Err  error
}

// Error renders "path: problem (line N)".
func (e *FieldError) Error() string {
	msg := e.Err.Error()
	if e.Path != "" {
		msg = e.Path + ": " + msg
	}
	if e.Line > 0 {
		msg += fmt.Sprintf(" (line %d)", e.Line)
	}
	return msg
}

// Unwrap returns the cause.
func (e *FieldError) Unwrap() error { return e.Err }

// Error is everything wrong with one config file. It is bad input: only
// editing the file (or the environment it names) fixes it.
type Error struct {
	File string
	// Problems are the field errors in file order; a problem that is not
	// about one field (the file cannot be read or parsed) has an empty Path.
	Problems []*FieldError
}

// Error renders one line per problem, each starting with the file name.
func (e *Error) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = e.File + ": " + p.Error()
	}
	return strings.Join(lines, "\n")
}

// Unwrap returns the problems, so errors.Is and errors.As see every cause.
func (e *Error) Unwrap() []error {
	errs := make([]error, len(e.Problems))
	for i, p := range e.Problems {
		errs[i] = p
	}
	return errs
}

// BadInput marks every config error as exit code 2.
func (e *Error) BadInput() bool { return true }

// fieldPather is implemented by a stage's own field errors: the path of the
// field relative to the stage's section ("url", "push.branch").
type fieldPather interface {
	error
	FieldPath() string
	Unwrap() error
}

// leaves flattens errors.Join trees into their leaf errors.
func leaves(err error) []error {
	if err == nil {
		return nil
	}
	var fp fieldPather
	if errors.As(err, &fp) && fp == err {
		return []error{err}
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, leaves(e)...)
		}
		return out
	}
	return []error{err}
}
