package config

import (
	"fmt"

	"github.com/uptick-gitops/uptick/gitops"
)

// checkPullRequestBranches makes sure that with git.push.pullRequest.group
// per-image every configured image gets a branch of its own: two images
// rendering the same branch would rebuild, and force-push, each other's.
func (v *validator) checkPullRequestBranches(cfg *Config) {
	pr := cfg.Git.Push.PullRequest
	if pr == nil || pr.Group != gitops.GroupPerImage {
		return
	}
	seen := map[string]string{}
	for _, img := range cfg.Images {
		b, err := pr.BranchFor(img.Name)
		if err != nil {
			v.add("git.push.pullRequest.branch", fmt.Errorf("for image %s: %w", img.Name, err))
			continue
		}
		if other, dup := seen[b]; dup {
			v.add("git.push.pullRequest.branch", fmt.Errorf("images %s and %s both get branch %q; make the template tell them apart", other, img.Name, b))
			continue
		}
		seen[b] = img.Name
	}
}
