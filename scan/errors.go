package scan

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

var (
	// ErrUnauthorized means the registry refused the credentials (or their
	// absence): HTTP 401/403, UNAUTHORIZED or DENIED. Callers report it as
	// a configuration problem rather than retrying.
	ErrUnauthorized = errors.New("unauthorized")
	// ErrNotFound means the repository (or, for Digest, the tag) does not
	// exist: HTTP 404, NAME_UNKNOWN or MANIFEST_UNKNOWN.
	ErrNotFound = errors.New("not found")
	// ErrRateLimited means the registry asked uptick to come back later
	// than it waits for one image (429 or 503 with a long Retry-After).
	ErrRateLimited = errors.New("rate limited")
	// ErrInvalidRepository means a target's Repository is not a valid
	// repository reference; it is an input error, not a registry failure.
	ErrInvalidRepository = errors.New("invalid repository")
)

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

// classify adds ErrUnauthorized or ErrNotFound to the chain of a
// go-containerregistry transport error, so callers can branch with errors.Is.
func classify(err error) error {
	var terr *transport.Error
	if !errors.As(err, &terr) {
		return err
	}
	switch terr.StatusCode {
	case http.StatusUnauthorized, http.StatusForbidden:
		return fmt.Errorf("%w: %w", ErrUnauthorized, err)
	case http.StatusNotFound:
		return fmt.Errorf("%w: %w", ErrNotFound, err)
	}
	for _, d := range terr.Errors {
		switch d.Code {
		case transport.UnauthorizedErrorCode, transport.DeniedErrorCode:
			return fmt.Errorf("%w: %w", ErrUnauthorized, err)
		case transport.NameUnknownErrorCode, transport.ManifestUnknownErrorCode:
			return fmt.Errorf("%w: %w", ErrNotFound, err)
		}
	}
	return err
}
