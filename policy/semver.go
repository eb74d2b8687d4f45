package policy

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/Masterminds/semver/v3"
)

// SemVer picks the highest version that satisfies a range, reading tags as
// Flux does (see ParseVersion). Prereleases are considered only when the
// range allows them, as Masterminds/semver decides.
type SemVer struct {
	rng        string
	constraint *semver.Constraints
}

// NewSemVer validates the range, a Masterminds/semver constraint.
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

// Latest implements Policer.
func (p *SemVer) Latest(values []string) (string, int, bool) { return latestOf(p, values) }

func (p *SemVer) newChooser() chooser {
	return &semverChooser{p: p, pending: make([]semverCand, 0, semverBatch)}
}

// ParseVersion reads a tag as Flux's image-reflector-controller does
// (fluxcd/pkg/version.ParseVersion): the tag must have at least two dots,
// and then Masterminds/semver's lenient parser decides. So "v1.2.3",
// "01.02.03" and "2025.02.03-rc.1" are versions, "1.2" and "v1" are not,
// and "1.2-rc.1" is (as 1.2.0-rc.1). Numeric prerelease identifiers must
// not have leading zeros.
func ParseVersion(tag string) (*semver.Version, error) {
	if strings.Count(tag, ".") < 2 {
		return nil, semver.ErrInvalidSemVer
	}
	return semver.NewVersion(tag)
}

// version is a tag read by parseVersion: the parts Masterminds/semver
// compares, without allocating. pre points into the tag.
type version struct {
	major, minor, patch uint64
	pre                 string
}

// parseVersion accepts exactly the tags ParseVersion accepts (a fuzz test
// holds it to that) and returns what comparing them needs. It exists
// because Masterminds' lenient parser runs a regular expression and
// allocates: too slow for 100,000 tags.
//
// The grammar, after at least two dots were seen anywhere, is
// Masterminds' loose form: v? N (.N)? (.N)? (-ID(.ID)*)? (+ID(.ID)*)?
// with N ASCII digits that fit in a uint64, ID [0-9A-Za-z-]+, at most 256
// bytes, and no numeric prerelease identifier with a leading zero.
func parseVersion(s string) (version, bool) {
	var v version
	if len(s) > semver.MaxVersionLen || strings.Count(s, ".") < 2 {
		return v, false
	}
	i := 0
	if i < len(s) && s[i] == 'v' {
		i++
	}
	nums := [3]*uint64{&v.major, &v.minor, &v.patch}
	for n := 0; n < 3; n++ {
		if n > 0 {
			if i >= len(s) || s[i] != '.' {
				break
			}
			i++
		}
		start := i
		for i < len(s) && isDigit(s[i]) {
			i++
		}
		if i == start {
			return v, false
		}
		x, ok := parseDigits(s[start:i])
		if !ok {
			return v, false
		}
		*nums[n] = x
	}
	if i < len(s) && s[i] == '-' {
		i++
		start := i
		for i < len(s) && s[i] != '+' {
			i++
		}
		v.pre = s[start:i]
		if !validPrerelease(v.pre) {
			return v, false
		}
	}
	if i < len(s) && s[i] == '+' {
		if !validIdentifiers(s[i+1:]) {
			return v, false
		}
		i = len(s)
	}
	return v, i == len(s)
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// parseDigits is strconv.ParseUint(s, 10, 64) for a non-empty run of ASCII
// digits, without its error allocation: false on overflow.
func parseDigits(s string) (uint64, bool) {
	var x uint64
	for i := 0; i < len(s); i++ {
		d := uint64(s[i] - '0')
		if x > (math.MaxUint64-d)/10 {
			return 0, false
		}
		x = x*10 + d
	}
	return x, true
}

func isIdentByte(c byte) bool {
	return isDigit(c) || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '-'
}

// validIdentifiers: one or more non-empty dot-separated [0-9A-Za-z-]+.
func validIdentifiers(s string) bool {
	if s == "" {
		return false
	}
	n := 0
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '.':
			if n == 0 {
				return false
			}
			n = 0
		case isIdentByte(c):
			n++
		default:
			return false
		}
	}
	return n > 0
}

