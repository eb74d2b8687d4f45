package gitops

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
)

func TestParseForgeRemote(t *testing.T) {
	for _, tt := range []struct {
		in      string
		want    ForgeRemote
		wantErr error
	}{
		{in: "https://github.com/org/fleet.git", want: ForgeRemote{"https", "github.com", "org/fleet"}},
		{in: "https://user:s3cret@git.example:8443/org/fleet", want: ForgeRemote{"https", "git.example:8443", "org/fleet"}},
		{in: "http://127.0.0.1:3000/uptick-admin/fleet.git/", want: ForgeRemote{"http", "127.0.0.1:3000", "uptick-admin/fleet"}},
		{in: "ssh://git@git.example:2222/group/sub/fleet.git", want: ForgeRemote{"ssh", "git.example", "group/sub/fleet"}},
		{in: "git@github.com:org/fleet.git", want: ForgeRemote{"ssh", "github.com", "org/fleet"}},
		{in: "github.com:org/fleet", want: ForgeRemote{"ssh", "github.com", "org/fleet"}},
		{in: "/srv/git/fleet.git", wantErr: ErrNotForgeURL},
		{in: "file:///srv/git/fleet.git", wantErr: ErrNotForgeURL},
		{in: "./fleet", wantErr: ErrNotForgeURL},
		{in: "https://github.com/", wantErr: errNoRepoPath},
		{in: "https://github.com/org/../fleet", wantErr: errNoRepoPath},
		{in: "git@github.com:", wantErr: errNoRepoPath},
	} {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseForgeRemote(tt.in)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("ParseForgeRemote(%q) error = %v, want %v", tt.in, err, tt.wantErr)
				}
				if strings.Contains(err.Error(), "s3cret") {
					t.Errorf("error %q leaks a password", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseForgeRemote(%q) error = %v", tt.in, err)
			}
			if d := cmp.Diff(tt.want, got); d != "" {
				t.Errorf("ParseForgeRemote(%q) (-want +got):\n%s", tt.in, d)
			}
		})
	}
}

func FuzzParseForgeRemote(f *testing.F) {
	for _, s := range []string{"https://github.com/org/fleet.git", "git@h:o/r", "ssh://u@h:1/a/b", "/p", "https://u:p@h/x/y", "h:", ":x/y"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		r, err := ParseForgeRemote(in)
		if err != nil {
			return
		}
		if r.Host == "" || r.Path == "" || strings.HasPrefix(r.Path, "/") || strings.HasSuffix(r.Path, "/") {
			t.Fatalf("ParseForgeRemote(%q) = %+v: empty host or unclean path", in, r)
		}
		for _, seg := range strings.Split(r.Path, "/") {
			if seg == "" || seg == "." || seg == ".." {
				t.Fatalf("ParseForgeRemote(%q) = %+v: path segment %q", in, r, seg)
			}
		}
		if strings.Contains(r.Host, "@") {
			t.Fatalf("ParseForgeRemote(%q) = %+v: userinfo in host", in, r)
		}
	})
}

func TestRepoPathUnder(t *testing.T) {
	r := ForgeRemote{Scheme: "https", Host: "example.org", Path: "gitea/org/fleet"}
	for base, want := range map[string]string{
		"https://example.org/gitea":        "org/fleet",
		"https://example.org/gitea/api/v1": "org/fleet",
		"https://example.org":              "gitea/org/fleet",
		"https://other.example/gitea":      "gitea/org/fleet",
		"https://example.org/elsewhere":    "gitea/org/fleet",
	} {
		if got := r.RepoPathUnder(base); got != want {
			t.Errorf("RepoPathUnder(%q) = %q, want %q", base, got, want)
		}
	}
}

func TestSortPullRequests(t *testing.T) {
	at := func(h int) time.Time { return time.Date(2025, 1, 1, h, 0, 0, 0, time.UTC) }
	prs := []PullRequest{
		{Number: 1, State: PullRequestClosed, ClosedAt: at(1)},
		{Number: 7, State: PullRequestOpen},
		{Number: 3, State: PullRequestClosed, ClosedAt: at(5)},
		{Number: 4, State: PullRequestClosed, ClosedAt: at(5)},
		{Number: 2, State: PullRequestOpen},
	}
	SortPullRequests(prs)
	var got []int64
	for _, p := range prs {
		got = append(got, p.Number)
	}
	if d := cmp.Diff([]int64{7, 2, 4, 3, 1}, got); d != "" {
		t.Errorf("order (-want +got):\n%s", d)
	}
}

