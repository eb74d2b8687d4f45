package sync

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
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
// annotation itself. encoding/json sorts map keys, so equal objects hash
// equally.
func manifestHash(obj *unstructured.Unstructured) (string, error) {
	c := obj.DeepCopy()
	ann := c.GetAnnotations()
	delete(ann, HashAnnotation)
	if len(ann) == 0 {
		unstructured.RemoveNestedField(c.Object, "metadata", "annotations")
	} else {
		c.SetAnnotations(ann)
	}
	b, err := json.Marshal(c.Object)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(append([]byte(hashVersion+"\n"), b...))
	return hashVersion + ":" + hex.EncodeToString(sum[:16]), nil
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
