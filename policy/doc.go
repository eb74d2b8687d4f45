// Package policy owns the choice of a tag: given the tags a registry lists and
// the user's policy spec, it returns the newest allowed tag, or a clear reason
// why none fits.
//
// The answers are Flux's image-reflector-controller's: semver tags are read
// as Flux's version package reads them (a leading "v", leading zeros, at
// least two dots, then Masterminds/semver's lenient parser), numerical
// values as strconv.ParseFloat reads them, alphabetical values in byte
// order, exclusions before filterTags, and ties broken as Flux breaks them
// wherever its answer is fixed. Two differences are deliberate: numerical
// values ParseFloat cannot read, and NaN, are skipped and counted instead
// of failing the policy, and an extract template naming a group the
// pattern lacks is rejected instead of expanding to "". A differential test
// holds the package to answers recorded from Flux's own code
// (testdata/policy/flux-answers.json).
//
// Selection is one pass with a running best and explicit tie-breaks: no
// tag list is sorted or copied, so 100,000 tags take milliseconds, and
// SelectReader chooses from a list of any length in bounded memory.
//
// The package is pure: no clocks, no global state. Each strategy
// (semver, alphabetical, numerical) lives in its own file, and every
// constructor validates its input so that a bad range or pattern is
// reported when the config is loaded, not mid-run.
package policy
