// Package flux reads Flux's image automation objects (ImageRepository,
// ImagePolicy and ImageUpdateAutomation of image.toolkit.fluxcd.io, v1beta2
// and v1) from YAML files and translates exactly what they declare into
// uptick's plain stage specs: per image a policy.Spec, filter, exclusions,
// digest pinning and registry access; per automation a gitops.Spec, the
// update paths and the images it applies, and a commit message renderer
// that gives templates Flux's own template data.
//
// Nothing is silently dropped: every field is either translated, known to
// have no meaning for a one-shot job (status, interval, metadata other than
// name, namespace and labels), or reported as a Diagnostic naming the file,
// line, object and field path. Secrets the objects reference are never read
// from Kubernetes: a small config beside the objects (uptick-flux.yaml, see
// SecretsConfig) names the file or environment variable holding each key.
//
// The package reads files only; it contacts no registry or cluster.
package flux
