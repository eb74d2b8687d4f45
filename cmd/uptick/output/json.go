package output

import (
	"encoding/json"
	"io"
	"time"

	"github.com/uptick-gitops/uptick/cmd/uptick/pass"
)

// SchemaVersion is the version of Document. It changes only when a field
// is removed or changes meaning; new fields may appear in any version.
const SchemaVersion = 1

// Document is the JSON report (--output json): one object per run. Arrays
// are never null; optional strings are omitted when empty.
type Document struct {
	SchemaVersion int `json:"schemaVersion"`
	// Command is run, plan, scan, policy, update or sync.
	Command string `json:"command"`
	// DryRun is true when nothing was written (plan, scan, policy,
	// update --dry-run).
	DryRun bool    `json:"dryRun"`
	Images []Image `json:"images"`
	// Changes are the marked fields the final attempt changed, by file
	// and line.
	Changes      []Change  `json:"changes"`
	FilesChanged []string  `json:"filesChanged"`
	Warnings     []Problem `json:"warnings"`
	Errors       []Problem `json:"errors"`
	// Base is the commit the final attempt started from.
	Base string `json:"base,omitempty"`
	// Branch is where the commit goes.
	Branch string `json:"branch,omitempty"`
	// Commit is the final attempt's commit SHA.
	Commit string `json:"commit,omitempty"`
	// Pushed is true when Commit reached Branch on the remote.
	Pushed bool `json:"pushed"`
	// Message is the commit message (or, for plan, the one run would use).
	Message string `json:"message,omitempty"`
	// Attempts lists every rewrite–commit–push attempt, first to last.
	Attempts []Attempt `json:"attempts"`
	// Sync is the sync stage's report, when it ran or was due to.
	Sync        *Sync     `json:"sync,omitempty"`
	DurationsMs Durations `json:"durationsMs"`
	// PullRequests are the pull requests of a run with
	// git.push.pullRequest, one per group; empty otherwise.
	PullRequests []PullRequest `json:"pullRequests"`
	// Registries are the requests the scan made per registry.
	Registries []Registry `json:"registries"`
}

// PullRequest is what a run did with one group's pull request.
type PullRequest struct {
	// Group is "all", or the image's name with group per-image.
	Group string `json:"group"`
	// Branch is uptick's branch for the group, Base the one it merges into.
	Branch string `json:"branch"`
	Base   string `json:"base"`
	// Action is opened, updated, unchanged or closed; "" when there was
	// nothing to propose and no pull request.
	Action string `json:"action"`
	// Number and URL identify the pull request (GitLab: the merge
	// request's !iid); State is open or closed; Merged when merged.
	Number int64  `json:"number,omitempty"`
	URL    string `json:"url,omitempty"`
	State  string `json:"state,omitempty"`
	Merged bool   `json:"merged,omitempty"`
	// Commit is the branch tip proposed; Pushed whether this run pushed it.
	Commit string `json:"commit,omitempty"`
	Pushed bool   `json:"pushed"`
	// Changes are the group's rewritten fields.
	Changes []Change `json:"changes"`
	// Closed are the numbers of the pull requests this run closed.
	Closed []int64 `json:"closed"`
	// Note explains the action; Error is why the group failed (also in
	// errors[]).
	Note  string `json:"note,omitempty"`
	Error string `json:"error,omitempty"`
}

// Registry is the traffic to one registry.
type Registry struct {
	Host string `json:"host"`
	// Requests counts every round trip (retries, token requests included).
	Requests int `json:"requests"`
	// Pings, Tokens, Pages and Heads count first attempts of each kind.
	Pings  int `json:"pings"`
	Tokens int `json:"tokens"`
	Pages  int `json:"pages"`
	Heads  int `json:"heads"`
}

// Image is one configured image's outcome.
type Image struct {
	Name       string `json:"name"`
	Repository string `json:"repository"`
	TagsListed int    `json:"tagsListed"`
	// RegistryRequests counts HTTP round trips; 0 for an image that
	// shares another's listing. The registry's ping and a shared token
	// count for the first image that needed them.
	RegistryRequests int `json:"registryRequests"`
	// TagsDropped counts tags the registry sent that are not valid OCI
	// tags; they are in no list.
	TagsDropped int `json:"tagsDropped"`
	// TagPages counts the tag-list pages read.
	TagPages int `json:"tagPages"`
	// Credentials says where the image's registry credentials came from
	// (or were looked for); never a secret.
	Credentials string `json:"credentials,omitempty"`
	// Tags are every tag listed (scan, demo).
	Tags   []string `json:"tags,omitzero"`
	Tag    string   `json:"tag,omitempty"`
	Digest string   `json:"digest,omitempty"`
	// Image is the full reference markers are set to.
	Image string `json:"image,omitempty"`
	// Previous are the values this image's markers held before the change.
	Previous []string `json:"previous"`
	// Error is why no tag was chosen; the same problem is in Errors.
	Error string `json:"error,omitempty"`
}

// Change is one rewritten field.
type Change struct {
	File   string `json:"file"`
	Line   int    `json:"line"`
	Object string `json:"object,omitempty"`
	// Policy is as written in the marker; Image is the configured image
	// it resolved to.
	Policy string `json:"policy"`
	Image  string `json:"image"`
	// Field is "", "tag", "name" or "digest".
	Field string `json:"field,omitempty"`
	Old   string `json:"old"`
	New   string `json:"new"`
}

