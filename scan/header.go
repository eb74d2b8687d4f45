package scan

import (
	"net/url"
	"strings"
)

// nextLink returns the target of the rel="next" link among Link header
// values (RFC 8288), resolved against base; "" when there is none. Values
// may hold several comma-separated links, rel may be quoted or not and
// list several relations.
func nextLink(values []string, base *url.URL) (*url.URL, bool) {
	for _, v := range values {
		for rest := v; rest != ""; {
			rest = strings.TrimLeft(rest, " \t,")
			if !strings.HasPrefix(rest, "<") {
				break
			}
			end := strings.IndexByte(rest, '>')
			if end < 0 {
				break
			}
			target := rest[1:end]
			rest = rest[end+1:]
			// Parameters run to the next link, a comma outside quotes.
			params, tail := splitParams(rest)
			rest = tail
			if !relIsNext(params) {
				continue
			}
			u, err := base.Parse(target)
			if err != nil {
				return nil, false
			}
			return u, true
		}
	}
	return nil, false
}

// splitParams cuts ";param=value;..." off the front of s, up to the comma
// that starts the next link.
func splitParams(s string) (params []string, rest string) {
	inQuote := false
	start := 0
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"':
			inQuote = !inQuote
		case c == '\\' && inQuote:
			i++
		case c == ';' && !inQuote:
			if p := strings.TrimSpace(s[start:i]); p != "" {
				params = append(params, p)
			}
			start = i + 1
		case c == ',' && !inQuote:
			if p := strings.TrimSpace(s[start:i]); p != "" {
				params = append(params, p)
			}
			return params, s[i+1:]
		}
	}
	if p := strings.TrimSpace(s[start:]); p != "" {
		params = append(params, p)
	}
	return params, ""
}

func relIsNext(params []string) bool {
	for _, p := range params {
		k, v, ok := strings.Cut(p, "=")
		if !ok || !strings.EqualFold(strings.TrimSpace(k), "rel") {
			continue
		}
		for _, rel := range strings.Fields(strings.Trim(strings.TrimSpace(v), `"`)) {
			if strings.EqualFold(rel, "next") {
				return true
			}
		}
	}
	return false
}

// challenge is one WWW-Authenticate challenge: a scheme and its
// parameters (keys lowercased).
type challenge struct {
	Scheme string
	Params map[string]string
}

// parseChallenges reads WWW-Authenticate header values (RFC 7235): each
// may hold several challenges, each a scheme followed by comma-separated
// auth-params whose values are tokens or quoted strings.
func parseChallenges(values []string) []challenge {
	var out []challenge
	for _, v := range values {
		s := v
		var cur *challenge
		for {
			s = strings.TrimLeft(s, " \t,")
			if s == "" {
				break
			}
			tok, rest := token(s)
			if tok == "" {
				break // garbage: stop reading this value
			}
			r := strings.TrimLeft(rest, " \t")
			if strings.HasPrefix(r, "=") && cur != nil {
				val, after, ok := paramValue(strings.TrimLeft(r[1:], " \t"))
				if !ok {
					break
				}
				cur.Params[strings.ToLower(tok)] = val
				s = after
				continue
			}
			// A new challenge: the scheme.
			out = append(out, challenge{Scheme: strings.ToLower(tok), Params: map[string]string{}})
			cur = &out[len(out)-1]
			s = rest
		}
	}
	return out
}

// token reads an RFC 7230 token off the front of s.
func token(s string) (string, string) {
	i := 0
	for i < len(s) && isTokenChar(s[i]) {
		i++
	}
	return s[:i], s[i:]
}

func isTokenChar(c byte) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}

// paramValue reads a token or a quoted string off the front of s.
func paramValue(s string) (string, string, bool) {
	if !strings.HasPrefix(s, `"`) {
		v, rest := token(s)
		return v, rest, v != ""
	}
	var b strings.Builder
	for i := 1; i < len(s); i++ {
		switch c := s[i]; c {
		case '\\':
			if i+1 < len(s) {
				i++
				b.WriteByte(s[i])
			}
		case '"':
			return b.String(), s[i+1:], true
		default:
			b.WriteByte(c)
		}
	}
	return "", "", false
}
