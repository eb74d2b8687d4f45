package e2e

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	sdk "code.gitea.io/sdk/gitea"

	"github.com/uptick-gitops/uptick/internal/testserver"
)

// giteaServer is the real Gitea the pull request tests share, started on
// first use and stopped by TestMain.
var giteaServer testserver.SharedGitea

const (
	giteaUserEnv  = "UPTICK_E2E_GITEA_USER"
	giteaTokenEnv = "UPTICK_E2E_GITEA_TOKEN"
)

// prRepo is a fleet whose repository lives on the real Gitea, reached
// through a counting proxy (git and API alike), so a test can tell that
// no request was made.
type prRepo struct {
	*fleet
	srv      *testserver.Gitea
	name     string
	url      string // clone URL through the proxy
	direct   string // clone URL without it
	requests atomic.Int64
}

var prRepoSeq atomic.Int64

func newPRRepo(t *testing.T) *prRepo {
	t.Helper()
	srv := giteaServer.Get(t)
	f := newFleet(t, 1)
	r := &prRepo{fleet: f, srv: srv, name: fmt.Sprintf("e2e-%s-%d", strings.ToLower(strings.ReplaceAll(t.Name(), "/", "-")), prRepoSeq.Add(1))}
	direct := srv.CreateRepo(t, r.name, map[string]string{f.file(0): f.manifest(0, "1.0.0"), "README.md": "The e2e fleet.\n"})
	target, err := url.Parse(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	proxy := httputil.NewSingleHostReverseProxy(target)
	ps := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.requests.Add(1)
		proxy.ServeHTTP(w, req)
	}))
	t.Cleanup(ps.Close)
	r.direct, r.url = direct, strings.Replace(direct, srv.URL, ps.URL, 1)
	return r
}

func (r *prRepo) config(file, pr string) string {
	r.t.Helper()
	return r.writeConfig(file, configSpec{
		url:  r.url,
		auth: fmt.Sprintf("{usernameEnv: %s, passwordEnv: %s}", giteaUserEnv, giteaTokenEnv),
		push: "pullRequest: " + pr,
	})
}

func (r *prRepo) env() []string {
	return []string{giteaUserEnv + "=" + r.srv.Admin, giteaTokenEnv + "=" + r.srv.Token}
}

// pulls lists every pull request of the repository, open and closed.
func (r *prRepo) pulls() []*sdk.PullRequest {
	r.t.Helper()
	prs, _, err := r.srv.API(r.t).ListRepoPullRequests(r.srv.Admin, r.name, sdk.ListPullRequestsOptions{State: sdk.StateAll})
	if err != nil {
		r.t.Fatal(err)
	}
	return prs
}

// runPR runs `uptick run -o json` and returns its one pull request entry.
func (r *prRepo) runPR(t *testing.T, cfg string) (result, report) {
	t.Helper()
	res := uptick(t, r.env(), "run", "--config", cfg, "-o", "json")
	if res.code != 0 {
		t.Fatalf("want exit 0:\n%s", res)
	}
	rep := parseReport(t, res)
	if len(rep.PullRequests) != 1 {
		t.Fatalf("%d pull request entries, want 1:\n%s", len(rep.PullRequests), res)
	}
	return res, rep
}

// TestPullRequestRuns drives the real binary against the real Gitea as a
// CronJob would: open, rerun, newer tag; the report gives URL, number and
// action, and the text output says the same.
func TestPullRequestRuns(t *testing.T) {
	r := newPRRepo(t)
	cfg := r.config("pr.yaml", "{provider: gitea, labels: [images]}")
	r.pushTag(0, "1.0.1")

	_, rep := r.runPR(t, cfg)
	pr := rep.PullRequests[0]
	// Gitea builds its links from the Host the request came to: the proxy.
	wantURL := fmt.Sprintf("%s/pulls/%d", strings.TrimSuffix(r.url, ".git"), pr.Number)
	if pr.Action != "opened" || pr.Number == 0 || pr.URL != wantURL || pr.Branch != "uptick/all" || pr.Base != "main" || !pr.Pushed || pr.State != "open" {
		t.Fatalf("first run: %+v, want opened at %s", pr, wantURL)
	}
	if len(pr.Changes) != 1 || !strings.HasSuffix(pr.Changes[0].New, ":1.0.1") {
		t.Errorf("changes = %+v", pr.Changes)
	}
	number := pr.Number

	_, rep = r.runPR(t, cfg)
	if pr := rep.PullRequests[0]; pr.Action != "unchanged" || pr.Number != number || pr.Pushed {
		t.Errorf("rerun: %+v, want #%d unchanged", pr, number)
	}

	r.pushTag(0, "1.0.2")
	res := uptick(t, r.env(), "run", "--config", cfg)
	if res.code != 0 {
		t.Fatalf("newer tag: want exit 0:\n%s", res)
	}
	for _, want := range []string{
		fmt.Sprintf("pull requests:\n  all: #%d updated %s (uptick/all -> main)\n", number, wantURL),
		"pull request: 1 updated\n",
	} {
		if !strings.Contains(res.stdout, want) {
			t.Errorf("text output lacks %q:\n%s", want, res)
		}
	}
	prs := r.pulls()
	if len(prs) != 1 || !strings.Contains(prs[0].Title, "1.0.2") {
		t.Errorf("pull requests on the server: %d, want 1 retitled for 1.0.2", len(prs))
	}
	// The change never reached main: only the pull request proposes it.
	dir := t.TempDir()
	gitCLI(t, dir, "clone", "-q", r.srv.AuthURL(r.direct), ".")
	if got := gitCLI(t, dir, "show", "origin/main:"+r.file(0)); !strings.Contains(got, ":1.0.0 ") {
		t.Errorf("main changed:\n%s", got)
	}
}

