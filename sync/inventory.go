package sync

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"slices"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
)

// The inventory is a ConfigMap holding one line per object uptick applied:
//
//	GROUP KIND NAMESPACE NAME MANIFEST-HASH FIELDS-HASH
//
// with "_" for the core group and for no namespace, and "-" for a hash not
// known. Lines are sorted, so an unchanged inventory is byte-identical and
// is not written again. Over inventoryGzipAt bytes the text is gzipped into
// binaryData, keeping a large fleet under the 1 MiB object limit.
const (
	inventoryFormat  = "1"
	inventoryKey     = "objects"
	inventoryGzKey   = "objects.gz"
	inventoryGzipAt  = 256 << 10
	inventoryMaxSize = 8 << 20 // decompressed, bounding memory for a hostile inventory
	revisionKey      = "revision"
)

var configMaps = schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}

// entry is what the inventory records of one object.
type entry struct {
	// hash is the manifest hash applied; fields the hash of uptick's
	// managedFields entry in the server's answer. Either may be "".
	hash, fields string
}

// inventory is the recorded set, as read.
type inventory struct {
	namespace, name string
	entries         map[key]entry
	// resourceVersion of the ConfigMap read, "" when there was none: the
	// write is a compare-and-swap against it.
	resourceVersion string
	exists          bool
	text            string // as read, to skip a write that changes nothing
	revision        string
}

func (inv *inventory) ref() string { return inv.namespace + "/" + inv.name }

// InventoryError is an inventory that exists but cannot be read: uptick
// neither prunes by it nor overwrites it.
type InventoryError struct {
	Ref string
	Err error
}

// Error implements error.
func (e *InventoryError) Error() string {
	return fmt.Sprintf("inventory ConfigMap %s: %v", e.Ref, e.Err)
}

// Unwrap returns the cause.
func (e *InventoryError) Unwrap() error { return e.Err }

func readInventory(ctx context.Context, dyn dynamic.Interface, namespace, name string) (*inventory, error) {
	inv := &inventory{namespace: namespace, name: name, entries: map[key]entry{}}
	cm, err := dyn.Resource(configMaps).Namespace(namespace).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return inv, nil
	}
	if err != nil {
		return nil, &InventoryError{Ref: inv.ref(), Err: fmt.Errorf("reading it: %w", err)}
	}
	inv.exists = true
	inv.resourceVersion = cm.GetResourceVersion()
	text, err := inventoryText(cm)
	if err != nil {
		return nil, &InventoryError{Ref: inv.ref(), Err: err}
	}
	inv.text = text
	inv.revision, _, _ = unstructured.NestedString(cm.Object, "data", revisionKey)
	if err := parseInventory(text, inv.entries); err != nil {
		return nil, &InventoryError{Ref: inv.ref(), Err: fmt.Errorf("%w (fix it, or delete it to start over: nothing is pruned until it reads)", err)}
	}
	return inv, nil
}

func inventoryText(cm *unstructured.Unstructured) (string, error) {
	if f, _, _ := unstructured.NestedString(cm.Object, "data", "format"); f != inventoryFormat {
		return "", fmt.Errorf("not an uptick inventory (data.format is %q, want %q)", f, inventoryFormat)
	}
	if gz, ok, _ := unstructured.NestedString(cm.Object, "binaryData", inventoryGzKey); ok {
		raw, err := base64.StdEncoding.DecodeString(gz)
		if err != nil {
			return "", fmt.Errorf("binaryData.%s: %w", inventoryGzKey, err)
		}
		zr, err := gzip.NewReader(bytes.NewReader(raw))
		if err != nil {
			return "", fmt.Errorf("binaryData.%s: %w", inventoryGzKey, err)
		}
		b, err := io.ReadAll(io.LimitReader(zr, inventoryMaxSize+1))
		if err != nil {
			return "", fmt.Errorf("binaryData.%s: %w", inventoryGzKey, err)
		}
		if len(b) > inventoryMaxSize {
			return "", fmt.Errorf("binaryData.%s: larger than %d MiB", inventoryGzKey, inventoryMaxSize>>20)
		}
		return string(b), nil
	}
	text, _, _ := unstructured.NestedString(cm.Object, "data", inventoryKey)
	return text, nil
}

