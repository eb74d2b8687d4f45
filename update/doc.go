// Package update owns the rewrite stage: it finds setter markers
// (`# {"$imagepolicy": "ns:name[:tag|:name|:digest]"}`, compatible with Flux)
// in YAML files and replaces the marked scalar values with the chosen images.
//
// Files are screened for the marker bytes before any parsing. Files that carry
// them are parsed with kyaml to locate the marked scalars and their exact
// source positions, and the new values are spliced into the original bytes:
// a file is never re-serialised, so comments, blank lines, key order, quoting,
// document separators and line endings stay byte-identical.
package update
