// Package scan owns talking to container registries with
// go-containerregistry: authentication, TLS, listing tags (with pagination),
// concurrency across repositories, and digest look-ups for chosen tags.
//
// A Scanner shares one HTTP transport across all repositories, lists each
// distinct repository once per Scan however many images refer to it, and
// retries 5xx, 429 and transient network errors with a backoff that stops
// with the context. Tag lists are requested without a page size and Link
// headers are followed, so registries that honour "n" without paginating do
// not silently truncate the list. Failures carry ErrUnauthorized or
// ErrNotFound for callers to branch on, and never credentials.
package scan
