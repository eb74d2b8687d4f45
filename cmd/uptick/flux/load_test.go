package flux

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/uptick-gitops/uptick/gitops"
	"github.com/uptick-gitops/uptick/policy"
)

const testdata = "../../../testdata/flux"

func diagStrings(ds []*Diagnostic) []string {
	out := []string{}
	for _, d := range ds {
		out = append(out, d.Error())
	}
	return out
}

func errStrings(err error) []string {
	out := []string{}
	if err == nil {
		return out
	}
	for _, e := range unjoin(err) {
		out = append(out, e.Error())
	}
	return out
}

var ignoreMessage = cmpopts.IgnoreFields(Automation{}, "Message")

func TestLoadDocsV1(t *testing.T) {
	root := filepath.Join(testdata, "docs-v1", "input")
	cfg, err := Load(root)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	src := func(rel string, line int) string { return filepath.Join(root, rel) + ":" + strconv.Itoa(line) }
	sig := []string{`^.*\.sig$`}
	certs := filepath.Join(root, "secrets", "example-mtls-certs")
	want := &Config{
		Images: []Image{
			{
				Name: "default:app1", Source: src("apps/cross-namespace.yaml", 14), Repository: "docker.io/org/image", RepositoryObject: "apps/app1",
				Policy: policy.Spec{SemVer: &policy.SemVerSpec{Range: "1.0.x"}}, Exclude: sig, Digest: DigestNever,
				Registry: Registry{Provider: "generic"},
			},
			{
				Name: "default:build", Source: src("apps/images.yaml", 71), Repository: "example.com/app", RepositoryObject: "default/example-mtls",
				Policy:     policy.Spec{Numerical: &policy.OrderSpec{Order: "asc"}},
				FilterTags: &policy.FilterSpec{Pattern: `^main-[a-fA-F0-9]+-(?P<ts>.*)`, Extract: "$ts"},
				Exclude:    sig, Digest: DigestAlways, PinDigest: true,
				Registry: Registry{Provider: "generic",
					CA:   &SecretSource{File: filepath.Join(certs, "ca.crt")},
					Cert: &SecretSource{File: filepath.Join(certs, "tls.crt")},
					Key:  &SecretSource{File: filepath.Join(certs, "tls.key")}},
			},
			{
				Name: "default:minio", Source: src("apps/images.yaml", 28), Repository: "quay.io/minio/minio", RepositoryObject: "default/minio",
				Policy:     policy.Spec{Alphabetical: &policy.OrderSpec{Order: "asc"}},
				FilterTags: &policy.FilterSpec{Pattern: `^RELEASE\.(?P<timestamp>.*)Z$`, Extract: "$timestamp"},
				Exclude:    []string{`^.*\.sig$`, "1.0.2", "1.1.1|1.0.0"}, Digest: DigestNever,
				Registry: Registry{Provider: "generic", DockerConfig: &SecretSource{File: "/run/secrets/regcred/config.json"}},
			},
			{
				Name: "default:podinfo-policy", Source: src("clusters/my-cluster/podinfo-automation.yaml", 23), Repository: "ghcr.io/stefanprodan/podinfo", RepositoryObject: "default/podinfo",
				Policy: policy.Spec{SemVer: &policy.SemVerSpec{Range: "5.0.x"}}, Exclude: sig, Digest: DigestIfNotPresent, PinDigest: true,
				Registry: Registry{Provider: "generic"},
			},
			{
				Name: "default:podinfo-rc", Source: src("apps/images.yaml", 43), Repository: "ghcr.io/stefanprodan/podinfo", RepositoryObject: "default/podinfo",
				Policy: policy.Spec{SemVer: &policy.SemVerSpec{Range: "^1.x-0"}}, FilterTags: &policy.FilterSpec{Pattern: ".*-rc.*"},
				Exclude: sig, Digest: DigestNever, Registry: Registry{Provider: "generic"},
			},
		},
		Automations: []Automation{{
			Name: "default/podinfo-update", Source: src("clusters/my-cluster/podinfo-automation.yaml", 36), SourceRef: "GitRepository/default/podinfo",
			Git: gitops.Spec{
				Branch: "main",
				Commit: gitops.CommitSpec{
					Author:     gitops.Signature{Name: "fluxcdbot", Email: "fluxcdbot@users.noreply.github.com"},
					SigningKey: &gitops.SigningKey{File: "/run/secrets/signing/git.asc", PassphraseEnv: "FLUX_SIGNING_PASSPHRASE"},
				},
				Push: gitops.PushSpec{Branch: "auto"},
			},
			Paths:  []string{"clusters/my-cluster"},
			Images: []string{"default:app1", "default:build", "default:minio", "default:podinfo-policy", "default:podinfo-rc"},
		}},
	}
	if diff := cmp.Diff(want, cfg, ignoreMessage); diff != "" {
		t.Errorf("Load (-want +got):\n%s", diff)
	}
	msg, err := cfg.Automations[0].Message.Render([]Change{{
		File: "clusters/my-cluster/podinfo.yaml", APIVersion: "apps/v1", Kind: "Deployment", Namespace: "default", Name: "podinfo",
		Setter: "default:podinfo-policy", OldValue: "ghcr.io/stefanprodan/podinfo:5.0.0", NewValue: "ghcr.io/stefanprodan/podinfo:5.0.3",
	}})
	if err != nil {
		t.Fatal(err)
	}
	wantMsg := `Automated image update

Automation name: default/podinfo-update

Files:
- clusters/my-cluster/podinfo.yaml
Objects:
- deployment podinfo
  Changes:
    - ghcr.io/stefanprodan/podinfo:5.0.0 -> ghcr.io/stefanprodan/podinfo:5.0.3
Cluster: prod
`
	if diff := cmp.Diff(wantMsg, msg); diff != "" {
		t.Errorf("message (-want +got):\n%s", diff)
	}
}

