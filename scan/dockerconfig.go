package scan

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
)

// dockerConfig is the part of a docker config.json that uptick reads: the
// inline auths. Credential helpers are recorded only to explain a miss.
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

// configKeychain resolves credentials from one docker config file, chosen
// per target, instead of the scanner's keychain. It deliberately ignores
// DOCKER_AUTH_CONFIG and other ambient sources: the file named is the
// whole truth for that target.
type configKeychain struct {
	path string
	cfg  dockerConfig
}

// loadDockerConfig reads path. Errors name the file but never its content.
func loadDockerConfig(path string) (*configKeychain, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading docker config: %w", err)
	}
	cfg, err := parseDockerConfig(data)
	if err != nil {
		return nil, fmt.Errorf("parsing docker config %q: %w", path, err)
	}
	return &configKeychain{path: path, cfg: cfg}, nil
}

// parseDockerConfig decodes a config.json and checks every auth entry, so a
// broken entry is reported when the file is loaded rather than as a
// confusing 401 later.
func parseDockerConfig(data []byte) (dockerConfig, error) {
	var cfg dockerConfig
	if err := json.Unmarshal(data, &cfg); err != nil {
		// json errors carry offsets and types, not values, but be sure.
		var serr *json.SyntaxError
		if errors.As(err, &serr) {
			return dockerConfig{}, fmt.Errorf("invalid JSON at byte %d", serr.Offset)
		}
		return dockerConfig{}, errors.New("invalid docker config structure")
	}
	for key, a := range cfg.Auths {
		if a.Auth == "" {
			continue
		}
		if _, _, err := decodeAuth(a.Auth); err != nil {
			return dockerConfig{}, fmt.Errorf("auths[%q].auth: %w", key, err)
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

// Resolve implements authn.Keychain: a repository-specific key
// ("host/path", as podman writes) wins over a registry-wide one.
func (k *configKeychain) Resolve(target authn.Resource) (authn.Authenticator, error) {
	if a, ok := k.cfg.Auths[target.String()]; ok {
		return authFrom(a), nil
	}
	reg := target.RegistryStr()
	if a, ok := k.cfg.Auths[reg]; ok {
		return authFrom(a), nil
	}
	// Several spellings may name the same host; pick one deterministically.
	for _, key := range slices.Sorted(maps.Keys(k.cfg.Auths)) {
		if normalizeAuthKey(key) == reg {
			return authFrom(k.cfg.Auths[key]), nil
		}
	}
	if h := k.cfg.CredHelpers[reg]; h != "" {
		return nil, fmt.Errorf("docker config %q wants credential helper %q for %q, which uptick does not run: put the credentials under \"auths\"", k.path, h, reg)
	}
	if k.cfg.CredsStore != "" {
		return nil, fmt.Errorf("docker config %q has no auths entry for %q and its credsStore %q is not run by uptick: put the credentials under \"auths\"", k.path, reg, k.cfg.CredsStore)
	}
	return authn.Anonymous, nil
}

func authFrom(a dockerAuth) authn.Authenticator {
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
	if cfg == (authn.AuthConfig{}) {
		return authn.Anonymous
	}
	return authn.FromConfig(cfg)
}
