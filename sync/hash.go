package sync

import (
	"bufio"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// Annotations uptick reads and writes.
const (
	// HashAnnotation carries the hash of the manifest as uptick last
	// applied it. It is applied with the object, so it is one of uptick's
	// own fields: anyone changing it takes it from uptick's entry.
	HashAnnotation = "uptick.dev/applied-hash"
	// PruneAnnotation set to PruneDisabled keeps an object when it leaves
	// git.
	PruneAnnotation = "uptick.dev/prune"
	// PruneDisabled is PruneAnnotation's value that keeps an object.
	PruneDisabled = "disabled"
)

// hashVersion changes when what manifestHash covers changes, so that every
// object is applied again once rather than judged by an old rule.
const hashVersion = "v1"

// manifestHash hashes the object as it will be applied, without the hash
// annotation itself, by a canonical walk of its content (map keys sorted,
// every value tagged with its type), so equal objects hash equally.
func manifestHash(obj *unstructured.Unstructured) (string, error) {
	h := sha256.New()
	w := bufio.NewWriterSize(h, 4096)
	w.WriteString(hashVersion + "\n")
	if err := hashValue(w, obj.Object, 0); err != nil {
		return "", err
	}
	if err := w.Flush(); err != nil {
		return "", err
	}
	return hashVersion + ":" + hex.EncodeToString(h.Sum(nil)[:16]), nil
}

// maxHashDepth bounds the walk (manifests come from files anyone may edit).
const maxHashDepth = 100

// hashValue writes v canonically; at depth 2 under metadata.annotations it
// leaves out HashAnnotation.
func hashValue(w *bufio.Writer, v any, depth int) error {
	if depth > maxHashDepth {
		return fmt.Errorf("the object is nested more than %d levels deep", maxHashDepth)
	}
	writeLen := func(tag byte, n int) {
		var b [9]byte
		b[0] = tag
		binary.BigEndian.PutUint64(b[1:], uint64(n))
		w.Write(b[:])
	}
	switch x := v.(type) {
	case nil:
		w.WriteByte('n')
	case bool:
		if x {
			w.WriteByte('t')
		} else {
			w.WriteByte('f')
		}
	case string:
		writeLen('s', len(x))
		w.WriteString(x)
	case int64:
		writeLen('i', int(x))
	case float64:
		writeLen('d', int(math.Float64bits(x)))
	case []any:
		writeLen('l', len(x))
		for _, e := range x {
			if err := hashValue(w, e, depth+1); err != nil {
				return err
			}
		}
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		writeLen('m', len(keys))
		for _, k := range keys {
			val := x[k]
			if k == "annotations" && depth == 1 {
				if ann, ok := val.(map[string]any); ok {
					if _, has := ann[HashAnnotation]; has {
						c := maps.Clone(ann)
						delete(c, HashAnnotation)
						val = c
					}
				}
			}
			writeLen('k', len(k))
			w.WriteString(k)
			if err := hashValue(w, val, depth+1); err != nil {
				return err
			}
		}
	default:
		// Anything else (int from a hand-built object) through JSON.
		b, err := json.Marshal(x)
		if err != nil {
			return err
		}
		writeLen('j', len(b))
		w.Write(b)
	}
	return nil
}

// ownEntry returns uptick's own apply entry among an object's managed
// fields (manager FieldManager, operation Apply, main resource).
func ownEntry(entries []metav1.ManagedFieldsEntry) (metav1.ManagedFieldsEntry, bool) {
	for _, e := range entries {
		if e.Manager == FieldManager && e.Operation == metav1.ManagedFieldsOperationApply && e.Subresource == "" {
			return e, true
		}
	}
	return metav1.ManagedFieldsEntry{}, false
}

// fieldsHash hashes uptick's own entry: the API version it applied with
// and the set of fields it owns. "" when there is no such entry.
func fieldsHash(entries []metav1.ManagedFieldsEntry) string {
	e, ok := ownEntry(entries)
	if !ok || e.FieldsV1 == nil {
		return ""
	}
	h := sha256.New()
	h.Write([]byte(e.APIVersion + "\n"))
	h.Write(e.FieldsV1.Raw)
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// changedBy names the other managers that wrote the object at or after
// uptick's last apply, for a drift message.
func changedBy(entries []metav1.ManagedFieldsEntry) []string {
	own, ok := ownEntry(entries)
	var out []string
	for _, e := range entries {
		if e.Manager == FieldManager && e.Operation == metav1.ManagedFieldsOperationApply {
			continue
		}
		if ok && own.Time != nil && e.Time != nil && e.Time.Before(own.Time) {
			continue
		}
		name := e.Manager
		if e.Subresource != "" {
			name += " (" + e.Subresource + ")"
		}
		if name != "" && !slices.Contains(out, name) {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}

// driftReason says what changed a live object outside git.
func driftReason(entries []metav1.ManagedFieldsEntry) string {
	if by := changedBy(entries); len(by) > 0 {
		return "drift: changed outside git by " + strings.Join(by, ", ")
	}
	return "drift: changed outside git"
}
