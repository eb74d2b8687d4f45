package testserver

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	sdk "code.gitea.io/sdk/gitea"
)

// GiteaVersion is the Gitea release hack/tools/gitea.sh builds.
const GiteaVersion = "v1.26.0"

// giteaStartTimeout bounds how long StartGitea waits for /api/healthz.
const giteaStartTimeout = 90 * time.Second

// Gitea is a running Gitea server on 127.0.0.1 with SQLite, an admin user
// and an access token with every scope.
type Gitea struct {
	// URL is the server root, "http://127.0.0.1:PORT" (no trailing slash).
	URL string
	// Admin and Password are the admin user's login.
	Admin, Password string
	// Token is an access token of Admin with every scope.
	Token string
	// StartDuration is how long StartGitea took, migrations and user
	// creation included.
	StartDuration time.Duration

	bin, conf, dir string
	secret, intTok string
	env            []string
	cmd            *exec.Cmd
	exited         chan struct{}
	log            *SyncBuffer
}

// SharedGitea starts one Gitea for a whole test package on first use and
// stops it when the package's TestMain calls Stop:
//
//	var forge testserver.SharedGitea
//
//	func TestMain(m *testing.M) {
//		code := m.Run()
//		forge.Stop()
//		os.Exit(code)
//	}
//
//	func TestX(t *testing.T) { srv := forge.Get(t); ... }
//
// Starting takes seconds, so tests share the server and keep apart by
// creating their own repositories.
type SharedGitea struct {
	once sync.Once
	srv  *Gitea
	err  error
}

// Get returns the package's server, starting it on the first call. It
// fails the test (never skips) when Gitea is not built or does not start.
func (s *SharedGitea) Get(t testing.TB) *Gitea {
	t.Helper()
	s.once.Do(func() {
		bin := ToolPath(t, "gitea", GiteaVersion, "gitea")
		s.srv, s.err = StartGitea(bin)
	})
	if s.err != nil {
		t.Fatalf("testserver.Gitea: %v", s.err)
	}
	return s.srv
}

// Stop stops the server if it was started, and removes its files.
func (s *SharedGitea) Stop() {
	if s.srv != nil {
		s.srv.Stop()
	}
}

// StartGitea runs the Gitea binary bin (built by hack/tools/gitea.sh, which
// puts templates/, options/ and public/ beside it) on a free 127.0.0.1
// port, with its database, repositories and logs in a new temporary
// directory. The caller must call Stop.
func StartGitea(bin string) (*Gitea, error) {
	start := time.Now()
	dir, err := os.MkdirTemp("", "uptick-gitea-")
	if err != nil {
		return nil, err
	}
	g := &Gitea{
		Admin:    "uptick-admin",
		Password: "uptick-" + randomString(12),
		bin:      bin,
		conf:     filepath.Join(dir, "app.ini"),
		dir:      dir,
		log:      &SyncBuffer{},
		secret:   randomString(32),
		intTok:   randomString(48),
	}
	// Gitea writes its own global git config (`git config --global`) under
	// [git] HOME_PATH. A GIT_CONFIG_GLOBAL inherited from the test's
	// environment would redirect those writes: with /dev/null, git's
	// lock-and-rename replaces the device node with a regular file.
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "GIT_") && !strings.HasPrefix(kv, "GITEA_") && !strings.HasPrefix(kv, "HOME=") {
			g.env = append(g.env, kv)
		}
	}
	g.env = append(g.env, "GITEA_WORK_DIR="+dir, "HOME="+dir, "GIT_CONFIG_NOSYSTEM=1")
	if os.Geteuid() == 0 {
		g.env = append(g.env, "GITEA_I_AM_BEING_UNSAFE_RUNNING_AS_ROOT=true")
	}
	ok := false
	defer func() {
		if !ok {
			g.Stop()
		}
	}()

	// A free port is found by binding and releasing it; another process
	// may take it in between, so try a fresh one when Gitea cannot bind.
	var lastErr error
	for range 3 {
		addr, err := freeLoopbackAddr()
		if err != nil {
			return nil, err
		}
		if err := g.writeConfig(addr); err != nil {
			return nil, err
		}
		if lastErr = g.prepare(); lastErr != nil {
			return nil, lastErr
		}
		if lastErr = g.serve(addr); lastErr == nil {
			break
		}
	}
	if lastErr != nil {
		return nil, lastErr
	}
	g.StartDuration = time.Since(start)
	ok = true
	return g, nil
}

// prepare creates the schema, the admin user and its token, once.
func (g *Gitea) prepare() error {
	if g.Token != "" {
		return nil
	}
	if _, err := g.run("migrate"); err != nil {
		return err
	}
	if _, err := g.run("admin", "user", "create", "--admin", "--username", g.Admin,
		"--password", g.Password, "--email", g.Admin+"@example.org", "--must-change-password=false"); err != nil {
		return err
	}
	out, err := g.run("admin", "user", "generate-access-token", "--username", g.Admin,
		"--token-name", "uptick-tests", "--scopes", "all", "--raw")
	if err != nil {
		return err
	}
	tok, ok := accessToken(out)
	if !ok {
		return fmt.Errorf("gitea admin user generate-access-token printed no token:\n%s", out)
	}
	g.Token = tok
	return nil
}

