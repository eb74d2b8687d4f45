package scan

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
)

var (
	// ErrUnauthorized means the registry refused access: HTTP 401/403,
	// UNAUTHORIZED or DENIED. It is in the chain with ErrNoCredentials or
	// ErrCredentialsRejected, which say whether credentials were sent.
	ErrUnauthorized = errors.New("unauthorized")
	// ErrNoCredentials means access was refused and uptick sent none: no
	// credential source had an entry for the registry.
	ErrNoCredentials = errors.New("no credentials")
	// ErrCredentialsRejected means the registry (or its token server)
	// refused the credentials uptick sent.
	ErrCredentialsRejected = errors.New("credentials rejected")
	// ErrCredentialSource means a credential source could not be read: a
	// docker config that does not parse, a credential helper that fails.
	ErrCredentialSource = errors.New("credential source failed")
	// ErrNotFound means the repository (or, for Digest, the tag) does not
	// exist: HTTP 404, NAME_UNKNOWN or MANIFEST_UNKNOWN.
	ErrNotFound = errors.New("not found")
	// ErrRateLimited means the registry asked uptick to come back later
	// than it waits for one image (429 or 503 with a long Retry-After).
	ErrRateLimited = errors.New("rate limited")
	// ErrPlainHTTP means a request would have gone over plain HTTP to a
	// registry not listed as insecure; it was never sent.
	ErrPlainHTTP = errors.New("plain HTTP refused")
	// ErrTooLarge means a tag list went past a limit: pages per repository,
	// bytes per page or tags per repository.
	ErrTooLarge = errors.New("tag list too large")
	// ErrPaginationLoop means a registry's Link header led back to a page
	// already read, or its "last" did not advance.
	ErrPaginationLoop = errors.New("pagination loop")
	// ErrInvalidRepository means a target's Repository is not a valid
	// repository reference; it is an input error, not a registry failure.
	ErrInvalidRepository = errors.New("invalid repository")
)

// kinds are the sentinels a caller may branch on; a cleaned error keeps
// exactly these in its chain.
var kinds = []error{
	ErrUnauthorized, ErrNoCredentials, ErrCredentialsRejected, ErrCredentialSource,
	ErrNotFound, ErrRateLimited, ErrTimeout, ErrPlainHTTP, ErrTooLarge, ErrPaginationLoop,
	ErrInvalidRepository, context.Canceled, context.DeadlineExceeded,
}

// RepositoryError is a failure to list one repository; it carries the
// repository so a caller scanning many can say which one failed.
type RepositoryError struct {
	Repository string
	Err        error
}

// Error names the repository.
func (e *RepositoryError) Error() string {
	return fmt.Sprintf("listing tags of %q: %v", e.Repository, e.Err)
}

// Unwrap exposes the cause, so errors.Is(err, ErrNotFound) works.
func (e *RepositoryError) Unwrap() error { return e.Err }

// cleanError is what every error leaving the package is turned into: its
// text scrubbed of credentials and cut short, its chain only the
// sentinels (and *BudgetError) it matched, so no library error with a
// registry's raw words or a request's header can be unwrapped and printed.
type cleanError struct {
	msg    string
	causes []error
}

func (e *cleanError) Error() string   { return e.msg }
func (e *cleanError) Unwrap() []error { return e.causes }

// clean scrubs err with the secrets known for the request that failed.
func clean(err error, secrets *secretSet) error {
	if err == nil {
		return nil
	}
	var ce *cleanError
	if errors.As(err, &ce) && ce == err {
		return err
	}
	c := &cleanError{msg: secrets.scrub(err.Error(), maxErrorLen)}
	for _, k := range kinds {
		if errors.Is(err, k) {
			c.causes = append(c.causes, k)
		}
	}
	var be *BudgetError
	if errors.As(err, &be) {
		c.causes = append(c.causes, be)
	}
	return c
}

// maxErrorLen bounds one error message; a registry's body is cut shorter.
const maxErrorLen = 1000

// StatusError is a registry's non-success answer, with the error codes and
// messages of its OCI error body, scrubbed and cut short.
type StatusError struct {
	// Method and URL are the request's (URL without query or user info).
	Method, URL string
	// StatusCode and Status are the HTTP status.
	StatusCode int
	Status     string
	// Codes are the body's OCI error codes ("NAME_UNKNOWN").
	Codes []string
	// Detail is the body's messages, or the start of a non-OCI body.
	Detail string
}

