// Package pass runs one pass of uptick's pipeline: check out the fleet
// repository, list every configured image's tags, choose a tag per policy,
// rewrite the marked fields, and commit and push. It is the only place the
// stages meet (scan, policy, update, gitops), through the plain data they
// exchange, and it returns everything the pass did as a Result that the
// outputs render; nothing is printed here.
package pass