func TestLoadDocsV1beta2(t *testing.T) {
	root := filepath.Join(testdata, "docs-v1beta2", "input")
	cfg, err := Load(root)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	file := filepath.Join(root, "image-automation.yaml")
	reg := Registry{Provider: "aws", Insecure: true}
	want := &Config{
		Images: []Image{
			{Name: "flux-system:podinfo", Source: file + ":17", Repository: "ghcr.io/stefanprodan/podinfo", RepositoryObject: "flux-system/podinfo",
				Policy: policy.Spec{SemVer: &policy.SemVerSpec{Range: "5.0.x"}}, Exclude: []string{`^.*\.sig$`}, Digest: DigestNever, Registry: reg},
			{Name: "flux-system:podinfo-canary", Source: file + ":29", Repository: "ghcr.io/stefanprodan/podinfo", RepositoryObject: "flux-system/podinfo",
				Policy: policy.Spec{Numerical: &policy.OrderSpec{Order: "desc"}}, Exclude: []string{`^.*\.sig$`}, Digest: DigestNever, Suspended: true, Registry: reg},
		},
		Automations: []Automation{{
			Name: "flux-system/flux-system", Source: file + ":43", SourceRef: "GitRepository/flux-system/flux-system",
			Git:    gitops.Spec{Commit: gitops.CommitSpec{Author: gitops.Signature{Email: "fluxcdbot@users.noreply.github.com"}}},
			Paths:  []string{"clusters/my-cluster"},
			Images: []string{"flux-system:podinfo"},
		}},
		Warnings: cfg.Warnings,
	}
	if diff := cmp.Diff(want, cfg, ignoreMessage); diff != "" {
		t.Errorf("Load (-want +got):\n%s", diff)
	}
	wantWarnings := []string{
		file + ":14: warning: ImageRepository flux-system/podinfo: spec.serviceAccountName: not used: uptick authenticates to aws with the identity of the job that runs it, not service account \"image-reflector\"",
		file + ":38: warning: ImagePolicy flux-system/podinfo-canary: spec.suspend: suspended: its markers are not updated",
		file + ":61: warning: ImageUpdateAutomation flux-system/flux-system: spec.git.commit.messageTemplate: uses .Updated, which Flux 2.7 removed; uptick still renders it",
		file + ":59: warning: ImageUpdateAutomation flux-system/flux-system: spec.git.commit.author.name: empty: commits are authored as \"uptick\"",
	}
	if diff := cmp.Diff(wantWarnings, diagStrings(cfg.Warnings)); diff != "" {
		t.Errorf("warnings (-want +got):\n%s", diff)
	}
	msg, err := cfg.Automations[0].Message.Render([]Change{
		{File: "a.yaml", Kind: "Deployment", Name: "a", Setter: "flux-system:podinfo", NewValue: "ghcr.io/stefanprodan/podinfo:5.0.3", Image: "ghcr.io/stefanprodan/podinfo:5.0.3"},
	})
	if err != nil || msg != "ghcr.io/stefanprodan/podinfo:5.0.3\n" {
		t.Errorf("message = %q, %v", msg, err)
	}
}

