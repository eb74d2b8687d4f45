package gitlab

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"strings"
	"time"

	gl "gitlab.com/gitlab-org/api/client-go/v2"

	"github.com/uptick-gitops/uptick/gitops"
	"github.com/uptick-gitops/uptick/gitops/internal/forgehttp"
)

// Provider is the name this client reports.
const Provider = "gitlab"

const (
	// perPage is GitLab's maximum page size.
	perPage = 100
	// maxOpenPages bounds the pages of open merge requests read for one
	// branch; GitLab allows one open merge request per source branch and
	// target.
	maxOpenPages = 3
)

// Client talks to one GitLab project.
type Client struct {
	api     *gl.Client
	baseURL string
	project string
	scrub   forgehttp.Scrubber
	timeout time.Duration
}

var _ gitops.Forge = (*Client)(nil)

// New returns a client for the project that gitURL (the fleet repository's
// https, ssh or scp-like URL) points at.
func New(gitURL string, opts ...Option) (*Client, error) {
	s, err := forgehttp.Apply("gitlab", opts)
	if err != nil {
		return nil, err
	}
	remote, err := gitops.ParseForgeRemote(gitURL)
	if err != nil {
		return nil, fmt.Errorf("gitlab client: %w", err)
	}
	base := remote.WebBase()
	if s.APIURL != "" {
		base = strings.TrimSuffix(strings.TrimSuffix(s.APIURL, "/"), "/api/v4")
	}
	project := remote.RepoPathUnder(base)
	if s.Repository != "" {
		project = strings.Trim(s.Repository, "/")
	}
	if !strings.Contains(project, "/") {
		return nil, fmt.Errorf("gitlab client: project path %q has no namespace; set it with WithRepository", project)
	}
	hc, err := s.HTTPClient()
	if err != nil {
		return nil, fmt.Errorf("gitlab client: %w", err)
	}
	api, err := gl.NewClient(s.Token,
		gl.WithBaseURL(base+"/api/v4"),
		gl.WithHTTPClient(hc),
		// A retried POST could post a comment twice; reads and PUTs are safe.
		gl.WithOnlyIdempotentRetries(),
		gl.WithCustomRetryMax(2),
		gl.WithUserAgent(s.UserAgent),
		gl.WithURLWarningLogger(slog.New(slog.NewTextHandler(io.Discard, nil))),
	)
	if err != nil {
		return nil, fmt.Errorf("gitlab client: %w", err)
	}
	return &Client{api: api, baseURL: base, project: project, scrub: forgehttp.NewScrubber(s.Token), timeout: s.Timeout}, nil
}

// Provider implements gitops.Forge.
func (c *Client) Provider() string { return Provider }

// Repository implements gitops.Forge: the project's full path.
func (c *Client) Repository() string { return c.project }

// APIURL is the server base URL (without /api/v4) the client talks to.
func (c *Client) APIURL() string { return c.baseURL }

// fail turns a client error into a *gitops.ForgeError without the token.
func (c *Client) fail(op string, resp *gl.Response, err error) error {
	fe := &gitops.ForgeError{Provider: Provider, Repo: c.project, Op: op, Err: err}
	if resp != nil && resp.Response != nil {
		fe.StatusCode = resp.StatusCode
	}
	var er *gl.ErrorResponse
	switch {
	case errors.As(err, &er):
		fe.StatusCode = er.StatusCode
		fe.Message = reason(er)
		fe.Err = gitops.KindForStatus(er.StatusCode)
	case errors.Is(err, gl.ErrNotFound):
		fe.StatusCode, fe.Err = http.StatusNotFound, gitops.ErrForgeNotFound
	default:
		fe.Message = forgehttp.TransportReason(err, c.timeout)
	}
	fe.Message = forgehttp.TrimMessage(c.scrub.String(fe.Message))
	return fe
}

