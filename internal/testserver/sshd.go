package testserver

import (
	"bufio"
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// SSHDPath is where Debian's openssh-server installs the daemon; `make
// tools` installs the package when it is missing.
const SSHDPath = "/usr/sbin/sshd"

// sshdPrivsepDir is the privilege separation directory sshd insists on when
// it runs as root; Debian creates it only when its service starts.
const sshdPrivsepDir = "/run/sshd"

// sshdStartTimeout bounds how long SSHD waits for the daemon's banner.
const sshdStartTimeout = 10 * time.Second

// SSHDOptions configures the sshd that SSHD starts.
type SSHDOptions struct {
	// AuthorizedKeys are the client public keys sshd accepts for the
	// current user. At least one is required: sshd accepts nothing else.
	AuthorizedKeys []ssh.PublicKey
	// Env holds extra NAME=VALUE pairs set in every session (sshd's
	// SetEnv), on top of the git isolation SSHD always sets. Values must
	// not contain whitespace or quotes.
	Env []string
}

// SSHServer is a running OpenSSH sshd on 127.0.0.1 that logs the authorized
// keys in as the user running the tests, so `git-upload-pack '/abs/path'`
// and `git-receive-pack` reach bare repositories by absolute path, as on
// a self-hosted git server.
type SSHServer struct {
	// Addr is "127.0.0.1:PORT".
	Addr string
	// User is the account sshd logs clients in as: the current user.
	User string
	// HostKey is the server's ed25519 host public key.
	HostKey ssh.PublicKey
	// KnownHostsLine is the known_hosts entry for HostKey at Addr,
	// "[127.0.0.1]:PORT ssh-ed25519 AAAA...", without a newline.
	KnownHostsLine string
}

// URL returns the ssh:// URL of the repository at the absolute path repo.
func (s *SSHServer) URL(repo string) string {
	return "ssh://" + s.User + "@" + s.Addr + filepath.ToSlash(repo)
}

// SSHD starts the real OpenSSH daemon on a free 127.0.0.1 port with a
// fresh ed25519 host key, public-key authentication only, and git isolated
// from the machine's git configuration. It fails the test (never skips)
// when sshd is missing, and stops the daemon and every session process it
// forked in t.Cleanup.
func SSHD(t testing.TB, opts SSHDOptions) *SSHServer {
	t.Helper()
	if len(opts.AuthorizedKeys) == 0 {
		t.Fatal("testserver.SSHD: SSHDOptions.AuthorizedKeys is empty")
	}
	for _, kv := range opts.Env {
		name, _, ok := strings.Cut(kv, "=")
		if !ok || name == "" || strings.ContainsAny(kv, " \t\r\n\"'") {
			t.Fatalf("testserver.SSHD: env entry %q is not NAME=VALUE without whitespace or quotes", kv)
		}
	}
	if _, err := os.Stat(SSHDPath); err != nil {
		t.Fatalf("testserver.SSHD: %s not found (Debian package openssh-server); run `make tools`: %v", SSHDPath, err)
	}
	if err := os.MkdirAll(sshdPrivsepDir, 0o755); err != nil && os.Geteuid() == 0 {
		t.Fatalf("testserver.SSHD: creating privilege separation directory: %v", err)
	}
	u, err := user.Current()
	if err != nil {
		t.Fatalf("testserver.SSHD: looking up the current user: %v", err)
	}

	dir := t.TempDir()
	hostKey := writeSSHHostKey(t, filepath.Join(dir, "ssh_host_ed25519_key"))
	var authorized bytes.Buffer
	for _, k := range opts.AuthorizedKeys {
		// restrict: no forwarding, pty or X11; the git commands need none.
		authorized.WriteString("restrict ")
		authorized.Write(ssh.MarshalAuthorizedKey(k))
	}
	authFile := filepath.Join(dir, "authorized_keys")
	if err := os.WriteFile(authFile, authorized.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}

	// The free port is found by binding and releasing it, so another
	// process may take it before sshd binds; retry on a fresh port then.
	var lastErr error
	for range 3 {
		addr := FreeAddr(t)
		_, port, err := net.SplitHostPort(addr)
		if err != nil {
			t.Fatalf("testserver.SSHD: %v", err)
		}
		conf := filepath.Join(dir, "sshd_config")
		cfg := sshdConfig(port, filepath.Join(dir, "ssh_host_ed25519_key"), authFile, filepath.Join(dir, "sshd.pid"), u.Username, opts.Env)
		if err := os.WriteFile(conf, []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
		d, err := startSSHD(conf, addr)
		if err != nil {
			lastErr = err
			continue
		}
		t.Cleanup(func() {
			if log := d.stop(); log != "" && t.Failed() {
				t.Logf("sshd on %s logged:\n%s", addr, log)
			}
		})
		return &SSHServer{
			Addr:           addr,
			User:           u.Username,
			HostKey:        hostKey,
			KnownHostsLine: knownhosts.Line([]string{knownhosts.Normalize(addr)}, hostKey),
		}
	}
	t.Fatalf("testserver.SSHD: %v", lastErr)
	return nil
}

// writeSSHHostKey generates an ed25519 host key, writes its private half in
// OpenSSH format to path with the 0600 mode sshd requires, and returns
// the public half.
func writeSSHHostKey(t testing.TB, path string) ssh.PublicKey {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	block, err := ssh.MarshalPrivateKey(priv, "uptick test host key")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatal(err)
	}
	sshPub, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return sshPub
}

// sshdConfig renders a complete sshd_config; sshd reads no other file.
func sshdConfig(port string, hostKey, authorizedKeys, pidFile, userName string, env []string) string {
	// git on the server side must not read the machine's (or the user's)
	// git configuration, just like the git CLI the tests run themselves.
	setEnv := append([]string{"GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1"}, env...)
	lines := []string{
		"Port " + port,
		"ListenAddress 127.0.0.1",
		"HostKey " + hostKey,
		"PidFile " + pidFile,
		"AuthorizedKeysFile " + authorizedKeys,
		"AllowUsers " + userName,
		"PubkeyAuthentication yes",
		"PermitRootLogin prohibit-password",
		"PasswordAuthentication no",
		"KbdInteractiveAuthentication no",
		"UsePAM no",
		"StrictModes no",
		"PrintMotd no",
		"PrintLastLog no",
		"UseDNS no",
		"X11Forwarding no",
		"AllowTcpForwarding no",
		"AllowAgentForwarding no",
		"LogLevel ERROR",
		"SetEnv " + strings.Join(setEnv, " "),
	}
	return strings.Join(lines, "\n") + "\n"
}

// sshdProcess is a running `sshd -D` and its log.
type sshdProcess struct {
	cmd    *exec.Cmd
	exited chan struct{} // closed once cmd.Wait returns
	log    *SyncBuffer
}

// startSSHD runs sshd in the foreground with config and waits until addr
// answers with an SSH banner.
func startSSHD(config, addr string) (*sshdProcess, error) {
	d := &sshdProcess{
		cmd:    exec.Command(SSHDPath, "-D", "-e", "-f", config),
		exited: make(chan struct{}),
		log:    &SyncBuffer{},
	}
	d.cmd.Stdout, d.cmd.Stderr = d.log, d.log
	// Session processes inherit sshd's stderr; one that outlives sshd
	// must not keep Wait copying its output forever.
	d.cmd.WaitDelay = time.Second
	if err := d.cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", SSHDPath, err)
	}
	go func() { d.cmd.Wait(); close(d.exited) }()

	deadline := time.Now().Add(sshdStartTimeout)
	for {
		select {
		case <-d.exited:
			return nil, fmt.Errorf("sshd -f %s exited before serving %s: %v\n%s", config, addr, d.cmd.ProcessState, d.log)
		default:
		}
		err := readSSHBanner(addr)
		if err == nil {
			return d, nil
		}
		if time.Now().After(deadline) {
			d.stop()
			return nil, fmt.Errorf("sshd -f %s did not serve %s within %v: %w\n%s", config, addr, sshdStartTimeout, err, d.log)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// readSSHBanner connects to addr and reads the server's SSH identification.
func readSSHBanner(addr string) error {
	conn, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err
	}
	defer conn.Close()
	if err := conn.SetReadDeadline(time.Now().Add(time.Second)); err != nil {
		return err
	}
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		return fmt.Errorf("reading banner from %s: %w", addr, err)
	}
	if !strings.HasPrefix(line, "SSH-2.0-") {
		return fmt.Errorf("%s answered %q, not an SSH banner", addr, strings.TrimSpace(line))
	}
	return nil
}

// stop kills sshd and every process it forked, waits for sshd to exit and
// returns its log. Session processes call setsid, so a process-group kill
// would miss them; they are found by walking the process tree instead and
// killed leaves first, so each parent reaps its children and no zombie is
// left for init.
func (d *sshdProcess) stop() string {
	select {
	case <-d.exited:
		return d.log.String()
	default:
	}
	pid := d.cmd.Process.Pid
	for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); {
		leaves := sshdLeafDescendants(pid)
		if len(leaves) == 0 {
			break
		}
		for _, leaf := range leaves {
			// An error means the process is already gone: the goal.
			_ = syscall.Kill(leaf, syscall.SIGKILL)
		}
		time.Sleep(5 * time.Millisecond)
	}
	_ = syscall.Kill(pid, syscall.SIGKILL)
	<-d.exited
	return d.log.String()
}

// sshdLeafDescendants returns the pids of the processes below pid that
// have no children themselves, read from /proc (Linux, where sshd runs
// for these tests).
func sshdLeafDescendants(pid int) []int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	children := map[int][]int{}
	for _, e := range entries {
		child, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		parent, err := procParentPID(child)
		if err != nil {
			continue
		}
		children[parent] = append(children[parent], child)
	}
	var leaves []int
	queue := slices.Clone(children[pid])
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		if len(children[p]) == 0 {
			leaves = append(leaves, p)
		}
		queue = append(queue, children[p]...)
	}
	return leaves
}

// procParentPID reads the parent pid of pid from /proc/PID/stat.
func procParentPID(pid int) (int, error) {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return 0, err
	}
	// The command name is in parentheses and may hold spaces; fields after
	// the last ")" are "state ppid ...".
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, errors.New("malformed stat")
	}
	fields := strings.Fields(string(b[i+1:]))
	if len(fields) < 2 {
		return 0, errors.New("malformed stat")
	}
	return strconv.Atoi(fields[1])
}
