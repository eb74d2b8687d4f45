// Package policy owns the choice of a tag: given the tags a registry lists and
// the user's policy spec, it returns the newest allowed tag, or a clear reason
// why none fits.
//
// The package is pure: no I/O, no clocks, no global state. Each strategy
// (semver, alphabetical, numerical) lives in its own file behind the small
// Policer interface, and every constructor validates its input so that a bad
// range or pattern is reported when the config is loaded, not mid-run. Ties
// are broken explicitly so the same tags always give the same answer.
package policy
