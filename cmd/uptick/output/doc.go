// Package output renders a pass.Result: as text for people, as one JSON
// document for machines (a documented, versioned contract: see Document),
// and as a unified diff of the files a pass changed or would change.
package output
