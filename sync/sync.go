package sync

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"runtime"
	"slices"
	"strings"
	gosync "sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/rest"
)

// The kinds applied in the first stage and pruned last.
var (
	crdKind       = schema.GroupKind{Group: "apiextensions.k8s.io", Kind: "CustomResourceDefinition"}
	namespaceKind = schema.GroupKind{Kind: "Namespace"}
)

// listPageSize is the page size of every LIST.
const listPageSize = 500

// item is one manifest on its way through a sync.
type item struct {
	m      Manifest
	obj    *unstructured.Unstructured // the body to apply, hash annotation set
	ref    ObjectRef
	gk     schema.GroupKind
	hash   string
	out    *Object
	apply  bool   // needs an apply
	drift  bool   // the apply puts back a change made outside git
	reason string // why it needs an apply
	// mapping is nil until the kind is known to the server (a custom
	// resource whose CRD this sync creates is mapped after the first stage).
	mapping *meta.RESTMapping
	fields  string // hash of uptick's entry after the apply, or as recorded
	ok      bool   // applied or found unchanged
}

func (it *item) key() key { return it.ref.key() }

// listKey is one LIST: a resource in a namespace ("" for all, or
// cluster-scoped). The version does not matter: only metadata is listed.
type listKey struct {
	group, resource, namespace string
}

type run struct {
	o       options
	res     *Result
	dyn     dynamic.Interface
	meta    metadata.Interface
	http    *http.Client // authenticated, for discovery
	server  *url.URL
	mapper  *kindMapper
	items   []*item
	byKey   map[key]*item
	inv     *inventory
	mu      gosync.Mutex // guards live and listed
	live    map[key]*metav1.PartialObjectMetadata
	unknown map[key]error // objects whose GET failed for another reason than NotFound
	listed  map[listKey]bool
	// objs are the items' outcomes, pruned the prune candidates'; Run
	// reports them once the items were decided on (reported).
	objs, pruned []Object
	reported     bool
	counter      *counter
	// defaultNamespace is where namespaced manifests without a namespace go.
	defaultNamespace string
	// crdKinds are the kinds the manifests' CRDs define.
	crdKinds map[schema.GroupKind]bool
}

// Run applies manifests to the cluster cfg reaches and returns what it did.
// It never gives up on the first failed object: each object succeeds or
// fails alone; a failure that stops the sync (the cluster unreachable, the
// inventory unreadable, duplicate manifests) is Result.Fatal, and nothing
// after it ran. defaultNamespace is where namespaced objects without a
// namespace go ("" for "default").
func Run(ctx context.Context, cfg *rest.Config, manifests []Manifest, defaultNamespace string, opts ...Option) *Result {
	start := time.Now()
	o := defaults()
	res := &Result{}
	defer func() { res.Durations.Total = time.Since(start) }()
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			res.Fatal = err
			return res
		}
	}
	res.DryRun, res.Prune, res.Wait = o.dryRun, o.prune, o.wait
	res.Inventory = o.inventoryNamespace + "/" + o.inventoryName
	if defaultNamespace == "" {
		defaultNamespace = metav1.NamespaceDefault
	}
	r := &run{o: o, res: res, byKey: map[key]*item{}, live: map[key]*metav1.PartialObjectMetadata{}, unknown: map[key]error{}, listed: map[listKey]bool{}, defaultNamespace: defaultNamespace}
	if err := r.clients(cfg); err != nil {
		res.Fatal = err
		return res
	}
	defer func() { res.Requests = r.counter.snapshot() }()
	if err := r.run(ctx, manifests); err != nil {
		res.Fatal = err
	}
	if r.reported {
		res.Objects = append(r.objs, r.pruned...)
	}
	return res
}

func (r *run) clients(cfg *rest.Config) error {
	c := rest.CopyConfig(cfg)
	r.counter = &counter{}
	c.Wrap(func(rt http.RoundTripper) http.RoundTripper { return &countingTransport{rt: rt, c: r.counter} })
	var err error
	if r.dyn, err = dynamic.NewForConfig(c); err != nil {
		return &TargetError{fmt.Errorf("client: %w", err)}
	}
	if r.meta, err = metadata.NewForConfig(c); err != nil {
		return &TargetError{fmt.Errorf("client: %w", err)}
	}
	if r.http, err = rest.HTTPClientFor(c); err != nil {
		return &TargetError{fmt.Errorf("client: %w", err)}
	}
	if r.server, _, err = rest.DefaultServerUrlFor(c); err != nil {
		return &TargetError{fmt.Errorf("server address: %w", err)}
	}
	return nil
}

