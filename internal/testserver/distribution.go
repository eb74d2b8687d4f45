package testserver

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// DistributionVersion is the distribution v3 release hack/tools/distribution.sh
// builds.
const DistributionVersion = "v3.0.0"

// DistributionV3 is a distribution v3 registry (`registry serve`) on
// 127.0.0.1 serving TLS, optionally behind a token issuer of the test's.
// Unlike Debian's 2.8 it paginates tag lists with n, last and Link.
type DistributionV3 struct {
	// Addr is host:port.
	Addr string
	// CAPEM is the PEM certificate clients must trust (the registry's and
	// the token issuer's).
	CAPEM []byte
	// Transport trusts CAPEM.
	Transport *http.Transport
	// Root is the registry's storage root directory.
	Root string
	// Issuer is the token issuer, when the registry requires tokens.
	Issuer *TokenIssuer
}

// DistributionOptions configure DistributionV3.
type DistributionOptions struct {
	// Users, when not empty, puts the registry behind a token issuer that
	// grants pull and push to these users (name → password) and pull-less
	// tokens to anonymous clients.
	Users map[string]string
}

// StartDistributionV3 starts the registry built by `make tools` for one
// test and waits until it answers.
func StartDistributionV3(t testing.TB, opts DistributionOptions) *DistributionV3 {
	t.Helper()
	bin := ToolPath(t, "distribution", DistributionVersion, "registry")
	dir := t.TempDir()
	certPEM, keyPEM := SelfSignedCert(t)
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	write := func(path string, data []byte) {
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(certFile, certPEM)
	write(keyFile, keyPEM)
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(certPEM)

	d := &DistributionV3{CAPEM: certPEM, Root: storageDir(t)}
	auth := ""
	if len(opts.Users) > 0 {
		d.Issuer = startTokenIssuer(t, pair, opts.Users)
		bundle := filepath.Join(dir, "token-ca.pem")
		write(bundle, d.Issuer.certPEM)
		auth = fmt.Sprintf(`auth:
  token:
    realm: %s
    service: %s
    issuer: %s
    rootcertbundle: %s
`, d.Issuer.Realm, d.Issuer.Service, d.Issuer.Name, bundle)
	}
	config := func(addr string) []byte {
		return registryConfig{LogLevel: "error", Root: d.Root, Addr: addr, CertFile: certFile, KeyFile: keyFile, Auth: auth}.yaml()
	}
	d.Transport = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}
	t.Cleanup(d.Transport.CloseIdleConnections)
	env := append(os.Environ(), "OTEL_TRACES_EXPORTER=none", "OTEL_SDK_DISABLED=true")
	d.Addr = serveRegistry(t, "distribution", bin, filepath.Join(dir, "config.yml"), config, env, d.Transport, func(status int) bool {
		return status == http.StatusOK || status == http.StatusUnauthorized
	})
	return d
}

// storageDir is where the registry keeps its data: in memory (/dev/shm)
// when the machine has it, since seeding thousands of tags writes as many
// small files, about 30 times faster there than on this machine's disk.
func storageDir(t testing.TB) string {
	t.Helper()
	if info, err := os.Stat("/dev/shm"); err == nil && info.IsDir() {
		if dir, err := os.MkdirTemp("/dev/shm", "uptick-distribution-"); err == nil {
			t.Cleanup(func() { _ = os.RemoveAll(dir) })
			return dir
		}
	}
	return filepath.Join(t.TempDir(), "data")
}