// Error reads "GET https://r.example/v2/app/tags/list: 404 Not Found:
// NAME_UNKNOWN: repository name not known to registry".
func (e *StatusError) Error() string {
	msg := fmt.Sprintf("%s %s: %s", e.Method, e.URL, e.Status)
	if e.Detail != "" {
		msg += ": " + e.Detail
	}
	return msg
}

// Is maps statuses and OCI codes to the package's sentinels.
func (e *StatusError) Is(target error) bool {
	switch target {
	case ErrNotFound:
		return e.StatusCode == http.StatusNotFound || e.hasCode("NAME_UNKNOWN", "MANIFEST_UNKNOWN")
	case ErrUnauthorized:
		return e.StatusCode == http.StatusUnauthorized || e.StatusCode == http.StatusForbidden || e.hasCode("UNAUTHORIZED", "DENIED")
	}
	return false
}

func (e *StatusError) hasCode(codes ...string) bool {
	for _, c := range e.Codes {
		for _, want := range codes {
			if strings.EqualFold(c, want) {
				return true
			}
		}
	}
	return false
}

// AuthError is a refusal of access, with where the credentials came from.
type AuthError struct {
	// Registry is the registry host.
	Registry string
	// Source says where credentials were looked for or came from, e.g.
	// `docker config /root/.docker/config.json (auths["ghcr.io"])`.
	Source string
	// Anonymous is true when no credentials were sent.
	Anonymous bool
	// Err is the refusal itself (a *StatusError, or a token server's).
	Err error
}

// Error tells "no credentials" from "credentials rejected".
func (e *AuthError) Error() string {
	if e.Anonymous {
		return fmt.Sprintf("%v: the registry refused anonymous access, and no credentials for %s were found (%s)", e.Err, e.Registry, e.Source)
	}
	return fmt.Sprintf("%v: the registry rejected the credentials from %s", e.Err, e.Source)
}

// Is makes ErrUnauthorized and ErrNoCredentials or ErrCredentialsRejected
// match.
func (e *AuthError) Is(target error) bool {
	switch target {
	case ErrUnauthorized:
		return true
	case ErrNoCredentials:
		return e.Anonymous
	case ErrCredentialsRejected:
		return !e.Anonymous
	}
	return false
}

// Unwrap returns the refusal.
func (e *AuthError) Unwrap() error { return e.Err }

// LimitError is a tag list going past one of the scanner's limits.
type LimitError struct {
	// What is "pages", "bytes in one page" or "tags".
	What string
	// Limit is the limit that was reached.
	Limit int
	// Option names the setting that raises it.
	Option string
}

// Error names the limit and how to raise it.
func (e *LimitError) Error() string {
	return fmt.Sprintf("the tag list has more than %d %s (limit %s)", e.Limit, e.What, e.Option)
}

// Is makes errors.Is(err, ErrTooLarge) true.
func (e *LimitError) Is(target error) bool { return target == ErrTooLarge }

// LoopError is a Link header that leads nowhere new.
type LoopError struct {
	// URL is the next page the registry pointed at (no query).
	URL string
	// Why says what repeated.
	Why string
}

// Error says what repeated.
func (e *LoopError) Error() string {
	return fmt.Sprintf("the registry's pagination loops: %s (%s)", e.Why, e.URL)
}

// Is makes errors.Is(err, ErrPaginationLoop) true.
func (e *LoopError) Is(target error) bool { return target == ErrPaginationLoop }

// PlainHTTPError is a request refused because it would have gone over
// plain HTTP to a registry not listed as insecure.
type PlainHTTPError struct{ Host string }

// Error says what was refused and how to allow it.
func (e *PlainHTTPError) Error() string {
	return fmt.Sprintf("refusing plain HTTP to %s: it is not listed as an insecure registry (scan.insecure)", e.Host)
}

// Is makes errors.Is(err, ErrPlainHTTP) true.
func (e *PlainHTTPError) Is(target error) bool { return target == ErrPlainHTTP }
