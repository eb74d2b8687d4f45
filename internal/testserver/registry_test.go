package testserver

import (
	"crypto/tls"
	"crypto/x509"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestServeRegistryTakesAFreshPort starts docker-registry with its first
// config naming a port another listener holds, as when another process
// takes the released port first: the registry exits saying the address
// is in use, and serveRegistry starts it again on a fresh port.
func TestServeRegistryTakesAFreshPort(t *testing.T) {
	bin, err := exec.LookPath("docker-registry")
	if err != nil {
		t.Fatalf("docker-registry is not installed (Debian package docker-registry): run `make tools`: %v", err)
	}
	held, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	dir := t.TempDir()
	certPEM, keyPEM := SelfSignedCert(t)
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	for path, b := range map[string][]byte{certFile: certPEM, keyFile: keyPEM} {
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	var asked []string
	config := func(addr string) []byte {
		asked = append(asked, addr)
		if len(asked) == 1 {
			addr = held.Addr().String()
		}
		return registryConfig{LogLevel: "warn", Root: filepath.Join(dir, "data"), Addr: addr, CertFile: certFile, KeyFile: keyFile}.yaml()
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(certPEM)
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}
	defer tr.CloseIdleConnections()
	addr := serveRegistry(t, "docker-registry", bin, filepath.Join(dir, "config.yml"), config, nil, tr, func(status int) bool { return status == http.StatusOK })
	if len(asked) != 2 || addr != asked[1] {
		t.Fatalf("configs asked for %v, registry on %s: want a second port after the taken one", asked, addr)
	}
	resp, err := (&http.Client{Transport: tr}).Get("https://" + addr + "/v2/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /v2/ on %s: %s", addr, resp.Status)
	}
}