func (r *run) run(ctx context.Context, manifests []Manifest) error {
	readStart := time.Now()
	if err := r.discover(ctx); err != nil {
		return err
	}
	if err := r.prepare(manifests); err != nil {
		return err
	}
	inv, err := readInventory(ctx, r.dyn, r.o.inventoryNamespace, r.o.inventoryName)
	if err != nil {
		return err
	}
	r.inv = inv
	invKey := key{kind: "ConfigMap", namespace: inv.namespace, name: inv.name}
	if it, ok := r.byKey[invKey]; ok {
		return &BuildError{File: it.m.Source, Err: fmt.Errorf("ConfigMap %s is uptick's inventory and cannot also be a manifest (choose another --inventory)", inv.ref())}
	}
	if len(r.items) == 0 && len(inv.entries) > 0 && r.o.prune {
		return &BuildError{Err: fmt.Errorf("no manifests found, yet the inventory %s records %d objects: refusing to prune them all (if that is meant, delete them and the inventory by hand)", inv.ref(), len(inv.entries))}
	}
	if !inv.exists && !r.o.dryRun {
		if err := r.checkInventoryNamespace(ctx); err != nil {
			return err
		}
	}
	r.listLive(ctx, r.items, r.inv.entries)
	for _, it := range r.items {
		if it.mapping != nil {
			r.decide(it)
		}
	}
	r.res.Durations.Read = time.Since(readStart)
	r.reported = true

	applyStart := time.Now()
	var first, rest []*item
	for _, it := range r.items {
		if it.gk == crdKind || it.gk == namespaceKind {
			first = append(first, it)
		} else {
			rest = append(rest, it)
		}
	}
	r.applyAll(ctx, first)
	r.establish(ctx, first)
	if r.needRediscovery(first) {
		if err := r.discover(ctx); err != nil {
			return err
		}
		var late []*item
		for _, it := range rest {
			if it.mapping == nil && it.out.Action == "" {
				old := it.key()
				if err := r.mapItem(it); err == nil {
					late = append(late, it)
				}
				if it.key() != old {
					delete(r.byKey, old)
					r.byKey[it.key()] = it
				}
			}
		}
		r.listLive(ctx, late, nil)
		for _, it := range late {
			r.decide(it)
		}
	}
	for _, it := range rest {
		switch {
		case it.mapping != nil || it.out.Action != "":
		case r.o.dryRun && r.crdKinds[it.gk]:
			// Its CRD is not created in a dry run, so the server cannot
			// check it yet.
			it.out.Action = Created
			it.out.Reason = "its CustomResourceDefinition is created first (not checked by the server in a dry run)"
		default:
			r.unmapped(it)
		}
	}
	r.applyAll(ctx, rest)
	r.res.Durations.Apply = time.Since(applyStart)

	pruneStart := time.Now()
	kept, deleted := r.prune(ctx)
	r.res.Durations.Prune = time.Since(pruneStart)

	if !r.o.dryRun {
		entries := map[key]entry{}
		for k, e := range kept {
			entries[k] = e
		}
		for _, it := range r.items {
			switch {
			case it.ok:
				entries[it.key()] = entry{hash: it.hash, fields: it.fields}
			case hasEntry(r.inv.entries, it.key()):
				// Failed, but applied by an earlier sync: keep tracking it,
				// with no fields hash so the next sync applies it again.
				entries[it.key()] = entry{hash: r.inv.entries[it.key()].hash}
			}
		}
		if _, err := writeInventory(ctx, r.dyn, r.inv, entries, deleted, r.o.revision); err != nil {
			return err
		}
	}

	if r.o.wait > 0 && !r.o.dryRun {
		waitStart := time.Now()
		r.waitHealthy(ctx)
		r.res.Durations.Wait = time.Since(waitStart)
	}
	return nil
}

func hasEntry(m map[key]entry, k key) bool {
	_, ok := m[k]
	return ok
}

