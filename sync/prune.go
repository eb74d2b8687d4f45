package sync

import (
	"context"
	"fmt"
	"slices"

	"golang.org/x/sync/errgroup"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
)

// pruneTier orders deletions: namespaced objects, then other
// cluster-scoped ones, then Namespaces (whose deletion takes their content
// along), then CRDs (whose deletion takes every custom resource along).
func pruneTier(k key) int {
	switch {
	case k.group == crdKind.Group && k.kind == crdKind.Kind:
		return 3
	case k.group == "" && k.kind == namespaceKind.Kind:
		return 2
	case k.namespace == "":
		return 1
	}
	return 0
}

// candidate is one inventory entry no longer in git.
type candidate struct {
	k   key
	e   entry
	out *Object
}

// prune deletes, tier by tier, the inventory's objects that are no longer
// among the manifests. It returns the entries still to be tracked (kept
// because prune is off, or because their deletion failed) and the keys let
// go of. Only objects that carry uptick's own managedFields entry are
// deleted: one recreated by someone else since is left alone.
func (r *run) prune(ctx context.Context) (kept map[key]entry, deleted map[key]bool) {
	kept, deleted = map[key]entry{}, map[key]bool{}
	var cands []*candidate
	for _, k := range sortedKeys(r.inv.entries) {
		if _, ok := r.byKey[k]; !ok {
			cands = append(cands, &candidate{k: k, e: r.inv.entries[k]})
		}
	}
	slices.SortStableFunc(cands, func(a, b *candidate) int { return pruneTier(a.k) - pruneTier(b.k) })
	r.pruned = make([]Object, len(cands))
	for i, c := range cands {
		r.pruned[i].ObjectRef = ObjectRef{Group: c.k.group, Kind: c.k.kind, Namespace: c.k.namespace, Name: c.k.name}
		c.out = &r.pruned[i]
	}
	for lo := 0; lo < len(cands); {
		hi := lo
		for hi < len(cands) && pruneTier(cands[hi].k) == pruneTier(cands[lo].k) {
			hi++
		}
		tier := cands[lo:hi]
		track := make([]bool, len(tier))
		g, gctx := errgroup.WithContext(ctx)
		g.SetLimit(r.o.concurrency)
		for i, c := range tier {
			g.Go(func() error {
				track[i] = r.pruneOne(gctx, c)
				return nil
			})
		}
		_ = g.Wait()
		for i, c := range tier {
			if track[i] {
				kept[c.k] = c.e
			} else {
				deleted[c.k] = true
			}
		}
		lo = hi
	}
	return kept, deleted
}

// pruneOne handles one candidate and reports whether the inventory keeps
// tracking it.
func (r *run) pruneOne(ctx context.Context, c *candidate) bool {
	out := c.out
	mapping, err := r.mapper.RESTMapping(schema.GroupKind{Group: c.k.group, Kind: c.k.kind})
	if err != nil {
		out.Action, out.Reason = Skipped, "no longer in git, and the cluster no longer serves its kind (its CustomResourceDefinition is gone)"
		return false
	}
	out.Version = mapping.Resource.Version
	live := r.live[c.k]
	switch {
	case r.unknown[c.k] != nil:
		out.Action, out.Err = Failed, fmt.Errorf("no longer in git, but it cannot be read: %s", apiMessage(r.unknown[c.k]))
		out.Reason = out.Err.Error()
		return true
	case live == nil:
		out.Action, out.Reason = Skipped, "no longer in git, and already gone from the cluster"
		return false
	case live.Annotations[PruneAnnotation] == PruneDisabled:
		out.Action, out.Reason = Skipped, "no longer in git, kept: annotated "+PruneAnnotation+": "+PruneDisabled+" (uptick no longer tracks it)"
		return false
	case fieldsHash(live.ManagedFields) == "" && live.Annotations[HashAnnotation] == "":
		out.Action, out.Reason = Skipped, "no longer in git, but this object was not applied by uptick (recreated by someone else): left alone"
		return false
	case !r.o.prune:
		out.Action, out.Reason = Skipped, "no longer in git; not deleted because prune is off"
		return true
	case live.DeletionTimestamp != nil:
		out.Action, out.Reason = Deleted, "no longer in git (already being deleted)"
		return false
	}
	client := r.dyn.Resource(mapping.Resource)
	var rc dynamic.ResourceInterface = client
	if mapping.Scope.Name() == meta.RESTScopeNameNamespace {
		rc = client.Namespace(c.k.namespace)
	}
	uid := live.UID
	bg := metav1.DeletePropagationBackground
	opts := metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid}, PropagationPolicy: &bg}
	if r.o.dryRun {
		opts.DryRun = []string{metav1.DryRunAll}
	}
	err = rc.Delete(ctx, c.k.name, opts)
	switch {
	case err == nil, apierrors.IsNotFound(err):
		out.Action, out.Reason = Deleted, "no longer in git"
		if r.o.dryRun {
			out.Diff = diffObjects(out.ObjectRef, r.getFull(ctx, rc, c.k.name), nil)
		}
		return false
	case apierrors.IsConflict(err):
		out.Action, out.Reason = Skipped, "no longer in git, but it was replaced by another object of the same name while pruning: left alone"
		return false
	default:
		out.Action, out.Err = Failed, fmt.Errorf("pruning it: %s", apiMessage(err))
		out.Reason = out.Err.Error()
		return true
	}
}

func (r *run) getFull(ctx context.Context, rc dynamic.ResourceInterface, name string) *unstructured.Unstructured {
	u, err := rc.Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return nil
	}
	return u
}
