package github

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	gh "github.com/google/go-github/v92/github"

	"github.com/uptick-gitops/uptick/gitops"
	"github.com/uptick-gitops/uptick/gitops/internal/forgehttp"
)

// Provider is the name this client reports.
const Provider = "github"

// DefaultAPIURL is GitHub.com's REST API.
const DefaultAPIURL = "https://api.github.com/"

const (
	// perPage is GitHub's maximum page size.
	perPage = 100
	// maxOpenPages bounds the pages of open pull requests read for one
	// branch; GitHub allows one open pull request per head and base.
	maxOpenPages = 3
)

// Client talks to one repository on GitHub.
type Client struct {
	api         *gh.Client
	apiURL      string
	owner, name string
	scrub       forgehttp.Scrubber
	timeout     time.Duration
}

var _ gitops.Forge = (*Client)(nil)

// New returns a client for the repository that gitURL (the fleet
// repository's https, ssh or scp-like URL) points at.
func New(gitURL string, opts ...Option) (*Client, error) {
	s, err := forgehttp.Apply("github", opts)
	if err != nil {
		return nil, err
	}
	remote, err := gitops.ParseForgeRemote(gitURL)
	if err != nil {
		return nil, fmt.Errorf("github client: %w", err)
	}
	apiURL := s.APIURL
	if apiURL == "" {
		apiURL = defaultAPIURL(remote, s.Getenv)
	}
	if !strings.HasSuffix(apiURL, "/") {
		apiURL += "/"
	}
	path := remote.Path
	if s.Repository != "" {
		path = s.Repository
	}
	owner, name, ok := strings.Cut(path, "/")
	if !ok || owner == "" || name == "" || strings.Contains(name, "/") {
		return nil, fmt.Errorf("github client: repository path %q is not owner/name; set it with WithRepository", path)
	}
	hc, err := s.HTTPClient()
	if err != nil {
		return nil, fmt.Errorf("github client: %w", err)
	}
	ghOpts := []gh.ClientOptionsFunc{
		gh.WithHTTPClient(hc),
		gh.WithURLs(&apiURL, &apiURL),
		gh.WithUserAgent(s.UserAgent),
	}
	if s.Token != "" {
		ghOpts = append(ghOpts, gh.WithAuthToken(s.Token))
	}
	api, err := gh.NewClient(ghOpts...)
	if err != nil {
		return nil, fmt.Errorf("github client: %w", err)
	}
	return &Client{api: api, apiURL: apiURL, owner: owner, name: name, scrub: forgehttp.NewScrubber(s.Token), timeout: s.Timeout}, nil
}

// defaultAPIURL picks the API of the host serving the repository.
func defaultAPIURL(r gitops.ForgeRemote, getenv func(string) string) string {
	// Under Actions the runner says where its GitHub's API is (GHES, or
	// GHE.com with data residency) when the repository lives there.
	if server, api := getenv("GITHUB_SERVER_URL"), getenv("GITHUB_API_URL"); server != "" && api != "" {
		if u, err := url.Parse(server); err == nil && strings.EqualFold(u.Host, r.Host) {
			return api
		}
	}
	if strings.EqualFold(r.Host, "github.com") || strings.EqualFold(r.Host, "www.github.com") {
		return DefaultAPIURL
	}
	return r.WebBase() + "/api/v3/"
}

// Provider implements gitops.Forge.
func (c *Client) Provider() string { return Provider }

// Repository implements gitops.Forge: "owner/name".
func (c *Client) Repository() string { return c.owner + "/" + c.name }

// APIURL is the REST API base URL the client talks to.
func (c *Client) APIURL() string { return c.apiURL }

// fail turns a go-github error into a *gitops.ForgeError without the token.
func (c *Client) fail(op string, resp *gh.Response, err error) error {
	fe := &gitops.ForgeError{Provider: Provider, Repo: c.Repository(), Op: op, Err: err}
	var er *gh.ErrorResponse
	var rl *gh.RateLimitError
	var ab *gh.AbuseRateLimitError
	switch {
	case errors.As(err, &rl):
		fe.StatusCode, fe.Err = statusOf(rl.Response), gitops.ErrForgeRateLimited
		fe.Message = rl.Message
		if !rl.Rate.Reset.IsZero() {
			fe.Message += " (resets at " + rl.Rate.Reset.UTC().Format("15:04:05 UTC") + ")"
		}
	case errors.As(err, &ab):
		fe.StatusCode, fe.Err = statusOf(ab.Response), gitops.ErrForgeRateLimited
		fe.Message = ab.Message
	case errors.As(err, &er):
		fe.StatusCode = statusOf(er.Response)
		fe.Err = gitops.KindForStatus(fe.StatusCode)
		fe.Message = er.Message
		for _, d := range er.Errors {
			if d.Message != "" {
				fe.Message += "; " + d.Message
			} else if d.Code != "" {
				fe.Message += fmt.Sprintf("; %s %s: %s", d.Resource, d.Field, d.Code)
			}
		}
	default:
		if resp != nil && resp.Response != nil {
			fe.StatusCode = resp.StatusCode
		}
		fe.Message = forgehttp.TransportReason(err, c.timeout)
	}
	fe.Message = forgehttp.TrimMessage(c.scrub.String(fe.Message))
	return fe
}

func statusOf(r *http.Response) int {
	if r == nil {
		return 0
	}
	return r.StatusCode
}