// discover (re)builds the kind mapper from the server's discovery
// documents: two requests with aggregated discovery.
func (r *run) discover(ctx context.Context) error {
	m, err := discoverKinds(ctx, r.http, r.server)
	if err != nil {
		return fmt.Errorf("reading the API server's kinds (discovery): %w", err)
	}
	r.mapper = m
	return nil
}

// prepare turns manifests into items: kind mapped, namespace defaulted or
// cleared, hash computed, duplicates refused.
func (r *run) prepare(manifests []Manifest) error {
	crdKinds := map[schema.GroupKind]bool{}
	r.crdKinds = crdKinds
	for _, m := range manifests {
		if m.Object.GroupVersionKind().GroupKind() == crdKind {
			g, _, _ := unstructured.NestedString(m.Object.Object, "spec", "group")
			k, _, _ := unstructured.NestedString(m.Object.Object, "spec", "names", "kind")
			crdKinds[schema.GroupKind{Group: g, Kind: k}] = true
		}
	}
	r.items = make([]*item, 0, len(manifests))
	r.objs = make([]Object, len(manifests))
	// Copying, mapping and hashing 1,000 objects is a good part of a
	// no-op sync's CPU: spread it over the cores, then check in order.
	all := make([]*item, len(manifests))
	errs := make([]error, len(manifests))
	var g errgroup.Group
	g.SetLimit(runtime.GOMAXPROCS(0))
	for i, m := range manifests {
		g.Go(func() error {
			if err := checkObject(m.Object); err != nil {
				errs[i] = &BuildError{File: m.Source, Err: err}
				return nil
			}
			obj := m.Object.DeepCopy()
			for _, f := range [][]string{{"metadata", "resourceVersion"}, {"metadata", "uid"}, {"metadata", "managedFields"}, {"metadata", "creationTimestamp"}, {"metadata", "selfLink"}, {"metadata", "generation"}} {
				unstructured.RemoveNestedField(obj.Object, f...)
			}
			gvk := obj.GroupVersionKind()
			it := &item{m: m, obj: obj, gk: gvk.GroupKind(), out: &r.objs[i]}
			it.ref = ObjectRef{Group: gvk.Group, Version: gvk.Version, Kind: gvk.Kind, Namespace: obj.GetNamespace(), Name: obj.GetName()}
			it.out.Source = m.Source
			if err := r.mapItem(it); err != nil && !crdKinds[it.gk] {
				r.unmapped(it)
			} else if err != nil && it.ref.Namespace == "" {
				// A custom resource of a CRD this sync creates: assume it
				// is namespaced until discovery says otherwise.
				it.ref.Namespace = r.defaultNamespace
				it.obj.SetNamespace(r.defaultNamespace)
			}
			it.out.ObjectRef = it.ref
			all[i] = it
			return nil
		})
	}
	_ = g.Wait()
	var dups []string
	for i, it := range all {
		if errs[i] != nil {
			return errs[i]
		}
		if prev, dup := r.byKey[it.key()]; dup {
			dups = append(dups, fmt.Sprintf("%s is in both %s and %s", it.ref, prev.m.Source, it.m.Source))
			continue
		}
		r.byKey[it.key()] = it
		r.items = append(r.items, it)
	}
	if len(dups) > 0 {
		return &BuildError{Err: fmt.Errorf("the same object is declared twice: %s", strings.Join(dups, "; "))}
	}
	return nil
}

// mapItem finds the item's resource and scope and fixes its namespace and
// hash accordingly.
func (r *run) mapItem(it *item) error {
	gvk := it.obj.GroupVersionKind()
	mapping, err := r.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if err != nil {
		return err
	}
	it.mapping = mapping
	if mapping.Scope.Name() == meta.RESTScopeNameNamespace {
		if it.obj.GetNamespace() == "" {
			it.obj.SetNamespace(r.defaultNamespace)
		}
	} else {
		it.obj.SetNamespace("")
	}
	it.ref.Namespace = it.obj.GetNamespace()
	it.out.ObjectRef = it.ref
	h, err := manifestHash(it.obj)
	if err != nil {
		return err
	}
	it.hash = h
	ann := it.obj.GetAnnotations()
	if ann == nil {
		ann = map[string]string{}
	}
	ann[HashAnnotation] = h
	it.obj.SetAnnotations(ann)
	return nil
}

