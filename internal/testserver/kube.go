package testserver

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	gosync "sync"
	"syscall"
	"testing"
	"time"
)

// KubeVersion is the kube-apiserver and kube-controller-manager version
// hack/tools/kube.sh builds.
const KubeVersion = "v1.33.13"

// EtcdPath is where Debian's etcd-server installs etcd; `make tools`
// installs the package when it is missing.
const EtcdPath = "/usr/bin/etcd"

// kubeStartTimeout bounds the start of etcd plus kube-apiserver.
const kubeStartTimeout = 90 * time.Second

// KubeOptions configures StartKube.
type KubeOptions struct {
	// ControllerManager also starts kube-controller-manager with only the
	// namespace, garbage-collector and service-account controllers:
	// without them a deleted Namespace never goes away and foreground or
	// orphan deletes hang.
	ControllerManager bool
}

// Kube is a running etcd + kube-apiserver (+ kube-controller-manager) on
// 127.0.0.1, reached with a static admin token (group system:masters).
type Kube struct {
	// URL is "https://127.0.0.1:PORT".
	URL string
	// CAPEM is the serving certificate clients trust.
	CAPEM []byte
	// Token is the bearer token of the admin user.
	Token string
	// Kubeconfig is the path of a kubeconfig file for the admin user,
	// whose only context is "uptick-test".
	Kubeconfig string
	// Dir holds the servers' files and logs.
	Dir string

	client *http.Client
	procs  []*kubeProc // started order; stopped in reverse
	tmp    []string
	logs   map[string]string
}

// Context is the name of the context in Kube.Kubeconfig.
const KubeContext = "uptick-test"

type kubeProc struct {
	name   string
	cmd    *exec.Cmd
	exited chan struct{}
}

// StartKube starts etcd (data on /dev/shm when it exists) and
// kube-apiserver on free 127.0.0.1 ports, and with opts.ControllerManager
// kube-controller-manager; it waits until the API server is ready and the
// namespace "default" exists. It is meant for TestMain, where no testing.TB
// exists: call Stop when the tests are done. A missing binary is an error
// naming `make tools`.
//
// The free ports are found by binding and releasing them, so another
// process (a test package running beside) may take one first: a start
// that fails on a taken address is made again, on fresh ports.
func StartKube(opts KubeOptions) (*Kube, error) {
	const attempts = 3
	for attempt := 1; ; attempt++ {
		k, err := startKube(opts)
		if err == nil || attempt == attempts || !strings.Contains(err.Error(), "address already in use") {
			return k, err
		}
	}
}

