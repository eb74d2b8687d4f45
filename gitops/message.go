package gitops

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"text/template"
)

// Change is one image update, as the commit message template sees it.
type Change struct {
	// Image is the policy name as written in config or marker, e.g. "podinfo".
	Image string
	// Repository is the image's repository, e.g. ghcr.io/stefanprodan/podinfo
	// ("" when the caller does not say).
	Repository string
	// File is the slash path of the changed file in the repository.
	File string
	// Object is "Kind/namespace/name" of the changed object, or "".
	Object string
	// Old and New are the values before and after the update.
	Old, New string
}

// MessageData is what a commit message template is executed over.
type MessageData struct {
	// Changes are all updates, in the order given to Commit.
	Changes []Change
	// Images are the sorted unique image names of Changes.
	Images []string
	// Files are the sorted unique files of Changes.
	Files []string
}

// DefaultMessageTemplate gives a conventional-commit subject naming the image
// (or the count when several changed) and one body line per change.
const DefaultMessageTemplate = `chore(images): update {{if eq (len .Images) 1}}{{index .Images 0}}{{else}}{{len .Images}} images{{end}}

{{range .Changes}}- {{.Image}}: {{.Old}} -> {{.New}} in {{.File}}{{with .Object}} ({{.}}){{end}}
{{end}}`

// ErrEmptyMessage is returned when a template renders only whitespace; git
// commits need a message.
// It is bad input.
var ErrEmptyMessage error = &inputError{"the commit message is empty"}

// templateFuncs are the helpers available to message templates, beyond the
// text/template builtins.
func templateFuncs() template.FuncMap {
	return template.FuncMap{
		"join": strings.Join,
	}
}

// NewMessageData builds the template data for changes: Images and Files
// sorted and deduplicated.
func NewMessageData(changes []Change) MessageData {
	d := MessageData{Changes: changes, Images: []string{}, Files: []string{}}
	for _, c := range changes {
		d.Images = append(d.Images, c.Image)
		d.Files = append(d.Files, c.File)
	}
	slices.Sort(d.Images)
	d.Images = slices.Compact(d.Images)
	slices.Sort(d.Files)
	d.Files = slices.Compact(d.Files)
	return d
}

// RenderMessage executes the Go text/template tmpl (DefaultMessageTemplate
// when empty) over the MessageData of changes. The result has trailing
// whitespace trimmed and ends in one newline, as git writes messages.
// Besides the builtins, templates may use {{join .Images ", "}}.
func RenderMessage(tmpl string, changes []Change) (string, error) {
	if tmpl == "" {
		tmpl = DefaultMessageTemplate
	}
	t, err := template.New("message").Funcs(templateFuncs()).Option("missingkey=error").Parse(tmpl)
	if err != nil {
		return "", &badInput{fmt.Errorf("parsing commit message template: %w", err)}
	}
	var buf bytes.Buffer
	if err := t.Execute(&buf, NewMessageData(changes)); err != nil {
		return "", &badInput{fmt.Errorf("executing commit message template: %w", err)}
	}
	msg := strings.TrimRight(buf.String(), " \t\r\n")
	if strings.TrimSpace(msg) == "" {
		return "", withSentinel(ErrEmptyMessage, "the commit message template rendered an empty message")
	}
	return msg + "\n", nil
}
