package policy

import (
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/google/go-cmp/cmp"
)

func TestSelectFrom(t *testing.T) {
	semver := Spec{SemVer: &SemVerSpec{Range: "^1"}}
	tests := []struct {
		name    string
		input   io.Reader
		spec    Spec
		filter  *FilterSpec
		exclude []string
		want    Choice
		wantErr string
	}{
		{name: "one tag per line", input: strings.NewReader("1.0.0\n1.2.0\n2.0.0\n"), spec: semver, want: Choice{Tag: "1.2.0", Value: "1.2.0"}},
		{name: "CRLF, blanks, padding, no final newline", input: strings.NewReader("\r\n 1.0.0 \r\n\r\n\t1.3.0\r\n\n1.1.0"), spec: semver, want: Choice{Tag: "1.3.0", Value: "1.3.0"}},
		{name: "filter and exclude", input: strings.NewReader("b-1\nb-3\nb-2\nb-3.sig\n"), spec: Spec{Numerical: &OrderSpec{}},
			filter: &FilterSpec{Pattern: `^b-(\d+)`, Extract: "$1"}, exclude: []string{`^b-3$`}, want: Choice{Tag: "b-3.sig", Value: "3"}},
		{name: "empty input", input: strings.NewReader(""), spec: semver, wantErr: `none of 0 tags satisfies semver "^1"`},
		{name: "none fits", input: strings.NewReader("2.0.0\nlatest\n"), spec: semver, wantErr: `none of 2 tags satisfies semver "^1" (1 not valid for the policy)`},
		{name: "line too long", input: strings.NewReader("1.0.0\n" + strings.Repeat("x", MaxTagLine+1) + "\n"), spec: semver, wantErr: "tag list line 2: longer than 4096 bytes, not a tag"},
		{name: "reader fails", input: io.MultiReader(strings.NewReader("1.0.0\n"), iotest.ErrReader(errors.New("disk on fire"))), spec: semver, wantErr: "reading tags: disk on fire"},
		{name: "bad spec", input: strings.NewReader("1.0.0\n"), spec: Spec{SemVer: &SemVerSpec{Range: "^^1"}}, wantErr: `policy.semver.range: invalid semver range "^^1"`},
		{name: "bad exclude", input: strings.NewReader("1.0.0\n"), spec: semver, exclude: []string{"("}, wantErr: `exclude[0]: invalid regular expression "("`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := SelectFrom(tt.input, tt.spec, tt.filter, tt.exclude)
			if tt.wantErr != "" {
				if err == nil || !strings.HasPrefix(err.Error(), tt.wantErr) {
					t.Fatalf("SelectFrom error = %v, want prefix %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("SelectFrom (-want +got):\n%s", diff)
			}
		})
	}
}

// TestSelectFromErrorKinds pins what the CLI branches on: no match (exit 1)
// is not bad input; a bad spec or tag list is.
func TestSelectFromErrorKinds(t *testing.T) {
	type badInput interface{ BadInput() bool }
	isBad := func(err error) bool {
		var b badInput
		return errors.As(err, &b) && b.BadInput()
	}
	_, err := SelectFrom(strings.NewReader("x\n"), Spec{SemVer: &SemVerSpec{Range: "*"}}, nil, nil)
	var nm *NoMatchError
	if !errors.As(err, &nm) || !errors.Is(err, ErrNoMatch) || isBad(err) {
		t.Errorf("no match: %v (%T): want *NoMatchError, not bad input", err, err)
	}
	_, err = SelectFrom(strings.NewReader("x\n"), Spec{}, nil, nil)
	if !isBad(err) {
		t.Errorf("bad spec: %v: want bad input", err)
	}
	_, err = SelectFrom(strings.NewReader(strings.Repeat("x", MaxTagLine+1)), Spec{SemVer: &SemVerSpec{Range: "*"}}, nil, nil)
	var tl *TagListError
	if !errors.As(err, &tl) || tl.Line != 1 || !isBad(err) {
		t.Errorf("long line: %v: want *TagListError line 1, bad input", err)
	}
}

// FuzzExcludePattern holds the suffix fast path to regexp's own answer.
func FuzzExcludePattern(f *testing.F) {
	for _, p := range []string{`^.*\.sig$`, `^.*-rc$`, `^.*é$`, `.*\.sig`, `^.*\.sig`, `(?i)^.*\.SIG$`, `^.*\x{FFFD}$`, `^.*$`, `^.*a*$`} {
		f.Add(p, "sha256-abc.sig")
		f.Add(p, "a\nb.sig")
		f.Add(p, "\xff.sig")
	}
	f.Fuzz(func(t *testing.T, pat, tag string) {
		ex, err := newExcludePattern(pat)
		if err != nil {
			return
		}
		if got, want := ex.MatchString(tag), ex.re.MatchString(tag); got != want {
			t.Fatalf("pattern %q (suffix %q) on %q: %v, regexp says %v", pat, ex.suffix, tag, got, want)
		}
	})
}

func TestLiteralSuffix(t *testing.T) {
	for pat, want := range map[string]string{`^.*\.sig$`: ".sig", `^.*-rc$`: "-rc", `.*\.sig`: "", `^.*\.sig`: "", `(?i)^.*\.sig$`: "", `^.*$`: "", `^(?s:.*)\.sig$`: ""} {
		ex, err := newExcludePattern(pat)
		if err != nil {
			t.Fatal(err)
		}
		if ex.suffix != want {
			t.Errorf("%q: suffix %q, want %q", pat, ex.suffix, want)
		}
	}
}