// accessToken finds the token in what `generate-access-token --raw`
// printed. Gitea logs to the same stream (the root warning first, and a
// slow-query warning wherever one happens on a loaded machine), so the
// token is the last field that has its shape, not simply the last line.
func accessToken(out string) (string, bool) {
	fields := strings.Fields(out)
	for i := len(fields) - 1; i >= 0; i-- {
		if f := fields[i]; len(f) == 40 && strings.Trim(f, "0123456789abcdef") == "" {
			return f, true
		}
	}
	return "", false
}

func (g *Gitea) run(args ...string) (string, error) {
	cmd := exec.Command(g.bin, append([]string{"--config", g.conf, "--work-path", g.dir}, args...)...)
	cmd.Env, cmd.Dir = g.env, g.dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("gitea %s: %v\n%s", strings.Join(args[:min(len(args), 3)], " "), err, out)
	}
	return string(out), nil
}

// ours reports whether the server at g.URL accepts g.Token as g.Admin.
func (g *Gitea) ours(hc *http.Client) bool {
	req, err := http.NewRequest(http.MethodGet, g.URL+"/api/v1/user", nil)
	if err != nil {
		return false
	}
	req.Header.Set("Authorization", "token "+g.Token)
	resp, err := hc.Do(req)
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	var u struct {
		Login string `json:"login"`
	}
	return resp.StatusCode == http.StatusOK && json.NewDecoder(resp.Body).Decode(&u) == nil && u.Login == g.Admin
}

