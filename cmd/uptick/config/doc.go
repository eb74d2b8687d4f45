// Package config loads uptick's config file (uptick.yaml): each stage's own
// spec (gitops.Spec, policy.Spec, ...) composed under one document, decoded
// strictly, defaulted and validated once, and resolved to one list of
// images, each carrying its spec, its tag selector and the marker reference
// that points at it. Every problem in a file is reported at once, each with
// the file, the line and the field's path.
package config
