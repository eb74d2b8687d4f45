package gitops

import (
	"crypto/x509"
	"errors"
	"net"
	"net/url"
	"os"
	"strconv"

	"github.com/go-git/go-git/v5/plumbing/transport"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
	gitssh "github.com/go-git/go-git/v5/plumbing/transport/ssh"
)

// ErrEmptyCredential is returned when an env var named in the config for a
// credential is unset or empty: a silent anonymous attempt would only fail
// later with a less helpful message. It is bad input.
var ErrEmptyCredential error = &inputError{"environment variable is empty or unset"}

// emptyVar says that the variable name holds no credential.
func emptyVar(name string) error {
	return withSentinel(ErrEmptyCredential, "environment variable %s is empty or unset", name)
}

// transportConfig is what every network call of one run needs.
type transportConfig struct {
	auth     transport.AuthMethod
	caBundle []byte
	secrets  []string // values read from the environment, scrubbed from errors
	// remoteURL is what the clone's config records: the URL without any
	// embedded credentials, which move to auth instead so they are never
	// written to disk.
	remoteURL string
}

// buildTransport resolves spec's Auth into go-git auth and TLS settings,
// reading every file and variable it names: it needs no network, so
// Preflight runs it too. It reports every problem it finds, each a
// *FieldError, joined.
func buildTransport(spec Spec, getenv func(string) string) (transportConfig, error) {
	tc := transportConfig{remoteURL: spec.URL}
	kind, err := classifyURL(spec.URL)
	if err != nil {
		return tc, &FieldError{Field: "url", Err: err}
	}
	var errs []error
	a := spec.Auth
	if a.CAFile != "" {
		pem, err := os.ReadFile(a.CAFile)
		switch {
		case err != nil:
			errs = append(errs, &FieldError{Field: "auth.caFile", Err: pathErrText(err)})
		case !x509.NewCertPool().AppendCertsFromPEM(pem):
			errs = append(errs, fieldErr("auth.caFile", "%s holds no PEM certificate", a.CAFile))
		default:
			tc.caBundle = pem
		}
	}
	switch kind {
	case urlKindHTTP:
		if u, err := url.Parse(spec.URL); err == nil && u.User != nil {
			tc.remoteURL = stripUserinfo(spec.URL)
			if a.PasswordEnv == "" {
				p, _ := u.User.Password()
				tc.auth = &githttp.BasicAuth{Username: u.User.Username(), Password: p}
				break
			}
		}
		if a.PasswordEnv == "" {
			break // anonymous
		}
		password := getenv(a.PasswordEnv)
		if password == "" {
			errs = append(errs, &FieldError{Field: "auth.passwordEnv", Err: emptyVar(a.PasswordEnv)})
		}
		username := DefaultHTTPUsername
		if a.UsernameEnv != "" {
			if username = getenv(a.UsernameEnv); username == "" {
				errs = append(errs, &FieldError{Field: "auth.usernameEnv", Err: emptyVar(a.UsernameEnv)})
			}
		}
		tc.auth = &githttp.BasicAuth{Username: username, Password: password}
		tc.secrets = append(tc.secrets, password)
	case urlKindSSH:
		keys, err := sshAuth(spec, getenv, &tc)
		errs = append(errs, err)
		if keys != nil {
			tc.auth = keys
		}
	}
	return tc, errors.Join(errs...)
}

// sshAuth loads the SSH key and known_hosts file spec names.
func sshAuth(spec Spec, getenv func(string) string, tc *transportConfig) (*gitssh.PublicKeys, error) {
	a := spec.Auth
	ep, err := transport.NewEndpoint(spec.URL)
	if err != nil {
		return nil, fieldErr("url", "cannot parse %q", redactURL(spec.URL))
	}
	var errs []error
	user := ep.User
	if user == "" {
		user = DefaultHTTPUsername
	}
	var passphrase string
	passphraseOK := true
	if a.SSHKeyPassphraseEnv != "" {
		if passphrase = getenv(a.SSHKeyPassphraseEnv); passphrase == "" {
			errs = append(errs, &FieldError{Field: "auth.sshKeyPassphraseEnv", Err: emptyVar(a.SSHKeyPassphraseEnv)})
			passphraseOK = false
		}
		tc.secrets = append(tc.secrets, passphrase)
	}
	var keys *gitssh.PublicKeys
	if _, err := os.Stat(a.SSHKeyFile); err != nil {
		errs = append(errs, &FieldError{Field: "auth.sshKeyFile", Err: pathErrText(err)})
	} else if passphraseOK {
		keys, err = gitssh.NewPublicKeysFromFile(user, a.SSHKeyFile, passphrase)
		// The ssh library's errors describe the file, never its content.
		switch {
		case err != nil && passphrase == "":
			errs = append(errs, fieldErr("auth.sshKeyFile", "loading %s (if it is encrypted, set sshKeyPassphraseEnv): %v", a.SSHKeyFile, err))
		case err != nil:
			errs = append(errs, fieldErr("auth.sshKeyFile", "loading %s: %v", a.SSHKeyFile, err))
		}
	}
	if _, err := os.Stat(a.KnownHostsFile); err != nil {
		return nil, errors.Join(append(errs, &FieldError{Field: "auth.knownHostsFile", Err: pathErrText(err)})...)
	}
	db, err := gitssh.NewKnownHostsDb(a.KnownHostsFile)
	if err != nil {
		return nil, errors.Join(append(errs, fieldErr("auth.knownHostsFile", "loading %s: %v", a.KnownHostsFile, err))...)
	}
	port := ep.Port
	if port == 0 {
		port = 22
	}
	hostPort := net.JoinHostPort(ep.Host, strconv.Itoa(port))
	// Offer only the host key types known_hosts lists, or a server
	// presenting another type would fail as a key mismatch.
	algos := db.HostKeyAlgorithms(hostPort)
	if len(algos) == 0 {
		errs = append(errs, fieldErr("auth.knownHostsFile", "%s has no key for %s (host keys are never accepted unverified)", a.KnownHostsFile, hostPort))
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	keys.HostKeyCallback = db.HostKeyCallback()
	keys.HostKeyAlgorithms = algos
	return keys, nil
}
