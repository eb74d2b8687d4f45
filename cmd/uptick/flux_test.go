package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// fluxObjects are shaped like the examples of Flux's image automation
// documentation (ImageRepository, ImagePolicy, ImageUpdateAutomation, v1),
// pointed at the test registry, for the demo fleet's demo:podinfo and
// demo:redis markers.
const fluxObjects = `---
apiVersion: image.toolkit.fluxcd.io/v1
kind: ImageRepository
metadata:
  name: podinfo
  namespace: demo
spec:
  image: %[1]s/demo/podinfo
  interval: 5m
  insecure: true
---
apiVersion: image.toolkit.fluxcd.io/v1
kind: ImagePolicy
metadata:
  name: podinfo
  namespace: demo
spec:
  imageRepositoryRef:
    name: podinfo
  policy:
    semver:
      range: 6.x
---
apiVersion: image.toolkit.fluxcd.io/v1
kind: ImageRepository
metadata:
  name: redis
  namespace: demo
spec:
  image: %[1]s/demo/redis
  interval: 5m
  insecure: true
  exclusionList:
    - "-alpine$"
---
apiVersion: image.toolkit.fluxcd.io/v1
kind: ImagePolicy
metadata:
  name: redis
  namespace: demo
spec:
  imageRepositoryRef:
    name: redis
  policy:
    semver:
      range: "~7.2"
---
apiVersion: image.toolkit.fluxcd.io/v1
kind: ImageUpdateAutomation
metadata:
  name: fleet
  namespace: demo
spec:
  interval: 30m
  sourceRef:
    kind: GitRepository
    name: fleet
    namespace: flux-system
  git:
    checkout:
      ref:
        branch: main
    commit:
      author:
        email: fluxcdbot@users.noreply.github.com
        name: fluxcdbot
      messageTemplate: |
        Automated image update by {{ .AutomationObject }}

        {{ range .Changed.Changes -}}
        - {{ .OldValue }} -> {{ .NewValue }}
        {{ end -}}
    push:
      branch: flux-auto
  update:
    path: ./clusters/prod
    strategy: Setters
`

func writeFluxObjects(t *testing.T, f *fleet, objects string) (dir, base string) {
	t.Helper()
	dir = filepath.Join(f.dir, "flux")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "automation.yaml"), []byte(fmt.Sprintf(objects, f.host)), 0o644); err != nil {
		t.Fatal(err)
	}
	base = filepath.Join(f.dir, "base.yaml")
	if err := os.WriteFile(base, []byte(fmt.Sprintf("git: {url: 'file://%s'}\n", f.remote)), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir, base
}

// TestFluxObjectsAsConfig: `uptick run --flux` does what the Flux objects
// declare: their policies for the markers that name them (namespace:name),
// the exclusion list, the automation's author, message template, push
// branch and update path.
func TestFluxObjectsAsConfig(t *testing.T) {
	f := newFleet(t, "")
	dir, base := writeFluxObjects(t, f, fluxObjects)
	ctx := context.Background()

	plan := uptickCmd(ctx, nil, "plan", "--config", base, "--flux", dir)
	if plan.code != 0 || !strings.Contains(plan.stdout, "Automated image update by demo/fleet") {
		t.Fatalf("plan: exit %d:\n%s\n%s", plan.code, plan.stdout, plan.stderr)
	}

	res := uptickCmd(ctx, nil, "run", "--config", base, "--flux", dir)
	if res.code != 0 {
		t.Fatalf("run: exit %d:\n%s\n%s", res.code, res.stdout, res.stderr)
	}
	if got := f.git("log", "-1", "--format=%an <%ae>", "flux-auto"); got != "fluxcdbot <fluxcdbot@users.noreply.github.com>" {
		t.Errorf("author = %q", got)
	}
	wantMsg := fmt.Sprintf("Automated image update by demo/fleet\n\n- %[1]s/demo/podinfo:6.4.0 -> %[1]s/demo/podinfo:6.5.3\n- 7.2.4 -> 7.2.5", f.host)
	if got := f.git("log", "-1", "--format=%B", "flux-auto"); strings.TrimSpace(got) != wantMsg {
		t.Errorf("message:\n%s\nwant:\n%s", got, wantMsg)
	}
	// Only the automation's path changed; main is untouched.
	if got := f.git("diff", "--name-only", "main", "flux-auto"); got != "clusters/prod/podinfo/deployment.yaml\nclusters/prod/redis/values.yaml" {
		t.Errorf("files changed: %q", got)
	}

	t.Run("scan and policy", func(t *testing.T) {
		res := uptickCmd(ctx, nil, "policy", "--config", base, "--flux", dir)
		if res.code != 0 || !strings.Contains(res.stdout, "demo:podinfo") || !strings.Contains(res.stdout, "6.5.3") || !strings.Contains(res.stdout, "7.2.5") {
			t.Errorf("policy: exit %d:\n%s\n%s", res.code, res.stdout, res.stderr)
		}
	})
}

