package policy

import (
	"encoding/json"
	"errors"
	"math/rand/v2"
	"os"
	"slices"
	"testing"
)

// fluxCase is one case of testdata/policy/flux-answers.json: a tag list, a
// policy, and the answers Flux's own policy code gave for it (see the
// file's comment for how they were produced).
type fluxCase struct {
	Name       string      `json:"name"`
	Policy     Spec        `json:"policy"`
	FilterTags *FilterSpec `json:"filterTags"`
	Exclude    []string    `json:"exclude"`
	Tags       []string    `json:"tags"`
	Deviation  string      `json:"deviation"`
	Flux       fluxOutcome `json:"flux"`
	// FluxReadable is Flux's answer over the values ParseFloat reads and
	// that are not NaN, which is what uptick answers.
	FluxReadable *fluxOutcome `json:"fluxReadable"`
}

type fluxOutcome struct {
	Tags    []string `json:"tags"`
	NoMatch bool     `json:"noMatch"`
	Error   string   `json:"error"`
}

func loadFluxCases(t testing.TB) []fluxCase {
	t.Helper()
	data, err := os.ReadFile("../testdata/policy/flux-answers.json")
	if err != nil {
		t.Fatal(err)
	}
	var f struct{ Cases []fluxCase }
	if err := json.Unmarshal(data, &f); err != nil {
		t.Fatal(err)
	}
	if len(f.Cases) < 500 {
		t.Fatalf("only %d differential cases; the file is truncated", len(f.Cases))
	}
	return f.Cases
}

// TestFluxDifferential holds uptick's choice to Flux's on every case: the
// same tag where Flux's answer is fixed, one of Flux's answers where it is
// random, and the documented differences where uptick differs on purpose
// (unreadable numbers and NaN skipped, extract templates naming missing
// groups rejected).
func TestFluxDifferential(t *testing.T) {
	var fixed, random, noMatch, specErrors, readable, deviations int
	for _, c := range loadFluxCases(t) {
		t.Run(c.Name, func(t *testing.T) {
			want := c.Flux
			if c.FluxReadable != nil {
				want = *c.FluxReadable
				readable++
			}
			filter := c.FilterTags
			if filter != nil && *filter == (FilterSpec{}) {
				filter = nil // Flux's empty pattern matches every tag
			}
			s, err := NewSelector(c.Policy, filter, c.Exclude)
			switch {
			case c.Deviation == "extract-undefined-group":
				deviations++
				var fe *FieldError
				if !errors.As(err, &fe) || fe.Field != "filterTags.extract" {
					t.Fatalf("NewSelector error = %v, want a filterTags.extract error: Flux expands a missing group to \"\", uptick rejects it", err)
				}
				return
			case want.Error != "":
				specErrors++
				if err == nil {
					t.Fatalf("NewSelector accepted a spec Flux rejects (%s)", want.Error)
				}
				return
			case err != nil:
				t.Fatalf("NewSelector: %v (Flux accepts this spec)", err)
			}
			tags := slices.Clone(c.Tags)
			rng := rand.New(rand.NewPCG(uint64(len(tags)), 1))
			for try := 0; try < 3; try++ {
				got, err := s.Select(tags)
				switch {
				case want.NoMatch:
					if !errors.Is(err, ErrNoMatch) {
						t.Fatalf("Select = %+v, %v; Flux finds no tag", got, err)
					}
				case err != nil:
					t.Fatalf("Select: %v; Flux chose %q", err, want.Tags)
				case !slices.Contains(want.Tags, got.Tag):
					t.Fatalf("Select chose %q, Flux chose %q (tags in order %q)", got.Tag, want.Tags, tags)
				}
				rng.Shuffle(len(tags), func(i, j int) { tags[i], tags[j] = tags[j], tags[i] })
			}
			switch {
			case want.NoMatch:
				noMatch++
			case len(want.Tags) > 1:
				random++
			default:
				fixed++
			}
		})
	}
	t.Logf("agreed with Flux: %d fixed answers, %d of Flux's random answers, %d no-match, %d specs both reject; %d numerical cases answered over readable values only; %d deliberate deviations",
		fixed, random, noMatch, specErrors, readable, deviations)
}