// FindPullRequests implements gitops.Forge with GitLab's source_branch
// filter: the open merge requests, then the most recently updated closed or
// merged ones.
func (c *Client) FindPullRequests(ctx context.Context, branch string) ([]gitops.PullRequest, error) {
	var out []gitops.PullRequest
	opened := "opened"
	for page := int64(1); page <= maxOpenPages; page++ {
		mrs, resp, err := c.api.MergeRequests.ListProjectMergeRequests(c.project, &gl.ListProjectMergeRequestsOptions{
			ListOptions:  gl.ListOptions{Page: page, PerPage: perPage},
			State:        &opened,
			SourceBranch: &branch,
		}, gl.WithContext(ctx))
		if err != nil {
			return nil, c.fail(fmt.Sprintf("listing open merge requests from %q", branch), resp, err)
		}
		for _, mr := range mrs {
			out = append(out, convert(mr))
		}
		if resp.NextPage == 0 {
			break
		}
	}
	all, orderBy, desc := "all", "updated_at", "desc"
	mrs, resp, err := c.api.MergeRequests.ListProjectMergeRequests(c.project, &gl.ListProjectMergeRequestsOptions{
		ListOptions:  gl.ListOptions{PerPage: 2 * gitops.MaxClosedFound},
		State:        &all,
		OrderBy:      &orderBy,
		Sort:         &desc,
		SourceBranch: &branch,
	}, gl.WithContext(ctx))
	if err != nil {
		return nil, c.fail(fmt.Sprintf("listing closed merge requests from %q", branch), resp, err)
	}
	closed := 0
	for _, mr := range mrs {
		if p := convert(mr); !p.Open() && closed < gitops.MaxClosedFound {
			out = append(out, p)
			closed++
		}
	}
	gitops.SortPullRequests(out)
	return out, nil
}

// CreatePullRequest implements gitops.Forge. GitLab answers 409 with
// "Another open merge request already exists for this source branch: !N".
func (c *Client) CreatePullRequest(ctx context.Context, n gitops.NewPullRequest) (gitops.PullRequest, error) {
	mr, resp, err := c.api.MergeRequests.CreateMergeRequest(c.project, &gl.CreateMergeRequestOptions{
		Title: &n.Title, Description: &n.Body, SourceBranch: &n.Head, TargetBranch: &n.Base,
	}, gl.WithContext(ctx))
	if err != nil {
		fe := c.fail(fmt.Sprintf("creating merge request %q -> %q", n.Head, n.Base), resp, err).(*gitops.ForgeError)
		if fe.StatusCode == http.StatusConflict {
			fe.Err = gitops.ErrPullRequestExists
		}
		return gitops.PullRequest{}, fe
	}
	return convert(&mr.BasicMergeRequest), nil
}

// UpdatePullRequest implements gitops.Forge.
func (c *Client) UpdatePullRequest(ctx context.Context, number int64, e gitops.PullRequestEdit) (gitops.PullRequest, error) {
	mr, resp, err := c.api.MergeRequests.UpdateMergeRequest(c.project, number, &gl.UpdateMergeRequestOptions{
		Title: e.Title, Description: e.Body,
	}, gl.WithContext(ctx))
	if err != nil {
		return gitops.PullRequest{}, c.fail(fmt.Sprintf("updating merge request !%d", number), resp, err)
	}
	return convert(&mr.BasicMergeRequest), nil
}

// ClosePullRequest implements gitops.Forge: a note first, then close.
func (c *Client) ClosePullRequest(ctx context.Context, number int64, comment string) error {
	if strings.TrimSpace(comment) != "" {
		if _, resp, err := c.api.Notes.CreateMergeRequestNote(c.project, number, &gl.CreateMergeRequestNoteOptions{Body: &comment}, gl.WithContext(ctx)); err != nil {
			return c.fail(fmt.Sprintf("commenting on merge request !%d", number), resp, err)
		}
	}
	closeEvent := "close"
	if _, resp, err := c.api.MergeRequests.UpdateMergeRequest(c.project, number, &gl.UpdateMergeRequestOptions{StateEvent: &closeEvent}, gl.WithContext(ctx)); err != nil {
		return c.fail(fmt.Sprintf("closing merge request !%d", number), resp, err)
	}
	return nil
}

// AddLabels implements gitops.Forge (add_labels: GitLab creates missing
// labels and keeps the others).
func (c *Client) AddLabels(ctx context.Context, number int64, labels []string) error {
	if len(labels) == 0 {
		return nil
	}
	add := gl.LabelOptions(labels)
	if _, resp, err := c.api.MergeRequests.UpdateMergeRequest(c.project, number, &gl.UpdateMergeRequestOptions{AddLabels: &add}, gl.WithContext(ctx)); err != nil {
		return c.fail(fmt.Sprintf("labelling merge request !%d", number), resp, err)
	}
	return nil
}

