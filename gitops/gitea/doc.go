// Package gitea is uptick's pull-request client for Gitea and Forgejo,
// built on Gitea's own SDK (code.gitea.io/sdk/gitea). Gitea's API looks
// like GitHub's but is not: go-github against it returns empty head SHAs
// and its pull request list ignores the head filter.
//
// Client implements gitops.Forge for one repository. Gitea checks for an
// open pull request and inserts a new one without a lock: concurrent
// creates for one branch can all succeed (8 of 8 in tests against Gitea
// 1.26), so callers follow a create with gitops.ConvergeOpen.
package gitea
