package gitops

import (
	"bytes"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"text/template"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
)

// Forge providers PullRequestSpec.Provider names.
const (
	ProviderGitea   = "gitea"
	ProviderForgejo = "forgejo" // served by the Gitea client
	ProviderGitHub  = "github"
	ProviderGitLab  = "gitlab"
)

// Pull request grouping, PullRequestSpec.Group.
const (
	// GroupAll opens one pull request for every change of a pass.
	GroupAll = "all"
	// GroupPerImage opens one pull request per configured image.
	GroupPerImage = "per-image"
)

// Defaults of PullRequestSpec, in one place.
const (
	// DefaultPullRequestBranch is the branch template: uptick owns every
	// branch it renders and force-pushes only those.
	DefaultPullRequestBranch = "uptick/{{.Group}}"
	// DefaultPullRequestTitle names the image and its new tag, or the
	// number of images.
	DefaultPullRequestTitle = `chore(images): update {{if eq (len .Images) 1}}{{index .Images 0}} to {{index .Versions (index .Images 0)}}{{else}}{{len .Images}} images{{end}}`
	// DefaultPullRequestBody is a table of image, old and new value and
	// file, with a link to the registry where uptick knows its web page,
	// and a note on how uptick manages the pull request.
	DefaultPullRequestBody = `uptick proposes the newest tags the image policies allow.

| Image | Old | New | File |
| --- | --- | --- | --- |
{{range .Changes}}| {{link .Image (registryURL .Repository)}} | {{code (version .Old)}} | {{code (version .New)}} | {{code .File}}{{with .Object}} ({{.}}){{end}} |
{{end}}
uptick rebuilds the branch {{code .Branch}} from {{code .Base}} when a newer tag is chosen or {{code .Base}} moves, and closes this pull request once {{code .Base}} has these changes. It never overwrites commits someone else pushed to the branch.`
)

// DefaultPullRequestClaim is how long a branch tip pushed by another run
// stays that run's to open the pull request for: a run that finds the
// branch up to date but no pull request waits for the other run's within
// this window, and only takes the branch over (rebuilds it and opens the
// pull request itself) once the tip is older. It is longer than a pull
// request request takes, so two runs never both open one.
const DefaultPullRequestClaim = 90 * time.Second

// DefaultPullRequestPoll is how often a run waiting on another run's claim
// looks for its pull request.
const DefaultPullRequestPoll = time.Second

// PullRequestSpec is `git.push.pullRequest`: propose the changes as pull
// requests (merge requests on GitLab) from branches uptick owns, one per
// group, instead of pushing to the base.
//
//	pullRequest: {provider: gitea, tokenEnv: FORGE_TOKEN, group: per-image, labels: [images]}
type PullRequestSpec struct {
	// Provider is the forge: gitea (also forgejo), github or gitlab.
	Provider string `yaml:"provider"`
	// APIURL is the forge's API; default from the git URL's host
	// (api.github.com for github.com, GITHUB_API_URL under GitHub Actions,
	// https://HOST/api/v3 for GitHub Enterprise, https://HOST/api/v4 for
	// GitLab, https://HOST for Gitea).
	APIURL string `yaml:"apiURL"`
	// TokenEnv names the env var holding the forge's API token; default
	// auth.passwordEnv, and GITHUB_TOKEN for github under GitHub Actions.
	TokenEnv string `yaml:"tokenEnv"`
	// Base is the branch pull requests merge into and are built from;
	// default git.branch.
	Base string `yaml:"base"`
	// Branch is a text/template over PullRequestData (Group) naming the
	// branch of each pull request; default DefaultPullRequestBranch.
	// uptick owns these branches: it rebuilds and force-pushes them (with
	// a lease), and no other branch.
	Branch string `yaml:"branch"`
	// Group is "all" (default: one pull request for every change) or
	// "per-image" (one per configured image).
	Group string `yaml:"group"`
	// Title and Body are text/templates over PullRequestData; defaults
	// DefaultPullRequestTitle and DefaultPullRequestBody. uptick adds a
	// hidden marker line to the body.
	Title string `yaml:"title"`
	Body  string `yaml:"body"`
	// Labels are added to every pull request uptick opens.
	Labels []string `yaml:"labels"`
	// Reviewers are asked to review every pull request uptick opens:
	// user names, or "org/team" for a team (GitHub, Gitea).
	Reviewers []string `yaml:"reviewers"`
}

