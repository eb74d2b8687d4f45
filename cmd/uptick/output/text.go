package output

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/aymanbagabas/go-udiff"

	"github.com/uptick-gitops/uptick/cmd/uptick/pass"
)

// Text writes the result for people: a table of images and what each
// policy chose, the changes, warnings and errors, and one line saying what
// happened. Only the sections that mean something for r.Until appear.
func Text(w io.Writer, r *pass.Result) error {
	var b strings.Builder
	if r.Until != pass.Local {
		writeImages(&b, r)
	}
	if r.Until == pass.Scan {
		for _, img := range r.Images {
			if len(img.Tags) > 0 {
				fmt.Fprintf(&b, "\n%s tags:\n  %s\n", img.Name, strings.Join(img.Tags, "\n  "))
			}
		}
	}
	if r.Until == pass.Local || r.Until >= pass.Plan {
		writeChanges(&b, r)
	}
	writePullRequests(&b, r)
	writeSync(&b, r.Sync)
	writeProblems(&b, r)
	if r.Until == pass.Local || r.Until >= pass.Plan {
		b.WriteString("\n")
		b.WriteString(Outcome(r))
		b.WriteString("\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func writeImages(b *strings.Builder, r *pass.Result) {
	tw := tabwriter.NewWriter(b, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "IMAGE\tREPOSITORY\tTAGS\tSELECTED")
	for _, img := range r.Images {
		sel := "-"
		switch {
		case img.Problem != nil:
			sel = "failed: see errors"
		case img.Selected:
			sel = img.Chosen.Tag
			if img.Chosen.Digest != "" {
				sel += "@" + img.Chosen.Digest
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\n", img.Name, img.Repository, img.TagsListed, sel)
	}
	tw.Flush()
	for _, img := range r.Images {
		if img.TagsDropped > 0 {
			fmt.Fprintf(b, "%s: %d tags left out: not valid OCI tags\n", img.Name, img.TagsDropped)
		}
	}
}

func writeChanges(b *strings.Builder, r *pass.Result) {
	a := r.Last()
	if a == nil || a.Update == nil || len(a.Update.Changes) == 0 {
		return
	}
	fmt.Fprintf(b, "\nchanges (%d in %d files):\n", len(a.Update.Changes), len(a.Update.Files))
	for _, c := range a.Update.Changes {
		obj := ""
		if c.Object != "" {
			obj = " " + c.Object
		}
		fmt.Fprintf(b, "  %s:%d%s\n      %s -> %s\n", c.File, c.Line, obj, c.Old, c.New)
	}
}

// Problems writes the warnings and errors of a result, each under its
// heading; nothing when there are none.
func Problems(w io.Writer, r *pass.Result) error {
	var b strings.Builder
	writeProblems(&b, r)
	_, err := io.WriteString(w, strings.TrimPrefix(b.String(), "\n"))
	return err
}

func writeProblems(b *strings.Builder, r *pass.Result) {
	if ws := r.Warnings(); len(ws) > 0 {
		b.WriteString("\nwarnings:\n")
		for _, p := range ws {
			fmt.Fprintf(b, "  %s\n", where(p))
		}
	}
	if es := r.Errors(); len(es) > 0 {
		b.WriteString("\nerrors:\n")
		for _, p := range es {
			fmt.Fprintf(b, "  %s\n", indentRest(where(p)))
		}
	}
}

// where prefixes a file problem with its place, "file:line: ", unless the
// message already starts with it.
func where(p *pass.Problem) string {
	msg := p.Error()
	if p.File == "" {
		return msg
	}
	loc := p.File
	if p.Line > 0 {
		loc = fmt.Sprintf("%s:%d", p.File, p.Line)
	}
	if strings.HasPrefix(msg, loc) {
		return msg
	}
	return loc + ": " + msg
}

// writePullRequests lists each group's pull request and what the pass did
// with it.
func writePullRequests(b *strings.Builder, r *pass.Result) {
	if len(r.PullRequests) == 0 {
		return
	}
	b.WriteString("\npull requests:\n")
	for _, pr := range r.PullRequests {
		what := string(pr.Action)
		switch {
		case pr.Problem != nil:
			what = "failed: see errors"
		case pr.Action == "":
			what = "nothing to propose"
		}
		fmt.Fprintf(b, "  %s: ", pr.Group)
		if pr.Number != 0 {
			fmt.Fprintf(b, "#%d ", pr.Number)
		}
		b.WriteString(what)
		if pr.URL != "" {
			b.WriteString(" " + pr.URL)
		}
		fmt.Fprintf(b, " (%s -> %s)", pr.Branch, pr.Base)
		if pr.Note != "" {
			b.WriteString(": " + pr.Note)
		}
		b.WriteString("\n")
	}
}

// pullRequestOutcome is Outcome for a pass with pull requests.
func pullRequestOutcome(r *pass.Result) string {
	counts := map[string]int{}
	failed := 0
	for _, pr := range r.PullRequests {
		switch {
		case pr.Problem != nil:
			failed++
		case pr.Action != "":
			counts[string(pr.Action)]++
		}
	}
	var parts []string
	for _, a := range []string{"opened", "updated", "closed", "unchanged"} {
		if n := counts[a]; n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, a))
		}
	}
	if failed > 0 {
		parts = append(parts, fmt.Sprintf("%d failed", failed))
	}
	if len(parts) == 0 {
		return "up to date: nothing to propose, no pull request open"
	}
	noun := "pull requests"
	if len(r.PullRequests) == 1 {
		noun = "pull request"
	}
	return noun + ": " + strings.Join(parts, ", ")
}

// Outcome is the one line that says what a pass did.
func Outcome(r *pass.Result) string {
	a := r.Last()
	changed := a != nil && a.Update != nil && len(a.Update.Files) > 0
	nfiles := 0
	if changed {
		nfiles = len(a.Update.Files)
	}
	switch {
	case r.Fatal != nil:
		return "stopped: " + string(r.Fatal.Step) + " failed, nothing was committed"
	case len(r.PullRequests) > 0:
		return pullRequestOutcome(r)
	case r.Until == pass.Local && !changed:
		return "no marked field needed a change"
	case r.Until == pass.Local && r.DryRun:
		return fmt.Sprintf("dry run: %d files would change; nothing was written", nfiles)
	case r.Until == pass.Local:
		return fmt.Sprintf("updated %d files", nfiles)
	case a != nil && a.Pushed:
		return fmt.Sprintf("committed %s and pushed it to %s", Short(a.Commit), r.Branch)
	case a != nil && a.Commit != "":
		return fmt.Sprintf("committed %s but did not push it", Short(a.Commit))
	case r.DryRun && changed:
		return fmt.Sprintf("plan: %d files would change on %s; nothing was written", nfiles, r.Branch)
	case !changed && len(r.Errors()) == 0:
		return "up to date: nothing to change, no commit made"
	}
	return "nothing changed, no commit made"
}

// Diff writes a unified diff of every file the final attempt changed.
func Diff(w io.Writer, r *pass.Result) error {
	a := r.Last()
	if a == nil || a.Update == nil {
		return nil
	}
	for _, f := range a.Update.Files {
		d := udiff.Unified("a/"+f.Path, "b/"+f.Path, string(f.Before), string(f.After))
		if _, err := io.WriteString(w, d); err != nil {
			return err
		}
	}
	return nil
}

// Indent indents every line of s by two spaces.
func Indent(s string) string {
	return "  " + strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", "\n  ")
}

// indentRest indents continuation lines of a multi-line message so they
// stay under their item.
func indentRest(s string) string {
	return strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", "\n    ")
}

// Short abbreviates a commit SHA to 12 characters.
func Short(sha string) string {
	if len(sha) > 12 {
		return sha[:12]
	}
	return sha
}
