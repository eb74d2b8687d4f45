// Package scan owns talking to container registries: listing tags and
// looking up digests, with go-containerregistry's name parsing, keychains
// and token exchange, and a client of its own for the rest.
//
// A Scanner lives for one run. It pings each registry once (concurrent
// images wait for the one request, and share its failure), fetches a
// bearer token once per repository scope and credential, and resolves
// each credential source once (a credential helper runs once per
// registry). Registries listed as insecure are reached over plain HTTP
// only; all others over HTTPS only, enforced below every request so a
// Link header, a redirect or a token realm cannot downgrade it.
//
// Tag lists are paginated with n and Link (falling back to n=100, then no
// n, for registries that refuse the size; asking again with last for
// registries that honour n without Link), bounded in pages, bytes per
// page and tags, and checked for loops; tags outside the OCI grammar are
// dropped and counted. Every request has deadlines for its headers, for
// each piece of its body and for the whole; every image has a time
// budget, within which 429 and 5xx are retried with backoff and jitter and
// Retry-After honoured. A registry that timed out or rate-limited one
// image fails the later ones at once.
//
// Errors that leave the package carry sentinels (ErrTimeout,
// ErrRateLimited, ErrNoCredentials, ErrCredentialsRejected, ErrNotFound,
// ErrTooLarge, ...) for callers to branch on, name the credential source,
// and are scrubbed of every credential and token in every encoding a
// registry might echo one in.
package scan
