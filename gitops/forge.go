package gitops

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

// Forge is the part of a forge's API (Gitea/Forgejo, GitHub, GitLab) that
// the pull-request flow uses, for the one repository the client was made
// for. The implementations live in gitops/gitea, gitops/github and
// gitops/gitlab; this package never imports them.
//
// Every method is bounded in time by its context and by the client's
// per-request timeout, and every error is a *ForgeError that names the
// forge, the repository and the operation, keeps the forge's own reason and
// never carries the token.
//
// The methods are deliberately small so that the caller can make the flow
// safe against concurrent runs: CreatePullRequest fails with
// ErrPullRequestExists when the forge already has an open pull request for
// the head branch, and the caller then finds and updates that one instead of
// opening a duplicate.
type Forge interface {
	// Provider names the forge kind ("gitea", "github", "gitlab"), for
	// messages and reports.
	Provider() string
	// Repository is the repository path on the forge ("owner/name", or
	// "group/subgroup/name" on GitLab).
	Repository() string
	// FindPullRequests returns the pull requests of this repository whose
	// head is branch (in this repository, not a fork): every open one, then
	// the most recently closed or merged ones, at most MaxClosedFound of
	// them. Open ones come first, then newest first.
	FindPullRequests(ctx context.Context, branch string) ([]PullRequest, error)
	// CreatePullRequest opens a pull request. When one is already open for
	// the same head (and base), it returns an error matching
	// ErrPullRequestExists and opens nothing.
	CreatePullRequest(ctx context.Context, pr NewPullRequest) (PullRequest, error)
	// UpdatePullRequest changes the title and/or body of an open pull
	// request; nil fields are left as they are.
	UpdatePullRequest(ctx context.Context, number int64, edit PullRequestEdit) (PullRequest, error)
	// ClosePullRequest posts comment (when not empty) and then closes the
	// pull request without merging it. Closing a closed one is not an error.
	ClosePullRequest(ctx context.Context, number int64, comment string) error
	// AddLabels adds labels by name, keeping the ones already set. Adding
	// a label that is already set is not an error. Gitea labels that do not
	// exist in the repository yet are created (GitHub and GitLab do that
	// themselves).
	AddLabels(ctx context.Context, number int64, labels []string) error
	// RequestReviewers asks users (or "org/team" teams where the forge has
	// them) to review. Asking again is not an error.
	RequestReviewers(ctx context.Context, number int64, reviewers []string) error
}

// MaxClosedFound bounds how many closed or merged pull requests
// FindPullRequests returns for one branch: the flow only needs the latest
// to tell "merged" from "closed by a person".
const MaxClosedFound = 10

// PullRequestState is whether a pull request is open or closed; a merged
// pull request is closed with Merged set.
type PullRequestState string

// Pull request states.
const (
	PullRequestOpen   PullRequestState = "open"
	PullRequestClosed PullRequestState = "closed"
)

// PullRequest is a pull request (a merge request on GitLab) as the flow
// needs to see it, the same for every forge.
type PullRequest struct {
	// Number is the number shown to people (#12, GitLab's !12 iid).
	Number int64
	// URL is the web page of the pull request.
	URL   string
	Title string
	Body  string
	// Head is the branch the changes come from; HeadSHA its commit as the
	// forge last saw it.
	Head    string
	HeadSHA string
	// Base is the branch the pull request merges into.
	Base   string
	State  PullRequestState
	Merged bool
	// Labels are label names, sorted.
	Labels []string
	// Author is the login of whoever opened it.
	Author    string
	CreatedAt time.Time
	// ClosedAt is zero for open pull requests.
	ClosedAt time.Time
}

// Open reports whether the pull request is open.
func (p PullRequest) Open() bool { return p.State == PullRequestOpen }

// NewPullRequest is what CreatePullRequest opens.
type NewPullRequest struct {
	// Head is the branch with the changes, in the same repository.
	Head string
	// Base is the branch to merge into.
	Base  string
	Title string
	Body  string
}