func parseInventory(text string, into map[key]entry) error {
	sc := bufio.NewScanner(strings.NewReader(text))
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		f := strings.Fields(line)
		if len(f) != 6 {
			return fmt.Errorf("line %d: want 6 fields (group kind namespace name hash fields), got %d", n, len(f))
		}
		k := key{group: unblank(f[0], "_"), kind: f[1], namespace: unblank(f[2], "_"), name: f[3]}
		into[k] = entry{hash: unblank(f[4], "-"), fields: unblank(f[5], "-")}
	}
	return sc.Err()
}

func unblank(s, blank string) string {
	if s == blank {
		return ""
	}
	return s
}

func blank(s, b string) string {
	if s == "" {
		return b
	}
	return s
}

func formatInventory(entries map[key]entry) string {
	lines := make([]string, 0, len(entries))
	for k, e := range entries {
		lines = append(lines, strings.Join([]string{blank(k.group, "_"), k.kind, blank(k.namespace, "_"), k.name, blank(e.hash, "-"), blank(e.fields, "-")}, " "))
	}
	slices.Sort(lines)
	if len(lines) == 0 {
		return ""
	}
	return strings.Join(lines, "\n") + "\n"
}

// maxInventoryAttempts bounds the compare-and-swap retries of an inventory
// write racing other syncs.
const maxInventoryAttempts = 5

// writeInventory stores entries with a compare-and-swap on the version
// read. When another sync wrote in between, it re-reads and keeps what the
// other recorded, less what this sync deleted, so that no object either
// applied is forgotten (and so never pruned). deleted are the keys this
// sync pruned or let go.
func writeInventory(ctx context.Context, dyn dynamic.Interface, inv *inventory, entries map[key]entry, deleted map[key]bool, revision string) (bool, error) {
	cur := inv
	for attempt := 1; ; attempt++ {
		text := formatInventory(entries)
		if cur.exists && text == cur.text && (revision == "" || revision == cur.revision) {
			return false, nil
		}
		cm := inventoryObject(inv.namespace, inv.name, text, revision)
		client := dyn.Resource(configMaps).Namespace(inv.namespace)
		var err error
		if cur.exists {
			cm.SetResourceVersion(cur.resourceVersion)
			_, err = client.Update(ctx, cm, metav1.UpdateOptions{FieldManager: FieldManager})
		} else {
			_, err = client.Create(ctx, cm, metav1.CreateOptions{FieldManager: FieldManager})
		}
		if err == nil {
			return true, nil
		}
		if !apierrors.IsConflict(err) && !apierrors.IsAlreadyExists(err) || attempt == maxInventoryAttempts {
			return false, &InventoryError{Ref: inv.ref(), Err: fmt.Errorf("writing it: %w", err)}
		}
		theirs, rerr := readInventory(ctx, dyn, inv.namespace, inv.name)
		if rerr != nil {
			return false, rerr
		}
		merged := make(map[key]entry, len(entries))
		for k, e := range theirs.entries {
			if !deleted[k] {
				merged[k] = e
			}
		}
		for k, e := range entries {
			merged[k] = e
		}
		entries, cur = merged, theirs
	}
}

func inventoryObject(namespace, name, text, revision string) *unstructured.Unstructured {
	cm := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1",
		"kind":       "ConfigMap",
		"metadata": map[string]any{
			"name":      name,
			"namespace": namespace,
			"labels":    map[string]any{"app.kubernetes.io/managed-by": "uptick"},
		},
	}}
	data := map[string]any{"format": inventoryFormat}
	if revision != "" {
		data[revisionKey] = revision
	}
	if len(text) > inventoryGzipAt {
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		_, _ = zw.Write([]byte(text))
		_ = zw.Close()
		cm.Object["binaryData"] = map[string]any{inventoryGzKey: base64.StdEncoding.EncodeToString(buf.Bytes())}
	} else {
		data[inventoryKey] = text
	}
	cm.Object["data"] = data
	return cm
}
