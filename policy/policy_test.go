package policy

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/Masterminds/semver/v3"
	"github.com/google/go-cmp/cmp"
)

func TestSelect(t *testing.T) {
	tests := []struct {
		name    string
		spec    Spec
		filter  *FilterSpec
		exclude []string
		tags    []string
		want    Choice
		wantErr string
	}{
		{
			name: "semver highest in range",
			spec: Spec{SemVer: &SemVerSpec{Range: "^6.x"}},
			tags: []string{"6.4.0", "6.5.3", "7.0.0", "6.5.10", "latest", "6.5.2"},
			want: Choice{Tag: "6.5.10", Value: "6.5.10"},
		},
		{
			name: "semver ignores prereleases unless the range names one",
			spec: Spec{SemVer: &SemVerSpec{Range: ">=1.0.0"}},
			tags: []string{"1.0.0", "1.1.0-rc.1", "1.0.1"},
			want: Choice{Tag: "1.0.1", Value: "1.0.1"},
		},
		{
			name: "semver prerelease range",
			spec: Spec{SemVer: &SemVerSpec{Range: ">=1.1.0-0"}},
			tags: []string{"1.0.0", "1.1.0-rc.1", "1.1.0-rc.2", "1.0.1"},
			want: Choice{Tag: "1.1.0-rc.2", Value: "1.1.0-rc.2"},
		},
		{
			name: "semver accepts a v prefix but not short versions",
			spec: Spec{SemVer: &SemVerSpec{Range: "*"}},
			tags: []string{"v1.2.3", "1.3", "v2", "1.2.2"},
			want: Choice{Tag: "v1.2.3", Value: "v1.2.3"},
		},
		{
			name: "semver tie between v-prefixed and plain is deterministic",
			spec: Spec{SemVer: &SemVerSpec{Range: "*"}},
			tags: []string{"v1.2.3", "1.2.3"},
			want: Choice{Tag: "v1.2.3", Value: "v1.2.3"},
		},
		{
			name: "semver tie on build metadata is deterministic",
			spec: Spec{SemVer: &SemVerSpec{Range: "*"}},
			tags: []string{"1.2.3+b", "1.2.3+a"},
			want: Choice{Tag: "1.2.3+b", Value: "1.2.3+b"},
		},
		{
			name:    "semver nothing in range",
			spec:    Spec{SemVer: &SemVerSpec{Range: "^9"}},
			tags:    []string{"1.0.0", "latest"},
			wantErr: `none of 2 tags satisfies semver "^9" (1 not valid for the policy)`,
		},
		{
			name: "alphabetical asc picks greatest",
			spec: Spec{Alphabetical: &OrderSpec{}},
			tags: []string{"2024-01-02", "2024-03-01", "2023-12-31"},
			want: Choice{Tag: "2024-03-01", Value: "2024-03-01"},
		},
		{
			name: "alphabetical desc picks least",
			spec: Spec{Alphabetical: &OrderSpec{Order: "desc"}},
			tags: []string{"b", "a", "c"},
			want: Choice{Tag: "a", Value: "a"},
		},
		{
			name: "numerical asc skips non-numbers",
			spec: Spec{Numerical: &OrderSpec{Order: "asc"}},
			tags: []string{"9", "10", "latest", "2"},
			want: Choice{Tag: "10", Value: "10"},
		},
		{
			name: "numerical desc",
			spec: Spec{Numerical: &OrderSpec{Order: "desc"}},
			tags: []string{"9", "10", "2"},
			want: Choice{Tag: "2", Value: "2"},
		},
		{
			name:    "numerical none: NaN and out-of-range values are skipped",
			spec:    Spec{Numerical: &OrderSpec{}},
			tags:    []string{"latest", "NaN", "1e400"},
			wantErr: `none of 3 tags satisfies numerical asc (3 not valid for the policy)`,
		},
		{
			name: "numerical reads what ParseFloat reads, Inf included",
			spec: Spec{Numerical: &OrderSpec{}},
			tags: []string{"1_000", "0x1p4", "1e3", "Inf", "NaN"},
			want: Choice{Tag: "Inf", Value: "Inf"},
		},
		{
			name: "numerical equal numbers go to the least value, as in Flux",
			spec: Spec{Numerical: &OrderSpec{Order: "desc"}},
			tags: []string{"1", "1.0", "01", "1e0", "2"},
			want: Choice{Tag: "01", Value: "01"},
		},
		{
			name: "semver accepts leading zeros as Flux does",
			spec: Spec{SemVer: &SemVerSpec{Range: ">=2025.2.3"}},
			tags: []string{"2025.02.03", "2025.2.4-rc.1", "2025.01.31", "v2025.02.3"},
			want: Choice{Tag: "v2025.02.3", Value: "v2025.02.3"},
		},
		{
			name: "semver reads a two-dot prerelease short form as Flux does",
			spec: Spec{SemVer: &SemVerSpec{Range: ">=1.2.0-0"}},
			tags: []string{"1.2-rc.1", "1.1", "1.2.3.4"},
			want: Choice{Tag: "1.2-rc.1", Value: "1.2-rc.1"},
		},
		{
			name:   "filter with extract compares the extracted value",
			spec:   Spec{Numerical: &OrderSpec{}},
			filter: &FilterSpec{Pattern: `^main-[a-f0-9]+-(?P<ts>[0-9]+)$`, Extract: "$ts"},
			tags:   []string{"main-abc123-100", "main-def456-99", "main-0a0a0a-1000", "pr-1-2000", "latest"},
			want:   Choice{Tag: "main-0a0a0a-1000", Value: "1000"},
		},
		{
			name:   "filter tie on extracted value picks the least tag, as Flux",
			spec:   Spec{Numerical: &OrderSpec{}},
			filter: &FilterSpec{Pattern: `^main-[a-f0-9]+-(?P<ts>[0-9]+)$`, Extract: "${ts}"},
			tags:   []string{"main-bbb-5", "main-aaa-5"},
			want:   Choice{Tag: "main-aaa-5", Value: "5"},
		},
		{
			name:   "filter without extract keeps the tag",
			spec:   Spec{SemVer: &SemVerSpec{Range: "*"}},
			filter: &FilterSpec{Pattern: `^1\.`},
			tags:   []string{"1.0.0", "2.0.0", "1.4.0"},
			want:   Choice{Tag: "1.4.0", Value: "1.4.0"},
		},
		{
			name:    "exclude drops tags before the policy",
			spec:    Spec{SemVer: &SemVerSpec{Range: "*"}},
			exclude: []string{`^2\.`, `\.sig$`},
			tags:    []string{"1.0.0", "2.0.0", "1.1.0"},
			want:    Choice{Tag: "1.1.0", Value: "1.1.0"},
		},
		{
			name:    "reasons are counted",
			spec:    Spec{SemVer: &SemVerSpec{Range: "^3"}},
			filter:  &FilterSpec{Pattern: `^\d`},
			exclude: []string{`^2\.`},
			tags:    []string{"2.0.0", "x", "1.0.0", "1.0"},
			wantErr: `none of 4 tags satisfies semver "^3" (1 excluded, 1 not matching filterTags, 1 not valid for the policy)`,
		},
		{
			name:    "empty tag list",
			spec:    Spec{Alphabetical: &OrderSpec{}},
			wantErr: `none of 0 tags satisfies alphabetical asc`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := NewSelector(tt.spec, tt.filter, tt.exclude)
			if err != nil {
				t.Fatalf("NewSelector: %v", err)
			}
			got, err := s.Select(tt.tags)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("Select error = %v, want %q", err, tt.wantErr)
				}
				if !errors.Is(err, ErrNoMatch) {
					t.Errorf("error %v is not ErrNoMatch", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Select: %v", err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Select mismatch (-want +got):\n%s", diff)
			}
			// Order independence: reversing the input gives the same choice.
			rev := append([]string(nil), tt.tags...)
			for i, j := 0, len(rev)-1; i < j; i, j = i+1, j-1 {
				rev[i], rev[j] = rev[j], rev[i]
			}
			got2, err := s.Select(rev)
			if err != nil {
				t.Fatalf("Select reversed: %v", err)
			}
			if diff := cmp.Diff(got, got2); diff != "" {
				t.Errorf("result depends on tag order (-fwd +rev):\n%s", diff)
			}
		})
	}
}

