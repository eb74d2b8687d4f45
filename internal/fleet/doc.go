// Package fleet generates GitOps repositories for benchmarks: trees of
// Kubernetes manifests shaped like a real fleet (nested cluster, team and
// app directories; multi-document files of 40 to 120 lines with comments,
// blank lines, block scalars and flow maps), a chosen share of which carry
// Flux setter markers. The output is a pure function of the Spec: the same
// seed gives the same bytes, so figures measured on two machines, or before
// and after a change, are measured on the same tree.
//
// The update stage's benchmarks and the whole-process comparisons against
// grep (internal/procbench, `make bench`) use it, and so does
// `go run ./hack/fleetgen` for measuring by hand.
package fleet
