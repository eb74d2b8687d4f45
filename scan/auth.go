package scan

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
)

// Auth says where one target's registry credentials come from. At most one
// of DockerConfig, Username/Password and Provider is set; the zero value
// uses the scanner's default source (WithDockerConfig, WithKeychain).
type Auth struct {
	// DockerConfig names a docker config.json that is the whole truth for
	// this target: its auths, credHelpers and credsStore.
	DockerConfig string
	// Username and Password are static credentials; Password is a secret.
	Username, Password string
	// From describes where Username and Password came from, for messages
	// ("env REGISTRY_USER/REGISTRY_PASSWORD"); never the values.
	From string
	// Provider names a cloud registry's own auth ("aws", "google",
	// "azure"), resolved from the environment by the provider's library.
	Provider string
}

// key identifies the source, so targets with the same repository and the
// same source share one listing.
func (a Auth) key() string {
	switch {
	case a.Provider != "":
		return "provider:" + a.Provider
	case a.Username != "" || a.Password != "":
		return "basic:" + fingerprint(authn.AuthConfig{Username: a.Username, Password: a.Password})
	case a.DockerConfig != "":
		return "config:" + a.DockerConfig
	}
	return ""
}

// credential is what one target sends its registry, and where it came
// from.
type credential struct {
	auth      authn.Authenticator
	cfg       authn.AuthConfig
	anonymous bool
	// source is said in errors: where credentials were found or looked for.
	source      string
	fingerprint string
	secrets     *secretSet
}

func newCredential(cfg authn.AuthConfig, source string) *credential {
	c := &credential{cfg: cfg, source: source, secrets: &secretSet{}, fingerprint: fingerprint(cfg)}
	c.secrets.add(cfg.Password, cfg.Auth, cfg.IdentityToken, cfg.RegistryToken)
	if cfg.Username != "" && cfg.Password != "" {
		basic := base64.StdEncoding.EncodeToString([]byte(cfg.Username + ":" + cfg.Password))
		c.secrets.add(basic, cfg.Username+":"+cfg.Password)
	}
	if cfg == (authn.AuthConfig{}) {
		c.anonymous = true
		c.auth = authn.Anonymous
	} else {
		c.auth = authn.FromConfig(cfg)
	}
	return c
}

// credentialFor resolves the credential of target t for repo, once per
// source and repository per run (a credential helper runs once).
func (s *Scanner) credentialFor(ctx context.Context, t Target, repo name.Repository) (*credential, error) {
	key := t.Auth.key() + "\x00" + repo.Name()
	return s.creds.get(ctx, key, func(ctx context.Context) (*credential, time.Time, error) {
		c, err := s.resolveCredential(ctx, t.Auth, repo)
		return c, time.Time{}, err
	})
}

func (s *Scanner) resolveCredential(ctx context.Context, a Auth, repo name.Repository) (*credential, error) {
	switch {
	case a.Provider != "":
		kc, err := s.providerKeychain(a.Provider)
		if err != nil {
			return nil, err
		}
		return keychainCredential(ctx, kc, repo, a.Provider+" ("+providerLibrary(a.Provider)+")")
	case a.Username != "" || a.Password != "":
		from := a.From
		if from == "" {
			from = "the configured username and password"
		}
		return newCredential(authn.AuthConfig{Username: a.Username, Password: a.Password}, from), nil
	case a.DockerConfig != "":
		return s.dockerConfigCredential(ctx, a.DockerConfig, true, repo)
	case s.opts.keychain != nil:
		return keychainCredential(ctx, s.opts.keychain, repo, "the scanner's keychain")
	case s.opts.dockerConfig != "":
		return s.dockerConfigCredential(ctx, s.opts.dockerConfig, false, repo)
	}
	return newCredential(authn.AuthConfig{}, "no credential source configured"), nil
}

// keychainCredential asks a go-containerregistry keychain.
func keychainCredential(ctx context.Context, kc authn.Keychain, repo name.Repository, source string) (*credential, error) {
	var auth authn.Authenticator
	var err error
	if ck, ok := kc.(authn.ContextKeychain); ok {
		auth, err = ck.ResolveContext(ctx, repo)
	} else {
		auth, err = kc.Resolve(repo)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrCredentialSource, source, err)
	}
	cfg, err := authn.Authorization(ctx, auth)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrCredentialSource, source, err)
	}
	c := newCredential(*cfg, source)
	if c.anonymous {
		c.source = source + " has nothing for " + repo.RegistryStr()
	}
	return c, nil
}

// dockerConfig is the part of a docker config.json uptick reads.
type dockerConfig struct {
	Auths       map[string]dockerAuth `json:"auths"`
	CredsStore  string                `json:"credsStore"`
	CredHelpers map[string]string     `json:"credHelpers"`
}

type dockerAuth struct {
	Auth          string `json:"auth"`
	Username      string `json:"username"`
	Password      string `json:"password"`
	IdentityToken string `json:"identitytoken"`
	RegistryToken string `json:"registrytoken"`
}

// loadDockerConfig reads and checks path, once per run. A missing file is
// ErrNotExist (callers decide whether that is an error).
func (s *Scanner) loadDockerConfig(ctx context.Context, path string) (*dockerConfig, error) {
	return s.configs.get(ctx, path, func(context.Context) (*dockerConfig, time.Time, error) {
		data, err := os.ReadFile(path)
		if err != nil {
			var pe *fs.PathError
			if errors.As(err, &pe) {
				err = pe.Err
			}
			return nil, time.Time{}, fmt.Errorf("reading docker config %s: %w", path, err)
		}
		cfg, err := parseDockerConfig(data)
		if err != nil {
			return nil, time.Time{}, fmt.Errorf("%w: docker config %s: %w", ErrCredentialSource, path, err)
		}
		return &cfg, time.Time{}, nil
	})
}