// serve starts `gitea web` and waits until it answers as itself.
func (g *Gitea) serve(addr string) error {
	g.log = &SyncBuffer{}
	g.cmd = exec.Command(g.bin, "--config", g.conf, "--work-path", g.dir, "web")
	g.cmd.Env, g.cmd.Dir = g.env, g.dir
	g.cmd.Stdout, g.cmd.Stderr = g.log, g.log
	// The server must not outlive a test binary killed by -timeout.
	g.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	g.cmd.WaitDelay = time.Second
	if err := g.cmd.Start(); err != nil {
		return fmt.Errorf("starting gitea web: %w", err)
	}
	g.exited = make(chan struct{})
	go func(cmd *exec.Cmd, exited chan struct{}) { cmd.Wait(); close(exited) }(g.cmd, g.exited)

	g.URL = "http://" + addr
	hc := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(giteaStartTimeout)
	for {
		select {
		case <-g.exited:
			g.cmd = nil
			return fmt.Errorf("gitea web exited before serving %s:\n%s", addr, tail(g.log.String(), 4000))
		default:
		}
		resp, err := hc.Get(g.URL + "/api/healthz")
		if err == nil {
			resp.Body.Close()
			// The port was free when chosen, but another server (another
			// test package's Gitea) may have taken it since: healthy is
			// not enough, it must be the server that knows our token.
			if resp.StatusCode == http.StatusOK && g.ours(hc) {
				return nil
			}
		}
		if time.Now().After(deadline) {
			g.kill()
			return fmt.Errorf("gitea web did not answer /api/healthz on %s within %v:\n%s", addr, giteaStartTimeout, tail(g.log.String(), 4000))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (g *Gitea) kill() {
	if g.cmd == nil {
		return
	}
	g.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-g.exited:
	case <-time.After(10 * time.Second):
		g.cmd.Process.Kill()
		<-g.exited
	}
	g.cmd = nil
}

// Stop stops the server and removes its directory.
func (g *Gitea) Stop() {
	g.kill()
	os.RemoveAll(g.dir)
}

// Log returns what the server logged so far (for failing tests).
func (g *Gitea) Log() string { return g.log.String() }

func (g *Gitea) writeConfig(addr string) error {
	host, port, _ := net.SplitHostPort(addr)
	u, err := user.Current()
	if err != nil {
		return err
	}
	static := filepath.Dir(g.bin)
	ini := fmt.Sprintf(`APP_NAME = uptick tests
RUN_MODE = prod
RUN_USER = %[1]s
WORK_PATH = %[2]s

[server]
PROTOCOL = http
HTTP_ADDR = %[3]s
HTTP_PORT = %[4]s
DOMAIN = %[3]s
ROOT_URL = http://%[3]s:%[4]s/
OFFLINE_MODE = true
DISABLE_SSH = true
START_SSH_SERVER = false
LFS_START_SERVER = false
STATIC_ROOT_PATH = %[5]s
APP_DATA_PATH = %[2]s/data

[database]
DB_TYPE = sqlite3
PATH = %[2]s/gitea.db
SQLITE_JOURNAL_MODE = WAL

[git]
HOME_PATH = %[2]s/git-home

[repository]
ROOT = %[2]s/repos
DEFAULT_BRANCH = main

[security]
INSTALL_LOCK = true
SECRET_KEY = %[6]s
INTERNAL_TOKEN = %[7]s
PASSWORD_HASH_ALGO = pbkdf2_hi

[oauth2]
ENABLED = false

[service]
DISABLE_REGISTRATION = true
ENABLE_NOTIFY_MAIL = false

[mailer]
ENABLED = false

[indexer]
ISSUE_INDEXER_TYPE = db
REPO_INDEXER_ENABLED = false

[queue]
TYPE = channel

[session]
PROVIDER = memory

[cache]
ADAPTER = memory

[cron]
ENABLED = false

[cron.update_checker]
ENABLED = false

[actions]
ENABLED = false

[packages]
ENABLED = false

[log]
MODE = console
LEVEL = Warn
ROOT_PATH = %[2]s/log
`, u.Username, g.dir, host, port, static, g.secret, g.intTok)
	return os.WriteFile(g.conf, []byte(ini), 0o600)
}

// CreateRepo creates a repository owned by the admin user and pushes
// files (slash paths to contents) as one commit on branch main with the
// git CLI. It returns the repository's clone URL (without credentials).
// Tests sharing a server give each repository its own name.
func (g *Gitea) CreateRepo(t testing.TB, name string, files map[string]string) string {
	t.Helper()
	api := g.API(t)
	repo, _, err := api.CreateRepo(sdk.CreateRepoOption{Name: name, DefaultBranch: "main"})
	if err != nil {
		t.Fatalf("creating repository %q on gitea: %v", name, err)
	}
	work := t.TempDir()
	g.Git(t, work, "init", "-q", "-b", "main")
	for p, content := range files {
		full := filepath.Join(work, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	g.Git(t, work, "add", "-A")
	g.Git(t, work, "commit", "-q", "-m", "seed")
	g.Git(t, work, "push", "-q", g.AuthURL(repo.CloneURL), "main")
	// Gitea records the first push asynchronously: until then the
	// repository is "empty" and its pull request API answers 404.
	deadline := time.Now().Add(30 * time.Second)
	for {
		r, _, err := api.GetRepo(g.Admin, name)
		if err == nil && !r.Empty {
			if _, _, err = api.ListRepoPullRequests(g.Admin, name, sdk.ListPullRequestsOptions{}); err == nil {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("repository %q on gitea still not ready 30s after the first push: %v", name, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return repo.CloneURL
}

// AuthURL returns cloneURL with the admin's credentials, for the git CLI.
func (g *Gitea) AuthURL(cloneURL string) string {
	return strings.Replace(cloneURL, "://", "://"+g.Admin+":"+g.Token+"@", 1)
}

// Git runs the git CLI in dir with the machine's configuration ignored and
// a fixed identity, failing the test on error. It returns the output.
func (g *Gitea) Git(t testing.TB, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(),
		"GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null", "GIT_TERMINAL_PROMPT=0",
		"GIT_AUTHOR_NAME=Test Person", "GIT_AUTHOR_EMAIL=person@example.org",
		"GIT_COMMITTER_NAME=Test Person", "GIT_COMMITTER_EMAIL=person@example.org")
	out, err := cmd.CombinedOutput()
	if err != nil {
		msg := strings.ReplaceAll(string(out), g.Token, "***")
		t.Fatalf("git %s: %v\n%s", args[0], err, msg)
	}
	return string(out)
}

// API returns an SDK client logged in as the admin, for arranging test
// state (creating users, merging pull requests).
func (g *Gitea) API(t testing.TB) *sdk.Client {
	t.Helper()
	return g.APIAs(t, g.Token)
}

// APIAs returns an SDK client authenticated with token (see CreateUser).
func (g *Gitea) APIAs(t testing.TB, token string) *sdk.Client {
	t.Helper()
	c, err := sdk.NewClient(g.URL, sdk.SetToken(token), sdk.SetContext(context.Background()),
		sdk.SetHTTPClient(&http.Client{Timeout: 30 * time.Second}))
	if err != nil {
		t.Fatalf("gitea client: %v", err)
	}
	return c
}

// CreateUser creates a non-admin user and returns an access token of it
// with every scope.
func (g *Gitea) CreateUser(t testing.TB, name string) string {
	t.Helper()
	mustChange := false
	if _, _, err := g.API(t).AdminCreateUser(sdk.CreateUserOption{
		Username: name, Email: name + "@example.org", Password: "uptick-" + randomString(12),
		MustChangePassword: &mustChange,
	}); err != nil {
		t.Fatalf("creating gitea user %q: %v", name, err)
	}
	out, err := g.run("admin", "user", "generate-access-token", "--username", name,
		"--token-name", "uptick-tests", "--scopes", "all", "--raw")
	if err != nil {
		t.Fatal(err)
	}
	tok, ok := accessToken(out)
	if !ok {
		t.Fatalf("gitea admin user generate-access-token printed no token:\n%s", out)
	}
	return tok
}

func freeLoopbackAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

func randomString(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)[:n]
}

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}
