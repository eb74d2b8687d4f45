package gitops

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func prSpec(pr PullRequestSpec) Spec {
	return Spec{URL: "https://git.example/org/fleet.git", Auth: Auth{PasswordEnv: "GIT_TOKEN"}, Push: PushSpec{PullRequest: &pr}}
}

func TestPullRequestSpecValidate(t *testing.T) {
	for _, tt := range []struct {
		name string
		spec Spec
		want []string // "field: text contained"
	}{
		{"defaults", prSpec(PullRequestSpec{Provider: "gitea"}), nil},
		{"forgejo", prSpec(PullRequestSpec{Provider: "forgejo"}), nil},
		{"no provider", prSpec(PullRequestSpec{}), []string{"push.pullRequest.provider: required"}},
		{"unknown provider", prSpec(PullRequestSpec{Provider: "bitbucket"}), []string{`push.pullRequest.provider: unknown provider "bitbucket"`}},
		{"local repository", Spec{URL: "/srv/fleet.git", Push: PushSpec{PullRequest: &PullRequestSpec{Provider: "gitea"}}}, []string{"push.pullRequest: needs url on a forge"}},
		{"push.branch too", func() Spec {
			s := prSpec(PullRequestSpec{Provider: "github"})
			s.Push.Branch = "env/prod"
			return s
		}(), []string{"push.branch: not used with push.pullRequest"}},
		{"bad group", prSpec(PullRequestSpec{Provider: "gitlab", Group: "per-team"}), []string{`push.pullRequest.group: unknown grouping "per-team"`}},
		{"per-image without the group in the branch", prSpec(PullRequestSpec{Provider: "gitea", Group: "per-image", Branch: "uptick/images"}), []string{"push.pullRequest.branch: \"uptick/images\" names the same branch for every image"}},
		{"branch is the base", prSpec(PullRequestSpec{Provider: "gitea", Branch: "main"}), []string{"push.pullRequest.branch: renders \"main\", the base branch"}},
		{"branch template does not parse", prSpec(PullRequestSpec{Provider: "gitea", Branch: "uptick/{{.Group"}), []string{"push.pullRequest.branch: parsing branch template"}},
		{"title with an unknown field", prSpec(PullRequestSpec{Provider: "gitea", Title: "{{.Nope}}"}), []string{"push.pullRequest.title: executing title template"}},
		{"empty title", prSpec(PullRequestSpec{Provider: "gitea", Title: "{{if false}}x{{end}}"}), []string{"push.pullRequest.title: renders an empty title"}},
		{"body does not parse", prSpec(PullRequestSpec{Provider: "gitea", Body: "{{range}}"}), []string{"push.pullRequest.body: parsing body template"}},
		{"labels and reviewers", prSpec(PullRequestSpec{Provider: "gitea", Labels: []string{"ok", "a,b"}, Reviewers: []string{"", "org/team"}}),
			[]string{`push.pullRequest.labels[1]: invalid label "a,b"`, `push.pullRequest.reviewers[0]: invalid reviewer ""`}},
		{"api URL with credentials", prSpec(PullRequestSpec{Provider: "gitea", APIURL: "https://me:s3cret@git.example"}), []string{"push.pullRequest.apiURL: must not carry credentials"}},
		{"api URL not http", prSpec(PullRequestSpec{Provider: "gitea", APIURL: "ftp://git.example"}), []string{"push.pullRequest.apiURL: "}},
		{"bad base", prSpec(PullRequestSpec{Provider: "gitea", Base: "a..b"}), []string{`push.pullRequest.base: invalid branch name "a..b"`}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			before := *tt.spec.Push.PullRequest
			var got []string
			for _, e := range unjoin(tt.spec.Validate()) {
				got = append(got, e.Error())
			}
			if len(got) != len(tt.want) {
				t.Fatalf("Validate() = %q, want %d problems like %q", got, len(tt.want), tt.want)
			}
			for i, w := range tt.want {
				if !strings.Contains(got[i], w) {
					t.Errorf("problem %d = %q, want it to contain %q", i, got[i], w)
				}
				if strings.Contains(got[i], "s3cret") {
					t.Errorf("problem %q leaks a password", got[i])
				}
			}
			if d := cmp.Diff(before, *tt.spec.Push.PullRequest); d != "" {
				t.Errorf("Validate() changed the spec (-before +after):\n%s", d)
			}
		})
	}
}