func TestFluxObjectsErrors(t *testing.T) {
	f := newFleet(t, "")
	ctx := context.Background()
	tests := []struct {
		name    string
		objects string
		args    []string
		want    []string
	}{
		{
			name:    "TLS client certificates are not supported",
			objects: strings.Replace(fluxObjects, "  insecure: true\n", "  insecure: true\n  certSecretRef:\n    name: mtls\n", 1),
			want:    []string{"ImageRepository demo/podinfo"},
		},
		{
			name:    "several automations",
			objects: fluxObjects + strings.Replace(fluxObjects[strings.Index(fluxObjects, "---\napiVersion: image.toolkit.fluxcd.io/v1\nkind: ImageUpdateAutomation"):], "name: fleet", "name: other", 1),
			want:    []string{"2 ImageUpdateAutomations (demo/fleet, demo/other): choose one with --automation"},
		},
		{
			name:    "an unknown automation",
			objects: fluxObjects,
			args:    []string{"--automation", "demo/nope"},
			want:    []string{"--automation demo/nope: no such ImageUpdateAutomation among demo/fleet"},
		},
		{
			name:    "an unsupported update strategy",
			objects: strings.Replace(fluxObjects, "strategy: Setters", "strategy: Magic", 1),
			want:    []string{"spec.update.strategy"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir, base := writeFluxObjects(t, f, tc.objects)
			res := uptickCmd(ctx, nil, append([]string{"plan", "--config", base, "--flux", dir}, tc.args...)...)
			if res.code != exitBadInput {
				t.Errorf("exit %d, want %d:\n%s\n%s", res.code, exitBadInput, res.stdout, res.stderr)
			}
			for _, w := range tc.want {
				if !strings.Contains(res.stderr, w) {
					t.Errorf("stderr lacks %q:\n%s", w, res.stderr)
				}
			}
		})
	}
	t.Run("--automation without --flux", func(t *testing.T) {
		res := uptickCmd(ctx, nil, "plan", "--config", f.config, "--automation", "a/b")
		if res.code != exitBadInput || !strings.Contains(res.stderr, "--automation needs --flux") {
			t.Errorf("exit %d:\n%s", res.code, res.stderr)
		}
	})
}

// TestFluxObjectsFromCheckout: with --flux-from-checkout the Flux objects
// are the ones kept in the repository itself, under update.paths.
func TestFluxObjectsFromCheckout(t *testing.T) {
	f := newFleet(t, "")
	work := filepath.Join(f.dir, "work")
	gitEnv := []string{"GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1", "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.org", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.org"}
	run := func(dir string, args ...string) {
		t.Helper()
		cmd := exec.Command("git", args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), gitEnv...)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	run(f.dir, "clone", "-q", f.remote, work)
	if err := os.MkdirAll(filepath.Join(work, "clusters", "flux-system"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(work, "clusters", "flux-system", "images.yaml"), []byte(fmt.Sprintf(fluxObjects, f.host)), 0o644); err != nil {
		t.Fatal(err)
	}
	run(work, "add", ".")
	run(work, "commit", "-q", "-m", "flux image automation objects")
	run(work, "push", "-q", "origin", "HEAD:main")

	base := filepath.Join(f.dir, "base.yaml")
	if err := os.WriteFile(base, []byte(fmt.Sprintf("git: {url: 'file://%s'}\nupdate: {paths: [clusters]}\n", f.remote)), 0o644); err != nil {
		t.Fatal(err)
	}
	res := uptickCmd(context.Background(), nil, "run", "--config", base, "--flux-from-checkout")
	if res.code != 0 {
		t.Fatalf("exit %d:\n%s\n%s", res.code, res.stdout, res.stderr)
	}
	if got := f.git("log", "-1", "--format=%an|%s", "flux-auto"); got != "fluxcdbot|Automated image update by demo/fleet" {
		t.Errorf("flux-auto's commit: %q", got)
	}
	if got := f.git("diff", "--name-only", "main", "flux-auto"); got != "clusters/prod/podinfo/deployment.yaml\nclusters/prod/redis/values.yaml" {
		t.Errorf("files changed: %q", got)
	}
	if res := uptickCmd(context.Background(), nil, "scan", "--config", base, "--flux-from-checkout"); res.code != exitBadInput {
		t.Errorf("scan --flux-from-checkout: exit %d, want %d (no checkout to read from)", res.code, exitBadInput)
	}
}
