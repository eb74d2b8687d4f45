package update

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"sigs.k8s.io/kustomize/kyaml/yaml"
)

func TestParsePolicyRef(t *testing.T) {
	tests := []struct {
		in      string
		want    PolicyRef
		wantErr bool
	}{
		{in: "podinfo", want: PolicyRef{Name: "podinfo"}},
		{in: "flux-system:podinfo", want: PolicyRef{Namespace: "flux-system", Name: "podinfo"}},
		{in: "", wantErr: true},
		{in: ":podinfo", wantErr: true},
		{in: "ns:", wantErr: true},
		{in: "a:b:c", wantErr: true},
		{in: ":", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParsePolicyRef(tt.in)
			if tt.wantErr {
				if !errors.Is(err, ErrInvalidPolicyRef) {
					t.Fatalf("ParsePolicyRef(%q) error = %v, want ErrInvalidPolicyRef", tt.in, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
			if got.String() != tt.in {
				t.Errorf("String() = %q, want %q", got.String(), tt.in)
			}
		})
	}
}

func TestParseImage(t *testing.T) {
	hex := strings.Repeat("ab", 32)
	tests := []struct {
		in      string
		want    Image
		wantErr bool
	}{
		{in: "ghcr.io/org/app:1.2.3", want: Image{Repository: "ghcr.io/org/app", Tag: "1.2.3"}},
		{in: "localhost:5000/app:1.2.3@sha256:" + hex, want: Image{Repository: "localhost:5000/app", Tag: "1.2.3", Digest: "sha256:" + hex}},
		{in: "nginx:latest", want: Image{Repository: "nginx", Tag: "latest"}},
		{in: "127.0.0.1:5000/a/b/c:v1_x-y.z", want: Image{Repository: "127.0.0.1:5000/a/b/c", Tag: "v1_x-y.z"}},
		{in: "nginx@sha512:" + strings.Repeat("0", 128), wantErr: true}, // no tag
		{in: "nginx:1@sha512:" + strings.Repeat("0", 128), want: Image{Repository: "nginx", Tag: "1", Digest: "sha512:" + strings.Repeat("0", 128)}},
		{in: "localhost:5000/app", wantErr: true}, // port is not a tag
		{in: "app", wantErr: true},                                    // no tag
		{in: "app:", wantErr: true},                                   // empty tag
		{in: ":1.0", wantErr: true},                                   // empty repository
		{in: "app:1.0@sha256:abc", wantErr: true},                     // short digest
		{in: "app:1.0@sha256:" + strings.ToUpper(hex), wantErr: true}, // uppercase hex
		{in: "app:1.0@" + hex, wantErr: true},                         // no algorithm
		{in: "app:-bad", wantErr: true},                               // tag starts with '-'
		{in: "app:" + strings.Repeat("x", 129), wantErr: true},        // tag too long
		{in: "my app:1.0", wantErr: true},                             // space
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseImage(tt.in)
			if tt.wantErr {
				if !errors.Is(err, ErrInvalidImage) {
					t.Fatalf("ParseImage(%q) = %+v, %v; want ErrInvalidImage", tt.in, got, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
			if got.String() != tt.in {
				t.Errorf("String() = %q, want %q", got.String(), tt.in)
			}
		})
	}
}

func TestParseMarkerComment(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    marker
		notMark bool
		wantErr bool
	}{
		{name: "name", in: `# {"$imagepolicy": "podinfo"}`, want: marker{Policy: PolicyRef{Name: "podinfo"}}},
		{name: "ns name", in: `# {"$imagepolicy": "flux-system:podinfo"}`, want: marker{Policy: PolicyRef{Namespace: "flux-system", Name: "podinfo"}}},
		{name: "ns name tag", in: `# {"$imagepolicy": "flux-system:podinfo:tag"}`, want: marker{Policy: PolicyRef{Namespace: "flux-system", Name: "podinfo"}, Field: FieldTag}},
		{name: "ns name name", in: `# {"$imagepolicy": "ns:p:name"}`, want: marker{Policy: PolicyRef{Namespace: "ns", Name: "p"}, Field: FieldName}},
		{name: "ns name digest", in: `# {"$imagepolicy": "ns:p:digest"}`, want: marker{Policy: PolicyRef{Namespace: "ns", Name: "p"}, Field: FieldDigest}},
		{name: "name tag", in: `# {"$imagepolicy": "podinfo:tag"}`, want: marker{Policy: PolicyRef{Name: "podinfo"}, Field: FieldTag}},
		{name: "name digest", in: `# {"$imagepolicy": "podinfo:digest"}`, want: marker{Policy: PolicyRef{Name: "podinfo"}, Field: FieldDigest}},
		{name: "whitespace", in: "#{ \"$imagepolicy\"\t:   \"p\" }  ", want: marker{Policy: PolicyRef{Name: "p"}}},
		{name: "no hash", in: `{"$imagepolicy": "p"}`, want: marker{Policy: PolicyRef{Name: "p"}}},
		{name: "extra key", in: `# {"$imagepolicy": "p", "x": 1}`, want: marker{Policy: PolicyRef{Name: "p"}}},
		{name: "plain comment", in: `# just a comment`, notMark: true},
		{name: "mentions key", in: `# see "$imagepolicy" docs`, notMark: true},
		{name: "trailing text", in: `# {"$imagepolicy": "p"} and more`, wantErr: true},
		{name: "two objects", in: `# {"$imagepolicy": "p"} {"$imagepolicy": "q"}`, wantErr: true},
		{name: "unclosed", in: `# {"$imagepolicy": "p"`, wantErr: true},
		{name: "commented-out line with a marker", in: `# image: app:1 # {"$imagepolicy": "p"}`, notMark: true},
		{name: "other key", in: `# {"$imagepolicyx": "p"}`, notMark: true},
		{name: "bad json", in: `# {"$imagepolicy": p}`, wantErr: true},
		{name: "bad json, other key", in: `# {"x": p, "$imagepolicyx": 1}`, notMark: true},
		{name: "setter", in: `# {"$openapi": "p"}`, notMark: true},
		{name: "not string", in: `# {"$imagepolicy": 1}`, wantErr: true},
		{name: "empty", in: `# {"$imagepolicy": ""}`, wantErr: true},
		{name: "empty part", in: `# {"$imagepolicy": "ns::tag"}`, wantErr: true},
		{name: "bad field", in: `# {"$imagepolicy": "ns:p:version"}`, wantErr: true},
		{name: "too many", in: `# {"$imagepolicy": "a:b:c:d"}`, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseMarkerComment(tt.in)
			switch {
			case tt.notMark:
				if !errors.Is(err, errNotMarker) {
					t.Fatalf("got %+v, %v; want errNotMarker", got, err)
				}
				return
			case tt.wantErr:
				if err == nil || errors.Is(err, errNotMarker) {
					t.Fatalf("got %+v, %v; want a marker error", got, err)
				}
				return
			case err != nil:
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got, cmp.AllowUnexported(marker{})); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestLookup(t *testing.T) {
	a := Image{Repository: "a", Tag: "1"}
	b := Image{Repository: "b", Tag: "2"}
	c := Image{Repository: "c", Tag: "3"}
	images := map[PolicyRef]Image{
		{Namespace: "ns1", Name: "p"}: a,
		{Namespace: "ns2", Name: "p"}: b,
		{Name: "q"}:                   c,
		{Namespace: "ns1", Name: "r"}: a,
	}
	tests := []struct {
		ref     PolicyRef
		wantKey PolicyRef
		want    Image
		wantMsg string
	}{
		{ref: PolicyRef{Namespace: "ns1", Name: "p"}, wantKey: PolicyRef{Namespace: "ns1", Name: "p"}, want: a},
		{ref: PolicyRef{Namespace: "ns2", Name: "p"}, wantKey: PolicyRef{Namespace: "ns2", Name: "p"}, want: b},
		{ref: PolicyRef{Namespace: "ns9", Name: "q"}, wantKey: PolicyRef{Name: "q"}, want: c}, // falls back to the namespace-less key
		{ref: PolicyRef{Name: "q"}, wantKey: PolicyRef{Name: "q"}, want: c},
		{ref: PolicyRef{Name: "r"}, wantKey: PolicyRef{Namespace: "ns1", Name: "r"}, want: a}, // unique name in any namespace
		{ref: PolicyRef{Name: "p"}, wantMsg: `image policy "p" is ambiguous: ns1:p, ns2:p`},
		{ref: PolicyRef{Namespace: "ns9", Name: "p"}, wantMsg: `no image policy "ns9:p"`},
		{ref: PolicyRef{Name: "zz"}, wantMsg: `no image policy "zz"`},
	}
	for _, tt := range tests {
		t.Run(tt.ref.String(), func(t *testing.T) {
			key, got, msg := lookup(images, tt.ref)
			if diff := cmp.Diff(tt.wantMsg, msg); diff != "" {
				t.Errorf("message (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantKey, key); diff != "" {
				t.Errorf("key (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.want, got, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("image (-want +got):\n%s", diff)
			}
		})
	}
}

func TestRender(t *testing.T) {
	const plain, single, double = 0, 1, 2
	tests := []struct {
		v     string
		style int
		flow  bool
		want  string
	}{
		{v: "6.5.3", want: "6.5.3"},
		{v: "ghcr.io/org/app:1.2.3@sha256:ab", want: "ghcr.io/org/app:1.2.3@sha256:ab"},
		{v: "localhost:5000/app", want: "localhost:5000/app"},
		{v: "v1.2.3-rc.1", want: "v1.2.3-rc.1"},
		{v: "1.10", want: `"1.10"`},
		{v: "1", want: `"1"`},
		{v: "1.0", want: `"1.0"`},
		{v: "-1", want: `"-1"`},
		{v: "1e3", want: `"1e3"`},
		{v: "1_000", want: `"1_000"`},
		{v: "0x1F", want: `"0x1F"`},
		{v: "0755", want: `"0755"`},
		{v: "0b101", want: `"0b101"`},
		{v: "1:30", want: `"1:30"`},
		{v: ".inf", want: `".inf"`},
		{v: ".NaN", want: `".NaN"`},
		{v: "true", want: `"true"`},
		{v: "True", want: `"True"`},
		{v: "yes", want: `"yes"`},
		{v: "no", want: `"no"`},
		{v: "on", want: `"on"`},
		{v: "OFF", want: `"OFF"`},
		{v: "y", want: `"y"`},
		{v: "null", want: `"null"`},
		{v: "~", want: `"~"`},
		{v: "<<", want: `"<<"`},
		{v: "2024-01-02", want: `"2024-01-02"`},
		{v: "", want: `""`},
		{v: "a: b", want: `"a: b"`},
		{v: "a #b", want: `"a #b"`},
		{v: "a#b", want: "a#b"},
		{v: "- a", want: `"- a"`},
		{v: "*a", want: `"*a"`},
		{v: "&a", want: `"&a"`},
		{v: "!a", want: `"!a"`},
		{v: "@a", want: `"@a"`},
		{v: "%a", want: `"%a"`},
		{v: "'a", want: `"'a"`},
		{v: "a ", want: `"a "`},
		{v: "---", want: `"---"`},
		{v: "a\nb", want: `"a\nb"`},
		{v: `back\slash"q`, want: `back\slash"q`},
		{v: "a,b", want: "a,b"},
		{v: "a,b", flow: true, want: `"a,b"`},
		{v: "a]b", flow: true, want: `"a]b"`},
		{v: "x", style: single, want: "'x'"},
		{v: "it's", style: single, want: "'it''s'"},
		{v: "1.10", style: single, want: "'1.10'"},
		{v: "a\tb", style: single, want: `"a\tb"`},
		{v: `say "hi" \o/`, style: double, want: `"say \"hi\" \\o/"`},
		{v: "bell\x07", style: double, want: `"bell\u0007"`},
	}
	for _, tt := range tests {
		t.Run(tt.v, func(t *testing.T) {
			st := []yaml.Style{plain: 0, single: yaml.SingleQuotedStyle, double: yaml.DoubleQuotedStyle}[tt.style]
			got := render(tt.v, st, tt.flow, nil)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("render(%q) (-want +got):\n%s", tt.v, diff)
			}
			// Whatever was chosen must read back as the same string.
			if back := readBack(t, "k: "+got); back != tt.v {
				t.Errorf("render(%q) = %s reads back as %q", tt.v, got, back)
			}
		})
	}
}

// readBack parses a one-pair mapping and returns its value, failing unless
// the value resolves to a string.
func readBack(t *testing.T, src string) string {
	t.Helper()
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(src), &doc); err != nil {
		t.Fatalf("parsing %q: %v", src, err)
	}
	if len(doc.Content) != 1 || len(doc.Content[0].Content) != 2 {
		t.Fatalf("parsing %q: not a one-pair mapping", src)
	}
	v := doc.Content[0].Content[1]
	if v.Tag != "!!str" {
		t.Fatalf("parsing %q: value has tag %s", src, v.Tag)
	}
	return v.Value
}

// checkPlainMarker holds plainMarker to the JSON decoder: whatever it
// reads, jsonMarker reads the same.
func checkPlainMarker(t *testing.T, c string) {
	v, ok := plainMarker(c)
	if !ok {
		return
	}
	wantM, wantErr := jsonMarker(c)
	gotM, gotErr := parseMarkerValue(v)
	if gotM != wantM || fmt.Sprint(gotErr) != fmt.Sprint(wantErr) {
		t.Fatalf("%q: plain read %+v, %v; JSON read %+v, %v", c, gotM, gotErr, wantM, wantErr)
	}
}

var markerSeeds = []string{
	`{"$imagepolicy": "ns:name"}`,
	`{"$imagepolicy":"ns:name:tag"}`,
	`{  "$imagepolicy"  :  "a"  }`,
	`{"$imagepolicy": "a\"b"}`,
	`{"$imagepolicy": "a\u0041"}`,
	`{"$imagepolicy": "a"} x`,
	`{"$imagepolicy": "a", "b": 1}`,
	`{"$imagepolicy": ""}`,
	`{"$imagepolicy": "::"}`,
	`{"$imagepolicy": "é"}`,
	"{\"$imagepolicy\":\t\"a\"}",
}

func TestPlainMarker(t *testing.T) {
	accepted := 0
	for _, c := range markerSeeds {
		t.Run(c, func(t *testing.T) { checkPlainMarker(t, c) })
		if _, ok := plainMarker(c); ok {
			accepted++
		}
	}
	if accepted != 5 {
		t.Errorf("plainMarker read %d of the seeds, want 5 (the usual forms, an empty and a malformed value)", accepted)
	}
}

func FuzzPlainMarker(f *testing.F) {
	for _, c := range markerSeeds {
		f.Add(c)
	}
	f.Fuzz(checkPlainMarker)
}

func FuzzHasScreen(f *testing.F) {
	for _, s := range []string{`"$imagepolicy"`, `$imagepolicy"`, `x"$imagepolicy"`, `$imagepolicy""$imagepolicy"`, `""$imagepolicy`, `"$imagepolicy$imagepolicy"`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if got, want := hasScreen(b), bytes.Contains(b, markerScreen); got != want {
			t.Fatalf("hasScreen(%q) = %v, bytes.Contains says %v", b, got, want)
		}
	})
}