// RequestReviewers implements gitops.Forge. GitLab takes reviewer ids and
// replaces the list, so usernames are looked up and the merge request's
// current reviewers kept. GitLab has no team reviewers.
func (c *Client) RequestReviewers(ctx context.Context, number int64, reviewers []string) error {
	if len(reviewers) == 0 {
		return nil
	}
	op := fmt.Sprintf("requesting reviews on merge request !%d", number)
	mr, resp, err := c.api.MergeRequests.GetMergeRequest(c.project, number, nil, gl.WithContext(ctx))
	if err != nil {
		return c.fail(op, resp, err)
	}
	var ids []int64
	for _, r := range mr.Reviewers {
		ids = append(ids, r.ID)
	}
	before := len(ids)
	for _, name := range reviewers {
		if slices.ContainsFunc(mr.Reviewers, func(u *gl.BasicUser) bool { return u.Username == name }) {
			continue
		}
		if strings.Contains(name, "/") {
			return &gitops.ForgeError{Provider: Provider, Repo: c.project, Op: op, Err: gitops.ErrForgeUnsupported,
				Message: fmt.Sprintf("%q: GitLab has no team reviewers; name users", name)}
		}
		u := name
		users, resp, err := c.api.Users.ListUsers(&gl.ListUsersOptions{Username: &u}, gl.WithContext(ctx))
		if err != nil {
			return c.fail(fmt.Sprintf("looking up user %q", name), resp, err)
		}
		if len(users) == 0 {
			return &gitops.ForgeError{Provider: Provider, Repo: c.project, Op: op, Err: gitops.ErrForgeNotFound,
				Message: fmt.Sprintf("no user %q", name)}
		}
		if !slices.Contains(ids, users[0].ID) {
			ids = append(ids, users[0].ID)
		}
	}
	if len(ids) == before {
		return nil
	}
	if _, resp, err := c.api.MergeRequests.UpdateMergeRequest(c.project, number, &gl.UpdateMergeRequestOptions{ReviewerIDs: &ids}, gl.WithContext(ctx)); err != nil {
		return c.fail(op, resp, err)
	}
	return nil
}

// reason is the server's own words from a GitLab error body: "message" as
// a string, a list or a map of field to messages; "error_description" for
// OAuth errors; else the client's rendering.
func reason(er *gl.ErrorResponse) string {
	var body struct {
		Message          any    `json:"message"`
		Error            string `json:"error"`
		ErrorDescription string `json:"error_description"`
	}
	if json.Unmarshal(er.Body, &body) != nil {
		return er.Message
	}
	var parts []string
	switch m := body.Message.(type) {
	case string:
		parts = append(parts, m)
	case []any:
		for _, v := range m {
			parts = append(parts, fmt.Sprint(v))
		}
	case map[string]any:
		for _, k := range slices.Sorted(maps.Keys(m)) {
			parts = append(parts, fmt.Sprintf("%s %v", k, m[k]))
		}
	}
	if body.ErrorDescription != "" {
		parts = append(parts, body.ErrorDescription)
	} else if body.Error != "" {
		parts = append(parts, body.Error)
	}
	if len(parts) == 0 {
		return er.Message
	}
	return strings.Join(parts, "; ")
}

func convert(mr *gl.BasicMergeRequest) gitops.PullRequest {
	out := gitops.PullRequest{
		Number:  mr.IID,
		URL:     mr.WebURL,
		Title:   mr.Title,
		Body:    mr.Description,
		Head:    mr.SourceBranch,
		HeadSHA: mr.SHA,
		Base:    mr.TargetBranch,
		State:   gitops.PullRequestOpen,
		Merged:  mr.State == "merged",
		Labels:  slices.Sorted(slices.Values(mr.Labels)),
	}
	switch mr.State {
	case "closed", "merged":
		out.State = gitops.PullRequestClosed
	}
	if mr.Author != nil {
		out.Author = mr.Author.Username
	}
	if mr.CreatedAt != nil {
		out.CreatedAt = *mr.CreatedAt
	}
	switch {
	case mr.ClosedAt != nil:
		out.ClosedAt = *mr.ClosedAt
	case mr.MergedAt != nil:
		out.ClosedAt = *mr.MergedAt
	}
	return out
}
