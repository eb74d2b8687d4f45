package policy

import (
	"errors"
	"fmt"
	"strings"

	"github.com/Masterminds/semver/v3"
)

// SemVer picks the highest version that satisfies a range. Following Flux, a
// tag counts only if it is a full X.Y.Z version, optionally prefixed with
// "v"; prereleases are considered only when the range itself names one.
type SemVer struct {
	rng        string
	constraint *semver.Constraints
}

// NewSemVer validates the range.
func NewSemVer(rng string) (*SemVer, error) {
	if strings.TrimSpace(rng) == "" {
		return nil, errors.New("required")
	}
	c, err := semver.NewConstraint(rng)
	if err != nil {
		return nil, fmt.Errorf("invalid semver range %q: %w", rng, err)
	}
	return &SemVer{rng: rng, constraint: c}, nil
}

// String implements Policer.
func (p *SemVer) String() string { return fmt.Sprintf("semver %q", p.rng) }

// Latest implements Policer. Versions that compare equal (they differ only in
// a "v" prefix or build metadata) are tie-broken by the greatest string.
func (p *SemVer) Latest(values []string) (string, int, bool) {
	var (
		best    *semver.Version
		bestRaw string
		invalid int
	)
	for _, raw := range values {
		v, err := ParseVersion(raw)
		if err != nil {
			invalid++
			continue
		}
		if !p.constraint.Check(v) {
			continue
		}
		if best == nil {
			best, bestRaw = v, raw
			continue
		}
		switch c := v.Compare(best); {
		case c > 0, c == 0 && raw > bestRaw:
			best, bestRaw = v, raw
		}
	}
	return bestRaw, invalid, best != nil
}

// ParseVersion reads a tag as a strict X.Y.Z[-pre][+build] version with an
// optional leading "v". Lenient forms ("1.2", "v1") are rejected: registries
// are full of such tags and they are rarely releases.
func ParseVersion(tag string) (*semver.Version, error) {
	return semver.StrictNewVersion(strings.TrimPrefix(tag, "v"))
}
