package flux

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"text/template"
	"text/template/parse"

	"github.com/Masterminds/sprig/v3"
	"github.com/google/go-containerregistry/pkg/name"
	"sigs.k8s.io/kustomize/kyaml/yaml"
)

// DefaultMessage is the commit message Flux writes when an automation has
// no messageTemplate.
const DefaultMessage = "Update from image update automation"

// Change is one marker update, as the commit message data needs it. The
// caller builds it from the update stage's result.
type Change struct {
	// File is the slash path of the file, relative to the repository root.
	File string
	// APIVersion, Kind, Namespace and Name identify the object the marker
	// is in (any may be empty, e.g. in a kustomization.yaml).
	APIVersion, Kind, Namespace, Name string
	// Setter is the marker's value: "flux-system:podinfo" or
	// "flux-system:podinfo:tag".
	Setter string
	// OldValue and NewValue are the field's values.
	OldValue, NewValue string
	// Image is the full reference the policy chose, "repo:tag" or
	// "repo:tag@digest", for the pre-2.7 .Updated data.
	Image string
}

// MessageTemplate renders an ImageUpdateAutomation's commit message
// template over Flux's template data, with the Sprig functions Flux
// allows, so a template written for Flux renders the same message.
type MessageTemplate struct {
	automation NamespacedName
	values     map[string]string
	tmpl       *template.Template
	removed    []string
}

// NewMessageTemplate parses text (Flux's default message when empty) and
// renders it once over sample data, so errors show when the objects are
// read, not after a scan.
func NewMessageTemplate(namespace, name, text string, values map[string]string) (*MessageTemplate, error) {
	if text == "" {
		text = DefaultMessage
	}
	t, err := template.New("commit message").Funcs(sprig.HermeticTxtFuncMap()).Parse(text)
	if err != nil {
		return nil, fmt.Errorf("parsing: %w", err)
	}
	m := &MessageTemplate{automation: NamespacedName{Namespace: namespace, Name: name}, values: values, tmpl: t}
	m.removed = removedFields(t)
	sample := []Change{{File: "apps/app.yaml", APIVersion: "apps/v1", Kind: "Deployment", Namespace: "apps", Name: "app",
		Setter: namespace + ":app", OldValue: "registry.example/app:1.0.0", NewValue: "registry.example/app:1.0.1", Image: "registry.example/app:1.0.1"}}
	if _, err := m.Render(sample); err != nil {
		return nil, err
	}
	return m, nil
}

// RemovedFields lists the template data fields the template uses that Flux
// 2.7 removed (".Updated", ".Changed.ImageResult"); uptick still provides
// them.
func (m *MessageTemplate) RemovedFields() []string { return slices.Clone(m.removed) }

// Render executes the template over changes. Unlike Flux, whose data comes
// from Go maps, the order of .Changed.Changes and .Updated.Images is fixed:
// by file, object and the order of changes.
func (m *MessageTemplate) Render(changes []Change) (string, error) {
	var b strings.Builder
	if err := m.tmpl.Execute(&b, newTemplateData(m.automation, m.values, changes)); err != nil {
		return "", fmt.Errorf("rendering: %w", err)
	}
	if strings.TrimSpace(b.String()) == "" {
		return "", errors.New("rendering: the message is empty")
	}
	return b.String(), nil
}

func removedFields(t *template.Template) []string {
	found := map[string]bool{}
	var walk func(parse.Node)
	check := func(idents []string) {
		switch {
		case len(idents) > 0 && idents[0] == "Updated":
			found[".Updated"] = true
		case len(idents) > 1 && idents[0] == "Changed" && idents[1] == "ImageResult":
			found[".Changed.ImageResult"] = true
		}
	}
	walk = func(n parse.Node) {
		switch n := n.(type) {
		case *parse.ListNode:
			if n != nil {
				for _, c := range n.Nodes {
					walk(c)
				}
			}
		case *parse.ActionNode:
			walk(n.Pipe)
		case *parse.PipeNode:
			if n != nil {
				for _, c := range n.Cmds {
					walk(c)
				}
			}
		case *parse.CommandNode:
			for _, a := range n.Args {
				walk(a)
			}
		case *parse.FieldNode:
			check(n.Ident)
		case *parse.VariableNode:
			if len(n.Ident) > 0 && n.Ident[0] == "$" {
				check(n.Ident[1:])
			}
		case *parse.ChainNode:
			walk(n.Node)
		case *parse.IfNode:
			walk(n.Pipe)
			walk(n.List)
			walk(n.ElseList)
		case *parse.RangeNode:
			walk(n.Pipe)
			walk(n.List)
			walk(n.ElseList)
		case *parse.WithNode:
			walk(n.Pipe)
			walk(n.List)
			walk(n.ElseList)
		case *parse.TemplateNode:
			walk(n.Pipe)
		}
	}
	for _, tt := range t.Templates() {
		if tt.Tree != nil {
			walk(tt.Root)
		}
	}
	out := make([]string, 0, len(found))
	for f := range found {
		out = append(out, f)
	}
	slices.Sort(out)
	return out
}

// NamespacedName is .AutomationObject; it prints as "namespace/name".
type NamespacedName struct{ Namespace, Name string }

// String implements fmt.Stringer as Kubernetes' types.NamespacedName does.
func (n NamespacedName) String() string { return n.Namespace + "/" + n.Name }

// TemplateData is what a message template is executed over: Flux's
// TemplateData, plus the .Updated of Flux before 2.7.
type TemplateData struct {
	AutomationObject NamespacedName
	Changed          Result
	Updated          ImageResult
	Values           map[string]string
}

