package scan_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"golang.org/x/crypto/bcrypt"

	"github.com/uptick-gitops/uptick/scan"
)

// distributionRegistry is Debian's docker-registry (distribution 2.8) on
// 127.0.0.1 with TLS and htpasswd basic auth, started for one test.
type distributionRegistry struct {
	addr      string
	transport *http.Transport // trusts the registry's certificate
}

// syncBuffer collects the registry's output for failure messages.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func startDistributionRegistry(t *testing.T, user, pass string) *distributionRegistry {
	t.Helper()
	bin, err := exec.LookPath("docker-registry")
	if err != nil {
		t.Fatalf("docker-registry is not installed (Debian package docker-registry): run `make tools` (hack/ensure-tools.sh installs it): %v", err)
	}
	dir := t.TempDir()
	certPEM, keyPEM := selfSignedCert(t)
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	hash, err := bcrypt.GenerateFromPassword([]byte(pass), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	htpasswd := filepath.Join(dir, "htpasswd")
	addr := closedAddr(t)
	config := filepath.Join(dir, "config.yml")
	for path, content := range map[string][]byte{
		certFile: certPEM,
		keyFile:  keyPEM,
		htpasswd: []byte(user + ":" + string(hash) + "\n"),
		config: fmt.Appendf(nil, `version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: %s
  delete:
    enabled: true
http:
  addr: %s
  secret: uptick-e2e-not-secret
  tls:
    certificate: %s
    key: %s
auth:
  htpasswd:
    realm: uptick-e2e
    path: %s
`, filepath.Join(dir, "data"), addr, certFile, keyFile, htpasswd),
	} {
		if err := os.WriteFile(path, content, 0o600); err != nil {
			t.Fatal(err)
		}
	}

	var logs syncBuffer
	cmd := exec.Command(bin, "serve", config)
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting docker-registry: %v", err)
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

	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(certPEM)
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}
	t.Cleanup(tr.CloseIdleConnections)
	client := &http.Client{Transport: tr, Timeout: time.Second}
	deadline := time.Now().Add(15 * time.Second)
	for {
		resp, err := client.Get("https://" + addr + "/v2/")
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusUnauthorized {
				break
			}
		}
		select {
		case <-exited:
			t.Fatalf("docker-registry exited before it was ready:\n%s", logs.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("docker-registry on %s not ready (last: %v):\n%s", addr, err, logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	return &distributionRegistry{addr: addr, transport: tr}
}

// selfSignedCert makes a certificate for 127.0.0.1 and localhost.
func selfSignedCert(t *testing.T) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: "uptick e2e registry"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1")},
		DNSNames:              []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})
}

func TestDistributionRegistryEndToEnd(t *testing.T) {
	const user, pass, wrong = "uptick", "e2e-Passw0rd!", "not-the-Passw0rd"
	reg := startDistributionRegistry(t, user, pass)

	// Pushed in an order that is neither sorted nor reverse-sorted.
	tags := []string{"1.10.0", "latest", "1.2.0", "0.9.1", "2.0.0-rc.1", "1.9.9", "main-0a1b2c3-1700000000", "1.2.0-alpine"}
	tags = append(tags, numberedTags("build-", 40)...)
	img := pushTags(t, reg.addr, "team/app", tags, remote.WithTransport(reg.transport), basicAuthOption(user, pass))
	pushTags(t, reg.addr, "team/other", []string{"v1"}, remote.WithTransport(reg.transport), basicAuthOption(user, pass))

	good := writeDockerConfig(t, `{"auths":{"https://`+reg.addr+`":{"auth":"`+authEntry(user, pass)+`"}}}`)
	bad := writeDockerConfig(t, `{"auths":{"`+reg.addr+`":{"username":"`+user+`","password":"`+wrong+`"}}}`)

	s := newScanner(t, scan.WithTransport(reg.transport))
	results := s.Scan(context.Background(), []scan.Target{
		{Name: "app", Repository: reg.addr + "/team/app", DockerConfig: good},
		{Name: "other", Repository: reg.addr + "/team/other", DockerConfig: good},
		{Name: "app-again", Repository: reg.addr + "/team/app", DockerConfig: good},
		{Name: "app-wrong-password", Repository: reg.addr + "/team/app", DockerConfig: bad},
		{Name: "anonymous", Repository: reg.addr + "/team/app"},
		{Name: "missing", Repository: reg.addr + "/team/missing", DockerConfig: good},
	})

	sorted := cmpopts.SortSlices(func(a, b string) bool { return a < b })
	for _, i := range []int{0, 2} {
		if results[i].Err != nil {
			t.Fatalf("%s: %v", results[i].Target.Name, results[i].Err)
		}
		if diff := cmp.Diff(tags, results[i].Tags, sorted); diff != "" {
			t.Errorf("%s tags (-want +got):\n%s", results[i].Target.Name, diff)
		}
	}
	if results[0].Requests == 0 || results[2].Requests != 0 {
		t.Errorf("requests = %d and %d, want the second listing shared", results[0].Requests, results[2].Requests)
	}
	if diff := cmp.Diff([]string{"v1"}, results[1].Tags); diff != "" || results[1].Err != nil {
		t.Errorf("other: err %v, tags (-want +got):\n%s", results[1].Err, diff)
	}
	for _, i := range []int{3, 4} {
		err := results[i].Err
		if !errors.Is(err, scan.ErrUnauthorized) {
			t.Errorf("%s: err = %v, want ErrUnauthorized", results[i].Target.Name, err)
			continue
		}
		if !strings.Contains(err.Error(), reg.addr+"/team/app") {
			t.Errorf("%s: error %q does not name the repository", results[i].Target.Name, err)
		}
		for _, secret := range []string{pass, wrong, authEntry(user, pass)} {
			if strings.Contains(err.Error(), secret) {
				t.Errorf("%s: error %q leaks a secret", results[i].Target.Name, err)
			}
		}
	}
	// distribution answers an unknown repository of an authorized user with
	// NAME_UNKNOWN.
	if err := results[5].Err; !errors.Is(err, scan.ErrNotFound) || !strings.Contains(err.Error(), reg.addr+"/team/missing") {
		t.Errorf("missing: err = %v, want ErrNotFound naming the repository", err)
	}

	d, err := s.Digest(context.Background(), results[0].Target, "1.10.0")
	if err != nil {
		t.Fatal(err)
	}
	if want, _ := img.Digest(); d != want.String() {
		t.Errorf("digest = %s, want %s", d, want)
	}
}
