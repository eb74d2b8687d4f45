package sync

import (
	"reflect"

	"github.com/aymanbagabas/go-udiff"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	sigsyaml "sigs.k8s.io/yaml"
)

// comparable strips what every write changes or the server owns
// (resourceVersion, managedFields, generation, timestamps, status) and
// uptick's own hash annotation, leaving what a person compares.
func comparable(u *unstructured.Unstructured) map[string]any {
	if u == nil {
		return nil
	}
	c := u.DeepCopy()
	for _, f := range [][]string{
		{"metadata", "managedFields"}, {"metadata", "resourceVersion"}, {"metadata", "generation"},
		{"metadata", "uid"}, {"metadata", "creationTimestamp"}, {"metadata", "selfLink"}, {"status"},
	} {
		unstructured.RemoveNestedField(c.Object, f...)
	}
	if ann := c.GetAnnotations(); ann != nil {
		delete(ann, HashAnnotation)
		if len(ann) == 0 {
			unstructured.RemoveNestedField(c.Object, "metadata", "annotations")
		} else {
			c.SetAnnotations(ann)
		}
	}
	return c.Object
}

// sameObject reports whether a dry-run apply would leave the object as it
// is: the same content and the same field ownership.
func sameObject(before, after *unstructured.Unstructured) bool {
	if !reflect.DeepEqual(comparable(before), comparable(after)) {
		return false
	}
	return fieldsHash(before.GetManagedFields()) == fieldsHash(after.GetManagedFields()) &&
		before.GetAnnotations()[HashAnnotation] == after.GetAnnotations()[HashAnnotation]
}

// diffObjects renders a unified diff of the YAML of before (the live
// object, nil if none) and after (nil for a deletion).
func diffObjects(ref ObjectRef, before, after *unstructured.Unstructured) string {
	text := func(u *unstructured.Unstructured) string {
		if u == nil {
			return ""
		}
		b, err := sigsyaml.Marshal(comparable(u))
		if err != nil {
			return ""
		}
		return string(b)
	}
	name := ref.String()
	return udiff.Unified("live/"+name, "git/"+name, text(before), text(after))
}
