package flux

import (
	"slices"
	"strings"

	"github.com/uptick-gitops/uptick/gitops"
)

// translate joins policies to their repositories and automations to their
// policies, and builds the output.
func (l *loader) translate() *Config {
	cfg := &Config{Images: []Image{}, Automations: []Automation{}}
	repos := map[string]*repoObj{}
	for _, r := range l.repos {
		if prev, dup := repos[r.id()]; dup {
			r.w.report(Error, r.line, "metadata.name", "ImageRepository %s is also defined at %s", r.id(), prev.source())
			continue
		}
		repos[r.id()] = r
	}
	seenPolicy := map[string]*policyObj{}
	for _, p := range l.policies {
		w := p.w
		if prev, dup := seenPolicy[p.id()]; dup {
			w.report(Error, p.line, "metadata.name", "ImagePolicy %s is also defined at %s", p.id(), prev.source())
			continue
		}
		seenPolicy[p.id()] = p
		repo := repos[p.repoNS+"/"+p.repoName]
		if repo == nil {
			w.report(Error, p.refLine, "spec.imageRepositoryRef", "ImageRepository %s/%s is not among the objects read (or has errors)", p.repoNS, p.repoName)
			continue
		}
		if !l.accessAllowed(p, repo) {
			continue
		}
		cfg.Images = append(cfg.Images, Image{
			Name:             p.namespace + ":" + p.name,
			Source:           p.source(),
			Repository:       repo.image,
			RepositoryObject: repo.id(),
			Policy:           p.spec,
			FilterTags:       p.filter,
			Exclude:          slices.Clone(repo.exclude),
			Digest:           p.digest,
			PinDigest:        p.digest == DigestAlways || p.digest == DigestIfNotPresent,
			Suspended:        p.suspend || repo.suspend,
			Registry:         repo.registry,
		})
	}
	slices.SortFunc(cfg.Images, func(a, b Image) int { return strings.Compare(a.Name, b.Name) })

	seenAuto := map[string]*autoObj{}
	for _, a := range l.autos {
		if prev, dup := seenAuto[a.id()]; dup {
			a.w.report(Error, a.line, "metadata.name", "ImageUpdateAutomation %s is also defined at %s", a.id(), prev.source())
			continue
		}
		seenAuto[a.id()] = a
		if auto, ok := l.automation(a, cfg.Images); ok {
			cfg.Automations = append(cfg.Automations, auto)
		}
	}
	slices.SortFunc(cfg.Automations, func(a, b Automation) int { return strings.Compare(a.Name, b.Name) })
	return cfg
}

// accessAllowed applies Flux's cross-namespace ACL: a policy may use a
// repository in another namespace only if the repository's accessFrom
// selects the policy's namespace.
func (l *loader) accessAllowed(p *policyObj, repo *repoObj) bool {
	if p.namespace == repo.namespace {
		return true
	}
	if repo.accessFrom == nil {
		p.w.report(Error, p.refLine, "spec.imageRepositoryRef", "ImageRepository %s is in another namespace and has no spec.accessFrom, so Flux denies access", repo.id())
		return false
	}
	// Only the label Kubernetes sets itself can be known without a
	// cluster; other namespace labels are taken as matching, with a
	// warning.
	known := map[string]string{"kubernetes.io/metadata.name": p.namespace}
	unknown := false
	for _, sel := range repo.accessFrom {
		ok := true
		for _, r := range sel {
			if r.key != "kubernetes.io/metadata.name" {
				unknown = true
				continue
			}
			ok = ok && matches([]labelReq{r}, known)
		}
		if ok && !unknown {
			return true
		}
	}
	if unknown {
		p.w.report(Warning, p.refLine, "spec.imageRepositoryRef", "access to ImageRepository %s depends on labels of namespace %s, which cannot be read without a cluster; allowed", repo.id(), p.namespace)
		return true
	}
	p.w.report(Error, p.refLine, "spec.imageRepositoryRef", "ImageRepository %s does not allow access from namespace %s (spec.accessFrom)", repo.id(), p.namespace)
	return false
}

func (l *loader) automation(a *autoObj, images []Image) (Automation, bool) {
	w := a.w
	msg, err := NewMessageTemplate(a.namespace, a.name, a.template, a.values)
	if err != nil {
		w.report(Error, a.templateLine, "spec.git.commit.messageTemplate", "%v", err)
		return Automation{}, false
	}
	for _, f := range msg.RemovedFields() {
		w.report(Warning, a.templateLine, "spec.git.commit.messageTemplate", "uses %s, which Flux 2.7 removed; uptick still renders it", f)
	}
	spec := gitops.Spec{
		Branch: a.checkout,
		Commit: gitops.CommitSpec{Author: gitops.Signature{Name: a.author[0], Email: a.author[1]}},
		Push:   gitops.PushSpec{Branch: a.pushBranch},
	}
	if a.author[0] == "" {
		w.report(Warning, a.authorLine, "spec.git.commit.author.name", "empty: commits are authored as %q", gitops.DefaultAuthorName)
	}
	if a.signingKey != nil {
		spec.Commit.SigningKey = &gitops.SigningKey{File: a.signingKey.File, PassphraseEnv: a.signingKey.PassphraseEnv}
	}
	// gitops checks branch names and the author; the URL is the caller's.
	check := spec
	check.URL = "file:///placeholder"
	if err := check.Validate(); err != nil {
		for _, e := range unjoin(err) {
			var field, rest string
			if fe, ok := e.(*gitops.FieldError); ok {
				field, rest = "git."+fe.Field, fe.Err.Error()
			} else {
				field, rest = "git", e.Error()
			}
			line := a.line
			switch field {
			case "git.branch":
				field, line = "spec.git.checkout.ref.branch", a.checkoutLine
			case "git.push.branch":
				field, line = "spec.git.push.branch", a.pushLine
				if a.pushBranch == "" {
					field, line = "spec.git.checkout.ref.branch", a.checkoutLine
				}
			case "git.commit.author.name", "git.commit.author.email":
				field, line = "spec."+field, a.authorLine
			default:
				field = "spec." + field
			}
			w.report(Error, line, field, "%s", rest)
		}
		return Automation{}, false
	}
	auto := Automation{
		Name:      a.id(),
		Source:    a.source(),
		SourceRef: a.sourceRef,
		Git:       spec,
		Paths:     []string{a.path},
		Images:    []string{},
		Message:   msg,
		Suspended: a.suspend,
	}
	for _, p := range l.policies {
		if p.namespace == a.namespace && matches(a.selector, p.labels) {
			name := p.namespace + ":" + p.name
			if slices.ContainsFunc(images, func(im Image) bool { return im.Name == name }) {
				auto.Images = append(auto.Images, name)
			}
		}
	}
	slices.Sort(auto.Images)
	auto.Images = slices.Compact(auto.Images)
	return auto, true
}