func TestPullRequestDefaults(t *testing.T) {
	s := prSpec(PullRequestSpec{Provider: "forgejo"})
	s.Branch = "production"
	s.SetDefaults()
	want := PullRequestSpec{Provider: "gitea", Base: "production", Branch: DefaultPullRequestBranch, Group: GroupAll,
		Title: DefaultPullRequestTitle, Body: DefaultPullRequestBody}
	if d := cmp.Diff(want, *s.Push.PullRequest); d != "" {
		t.Errorf("defaults (-want +got):\n%s", d)
	}
	if s.Push.Branch != "production" {
		t.Errorf("push.branch = %q, want the base", s.Push.Branch)
	}
}

func TestBranchFor(t *testing.T) {
	p := &PullRequestSpec{Branch: DefaultPullRequestBranch}
	for group, want := range map[string]string{
		"all":                 "uptick/all",
		"podinfo":             "uptick/podinfo",
		"flux-system:podinfo": "uptick/flux-system-podinfo",
		"a b~c^d?e*f[g\\h":    "uptick/a-b-c-d-e-f-g-h",
		"../x":                "uptick/--/x",
	} {
		got, err := p.BranchFor(group)
		if err != nil || got != want {
			t.Errorf("BranchFor(%q) = %q, %v; want %q", group, got, err, want)
		}
	}
	if _, err := (&PullRequestSpec{Branch: "{{.Group}}.lock"}).BranchFor("x"); err == nil {
		t.Error("BranchFor accepted a name ending in .lock")
	}
}

