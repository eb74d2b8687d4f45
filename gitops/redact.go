package gitops

import (
	"net/url"
	"strings"
)

// redactedPassword replaces passwords in URLs shown to humans.
const redactedPassword = "***"

// minSecretLen is the shortest secret scrubbed from arbitrary error text;
// replacing shorter strings would mangle messages while hiding little.
const minSecretLen = 4

// redactURL returns raw with any password in its userinfo replaced by ***.
// Unparseable input that looks like it carries userinfo is cut to the part
// after '@' so a secret never leaks through a parse failure.
func redactURL(raw string) string {
	if !strings.Contains(raw, "://") && !strings.HasPrefix(raw, "//") {
		return raw // local path or scp-like user@host:path: no password
	}
	u, err := url.Parse(raw)
	if err != nil {
		scheme, rest, _ := strings.Cut(raw, "://")
		if i := strings.LastIndex(rest, "@"); i >= 0 {
			slash := strings.Index(rest, "/")
			if slash < 0 || i < slash {
				return scheme + "://" + redactedPassword + "@" + rest[i+1:]
			}
		}
		return raw
	}
	if u.User == nil {
		return raw
	}
	if _, ok := u.User.Password(); !ok {
		return raw
	}
	u.User = url.UserPassword(u.User.Username(), redactedPassword)
	s := u.String()
	// url.String escapes '*' in userinfo; show the conventional form.
	return strings.Replace(s, ":"+url.QueryEscape(redactedPassword)+"@", ":"+redactedPassword+"@", 1)
}

// stripUserinfo returns raw without any userinfo, for comparing remotes
// whose embedded credentials may have rotated.
func stripUserinfo(raw string) string {
	if !strings.Contains(raw, "://") {
		return raw
	}
	u, err := url.Parse(raw)
	if err != nil {
		return redactURL(raw)
	}
	u.User = nil
	return u.String()
}

// redactor scrubs secrets known to one run from error text.
type redactor struct {
	replacer *strings.Replacer
}

// newRedactor builds a redactor for rawURL and any further secrets
// (passwords, passphrases read from the environment).
func newRedactor(rawURL string, secrets ...string) *redactor {
	var pairs []string
	if red := redactURL(rawURL); red != rawURL {
		pairs = append(pairs, rawURL, red)
	}
	if u, err := url.Parse(rawURL); err == nil && u.User != nil {
		if p, ok := u.User.Password(); ok {
			secrets = append(secrets, p)
			if esc := url.UserPassword("", p).String(); len(esc) > 1 {
				secrets = append(secrets, esc[1:]) // escaped form
			}
		}
	}
	for _, s := range secrets {
		if len(s) >= minSecretLen {
			pairs = append(pairs, s, redactedPassword)
		}
	}
	return &redactor{replacer: strings.NewReplacer(pairs...)}
}

// scrub returns err with every known secret replaced in its message. The
// original stays reachable through Unwrap so errors.Is keeps working.
func (r *redactor) scrub(err error) error {
	if err == nil {
		return nil
	}
	msg := r.replacer.Replace(err.Error())
	if msg == err.Error() {
		return err
	}
	return &scrubbedError{msg: msg, err: err}
}

// scrubString returns s with every known secret replaced.
func (r *redactor) scrubString(s string) string { return r.replacer.Replace(s) }

// scrubbedError carries a redacted message for an error whose own text held
// a secret.
type scrubbedError struct {
	msg string
	err error
}

func (e *scrubbedError) Error() string { return e.msg }
func (e *scrubbedError) Unwrap() error { return e.err }
