// Package gitlab is uptick's merge-request client for GitLab (gitlab.com
// and self-managed), built on GitLab's own Go client
// (gitlab.com/gitlab-org/api/client-go). Client implements gitops.Forge for
// one project: pull request numbers are merge request IIDs (!12).
package gitlab
