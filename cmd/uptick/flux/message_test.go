package flux

import (
	"encoding/json"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestMessageMatchesFlux renders each template over the same changes Flux's
// own template data types rendered in testdata/flux/flux-messages.json (see
// its comment), and expects one of Flux's messages: the same one where
// Flux's is fixed, one of them where Flux's order comes from Go maps.
func TestMessageMatchesFlux(t *testing.T) {
	data, err := os.ReadFile("../../../testdata/flux/flux-messages.json")
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Cases []struct {
			Name     string
			Template string
			Values   map[string]string
			Changes  []Change
			Flux     []string
			Error    string
		}
	}
	if err := json.Unmarshal(data, &f); err != nil {
		t.Fatal(err)
	}
	if len(f.Cases) < 30 {
		t.Fatalf("only %d cases; the file is truncated", len(f.Cases))
	}
	for _, c := range f.Cases {
		t.Run(c.Name, func(t *testing.T) {
			m, err := NewMessageTemplate("flux-system", "podinfo-update", c.Template, c.Values)
			if err != nil {
				t.Fatal(err)
			}
			got, err := m.Render(c.Changes)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Contains(c.Flux, got) {
				t.Errorf("message differs from Flux's (-flux +uptick):\n%s", cmp.Diff(c.Flux[0], got))
			}
			usesOld := strings.Contains(c.Template, ".Updated") || strings.Contains(c.Template, ".ImageResult")
			if got := len(m.RemovedFields()) > 0; got != usesOld {
				t.Errorf("RemovedFields = %q, template uses removed fields: %v", m.RemovedFields(), usesOld)
			}
		})
	}
}

func TestMessageTemplateErrors(t *testing.T) {
	tests := []struct{ name, tmpl, want string }{
		{"parse", "{{ range }", `parsing: template: commit message:1: unexpected "}" in range`},
		{"unknown field", "{{ .Nope }}", `rendering: template: commit message:1:3: executing "commit message" at <.Nope>: can't evaluate field Nope`},
		{"unknown function", "{{ now }}", `parsing: template: commit message:1: function "now" not defined`},
		{"empty output", "{{ if false }}x{{ end }}", "rendering: the message is empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewMessageTemplate("ns", "auto", tt.tmpl, nil)
			if err == nil || !strings.HasPrefix(err.Error(), tt.want) {
				t.Fatalf("error = %v, want prefix %q", err, tt.want)
			}
		})
	}
}