func TestNewSelectorErrors(t *testing.T) {
	tests := []struct {
		name    string
		spec    Spec
		filter  *FilterSpec
		exclude []string
		want    string
	}{
		{name: "no strategy", spec: Spec{}, want: "policy: one of semver, alphabetical or numerical is required"},
		{name: "two strategies", spec: Spec{SemVer: &SemVerSpec{Range: "*"}, Numerical: &OrderSpec{}}, want: "only one of"},
		{name: "empty range", spec: Spec{SemVer: &SemVerSpec{}}, want: "policy.semver.range: required"},
		{name: "bad range", spec: Spec{SemVer: &SemVerSpec{Range: ">=x.y"}}, want: `policy.semver.range: invalid semver range ">=x.y"`},
		{name: "bad order", spec: Spec{Alphabetical: &OrderSpec{Order: "up"}}, want: `policy.alphabetical.order: unknown order "up"`},
		{name: "bad numerical order", spec: Spec{Numerical: &OrderSpec{Order: "DESC"}}, want: `policy.numerical.order: unknown order "DESC"`},
		{name: "bad filter regex", spec: Spec{Alphabetical: &OrderSpec{}}, filter: &FilterSpec{Pattern: "("}, want: `filterTags.pattern: invalid regular expression "("`},
		{name: "missing filter pattern", spec: Spec{Alphabetical: &OrderSpec{}}, filter: &FilterSpec{Extract: "$1"}, want: "filterTags.pattern: required"},
		{name: "extract unknown group", spec: Spec{Alphabetical: &OrderSpec{}}, filter: &FilterSpec{Pattern: `(?P<ts>\d+)`, Extract: "$tss"}, want: `filterTags.extract: "$tss" refers to group "tss"`},
		{name: "extract unterminated", spec: Spec{Alphabetical: &OrderSpec{}}, filter: &FilterSpec{Pattern: `(\d+)`, Extract: "${1"}, want: "filterTags.extract: unterminated"},
		{name: "bad exclude", spec: Spec{Alphabetical: &OrderSpec{}}, exclude: []string{"ok", "[a-"}, want: `exclude[1]: invalid regular expression "[a-"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewSelector(tt.spec, tt.filter, tt.exclude)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("NewSelector error = %v, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestFilterExtractTemplates(t *testing.T) {
	tests := []struct {
		pattern, extract, tag string
		want                  string
		ok                    bool
	}{
		{`^v(\d+)$`, "$1", "v12", "12", true},
		{`^v(\d+)$`, "$$1", "v12", "$1", true},
		{`^(?P<a>\w)-(?P<b>\w)$`, "${b}${a}", "x-y", "yx", true},
		{`^v(\d+)$`, "", "v12", "v12", true},
		{`^v(\d+)$`, "$1", "x12", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.pattern+"/"+tt.extract+"/"+tt.tag, func(t *testing.T) {
			f, err := NewFilter(FilterSpec{Pattern: tt.pattern, Extract: tt.extract})
			if err != nil {
				t.Fatal(err)
			}
			got, ok := f.Extract(tt.tag)
			if diff := cmp.Diff([]any{tt.want, tt.ok}, []any{got, ok}); diff != "" {
				t.Errorf("Extract (-want +got):\n%s", diff)
			}
		})
	}
}

// FuzzSemVerSelect holds the one-pass selection to the plain definition:
// the greatest version in range by Masterminds' own parse and compare, ties
// broken as documented, whatever the order of the tags.
func FuzzSemVerSelect(f *testing.F) {
	for _, seed := range []string{"^6.x", ">=1.0.0-0", "~1.2", "*", "1.x || >=3"} {
		f.Add(seed, "1.2.3", "v6.5.0", "6.5.0-rc.1", "01.2.3")
	}
	f.Fuzz(func(t *testing.T, rng, a, b, c, d string) {
		s, err := NewSelector(Spec{SemVer: &SemVerSpec{Range: rng}}, nil, nil)
		if err != nil {
			return
		}
		tags := []string{a, b, c, d}
		got1, err1 := s.Select(tags)
		got2, err2 := s.Select([]string{d, c, a, b})
		if (err1 == nil) != (err2 == nil) || got1 != got2 {
			t.Fatalf("order-dependent result: %v/%v vs %v/%v", got1, err1, got2, err2)
		}
		con, _ := semver.NewConstraint(rng)
		var want string
		var best *semver.Version
		for _, tag := range tags {
			v, err := ParseVersion(tag)
			if err != nil || !con.Check(v) {
				continue
			}
			if best == nil || v.GreaterThan(best) || v.Equal(best) && tag > want {
				best, want = v, tag
			}
		}
		if best == nil {
			if err1 == nil {
				t.Fatalf("chose %q, but no tag is a version in range", got1.Tag)
			}
			return
		}
		if err1 != nil || got1.Tag != want {
			t.Fatalf("Select = %q, %v; want %q", got1.Tag, err1, want)
		}
	})
}

func TestSemVerBatches(t *testing.T) {
	// More candidates than one batch, ascending, with the newest out of
	// range: the batch logic must still find the newest in range.
	var tags []string
	for i := 0; i < 3*semverBatch+7; i++ {
		tags = append(tags, fmt.Sprintf("1.0.%d", i))
	}
	tags = append(tags, "2.0.0", "1.5.0-rc.1")
	for _, tc := range []struct{ rng, want string }{
		{"^1", fmt.Sprintf("1.0.%d", 3*semverBatch+6)},
		{"<1.0.300", "1.0.299"},
		{"~1.0.5", fmt.Sprintf("1.0.%d", 3*semverBatch+6)},
		{">=1.0.0-0 <2", "1.5.0-rc.1"},
		{"=1.0.0", "1.0.0"},
	} {
		s, err := NewSelector(Spec{SemVer: &SemVerSpec{Range: tc.rng}}, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, order := range []string{"asc", "desc"} {
			in := slices.Clone(tags)
			if order == "desc" {
				slices.Reverse(in)
			}
			got, err := s.Select(in)
			if err != nil || got.Tag != tc.want {
				t.Errorf("%s %s: Select = %q, %v; want %q", tc.rng, order, got.Tag, err, tc.want)
			}
		}
	}
}
