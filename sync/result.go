package sync

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Action is what a sync did (or, in a dry run, would do) to one object.
type Action string

// The actions, as reported.
const (
	// Created: the object did not exist and was applied.
	Created Action = "created"
	// Configured: the object existed and the apply changed it (git
	// changed, or drift was put back; Drift says which).
	Configured Action = "configured"
	// Unchanged: the object already held what git declares; nothing was
	// written.
	Unchanged Action = "unchanged"
	// Deleted: the object left git and was pruned.
	Deleted Action = "deleted"
	// Skipped: left alone on purpose; Reason says why.
	Skipped Action = "skipped"
	// Failed: the API server refused the object or it could not be
	// read; Reason says why. The other objects still apply.
	Failed Action = "failed"
)

// ObjectRef names one object.
type ObjectRef struct {
	Group     string
	Version   string
	Kind      string
	Namespace string
	Name      string
}

// String renders "Kind/name" or "Kind/namespace/name", with the group for
// kinds outside the core group: "apps/Deployment/web/frontend".
func (r ObjectRef) String() string {
	var b strings.Builder
	if r.Group != "" {
		b.WriteString(r.Group + "/")
	}
	b.WriteString(r.Kind + "/")
	if r.Namespace != "" {
		b.WriteString(r.Namespace + "/")
	}
	b.WriteString(r.Name)
	return b.String()
}

// key identifies an object whatever its version.
type key struct {
	group, kind, namespace, name string
}

func (r ObjectRef) key() key { return key{r.Group, r.Kind, r.Namespace, r.Name} }

// Object is one object's outcome.
type Object struct {
	ObjectRef
	// Source is the manifest file or kustomization it came from; empty for
	// objects pruned from the inventory.
	Source string
	Action Action
	// Reason explains the action: what drifted, why an object was
	// skipped or failed.
	Reason string
	// Drift is true when the live object had been changed outside git
	// (edited, patched, taken over by another manager, deleted) and the
	// sync put it back, or in a dry run would.
	Drift bool
	// Diff is the unified diff from the live object to what the apply
	// makes of it (dry runs and plan only).
	Diff string
	// Health is the kstatus of the object after the wait ("Current",
	// "InProgress", "Failed", ...); empty when not waited for.
	Health string
	// HealthMessage is kstatus' explanation.
	HealthMessage string
	// Err is why the object failed.
	Err error
}

// Requests counts the HTTP requests a sync sent to the API server.
type Requests struct {
	// Reads are GETs (discovery, LIST, GET).
	Reads int
	// Writes are requests that changed the cluster (apply, delete, the
	// inventory).
	Writes int
	// DryRuns are write requests sent with dryRun=All (a dry run's diffs).
	DryRuns int
}

// Durations are the wall times of a sync's steps.
type Durations struct {
	Build, Read, Apply, Prune, Wait, Total time.Duration
}

// Result is everything one sync did.
type Result struct {
	// DryRun is true when nothing was changed.
	DryRun bool
	// Inventory is "NAMESPACE/NAME" of the inventory ConfigMap.
	Inventory string
	// Prune is whether objects that left git were deleted.
	Prune bool
	// Objects are the manifests in apply order, then the objects that left
	// git, in prune order.
	Objects []Object
	// Warnings are about the manifests (documents left out).
	Warnings []string
	// WaitTimedOut is set when objects were not ready within the wait.
	WaitTimedOut bool
	// Wait is the configured health wait (0: none).
	Wait time.Duration
	// Fatal is set when the sync could not go on at all (the manifests do
	// not build, the cluster cannot be reached); nothing after it ran.
	Fatal     error
	Requests  Requests
	Durations Durations
}

// Count returns how many objects got each action.
func (r *Result) Count() map[Action]int {
	out := map[Action]int{}
	for _, o := range r.Objects {
		out[o.Action]++
	}
	return out
}

// Drifted returns the objects that had drifted.
func (r *Result) Drifted() []Object {
	var out []Object
	for _, o := range r.Objects {
		if o.Drift {
			out = append(out, o)
		}
	}
	return out
}

// Errors returns every error: each failed object, objects not ready in
// time, and the fatal error.
func (r *Result) Errors() []error {
	var out []error
	for _, o := range r.Objects {
		if o.Action == Failed {
			err := o.Err
			if err == nil {
				err = errors.New(o.Reason)
			}
			out = append(out, &ObjectError{Ref: o.ObjectRef, Source: o.Source, Err: err})
		}
	}
	if r.WaitTimedOut {
		var names []string
		for _, o := range r.Objects {
			if o.Health != "" && o.Health != "Current" {
				names = append(names, fmt.Sprintf("%s is %s: %s", o.ObjectRef, o.Health, o.HealthMessage))
			}
		}
		out = append(out, fmt.Errorf("not ready after waiting %s: %s", r.Wait, strings.Join(names, "; ")))
	}
	if r.Fatal != nil {
		out = append(out, r.Fatal)
	}
	return out
}

// Err joins Errors; nil when the sync succeeded.
func (r *Result) Err() error { return errors.Join(r.Errors()...) }

// ObjectError is one object that failed.
type ObjectError struct {
	Ref    ObjectRef
	Source string
	Err    error
}

// Error renders "Kind/ns/name (file): problem".
func (e *ObjectError) Error() string {
	if e.Source != "" {
		return fmt.Sprintf("%s (%s): %v", e.Ref, e.Source, e.Err)
	}
	return fmt.Sprintf("%s: %v", e.Ref, e.Err)
}

// Unwrap returns the cause.
func (e *ObjectError) Unwrap() error { return e.Err }