func (r *run) unmapped(it *item) {
	it.out.Action = Failed
	it.out.Reason = fmt.Sprintf("the cluster does not serve kind %s in apiVersion %s (is its CustomResourceDefinition installed?)", it.ref.Kind, it.obj.GetAPIVersion())
	it.out.Err = errors.New(it.out.Reason)
}

// checkInventoryNamespace makes sure the first inventory write can
// succeed before anything is applied: its namespace exists, or this sync
// creates it.
func (r *run) checkInventoryNamespace(ctx context.Context) error {
	ns := r.o.inventoryNamespace
	if _, ok := r.byKey[key{kind: "Namespace", name: ns}]; ok {
		return nil
	}
	_, err := r.meta.Resource(schema.GroupVersionResource{Version: "v1", Resource: "namespaces"}).Get(ctx, ns, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		return &TargetError{fmt.Errorf("inventory %s: namespace %q does not exist and is not among the manifests", r.inv.ref(), ns)}
	case apierrors.IsForbidden(err):
		return nil // the write will say what is wrong, if anything
	case err != nil:
		return fmt.Errorf("inventory %s: checking its namespace: %w", r.inv.ref(), err)
	}
	return nil
}

// listLive LISTs (metadata only) every resource and namespace the items
// and inventory entries name, once each, with bounded concurrency. A LIST
// the caller may not do falls back to a GET per object.
func (r *run) listLive(ctx context.Context, items []*item, entries map[key]entry) {
	type want struct {
		gvr  schema.GroupVersionResource
		keys []key
	}
	wants := map[listKey]*want{}
	add := func(gvr schema.GroupVersionResource, ns string, k key) {
		lk := listKey{gvr.Group, gvr.Resource, ns}
		if r.listed[lk] {
			return
		}
		w := wants[lk]
		if w == nil {
			w = &want{gvr: gvr}
			wants[lk] = w
		}
		w.keys = append(w.keys, k)
	}
	for _, it := range items {
		if it.mapping != nil {
			add(it.mapping.Resource, it.ref.Namespace, it.key())
		}
	}
	for k := range entries {
		if m, err := r.mapper.RESTMapping(schema.GroupKind{Group: k.group, Kind: k.kind}); err == nil {
			add(m.Resource, k.namespace, k)
		}
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(r.o.concurrency)
	for lk, w := range wants {
		g.Go(func() error {
			r.listOne(gctx, lk, w.gvr, w.keys)
			return nil
		})
	}
	_ = g.Wait()
}

func (r *run) listOne(ctx context.Context, lk listKey, gvr schema.GroupVersionResource, keys []key) {
	client := r.meta.Resource(gvr)
	var found []*metav1.PartialObjectMetadata
	var err error
	if lk.namespace != "" {
		found, err = listAll(ctx, client.Namespace(lk.namespace))
	} else {
		found, err = listAll(ctx, client)
	}
	if err != nil {
		// Fall back to one GET per object (a LIST may be forbidden where a
		// GET is not); a failing GET leaves the object unknown, so it is
		// applied, which reports the real error.
		r.mu.Lock()
		r.listed[lk] = true
		r.mu.Unlock()
		for _, k := range keys {
			var obj *metav1.PartialObjectMetadata
			var gerr error
			if k.namespace != "" {
				obj, gerr = client.Namespace(k.namespace).Get(ctx, k.name, metav1.GetOptions{})
			} else {
				obj, gerr = client.Get(ctx, k.name, metav1.GetOptions{})
			}
			r.mu.Lock()
			switch {
			case gerr == nil:
				r.live[k] = obj
			case !apierrors.IsNotFound(gerr):
				r.unknown[k] = gerr
			}
			r.mu.Unlock()
		}
		return
	}
	// Items of a metadata LIST carry no kind of their own: every key of one
	// listKey names the same kind (one resource of one group).
	kind := keys[0].kind
	r.mu.Lock()
	defer r.mu.Unlock()
	r.listed[lk] = true
	for _, obj := range found {
		r.live[key{group: gvr.Group, kind: kind, namespace: obj.Namespace, name: obj.Name}] = obj
	}
}

func listAll(ctx context.Context, client metadata.ResourceInterface) ([]*metav1.PartialObjectMetadata, error) {
	var out []*metav1.PartialObjectMetadata
	opts := metav1.ListOptions{Limit: listPageSize}
	for {
		list, err := client.List(ctx, opts)
		if err != nil {
			return nil, err
		}
		for i := range list.Items {
			out = append(out, &list.Items[i])
		}
		if list.Continue == "" {
			return out, nil
		}
		opts.Continue = list.Continue
	}
}

// decide says whether an item needs an apply, from the LIST alone: see the
// package doc for why an object found unchanged here is unchanged.
func (r *run) decide(it *item) {
	if it.out.Action != "" {
		return
	}
	live := r.live[it.key()]
	rec, recorded := r.inv.entries[it.key()]
	if live == nil {
		it.apply = true
		if recorded {
			it.drift, it.reason = true, "drift: deleted outside git"
		}
		return
	}
	own := fieldsHash(live.ManagedFields)
	switch got := live.Annotations[HashAnnotation]; {
	case got == "" && own == "":
		it.apply, it.reason = true, "not applied by uptick before"
	case got != it.hash && recorded && rec.hash == it.hash:
		// Git did not change since the last apply, the annotation did.
		it.apply, it.drift, it.reason = true, true, driftReason(live.ManagedFields)
	case got != it.hash:
		it.apply, it.reason = true, "changed in git"
	case own == "":
		it.apply, it.drift, it.reason = true, true, "drift: uptick's fields were taken over or reset by another writer"
	case !recorded || rec.fields == "" || rec.hash != it.hash:
		it.apply, it.reason = true, "not recorded in the inventory"
	case rec.fields != own:
		it.apply, it.drift, it.reason = true, true, driftReason(live.ManagedFields)
	default:
		it.ok, it.fields = true, own
		it.out.Action = Unchanged
	}
}

// applyAll applies the items that need it, at most concurrency at once.
func (r *run) applyAll(ctx context.Context, items []*item) {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(r.o.concurrency)
	for _, it := range items {
		if it.out.Action != "" || it.mapping == nil {
			continue
		}
		g.Go(func() error {
			r.applyOne(gctx, it)
			return nil
		})
	}
	_ = g.Wait()
}

func (r *run) resource(it *item) dynamic.ResourceInterface {
	c := r.dyn.Resource(it.mapping.Resource)
	if it.mapping.Scope.Name() == meta.RESTScopeNameNamespace {
		return c.Namespace(it.ref.Namespace)
	}
	return c
}

func (r *run) applyOne(ctx context.Context, it *item) {
	live := r.live[it.key()]
	var before *unstructured.Unstructured
	if live != nil && (r.o.dryRun || r.o.diff) {
		b, err := r.resource(it).Get(ctx, it.ref.Name, metav1.GetOptions{})
		if err == nil {
			before = b
		}
	}
	opts := metav1.ApplyOptions{FieldManager: FieldManager, Force: true}
	if r.o.dryRun {
		opts.DryRun = []string{metav1.DryRunAll}
	}
	after, err := r.resource(it).Apply(ctx, it.ref.Name, it.obj, opts)
	recreated := ""
	if err != nil && isImmutable(err) && live != nil {
		if !r.o.force {
			r.fail(it, fmt.Errorf("the change touches an immutable field (%s); set force: true (or --force) to delete and recreate the object", apiMessage(err)))
			return
		}
		recreated = apiMessage(err)
		if r.o.dryRun {
			it.out.Action, it.ok = Configured, true
			it.out.Reason = "would be deleted and recreated (force): " + recreated
			it.out.Drift = it.drift
			return
		}
		after, err = r.recreate(ctx, it, live)
	}
	if err != nil {
		r.fail(it, errors.New(apiMessage(err)))
		return
	}
	it.ok = true
	it.fields = fieldsHash(after.GetManagedFields())
	switch {
	case recreated != "":
		it.out.Action = Configured
		it.out.Reason = "deleted and recreated (force): " + recreated
	case live == nil:
		it.out.Action = Created
		it.out.Reason = it.reason
		it.out.Drift = it.drift
	case r.o.dryRun && before != nil && sameObject(before, after):
		it.out.Action = Unchanged
	case !r.o.dryRun && after.GetResourceVersion() == live.ResourceVersion:
		it.out.Action = Unchanged
	default:
		it.out.Action = Configured
		it.out.Reason = it.reason
		it.out.Drift = it.drift
	}
	if it.out.Action == Unchanged {
		it.out.Reason = ""
	}
	if (r.o.dryRun || r.o.diff) && it.out.Action != Unchanged {
		it.out.Diff = diffObjects(it.ref, before, after)
	}
	r.o.log.Debug("applied", "object", it.ref.String(), "action", it.out.Action)
}

func (r *run) fail(it *item, err error) {
	it.out.Action = Failed
	it.out.Err = err
	it.out.Reason = err.Error()
}

// isImmutable reports an apply refused because it changes a field the
// API server never lets change (a Job's template, a Service's clusterIP, a
// Deployment's selector).
func isImmutable(err error) bool {
	if !apierrors.IsInvalid(err) {
		return false
	}
	msg := strings.ToLower(err.Error())
	return strings.Contains(msg, "immutable") || strings.Contains(msg, "may not change once set") || strings.Contains(msg, "cannot be changed")
}

// apiMessage is the API server's own reason.
func apiMessage(err error) string {
	var se apierrors.APIStatus
	if errors.As(err, &se) && se.Status().Message != "" {
		return se.Status().Message
	}
	return err.Error()
}

// recreate deletes the live object (only the very object seen, by UID)
// and applies the manifest again once it is gone.
func (r *run) recreate(ctx context.Context, it *item, live *metav1.PartialObjectMetadata) (*unstructured.Unstructured, error) {
	uid := live.UID
	bg := metav1.DeletePropagationBackground
	err := r.resource(it).Delete(ctx, it.ref.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid}, PropagationPolicy: &bg})
	if err != nil && !apierrors.IsNotFound(err) {
		return nil, fmt.Errorf("deleting it to recreate it: %w", err)
	}
	wctx, cancel := context.WithTimeout(ctx, r.o.establishTimeout)
	defer cancel()
	for delay := 50 * time.Millisecond; ; delay = min(2*delay, time.Second) {
		cur, err := r.resource(it).Get(wctx, it.ref.Name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) || err == nil && cur.GetUID() != uid {
			break
		}
		if wctx.Err() != nil {
			return nil, fmt.Errorf("deleted it to recreate it, but it was still there after %s (finalizers?)", r.o.establishTimeout)
		}
		select {
		case <-wctx.Done():
		case <-time.After(delay):
		}
	}
	return r.resource(it).Apply(ctx, it.ref.Name, it.obj, metav1.ApplyOptions{FieldManager: FieldManager, Force: true})
}