// PullRequestEdit is what UpdatePullRequest changes; nil means unchanged.
type PullRequestEdit struct {
	Title *string
	Body  *string
}

// Forge error kinds, matched with errors.Is on a *ForgeError.
var (
	// ErrPullRequestExists means the forge already has an open pull request
	// for the head branch: find it and update it instead.
	ErrPullRequestExists = errors.New("a pull request for this branch is already open")
	// ErrForgeAuth means the forge rejected the token or the token lacks a
	// permission (HTTP 401/403). Only a new token or new permissions fix it.
	ErrForgeAuth error = &inputError{"the forge rejected the token or it lacks permission"}
	// ErrForgeNotFound means the repository (or the pull request) does not
	// exist or the token cannot see it (HTTP 404).
	ErrForgeNotFound = errors.New("not found on the forge")
	// ErrForgeRateLimited means the forge asked to slow down (HTTP 429, or
	// GitHub's rate limit); a later run succeeds.
	ErrForgeRateLimited = errors.New("rate limited by the forge")
	// ErrForgeUnsupported means the forge has no API for the operation.
	ErrForgeUnsupported = errors.New("not supported by this forge")
)

// ForgeError is the error every Forge method returns.
type ForgeError struct {
	// Provider is "gitea", "github" or "gitlab".
	Provider string
	// Repo is the repository path on the forge.
	Repo string
	// Op says what was attempted, e.g. `creating pull request "uptick/all" -> "main"`.
	Op string
	// StatusCode is the HTTP status the forge answered, 0 when it did not.
	StatusCode int
	// Message is the forge's own reason (token scrubbed), or the transport
	// error when there was no answer.
	Message string
	// Err is one of the Err* kinds above when the status tells one, else
	// the underlying error, for errors.Is/As (context.DeadlineExceeded...).
	Err error
}

// Error implements error, e.g.
// `gitea: creating pull request "uptick/all" -> "main" in org/fleet: 409 Conflict: pull request already exists`.
func (e *ForgeError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %s in %s", e.Provider, e.Op, e.Repo)
	status := ""
	if e.StatusCode != 0 {
		status = fmt.Sprintf("%d %s", e.StatusCode, http.StatusText(e.StatusCode))
		b.WriteString(": " + status)
	}
	if e.Message != "" && !strings.EqualFold(e.Message, status) && !strings.EqualFold(e.Message, http.StatusText(e.StatusCode)) {
		b.WriteString(": ")
		b.WriteString(e.Message)
	}
	return b.String()
}

// Unwrap returns the error kind or cause.
func (e *ForgeError) Unwrap() error { return e.Err }

// BadInput reports whether only a change of configuration (URL, token,
// permissions) can fix the error: 401, 403 without a rate limit, 404.
func (e *ForgeError) BadInput() bool {
	return errors.Is(e.Err, ErrForgeAuth) || errors.Is(e.Err, ErrForgeNotFound)
}

// KindForStatus maps an HTTP status to one of the Err* kinds, or nil when
// the status is not one callers branch on. Forge clients use it; 409 and
// 422 are not mapped because only the client knows whether they mean "a
// pull request already exists".
func KindForStatus(status int) error {
	switch status {
	case http.StatusUnauthorized, http.StatusForbidden:
		return ErrForgeAuth
	case http.StatusNotFound:
		return ErrForgeNotFound
	case http.StatusTooManyRequests:
		return ErrForgeRateLimited
	}
	return nil
}

// ForgeRemote is a git remote URL taken apart for a forge API: which host
// serves it and the repository's path there.
type ForgeRemote struct {
	// Scheme is "https", "http" or "ssh" (scp-like URLs are "ssh").
	Scheme string
	// Host is the host name, with the port for http(s) URLs only (an ssh
	// port says nothing about the API's).
	Host string
	// Path is the repository path without leading slash and ".git" suffix,
	// e.g. "org/fleet" or "group/sub/fleet".
	Path string
}