func startKube(opts KubeOptions) (k *Kube, err error) {
	etcd, err := os.Stat(EtcdPath)
	if err != nil || etcd.IsDir() {
		return nil, fmt.Errorf("etcd is not installed at %s (Debian package etcd-server): run `make tools`", EtcdPath)
	}
	bins := map[string]string{}
	for _, b := range []string{"kube-apiserver", "kube-controller-manager"} {
		p := filepath.Join(ToolsDir(), "kube-"+KubeVersion, b)
		if _, err := os.Stat(p); err != nil {
			return nil, fmt.Errorf("%s %s is not built: run `make tools` (hack/tools/kube.sh): %w", b, KubeVersion, err)
		}
		bins[b] = p
	}

	dir, err := os.MkdirTemp("", "uptick-kube-")
	if err != nil {
		return nil, err
	}
	k = &Kube{Dir: dir, tmp: []string{dir}, logs: map[string]string{}}
	defer func() {
		if err != nil {
			if logs := k.tail(); logs != "" {
				err = fmt.Errorf("%w\n%s", err, logs)
			}
			k.Stop()
			k = nil
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), kubeStartTimeout)
	defer cancel()

	// etcd keeps its data in memory (tmpfs): etcd 3.4 has no
	// --unsafe-no-fsync, and fsync on a real disk makes every write slow.
	shm := ""
	if fi, err := os.Stat("/dev/shm"); err == nil && fi.IsDir() {
		shm = "/dev/shm"
	}
	data, err := os.MkdirTemp(shm, "uptick-etcd-")
	if err != nil {
		return k, err
	}
	k.tmp = append(k.tmp, data)
	clientAddr, err := freeAddr()
	if err != nil {
		return k, err
	}
	peerAddr, err := freeAddr()
	if err != nil {
		return k, err
	}
	if err := k.start("etcd", EtcdPath,
		"--name=uptick-test", "--data-dir="+data,
		"--listen-client-urls=http://"+clientAddr, "--advertise-client-urls=http://"+clientAddr,
		"--listen-peer-urls=http://"+peerAddr, "--initial-advertise-peer-urls=http://"+peerAddr,
		"--initial-cluster=uptick-test=http://"+peerAddr,
		"--logger=zap", "--log-level=warn", "--quota-backend-bytes=4294967296",
	); err != nil {
		return k, err
	}
	if err := k.waitHTTP(ctx, "etcd", "http://"+clientAddr+"/health", http.DefaultClient, func(body string) bool {
		return strings.Contains(body, `"health":"true"`)
	}); err != nil {
		return k, err
	}

	// Serving certificate, service-account signing key, admin token.
	certPEM, keyPEM, err := newSelfSignedCert()
	if err != nil {
		return k, err
	}
	saKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return k, err
	}
	saDER, err := x509.MarshalECPrivateKey(saKey)
	if err != nil {
		return k, err
	}
	tok := make([]byte, 16)
	if _, err := rand.Read(tok); err != nil {
		return k, err
	}
	k.Token = hex.EncodeToString(tok)
	k.CAPEM = certPEM
	files := map[string][]byte{
		"apiserver.crt": certPEM,
		"apiserver.key": keyPEM,
		"sa.key":        pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: saDER}),
		"tokens.csv":    []byte(k.Token + ",admin,admin-uid,system:masters\n"),
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), content, 0o600); err != nil {
			return k, err
		}
	}
	apiAddr, err := freeAddr()
	if err != nil {
		return k, err
	}
	_, port, _ := net.SplitHostPort(apiAddr)
	k.URL = "https://" + apiAddr
	if err := k.start("kube-apiserver", bins["kube-apiserver"],
		"--etcd-servers=http://"+clientAddr,
		"--bind-address=127.0.0.1", "--advertise-address=127.0.0.1", "--secure-port="+port,
		"--tls-cert-file="+filepath.Join(dir, "apiserver.crt"), "--tls-private-key-file="+filepath.Join(dir, "apiserver.key"),
		"--cert-dir="+filepath.Join(dir, "certs"),
		"--token-auth-file="+filepath.Join(dir, "tokens.csv"),
		"--authorization-mode=RBAC",
		"--service-account-key-file="+filepath.Join(dir, "sa.key"),
		"--service-account-signing-key-file="+filepath.Join(dir, "sa.key"),
		"--service-account-issuer=https://kubernetes.default.svc",
		"--service-cluster-ip-range=10.0.0.0/24",
		"--disable-admission-plugins=ServiceAccount",
		"--endpoint-reconciler-type=none",
		"--profiling=false",
		"--v=0",
	); err != nil {
		return k, err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(certPEM)
	k.client = &http.Client{
		Transport: &bearer{token: k.Token, rt: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}},
		Timeout:   5 * time.Second,
	}
	if err := k.waitHTTP(ctx, "kube-apiserver", k.URL+"/readyz", k.client, func(body string) bool { return body == "ok" }); err != nil {
		return k, err
	}
	if err := k.waitHTTP(ctx, "kube-apiserver", k.URL+"/api/v1/namespaces/default", k.client, func(string) bool { return true }); err != nil {
		return k, err
	}
	k.Kubeconfig = filepath.Join(dir, "kubeconfig")
	if err := os.WriteFile(k.Kubeconfig, k.KubeconfigYAML(), 0o600); err != nil {
		return k, err
	}

	if opts.ControllerManager {
		if err := k.start("kube-controller-manager", bins["kube-controller-manager"],
			"--kubeconfig="+k.Kubeconfig,
			"--controllers=namespace,garbagecollector,serviceaccount",
			"--leader-elect=false", "--secure-port=0",
			"--v=0",
		); err != nil {
			return k, err
		}
	}
	return k, nil
}

// KubeconfigYAML is a kubeconfig for the admin user.
func (k *Kube) KubeconfigYAML() []byte {
	return KubeconfigFor(k.URL, k.CAPEM, k.Token)
}

// KubeconfigFor renders a kubeconfig with one context, KubeContext, for a
// bearer token.
func KubeconfigFor(server string, caPEM []byte, token string) []byte {
	return fmt.Appendf(nil, `apiVersion: v1
kind: Config
clusters:
- name: uptick-test
  cluster:
    server: %s
    certificate-authority-data: %s
users:
- name: uptick-test
  user:
    token: %s
contexts:
- name: %s
  context: {cluster: uptick-test, user: uptick-test}
current-context: %s
`, server, b64(caPEM), token, KubeContext, KubeContext)
}

// Do sends an authenticated request to the API server and returns the
// status and body; for test set-up that client-go would make verbose.
func (k *Kube) Do(method, path, contentType string, body []byte) (int, []byte, error) {
	req, err := http.NewRequest(method, k.URL+path, strings.NewReader(string(body)))
	if err != nil {
		return 0, nil, err
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := k.client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	return resp.StatusCode, b, err
}

// Stop stops every process StartKube started, newest first (SIGTERM, then
// SIGKILL after a few seconds), and removes their files. Safe to call twice.
func (k *Kube) Stop() {
	for i := len(k.procs) - 1; i >= 0; i-- {
		p := k.procs[i]
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-p.exited:
		case <-time.After(5 * time.Second):
			_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
			<-p.exited
		}
	}
	k.procs = nil
	for _, d := range k.tmp {
		_ = os.RemoveAll(d)
	}
	k.tmp = nil
	if k.client != nil {
		k.client.CloseIdleConnections()
	}
}