// SeedTags adds tags to repo, each pointing at the manifest that tag from
// already points at, by writing the registry's own tag links into its
// storage (what a push of that manifest under a new tag writes): thousands
// of tags in a moment, where as many pushes would take a minute.
func (d *DistributionV3) SeedTags(t testing.TB, repo, from string, tags []string) {
	t.Helper()
	tagsDir := filepath.Join(d.Root, "docker", "registry", "v2", "repositories", filepath.FromSlash(repo), "_manifests", "tags")
	link, err := os.ReadFile(filepath.Join(tagsDir, from, "current", "link"))
	if err != nil {
		t.Fatalf("tag %s of %s to copy: %v", from, repo, err)
	}
	digest := strings.TrimPrefix(string(link), "sha256:")
	for _, tag := range tags {
		for _, p := range []string{
			filepath.Join(tagsDir, tag, "current", "link"),
			filepath.Join(tagsDir, tag, "index", "sha256", digest, "link"),
		} {
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, link, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// TokenIssuer is a Docker token-auth server (the protocol of
// distribution's auth.token) of the test's own: it checks Basic
// credentials and issues ES256 JWTs with an x5c header that the registry
// verifies against its rootcertbundle.
type TokenIssuer struct {
	// Realm is the token URL, on localhost (go-containerregistry refuses a
	// realm that is a private IP literal on another port).
	Realm   string
	Service string
	Name    string
	certPEM []byte
	certDER []byte
	key     *ecdsa.PrivateKey
	users   map[string]string

	mu     sync.Mutex
	issued []string
	// Requests counts token requests; Refused those with wrong credentials.
	requests, refused atomic.Int64
}

// Requests counts the token requests the issuer answered.
func (ti *TokenIssuer) Requests() int64 { return ti.requests.Load() }

// Tokens returns every token issued so far.
func (ti *TokenIssuer) Tokens() []string {
	ti.mu.Lock()
	defer ti.mu.Unlock()
	return append([]string(nil), ti.issued...)
}

func startTokenIssuer(t testing.TB, serving tls.Certificate, users map[string]string) *TokenIssuer {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: "uptick test token issuer"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	ti := &TokenIssuer{
		Service: "uptick-test-registry", Name: "uptick-test-issuer",
		certDER: der, certPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		key: key, users: users,
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(ti.serve))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{serving}, MinVersion: tls.VersionTLS12}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	ti.Realm = "https://localhost:" + port + "/token"
	return ti
}

func (ti *TokenIssuer) serve(w http.ResponseWriter, r *http.Request) {
	ti.requests.Add(1)
	user, pass, hasAuth := r.BasicAuth()
	if hasAuth {
		if want, ok := ti.users[user]; !ok || want != pass {
			ti.refused.Add(1)
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = w.Write([]byte(`{"errors":[{"code":"UNAUTHORIZED","message":"invalid username or password"}]}`))
			return
		}
	} else {
		user = "" // anonymous: a token without access
	}
	type access struct {
		Type    string   `json:"type"`
		Name    string   `json:"name"`
		Actions []string `json:"actions"`
	}
	var granted []access
	for _, scope := range r.URL.Query()["scope"] {
		parts := strings.Split(scope, ":")
		if len(parts) != 3 || parts[0] != "repository" || user == "" {
			continue
		}
		granted = append(granted, access{Type: "repository", Name: parts[1], Actions: strings.Split(parts[2], ",")})
	}
	now := time.Now()
	claims := map[string]any{
		"iss": ti.Name, "sub": user, "aud": ti.Service,
		"exp": now.Add(5 * time.Minute).Unix(), "nbf": now.Add(-time.Minute).Unix(), "iat": now.Unix(),
		"jti": fmt.Sprint(now.UnixNano()), "access": granted,
	}
	tok, err := ti.sign(claims)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	ti.mu.Lock()
	ti.issued = append(ti.issued, tok)
	ti.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"token": tok, "expires_in": 300, "issued_at": now.Format(time.RFC3339)})
}

// sign makes a compact ES256 JWS of claims with the issuer's certificate
// in x5c.
func (ti *TokenIssuer) sign(claims map[string]any) (string, error) {
	header, err := json.Marshal(map[string]any{"typ": "JWT", "alg": "ES256", "x5c": []string{base64.StdEncoding.EncodeToString(ti.certDER)}})
	if err != nil {
		return "", err
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	enc := base64.RawURLEncoding
	input := enc.EncodeToString(header) + "." + enc.EncodeToString(payload)
	sum := sha256.Sum256([]byte(input))
	r, s, err := ecdsa.Sign(rand.Reader, ti.key, sum[:])
	if err != nil {
		return "", err
	}
	sig := make([]byte, 64)
	r.FillBytes(sig[:32])
	s.FillBytes(sig[32:])
	return input + "." + enc.EncodeToString(sig), nil
}