// CheckDockerConfig reads a docker config.json and checks it as a scan
// would (JSON, auth fields, helper names), so a config loader can report a
// missing or broken file before any request. Errors name the file, never
// its content.
func CheckDockerConfig(path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return fmt.Errorf("reading docker config %s: %w", path, err)
	}
	if _, err := parseDockerConfig(data); err != nil {
		return fmt.Errorf("docker config %s: %w", path, err)
	}
	return nil
}

// parseDockerConfig decodes a config.json and checks every auth entry, so a
// broken entry is reported when the file is loaded rather than as a
// confusing 401 later. Errors never carry the file's content.
func parseDockerConfig(data []byte) (dockerConfig, error) {
	var cfg dockerConfig
	if err := json.Unmarshal(data, &cfg); err != nil {
		var serr *json.SyntaxError
		if errors.As(err, &serr) {
			return dockerConfig{}, fmt.Errorf("invalid JSON at byte %d", serr.Offset)
		}
		return dockerConfig{}, errors.New("invalid docker config structure")
	}
	for _, key := range slices.Sorted(maps.Keys(cfg.Auths)) {
		if a := cfg.Auths[key]; a.Auth != "" {
			if _, _, err := decodeAuth(a.Auth); err != nil {
				return dockerConfig{}, fmt.Errorf("auths[%q].auth: %w", key, err)
			}
		}
	}
	for _, key := range slices.Sorted(maps.Keys(cfg.CredHelpers)) {
		if err := checkHelperName(cfg.CredHelpers[key]); err != nil {
			return dockerConfig{}, fmt.Errorf("credHelpers[%q]: %w", key, err)
		}
	}
	if cfg.CredsStore != "" {
		if err := checkHelperName(cfg.CredsStore); err != nil {
			return dockerConfig{}, fmt.Errorf("credsStore: %w", err)
		}
	}
	return cfg, nil
}

// decodeAuth splits a base64 "user:password" auth field.
func decodeAuth(s string) (user, pass string, err error) {
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(s))
	if err != nil {
		return "", "", errors.New("not valid base64")
	}
	user, pass, ok := strings.Cut(string(raw), ":")
	if !ok || user == "" {
		return "", "", errors.New("not of the form user:password")
	}
	return user, pass, nil
}

// normalizeAuthKey turns an auths key ("https://host:5000/v1/", "host") into
// the registry host it stands for, the way the docker CLI does.
func normalizeAuthKey(key string) string {
	k := key
	if i := strings.Index(k, "://"); i >= 0 {
		k = k[i+3:]
	}
	k, _, _ = strings.Cut(k, "/")
	if k == "docker.io" || k == "registry-1.docker.io" {
		return name.DefaultRegistry
	}
	return k
}

// dockerConfigCredential resolves repo's credential from a docker config
// the way the docker CLI does: a credHelpers entry for the registry runs
// that helper; else an inline auths entry (a repository-specific key, as
// podman writes, wins over the registry's); else the credsStore helper;
// else none. required says a missing file is an error (a file named in
// the config) rather than no credentials (the default location).
func (s *Scanner) dockerConfigCredential(ctx context.Context, path string, required bool, repo name.Repository) (*credential, error) {
	cfg, err := s.loadDockerConfig(ctx, path)
	if errors.Is(err, fs.ErrNotExist) && !required {
		return newCredential(authn.AuthConfig{}, "no docker config at "+path), nil
	}
	if err != nil {
		if !errors.Is(err, ErrCredentialSource) {
			err = fmt.Errorf("%w: %w", ErrCredentialSource, err)
		}
		return nil, err
	}
	reg := repo.RegistryStr()
	src := "docker config " + path
	if h := cfg.CredHelpers[reg]; h != "" {
		return s.helperCredential(ctx, h, reg, fmt.Sprintf("%s (credHelpers[%q]: docker-credential-%s)", src, reg, h))
	}
	for _, key := range append([]string{repo.String(), reg}, slices.Sorted(maps.Keys(cfg.Auths))...) {
		a, ok := cfg.Auths[key]
		if !ok || (key != repo.String() && key != reg && normalizeAuthKey(key) != reg) {
			continue
		}
		if c := authConfig(a); c != (authn.AuthConfig{}) {
			return newCredential(c, fmt.Sprintf("%s (auths[%q])", src, key)), nil
		}
	}
	if cfg.CredsStore != "" {
		return s.helperCredential(ctx, cfg.CredsStore, reg, fmt.Sprintf("%s (credsStore: docker-credential-%s)", src, cfg.CredsStore))
	}
	return newCredential(authn.AuthConfig{}, src+" has no entry for "+reg), nil
}

func authConfig(a dockerAuth) authn.AuthConfig {
	cfg := authn.AuthConfig{
		Username:      a.Username,
		Password:      a.Password,
		IdentityToken: a.IdentityToken,
		RegistryToken: a.RegistryToken,
	}
	if a.Auth != "" {
		// Validated at load time.
		cfg.Username, cfg.Password, _ = decodeAuth(a.Auth)
	}
	return cfg
}
