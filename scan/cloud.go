package scan

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"

	ecr "github.com/awslabs/amazon-ecr-credential-helper/ecr-login"
	acr "github.com/chrismellard/docker-credential-acr-env/pkg/credhelper"
	"github.com/docker/docker-credential-helpers/credentials"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/v1/google"
)

// providers are the cloud registries' own auth, by the name Auth.Provider
// and the config use.
var providers = []string{"aws", "google", "azure"}

// providerLibrary names the library that resolves a provider's credentials,
// for messages.
func providerLibrary(p string) string {
	switch p {
	case "aws":
		return "amazon-ecr-credential-helper: the AWS SDK's default credentials"
	case "google":
		return "go-containerregistry's google auth: application default credentials, then gcloud"
	case "azure":
		return "docker-credential-acr-env: AZURE_* environment, workload identity or managed identity"
	}
	return p
}

// providerKeychain returns the keychain of a cloud provider: the caller's
// (WithProviderKeychain) or the provider's library. Each reports why it
// found no credentials, where the libraries' own keychains fall back to
// anonymous access in silence.
func (s *Scanner) providerKeychain(p string) (authn.Keychain, error) {
	if kc, ok := s.opts.providers[p]; ok {
		return kc, nil
	}
	switch p {
	case "aws":
		return ecrKeychain{}, nil
	case "google":
		return googleKeychain{}, nil
	case "azure":
		return helperKeychain{name: "azure", h: acr.NewACRCredentialsHelper()}, nil
	}
	return nil, fmt.Errorf("%w: unknown provider %q (want one of %s)", ErrCredentialSource, p, strings.Join(providers, ", "))
}

// ecrKeychain asks Amazon's ECR credential helper, with its log captured:
// the helper answers every failure with "credentials not found" and says
// why only in its log.
type ecrKeychain struct{}

func (ecrKeychain) Resolve(r authn.Resource) (authn.Authenticator, error) {
	return ecrKeychain{}.ResolveContext(context.Background(), r)
}

func (ecrKeychain) ResolveContext(ctx context.Context, r authn.Resource) (authn.Authenticator, error) {
	var log bytes.Buffer
	h := ecr.NewECRHelper(ecr.WithContext(ctx), ecr.WithLogger(&log))
	user, pass, err := h.Get(r.RegistryStr())
	if err != nil {
		why := lastLogError(log.String())
		if why == "" {
			why = err.Error()
		}
		return nil, fmt.Errorf("no ECR credentials for %s: %s", r.RegistryStr(), why)
	}
	return authn.FromConfig(authn.AuthConfig{Username: user, Password: pass}), nil
}

// lastLogError is the reason in the last line a logrus text logger wrote:
// its msg and error fields.
func lastLogError(log string) string {
	lines := strings.Split(strings.TrimSpace(log), "\n")
	last := lines[len(lines)-1]
	field := func(key string) string {
		i := strings.Index(last, key+"=")
		if i < 0 {
			return ""
		}
		v := last[i+len(key)+1:]
		if strings.HasPrefix(v, `"`) {
			end := 1
			for end < len(v) && (v[end] != '"' || v[end-1] == '\\') {
				end++
			}
			return strings.ReplaceAll(v[1:min(end, len(v))], `\"`, `"`)
		}
		v, _, _ = strings.Cut(v, " ")
		return v
	}
	msg, e := field("msg"), field("error")
	switch {
	case msg != "" && e != "":
		return msg + ": " + scrubOpaque(e)
	case e != "":
		return scrubOpaque(e)
	}
	return msg
}

// googleKeychain resolves Google credentials as go-containerregistry's
// google.Keychain does (application default credentials, then gcloud),
// for any registry the image names, and says why neither worked.
type googleKeychain struct{}

func (googleKeychain) Resolve(r authn.Resource) (authn.Authenticator, error) {
	return googleKeychain{}.ResolveContext(context.Background(), r)
}

func (googleKeychain) ResolveContext(ctx context.Context, _ authn.Resource) (authn.Authenticator, error) {
	auth, envErr := google.NewEnvAuthenticator(ctx)
	if envErr == nil && auth != authn.Anonymous {
		return auth, nil
	}
	if _, err := exec.LookPath("gcloud"); err != nil {
		return nil, fmt.Errorf("no Google credentials: application default credentials: %s; gcloud is not on PATH", scrubOpaque(oneLine(envErr)))
	}
	auth, gErr := google.NewGcloudAuthenticator(ctx)
	if gErr == nil && auth != authn.Anonymous {
		return auth, nil
	}
	return nil, fmt.Errorf("no Google credentials: application default credentials: %s; gcloud: %s", scrubOpaque(oneLine(envErr)), scrubOpaque(oneLine(gErr)))
}

func oneLine(err error) string {
	if err == nil {
		return "none found"
	}
	return shorten(printable(err.Error()), maxDetail)
}

// helperKeychain asks a docker credential helper library and, unlike
// authn.NewKeychainFromHelper, returns its error.
type helperKeychain struct {
	name string
	h    credentials.Helper
}

func (k helperKeychain) Resolve(r authn.Resource) (authn.Authenticator, error) {
	user, secret, err := k.h.Get(r.RegistryStr())
	if err != nil {
		if credentials.IsErrCredentialsNotFound(err) {
			return nil, fmt.Errorf("no %s credentials for %s", k.name, r.RegistryStr())
		}
		return nil, errors.New(scrubOpaque(oneLine(err)))
	}
	if user == "<token>" {
		return authn.FromConfig(authn.AuthConfig{IdentityToken: secret}), nil
	}
	return authn.FromConfig(authn.AuthConfig{Username: user, Password: secret}), nil
}
