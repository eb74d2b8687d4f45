package github

import (
	"testing"
	"time"

	"github.com/uptick-gitops/uptick/gitops"
	"github.com/uptick-gitops/uptick/gitops/internal/forgereplay"
)

// TestPublishAgainstDocumentedExchanges runs the pull request publisher
// with this client against GitHub's documented exchanges (see
// forgereplay.RunPublish): first run, rerun, main has the change.
func TestPublishAgainstDocumentedExchanges(t *testing.T) {
	forgereplay.RunPublish(t, forgereplay.PublishScenario{
		Provider: gitops.ProviderGitHub, Reviewers: []string{"octocat"},
		Forge: "github", APIPrefix: "/api/v3", Number: 1347,
		New: func(gitURL, serverURL string) (gitops.Forge, error) {
			return New(gitURL, WithToken(testToken), WithAPIURL(serverURL+"/api/v3"), WithRepository("octocat/Hello-World"), WithTimeout(5*time.Second))
		},
	})
}
