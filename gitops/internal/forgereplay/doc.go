// Package forgereplay serves recorded forge API exchanges to the GitHub and
// GitLab client tests, which cannot reach a real GitHub or GitLab: each
// fixture under testdata/forge/<forge>/ is a list of request/response pairs
// taken from the forge's published API documentation (each pair cites its
// page). The server answers the pairs in order and fails the test when a
// request differs from the recorded one in method, path, query or JSON body,
// or when pairs are left unused. RunPublish drives the pull request
// publisher through three runs against such fixtures. Only tests import it.
package forgereplay
