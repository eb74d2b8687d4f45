package gitops

import (
	"errors"
)

// Preflight checks, without any network request, everything Checkout,
// Commit and Publish will need, so a run refuses bad input before it
// scans: the shape (Validate), every credential variable named is set,
// the CA file holds certificates, the SSH key exists and parses (decrypted
// with its passphrase), known_hosts parses and has a key for the host, and
// the signing key file exists, parses, holds a private key that can sign
// and decrypts with its passphrase, and the pull requests' token variable
// is named and set. It returns every problem joined, each
// a *FieldError relative to the git section (bad input). Secrets are read
// through getenv and never appear in errors.
func (s *Spec) Preflight(getenv func(string) string) error {
	if err := s.Validate(); err != nil {
		return err
	}
	c := s.withDefaults()
	var errs []error
	if _, err := buildTransport(c, getenv); err != nil {
		errs = append(errs, err)
	}
	if pr := c.Push.PullRequest; pr != nil {
		if err := pr.preflight(c.Auth, getenv); err != nil {
			errs = append(errs, err)
		}
	}
	if sk := c.Commit.SigningKey; sk != nil {
		if _, err := loadSpecSigningKey(sk, getenv); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
