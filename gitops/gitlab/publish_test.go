package gitlab

import (
	"testing"
	"time"

	"github.com/uptick-gitops/uptick/gitops"
	"github.com/uptick-gitops/uptick/gitops/internal/forgereplay"
)

// TestPublishAgainstDocumentedExchanges runs the pull request publisher
// with this client against GitLab's documented exchanges (see
// forgereplay.RunPublish): first run, rerun, main has the change.
func TestPublishAgainstDocumentedExchanges(t *testing.T) {
	forgereplay.RunPublish(t, forgereplay.PublishScenario{
		Provider: gitops.ProviderGitLab, Reviewers: []string{"john_smith"},
		Forge: "gitlab", APIPrefix: "/api/v4", Number: 1,
		New: func(gitURL, serverURL string) (gitops.Forge, error) {
			return New(gitURL, WithToken(testToken), WithAPIURL(serverURL), WithRepository("my-group/my-project"), WithTimeout(5*time.Second))
		},
	})
}
