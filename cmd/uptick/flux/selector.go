package flux

import (
	"fmt"
	"slices"
)

// labelReq is one requirement of a Kubernetes label selector.
type labelReq struct {
	key    string
	op     string // In, NotIn, Exists, DoesNotExist
	values []string
}

func matchLabels(ml map[string]string) []labelReq {
	reqs := []labelReq{}
	for _, k := range sortedKeys(ml) {
		reqs = append(reqs, labelReq{key: k, op: "In", values: []string{ml[k]}})
	}
	return reqs
}

// readLabelSelector reads a metav1.LabelSelector (matchLabels and
// matchExpressions), as spec.policySelector is.
func readLabelSelector(sel *mapping) []labelReq {
	w := sel.w
	reqs := matchLabels(sel.strMap("matchLabels"))
	for i, n := range sel.list("matchExpressions") {
		e := w.newMapping(n, fmt.Sprintf("%s.matchExpressions[%d]", sel.path, i))
		r := labelReq{key: e.required("key"), op: e.required("operator"), values: e.strList("values")}
		switch r.op {
		case "In", "NotIn":
			if len(r.values) == 0 {
				w.report(Error, e.line("values"), e.field("values"), "must not be empty with operator %s", r.op)
			}
		case "Exists", "DoesNotExist":
			if len(r.values) > 0 {
				w.report(Error, e.line("values"), e.field("values"), "must be empty with operator %s", r.op)
			}
		case "":
		default:
			w.report(Error, e.line("operator"), e.field("operator"), "%q is not one of In, NotIn, Exists, DoesNotExist", r.op)
		}
		e.done()
		reqs = append(reqs, r)
	}
	sel.done()
	return reqs
}

// matches applies the requirements as Kubernetes does: all must hold; no
// requirements select everything.
func matches(reqs []labelReq, labels map[string]string) bool {
	for _, r := range reqs {
		v, ok := labels[r.key]
		switch r.op {
		case "In":
			if !ok || !slices.Contains(r.values, v) {
				return false
			}
		case "NotIn":
			if ok && slices.Contains(r.values, v) {
				return false
			}
		case "Exists":
			if !ok {
				return false
			}
		case "DoesNotExist":
			if ok {
				return false
			}
		}
	}
	return true
}
