package sync

import (
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

func TestManifestHash(t *testing.T) {
	obj := func(mut func(m map[string]any)) *unstructured.Unstructured {
		m := map[string]any{
			"apiVersion": "v1", "kind": "ConfigMap",
			"metadata": map[string]any{"name": "a", "labels": map[string]any{"x": "1", "y": "2"}},
			"data":     map[string]any{"n": int64(1), "f": 1.5, "b": true, "z": nil, "l": []any{"a", int64(2)}},
		}
		if mut != nil {
			mut(m)
		}
		return &unstructured.Unstructured{Object: m}
	}
	base, err := manifestHash(obj(nil))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		mut  func(m map[string]any)
		same bool
	}{
		{"equal object", func(map[string]any) {}, true},
		{"own annotation ignored", func(m map[string]any) {
			m["metadata"].(map[string]any)["annotations"] = map[string]any{HashAnnotation: "v1:x"}
		}, false}, // an annotations map, even emptied, is content
		{"label value", func(m map[string]any) { m["metadata"].(map[string]any)["labels"].(map[string]any)["x"] = "2" }, false},
		{"string vs number", func(m map[string]any) { m["data"].(map[string]any)["n"] = "1" }, false},
		{"list order", func(m map[string]any) { m["data"].(map[string]any)["l"] = []any{int64(2), "a"} }, false},
		{"key moved into value", func(m map[string]any) {
			d := m["data"].(map[string]any)
			delete(d, "b")
			d["bt"] = true
		}, false},
		{"null vs absent", func(m map[string]any) { delete(m["data"].(map[string]any), "z") }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, err := manifestHash(obj(tc.mut))
			if err != nil {
				t.Fatal(err)
			}
			if (h == base) != tc.same {
				t.Errorf("hash %s vs %s: same = %v, want %v", h, base, h == base, tc.same)
			}
		})
	}
	// The annotation's value never matters.
	a, _ := manifestHash(obj(func(m map[string]any) {
		m["metadata"].(map[string]any)["annotations"] = map[string]any{HashAnnotation: "v1:x", "k": "v"}
	}))
	b, _ := manifestHash(obj(func(m map[string]any) {
		m["metadata"].(map[string]any)["annotations"] = map[string]any{HashAnnotation: "v1:other", "k": "v"}
	}))
	if a != b {
		t.Errorf("the hash depends on the hash annotation's value: %s vs %s", a, b)
	}
}
