// Package update owns the rewrite stage: it finds setter markers
// (`# {"$imagepolicy": "ns:name[:tag|:name|:digest]"}`, compatible with Flux)
// in YAML files and replaces the marked scalar values with the chosen images.
//
// Files are screened for the marker bytes before any parsing. In the files that
// carry them, the marked scalars and their exact source positions are found
// in each marked document, by a line scanner when the document is plain block
// YAML (linescan.go) and otherwise by parsing it with kyaml's go-yaml, and
// the new values are spliced into the original bytes:
// a file is never re-serialised, so comments, blank lines, key order, quoting,
// document separators and line endings stay byte-identical.
//
// A marker is the line comment of a scalar (`image: x:1 # {...}`, `- x:1 # {...}`)
// or the comment on the line above the scalar or above its key. Its value is
// "name", "ns:name", "ns:name:field" or "name:field" (field: tag, name or
// digest; with two parts a known field name wins over a namespace). A marker
// "ns:name" uses the image of policy {ns, name}, else of {"", name}; a marker
// "name" uses {"", name}, else the only policy with that name in any namespace.
//
// The span of each marked scalar is checked against its parsed value before
// anything is written; markers that cannot be applied safely (aliases, block
// or multi-line scalars, mappings, unknown policies) are left alone and
// reported as warnings. A replaced plain value stays plain unless it would
// read back as something else under YAML 1.1 or 1.2 rules ("1.10", "yes",
// "null"...), in which case it is double-quoted; quoted values keep their style.
package update
