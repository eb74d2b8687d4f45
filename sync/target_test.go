package sync_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/uptick-gitops/uptick/internal/testserver"
	"github.com/uptick-gitops/uptick/sync"
)

// TestRESTConfig resolves targets from kubeconfig files alone (no request).
func TestRESTConfig(t *testing.T) {
	dir := t.TempDir()
	kc := filepath.Join(dir, "config")
	cfgText := strings.Replace(string(testserver.KubeconfigFor("https://127.0.0.1:6443", []byte("not a real CA"), "tok")),
		"  context: {cluster: uptick-test, user: uptick-test}\n",
		"  context: {cluster: uptick-test, user: uptick-test}\n- name: team\n  context: {cluster: uptick-test, user: uptick-test, namespace: team-a}\n", 1)
	if err := os.WriteFile(kc, []byte(cfgText), 0o600); err != nil {
		t.Fatal(err)
	}
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	tests := []struct {
		name    string
		target  sync.Target
		wantNS  string
		wantErr string
		check   func(t *testing.T, host, user string)
	}{
		{name: "explicit kubeconfig", target: sync.Target{Kubeconfig: kc, Getenv: env(nil)}, wantNS: "default"},
		{name: "KUBECONFIG", target: sync.Target{Getenv: env(map[string]string{"KUBECONFIG": filepath.Join(dir, "missing") + ":" + kc})}, wantNS: "default"},
		{name: "context with a namespace", target: sync.Target{Kubeconfig: kc, Context: "team", Getenv: env(nil)}, wantNS: "team-a"},
		{name: "impersonation", target: sync.Target{Kubeconfig: kc, ServiceAccount: "team-a/deployer", Getenv: env(nil)}, wantNS: "default",
			check: func(t *testing.T, _, user string) {
				if user != "system:serviceaccount:team-a:deployer" {
					t.Errorf("impersonates %q", user)
				}
			}},
		{name: "unknown context", target: sync.Target{Kubeconfig: kc, Context: "nope", Getenv: env(nil)}, wantErr: `context "nope"`},
		{name: "missing file", target: sync.Target{Kubeconfig: filepath.Join(dir, "none"), Getenv: env(nil)}, wantErr: "none"},
		{name: "nothing at all", target: sync.Target{Getenv: env(map[string]string{"HOME": dir})}, wantErr: "no cluster to sync to"},
		{name: "bad service account", target: sync.Target{Kubeconfig: kc, ServiceAccount: "deployer", Getenv: env(nil)}, wantErr: "want NAMESPACE/NAME"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, ns, err := sync.RESTConfig(tt.target)
			if tt.wantErr != "" {
				var te *sync.TargetError
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !errors.As(err, &te) || !te.BadInput() {
					t.Fatalf("error %v, want a bad-input *TargetError containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if ns != tt.wantNS || cfg.Host != "https://127.0.0.1:6443" || cfg.QPS >= 0 || cfg.Timeout != sync.DefaultRequestTimeout {
				t.Errorf("namespace %q, host %q, QPS %v, timeout %v", ns, cfg.Host, cfg.QPS, cfg.Timeout)
			}
			if tt.check != nil {
				tt.check(t, cfg.Host, cfg.Impersonate.UserName)
			}
		})
	}
}