func TestPullRequestTokenEnv(t *testing.T) {
	actions := func(name string) string {
		return map[string]string{"GITHUB_ACTIONS": "true", "GITHUB_TOKEN": "t", "FORGE": "f"}[name]
	}
	none := func(string) string { return "" }
	for _, tt := range []struct {
		name     string
		pr       PullRequestSpec
		auth     Auth
		getenv   func(string) string
		wantVar  string
		wantErr  string
		wantNone bool
	}{
		{"tokenEnv", PullRequestSpec{Provider: "gitea", TokenEnv: "FORGE"}, Auth{PasswordEnv: "GIT_TOKEN"}, actions, "FORGE", "", false},
		{"passwordEnv", PullRequestSpec{Provider: "gitea"}, Auth{PasswordEnv: "GIT_TOKEN"}, none, "GIT_TOKEN", "environment variable GIT_TOKEN (the gitea API token) is not set", false},
		{"GITHUB_TOKEN under Actions", PullRequestSpec{Provider: "github"}, Auth{}, actions, "GITHUB_TOKEN", "", false},
		{"not under Actions", PullRequestSpec{Provider: "github"}, Auth{}, none, "", "push.pullRequest.tokenEnv: required", true},
		{"GITHUB_TOKEN is GitHub's only", PullRequestSpec{Provider: "gitlab"}, Auth{}, actions, "", "required", true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.pr.TokenEnvName(tt.auth, tt.getenv); got != tt.wantVar {
				t.Errorf("TokenEnvName() = %q, want %q", got, tt.wantVar)
			}
			err := tt.pr.preflight(tt.auth, tt.getenv)
			if tt.wantErr == "" {
				if err != nil {
					t.Errorf("preflight() = %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !IsBadInput(err) {
				t.Errorf("preflight() = %v, want bad input containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestPreflightChecksThePullRequestToken(t *testing.T) {
	s := prSpec(PullRequestSpec{Provider: "gitea", TokenEnv: "FORGE_TOKEN"})
	env := map[string]string{"GIT_TOKEN": "x"}
	err := s.Preflight(func(n string) string { return env[n] })
	var fe *FieldError
	if !errors.As(err, &fe) || fe.Field != "push.pullRequest.tokenEnv" {
		t.Fatalf("Preflight() = %v, want a push.pullRequest.tokenEnv field error", err)
	}
	env["FORGE_TOKEN"] = "y"
	if err := s.Preflight(func(n string) string { return env[n] }); err != nil {
		t.Errorf("Preflight() with the token set = %v", err)
	}
}

func TestShortVersion(t *testing.T) {
	for in, want := range map[string]string{
		"6.5.1":                              "6.5.1",
		"ghcr.io/stefanprodan/podinfo:6.5.1": "6.5.1",
		"localhost:5000/app:v2":              "v2",
		"localhost:5000/app":                 "",
		"ghcr.io/x/y":                        "",
		"redis:7.2":                          "7.2",
		"ghcr.io/x/y:1.0@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef": "1.0@sha256:0123456789ab",
		"sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef":                 "sha256:0123456789ab",
	} {
		if got := shortVersion(in); got != want {
			t.Errorf("shortVersion(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestRegistryURL(t *testing.T) {
	for in, want := range map[string]string{
		"redis":                            "https://hub.docker.com/_/redis",
		"docker.io/library/redis":          "https://hub.docker.com/_/redis",
		"bitnami/redis":                    "https://hub.docker.com/r/bitnami/redis",
		"ghcr.io/stefanprodan/podinfo":     "https://ghcr.io/stefanprodan/podinfo",
		"quay.io/prometheus/node-exporter": "https://quay.io/repository/prometheus/node-exporter",
		"registry.example:5000/app":        "",
		"localhost/app":                    "",
	} {
		if got := RegistryURL(in); got != want {
			t.Errorf("RegistryURL(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestDefaultPullRequestTexts(t *testing.T) {
	changes := []Change{
		{Image: "podinfo", Repository: "ghcr.io/stefanprodan/podinfo", File: "apps/podinfo.yaml", Object: "Deployment/apps/podinfo", Old: "ghcr.io/stefanprodan/podinfo:6.5.0", New: "ghcr.io/stefanprodan/podinfo:6.5.1"},
		{Image: "podinfo", Repository: "ghcr.io/stefanprodan/podinfo", File: "apps/values.yaml", Old: "6.5.0", New: "6.5.1"},
		{Image: "internal", Repository: "registry.lan/team/app", File: "a|b.yaml", Old: "1", New: "2"},
	}
	data := NewPullRequestData("all", "main", "uptick/all", changes)
	title, err := renderPullRequestText("title", DefaultPullRequestTitle, data)
	if err != nil || title != "chore(images): update 2 images" {
		t.Errorf("title = %q, %v", title, err)
	}
	one := NewPullRequestData("podinfo", "main", "uptick/podinfo", changes[:2])
	if title, err := renderPullRequestText("title", DefaultPullRequestTitle, one); err != nil || title != "chore(images): update podinfo to 6.5.1" {
		t.Errorf("one-image title = %q, %v", title, err)
	}
	body, err := renderPullRequestText("body", DefaultPullRequestBody, data)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"| [podinfo](https://ghcr.io/stefanprodan/podinfo) | `6.5.0` | `6.5.1` | `apps/podinfo.yaml` (Deployment/apps/podinfo) |",
		"| [podinfo](https://ghcr.io/stefanprodan/podinfo) | `6.5.0` | `6.5.1` | `apps/values.yaml` |",
		"| internal | `1` | `2` | `a\\|b.yaml` |",
		"rebuilds the branch `uptick/all` from `main`",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("body lacks %q:\n%s", want, body)
		}
	}
}

func TestNewMarker(t *testing.T) {
	m := newMarker("all", []Change{
		{Image: "podinfo", New: "ghcr.io/x/podinfo:6.5.1"}, {Image: "podinfo", New: "6.5.1"}, {Image: "podinfo", New: "6.5.1"}, {Image: "redis", New: "7.2.4"},
	})
	want := PullRequestMarker{Group: "all", Changes: map[string]string{"podinfo": "6.5.1 ghcr.io/x/podinfo:6.5.1", "redis": "7.2.4"}}
	if d := cmp.Diff(want, m); d != "" {
		t.Errorf("newMarker (-want +got):\n%s", d)
	}
}
