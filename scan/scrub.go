package scan

import (
	"encoding/base64"
	"encoding/hex"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"
)

// redacted replaces every secret in a message.
const redacted = "[redacted]"

// minSecretLen is the shortest value scrubbed. Shorter "secrets" would
// redact ordinary words all over a message, and are not secrets anyway.
const minSecretLen = 4

// secretSet holds the credentials one target's requests may carry: the
// passwords and tokens of its credential, the tokens its registry issued,
// the Authorization headers sent. Every message that leaves the package
// is scrubbed of each of them in every encoding a registry might echo one
// in (as is, base64 at any alignment, percent- and JSON-escaped, hex).
// Safe for concurrent use; the zero value is empty.
type secretSet struct {
	mu       sync.RWMutex
	patterns []string
}

// add records secret and its encodings.
func (s *secretSet) add(secrets ...string) {
	if s == nil {
		return
	}
	var pats []string
	for _, v := range secrets {
		if len(v) < minSecretLen {
			continue
		}
		pats = append(pats, encodings(v)...)
		// "Basic <b64>" and "Bearer <tok>" carry the part after the space.
		if scheme, rest, ok := strings.Cut(v, " "); ok && (strings.EqualFold(scheme, "basic") || strings.EqualFold(scheme, "bearer")) && len(rest) >= minSecretLen {
			pats = append(pats, encodings(rest)...)
			if raw, err := base64.StdEncoding.DecodeString(rest); err == nil {
				pats = append(pats, encodings(string(raw))...)
				if _, pw, ok := strings.Cut(string(raw), ":"); ok && len(pw) >= minSecretLen {
					pats = append(pats, encodings(pw)...)
				}
			}
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range pats {
		if len(p) >= minSecretLen && !slices.Contains(s.patterns, p) {
			s.patterns = append(s.patterns, p)
		}
	}
	// Longest first, so a secret's encoding is replaced whole before a
	// shorter pattern inside it could be.
	slices.SortFunc(s.patterns, func(a, b string) int { return len(b) - len(a) })
}

// merged returns a set holding the patterns of both.
func (s *secretSet) merged(o *secretSet) *secretSet {
	out := &secretSet{}
	for _, src := range []*secretSet{s, o} {
		if src == nil {
			continue
		}
		src.mu.RLock()
		out.patterns = append(out.patterns, src.patterns...)
		src.mu.RUnlock()
	}
	slices.SortFunc(out.patterns, func(a, b string) int { return len(b) - len(a) })
	return out
}

// encodings are the forms a secret may take in a reflected message.
func encodings(v string) []string {
	out := []string{
		v,
		url.QueryEscape(v),
		url.PathEscape(v),
		jsonEscaped(v),
		hex.EncodeToString([]byte(v)),
		strings.ToUpper(hex.EncodeToString([]byte(v))),
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding} {
		out = append(out, base64Aligned(enc, v)...)
	}
	return out
}

// jsonEscaped is v as it appears inside a JSON string.
func jsonEscaped(v string) string {
	q := strconv.Quote(v)
	return q[1 : len(q)-1]
}

// base64Aligned returns the part of v's base64 encoding that does not
// depend on the bytes around v, for each of the three alignments v can
// have inside a longer encoded text (a reflected header dump, say).
func base64Aligned(enc *base64.Encoding, v string) []string {
	var out []string
	for k := range 3 {
		e := enc.EncodeToString(append(make([]byte, k), v...))
		start := (k*8 + 5) / 6      // first character made only of v's bits
		end := (k + len(v)) / 3 * 4 // last full group made only of v's bits
		if end-start >= minSecretLen {
			out = append(out, e[start:end])
		}
	}
	return out
}

// authHeaderPattern finds credentials uptick does not know, by their
// shape: an Authorization header's value, a Basic or Bearer credential, a
// JWT. Compiled on first use.
var authHeaderPattern = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`(?i)(authorization["']?\s*[:=]\s*\[?\s*["']?)[^"'\],\r\n]+` +
		`|\b(basic|bearer)\s+[A-Za-z0-9._~+/=-]{8,}` +
		`|\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*`)
})

// scrub removes every known secret and anything shaped like a credential
// from msg, replaces control characters (a registry's ANSI escapes,
// newlines) with spaces, and cuts it to at most limit bytes.
func (s *secretSet) scrub(msg string, limit int) string {
	if s != nil {
		s.mu.RLock()
		for _, p := range s.patterns {
			msg = strings.ReplaceAll(msg, p, redacted)
		}
		s.mu.RUnlock()
	}
	msg = authHeaderPattern().ReplaceAllStringFunc(msg, func(m string) string {
		if strings.Contains(m, redacted) || strings.HasSuffix(m, redacted[1:len(redacted)-1]) {
			return m // already scrubbed as a known secret
		}
		sub := authHeaderPattern().FindStringSubmatch(m)
		switch {
		case sub[1] != "":
			return sub[1] + redacted
		case sub[2] != "":
			return sub[2] + " " + redacted
		}
		return redacted
	})
	msg = printable(msg)
	if len(msg) > limit {
		msg = s.trimPartial(shorten(msg, limit-len("…"))) + "…"
	}
	return msg
}

// trimPartial drops the end of msg if it is the beginning of a secret, as
// after a cut that fell inside one.
func (s *secretSet) trimPartial(msg string) string {
	if s == nil {
		return msg
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	for _, p := range s.patterns {
		for k := len(p) - 1; k >= minSecretLen; k-- {
			if strings.HasSuffix(msg, p[:k]) {
				return msg[:len(msg)-k]
			}
		}
	}
	return msg
}

// printable replaces control characters and invalid UTF-8 with spaces and
// collapses runs of spaces.
func printable(s string) string {
	var b strings.Builder
	space := false
	for _, r := range s {
		if r == utf8.RuneError || unicode.IsControl(r) || unicode.IsSpace(r) {
			if !space {
				b.WriteByte(' ')
			}
			space = true
			continue
		}
		space = false
		b.WriteRune(r)
	}
	return strings.TrimSpace(b.String())
}

// shorten cuts s to at most limit bytes at a rune boundary.
func shorten(s string, limit int) string {
	if len(s) <= limit {
		return s
	}
	cut := max(limit, 0)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut]
}