func validPrerelease(s string) bool {
	if !validIdentifiers(s) {
		return false
	}
	for id := range strings.SplitSeq(s, ".") {
		if len(id) > 1 && id[0] == '0' && allDigits(id) {
			return false
		}
	}
	return true
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			return false
		}
	}
	return true
}

// compareVersions orders versions as Masterminds' (*Version).Compare does
// (a fuzz test holds it to that): numbers, then a release above its
// prereleases, then prerelease identifiers one by one.
func compareVersions(a, b version) int {
	if c := cmpUint(a.major, b.major); c != 0 {
		return c
	}
	if c := cmpUint(a.minor, b.minor); c != 0 {
		return c
	}
	if c := cmpUint(a.patch, b.patch); c != 0 {
		return c
	}
	switch {
	case a.pre == b.pre:
		return 0
	case a.pre == "":
		return 1
	case b.pre == "":
		return -1
	}
	as, bs := a.pre, b.pre
	for as != "" || bs != "" {
		var x, y string
		x, as, _ = strings.Cut(as, ".")
		y, bs, _ = strings.Cut(bs, ".")
		if c := comparePreID(x, y); c != 0 {
			return c
		}
	}
	return 0
}

// comparePreID compares two prerelease identifiers; "" is a missing one,
// lower than any. Identifiers that parse as uint64 compare as numbers and
// below the others, which compare in byte order.
func comparePreID(x, y string) int {
	switch {
	case x == y:
		return 0
	case x == "":
		return -1
	case y == "":
		return 1
	}
	xi, xerr := strconv.ParseUint(x, 10, 64)
	yi, yerr := strconv.ParseUint(y, 10, 64)
	switch {
	case xerr != nil && yerr != nil:
		return strings.Compare(x, y)
	case xerr != nil:
		return 1
	case yerr != nil:
		return -1
	}
	return cmpUint(xi, yi)
}

func cmpUint(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// semverBatch bounds how many candidates wait for a range check. A check
// costs far more than a comparison, so only candidates newer than the best
// so far are kept, and only the newest of them are checked.
const semverBatch = 256

type semverCand struct {
	v          version
	value, tag string
}

// semverChooser keeps the best version in range seen so far. A candidate
// that is not newer than it is dropped at once; newer ones wait in pending
// and are checked newest first when pending fills or at the end, so an
// ascending tag list costs one range check per batch, not one per tag.
type semverChooser struct {
	p       *SemVer
	best    semverCand
	have    bool
	pending []semverCand
}

// semverLess orders candidates: older version first; among equal versions
// the greater value wins (Flux keeps the first of its tags, which it holds
// in descending byte order); among equal values the lesser tag wins (Flux's
// filter keeps the last tag it meets for a value).
func semverLess(a, b *semverCand) bool {
	if c := compareVersions(a.v, b.v); c != 0 {
		return c < 0
	}
	if a.value != b.value {
		return a.value < b.value
	}
	return a.tag > b.tag
}

func (c *semverChooser) offer(value, tag string) bool {
	v, ok := parseVersion(value)
	if !ok {
		return false
	}
	cand := semverCand{v: v, value: value, tag: tag}
	if c.have && !semverLess(&c.best, &cand) {
		return true
	}
	c.pending = append(c.pending, cand)
	if len(c.pending) == cap(c.pending) {
		c.flush()
	}
	return true
}

// flush checks pending candidates, newest first, until one is in range.
func (c *semverChooser) flush() {
	slices.SortFunc(c.pending, func(a, b semverCand) int {
		switch {
		case semverLess(&a, &b):
			return 1
		case semverLess(&b, &a):
			return -1
		}
		return 0
	})
	for i := range c.pending {
		cand := &c.pending[i]
		if c.have && !semverLess(&c.best, cand) {
			break
		}
		// The parts are Masterminds' own (FuzzParseVersion holds
		// parseVersion to them); constraints read nothing else, and New
		// skips the regular expression NewVersion runs.
		sv := semver.New(cand.v.major, cand.v.minor, cand.v.patch, cand.v.pre, "")
		if c.p.constraint.Check(sv) {
			c.best, c.have = *cand, true
			break
		}
	}
	c.pending = c.pending[:0]
}

func (c *semverChooser) result() (value, tag string, ok bool) {
	c.flush()
	return c.best.value, c.best.tag, c.have
}
