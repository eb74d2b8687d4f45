package testserver

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// Registry is Debian's docker-registry (distribution 2.8) serving TLS with
// htpasswd basic auth on 127.0.0.1.
type Registry struct {
	// Addr is host:port, e.g. "127.0.0.1:41234".
	Addr string
	// CAPEM is the PEM certificate clients must trust.
	CAPEM []byte
	// Transport trusts CAPEM.
	Transport *http.Transport
}

// DistributionRegistry starts docker-registry for one test, requiring user
// and password, and waits until it answers.
func DistributionRegistry(t testing.TB, user, password string) *Registry {
	t.Helper()
	bin, err := exec.LookPath("docker-registry")
	if err != nil {
		t.Fatalf("docker-registry is not installed (Debian package docker-registry): run `make tools`: %v", err)
	}
	dir := t.TempDir()
	certPEM, keyPEM := SelfSignedCert(t)
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	hash, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	htpasswd := filepath.Join(dir, "htpasswd")
	for path, content := range map[string][]byte{
		certFile: certPEM,
		keyFile:  keyPEM,
		htpasswd: []byte(user + ":" + string(hash) + "\n"),
	} {
		if err := os.WriteFile(path, content, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	config := func(addr string) []byte {
		return registryConfig{LogLevel: "warn", Root: filepath.Join(dir, "data"), Addr: addr, CertFile: certFile, KeyFile: keyFile,
			Auth: "auth:\n  htpasswd:\n    realm: uptick-test\n    path: " + htpasswd + "\n"}.yaml()
	}

	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(certPEM)
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}
	t.Cleanup(tr.CloseIdleConnections)
	addr := serveRegistry(t, "docker-registry", bin, filepath.Join(dir, "config.yml"), config, nil, tr, func(status int) bool { return status == http.StatusUnauthorized })
	return &Registry{Addr: addr, CAPEM: certPEM, Transport: tr}
}

// registryConfig is the config.yml of a distribution registry (Debian's
// docker-registry 2.8 and distribution v3 read the same format) serving
// TLS on Addr from Root.
type registryConfig struct {
	LogLevel, Root, Addr, CertFile, KeyFile string
	// Auth is the config's whole auth: section; "" for none.
	Auth string
}

func (c registryConfig) yaml() []byte {
	return fmt.Appendf(nil, `version: 0.1
log:
  level: %s
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: %s
  delete:
    enabled: true
http:
  addr: %s
  secret: uptick-test-not-secret
  tls:
    certificate: %s
    key: %s
%s`, c.LogLevel, c.Root, c.Addr, c.CertFile, c.KeyFile, c.Auth)
}

// serveRegistry writes config(addr) to the file config for a free
// 127.0.0.1 port and runs `bin serve config` (env nil: the test's own) for
// the rest of the test, until GET /v2/ over tr answers with a status ready
// accepts; it returns the address. The port is found by binding and
// releasing it, so another process may take it first: a registry that
// exits saying so is started again on a fresh port. name is the server
// in failure messages.
func serveRegistry(t testing.TB, name, bin, config string, configFor func(addr string) []byte, env []string, tr *http.Transport, ready func(status int) bool) string {
	t.Helper()
	const attempts = 5
	for attempt := 1; ; attempt++ {
		addr := FreeAddr(t)
		if err := os.WriteFile(config, configFor(addr), 0o600); err != nil {
			t.Fatal(err)
		}
		logs, ok := runRegistry(t, name, bin, config, env, addr, tr, ready)
		if ok {
			return addr
		}
		if attempt == attempts || !strings.Contains(logs, "address already in use") {
			t.Fatalf("%s exited before it was ready:\n%s", name, logs)
		}
		t.Logf("%s: %s was taken before it could bind; on a fresh port (attempt %d of %d)", name, addr, attempt+1, attempts)
	}
}

// runRegistry starts one registry process on addr and waits for it: true
// once it is ready (it then runs until the test ends), false with its
// output if it exited first.
func runRegistry(t testing.TB, name, bin, config string, env []string, addr string, tr *http.Transport, ready func(status int) bool) (string, bool) {
	t.Helper()
	var logs SyncBuffer
	cmd := exec.Command(bin, "serve", config)
	cmd.Stdout, cmd.Stderr, cmd.Env = &logs, &logs, env
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", name, err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
	})
	client := &http.Client{Transport: tr, Timeout: time.Second}
	deadline := time.Now().Add(15 * time.Second)
	for {
		resp, err := client.Get("https://" + addr + "/v2/")
		if err == nil {
			_ = resp.Body.Close()
			if ready(resp.StatusCode) {
				return "", true
			}
		}
		select {
		case <-exited:
			return logs.String(), false
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s on %s not ready (last: %v):\n%s", name, addr, err, logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// SyncBuffer is a goroutine-safe buffer for a server's or a logger's
// output, shown when a test fails.
type SyncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// Write implements io.Writer.
func (b *SyncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String returns everything written so far.
func (b *SyncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
