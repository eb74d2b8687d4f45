package flux

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestSecretsConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  SecretsConfig
		want []string
	}{
		{name: "empty is fine", cfg: SecretsConfig{}, want: []string{}},
		{name: "dir and keys", cfg: SecretsConfig{Secrets: []SecretMapping{{Name: "regcred", Dir: "/run/x"}, {Name: "k", Namespace: "apps", Keys: map[string]SecretSource{"git.asc": {File: "a"}, "passphrase": {Env: "P"}}}}}, want: []string{}},
		{name: "everything wrong", cfg: SecretsConfig{DefaultNamespace: "Not_NS", Secrets: []SecretMapping{
			{},
			{Name: "a", Namespace: "ns"}, {Name: "a", Namespace: "ns", Dir: "d"},
			{Name: "b", Keys: map[string]SecretSource{"bad key": {File: "f"}, "both": {File: "f", Env: "E"}, "neither": {}, "env": {Env: "1X"}}},
		}}, want: []string{
			`defaultNamespace: "Not_NS" is not a namespace name`,
			"secrets[0].name: required",
			`secrets[0].namespace: "Not_NS" is not a namespace name`,
			"secrets[0]: set dir, keys, or both",
			"secrets[1]: set dir, keys, or both",
			"secrets[2]: Secret ns/a is already mapped by secrets[1]",
			`secrets[3].namespace: "Not_NS" is not a namespace name`,
			`secrets[3].keys.bad key: "bad key" is not a Secret key`,
			"secrets[3].keys.both: set exactly one of file or env",
			`secrets[3].keys.env.env: "1X" is not an environment variable name`,
			"secrets[3].keys.neither: set exactly one of file or env",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := []string{}
			if err := tt.cfg.Validate(); err != nil {
				for _, e := range unjoin(err) {
					if _, ok := e.(*FieldError); !ok {
						t.Errorf("%v is a %T, not a *FieldError", e, e)
					}
					got = append(got, e.Error())
				}
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Validate (-want +got):\n%s", diff)
			}
		})
	}
}

// TestSecretsDir: a mapped dir resolves keys that exist there, relative to
// uptick-flux.yaml; missing optional keys stay unset; keys win over dir.
func TestSecretsDir(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "s", "certs"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"ca.crt", "tls.crt"} {
		if err := os.WriteFile(filepath.Join(dir, "s", "certs", f), []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	var diags []*Diagnostic
	if err := os.WriteFile(filepath.Join(dir, SecretsFileName), []byte("secrets:\n  - {name: certs, dir: s/certs, keys: {tls.key: {file: /k}}}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, ok := loadSecretsConfig(filepath.Join(dir, SecretsFileName), &diags)
	if !ok {
		t.Fatalf("loadSecretsConfig: %v", diags)
	}
	ref := secretRef{cfg: cfg, namespace: DefaultNamespace, name: "certs"}
	got := map[string]string{}
	for _, k := range []string{"ca.crt", "tls.crt", "tls.key", "caFile"} {
		src, found, err := ref.key(k)
		if err != nil {
			t.Fatal(err)
		}
		if found {
			got[k] = src.String()
		}
	}
	want := map[string]string{
		"ca.crt":  "file " + filepath.Join(dir, "s", "certs", "ca.crt"),
		"tls.crt": "file " + filepath.Join(dir, "s", "certs", "tls.crt"),
		"tls.key": "file /k",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("keys (-want +got):\n%s", diff)
	}
	if _, _, err := (secretRef{cfg: cfg, namespace: "other", name: "certs"}).key("ca.crt"); err == nil || !strings.Contains(err.Error(), "Secret other/certs is not mapped") {
		t.Errorf("unmapped namespace: %v", err)
	}
}