// ErrNotForgeURL means the git URL is local (file:// or a path): there is
// no forge to open pull requests on. Only a config change fixes it.
var ErrNotForgeURL error = &inputError{"pull requests need the repository on a forge (an https or ssh URL), not a local path"}

// ParseForgeRemote takes apart an https, http, ssh or scp-like
// (git@host:org/fleet.git) git URL. Credentials in the URL are dropped.
func ParseForgeRemote(gitURL string) (ForgeRemote, error) {
	kind, err := classifyURL(gitURL)
	if err != nil {
		return ForgeRemote{}, fmt.Errorf("git URL %q: %w", redactURL(gitURL), err)
	}
	var r ForgeRemote
	switch kind {
	case urlKindHTTP, urlKindSSH:
		if !strings.Contains(gitURL, "://") { // scp-like user@host:path
			hostPart, p, _ := strings.Cut(gitURL, ":")
			if i := strings.LastIndex(hostPart, "@"); i >= 0 {
				hostPart = hostPart[i+1:]
			}
			r = ForgeRemote{Scheme: "ssh", Host: hostPart, Path: p}
			break
		}
		u, err := url.Parse(gitURL)
		if err != nil {
			return ForgeRemote{}, fmt.Errorf("git URL %q: cannot parse it", redactURL(gitURL))
		}
		r = ForgeRemote{Scheme: u.Scheme, Host: u.Host, Path: u.Path}
		if u.Scheme == "ssh" {
			r.Host = u.Hostname()
		}
	default:
		return ForgeRemote{}, fmt.Errorf("git URL %q: %w", redactURL(gitURL), ErrNotForgeURL)
	}
	r.Path = strings.TrimSuffix(strings.Trim(r.Path, "/"), ".git")
	r.Path = strings.Trim(r.Path, "/")
	if r.Host == "" || r.Path == "" || strings.Contains(r.Path, "//") {
		return ForgeRemote{}, fmt.Errorf("git URL %q: %w", redactURL(gitURL), errNoRepoPath)
	}
	for _, seg := range strings.Split(r.Path, "/") {
		if seg == "." || seg == ".." {
			return ForgeRemote{}, fmt.Errorf("git URL %q: %w", redactURL(gitURL), errNoRepoPath)
		}
	}
	return r, nil
}

var errNoRepoPath error = &inputError{"no repository path on the forge in it"}

// WebBase is the scheme://host a forge's web and API are served on by
// default: the URL's own for http(s), https for ssh.
func (r ForgeRemote) WebBase() string {
	if r.Scheme == "http" || r.Scheme == "https" {
		return r.Scheme + "://" + r.Host
	}
	return "https://" + r.Host
}

// RepoPathUnder returns the repository path relative to an API or web base
// URL that lives under a path prefix (Gitea served at
// https://host/git/ has repositories at /git/org/fleet.git). A prefix the
// path does not start with is ignored.
func (r ForgeRemote) RepoPathUnder(baseURL string) string {
	u, err := url.Parse(baseURL)
	if err != nil || u.Hostname() != hostOnly(r.Host) {
		return r.Path
	}
	prefix := strings.Trim(u.Path, "/")
	for _, strip := range []string{"/api/v1", "/api/v3", "/api/v4", "api/v1", "api/v3", "api/v4"} {
		prefix = strings.Trim(strings.TrimSuffix(prefix, strip), "/")
	}
	if prefix != "" && strings.HasPrefix(r.Path, prefix+"/") {
		return strings.TrimPrefix(r.Path, prefix+"/")
	}
	return r.Path
}

func hostOnly(hostport string) string {
	if u, err := url.Parse("//" + hostport); err == nil {
		return u.Hostname()
	}
	return hostport
}

