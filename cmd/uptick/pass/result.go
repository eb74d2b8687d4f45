package pass

import (
	"errors"
	"sort"
	"time"

	"github.com/uptick-gitops/uptick/cmd/uptick/config"
	"github.com/uptick-gitops/uptick/scan"
	"github.com/uptick-gitops/uptick/update"
)

// Stage is how far a pass goes; the single-stage commands stop early.
type Stage int

// The stages in pipeline order.
const (
	// Local is `uptick update`: the rewrite alone on a directory, given
	// images, no registry and no git.
	Local Stage = iota + 1
	// Scan lists tags only.
	Scan
	// Policy lists tags and chooses one per image.
	Policy
	// Plan checks out and rewrites in memory: everything but writing.
	Plan
	// Publish is a full run: commit and push.
	Publish
)

// Step names the part of a pass a problem belongs to.
type Step string

// The steps problems are reported under.
const (
	StepConfig   Step = "config"
	StepCheckout Step = "checkout"
	StepScan     Step = "scan"
	StepPolicy   Step = "policy"
	StepDigest   Step = "digest"
	StepUpdate   Step = "update"
	StepCommit   Step = "commit"
	StepPush     Step = "push"
)

// Result is everything one pass did and found. The outputs render it; a
// command decides its exit code from Err.
type Result struct {
	Until Stage
	// DryRun reports that nothing was written (plan, scan, policy,
	// update --dry-run).
	DryRun bool
	// Images are in config order.
	Images []Image
	// Attempts are the rewrite–commit–push attempts, first to last; a
	// push lost to a concurrent writer is followed by another attempt on
	// the new tip. Plan has one attempt; Scan and Policy none.
	Attempts []Attempt
	// Branch is where the commit goes (the push branch; with pull
	// requests, their base).
	Branch string
	// PullRequests are the pull requests of a pass with
	// git.push.pullRequest, one per group, in group order.
	PullRequests []PullRequest
	// Fatal is set when the pass could not go on at all (no checkout, no
	// work tree); what was recorded before it still stands.
	Fatal *Problem
	// Sync is the sync step's outcome; nil when the config has no sync
	// section or the pass did not get that far.
	Sync *SyncOutcome
	// Durations are the wall times spent in each step, summed over attempts.
	Durations Durations
	Started   time.Time
	// Registries are the requests the scan made, per registry.
	Registries []scan.RegistryStats
	// ConfigWarnings are the config's own warnings (what Flux objects
	// declare that uptick does differently).
	ConfigWarnings []string
}

// Durations are per-step wall times.
type Durations struct {
	Checkout, Scan, Update, Commit, Push, Sync, Total time.Duration
}

// Image is one configured image's outcome.
type Image struct {
	config.Image
	// Tags are the tags listed, kept only when the caller asked for them.
	Tags []string
	// TagsListed counts the valid tags the registry returned.
	TagsListed int
	// TagsDropped counts the tags it returned that are not valid OCI tags
	// (left out of every list).
	TagsDropped int
	// Pages counts the tag-list pages read.
	Pages int
	// Requests counts the registry round trips made for this image: its
	// pages, retries and digest look-up, and the registry's ping and a
	// token when this image was the first to need them.
	Requests int
	// Credentials says where the image's credentials came from.
	Credentials string
	// Chosen is the image the policy selected, set when OK.
	Chosen update.Image
	// Selected reports whether a tag was chosen (and its digest resolved,
	// when pinned); when false, Problem says why not.
	Selected bool
	Problem  *Problem
}

// Attempt is one rewrite, and for Publish its commit and push.
type Attempt struct {
	// Number counts from 1.
	Number int
	// Base is the commit the rewrite started from.
	Base   string
	Update *update.Result
	// Message is the rendered commit message ("" when nothing changed).
	Message string
	// Commit is the SHA made, "" when none.
	Commit string
	Pushed bool
	// Problem is why this attempt's commit or push failed.
	Problem *Problem
}

// Problem is an error or a warning, with where it happened.
type Problem struct {
	Step  Step
	Image string // configured image name, if about one image
	File  string // slash path in the repository, if about one file
	Line  int
	Err   error
}

// Error renders the problem as a sentence, its context first.
func (p *Problem) Error() string { return p.Err.Error() }

// Unwrap returns the cause.
func (p *Problem) Unwrap() error { return p.Err }

// Last returns the final attempt, or nil if no rewrite was attempted.
func (r *Result) Last() *Attempt {
	if len(r.Attempts) == 0 {
		return nil
	}
	return &r.Attempts[len(r.Attempts)-1]
}

// Pushed reports whether the final attempt's commit reached the remote.
func (r *Result) Pushed() bool {
	a := r.Last()
	return a != nil && a.Pushed
}

// Errors returns every error of the pass, in pipeline order: images that
// failed, files that could not be updated, the final attempt's commit or
// push failure, and the fatal error. Earlier attempts' failures are not
// repeated: a retried push starts from a fresh checkout.
func (r *Result) Errors() []*Problem {
	var out []*Problem
	for _, img := range r.Images {
		if img.Problem != nil {
			out = append(out, img.Problem)
		}
	}
	if a := r.Last(); a != nil {
		if a.Update != nil {
			for _, fe := range a.Update.Errors {
				out = append(out, &Problem{Step: StepUpdate, File: fe.File, Line: fe.Line, Err: fe.Err})
			}
		}
		if a.Problem != nil {
			out = append(out, a.Problem)
		}
	}
	for _, pr := range r.PullRequests {
		if pr.Problem != nil {
			out = append(out, pr.Problem)
		}
	}
	out = append(out, r.Sync.Errors()...)
	if r.Fatal != nil {
		out = append(out, r.Fatal)
	}
	return out
}

// Warnings returns the config's warnings, the final attempt's, the pull
// requests', then the sync's.
func (r *Result) Warnings() []*Problem {
	var out []*Problem
	for _, w := range r.ConfigWarnings {
		out = append(out, &Problem{Step: StepConfig, Err: errors.New(w)})
	}
	if a := r.Last(); a != nil && a.Update != nil {
		for _, w := range a.Update.Warnings {
			out = append(out, &Problem{Step: StepUpdate, File: w.File, Line: w.Line, Err: errors.New(w.Message)})
		}
	}
	for _, pr := range r.PullRequests {
		if pr.Warning != "" {
			out = append(out, &Problem{Step: StepPullRequest, Err: errors.New(pr.Warning)})
		}
	}
	if r.Sync != nil {
		for _, w := range r.Sync.Warnings {
			out = append(out, &Problem{Step: StepSync, Err: errors.New(w)})
		}
	}
	return out
}

// Err joins every error of the pass; nil when the pass succeeded.
func (r *Result) Err() error {
	probs := r.Errors()
	errs := make([]error, len(probs))
	for i, p := range probs {
		errs[i] = p
	}
	return errors.Join(errs...)
}

// Previous returns, per image name, the values its markers held before the
// final attempt changed them, sorted.
func (r *Result) Previous() map[string][]string {
	out := map[string][]string{}
	a := r.Last()
	if a == nil || a.Update == nil {
		return out
	}
	byRef := map[update.PolicyRef]string{}
	for _, img := range r.Images {
		byRef[img.Ref] = img.Name
	}
	seen := map[string]bool{}
	for _, c := range a.Update.Changes {
		name, ok := byRef[c.Image]
		if !ok {
			name = c.Image.String()
		}
		if k := name + "\x00" + c.Old; !seen[k] {
			seen[k] = true
			out[name] = append(out[name], c.Old)
		}
	}
	for _, v := range out {
		sort.Strings(v)
	}
	return out
}