func (p *PullRequestSpec) setDefaults(branch string) {
	if p.Provider == ProviderForgejo {
		p.Provider = ProviderGitea
	}
	if p.Base == "" {
		p.Base = branch
	}
	if p.Branch == "" {
		p.Branch = DefaultPullRequestBranch
	}
	if p.Group == "" {
		p.Group = GroupAll
	}
	if p.Title == "" {
		p.Title = DefaultPullRequestTitle
	}
	if p.Body == "" {
		p.Body = DefaultPullRequestBody
	}
}

// validate checks a defaulted spec; kind is the git URL's, pushBranch and
// branch the defaulted git.push.branch and git.branch.
func (p *PullRequestSpec) validate(kind urlKind, pushBranch, branch string) []error {
	var errs []error
	add := func(field, format string, args ...any) {
		errs = append(errs, fieldErr("push.pullRequest"+field, format, args...))
	}
	switch p.Provider {
	case ProviderGitea, ProviderGitHub, ProviderGitLab:
	case "":
		add(".provider", "required (gitea, forgejo, github or gitlab)")
	default:
		add(".provider", "unknown provider %q (want gitea, forgejo, github or gitlab)", p.Provider)
	}
	if kind == urlKindFile {
		add("", "needs url on a forge (https or ssh), not a local repository")
	}
	if err := plumbing.NewBranchReferenceName(p.Base).Validate(); err != nil || strings.TrimSpace(p.Base) != p.Base {
		add(".base", "invalid branch name %q", p.Base)
	}
	if pushBranch != p.Base {
		errs = append(errs, fieldErr("push.branch", "not used with push.pullRequest: pull requests merge into push.pullRequest.base (%q); remove push.branch", p.Base))
	}
	if p.APIURL != "" {
		if u, err := url.Parse(p.APIURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			add(".apiURL", "%q is not an http(s) URL", redactURL(p.APIURL))
		} else if u.User != nil {
			add(".apiURL", "must not carry credentials; name the token's variable in tokenEnv")
		}
	}
	if p.TokenEnv != "" && strings.TrimSpace(p.TokenEnv) != p.TokenEnv {
		add(".tokenEnv", "invalid variable name %q", p.TokenEnv)
	}
	switch p.Group {
	case GroupAll, GroupPerImage:
	default:
		add(".group", "unknown grouping %q (want all or per-image)", p.Group)
	}
	if _, err := p.BranchFor("sample-image"); err != nil {
		add(".branch", "%v", err)
	} else if p.Group == GroupPerImage {
		a, _ := p.BranchFor("image-a")
		if b, _ := p.BranchFor("image-b"); a == b {
			add(".branch", "%q names the same branch for every image; use {{.Group}} in it with group per-image", p.Branch)
		}
	}
	for _, b := range []string{p.Base, branch} {
		if got, err := p.BranchFor(GroupAll); err == nil && got == b {
			add(".branch", "renders %q, the base branch: uptick force-pushes its pull request branches, so they must be its own", got)
			break
		}
	}
	data := samplePullRequestData(p.Base)
	if title, err := renderPullRequestText("title", p.Title, data); err != nil {
		add(".title", "%v", err)
	} else if strings.TrimSpace(title) == "" {
		add(".title", "renders an empty title")
	}
	if _, err := renderPullRequestText("body", p.Body, data); err != nil {
		add(".body", "%v", err)
	}
	for i, l := range p.Labels {
		if strings.TrimSpace(l) == "" || strings.Contains(l, ",") {
			add(fmt.Sprintf(".labels[%d]", i), "invalid label %q (empty or with a comma)", l)
		}
	}
	for i, r := range p.Reviewers {
		if strings.TrimSpace(r) == "" || strings.ContainsAny(r, " ,") {
			add(fmt.Sprintf(".reviewers[%d]", i), "invalid reviewer %q", r)
		}
	}
	return errs
}

