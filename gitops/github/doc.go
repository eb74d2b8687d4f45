// Package github is uptick's pull-request client for GitHub and GitHub
// Enterprise Server, built on google/go-github. Client implements
// gitops.Forge for one repository.
package github