// SortPullRequests orders pull requests as FindPullRequests returns them:
// open ones first, then by closing time, newest first; ties by number,
// highest first.
func SortPullRequests(prs []PullRequest) {
	slices.SortStableFunc(prs, func(a, b PullRequest) int {
		if a.Open() != b.Open() {
			if a.Open() {
				return -1
			}
			return 1
		}
		if c := b.ClosedAt.Compare(a.ClosedAt); c != 0 {
			return c
		}
		return cmp.Compare(b.Number, a.Number)
	})
}

// ConvergeOpen leaves at most one pull request from branch into base open.
// Overlapping runs can open duplicates even though CreatePullRequest
// reports ErrPullRequestExists: Gitea checks for an open one and inserts
// the new one without a lock. ConvergeOpen keeps the
// lowest-numbered open one and closes the others, each with comment(kept)
// as its closing comment. Every caller picks the same survivor, so runs that
// converge at the same time agree; a duplicate may then get the comment
// twice. It returns the survivor (zero Number when none is open) and the
// pull requests it closed.
func ConvergeOpen(ctx context.Context, f Forge, branch, base string, comment func(kept PullRequest) string) (PullRequest, []PullRequest, error) {
	found, err := f.FindPullRequests(ctx, branch)
	if err != nil {
		return PullRequest{}, nil, err
	}
	var open []PullRequest
	for _, p := range found {
		if p.Open() && p.Base == base {
			open = append(open, p)
		}
	}
	if len(open) == 0 {
		return PullRequest{}, nil, nil
	}
	slices.SortFunc(open, func(a, b PullRequest) int { return cmp.Compare(a.Number, b.Number) })
	kept, dups := open[0], open[1:]
	for _, d := range dups {
		if err := f.ClosePullRequest(ctx, d.Number, comment(kept)); err != nil {
			return kept, nil, err
		}
	}
	return kept, dups, nil
}

// PullRequestMarker is what uptick records in the body of a pull request it
// opens, so a later run can tell what the pull request proposes without
// reading prose a person may have edited: the group and, per image, the
// value it moves to. A person-closed pull request whose marker equals what
// a run would propose again is not reopened.
type PullRequestMarker struct {
	// Group is the pull request's group ("all", or the image name).
	Group string `json:"group"`
	// Changes maps image name to the new tag (or digest).
	Changes map[string]string `json:"changes"`
}

const (
	markerPrefix = "<!-- uptick:v1 "
	markerSuffix = " -->"
	// maxMarkerBytes bounds the marker line a body may carry.
	maxMarkerBytes = 64 << 10
)

// String renders the marker as one HTML comment line, invisible in the
// rendered body. encoding/json escapes '<' and '>', so the JSON never
// closes the comment early.
func (m PullRequestMarker) String() string {
	b, err := json.Marshal(m)
	if err != nil { // a struct of strings always marshals
		panic(err)
	}
	return markerPrefix + string(b) + markerSuffix
}

// Equal reports whether two markers propose the same changes in the same
// group.
func (m PullRequestMarker) Equal(o PullRequestMarker) bool {
	return m.Group == o.Group && maps.Equal(m.Changes, o.Changes)
}

// ParsePullRequestMarker finds the last marker line in body. ok is false
// when there is none or it does not parse (a person edited it).
func ParsePullRequestMarker(body string) (m PullRequestMarker, ok bool) {
	i := strings.LastIndex(body, markerPrefix)
	if i < 0 {
		return PullRequestMarker{}, false
	}
	line := body[i+len(markerPrefix):]
	if j := strings.IndexByte(line, '\n'); j >= 0 {
		line = line[:j]
	}
	line = strings.TrimRight(line, "\r")
	if len(line) > maxMarkerBytes || !strings.HasSuffix(line, markerSuffix) {
		return PullRequestMarker{}, false
	}
	dec := json.NewDecoder(strings.NewReader(strings.TrimSuffix(line, markerSuffix)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil || dec.More() || m.Group == "" || len(m.Changes) == 0 {
		return PullRequestMarker{}, false
	}
	return m, true
}
