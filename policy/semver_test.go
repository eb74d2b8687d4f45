package policy

import (
	"strings"
	"testing"

	"github.com/Masterminds/semver/v3"
	"github.com/google/go-cmp/cmp"
)

// Tags the fast parser must read exactly as ParseVersion does.
var versionSeeds = []string{
	"1.2.3", "v1.2.3", "01.02.03", "2025.02.03-rc.1", "1.2-rc.1", "1-rc.1.2", "1.2+b.c",
	"1.2.3.4", "1..3", "1.2.", "1.2.3-", "1.2.3+", "1.2.3-01", "1.2.3-rc.01", "1.2.3-00a",
	"1.2.3-rc..1", "V1.2.3", "vv1.2.3", " 1.2.3", "1.2.3+b+c", "1.2.3+b.-", "1.2.3--",
	"18446744073709551615.0.0", "18446744073709551616.0.0", "1.2.3-18446744073709551616",
	"١.٢.٣", "1.2.３", "v", "..", "1.2", "latest", "1-2.3.4", "1.2.3-" + strings.Repeat("a", 250),
}

func FuzzParseVersion(f *testing.F) {
	for _, s := range versionSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want, werr := ParseVersion(s)
		got, ok := parseVersion(s)
		if ok != (werr == nil) {
			t.Fatalf("parseVersion(%q) ok=%v, ParseVersion error %v", s, ok, werr)
		}
		if !ok {
			return
		}
		w := version{major: want.Major(), minor: want.Minor(), patch: want.Patch(), pre: want.Prerelease()}
		if diff := cmp.Diff(w, got, cmp.AllowUnexported(version{})); diff != "" {
			t.Fatalf("parseVersion(%q) (-Masterminds +fast):\n%s", s, diff)
		}
	})
}

func TestParseVersionSeeds(t *testing.T) {
	accepted := map[string]bool{}
	for _, s := range versionSeeds {
		_, ok := parseVersion(s)
		accepted[s] = ok
		if _, err := ParseVersion(s); (err == nil) != ok {
			t.Errorf("parseVersion(%q) = %v, ParseVersion error %v", s, ok, err)
		}
	}
	// Spot checks of Flux's leniency, so the seeds themselves cannot drift.
	for s, want := range map[string]bool{"01.02.03": true, "1.2-rc.1": true, "1.2": false, "1.2.3-01": false, "V1.2.3": false} {
		if accepted[s] != want {
			t.Errorf("accepted[%q] = %v, want %v", s, accepted[s], want)
		}
	}
}

func FuzzCompareVersions(f *testing.F) {
	f.Add("1.2.3-rc.1", "1.2.3-rc.1.0")
	f.Add("1.2.3-alpha", "1.2.3-1")
	f.Add("1.2.3-18446744073709551616", "1.2.3-9")
	f.Add("v1.2.3", "01.2.3+b")
	f.Add("1.2.3-a-b", "1.2.3-a")
	f.Fuzz(func(t *testing.T, a, b string) {
		va, oka := parseVersion(a)
		vb, okb := parseVersion(b)
		if !oka || !okb {
			return
		}
		ma, _ := semver.NewVersion(a)
		mb, _ := semver.NewVersion(b)
		if want, got := ma.Compare(mb), compareVersions(va, vb); want != got {
			t.Fatalf("compareVersions(%q, %q) = %d, Masterminds says %d", a, b, got, want)
		}
	})
}
