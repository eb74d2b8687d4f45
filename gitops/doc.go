// Package gitops owns the Git side of a run, with go-git and never the git
// CLI: cloning or refreshing the fleet repository, committing the rewritten
// files (optionally OpenPGP-signed with ProtonMail/go-crypto), and pushing the
// commit to the checked-out branch or to another (environment) branch.
//
// A run is Checkout, then Commit of exactly the files the update stage
// changed, then Push. Checkout reuses a work directory that already clones
// the same URL (fetch, hard reset, untracked and ignored files removed), so
// a --workdir cache never carries one run's leftovers into the next.
//
// Credentials come only from environment variables named in the config (or
// embedded in the URL); they are never written to the clone's config and are
// redacted from every error and log line. Local repositories (file:// or a
// path) are served by go-git's embedded server, so no git binary is needed.
package gitops