// Two real uptick processes at once, each with its own work directory, as
// two CronJobs: one pull request, never a duplicate; then both again with
// a newer tag: the same pull request, updated once.
func TestConcurrentPullRequestRuns(t *testing.T) {
	r := newPRRepo(t)
	cfg := r.config("pr.yaml", "{provider: gitea}")
	for round, tag := range []string{"1.0.1", "1.0.2"} {
		r.pushTag(0, tag)
		var wg sync.WaitGroup
		results := make([]result, 2)
		for i := range results {
			wg.Add(1)
			go func() {
				defer wg.Done()
				results[i] = uptick(t, r.env(), "run", "--config", cfg, "-o", "json", "--workdir", t.TempDir())
			}()
		}
		wg.Wait()
		actions := map[string]int{}
		numbers := map[int64]bool{}
		for _, res := range results {
			if res.code != 0 {
				t.Fatalf("round %d: want exit 0:\n%s", round, res)
			}
			pr := parseReport(t, res).PullRequests[0]
			actions[pr.Action]++
			numbers[pr.Number] = true
		}
		prs := r.pulls()
		t.Logf("round %d (%s): actions %v; %d pull request(s) on the server", round, tag, actions, len(prs))
		if len(prs) != 1 || len(numbers) != 1 {
			t.Fatalf("round %d: %d pull requests on the server, reports name %v; want exactly one", round, len(prs), numbers)
		}
		want := map[string]int{"opened": 1, "unchanged": 1}
		if round > 0 {
			want = map[string]int{"updated": 1, "unchanged": 1}
		}
		if fmt.Sprint(actions) != fmt.Sprint(want) {
			t.Errorf("round %d: actions %v, want %v", round, actions, want)
		}
	}
}

// An unset token variable is bad input found before any request: exit 2,
// naming the variable, and neither Gitea nor the registry saw a request.
func TestPullRequestPreflight(t *testing.T) {
	r := newPRRepo(t)
	r.pushTag(0, "1.0.1")
	for _, tt := range []struct {
		name, pr string
		env      []string
		want     string
	}{
		{"tokenEnv unset", "{provider: gitea, tokenEnv: UPTICK_E2E_FORGE_TOKEN}", r.env(), "UPTICK_E2E_FORGE_TOKEN"},
		{"default token (auth.passwordEnv) unset", "{provider: gitea}", []string{giteaUserEnv + "=" + r.srv.Admin}, giteaTokenEnv},
		{"unknown provider", "{provider: bitbucket}", r.env(), "git.push.pullRequest.provider"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg := r.config(strings.ReplaceAll(tt.name, " ", "-")+".yaml", tt.pr)
			for _, cmd := range []string{"run", "plan"} {
				before, regBefore := r.requests.Load(), r.registryRequests.Load()
				res := uptick(t, tt.env, cmd, "--config", cfg)
				if res.code != 2 || !strings.Contains(res.stderr+res.stdout, tt.want) {
					t.Errorf("%s: want exit 2 naming %s:\n%s", cmd, tt.want, res)
				}
				if n, m := r.requests.Load()-before, r.registryRequests.Load()-regBefore; n != 0 || m != 0 {
					t.Errorf("%s: %d requests reached Gitea and %d the registry before the check", cmd, n, m)
				}
				if strings.Contains(res.stdout+res.stderr, r.srv.Token) {
					t.Errorf("%s: output leaks the token", cmd)
				}
			}
		})
	}
	if n := len(r.pulls()); n != 0 {
		t.Errorf("%d pull requests opened", n)
	}
}