// TokenEnvName returns the env var holding the forge token: tokenEnv, else
// auth.passwordEnv, else GITHUB_TOKEN for github when GITHUB_ACTIONS is
// "true". "" means none is configured.
func (p *PullRequestSpec) TokenEnvName(auth Auth, getenv func(string) string) string {
	switch {
	case p.TokenEnv != "":
		return p.TokenEnv
	case auth.PasswordEnv != "":
		return auth.PasswordEnv
	case p.Provider == ProviderGitHub && getenv("GITHUB_ACTIONS") == "true":
		return "GITHUB_TOKEN"
	}
	return ""
}

// preflight checks that the token variable is named and set.
func (p *PullRequestSpec) preflight(auth Auth, getenv func(string) string) error {
	name := p.TokenEnvName(auth, getenv)
	if name == "" {
		return fieldErr("push.pullRequest.tokenEnv", "required: name the environment variable holding the %s API token (or set auth.passwordEnv)", p.Provider)
	}
	if getenv(name) == "" {
		return fieldErr("push.pullRequest.tokenEnv", "environment variable %s (the %s API token) is not set", name, p.Provider)
	}
	return nil
}

// BranchFor renders the branch template for group: characters git does
// not allow in a branch name (the ":" of "namespace:name") become "-".
// The result is a valid branch name or an error.
func (p *PullRequestSpec) BranchFor(group string) (string, error) {
	tmpl := p.Branch
	if tmpl == "" {
		tmpl = DefaultPullRequestBranch
	}
	out, err := renderPullRequestText("branch", tmpl, PullRequestData{Group: group})
	if err != nil {
		return "", err
	}
	b := sanitizeBranch(strings.TrimSpace(out))
	if b == "" {
		return "", fmt.Errorf("template %q renders an empty branch name", tmpl)
	}
	if err := plumbing.NewBranchReferenceName(b).Validate(); err != nil {
		return "", fmt.Errorf("template %q renders %q, not a valid branch name", tmpl, b)
	}
	return b, nil
}

// sanitizeBranch replaces what git refuses in a branch name.
func sanitizeBranch(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_', r == '.', r == '/':
			b.WriteRune(r)
		default:
			b.WriteByte('-')
		}
	}
	var parts []string
	for _, c := range strings.Split(b.String(), "/") {
		if c == "" {
			continue
		}
		// A component may not start with a dot, nor hold "..".
		if trimmed := strings.TrimLeft(c, "."); len(trimmed) < len(c) {
			c = strings.Repeat("-", len(c)-len(trimmed)) + trimmed
		}
		parts = append(parts, strings.ReplaceAll(c, "..", "-"))
	}
	return strings.TrimSuffix(strings.Join(parts, "/"), ".")
}

// PullRequestData is what pull request branch, title and body templates
// are executed over. The branch template sees only Group.
type PullRequestData struct {
	MessageData
	// Group is "all", or the image's name with group per-image.
	Group string
	// Base is the branch the pull request merges into, Branch the one it
	// comes from.
	Base, Branch string
	// Versions maps each image name to its new tag(s), shortened from the
	// new values ("6.5.1" for ghcr.io/stefanprodan/podinfo:6.5.1).
	Versions map[string]string
}

