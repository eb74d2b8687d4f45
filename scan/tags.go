package scan

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// ValidTag reports whether tag matches the OCI distribution spec's tag
// grammar, [a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}. Tags outside it (a registry
// may send newlines, ANSI escapes, anything) are dropped by the scanner
// and counted, so they never reach a commit message, a file or a terminal.
func ValidTag(tag string) bool {
	if len(tag) == 0 || len(tag) > 128 {
		return false
	}
	for i := 0; i < len(tag); i++ {
		c := tag[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '_':
		case (c == '.' || c == '-') && i > 0:
		default:
			return false
		}
	}
	return true
}

// tagList accumulates one repository's tags across pages.
type tagList struct {
	tags []string
	// dropped counts tags outside the OCI grammar.
	dropped int
	// pages counts the tag-list pages read.
	pages int
}

// page is one tag-list page as read.
type page struct {
	tags    []string
	dropped int
	// entries counts every element of "tags", valid or not.
	entries int
	// first and last are the page's first and last tag, valid or not, for
	// registries whose next page is asked for with "last".
	first, last string
}

// errPageTooLarge is returned by cappedReader past its limit.
var errPageTooLarge = errors.New("page too large")

// cappedReader fails with errPageTooLarge once more than limit bytes were
// read, so one page can never take more memory than that, whatever the
// registry sends.
type cappedReader struct {
	r     io.Reader
	limit int64
	n     int64
}

func (c *cappedReader) Read(p []byte) (int, error) {
	if c.n > c.limit {
		return 0, errPageTooLarge
	}
	if int64(len(p)) > c.limit-c.n+1 {
		p = p[:c.limit-c.n+1]
	}
	n, err := c.r.Read(p)
	c.n += int64(n)
	if c.n > c.limit {
		return n, errPageTooLarge
	}
	return n, err
}

// readPage reads one tag-list page body (at most maxBytes of it) and
// decodes it: in one go when it is the usual {"tags": [strings]}, token
// by token (decodePage) when it holds anything else there, so an odd page
// costs time, never correctness.
func readPageBody(r io.Reader, pg *page, maxBytes int64, room, maxTags int) error {
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(&cappedReader{r: r, limit: maxBytes}); err != nil {
		if errors.Is(err, errPageTooLarge) {
			return &LimitError{What: "bytes in one page", Limit: int(maxBytes), Option: "scan.limits.pageBytes"}
		}
		return fmt.Errorf("reading the tag list: %w", err)
	}
	var doc struct {
		Tags []string `json:"tags"`
	}
	if err := json.Unmarshal(buf.Bytes(), &doc); err != nil {
		return decodePage(bytes.NewReader(buf.Bytes()), pg, maxBytes, room, maxTags)
	}
	pg.entries = len(doc.Tags)
	if len(doc.Tags) > 0 {
		pg.first, pg.last = doc.Tags[0], doc.Tags[len(doc.Tags)-1]
	}
	pg.tags = doc.Tags[:0]
	for _, tag := range doc.Tags {
		if !ValidTag(tag) {
			pg.dropped++
			continue
		}
		if len(pg.tags) >= room {
			return &LimitError{What: "tags", Limit: maxTags, Option: "scan.limits.tags"}
		}
		pg.tags = append(pg.tags, tag)
	}
	return nil
}

// decodePage streams one tag-list page ({"name": ..., "tags": [...]}) from
// r without holding the body: each tag is checked against the OCI grammar
// as it is read, other members (GCR's "manifest" map) are skipped token by
// token, and at most room valid tags are kept.
func decodePage(r io.Reader, pg *page, maxBytes int64, room, maxTags int) error {
	dec := json.NewDecoder(&cappedReader{r: r, limit: maxBytes})
	fail := func(err error) error {
		if errors.Is(err, errPageTooLarge) {
			return &LimitError{What: "bytes in one page", Limit: int(maxBytes), Option: "scan.limits.pageBytes"}
		}
		var se *json.SyntaxError
		if errors.As(err, &se) {
			return fmt.Errorf("the tag list is not valid JSON (at byte %d)", se.Offset)
		}
		if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
			return errors.New("the tag list ends before its JSON does")
		}
		var le *LimitError
		if errors.As(err, &le) {
			return err
		}
		return fmt.Errorf("reading the tag list: %w", err)
	}
	if err := expectDelim(dec, '{'); err != nil {
		return fail(err)
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return fail(err)
		}
		key, _ := tok.(string)
		if key != "tags" {
			if err := skipValue(dec); err != nil {
				return fail(err)
			}
			continue
		}
		tok, err = dec.Token()
		if err != nil {
			return fail(err)
		}
		if tok == nil { // "tags": null, as some registries send for none
			continue
		}
		if d, ok := tok.(json.Delim); !ok || d != '[' {
			return fail(errors.New(`"tags" is not a list`))
		}
		for dec.More() {
			tok, err := dec.Token()
			if err != nil {
				return fail(err)
			}
			pg.entries++
			tag, ok := tok.(string)
			if !ok {
				pg.dropped++
				if d, isDelim := tok.(json.Delim); isDelim && (d == '{' || d == '[') {
					if err := skipRest(dec); err != nil {
						return fail(err)
					}
				}
				continue
			}
			if pg.entries == 1 {
				pg.first = tag
			}
			pg.last = tag
			if !ValidTag(tag) {
				pg.dropped++
				continue
			}
			if len(pg.tags) >= room {
				return &LimitError{What: "tags", Limit: maxTags, Option: "scan.limits.tags"}
			}
			pg.tags = append(pg.tags, tag)
		}
		if _, err := dec.Token(); err != nil { // ']'
			return fail(err)
		}
	}
	if _, err := dec.Token(); err != nil { // '}'
		return fail(err)
	}
	return nil
}

func expectDelim(dec *json.Decoder, want json.Delim) error {
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	if d, ok := tok.(json.Delim); !ok || d != want {
		return fmt.Errorf("the tag list is not a JSON object")
	}
	return nil
}

// skipValue reads and discards one JSON value.
func skipValue(dec *json.Decoder) error {
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	if d, ok := tok.(json.Delim); ok && (d == '{' || d == '[') {
		return skipRest(dec)
	}
	return nil
}

// skipRest discards the rest of an object or array whose opening
// delimiter was just read.
func skipRest(dec *json.Decoder) error {
	for depth := 1; depth > 0; {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		if d, ok := tok.(json.Delim); ok {
			switch d {
			case '{', '[':
				depth++
			case '}', ']':
				depth--
			}
		}
	}
	return nil
}
