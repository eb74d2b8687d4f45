package gitea

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"

	sdk "code.gitea.io/sdk/gitea"

	"github.com/uptick-gitops/uptick/gitops"
	"github.com/uptick-gitops/uptick/gitops/internal/forgehttp"
)

// Provider is the name this client reports.
const Provider = "gitea"

const (
	// pageSize is Gitea's default maximum (MAX_RESPONSE_ITEMS).
	pageSize = 50
	// maxOpenPages bounds the scan for open pull requests (1,000 of them).
	maxOpenPages = 20
	// maxClosedPages bounds the scan of the most recently closed pull
	// requests of the repository (500) for ones from a branch.
	maxClosedPages = 10
	// labelColor is given to labels AddLabels creates.
	labelColor = "#ededed"
)

// Client talks to one repository on a Gitea or Forgejo server.
type Client struct {
	base        string // server root URL, without /api/v1
	owner, name string
	set         forgehttp.Settings
	hc          *http.Client
	scrub       forgehttp.Scrubber

	labelsMu sync.Mutex
	labelIDs map[string]int64 // name -> id, filled on first AddLabels
}

var _ gitops.Forge = (*Client)(nil)

// New returns a client for the repository that gitURL (the fleet
// repository's https, ssh or scp-like URL) points at.
func New(gitURL string, opts ...Option) (*Client, error) {
	s, err := forgehttp.Apply("gitea", opts)
	if err != nil {
		return nil, err
	}
	remote, err := gitops.ParseForgeRemote(gitURL)
	if err != nil {
		return nil, fmt.Errorf("gitea client: %w", err)
	}
	c := &Client{set: s, scrub: forgehttp.NewScrubber(s.Token)}
	c.base = remote.WebBase()
	if s.APIURL != "" {
		c.base = strings.TrimSuffix(strings.TrimSuffix(s.APIURL, "/"), "/api/v1")
	}
	path := remote.RepoPathUnder(c.base)
	if s.Repository != "" {
		path = s.Repository
	}
	parts := strings.Split(path, "/")
	if len(parts) < 2 || parts[len(parts)-2] == "" || parts[len(parts)-1] == "" {
		return nil, fmt.Errorf("gitea client: cannot tell owner/name from repository path %q; set it with WithRepository", path)
	}
	c.owner, c.name = parts[len(parts)-2], parts[len(parts)-1]
	if c.hc, err = s.HTTPClient(); err != nil {
		return nil, fmt.Errorf("gitea client: %w", err)
	}
	return c, nil
}

// Provider implements gitops.Forge.
func (c *Client) Provider() string { return Provider }

// Repository implements gitops.Forge: "owner/name".
func (c *Client) Repository() string { return c.owner + "/" + c.name }

// APIURL is the server root URL the client talks to.
func (c *Client) APIURL() string { return c.base }

// api returns an SDK client bound to ctx. The SDK keeps one context per
// client, so every call gets its own (a struct, no request); the version
// probe is skipped because uptick uses only APIs Gitea 1.17+ and Forgejo have.
func (c *Client) api(ctx context.Context) (*sdk.Client, error) {
	opts := []sdk.ClientOption{
		sdk.SetHTTPClient(c.hc),
		sdk.SetContext(ctx),
		sdk.SetGiteaVersion(""),
		sdk.SetUserAgent(c.set.UserAgent),
	}
	if c.set.Token != "" {
		opts = append(opts, sdk.SetToken(c.set.Token))
	}
	return sdk.NewClient(c.base, opts...)
}

// fail turns an SDK error into a *gitops.ForgeError without the token.
func (c *Client) fail(op string, resp *sdk.Response, err error) error {
	fe := &gitops.ForgeError{Provider: Provider, Repo: c.Repository(), Op: op, Err: err,
		Message: forgehttp.TrimMessage(c.scrub.String(err.Error()))}
	if resp != nil && resp.Response != nil {
		fe.StatusCode = resp.StatusCode
		// The SDK's error is the server's message, kept in Message.
		fe.Err = gitops.KindForStatus(resp.StatusCode)
	} else {
		fe.Message = forgehttp.TrimMessage(c.scrub.String(forgehttp.TransportReason(err, c.set.Timeout)))
	}
	return fe
}

