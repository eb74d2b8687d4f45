package config

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/uptick-gitops/uptick/update"
)

const validConfig = `
git:
  url: https://example.org/fleet.git
  branch: main
  auth: {usernameEnv: GIT_USER, passwordEnv: GIT_TOKEN}
  commit:
    author: {name: uptick, email: uptick@example.org}
    signingKey: {file: /keys/uptick.asc, passphraseEnv: GPG_PASSPHRASE}
    messageTemplate: "chore: update images\n\n{{range .Changes}}- {{.Old}} -> {{.New}} ({{.File}})\n{{end}}"
  push:
    branch: env/prod
images:
  - name: podinfo
    repository: ghcr.io/stefanprodan/podinfo
    policy: {semver: {range: "^6.x"}}
    exclude: ['^.*\.sig$']
    auth: {dockerConfig: /home/me/.docker/config.json}
  - name: flux-system:app
    repository: registry.example:5000/team/app
    policy: {numerical: {order: asc}}
    filterTags: {pattern: '^main-[a-f0-9]+-(?P<ts>[0-9]+)$', extract: '$ts'}
    pinDigest: true
update:
  paths: [clusters/prod]
schedule: "*/5 * * * *"
`

func TestParseConfigValid(t *testing.T) {
	cfg, err := Parse("uptick.yaml", []byte(validConfig))
	if err != nil {
		t.Fatalf("parseConfig: %v", err)
	}
	var refs []update.PolicyRef
	for _, img := range cfg.Images {
		refs = append(refs, img.Ref)
	}
	if diff := cmp.Diff([]update.PolicyRef{{Name: "podinfo"}, {Namespace: "flux-system", Name: "app"}}, refs); diff != "" {
		t.Errorf("refs (-want +got):\n%s", diff)
	}
	if got := cfg.Images[1].Selector.Policer().String(); got != "numerical asc" {
		t.Errorf("images[1] policy = %q", got)
	}
	if !cfg.Images[1].PinDigest || cfg.Images[0].Auth.DockerConfig != "/home/me/.docker/config.json" {
		t.Errorf("images not resolved: %+v", cfg.Images)
	}
	if cfg.Git.Push.Branch != "env/prod" || cfg.Git.Commit.SigningKey.PassphraseEnv != "GPG_PASSPHRASE" {
		t.Errorf("git spec not decoded: %+v", cfg.Git)
	}
	choice, err := cfg.Images[0].Selector.Select([]string{"6.1.0", "6.5.0", "7.0.0", "6.9.9.sig"})
	if err != nil || choice.Tag != "6.5.0" {
		t.Errorf("selector 0 chose %v, %v", choice, err)
	}
}

