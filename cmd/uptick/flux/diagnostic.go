package flux

import (
	"fmt"
	"strings"
)

// Severity says whether a Diagnostic stops its object from being used.
type Severity int

const (
	// Warning: the object is used; something it declares has no effect in
	// uptick, or has a different one (the message says which).
	Warning Severity = iota
	// Error: the object cannot be run as declared and is left out.
	Error
)

// String implements fmt.Stringer.
func (s Severity) String() string {
	if s == Error {
		return "error"
	}
	return "warning"
}

// Diagnostic is one problem found in a file: where, in which object, on
// which field, and what to do about it.
type Diagnostic struct {
	File     string // path as given to Load, joined with the file's relative path
	Line     int    // 1-based; 0 when the problem is the file itself
	Object   string // "ImagePolicy flux-system/podinfo", or "" before the object is known
	Field    string // "spec.git.push.refspec", or ""
	Severity Severity
	Message  string
}

// Error implements error: "file:line: Kind ns/name: field: message".
func (d *Diagnostic) Error() string {
	var b strings.Builder
	b.WriteString(d.File)
	if d.Line > 0 {
		fmt.Fprintf(&b, ":%d", d.Line)
	}
	b.WriteString(": ")
	if d.Severity == Warning {
		b.WriteString("warning: ")
	}
	if d.Object != "" {
		b.WriteString(d.Object + ": ")
	}
	if d.Field != "" {
		b.WriteString(d.Field + ": ")
	}
	b.WriteString(d.Message)
	return b.String()
}

// BadInput reports that only a change of the files or of uptick-flux.yaml
// fixes this (exit code 2).
func (d *Diagnostic) BadInput() bool { return true }
