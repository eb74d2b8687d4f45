// Command fleetgen writes a generated fleet repository (internal/fleet) for
// measuring by hand, and prints the --image flags that update every marker:
//
//	go run ./hack/fleetgen -files 10000 -marked-pct 1 -seed 1 /tmp/fleet
//	uptick update --path /tmp/fleet $(go run ./hack/fleetgen -flags -tag 1.1.0)
//
// With -git it also commits the tree to a new Git repository in DIR (the
// git CLI must be on PATH; the product itself never shells out to git).
package main

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"strings"

	"github.com/uptick-gitops/uptick/internal/fleet"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "fleetgen:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("fleetgen", flag.ContinueOnError)
	files := fs.Int("files", 10000, "YAML files to write")
	pct := fs.Float64("marked-pct", 1, "percent of the files that carry markers")
	seed := fs.Uint64("seed", 1, "seed of the tree")
	images := fs.Int("images", 20, "image policies the markers name")
	flags := fs.Bool("flags", false, "only print the uptick update --image flags (no DIR)")
	tag := fs.String("tag", "1.1.0", "with -flags: the tag the --image flags set")
	commit := fs.Bool("git", false, "also init a Git repository in DIR and commit the tree on main")
	if err := fs.Parse(args); err != nil {
		return err
	}
	spec := fleet.Spec{Files: *files, Marked: fleet.Percent(*files, *pct), Seed: *seed, Images: *images}
	if *flags {
		var out []string
		for _, img := range spec.ImageList() {
			out = append(out, "--image", img.Policy+"="+img.Repository+":"+*tag)
		}
		fmt.Println(strings.Join(out, " "))
		return nil
	}
	if fs.NArg() != 1 {
		return fmt.Errorf("want one DIR argument")
	}
	dir := fs.Arg(0)
	f, err := fleet.Generate(dir, spec)
	if err != nil {
		return err
	}
	if *commit {
		for _, a := range [][]string{
			{"init", "-q", "-b", "main"},
			{"add", "-A"},
			{"-c", "user.name=fleetgen", "-c", "user.email=fleetgen@example.invalid", "commit", "-q", "-m", "generated fleet"},
		} {
			cmd := exec.Command("git", a...)
			cmd.Dir = dir
			if out, err := cmd.CombinedOutput(); err != nil {
				return fmt.Errorf("git %s: %v\n%s", strings.Join(a, " "), err, out)
			}
		}
	}
	fmt.Printf("%s: %d files (%d bytes), %d marked with %d markers\n", dir, len(f.Files), f.Bytes, len(f.Marked), f.Markers)
	return nil
}
