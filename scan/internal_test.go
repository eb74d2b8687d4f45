package scan

import (
	"bytes"
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

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

func TestScrub(t *testing.T) {
	const pass = "hunter2-Passw0rd"
	basic := "Basic " + b64("robot:"+pass)
	var s secretSet
	s.add(pass, basic)
	tests := []struct{ in, want string }{
		{"plain " + pass + " text", "plain [redacted] text"},
		{"header Authorization: " + basic, "header Authorization: [redacted]"},
		{`{"Authorization":["Bearer abcdefghijklmnop"]}`, `{"Authorization":["[redacted]"]}`},
		{"token eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJyb2JvdCJ9.c2lnbmF0dXJl here", "token [redacted] here"},
		{"query " + url.QueryEscape(pass+"&x"), "query [redacted]%26x"},
		{"b64 " + b64("xx"+pass+"yy"), "b64 "},
		{"line\nbreak\x1b[31m red", "line break [31m red"},
		{"sha256:" + strings.Repeat("ab", 32), "sha256:" + strings.Repeat("ab", 32)},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got := s.scrub(tc.in, 1000)
			if !strings.HasPrefix(got, tc.want) {
				t.Errorf("scrub(%q) = %q, want it to start with %q", tc.in, got, tc.want)
			}
			for _, secret := range []string{pass, basic, b64("robot:" + pass)} {
				if strings.Contains(got, secret) {
					t.Errorf("scrub(%q) = %q keeps a secret", tc.in, got)
				}
			}
		})
	}
	if got := s.scrub("prefix "+pass+" and more", 14); strings.Contains(got, pass[:4]) {
		t.Errorf("a cut inside a secret keeps its start: %q", got)
	}
	// A body read only in part may end inside a secret.
	if got := s.trimPartial("prefix " + pass[:9]); got != "prefix " {
		t.Errorf("trimPartial kept the start of a secret: %q", got)
	}
}

// FuzzScrub: whatever surrounds a secret, in whatever of the encodings a
// registry may echo it, no 8-byte piece of it survives.
func FuzzScrub(f *testing.F) {
	f.Add("robot", "S3cret-Passw0rd", "before ", " after", 0)
	f.Add("u", "pässwörd-long", `{"Authorization":["`, `"]}`, 3)
	f.Fuzz(func(t *testing.T, user, pass, before, after string, enc int) {
		if len(pass) < 8 || strings.ContainsAny(pass, " \t\r\n") || !utf8.ValidString(pass) {
			return
		}
		var s secretSet
		s.add(pass, "Basic "+b64(user+":"+pass))
		forms := []string{pass, b64(pass), b64("x" + pass), b64("xy" + pass), url.QueryEscape(pass), jsonEscaped(pass)}
		form := forms[(enc%len(forms)+len(forms))%len(forms)]
		got := s.scrub(before+form+after, 100000)
		if strings.Contains(got, pass) {
			t.Errorf("scrub kept the secret %q: %q", pass, got)
		}
	})
}

func TestNextLink(t *testing.T) {
	base, _ := url.Parse("https://r.example/v2/app/tags/list?n=10")
	tests := []struct {
		in   []string
		want string
	}{
		{nil, ""},
		{[]string{`</v2/app/tags/list?n=10&last=b>; rel="next"`}, "https://r.example/v2/app/tags/list?n=10&last=b"},
		{[]string{`<https://r.example/p?x=1>; rel=next`}, "https://r.example/p?x=1"},
		{[]string{`</prev>; rel="prev", </next>; rel="next"`}, "https://r.example/next"},
		{[]string{`</a>; title="x, y"; rel="alternate next"`}, "https://r.example/a"},
		{[]string{`</a>; rel="prev"`}, ""},
		{[]string{`garbage`, `</b>; rel="next"`}, "https://r.example/b"},
	}
	for _, tc := range tests {
		got, _ := nextLink(tc.in, base)
		s := ""
		if got != nil {
			s = got.String()
		}
		if s != tc.want {
			t.Errorf("nextLink(%q) = %q, want %q", tc.in, s, tc.want)
		}
	}
}

func FuzzNextLink(f *testing.F) {
	f.Add(`</v2/app/tags/list?n=10&last=b>; rel="next"`)
	f.Add(`</a>; title="x, \"y\""; rel="alternate next", <b>`)
	base, _ := url.Parse("https://r.example/v2/app/tags/list")
	f.Fuzz(func(t *testing.T, v string) {
		_, _ = nextLink([]string{v}, base)
	})
}

func TestParseChallenges(t *testing.T) {
	got := parseChallenges([]string{`Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull"`, `Basic realm="x", Negotiate`})
	want := []challenge{
		{Scheme: "bearer", Params: map[string]string{"realm": "https://auth.example/token", "service": "registry.example", "scope": "repository:a/b:pull"}},
		{Scheme: "basic", Params: map[string]string{"realm": "x"}},
		{Scheme: "negotiate", Params: map[string]string{}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("challenges (-want +got):\n%s", diff)
	}
}

func FuzzParseChallenges(f *testing.F) {
	f.Add(`Bearer realm="https://auth.example/token",service="r",scope="repository:a:pull"`)
	f.Add(`Basic realm="a\"b", Negotiate abc==`)
	f.Fuzz(func(t *testing.T, v string) {
		for _, c := range parseChallenges([]string{v}) {
			if c.Scheme == "" {
				t.Errorf("a challenge without a scheme from %q", v)
			}
		}
	})
}

func TestValidTag(t *testing.T) {
	for tag, want := range map[string]bool{
		"1.2.3": true, "v1": true, "_x": true, "a-b.c_d": true, strings.Repeat("a", 128): true,
		"": false, ".x": false, "-x": false, "a b": false, "a\n": false, "ä": false, strings.Repeat("a", 129): false, "a/b": false, "a:b": false,
	} {
		if got := ValidTag(tag); got != want {
			t.Errorf("ValidTag(%q) = %v, want %v", tag, got, want)
		}
	}
}

// FuzzDecodePage: any body either fails or yields only valid tags, never
// more than the limits allow.
func FuzzDecodePage(f *testing.F) {
	f.Add([]byte(`{"name":"a","tags":["v1","v2"]}`))
	f.Add([]byte(`{"tags":["v1",{"x":[1,2]},null,"\u001b[31m"],"manifest":{"a":{"b":[]}}}`))
	f.Add([]byte(`{"tags":null}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		var pg page
		err := decodePage(bytes.NewReader(body), &pg, 1<<16, 1000, 1000)
		if err != nil {
			return
		}
		if len(pg.tags) > 1000 {
			t.Errorf("%d tags kept, limit 1000", len(pg.tags))
		}
		for _, tag := range pg.tags {
			if !ValidTag(tag) {
				t.Errorf("invalid tag %q kept", tag)
			}
		}
	})
}
