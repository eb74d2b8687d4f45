package sync

import (
	"context"
	"fmt"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
)

// healthListAt is how many objects of one resource in one namespace make a
// health poll one LIST instead of a GET each.
const healthListAt = 4

// Poll intervals of the waits: short at first (most objects are ready at
// once), then backing off.
const (
	pollFirst = 100 * time.Millisecond
	pollMax   = 2 * time.Second
)

// health computes an object's kstatus.
func health(u *unstructured.Unstructured) (status.Status, string) {
	res, err := status.Compute(u)
	if err != nil {
		return status.UnknownStatus, err.Error()
	}
	return res.Status, res.Message
}

// establish waits until the CRDs and Namespaces the first stage created or
// changed are established (kstatus Current), so that the second stage can
// use them. One that is not in time fails, with kstatus' reason.
func (r *run) establish(ctx context.Context, first []*item) {
	if r.o.dryRun {
		return
	}
	var pending []*item
	for _, it := range first {
		if it.out.Action == Created || it.out.Action == Configured {
			pending = append(pending, it)
		}
	}
	if len(pending) == 0 {
		return
	}
	wctx, cancel := context.WithTimeout(ctx, r.o.establishTimeout)
	defer cancel()
	for delay := pollFirst; ; delay = min(2*delay, pollMax) {
		still := pending[:0]
		for _, it := range pending {
			u, err := r.resource(it).Get(wctx, it.ref.Name, metav1.GetOptions{})
			if err != nil {
				it.out.HealthMessage = apiMessage(err)
				still = append(still, it)
				continue
			}
			st, msg := health(u)
			if st != status.CurrentStatus {
				it.out.HealthMessage = msg
				still = append(still, it)
			}
		}
		pending = still
		if len(pending) == 0 {
			return
		}
		select {
		case <-wctx.Done():
			for _, it := range pending {
				r.fail(it, fmt.Errorf("applied, but not established within %s: %s", r.o.establishTimeout, it.out.HealthMessage))
				it.ok = true // it was applied: keep tracking it
			}
			return
		case <-time.After(delay):
		}
	}
}

// waitHealthy polls the applied objects until each is Current by kstatus
// rules, or until the wait is over (then Result.WaitTimedOut names the
// ones that are not ready and why). Objects that Failed end the wait early
// once nothing else is in progress: waiting longer cannot help them.
func (r *run) waitHealthy(ctx context.Context) {
	wctx, cancel := context.WithTimeout(ctx, r.o.wait)
	defer cancel()
	groups := map[listKey][]*item{}
	for _, it := range r.items {
		if it.ok && it.mapping != nil {
			lk := listKey{it.mapping.Resource.Group, it.mapping.Resource.Resource, it.ref.Namespace}
			groups[lk] = append(groups[lk], it)
		}
	}
	for delay := pollFirst; ; delay = min(2*delay, pollMax) {
		inProgress, failed := 0, 0
		for _, items := range groups {
			r.pollHealth(wctx, items)
			for _, it := range items {
				switch it.out.Health {
				case string(status.CurrentStatus):
				case string(status.FailedStatus):
					failed++
				default:
					inProgress++
				}
			}
		}
		if inProgress == 0 && failed == 0 {
			return
		}
		if inProgress == 0 {
			r.res.WaitTimedOut = true
			return
		}
		select {
		case <-wctx.Done():
			r.res.WaitTimedOut = true
			return
		case <-time.After(delay):
		}
	}
}

// pollHealth reads one resource's objects in one namespace (a LIST, or a
// GET each when there are few) and records their kstatus.
func (r *run) pollHealth(ctx context.Context, items []*item) {
	set := func(it *item, u *unstructured.Unstructured, err error) {
		switch {
		case apierrors.IsNotFound(err):
			it.out.Health, it.out.HealthMessage = string(status.NotFoundStatus), "the object is gone"
		case err != nil:
			it.out.Health, it.out.HealthMessage = string(status.UnknownStatus), apiMessage(err)
		default:
			st, msg := health(u)
			it.out.Health, it.out.HealthMessage = string(st), msg
		}
	}
	pending := items[:0:0]
	for _, it := range items {
		if it.out.Health != string(status.CurrentStatus) {
			pending = append(pending, it)
		}
	}
	if len(pending) == 0 {
		return
	}
	if len(pending) < healthListAt {
		for _, it := range pending {
			u, err := r.resource(it).Get(ctx, it.ref.Name, metav1.GetOptions{})
			set(it, u, err)
		}
		return
	}
	list, err := r.resource(pending[0]).List(ctx, metav1.ListOptions{})
	if err != nil {
		for _, it := range pending {
			set(it, nil, err)
		}
		return
	}
	byName := make(map[string]*unstructured.Unstructured, len(list.Items))
	for i := range list.Items {
		byName[list.Items[i].GetName()] = &list.Items[i]
	}
	for _, it := range pending {
		if u, ok := byName[it.ref.Name]; ok {
			set(it, u, nil)
		} else {
			set(it, nil, apierrors.NewNotFound(it.mapping.Resource.GroupResource(), it.ref.Name))
		}
	}
}