// FindPullRequests implements gitops.Forge with GitHub's head filter: the
// open pull requests from owner:branch, then the most recently updated
// closed ones.
func (c *Client) FindPullRequests(ctx context.Context, branch string) ([]gitops.PullRequest, error) {
	head := c.owner + ":" + branch
	var out []gitops.PullRequest
	opt := &gh.PullRequestListOptions{State: "open", Head: head, ListOptions: gh.ListOptions{PerPage: perPage}}
	for page := 1; page <= maxOpenPages; page++ {
		opt.Page = page
		prs, resp, err := c.api.PullRequests.List(ctx, c.owner, c.name, opt)
		if err != nil {
			return nil, c.fail(fmt.Sprintf("listing open pull requests from %q", branch), resp, err)
		}
		for _, pr := range prs {
			out = append(out, convert(pr))
		}
		if resp.NextPage == 0 {
			break
		}
	}
	closed, resp, err := c.api.PullRequests.List(ctx, c.owner, c.name, &gh.PullRequestListOptions{
		State: "closed", Head: head, Sort: "updated", Direction: "desc",
		ListOptions: gh.ListOptions{PerPage: gitops.MaxClosedFound},
	})
	if err != nil {
		return nil, c.fail(fmt.Sprintf("listing closed pull requests from %q", branch), resp, err)
	}
	for _, pr := range closed {
		out = append(out, convert(pr))
	}
	gitops.SortPullRequests(out)
	return out, nil
}

// CreatePullRequest implements gitops.Forge. GitHub answers 422 with "A
// pull request already exists for owner:branch." for a duplicate.
func (c *Client) CreatePullRequest(ctx context.Context, n gitops.NewPullRequest) (gitops.PullRequest, error) {
	op := fmt.Sprintf("creating pull request %q -> %q", n.Head, n.Base)
	pr, resp, err := c.api.PullRequests.Create(ctx, c.owner, c.name, gh.CreatePullRequest{
		Title: &n.Title, Head: n.Head, Base: n.Base, Body: &n.Body,
	})
	if err != nil {
		fe := c.fail(op, resp, err).(*gitops.ForgeError)
		var er *gh.ErrorResponse
		if errors.As(err, &er) && fe.StatusCode == http.StatusUnprocessableEntity {
			for _, d := range er.Errors {
				if strings.Contains(d.Message, "already exists") {
					fe.Err = gitops.ErrPullRequestExists
				}
			}
		}
		return gitops.PullRequest{}, fe
	}
	return convert(pr), nil
}

// UpdatePullRequest implements gitops.Forge.
func (c *Client) UpdatePullRequest(ctx context.Context, number int64, e gitops.PullRequestEdit) (gitops.PullRequest, error) {
	pr, resp, err := c.api.PullRequests.Edit(ctx, c.owner, c.name, int(number), &gh.PullRequest{Title: e.Title, Body: e.Body})
	if err != nil {
		return gitops.PullRequest{}, c.fail(fmt.Sprintf("updating pull request #%d", number), resp, err)
	}
	return convert(pr), nil
}

// ClosePullRequest implements gitops.Forge: comment first, then close.
func (c *Client) ClosePullRequest(ctx context.Context, number int64, comment string) error {
	if strings.TrimSpace(comment) != "" {
		if _, resp, err := c.api.Issues.CreateComment(ctx, c.owner, c.name, int(number), gh.IssueCommentRequest{Body: comment}); err != nil {
			return c.fail(fmt.Sprintf("commenting on pull request #%d", number), resp, err)
		}
	}
	closed := "closed"
	if _, resp, err := c.api.PullRequests.Edit(ctx, c.owner, c.name, int(number), &gh.PullRequest{State: &closed}); err != nil {
		return c.fail(fmt.Sprintf("closing pull request #%d", number), resp, err)
	}
	return nil
}

// AddLabels implements gitops.Forge; GitHub creates labels that do not
// exist yet.
func (c *Client) AddLabels(ctx context.Context, number int64, labels []string) error {
	if len(labels) == 0 {
		return nil
	}
	if _, resp, err := c.api.Issues.AddLabelsToIssue(ctx, c.owner, c.name, int(number), labels); err != nil {
		return c.fail(fmt.Sprintf("labelling pull request #%d", number), resp, err)
	}
	return nil
}

// RequestReviewers implements gitops.Forge; "org/team" names a team by
// its slug.
func (c *Client) RequestReviewers(ctx context.Context, number int64, reviewers []string) error {
	if len(reviewers) == 0 {
		return nil
	}
	var req gh.ReviewersRequest
	for _, r := range reviewers {
		if _, team, ok := strings.Cut(r, "/"); ok {
			req.TeamReviewers = append(req.TeamReviewers, team)
		} else {
			req.Reviewers = append(req.Reviewers, r)
		}
	}
	if _, resp, err := c.api.PullRequests.RequestReviewers(ctx, c.owner, c.name, int(number), req); err != nil {
		return c.fail(fmt.Sprintf("requesting reviews on pull request #%d", number), resp, err)
	}
	return nil
}

func convert(pr *gh.PullRequest) gitops.PullRequest {
	out := gitops.PullRequest{
		Number:  int64(pr.GetNumber()),
		URL:     pr.GetHTMLURL(),
		Title:   pr.GetTitle(),
		Body:    pr.GetBody(),
		Head:    pr.GetHead().GetRef(),
		HeadSHA: pr.GetHead().GetSHA(),
		Base:    pr.GetBase().GetRef(),
		State:   gitops.PullRequestOpen,
		// List answers carry merged_at but not "merged".
		Merged:    pr.GetMerged() || pr.MergedAt != nil,
		Author:    pr.GetUser().GetLogin(),
		CreatedAt: pr.GetCreatedAt().Time,
		ClosedAt:  pr.GetClosedAt().Time,
	}
	if pr.GetState() == "closed" {
		out.State = gitops.PullRequestClosed
	}
	for _, l := range pr.Labels {
		out.Labels = append(out.Labels, l.GetName())
	}
	slices.Sort(out.Labels)
	return out
}