func TestParseConfigSync(t *testing.T) {
	const base = "git: {url: file:///tmp/x.git}\nimages: [{name: a, repository: r.example/a, policy: {semver: {range: '*'}}}]\n"
	cfg, err := Parse("c.yaml", []byte(base))
	if err != nil || cfg.Sync != nil {
		t.Fatalf("no sync section: %v, %+v", err, cfg.Sync)
	}
	cfg, err = Parse("c.yaml", []byte(base+"sync: {path: clusters/prod}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Sync.Inventory != "default/uptick-inventory" || !cfg.Sync.PruneEnabled() || cfg.Sync.Wait != 0 || cfg.Sync.Force {
		t.Errorf("defaults: %+v", cfg.Sync)
	}
	cfg, err = Parse("c.yaml", []byte(base+`sync:
  path: clusters/prod
  inventory: flux-system/uptick-inventory
  prune: false
  wait: 2m
  force: true
  kubeconfig: /etc/kube/config
  context: prod
  serviceAccount: team-a/deployer
`))
	if err != nil {
		t.Fatal(err)
	}
	s := cfg.Sync
	got := []string{s.Path, s.Inventory, fmt.Sprint(s.PruneEnabled()), s.Wait.String(), fmt.Sprint(s.Force), s.Kubeconfig, s.Context, s.ServiceAccount}
	want := []string{"clusters/prod", "flux-system/uptick-inventory", "false", "2m0s", "true", "/etc/kube/config", "prod", "team-a/deployer"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("sync section (-want +got):\n%s", diff)
	}
}

func TestParseConfigDefaults(t *testing.T) {
	cfg, err := Parse("c.yaml", []byte("git: {url: file:///tmp/x.git}\nimages: [{name: a, repository: r.example/a, policy: {semver: {range: '*'}}}]\n"))
	if err != nil {
		t.Fatal(err)
	}
	got := []string{cfg.Git.Branch, cfg.Git.Push.Branch, strings.Join(cfg.Update.Paths, ",")}
	if diff := cmp.Diff([]string{"main", "main", "."}, got); diff != "" {
		t.Errorf("defaults (-want +got):\n%s", diff)
	}
}

func TestParseConfigErrors(t *testing.T) {
	const git = "git: {url: file:///tmp/fleet.git}\n"
	const img = "images: [{name: a, repository: r.example/a, policy: {semver: {range: '*'}}}]\n"
	tests := []struct {
		name string
		yaml string
		want []string // every one must appear in the error, in this order
	}{
		{"unknown top-level field", git + img + "updates: {}\n", []string{"c.yaml: updates: unknown field (line 3)"}},
		{"unknown nested field", git + "images:\n  - name: a\n    repository: r.example/a\n    policy: {semver: {rnage: '^1'}}\n", []string{"c.yaml: images[0] (a).policy.semver.rnage: unknown field (line 5)"}},
		{"unknown git field", "git: {url: x, brnch: main}\n" + img, []string{"git.brnch: unknown field (line 1)"}},
		{"several unknown fields at once", git + img + "a: 1\nb: 2\n", []string{"a: unknown field (line 3)", "b: unknown field (line 4)"}},
		{"missing repository", git + "images: [{name: a, policy: {semver: {range: '*'}}}]\n", []string{"images[0] (a).repository: required (line 2)"}},
		{"repository with tag", git + "images: [{name: a, repository: 'r.example:5000/a:1.0', policy: {semver: {range: '*'}}}]\n", []string{`images[0] (a).repository: invalid image reference: "r.example:5000/a:1.0" must be a repository without tag or digest`}},
		{"invalid repository", git + "images: [{name: a, repository: 'Not/A/Repo', policy: {semver: {range: '*'}}}]\n", []string{`images[0] (a).repository: invalid image reference: repository "Not/A/Repo"`}},
		{"bad range", git + "images:\n- name: payments-api\n  repository: r.example/a\n  policy:\n    semver:\n      range: '>= one'\n", []string{`c.yaml: images[0] (payments-api).policy.semver.range: invalid semver range ">= one"`, "(line 7)"}},
		{"no policy", git + "images: [{name: a, repository: r.example/a}]\n", []string{"images[0] (a).policy: one of semver, alphabetical or numerical is required"}},
		{"bad exclude", git + "images: [{name: a, repository: r.example/a, policy: {semver: {range: '*'}}, exclude: ['(']}]\n", []string{`images[0] (a).exclude[0]: invalid regular expression "("`}},
		{"bad filter", git + "images: [{name: a, repository: r.example/a, policy: {alphabetical: {}}, filterTags: {pattern: 'x', extract: '$y'}}]\n", []string{"images[0] (a).filterTags.extract:"}},
		{"duplicate names", git + "images:\n  - {name: a, repository: r.example/a, policy: {semver: {range: '*'}}}\n  - {name: a, repository: r.example/b, policy: {semver: {range: '*'}}}\n", []string{`images[1] (a).name: "a" is already used by images[0] (line 4)`}},
		{"missing name", git + "images: [{repository: r.example/a, policy: {semver: {range: '*'}}}]\n", []string{"images[0].name: required"}},
		{"no images", git, []string{"images: at least one image is required"}},
		{"missing git url", img, []string{"git.url: required"}},
		{"sync without a path", git + img + "sync: {prune: false}\n", []string{"sync.path: required (line 3)"}},
		{"sync path escapes", git + img + "sync:\n  path: ../x\n", []string{`sync.path: "../x" must be a relative path inside the repository (line 4)`}},
		{"sync inventory", git + img + "sync:\n  path: x\n  inventory: just-a-name\n", []string{`sync.inventory: "just-a-name": want NAMESPACE/NAME (line 5)`}},
		{"sync bad wait", git + img + "sync: {path: x, wait: soon}\n", []string{`sync.wait: want a duration such as 30s or 2m, got "soon" (line 3)`}},
		{"sync service account", git + img + "sync: {path: x, serviceAccount: 'Team/Bot'}\n", []string{`sync.serviceAccount: "Team/Bot": namespace "Team" is not a valid name`}},
		{"sync unknown field", git + img + "sync: {path: x, purne: true}\n", []string{"sync.purne: unknown field (line 3)"}},
		{"pull requests from a local repository", "git: {url: x, push: {pullRequest: {provider: github}}}\n" + img, []string{"git.push.pullRequest: needs url on a forge"}},
		{"pull request provider", "git: {url: 'https://git.example/o/r', push: {pullRequest: {provider: bitbucket}}}\n" + img, []string{`git.push.pullRequest.provider: unknown provider "bitbucket" (want gitea, forgejo, github or gitlab) (line 1)`}},
		{"per-image branches collide", "git: {url: 'https://git.example/o/r', push: {pullRequest: {provider: gitea, group: per-image}}}\nimages:\n  - {name: 'a:x', repository: r.example/a, policy: {semver: {range: '*'}}}\n  - {name: 'a-x', repository: r.example/b, policy: {semver: {range: '*'}}}\n",
			[]string{`git.push.pullRequest.branch: images a:x and a-x both get branch "uptick/a-x"`}},
		{"bad schedule", git + img + "schedule: every minute\n", []string{`schedule: invalid cron schedule "every minute"`}},
		{"path escapes", git + img + "update: {paths: [../other]}\n", []string{`update.paths[0]: "../other" must be a relative path inside the repository (line 3)`}},
		{"absolute path", git + img + "update: {paths: [/etc]}\n", []string{`update.paths[0]: "/etc" must be a relative path`}},
		{"list where a mapping belongs", git + "images: {name: a}\n", []string{"c.yaml: images: want a list, got a mapping (line 2)"}},
		{"mapping where a string belongs", git + "images: [{name: {x: 1}, repository: r.example/a, policy: {semver: {range: '*'}}}]\n", []string{"images[0].name: want a string, got a mapping (line 2)"}},
		{"string where a bool belongs", git + "images: [{name: a, repository: r.example/a, policy: {semver: {range: '*'}}, pinDigest: sure}]\n", []string{`images[0] (a).pinDigest: want true or false, got "sure" (line 2)`}},
		{"string where a number belongs", git + img + "scan: {concurrency: lots}\n", []string{`scan.concurrency: want a number, got "lots" (line 3)`}},
		{"unknown provider", git + "images: [{name: a, repository: r.example/a, policy: {semver: {range: '*'}}, auth: {provider: oracle}}]\n", []string{`images[0] (a).auth.provider: unknown provider "oracle" (want one of aws, google, azure) (line 2)`}},
		{"username without password", git + "images: [{name: a, repository: r.example/a, policy: {semver: {range: '*'}}, auth: {usernameEnv: U}}]\n", []string{"images[0] (a).auth.passwordEnv: required with usernameEnv"}},
		{"two credential sources", git + "images: [{name: a, repository: r.example/a, policy: {semver: {range: '*'}}, auth: {provider: aws, dockerConfig: /c.json}}]\n", []string{"images[0] (a).auth: give one of dockerConfig, usernameEnv/passwordEnv or provider"}},
		{"registry tuned twice", git + img + "scan: {registries: [{host: r.example, rps: 1}, {host: r.example, rps: 2}]}\n", []string{`scan.registries[1].host: "r.example" is already tuned by scan.registries[0]`}},
		{"negative rps", git + img + "scan: {registries: [{host: r.example, rps: -1}]}\n", []string{"scan.registries[0].rps: must be a positive number of requests per second, got -1"}},
		{"negative limit", git + img + "scan: {limits: {pageBytes: -5}}\n", []string{"scan.limits.pageBytes: must not be negative, got -5"}},
		{"negative update file size", git + img + "update: {maxFileSize: -1}\n", []string{"update.maxFileSize: must be between 0 (the default, 8 MiB) and 268435456 bytes (256 MiB), got -1"}},
		{"update file size too large", git + img + "update: {maxFileSize: 268435457}\n", []string{"update.maxFileSize: must be between 0 (the default, 8 MiB) and 268435456 bytes (256 MiB), got 268435457"}},
		{"negative scan timeout", git + img + "scan: {timeout: -1s}\n", []string{"scan.timeout: must not be negative, got -1s (line 3)"}},
		{"number where a duration belongs", git + img + "scan: {requestTimeout: 30}\n", []string{`scan.requestTimeout: want a duration such as 30s or 2m, got "30" (line 3)`}},
		{"malformed yaml", "git: [\n", []string{"c.yaml: not valid YAML: "}},
		{"empty", "", []string{"c.yaml: empty config"}},
		{"only a comment", "# nothing\n", []string{"c.yaml: empty config"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("c.yaml", []byte(tt.yaml))
			if err == nil {
				t.Fatal("Parse succeeded, want an error")
			}
			msg := err.Error()
			for _, w := range tt.want {
				i := strings.Index(msg, w)
				if i < 0 {
					t.Fatalf("error %q\ndoes not contain %q", err, w)
				}
				msg = msg[i+len(w):]
			}
			for _, bad := range []string{"map[", "!!", "[]config.", "main."} {
				if strings.Contains(err.Error(), bad) {
					t.Errorf("error %q shows Go or YAML internals (%q)", err, bad)
				}
			}
			var ce *Error
			if !errors.As(err, &ce) || !ce.BadInput() {
				t.Errorf("error is %T, want a *config.Error (bad input)", err)
			}
		})
	}
}

func TestLoadMissingFile(t *testing.T) {
	file := filepath.Join(t.TempDir(), "missing.yaml")
	_, err := Load(file)
	var ce *Error
	if !errors.As(err, &ce) || !ce.BadInput() {
		t.Fatalf("error %v is %T, want a bad-input *config.Error", err, err)
	}
	if want := file + ": cannot read the config file: no such file or directory"; err.Error() != want {
		t.Errorf("error = %q, want %q", err, want)
	}
}

func FuzzParseConfig(f *testing.F) {
	f.Add(validConfig)
	f.Add("git: {url: x}\nimages: [{name: a, repository: r.example/a, policy: {semver: {range: '*'}}}]\n")
	f.Add("git: &g {url: x}\nimages: [{name: 'ns:a', repository: r/a, policy: {numerical: {}}, filterTags: {pattern: '(\\d+)', extract: '$1'}}]\nsync: *g\n")
	f.Fuzz(func(t *testing.T, data string) {
		cfg, err := Parse("fuzz.yaml", []byte(data))
		if err != nil {
			if !strings.HasPrefix(err.Error(), "fuzz.yaml: ") {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		if len(cfg.Images) == 0 {
			t.Fatal("accepted a config without images")
		}
		for i, img := range cfg.Images {
			if img.Selector == nil || img.Ref.Name == "" || img.Repository == "" {
				t.Fatalf("image %d accepted without a policy, name or repository: %+v", i, img)
			}
		}
	})
}

func TestParseConfigAliases(t *testing.T) {
	// Unknown fields behind an alias are still found, and a deeply aliased
	// document is rejected quickly rather than walked exponentially.
	_, err := Parse("c.yaml", []byte("x: &p {semver: {range: '*'}, bogus: 1}\ngit: {url: file:///x}\nimages: [{name: a, repository: r.example/a, policy: *p}]\n"))
	if err == nil || !strings.Contains(err.Error(), "x: unknown field") || !strings.Contains(err.Error(), "images[0] (a).policy.bogus: unknown field") {
		t.Errorf("error = %v", err)
	}
	var b strings.Builder
	b.WriteString("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n")
	for i := 1; i < 12; i++ {
		fmt.Fprintf(&b, "a%d: &a%d [*a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d]\n", i, i, i-1, i-1, i-1, i-1, i-1, i-1, i-1, i-1, i-1, i-1)
	}
	b.WriteString("images: *a11\n")
	if _, err := Parse("c.yaml", []byte(b.String())); err == nil {
		t.Error("billion-laughs config accepted")
	}
}

func TestPreflightSyncTarget(t *testing.T) {
	dir := t.TempDir()
	const base = "git: {url: file:///tmp/x.git}\nimages: [{name: a, repository: r.example/a, policy: {semver: {range: '*'}}}]\n"
	for _, tt := range []struct {
		name, sync, want string
		line             int
	}{
		{"missing kubeconfig", "sync:\n  path: x\n  kubeconfig: " + filepath.Join(dir, "nope") + "\n", "c.yaml: sync.kubeconfig: kubeconfig " + filepath.Join(dir, "nope") + ": no such file", 5},
		{"no cluster at all", "sync: {path: x}\n", "c.yaml: sync.kubeconfig: no cluster to sync to", 3},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := Parse("c.yaml", []byte(base+tt.sync))
			if err != nil {
				t.Fatal(err)
			}
			err = cfg.Preflight(func(k string) string {
				if k == "HOME" {
					return dir
				}
				return ""
			})
			var ce *Error
			if err == nil || !strings.Contains(err.Error(), tt.want) || !errors.As(err, &ce) || !strings.Contains(err.Error(), fmt.Sprintf("(line %d)", tt.line)) {
				t.Fatalf("Preflight: %v, want a config error containing %q at line %d", err, tt.want, tt.line)
			}
		})
	}
}
