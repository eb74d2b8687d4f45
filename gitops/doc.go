// Package gitops owns the Git side of a run, with go-git and never the git
// CLI: cloning or refreshing the fleet repository, committing the rewritten
// files (optionally OpenPGP-signed with ProtonMail/go-crypto), and pushing the
// commit to the checked-out branch or to another (environment) branch.
package gitops