// loadString loads objects (and, when secrets is not empty, an
// uptick-flux.yaml) from a temporary directory.
func loadString(t *testing.T, objects, secrets string) (*Config, error, string) {
	t.Helper()
	dir := t.TempDir()
	file := filepath.Join(dir, "objects.yaml")
	if err := os.WriteFile(file, []byte(objects), 0o644); err != nil {
		t.Fatal(err)
	}
	if secrets != "" {
		if err := os.WriteFile(filepath.Join(dir, SecretsFileName), []byte(secrets), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cfg, err := Load(dir)
	return cfg, err, file
}

const (
	repoV1 = "apiVersion: image.toolkit.fluxcd.io/v1\nkind: ImageRepository\nmetadata: {name: app, namespace: apps}\nspec:\n  image: ghcr.io/org/app\n  interval: 1h\n"
	polV1  = "---\napiVersion: image.toolkit.fluxcd.io/v1\nkind: ImagePolicy\nmetadata: {name: app, namespace: apps}\nspec:\n  imageRepositoryRef: {name: app}\n  policy: {semver: {range: '^1'}}\n"
	autoV1 = "---\napiVersion: image.toolkit.fluxcd.io/v1\nkind: ImageUpdateAutomation\nmetadata: {name: auto, namespace: apps}\nspec:\n  interval: 5m\n  sourceRef: {kind: GitRepository, name: fleet}\n  git:\n    commit:\n      author: {name: bot, email: bot@example.org}\n"
)

// TestLoadDiagnostics: every problem names file, line, object and field,
// and leaves only the broken object out.
func TestLoadDiagnostics(t *testing.T) {
	tests := []struct {
		name, objects, secrets string
		wantErrs, wantWarns    []string // without the "FILE:" prefix
		wantImages             []string
		wantAutos              []string
	}{
		{
			name:       "push refspec and options are not supported",
			objects:    repoV1 + polV1 + autoV1 + "    push:\n      branch: auto\n      refspec: refs/heads/auto:refs/for/main\n      options: {topic: x}\n",
			wantErrs:   []string{"26: ImageUpdateAutomation apps/auto: spec.git.push.refspec: not supported: uptick pushes to push.branch only", "27: ImageUpdateAutomation apps/auto: spec.git.push.options: not supported: uptick sends no push options"},
			wantImages: []string{"apps:app"}, wantAutos: []string{},
		},
		{
			name:       "unknown fields",
			objects:    repoV1 + "  exclusionLst: ['x']\n" + polV1 + "  filterTag: {pattern: x}\n",
			wantErrs:   []string{"7: ImageRepository apps/app: spec.exclusionLst: unknown field", "15: ImagePolicy apps/app: spec.filterTag: unknown field"},
			wantImages: []string{}, wantAutos: []string{},
		},
		{
			name:       "proxy secret and generic service account",
			objects:    repoV1 + "  proxySecretRef: {name: proxy}\n  serviceAccountName: sa\n" + polV1,
			wantErrs:   []string{"7: ImageRepository apps/app: spec.proxySecretRef: not supported: uptick uses the proxy in its environment (HTTPS_PROXY, NO_PROXY); remove the field and set those", "8: ImageRepository apps/app: spec.serviceAccountName: not supported with the generic provider: uptick cannot read a service account's image pull secrets; reference the pull secret with spec.secretRef instead", "14: ImagePolicy apps/app: spec.imageRepositoryRef: ImageRepository apps/app is not among the objects read (or has errors)"},
			wantImages: []string{}, wantAutos: []string{},
		},
		{
			name:       "secret not mapped",
			objects:    repoV1 + "  secretRef: {name: regcred}\n" + polV1,
			wantErrs:   []string{"7: ImageRepository apps/app: spec.secretRef: Secret apps/regcred is not mapped: add it to uptick-flux.yaml under secrets (name: regcred, namespace: apps) with a dir or keys", "13: ImagePolicy apps/app: spec.imageRepositoryRef: ImageRepository apps/app is not among the objects read (or has errors)"},
			wantImages: []string{}, wantAutos: []string{},
		},
		{
			name:       "secret mapped from env where a file is needed",
			objects:    repoV1 + "  secretRef: {name: regcred}\n" + polV1,
			secrets:    "secrets:\n  - name: regcred\n    namespace: apps\n    keys:\n      .dockerconfigjson: {env: DOCKER_CONFIG_JSON}\n",
			wantErrs:   []string{"7: ImageRepository apps/app: spec.secretRef: key .dockerconfigjson of Secret apps/regcred must be a file (the scan reads a docker config.json), not env DOCKER_CONFIG_JSON", "13: ImagePolicy apps/app: spec.imageRepositoryRef: ImageRepository apps/app is not among the objects read (or has errors)"},
			wantImages: []string{}, wantAutos: []string{},
		},
		{
			name:       "bad policy and filter",
			objects:    repoV1 + polV1 + "  filterTags: {pattern: '^v(\\d+)$', extract: '$2'}\n---\napiVersion: image.toolkit.fluxcd.io/v1\nkind: ImagePolicy\nmetadata: {name: b, namespace: apps}\nspec:\n  imageRepositoryRef: {name: app}\n  policy: {semver: {range: '>=x.y'}}\n",
			wantErrs:   []string{"14: ImagePolicy apps/app: spec.filterTags.extract: \"$2\" refers to group \"2\", which the pattern does not define", "21: ImagePolicy apps/b: spec.policy.semver.range: invalid semver range \">=x.y\": improper constraint: \">=x.y\""},
			wantImages: []string{}, wantAutos: []string{},
		},
		{
			name:       "several strategies: Flux's precedence",
			objects:    repoV1 + "---\napiVersion: image.toolkit.fluxcd.io/v1\nkind: ImagePolicy\nmetadata: {name: app, namespace: apps}\nspec:\n  imageRepositoryRef: {name: app}\n  policy:\n    numerical: {order: desc}\n    semver: {range: '^1'}\n",
			wantWarns:  []string{"14: warning: ImagePolicy apps/app: spec.policy: sets semver, numerical; Flux uses semver and ignores the rest, and so does uptick"},
			wantImages: []string{"apps:app"}, wantAutos: []string{},
		},
		{
			name:       "digest interval rules",
			objects:    repoV1 + polV1 + "  digestReflectionPolicy: Always\n---\napiVersion: image.toolkit.fluxcd.io/v1\nkind: ImagePolicy\nmetadata: {name: b, namespace: apps}\nspec:\n  imageRepositoryRef: {name: app}\n  interval: 5m\n  policy: {alphabetical: {}}\n",
			wantErrs:   []string{"14: ImagePolicy apps/app: spec.interval: spec.interval must be set when spec.digestReflectionPolicy is set to 'Always'", "21: ImagePolicy apps/b: spec.interval: spec.interval is only accepted when spec.digestReflectionPolicy is set to 'Always'"},
			wantImages: []string{}, wantAutos: []string{},
		},
		{
			name:       "cross-namespace without accessFrom is denied, as in Flux",
			objects:    repoV1 + "---\napiVersion: image.toolkit.fluxcd.io/v1\nkind: ImagePolicy\nmetadata: {name: app, namespace: other}\nspec:\n  imageRepositoryRef: {name: app, namespace: apps}\n  policy: {semver: {range: '^1'}}\n",
			wantErrs:   []string{"12: ImagePolicy other/app: spec.imageRepositoryRef: ImageRepository apps/app is in another namespace and has no spec.accessFrom, so Flux denies access"},
			wantImages: []string{}, wantAutos: []string{},
		},
		{
			name:       "checkout tag, ssh signing, other strategy, escaping path",
			objects:    repoV1 + polV1 + autoV1 + "      signingKey: {type: ssh, secretRef: {name: k}}\n    checkout: {ref: {tag: v1}}\n  update: {strategy: Other, path: ../../etc}\n",
			wantErrs:   []string{"26: ImageUpdateAutomation apps/auto: spec.update.strategy: \"Other\" is not supported; only Setters", "26: ImageUpdateAutomation apps/auto: spec.update.path: \"../../etc\" must be a relative slash path inside the repository", "25: ImageUpdateAutomation apps/auto: spec.git.checkout.ref.tag: not supported: uptick checks out a branch it can push to; use ref.branch", "24: ImageUpdateAutomation apps/auto: spec.git.commit.signingKey.type: \"ssh\" is not supported: uptick signs with OpenPGP (gpg) keys only"},
			wantImages: []string{"apps:app"}, wantAutos: []string{},
		},
		{
			name:       "bad template and invalid branch",
			objects:    repoV1 + polV1 + autoV1 + "      messageTemplate: '{{ .Nope }}'\n---\napiVersion: image.toolkit.fluxcd.io/v1\nkind: ImageUpdateAutomation\nmetadata: {name: b, namespace: apps}\nspec:\n  sourceRef: {name: fleet}\n  git:\n    commit: {author: {email: a@b}}\n    push: {branch: 'a..b'}\n",
			wantErrs:   []string{"24: ImageUpdateAutomation apps/auto: spec.git.commit.messageTemplate: rendering: template: commit message:1:3: executing \"commit message\" at <.Nope>: can't evaluate field Nope in type flux.TemplateData", "33: ImageUpdateAutomation apps/b: spec.git.push.branch: invalid branch name \"a..b\""},
			wantWarns:  []string{"32: warning: ImageUpdateAutomation apps/b: spec.git.commit.author.name: empty: commits are authored as \"uptick\""},
			wantImages: []string{"apps:app"}, wantAutos: []string{},
		},
		{
			name:       "old apiVersion, other groups and kinds",
			objects:    "apiVersion: image.toolkit.fluxcd.io/v1beta1\nkind: ImagePolicy\nmetadata: {name: a}\nspec: {}\n---\napiVersion: example.com/v1\nkind: ImagePolicy\nmetadata: {name: a}\n---\napiVersion: image.toolkit.fluxcd.io/v1\nkind: ImageCatalog\nmetadata: {name: c}\n",
			wantErrs:   []string{"1: ImagePolicy: apiVersion: image.toolkit.fluxcd.io/v1beta1 is not supported: uptick reads v1 and v1beta2 (upgrade the object to image.toolkit.fluxcd.io/v1)"},
			wantWarns:  []string{"10: warning: ImageCatalog: kind: image.toolkit.fluxcd.io/v1 ImageCatalog is not an object uptick reads; ignored"},
			wantImages: []string{}, wantAutos: []string{},
		},
		{
			name:       "type errors and duplicates",
			objects:    repoV1 + "  insecure: 'yes'\n  image: again\n" + polV1 + polV1,
			wantErrs:   []string{"8: ImageRepository apps/app: spec.image: defined twice", "7: ImageRepository apps/app: spec.insecure: must be true or false, not the str \"yes\"", "14: ImagePolicy apps/app: spec.imageRepositoryRef: ImageRepository apps/app is not among the objects read (or has errors)", "17: ImagePolicy apps/app: metadata.name: ImagePolicy apps/app is also defined at FILE:10"},
			wantImages: []string{}, wantAutos: []string{},
		},
		{
			name:       "YAML syntax error keeps the documents before it",
			objects:    repoV1 + polV1 + "---\nkind: [\n",
			wantErrs:   []string{"15: not valid YAML: did not find expected node content"},
			wantImages: []string{"apps:app"}, wantAutos: []string{},
		},
		{
			name:       "bad uptick-flux.yaml",
			objects:    repoV1,
			secrets:    "secrets:\n  - name: Bad_Name\n    keys: {k: {file: a, env: B}}\n  - {name: x, dir: d, bogus: 1}\n",
			wantErrs:   []string{"SECRETS:4: secrets[1].bogus: unknown field", "SECRETS:2: secrets[0].name: \"Bad_Name\" is not a Secret name", "SECRETS:3: secrets[0].keys.k: set exactly one of file or env"},
			wantImages: []string{}, wantAutos: []string{},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err, file := loadString(t, tt.objects, tt.secrets)
			prefix := func(ss []string) []string {
				out := []string{}
				for _, s := range ss {
					s = strings.ReplaceAll(s, "FILE", file)
					if rest, ok := strings.CutPrefix(s, "SECRETS:"); ok {
						out = append(out, filepath.Join(filepath.Dir(file), SecretsFileName)+":"+rest)
						continue
					}
					out = append(out, file+":"+s)
				}
				return out
			}
			if diff := cmp.Diff(prefix(tt.wantErrs), errStrings(err)); diff != "" {
				t.Errorf("errors (-want +got):\n%s", diff)
			}
			var d *Diagnostic
			if err != nil && (!errors.As(err, &d) || !d.BadInput()) {
				t.Errorf("error %v carries no bad-input *Diagnostic", err)
			}
			if diff := cmp.Diff(prefix(tt.wantWarns), diagStrings(cfg.Warnings)); diff != "" {
				t.Errorf("warnings (-want +got):\n%s", diff)
			}
			var images, autos []string
			for _, im := range cfg.Images {
				images = append(images, im.Name)
			}
			for _, a := range cfg.Automations {
				autos = append(autos, a.Name)
			}
			if diff := cmp.Diff(tt.wantImages, images, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("images (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantAutos, autos, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("automations (-want +got):\n%s", diff)
			}
		})
	}
}

// TestLoadFileAndRoot: a single file reads uptick-flux.yaml beside it; a
// directory never reads through a symlink that leaves it.
func TestLoadFileAndRoot(t *testing.T) {
	outside := t.TempDir()
	secret := filepath.Join(outside, "stolen.yaml")
	if err := os.WriteFile(secret, []byte(repoV1), 0o600); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	file := filepath.Join(dir, "objects.yaml")
	if err := os.WriteFile(file, []byte(repoV1+polV1), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, SecretsFileName), []byte("defaultNamespace: apps\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(secret, filepath.Join(dir, "link.yaml")); err != nil {
		t.Fatal(err)
	}
	cfg, err := Load(file)
	if err != nil || len(cfg.Images) != 1 || cfg.Images[0].Source != file+":8" {
		t.Fatalf("Load(file) = %+v, %v", cfg, err)
	}
	cfg, err = Load(dir)
	if err == nil || !strings.Contains(err.Error(), filepath.Join(dir, "link.yaml")+": reading: ") {
		t.Fatalf("Load(dir) error = %v; want the escaping symlink reported", err)
	}
	if len(cfg.Images) != 1 {
		t.Errorf("images = %+v; want the healthy one", cfg.Images)
	}
	if _, err := Load(filepath.Join(dir, "missing")); err == nil {
		t.Error("Load of a missing path: no error")
	}
	if _, err := Load(dir, WithSecretsFile(filepath.Join(outside, "none.yaml"))); err == nil {
		t.Error("the symlink is still there: want an error")
	}
}