// FindPullRequests implements gitops.Forge. Gitea's list API cannot filter
// by head branch, so it pages through open pull requests (at most 1,000)
// and the 500 most recently closed ones, keeping those from branch.
func (c *Client) FindPullRequests(ctx context.Context, branch string) ([]gitops.PullRequest, error) {
	api, err := c.api(ctx)
	if err != nil {
		return nil, c.fail(fmt.Sprintf("finding pull requests from %q", branch), nil, err)
	}
	var out []gitops.PullRequest
	for _, scan := range []struct {
		state sdk.StateType
		sort  string
		pages int
		limit int
	}{
		{sdk.StateOpen, "", maxOpenPages, 0},
		{sdk.StateClosed, "recentclose", maxClosedPages, gitops.MaxClosedFound},
	} {
		found := 0
	pages:
		for page := 1; page <= scan.pages; page++ {
			prs, resp, err := api.ListRepoPullRequests(c.owner, c.name, sdk.ListPullRequestsOptions{
				ListOptions: sdk.ListOptions{Page: page, PageSize: pageSize},
				State:       scan.state,
				Sort:        scan.sort,
			})
			if err != nil {
				return nil, c.fail(fmt.Sprintf("listing %s pull requests", scan.state), resp, err)
			}
			for _, pr := range prs {
				if pr.Head == nil || pr.Base == nil || pr.Head.Ref != branch || pr.Head.RepoID != pr.Base.RepoID {
					continue
				}
				out = append(out, convert(pr))
				found++
				if scan.limit > 0 && found >= scan.limit {
					break pages
				}
			}
			if len(prs) < pageSize {
				break
			}
		}
	}
	gitops.SortPullRequests(out)
	return out, nil
}

// CreatePullRequest implements gitops.Forge. Gitea answers 409 Conflict
// when an open pull request has the same head and base.
func (c *Client) CreatePullRequest(ctx context.Context, n gitops.NewPullRequest) (gitops.PullRequest, error) {
	op := fmt.Sprintf("creating pull request %q -> %q", n.Head, n.Base)
	api, err := c.api(ctx)
	if err != nil {
		return gitops.PullRequest{}, c.fail(op, nil, err)
	}
	pr, resp, err := api.CreatePullRequest(c.owner, c.name, sdk.CreatePullRequestOption{
		Head: n.Head, Base: n.Base, Title: n.Title, Body: n.Body,
	})
	if err != nil {
		fe := c.fail(op, resp, err).(*gitops.ForgeError)
		if fe.StatusCode == http.StatusConflict {
			fe.Err = gitops.ErrPullRequestExists
		}
		return gitops.PullRequest{}, fe
	}
	return convert(pr), nil
}

// UpdatePullRequest implements gitops.Forge.
func (c *Client) UpdatePullRequest(ctx context.Context, number int64, e gitops.PullRequestEdit) (gitops.PullRequest, error) {
	op := fmt.Sprintf("updating pull request #%d", number)
	api, err := c.api(ctx)
	if err != nil {
		return gitops.PullRequest{}, c.fail(op, nil, err)
	}
	opt := sdk.EditPullRequestOption{Body: e.Body}
	if e.Title != nil {
		if strings.TrimSpace(*e.Title) == "" {
			return gitops.PullRequest{}, c.fail(op, nil, errors.New("empty title"))
		}
		opt.Title = *e.Title
	}
	pr, resp, err := api.EditPullRequest(c.owner, c.name, number, opt)
	if err != nil {
		return gitops.PullRequest{}, c.fail(op, resp, err)
	}
	return convert(pr), nil
}

// ClosePullRequest implements gitops.Forge: the comment first, so a run
// killed in between leaves an explained open pull request that the next
// run closes, never a closed one without a reason.
func (c *Client) ClosePullRequest(ctx context.Context, number int64, comment string) error {
	op := fmt.Sprintf("closing pull request #%d", number)
	api, err := c.api(ctx)
	if err != nil {
		return c.fail(op, nil, err)
	}
	if strings.TrimSpace(comment) != "" {
		if _, resp, err := api.CreateIssueComment(c.owner, c.name, number, sdk.CreateIssueCommentOption{Body: comment}); err != nil {
			return c.fail(fmt.Sprintf("commenting on pull request #%d", number), resp, err)
		}
	}
	closed := sdk.StateClosed
	if _, resp, err := api.EditPullRequest(c.owner, c.name, number, sdk.EditPullRequestOption{State: &closed}); err != nil {
		// Two runs closing the same pull request at once: the loser gets
		// 500 "the issue is already changed". Closed is closed.
		if pr, _, gerr := api.GetPullRequest(c.owner, c.name, number); gerr == nil && pr.State == sdk.StateClosed {
			return nil
		}
		return c.fail(op, resp, err)
	}
	return nil
}

