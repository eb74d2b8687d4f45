package scan

import (
	"fmt"

	"github.com/google/go-containerregistry/pkg/authn"
)

// Providers are the cloud registries' own auth, by the name Auth.Provider
// and the config use.
var providers = []string{"aws", "google", "azure"}

// providerKeychain returns the keychain of a cloud provider.
func (s *Scanner) providerKeychain(p string) (authn.Keychain, error) {
	if kc, ok := s.opts.providers[p]; ok {
		return kc, nil
	}
	return nil, fmt.Errorf("%w: unknown provider %q (want one of %v)", ErrCredentialSource, p, providers)
}

// providerLibrary names the library that resolves a provider's credentials.
func providerLibrary(p string) string {
	return p
}