// Problem is an error or a warning.
type Problem struct {
	// Stage is checkout, scan, policy, digest, update, commit, push or sync.
	Stage   string `json:"stage"`
	Image   string `json:"image,omitempty"`
	File    string `json:"file,omitempty"`
	Line    int    `json:"line,omitempty"`
	Message string `json:"message"`
}

// Attempt is one rewrite–commit–push attempt.
type Attempt struct {
	Attempt int    `json:"attempt"`
	Base    string `json:"base,omitempty"`
	Commit  string `json:"commit,omitempty"`
	Pushed  bool   `json:"pushed"`
	Error   string `json:"error,omitempty"`
}

// Durations are wall times in milliseconds per step, summed over attempts.
type Durations struct {
	Checkout int64 `json:"checkout"`
	Scan     int64 `json:"scan"`
	Update   int64 `json:"update"`
	Commit   int64 `json:"commit"`
	Push     int64 `json:"push"`
	Sync     int64 `json:"sync"`
	Total    int64 `json:"total"`
}

// NewDocument builds the JSON report of a result.
func NewDocument(command string, r *pass.Result) *Document {
	d := &Document{
		SchemaVersion: SchemaVersion,
		Command:       command,
		DryRun:        r.DryRun,
		Images:        []Image{},
		Changes:       []Change{},
		FilesChanged:  []string{},
		Warnings:      problems(r.Warnings()),
		Errors:        problems(r.Errors()),
		Branch:        r.Branch,
		Attempts:      []Attempt{},
		PullRequests:  []PullRequest{},
		Registries:    []Registry{},
		DurationsMs: Durations{
			Checkout: ms(r.Durations.Checkout), Scan: ms(r.Durations.Scan), Update: ms(r.Durations.Update),
			Commit: ms(r.Durations.Commit), Push: ms(r.Durations.Push), Sync: ms(r.Durations.Sync), Total: ms(r.Durations.Total),
		},
		Sync: NewSync(r.Sync),
	}
	prev := r.Previous()
	for _, img := range r.Images {
		ji := Image{Name: img.Name, Repository: img.Repository, TagsListed: img.TagsListed, RegistryRequests: img.Requests,
			TagsDropped: img.TagsDropped, TagPages: img.Pages, Credentials: img.Credentials, Tags: img.Tags, Previous: prev[img.Name]}
		if ji.Previous == nil {
			ji.Previous = []string{}
		}
		if img.Selected {
			ji.Tag, ji.Digest, ji.Image = img.Chosen.Tag, img.Chosen.Digest, img.Chosen.String()
		}
		if img.Problem != nil {
			ji.Error = img.Problem.Error()
		}
		d.Images = append(d.Images, ji)
	}
	for _, reg := range r.Registries {
		d.Registries = append(d.Registries, Registry{Host: reg.Host, Requests: reg.Requests, Pings: reg.Pings, Tokens: reg.Tokens, Pages: reg.Pages, Heads: reg.Heads})
	}
	for _, a := range r.Attempts {
		ja := Attempt{Attempt: a.Number, Base: a.Base, Commit: a.Commit, Pushed: a.Pushed}
		if a.Problem != nil {
			ja.Error = a.Problem.Error()
		}
		d.Attempts = append(d.Attempts, ja)
	}
	for _, pr := range r.PullRequests {
		jp := PullRequest{Group: pr.Group, Branch: pr.Branch, Base: pr.Base, Action: string(pr.Action), Number: pr.Number, URL: pr.URL,
			State: string(pr.State), Merged: pr.Merged, Commit: pr.Commit, Pushed: pr.Pushed, Note: pr.Note,
			Changes: []Change{}, Closed: append([]int64{}, pr.Closed...)}
		for _, c := range pr.Changes {
			jp.Changes = append(jp.Changes, Change{File: c.File, Line: c.Line, Object: c.Object, Policy: c.Policy.String(), Image: c.Image.String(), Field: string(c.Field), Old: c.Old, New: c.New})
		}
		if pr.Problem != nil {
			jp.Error = pr.Problem.Error()
		}
		d.PullRequests = append(d.PullRequests, jp)
	}
	if a := r.Last(); a != nil {
		d.Base, d.Commit, d.Pushed, d.Message = a.Base, a.Commit, a.Pushed, a.Message
		if a.Update != nil {
			for _, c := range a.Update.Changes {
				d.Changes = append(d.Changes, Change{File: c.File, Line: c.Line, Object: c.Object, Policy: c.Policy.String(), Image: c.Image.String(), Field: string(c.Field), Old: c.Old, New: c.New})
			}
			for _, f := range a.Update.Files {
				d.FilesChanged = append(d.FilesChanged, f.Path)
			}
		}
	}
	return d
}

func problems(ps []*pass.Problem) []Problem {
	out := make([]Problem, len(ps))
	for i, p := range ps {
		out[i] = Problem{Stage: string(p.Step), Image: p.Image, File: p.File, Line: p.Line, Message: p.Error()}
	}
	return out
}

func ms(d time.Duration) int64 { return d.Milliseconds() }

// JSON writes the result as one indented JSON document.
func JSON(w io.Writer, command string, r *pass.Result) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(NewDocument(command, r))
}