// NewPullRequestData builds the template data of one pull request.
func NewPullRequestData(group, base, branch string, changes []Change) PullRequestData {
	d := PullRequestData{MessageData: NewMessageData(changes), Group: group, Base: base, Branch: branch, Versions: map[string]string{}}
	vs := map[string][]string{}
	for _, c := range changes {
		if v := shortVersion(c.New); v != "" && !slices.Contains(vs[c.Image], v) {
			vs[c.Image] = append(vs[c.Image], v)
		}
	}
	for _, img := range d.Images {
		v := vs[img]
		slices.Sort(v)
		d.Versions[img] = strings.Join(v, ", ")
	}
	return d
}

// shortVersion is the tag (and short digest) of a marker's new value: a
// full reference, a tag, a repository or a digest.
func shortVersion(v string) string {
	ref, digest, _ := strings.Cut(v, "@")
	if strings.HasPrefix(v, "sha256:") {
		ref, digest = "", v
	}
	out := ref
	if i := strings.LastIndexByte(ref, '/'); i >= 0 || strings.Contains(ref, ":") {
		last := ref[i+1:]
		_, tag, ok := strings.Cut(last, ":")
		if !ok {
			out = "" // a repository: no version in it
		} else {
			out = tag
		}
	}
	if digest != "" {
		if len(digest) > 19 { // "sha256:" and 12 hex digits
			digest = digest[:19]
		}
		if out == "" {
			return digest
		}
		out += "@" + digest
	}
	return out
}

// samplePullRequestData is what Validate executes templates over.
func samplePullRequestData(base string) PullRequestData {
	c := sampleChanges()
	c[0].Repository = "ghcr.io/example/app"
	return NewPullRequestData(GroupAll, base, "uptick/all", c)
}

func pullRequestFuncs() template.FuncMap {
	return template.FuncMap{
		"join": strings.Join,
		// code quotes s for Markdown, safe in a table cell.
		"code": func(s string) string {
			return "`" + strings.ReplaceAll(strings.ReplaceAll(s, "`", "'"), "|", `\|`) + "`"
		},
		// link is a Markdown link to url, or the text alone without one.
		"link": func(text, url string) string {
			text = strings.ReplaceAll(text, "|", `\|`)
			if url == "" {
				return text
			}
			return "[" + text + "](" + url + ")"
		},
		"registryURL": RegistryURL,
		// version shortens a marker's value to its tag (and short digest),
		// leaving a repository as it is.
		"version": func(v string) string {
			if s := shortVersion(v); s != "" {
				return s
			}
			return v
		},
	}
}

// renderPullRequestText executes one pull request template.
func renderPullRequestText(name, tmpl string, data PullRequestData) (string, error) {
	t, err := template.New(name).Funcs(pullRequestFuncs()).Option("missingkey=error").Parse(tmpl)
	if err != nil {
		return "", &badInput{fmt.Errorf("parsing %s template: %w", name, err)}
	}
	var buf bytes.Buffer
	if err := t.Execute(&buf, data); err != nil {
		return "", &badInput{fmt.Errorf("executing %s template: %w", name, err)}
	}
	return strings.TrimRight(buf.String(), " \t\r\n"), nil
}

// RegistryURL returns the web page of an image repository on the public
// registries whose pages uptick knows (Docker Hub, GitHub's ghcr.io,
// Quay), or "" for any other.
func RegistryURL(repository string) string {
	host, path, ok := strings.Cut(repository, "/")
	if !ok || !(strings.ContainsAny(host, ".:") || host == "localhost") {
		host, path = "docker.io", repository
	}
	switch host {
	case "docker.io", "index.docker.io", "registry-1.docker.io":
		if org, name, ok := strings.Cut(path, "/"); !ok || org == "library" {
			if !ok {
				name = path
			}
			return "https://hub.docker.com/_/" + name
		}
		return "https://hub.docker.com/r/" + path
	case "ghcr.io":
		return "https://ghcr.io/" + path
	case "quay.io":
		return "https://quay.io/repository/" + path
	}
	return ""
}