// needRediscovery reports whether the first stage changed the kinds the
// server serves.
func (r *run) needRediscovery(first []*item) bool {
	for _, it := range first {
		if it.gk == crdKind && (it.out.Action == Created || it.out.Action == Configured) && !r.o.dryRun {
			return true
		}
	}
	return false
}

// counter counts requests by kind.
type counter struct {
	reads, writes, dryRuns atomic.Int64
}

func (c *counter) snapshot() Requests {
	return Requests{Reads: int(c.reads.Load()), Writes: int(c.writes.Load()), DryRuns: int(c.dryRuns.Load())}
}

type countingTransport struct {
	rt http.RoundTripper
	c  *counter
}

func (t *countingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	switch {
	case req.Method == http.MethodGet || req.Method == http.MethodHead:
		t.c.reads.Add(1)
	case req.URL.Query().Has("dryRun") || isDryRunDelete(req):
		t.c.dryRuns.Add(1)
	default:
		t.c.writes.Add(1)
	}
	return t.rt.RoundTrip(req)
}

// isDryRunDelete reports a DELETE whose options (sent as its body) ask for
// a dry run.
func isDryRunDelete(req *http.Request) bool {
	if req.Method != http.MethodDelete || req.GetBody == nil {
		return false
	}
	body, err := req.GetBody()
	if err != nil {
		return false
	}
	defer body.Close()
	b, err := io.ReadAll(io.LimitReader(body, 64<<10))
	return err == nil && bytes.Contains(b, []byte(`"dryRun":["All"]`))
}

// sortedKeys returns a map's keys in a stable order.
func sortedKeys[V any](m map[key]V) []key {
	keys := make([]key, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b key) int {
		return strings.Compare(a.group+"/"+a.kind+"/"+a.namespace+"/"+a.name, b.group+"/"+b.kind+"/"+b.namespace+"/"+b.name)
	})
	return keys
}
