package e2e

import (
	"encoding/json"
	"testing"
)

// report is the part of the JSON report (--output json) these tests read.
type report struct {
	Images []struct {
		Name             string `json:"name"`
		Tag              string `json:"tag"`
		Error            string `json:"error"`
		RegistryRequests int    `json:"registryRequests"`
	} `json:"images"`
	PullRequests []struct {
		Group, Branch, Base, Action, URL, State, Commit, Note, Error string
		Number                                                       int64
		Pushed                                                       bool
		Closed                                                       []int64
		Changes                                                      []struct{ File, Old, New string }
	} `json:"pullRequests"`
	Errors []struct {
		Stage   string `json:"stage"`
		Image   string `json:"image"`
		Message string `json:"message"`
	} `json:"errors"`
	Pushed bool `json:"pushed"`
}

// parseReport decodes the report res printed on stdout.
func parseReport(t *testing.T, res result) report {
	t.Helper()
	var rep report
	if err := json.Unmarshal([]byte(res.stdout), &rep); err != nil {
		t.Fatalf("the JSON report does not parse: %v\n%s", err, res)
	}
	return rep
}