// Result is .Changed: the changes per file, per object.
type Result struct {
	FileChanges map[string]ObjectChanges
	// ImageResult is .Changed.ImageResult of Flux before 2.7: the same as
	// .Updated.
	ImageResult ImageResult
	order       []changeAt
}

type changeAt struct {
	file string
	obj  ObjectIdentifier
	c    ChangeData
}

// ObjectChanges are the changes in one file, per object.
type ObjectChanges map[ObjectIdentifier][]ChangeData

// ObjectIdentifier names an object exactly as Flux's does (kyaml's
// ResourceIdentifier embedded), so templates read .Kind, .Name, .Namespace
// and .APIVersion, and maps of objects range and print in Flux's order.
type ObjectIdentifier struct{ yaml.ResourceIdentifier }

// ChangeData is one change: the setter (marker value) and the old and new
// values.
type ChangeData struct{ OldValue, NewValue, Setter string }

// Changes returns every distinct change, in order.
func (r Result) Changes() []ChangeData {
	var out []ChangeData
	seen := map[ChangeData]bool{}
	for _, c := range r.order {
		if !seen[c.c] {
			seen[c.c] = true
			out = append(out, c.c)
		}
	}
	return out
}

// Objects returns the changes per object, whatever the file.
func (r Result) Objects() ObjectChanges {
	out := ObjectChanges{}
	for _, c := range r.order {
		out[c.obj] = append(out[c.obj], c.c)
	}
	return out
}

// ImageResult is .Updated (and .Changed.ImageResult) of Flux before 2.7:
// the images set, per file and object.
type ImageResult struct {
	Files map[string]FileResult
	order []imageAt
}

type imageAt struct {
	obj ObjectIdentifier
	ref ImageRef
}

// FileResult is the images set in one file, per object.
type FileResult struct {
	Objects map[ObjectIdentifier][]ImageRef
}

// Images returns every distinct image set, in order.
func (r ImageResult) Images() []ImageRef {
	var out []ImageRef
	seen := map[ImageRef]bool{}
	for _, i := range r.order {
		if !seen[i.ref] {
			seen[i.ref] = true
			out = append(out, i.ref)
		}
	}
	return out
}

// Objects returns the images per object, whatever the file.
func (r ImageResult) Objects() map[ObjectIdentifier][]ImageRef {
	out := map[ObjectIdentifier][]ImageRef{}
	for _, i := range r.order {
		out[i.obj] = append(out[i.obj], i.ref)
	}
	return out
}

// ImageRef is an image of .Updated.Images; it prints as "repo:tag".
type ImageRef struct {
	ref    string
	tag    string
	repo   string
	reg    string
	name   string
	policy NamespacedName
}

// String is the reference as written, e.g. "ghcr.io/org/app:1.2.3".
func (r ImageRef) String() string { return r.ref }

// Identifier is the tag (or digest), e.g. "1.2.3".
func (r ImageRef) Identifier() string { return r.tag }

// Repository is the repository path, e.g. "org/app" ("library/nginx" on
// Docker Hub).
func (r ImageRef) Repository() string { return r.repo }

// Registry is the registry host, e.g. "ghcr.io" ("index.docker.io").
func (r ImageRef) Registry() string { return r.reg }

// Name is the fully qualified reference, e.g.
// "index.docker.io/library/nginx:1.2.3".
func (r ImageRef) Name() string { return r.name }

// Policy is the ImagePolicy that chose the image.
func (r ImageRef) Policy() NamespacedName { return r.policy }

func newImageRef(image, setter string) (ImageRef, bool) {
	ref, err := name.ParseReference(image)
	if err != nil {
		return ImageRef{}, false
	}
	out := ImageRef{ref: image, tag: ref.Identifier(), repo: ref.Context().RepositoryStr(), reg: ref.Context().RegistryStr(), name: ref.Name()}
	parts := strings.SplitN(setter, ":", 3)
	if len(parts) >= 2 {
		out.policy = NamespacedName{Namespace: parts[0], Name: parts[1]}
	}
	return out, true
}

func newTemplateData(auto NamespacedName, values map[string]string, changes []Change) TemplateData {
	d := TemplateData{
		AutomationObject: auto,
		Changed:          Result{FileChanges: map[string]ObjectChanges{}},
		Updated:          ImageResult{Files: map[string]FileResult{}},
		Values:           values,
	}
	if d.Values == nil {
		d.Values = map[string]string{}
	}
	for _, c := range changes {
		obj := ObjectIdentifier{yaml.ResourceIdentifier{
			TypeMeta: yaml.TypeMeta{APIVersion: c.APIVersion, Kind: c.Kind},
			NameMeta: yaml.NameMeta{Name: c.Name, Namespace: c.Namespace},
		}}
		cd := ChangeData{OldValue: c.OldValue, NewValue: c.NewValue, Setter: c.Setter}
		if d.Changed.FileChanges[c.File] == nil {
			d.Changed.FileChanges[c.File] = ObjectChanges{}
		}
		d.Changed.FileChanges[c.File][obj] = append(d.Changed.FileChanges[c.File][obj], cd)
		d.Changed.order = append(d.Changed.order, changeAt{file: c.File, obj: obj, c: cd})
		if ref, ok := newImageRef(c.Image, c.Setter); ok {
			fr, ok := d.Updated.Files[c.File]
			if !ok {
				fr = FileResult{Objects: map[ObjectIdentifier][]ImageRef{}}
				d.Updated.Files[c.File] = fr
			}
			// Flux records an image once per object.
			if !slices.Contains(fr.Objects[obj], ref) {
				fr.Objects[obj] = append(fr.Objects[obj], ref)
				d.Updated.order = append(d.Updated.order, imageAt{obj: obj, ref: ref})
			}
		}
	}
	d.Changed.ImageResult = d.Updated
	return d
}
