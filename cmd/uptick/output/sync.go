package output

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/uptick-gitops/uptick/cmd/uptick/pass"
	"github.com/uptick-gitops/uptick/sync"
)

// Sync is the report's sync section.
type Sync struct {
	// Path is the synced directory, relative to the repository root.
	Path string `json:"path"`
	// Revision is the commit synced (run, plan).
	Revision  string `json:"revision,omitempty"`
	Inventory string `json:"inventory,omitempty"`
	DryRun    bool   `json:"dryRun"`
	Prune     bool   `json:"prune"`
	// Skipped says why the sync did not run.
	Skipped string `json:"skipped,omitempty"`
	// Counts has every action, zeros included.
	Counts map[string]int `json:"counts"`
	// Drifted names the objects that had been changed outside git.
	Drifted []string     `json:"drifted"`
	Objects []SyncObject `json:"objects"`
	// WaitTimedOut is true when objects were not ready within the wait.
	WaitTimedOut bool         `json:"waitTimedOut"`
	Requests     SyncRequests `json:"requests"`
	// Error is why the sync could not run or finish, if so; each object's
	// failure is in its own entry, and every error is in the report's
	// errors too.
	Error string `json:"error,omitempty"`
}

// SyncObject is one object's outcome.
type SyncObject struct {
	Group     string `json:"group,omitempty"`
	Version   string `json:"version,omitempty"`
	Kind      string `json:"kind"`
	Namespace string `json:"namespace,omitempty"`
	Name      string `json:"name"`
	// Source is the file or kustomization it came from.
	Source string `json:"source,omitempty"`
	// Action is created, configured, unchanged, deleted, skipped or failed.
	Action string `json:"action"`
	Reason string `json:"reason,omitempty"`
	Drift  bool   `json:"drift"`
	// Diff is a unified diff from the live object (dry runs and plan).
	Diff string `json:"diff,omitempty"`
	// Health is the kstatus after a wait: Current, InProgress, Failed...
	Health        string `json:"health,omitempty"`
	HealthMessage string `json:"healthMessage,omitempty"`
}

// SyncRequests counts the requests sent to the API server.
type SyncRequests struct {
	Reads   int `json:"reads"`
	Writes  int `json:"writes"`
	DryRuns int `json:"dryRuns"`
}

var allActions = []sync.Action{sync.Created, sync.Configured, sync.Unchanged, sync.Deleted, sync.Skipped, sync.Failed}

// NewSync renders a sync outcome for the JSON report; nil for nil.
func NewSync(s *pass.SyncOutcome) *Sync {
	if s == nil {
		return nil
	}
	js := &Sync{Path: s.Path, Revision: s.Revision, Skipped: s.Skipped, Counts: map[string]int{}, Drifted: []string{}, Objects: []SyncObject{}}
	for _, a := range allActions {
		js.Counts[string(a)] = 0
	}
	if s.Err != nil {
		js.Error = s.Err.Error()
	}
	r := s.Result
	if r == nil {
		return js
	}
	js.Inventory, js.DryRun, js.Prune, js.WaitTimedOut = r.Inventory, r.DryRun, r.Prune, r.WaitTimedOut
	js.Requests = SyncRequests{Reads: r.Requests.Reads, Writes: r.Requests.Writes, DryRuns: r.Requests.DryRuns}
	if r.Fatal != nil {
		js.Error = r.Fatal.Error()
	}
	for _, o := range r.Objects {
		js.Counts[string(o.Action)]++
		if o.Drift {
			js.Drifted = append(js.Drifted, o.ObjectRef.String())
		}
		js.Objects = append(js.Objects, SyncObject{
			Group: o.Group, Version: o.Version, Kind: o.Kind, Namespace: o.Namespace, Name: o.Name,
			Source: o.Source, Action: string(o.Action), Reason: o.Reason, Drift: o.Drift, Diff: o.Diff,
			Health: o.Health, HealthMessage: o.HealthMessage,
		})
	}
	return js
}

// writeSync renders the sync section for people: one line per object that
// was not unchanged (with its diff in a dry run), a count of the unchanged
// ones, and a summary line.
func writeSync(b *strings.Builder, s *pass.SyncOutcome) {
	if s == nil {
		return
	}
	fmt.Fprintf(b, "\nsync of %s", s.Path)
	if s.Revision != "" {
		fmt.Fprintf(b, " at %s", Short(s.Revision))
	}
	r := s.Result
	switch {
	case s.Skipped != "":
		fmt.Fprintf(b, ": skipped: %s\n", s.Skipped)
		return
	case r == nil:
		b.WriteString(": failed, nothing was applied (see errors)\n")
		return
	}
	fmt.Fprintf(b, " (inventory %s):\n", r.Inventory)
	tw := tabwriter.NewWriter(b, 0, 4, 2, ' ', 0)
	unchanged := 0
	for _, o := range r.Objects {
		if o.Action == sync.Unchanged && o.Health == "" {
			unchanged++
			continue
		}
		action := string(o.Action)
		if r.DryRun {
			action = "would be " + action
			if o.Action == sync.Unchanged || o.Action == sync.Skipped || o.Action == sync.Failed {
				action = string(o.Action)
			}
		}
		note := o.Reason
		if o.Health != "" && o.Health != "Current" {
			note = strings.TrimPrefix(strings.TrimSpace(note+"; "+o.Health+": "+o.HealthMessage), "; ")
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\n", action, o.ObjectRef, note)
	}
	tw.Flush()
	if unchanged > 0 {
		fmt.Fprintf(b, "  %d unchanged\n", unchanged)
	}
	for _, o := range r.Objects {
		if o.Diff != "" {
			b.WriteString("\n" + o.Diff)
		}
	}
	b.WriteString("\n" + SyncOutcomeLine(s) + "\n")
}

// SyncOutcomeLine is the one line that says what a sync did.
func SyncOutcomeLine(s *pass.SyncOutcome) string {
	r := s.Result
	if r == nil {
		if s.Skipped != "" {
			return "sync skipped: " + s.Skipped
		}
		return "sync failed: nothing was applied"
	}
	c := r.Count()
	var parts []string
	for _, a := range allActions {
		if c[a] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", c[a], a))
		}
	}
	if len(parts) == 0 {
		parts = []string{"no objects"}
	}
	line := "synced: "
	if r.DryRun {
		line = "sync dry run (nothing changed): "
	}
	line += strings.Join(parts, ", ")
	if d := len(r.Drifted()); d > 0 {
		line += fmt.Sprintf("; %d drifted", d)
	}
	line += fmt.Sprintf("; %d reads, %d writes", r.Requests.Reads, r.Requests.Writes)
	if r.Requests.DryRuns > 0 {
		line += fmt.Sprintf(", %d dry-run requests", r.Requests.DryRuns)
	}
	line += " in " + s.Duration.Round(time.Millisecond).String()
	return line
}

// SyncText writes the report of `uptick sync` for people.
func SyncText(w io.Writer, s *pass.SyncOutcome) error {
	var b strings.Builder
	writeSync(&b, s)
	writeProblems(&b, &pass.Result{Sync: s})
	_, err := io.WriteString(w, strings.TrimPrefix(b.String(), "\n"))
	return err
}
