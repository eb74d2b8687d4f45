package gitops

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestRenderMessage(t *testing.T) {
	one := []Change{{Image: "podinfo", File: "clusters/prod/podinfo.yaml", Object: "Deployment/apps/podinfo", Old: "6.5.0", New: "6.5.1"}}
	many := []Change{
		{Image: "redis", File: "clusters/prod/redis.yaml", Old: "7.2.0", New: "7.2.4"},
		{Image: "podinfo", File: "clusters/prod/podinfo.yaml", Object: "Deployment/apps/podinfo", Old: "6.5.0", New: "6.5.1"},
		{Image: "podinfo", File: "clusters/staging/podinfo.yaml", Old: "6.5.0", New: "6.5.1"},
	}
	tests := []struct {
		name    string
		tmpl    string
		changes []Change
		want    string
		wantErr string
	}{
		{
			name:    "default template, one image",
			changes: one,
			want: "chore(images): update podinfo\n\n" +
				"- podinfo: 6.5.0 -> 6.5.1 in clusters/prod/podinfo.yaml (Deployment/apps/podinfo)\n",
		},
		{
			name:    "default template, several images",
			tmpl:    DefaultMessageTemplate,
			changes: many,
			want: "chore(images): update 2 images\n\n" +
				"- redis: 7.2.0 -> 7.2.4 in clusters/prod/redis.yaml\n" +
				"- podinfo: 6.5.0 -> 6.5.1 in clusters/prod/podinfo.yaml (Deployment/apps/podinfo)\n" +
				"- podinfo: 6.5.0 -> 6.5.1 in clusters/staging/podinfo.yaml\n",
		},
		{
			name:    "custom template with sorted images and files",
			tmpl:    "bump {{join .Images \", \"}}\n\nfiles:\n{{range .Files}}  {{.}}\n{{end}}\n\n",
			changes: many,
			want:    "bump podinfo, redis\n\nfiles:\n  clusters/prod/podinfo.yaml\n  clusters/prod/redis.yaml\n  clusters/staging/podinfo.yaml\n",
		},
		{
			name:    "parse error",
			tmpl:    "update {{.Images",
			changes: one,
			wantErr: "parsing commit message template",
		},
		{
			name:    "unknown field",
			tmpl:    "update {{.Nope}}",
			changes: one,
			wantErr: "executing commit message template",
		},
		{
			name:    "empty result",
			tmpl:    "{{range .Changes}} {{end}}\n",
			changes: one,
			wantErr: "rendered an empty message",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := RenderMessage(tt.tmpl, tt.changes)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("RenderMessage() error = %v, want it to contain %q", err, tt.wantErr)
				}
				if !IsBadInput(err) {
					t.Errorf("RenderMessage() error %q is not bad input", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("RenderMessage() error = %v", err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("RenderMessage() mismatch (-want +got):\n%s", diff)
			}
		})
	}
	if _, err := RenderMessage("{{range .Changes}}{{end}}", nil); !errors.Is(err, ErrEmptyMessage) {
		t.Errorf("empty message error = %v, want ErrEmptyMessage", err)
	}
}

func TestNewMessageData(t *testing.T) {
	got := NewMessageData([]Change{
		{Image: "b", File: "y.yaml"}, {Image: "a", File: "y.yaml"}, {Image: "b", File: "x.yaml"},
	})
	want := MessageData{
		Changes: got.Changes,
		Images:  []string{"a", "b"},
		Files:   []string{"x.yaml", "y.yaml"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("NewMessageData() mismatch (-want +got):\n%s", diff)
	}
}

func BenchmarkRenderMessage(b *testing.B) {
	changes := make([]Change, 50)
	for i := range changes {
		changes[i] = Change{Image: "img" + string(rune('a'+i%26)), File: "apps/f.yaml", Old: "1.0.0", New: "1.0.1"}
	}
	for b.Loop() {
		if _, err := RenderMessage("", changes); err != nil {
			b.Fatal(err)
		}
	}
}
