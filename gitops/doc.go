// Package gitops owns the Git side of a run, with go-git and never the git
// CLI: cloning or refreshing the fleet repository, committing the rewritten
// files (optionally signed: OpenPGP with ProtonMail/go-crypto, or SSH as
// git's gpg.format=ssh), and publishing the commit: pushed to the
// checked-out branch or to another (environment) branch, or proposed as
// pull requests (PublishPullRequests) through a Forge client
// (gitops/gitea, gitops/github, gitops/gitlab).
//
// A run is Preflight (offline checks of keys, credentials and templates),
// LockWorkdir, Checkout, then Publish, which calls the caller's
// RewriteFunc, commits exactly the files it names with the message it
// rendered, and pushes. Every write is made for the crash and the race:
//
//   - A push is a compare-and-swap on every transport: the remote branch
//     moves only if it still holds the commit the run built on. A push
//     that loses a race is retried on the new tip (refresh, rewrite,
//     commit, push) with jittered exponential backoff, up to
//     Spec.Push.Attempts within Spec.Push.Timeout. uptick never
//     force-pushes a branch it does not own.
//   - Local repositories (file:// or a path) are served in-process
//     (InstallFileTransport), with refs updated the way git updates them:
//     under git's own "<ref>.lock", compared, written to the lock, fsynced
//     and renamed over the ref, so git and uptick can share a repository
//     and no reader ever sees an empty ref.
//   - The work directory holds the clone in DIR/repo, made in DIR/.repo.new
//     and renamed into place once complete; a clone a killed run left
//     damaged is cloned again, with a warning; files uptick did not make
//     are never touched (ErrWorkdirForeign). The lock (DIR/.uptick.lock)
//     lives inside DIR, so only DIR must be writable.
//   - A pull request's branch is uptick's own: rebuilt from the base by
//     the rewrite, as a commit object made without moving the work tree's
//     branch, and force-pushed only with a lease on the tip uptick
//     fetched, and only over a tip uptick made. Only the run that pushed
//     a tip opens its pull request, so overlapping runs open one.
//
// Credentials come only from environment variables named in the config (or
// embedded in the URL); they are never written to the clone's config and are
// redacted from every error and log line. Errors that only a change of
// config, input or environment can fix implement BadInput() bool; field
// problems are *FieldError with paths relative to the git section.
package gitops