// AddLabels implements gitops.Forge. Gitea adds labels by id: names are
// looked up among the repository's labels (and its organization's), and
// missing ones are created in the repository.
func (c *Client) AddLabels(ctx context.Context, number int64, labels []string) error {
	if len(labels) == 0 {
		return nil
	}
	op := fmt.Sprintf("labelling pull request #%d", number)
	api, err := c.api(ctx)
	if err != nil {
		return c.fail(op, nil, err)
	}
	ids, err := c.labelIDsFor(api, labels)
	if err != nil {
		return err
	}
	if _, resp, err := api.AddIssueLabels(c.owner, c.name, number, sdk.IssueLabelsOption{Labels: ids}); err != nil {
		return c.fail(op, resp, err)
	}
	return nil
}

func (c *Client) labelIDsFor(api *sdk.Client, names []string) ([]int64, error) {
	c.labelsMu.Lock()
	defer c.labelsMu.Unlock()
	if c.labelIDs == nil {
		m := map[string]int64{}
		for page := 1; page <= maxOpenPages; page++ {
			ls, resp, err := api.ListRepoLabels(c.owner, c.name, sdk.ListLabelsOptions{ListOptions: sdk.ListOptions{Page: page, PageSize: pageSize}})
			if err != nil {
				return nil, c.fail("listing labels", resp, err)
			}
			for _, l := range ls {
				m[l.Name] = l.ID
			}
			if len(ls) < pageSize {
				break
			}
		}
		// Organization labels apply to its repositories; a user-owned
		// repository answers 404 here, which only means there are none.
		for page := 1; page <= maxOpenPages; page++ {
			ls, resp, err := api.ListOrgLabels(c.owner, sdk.ListOrgLabelsOptions{ListOptions: sdk.ListOptions{Page: page, PageSize: pageSize}})
			if err != nil {
				if resp != nil && resp.StatusCode == http.StatusNotFound {
					break
				}
				return nil, c.fail("listing organization labels", resp, err)
			}
			for _, l := range ls {
				if _, ok := m[l.Name]; !ok {
					m[l.Name] = l.ID
				}
			}
			if len(ls) < pageSize {
				break
			}
		}
		c.labelIDs = m
	}
	ids := make([]int64, 0, len(names))
	for _, n := range names {
		id, ok := c.labelIDs[n]
		if !ok {
			l, resp, err := api.CreateLabel(c.owner, c.name, sdk.CreateLabelOption{Name: n, Color: labelColor})
			if err != nil {
				return nil, c.fail(fmt.Sprintf("creating label %q", n), resp, err)
			}
			id = l.ID
			c.labelIDs[n] = id
		}
		if !slices.Contains(ids, id) {
			ids = append(ids, id)
		}
	}
	return ids, nil
}

// RequestReviewers implements gitops.Forge; "org/team" names a team.
func (c *Client) RequestReviewers(ctx context.Context, number int64, reviewers []string) error {
	if len(reviewers) == 0 {
		return nil
	}
	op := fmt.Sprintf("requesting reviews on pull request #%d", number)
	api, err := c.api(ctx)
	if err != nil {
		return c.fail(op, nil, err)
	}
	var opt sdk.PullReviewRequestOptions
	for _, r := range reviewers {
		if _, team, ok := strings.Cut(r, "/"); ok {
			opt.TeamReviewers = append(opt.TeamReviewers, team)
		} else {
			opt.Reviewers = append(opt.Reviewers, r)
		}
	}
	if resp, err := api.CreateReviewRequests(c.owner, c.name, number, opt); err != nil {
		return c.fail(op, resp, err)
	}
	return nil
}

func convert(pr *sdk.PullRequest) gitops.PullRequest {
	out := gitops.PullRequest{
		Number: pr.Index,
		URL:    pr.HTMLURL,
		Title:  pr.Title,
		Body:   pr.Body,
		State:  gitops.PullRequestOpen,
		Merged: pr.HasMerged,
	}
	if pr.State == sdk.StateClosed {
		out.State = gitops.PullRequestClosed
	}
	if pr.Head != nil {
		out.Head, out.HeadSHA = pr.Head.Ref, pr.Head.Sha
	}
	if pr.Base != nil {
		out.Base = pr.Base.Ref
	}
	for _, l := range pr.Labels {
		out.Labels = append(out.Labels, l.Name)
	}
	slices.Sort(out.Labels)
	if pr.Poster != nil {
		out.Author = pr.Poster.UserName
	}
	if pr.Created != nil {
		out.CreatedAt = *pr.Created
	}
	if pr.Closed != nil {
		out.ClosedAt = *pr.Closed
	}
	return out
}
