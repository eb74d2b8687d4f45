// Package forgehttp owns what the three forge clients (gitops/gitea,
// gitops/github, gitops/gitlab) share below their SDKs: one HTTP client with
// the configured CA bundle, a per-request timeout and a cap on response
// sizes, the settings their Option functions fill, and scrubbing of the
// token from error text. The SDKs do the API calls; nothing here writes a
// request by hand.
package forgehttp