// Logs returns the end of each server's log, for a failing test.
func (k *Kube) Logs() string { return k.tail() }

func (k *Kube) start(name, bin string, args ...string) error {
	logFile := filepath.Join(k.Dir, name+".log")
	f, err := os.Create(logFile)
	if err != nil {
		return err
	}
	defer f.Close()
	cmd := exec.Command(bin, args...)
	cmd.Stdin = nil
	cmd.Stdout, cmd.Stderr = f, f
	// Own process group, so Stop reaches any child; killed with the test
	// binary if it dies without running Stop.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting %s: %w", name, err)
	}
	p := &kubeProc{name: name, cmd: cmd, exited: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		close(p.exited)
	}()
	k.procs = append(k.procs, p)
	k.logs[name] = logFile
	return nil
}

func (k *Kube) waitHTTP(ctx context.Context, name, url string, client *http.Client, ok func(body string) bool) error {
	var last string
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		resp, err := client.Do(req)
		if err == nil {
			b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK && ok(strings.TrimSpace(string(b))) {
				return nil
			}
			last = fmt.Sprintf("%s: %s", resp.Status, strings.TrimSpace(string(b)))
		} else {
			last = err.Error()
		}
		for _, p := range k.procs {
			select {
			case <-p.exited:
				return fmt.Errorf("%s exited before %s was ready", p.name, name)
			default:
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s not ready at %s within %s (last: %s)", name, url, kubeStartTimeout, last)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// tail returns the last lines of each log.
func (k *Kube) tail() string {
	var b strings.Builder
	for _, p := range k.procs {
		data, err := os.ReadFile(k.logs[p.name])
		if err != nil || len(data) == 0 {
			continue
		}
		lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
		fmt.Fprintf(&b, "--- %s log (last lines):\n%s\n", p.name, strings.Join(lines[max(0, len(lines)-20):], "\n"))
	}
	return b.String()
}

// bearer adds a bearer token to every request.
type bearer struct {
	token string
	rt    http.RoundTripper
}

func (b *bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.token)
	return b.rt.RoundTrip(r)
}

func (b *bearer) CloseIdleConnections() {
	if c, ok := b.rt.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}

// SharedKube starts one API server for a whole test package on first use
// and stops it when the package's tests are done:
//
//	var kube testserver.SharedKube
//	func TestMain(m *testing.M) { os.Exit(kube.Run(m, testserver.KubeOptions{ControllerManager: true})) }
//	func TestX(t *testing.T) { k := kube.Get(t) ... }
//
// Tests that share it isolate themselves by namespace.
type SharedKube struct {
	once gosync.Once
	opts KubeOptions
	kube *Kube
	err  error
}

// Run runs the package's tests and stops the server if one was started.
func (s *SharedKube) Run(m *testing.M, opts KubeOptions) int {
	s.opts = opts
	defer s.Stop()
	return m.Run()
}

// Stop stops the server if one was started (for a TestMain that does more
// than Run; the server then starts with the zero KubeOptions).
func (s *SharedKube) Stop() {
	if s.kube != nil {
		s.kube.Stop()
	}
}

// Get returns the package's API server, starting it on the first call; a
// server that cannot start fails the test (never skips it).
func (s *SharedKube) Get(t testing.TB) *Kube {
	t.Helper()
	s.once.Do(func() { s.kube, s.err = StartKube(s.opts) })
	if s.err != nil {
		t.Fatalf("starting kube-apiserver: %v", s.err)
	}
	return s.kube
}

func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	addr := l.Addr().String()
	return addr, l.Close()
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

var unsafeNameChars = regexp.MustCompile(`[^a-z0-9-]+`)

// Namespace creates a namespace named after the test (plus a random
// suffix), so tests sharing the server keep apart, and deletes it when the
// test ends (the controller manager, when running, empties it).
func (k *Kube) Namespace(t testing.TB) string {
	t.Helper()
	name := strings.Trim(unsafeNameChars.ReplaceAllString(strings.ToLower(t.Name()), "-"), "-")
	if len(name) > 40 {
		name = strings.Trim(name[:40], "-")
	}
	b := make([]byte, 3)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	name += "-" + hex.EncodeToString(b)
	body := fmt.Appendf(nil, `{"apiVersion":"v1","kind":"Namespace","metadata":{"name":%q}}`, name)
	code, out, err := k.Do(http.MethodPost, "/api/v1/namespaces", "application/json", body)
	if err != nil || code != http.StatusCreated {
		t.Fatalf("creating namespace %s: %d %v %s", name, code, err, out)
	}
	t.Cleanup(func() { _, _, _ = k.Do(http.MethodDelete, "/api/v1/namespaces/"+name, "", nil) })
	return name
}