func TestForgeError(t *testing.T) {
	for _, tt := range []struct {
		name     string
		err      *ForgeError
		want     string
		badInput bool
		is       error
	}{
		{"conflict", &ForgeError{Provider: "gitea", Repo: "org/fleet", Op: `creating pull request "uptick/all" -> "main"`, StatusCode: http.StatusConflict,
			Message: "pull request already exists for these targets", Err: ErrPullRequestExists},
			`gitea: creating pull request "uptick/all" -> "main" in org/fleet: 409 Conflict: pull request already exists for these targets`, false, ErrPullRequestExists},
		{"auth", &ForgeError{Provider: "github", Repo: "org/fleet", Op: "listing open pull requests", StatusCode: 401, Message: "Bad credentials", Err: KindForStatus(401)},
			"github: listing open pull requests in org/fleet: 401 Unauthorized: Bad credentials", true, ErrForgeAuth},
		{"status repeated by the server", &ForgeError{Provider: "gitlab", Repo: "g/p", Op: "x", StatusCode: 401, Message: "401 Unauthorized", Err: KindForStatus(401)},
			"gitlab: x in g/p: 401 Unauthorized", true, ErrForgeAuth},
		{"not found", &ForgeError{Provider: "gitea", Repo: "org/nope", Op: "x", StatusCode: 404, Err: KindForStatus(404)},
			"gitea: x in org/nope: 404 Not Found", true, ErrForgeNotFound},
		{"rate limited", &ForgeError{Provider: "gitea", Repo: "o/r", Op: "x", StatusCode: 429, Err: KindForStatus(429)},
			"gitea: x in o/r: 429 Too Many Requests", false, ErrForgeRateLimited},
		{"no answer", &ForgeError{Provider: "gitea", Repo: "o/r", Op: "x", Message: "connection refused", Err: errors.New("dial tcp: connection refused")},
			"gitea: x in o/r: connection refused", false, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.err.Error(); got != tt.want {
				t.Errorf("Error() = %q, want %q", got, tt.want)
			}
			if got := tt.err.BadInput(); got != tt.badInput {
				t.Errorf("BadInput() = %v, want %v", got, tt.badInput)
			}
			if tt.is != nil && !errors.Is(tt.err, tt.is) {
				t.Errorf("errors.Is(%v) = false", tt.is)
			}
		})
	}
}

func TestPullRequestMarker(t *testing.T) {
	m := PullRequestMarker{Group: "all", Changes: map[string]string{"podinfo": "6.5.1", "redis": "7.2.4"}}
	line := m.String()
	if want := `<!-- uptick:v1 {"group":"all","changes":{"podinfo":"6.5.1","redis":"7.2.4"}} -->`; line != want {
		t.Fatalf("String() = %s, want %s", line, want)
	}
	for _, tt := range []struct {
		name, body string
		ok         bool
	}{
		{"alone", line, true},
		{"after prose, CRLF", "Updates images.\r\n\r\n" + line + "\r\n", true},
		{"last one wins", PullRequestMarker{Group: "all", Changes: map[string]string{"podinfo": "6.5.0"}}.String() + "\n" + line, true},
		{"none", "Updates images.", false},
		{"edited", strings.Replace(line, `"6.5.1"`, `6.5.1`, 1), false},
		{"unknown field", `<!-- uptick:v1 {"group":"all","changes":{"a":"1"},"x":1} -->`, false},
		{"no changes", `<!-- uptick:v1 {"group":"all","changes":{}} -->`, false},
		{"unterminated", strings.TrimSuffix(line, " -->"), false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := ParsePullRequestMarker(tt.body)
			if ok != tt.ok {
				t.Fatalf("ParsePullRequestMarker() ok = %v, want %v", ok, tt.ok)
			}
			if ok && !got.Equal(m) {
				t.Errorf("ParsePullRequestMarker() = %+v, want %+v", got, m)
			}
		})
	}
	// A tag that tries to close the comment cannot.
	evil := PullRequestMarker{Group: "all", Changes: map[string]string{"x": "1 --> <script>"}}
	if s := evil.String(); strings.Count(s, "-->") != 1 || strings.Contains(s, "<script>") {
		t.Errorf("String() = %s: the comment closes early", s)
	}
}

func FuzzParsePullRequestMarker(f *testing.F) {
	f.Add("all", "podinfo", "6.5.1", "prose\n")
	f.Add("", "", "", "")
	f.Add("x-->", "<!--", "\n", "<!-- uptick:v1 ")
	f.Fuzz(func(t *testing.T, group, image, tag, prose string) {
		ParsePullRequestMarker(prose) // never panics
		if group == "" || !utf8.ValidString(group) || !utf8.ValidString(image) || !utf8.ValidString(tag) {
			return // JSON replaces invalid UTF-8; tags and names are ASCII
		}
		m := PullRequestMarker{Group: group, Changes: map[string]string{image: tag}}
		got, ok := ParsePullRequestMarker(prose + "\n" + m.String() + "\n")
		if !ok || !got.Equal(m) {
			t.Fatalf("round trip of %+v gave %+v, %v", m, got, ok)
		}
	})
}
