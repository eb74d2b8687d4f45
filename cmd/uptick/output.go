package main

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/aymanbagabas/go-udiff"
)

const (
	outputText = "text"
	outputJSON = "json"
)

func checkOutput(format string) error {
	if format != outputText && format != outputJSON {
		return &usageError{fmt.Errorf("--output: unknown format %q (want text or json)", format)}
	}
	return nil
}

// printReport writes the report as one JSON document or as text for people.
// until selects the sections that mean something for the command.
func printReport(w io.Writer, rep *report, format string, until stage) error {
	if format == outputJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "IMAGE\tREPOSITORY\tTAGS\tSELECTED")
	for _, img := range rep.Images {
		sel := img.Tag
		switch {
		case img.Error != "":
			sel = "error: " + img.Error
		case until == stageScan:
			sel = "-"
		case img.Digest != "":
			sel += "@" + img.Digest
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\n", img.Name, img.Repository, img.TagsListed, sel)
	}
	tw.Flush()
	if until == stageScan {
		for _, img := range rep.Images {
			if len(img.Tags) > 0 {
				fmt.Fprintf(&b, "\n%s tags:\n  %s\n", img.Name, strings.Join(img.Tags, "\n  "))
			}
		}
	}
	if until >= stageUpdate {
		writeChanges(&b, rep)
	}
	writeProblems(&b, rep)
	if until >= stageUpdate {
		writeOutcome(&b, rep)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func writeChanges(b *strings.Builder, rep *report) {
	if len(rep.Changes) == 0 {
		return
	}
	fmt.Fprintf(b, "\nchanges (%d in %d files):\n", len(rep.Changes), len(rep.FilesChanged))
	for _, c := range rep.Changes {
		obj := ""
		if c.Object != "" {
			obj = " " + c.Object
		}
		fmt.Fprintf(b, "  %s:%d%s\n      %s -> %s\n", c.File, c.Line, obj, c.Old, c.New)
	}
}

func writeProblems(b *strings.Builder, rep *report) {
	if len(rep.Warnings) > 0 {
		fmt.Fprintf(b, "\nwarnings:\n")
		for _, w := range rep.Warnings {
			fmt.Fprintf(b, "  %s\n", w)
		}
	}
	if len(rep.Errors) > 0 {
		fmt.Fprintf(b, "\nerrors:\n")
		for _, e := range rep.Errors {
			fmt.Fprintf(b, "  %s\n", e)
		}
	}
}

func writeOutcome(b *strings.Builder, rep *report) {
	b.WriteString("\n")
	switch {
	case rep.Pushed:
		fmt.Fprintf(b, "committed %s and pushed it to %s\n", short(rep.Commit), rep.Branch)
	case rep.Commit != "":
		fmt.Fprintf(b, "committed %s but did not push it\n", short(rep.Commit))
	case rep.DryRun && len(rep.files) > 0:
		fmt.Fprintf(b, "plan: %d files would change on %s; nothing was written\n", len(rep.files), rep.Branch)
	case len(rep.Changes) == 0 && !rep.failed():
		fmt.Fprintf(b, "up to date: nothing to change, no commit made\n")
	case len(rep.Changes) == 0:
		fmt.Fprintf(b, "nothing changed, no commit made\n")
	}
}

// finishPass prints the report of a pass and returns what the command
// should exit with. A pass that could not go on (err != nil) is part of the
// JSON document, for machines; in text, the failures recorded before it are
// printed and the error itself once, by exitCode.
func finishPass(w io.Writer, rep *report, err error, format string, until stage) error {
	if err != nil {
		if format != outputJSON {
			// What failed before the pass had to stop still matters (the
			// image whose registry hung, say); the fatal error follows.
			var b strings.Builder
			writeProblems(&b, rep)
			if _, werr := io.WriteString(w, strings.TrimPrefix(b.String(), "\n")); werr != nil {
				return werr
			}
			return err
		}
		rep.fail(err)
		if perr := printReport(w, rep, format, until); perr != nil {
			return perr
		}
		return &reportedError{err}
	}
	if err := printReport(w, rep, format, until); err != nil {
		return err
	}
	switch {
	case rep.badInput:
		return errBadInputReported
	case rep.failed():
		return errStageFailed
	}
	return nil
}

// writeDiff writes a unified diff of every changed file.
func writeDiff(w io.Writer, rep *report) error {
	for _, f := range rep.files {
		d := udiff.Unified("a/"+f.Path, "b/"+f.Path, string(f.Before), string(f.After))
		if _, err := io.WriteString(w, d); err != nil {
			return err
		}
	}
	return nil
}

func indent(s string) string {
	return "  " + strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", "\n  ")
}

// printUpdateReport is printReport for `uptick update`, which has no
// registry or git side.
func printUpdateReport(w io.Writer, rep *report, format string) error {
	if format == outputJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	var b strings.Builder
	writeChanges(&b, rep)
	writeProblems(&b, rep)
	b.WriteString("\n")
	switch {
	case len(rep.files) == 0:
		b.WriteString("no marked field needed a change\n")
	case rep.DryRun:
		fmt.Fprintf(&b, "dry run: %d files would change; nothing was written\n", len(rep.files))
	default:
		fmt.Fprintf(&b, "updated %d files\n", len(rep.files))
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func sortImages(imgs []imageReport) {
	sort.Slice(imgs, func(i, j int) bool { return imgs[i].Name < imgs[j].Name })
}
