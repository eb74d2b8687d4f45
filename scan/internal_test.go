package scan

import (
	"encoding/base64"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Duration
	}{
		{"", 0},
		{"0", 0},
		{"-3", 0},
		{"2", 2 * time.Second},
		{"3600", time.Hour},
		{"99999999999999999999", 0},
		{"999999999999", maxRetryAfterParsed},
		{"soon", 0},
		{now.Add(10 * time.Second).Format(http.TimeFormat), 10 * time.Second},
		{now.Add(time.Hour).Format(http.TimeFormat), time.Hour},
		{now.Add(-time.Hour).Format(http.TimeFormat), 0},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, retryAfter(tc.in, now)); diff != "" {
				t.Errorf("retryAfter(%q) (-want +got):\n%s", tc.in, diff)
			}
		})
	}
}

func FuzzRetryAfter(f *testing.F) {
	for _, s := range []string{"", "1", "-1", "120", "Wed, 21 Oct 2015 07:28:00 GMT", "1e3"} {
		f.Add(s)
	}
	now := time.Now()
	f.Fuzz(func(t *testing.T, s string) {
		if d := retryAfter(s, now); d < 0 || d > maxRetryAfterParsed {
			t.Errorf("retryAfter(%q) = %s, outside [0, %s]", s, d, maxRetryAfterParsed)
		}
	})
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

func TestParseDockerConfig(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    dockerConfig
		wantErr string
	}{
		{name: "empty object", in: `{}`},
		{
			name: "auths and helpers",
			in:   `{"auths":{"r.example":{"auth":"` + b64("u:p:with:colons") + `"},"https://index.docker.io/v1/":{"identitytoken":"tok"}},"credsStore":"desktop","credHelpers":{"gcr.io":"gcloud"}}`,
			want: dockerConfig{
				Auths: map[string]dockerAuth{
					"r.example":                   {Auth: b64("u:p:with:colons")},
					"https://index.docker.io/v1/": {IdentityToken: "tok"},
				},
				CredsStore:  "desktop",
				CredHelpers: map[string]string{"gcr.io": "gcloud"},
			},
		},
		{name: "truncated", in: `{"auths":{`, wantErr: "invalid JSON"},
		{name: "wrong type", in: `{"auths":[]}`, wantErr: "invalid docker config structure"},
		{name: "auth not base64", in: `{"auths":{"r":{"auth":"***"}}}`, wantErr: `auths["r"].auth: not valid base64`},
		{name: "auth without colon", in: `{"auths":{"r":{"auth":"` + b64("userpass") + `"}}}`, wantErr: "not of the form user:password"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseDockerConfig([]byte(tc.in))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("config (-want +got):\n%s", diff)
			}
		})
	}
}

func FuzzParseDockerConfig(f *testing.F) {
	f.Add([]byte(`{"auths":{"r.example":{"auth":"`+b64("user:secretpw")+`"}}}`), "secretpw")
	f.Add([]byte(`{"auths":{"r":{"username":"u","password":"secretpw"}}}`), "secretpw")
	f.Add([]byte(`{"auths":`), "x")
	f.Fuzz(func(t *testing.T, data []byte, secret string) {
		_, err := parseDockerConfig(data)
		// An error must never echo a credential from the file.
		if err != nil && len(secret) >= 6 && strings.Contains(string(data), secret) && strings.Contains(err.Error(), secret) {
			t.Errorf("error %q echoes %q from the input", err, secret)
		}
	})
}

func TestNormalizeAuthKey(t *testing.T) {
	tests := map[string]string{
		"registry.example":             "registry.example",
		"registry.example:5000":        "registry.example:5000",
		"https://registry.example/v2/": "registry.example",
		"http://127.0.0.1:5000":        "127.0.0.1:5000",
		"https://index.docker.io/v1/":  "index.docker.io",
		"docker.io":                    "index.docker.io",
		"registry-1.docker.io":         "index.docker.io",
		"ghcr.io/org/repo":             "ghcr.io",
	}
	for in, want := range tests {
		t.Run(in, func(t *testing.T) {
			if diff := cmp.Diff(want, normalizeAuthKey(in)); diff != "" {
				t.Errorf("normalizeAuthKey(%q) (-want +got):\n%s", in, diff)
			}
		})
	}
}

func TestStatusErrorKinds(t *testing.T) {
	tests := []struct {
		name string
		err  *StatusError
		want error
	}{
		{"401", &StatusError{StatusCode: 401}, ErrUnauthorized},
		{"403", &StatusError{StatusCode: 403}, ErrUnauthorized},
		{"404", &StatusError{StatusCode: 404}, ErrNotFound},
		{"DENIED in a 400", &StatusError{StatusCode: 400, Codes: []string{"DENIED"}}, ErrUnauthorized},
		{"NAME_UNKNOWN in a 400", &StatusError{StatusCode: 400, Codes: []string{"NAME_UNKNOWN"}}, ErrNotFound},
		{"500", &StatusError{StatusCode: 500}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, s := range []error{ErrUnauthorized, ErrNotFound} {
				if errors.Is(tc.err, s) != (s == tc.want) {
					t.Errorf("errors.Is(%v, %v) = %v", tc.err, s, !(s == tc.want))
				}
			}
		})
	}
}
