package flux

import (
	"github.com/uptick-gitops/uptick/gitops"
	"github.com/uptick-gitops/uptick/policy"
)

// Config is what a set of Flux objects declares, as uptick's stage specs.
// It holds only what translated cleanly; Load's error lists the rest.
type Config struct {
	// Images has one entry per usable ImagePolicy, sorted by Name.
	Images []Image
	// Automations has one entry per usable ImageUpdateAutomation, sorted
	// by Name.
	Automations []Automation
	// Warnings are things declared that behave differently in uptick or
	// not at all; none stops an object from being used.
	Warnings []*Diagnostic
}

// DigestReflection is an ImagePolicy's spec.digestReflectionPolicy.
type DigestReflection string

// The digest reflection policies Flux defines.
const (
	// DigestNever (Flux's default): no digest is looked up; markers get the
	// tag only.
	DigestNever DigestReflection = "Never"
	// DigestIfNotPresent: the digest is looked up when the chosen tag
	// changes; while the tag stays, the digest already in the file stays
	// too, even if the tag was pushed again.
	DigestIfNotPresent DigestReflection = "IfNotPresent"
	// DigestAlways: the digest of the chosen tag is looked up on every run
	// and replaces the one in the file.
	DigestAlways DigestReflection = "Always"
)

// Image is one ImagePolicy with the ImageRepository it refers to: what the
// scan and policy stages need, under the name markers use.
type Image struct {
	// Name is "namespace:name" of the ImagePolicy, as Flux markers name it:
	// # {"$imagepolicy": "flux-system:podinfo"}.
	Name string
	// Source is "file:line" of the ImagePolicy, for messages.
	Source string
	// Repository is the ImageRepository's spec.image.
	Repository string
	// RepositoryObject is "namespace/name" of the ImageRepository.
	RepositoryObject string

	Policy     policy.Spec
	FilterTags *policy.FilterSpec // nil without spec.filterTags
	// Exclude is the ImageRepository's exclusionList, or Flux's default
	// `^.*\.sig$` when the list is absent or empty, as Flux does.
	Exclude []string

	// Digest is spec.digestReflectionPolicy; PinDigest is true for Always
	// and IfNotPresent (the digest is looked up and written).
	Digest    DigestReflection
	PinDigest bool

	// Suspended: the ImagePolicy or its ImageRepository has spec.suspend:
	// Flux stops updating it, so uptick must leave its markers alone.
	Suspended bool

	Registry Registry
}

// Registry is how to reach the ImageRepository's registry.
type Registry struct {
	// Provider is "generic" (static credentials or none), "aws", "azure"
	// or "gcp" (the cloud's own authentication, with the job's identity).
	Provider string
	// Insecure allows plain HTTP (spec.insecure).
	Insecure bool
	// DockerConfig is where the .dockerconfigjson key of spec.secretRef
	// is: a docker config.json with the registry's credentials.
	DockerConfig *SecretSource
	// CA, Cert and Key are the ca.crt, tls.crt and tls.key keys of
	// spec.certSecretRef (or the deprecated caFile, certFile, keyFile), each
	// nil when the Secret has no such key.
	CA, Cert, Key *SecretSource
}

// Automation is one ImageUpdateAutomation: where to commit, what to
// update, how to write the message.
type Automation struct {
	// Name is "namespace/name".
	Name string
	// Source is "file:line" of the object.
	Source string
	// SourceRef is "GitRepository/namespace/name": uptick does not read
	// GitRepository objects; the repository URL and credentials come from
	// uptick's own git config.
	SourceRef string
	// Git has the checkout branch (spec.git.checkout.ref.branch, empty when
	// absent: uptick's git.branch applies), author, signing key and push
	// branch. URL and Auth are empty, for the caller to fill. Its
	// Commit.MessageTemplate is empty: render messages with Message.
	Git gitops.Spec
	// Paths is spec.update.path, cleaned and relative to the repository
	// root ("." when absent).
	Paths []string
	// Images are the Names of the images whose markers it updates: the
	// ImagePolicies in its namespace that spec.policySelector selects,
	// sorted.
	Images []string
	// Message renders spec.git.commit.messageTemplate with Flux's template
	// data. Never nil.
	Message *MessageTemplate
	// Suspended: spec.suspend is true; Flux would not run it.
	Suspended bool
}
