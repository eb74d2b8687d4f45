package update

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
)

// markerKey is the JSON key of a Flux setter marker; its quoted form is the
// cheap screen applied to every file before parsing.
const markerKey = "$imagepolicy"

var markerScreen = []byte(`"` + markerKey + `"`)

// errNotMarker means a comment is not a marker at all (as opposed to a
// malformed marker, which is reported).
var errNotMarker = errors.New("not an image policy marker")

// marker is a parsed `{"$imagepolicy": "..."}` comment.
type marker struct {
	Policy PolicyRef
	Field  Field
}

// parseMarkerComment parses one comment line, with or without the leading
// '#': its trimmed text must be a JSON object whose "$imagepolicy" member is a
// string. It returns errNotMarker for comments that are not markers; a
// comment that starts like a marker (an object naming "$imagepolicy") but is
// not valid JSON, or has words after it, is a malformed marker, reported so
// that a typo never silently stops an image from being updated.
func parseMarkerComment(c string) (marker, error) {
	c = strings.TrimSpace(c)
	c = strings.TrimPrefix(c, "#")
	c = strings.TrimSpace(c)
	if !strings.HasPrefix(c, "{") || !strings.Contains(c, markerKey) {
		return marker{}, errNotMarker
	}
	if v, ok := plainMarker(c); ok {
		return parseMarkerValue(v)
	}
	return jsonMarker(c)
}

// jsonMarker is parseMarkerComment's reading of a trimmed comment that
// starts with "{" and holds the marker's key, by the JSON decoder.
func jsonMarker(c string) (marker, error) {
	var obj map[string]json.RawMessage
	dec := json.NewDecoder(strings.NewReader(c))
	if err := dec.Decode(&obj); err != nil {
		if !bytes.Contains([]byte(c), markerScreen) {
			return marker{}, errNotMarker
		}
		return marker{}, fmt.Errorf("malformed marker %q: not a JSON object (%s)", c, jsonReason(err))
	}
	if dec.More() || dec.InputOffset() < int64(len(c)) {
		return marker{}, fmt.Errorf("malformed marker %q: unexpected text after the closing brace", c)
	}
	raw, ok := obj[markerKey]
	if !ok {
		return marker{}, errNotMarker
	}
	var v string
	if err := json.Unmarshal(raw, &v); err != nil {
		return marker{}, fmt.Errorf("marker value %s is not a string", bytes.TrimSpace(raw))
	}
	return parseMarkerValue(v)
}

// plainMarker reads the usual form of a marker, {"$imagepolicy": "v"}
// with spaces only and v printable ASCII without escapes, as the JSON
// decoder would, at a fraction of its cost; false: decode it.
func plainMarker(c string) (string, bool) {
	rest, ok := strings.CutPrefix(c, "{")
	if !ok {
		return "", false
	}
	rest = strings.TrimLeft(rest, " ")
	if rest, ok = strings.CutPrefix(rest, `"`+markerKey+`"`); !ok {
		return "", false
	}
	rest = strings.TrimLeft(rest, " ")
	if rest, ok = strings.CutPrefix(rest, ":"); !ok {
		return "", false
	}
	rest = strings.TrimLeft(rest, " ")
	if rest, ok = strings.CutPrefix(rest, `"`); !ok {
		return "", false
	}
	end := strings.IndexByte(rest, '"')
	if end < 0 {
		return "", false
	}
	v := rest[:end]
	for i := 0; i < len(v); i++ {
		if v[i] < 0x20 || v[i] > 0x7e || v[i] == '\\' {
			return "", false
		}
	}
	if strings.TrimLeft(rest[end+1:], " ") != "}" {
		return "", false
	}
	return v, true
}

// jsonReason turns encoding/json's message into a short reason.
func jsonReason(err error) string {
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return "unclosed"
	}
	return strings.TrimPrefix(err.Error(), "invalid character ")
}

// parseMarkerValue parses the marker's policy string: "name", "ns:name",
// "ns:name:field" or "name:field", where field is tag, name or digest.
//
// With two parts the rule is: if the second part is one of the field names it
// is a field suffix on a namespace-less policy name ("podinfo:tag"), otherwise
// the parts are namespace and name ("flux-system:podinfo"). A policy that is
// itself named "tag", "name" or "digest" therefore cannot be referred to by
// "ns:tag" for its whole image; such names are best avoided.
func parseMarkerValue(v string) (marker, error) {
	parts := strings.Split(v, ":")
	for _, p := range parts {
		if p == "" {
			return marker{}, fmt.Errorf("marker %q has an empty part", v)
		}
	}
	switch len(parts) {
	case 1:
		return marker{Policy: PolicyRef{Name: parts[0]}}, nil
	case 2:
		if f, ok := parseField(parts[1]); ok {
			return marker{Policy: PolicyRef{Name: parts[0]}, Field: f}, nil
		}
		return marker{Policy: PolicyRef{Namespace: parts[0], Name: parts[1]}}, nil
	case 3:
		f, ok := parseField(parts[2])
		if !ok {
			return marker{}, fmt.Errorf("marker %q: unknown field %q (want tag, name or digest)", v, parts[2])
		}
		return marker{Policy: PolicyRef{Namespace: parts[0], Name: parts[1]}, Field: f}, nil
	}
	return marker{}, fmt.Errorf("marker %q has too many parts", v)
}

func parseField(s string) (Field, bool) {
	switch Field(s) {
	case FieldName, FieldTag, FieldDigest:
		return Field(s), true
	}
	return "", false
}

// lookup finds the image for a marker's policy: "ns:name" matches that key,
// else the key with no namespace; "name" matches the key with no namespace,
// else the only key with that name in any namespace. It returns the key it
// matched, so callers can attribute the change to their own image.
func lookup(images map[PolicyRef]Image, ref PolicyRef) (PolicyRef, Image, string) {
	if img, ok := images[ref]; ok {
		return ref, img, ""
	}
	if ref.Namespace != "" {
		key := PolicyRef{Name: ref.Name}
		if img, ok := images[key]; ok {
			return key, img, ""
		}
		return PolicyRef{}, Image{}, fmt.Sprintf("no image policy %q", ref.String())
	}
	var found []PolicyRef
	var img Image
	for k, v := range images {
		if k.Name == ref.Name {
			found = append(found, k)
			img = v
		}
	}
	switch len(found) {
	case 0:
		return PolicyRef{}, Image{}, fmt.Sprintf("no image policy %q", ref.String())
	case 1:
		return found[0], img, ""
	}
	names := make([]string, len(found))
	for i, k := range found {
		names[i] = k.String()
	}
	slices.Sort(names)
	return PolicyRef{}, Image{}, fmt.Sprintf("image policy %q is ambiguous: %s", ref.String(), strings.Join(names, ", "))
}

// screenTail is the marker screen without its opening quote: '$' is rare
// in YAML where '"' is common, so a search for it skips ahead in long
// strides instead of stopping at every quoted value.
var screenTail = markerScreen[1:]

// hasScreen reports whether b holds markerScreen, as bytes.Contains does.
func hasScreen(b []byte) bool {
	for {
		i := bytes.Index(b, screenTail)
		if i < 0 {
			return false
		}
		if i > 0 && b[i-1] == '"' {
			return true
		}
		b = b[i+1:]
	}
}
