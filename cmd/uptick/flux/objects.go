package flux

import (
	"errors"
	"fmt"
	"path"
	"strings"

	"github.com/uptick-gitops/uptick/policy"
)

// defaultExclusion is the exclusionList Flux uses when none is set.
const defaultExclusion = `^.*\.sig$`

type repoObj struct {
	*meta
	image      string
	exclude    []string
	registry   Registry
	suspend    bool
	accessFrom [][]labelReq // nil: no accessFrom; one entry per namespaceSelector
}

func (l *loader) readRepository(m *meta, spec *mapping) *repoObj {
	w := m.w
	o := &repoObj{meta: m}
	o.image = spec.required("image")
	if strings.Contains(o.image, "://") {
		w.report(Error, spec.line("image"), "spec.image", "%q must be an image repository without a scheme, e.g. ghcr.io/org/app", o.image)
	}
	spec.known("interval")
	spec.unsupported("timeout", Warning, "not used: uptick bounds each registry request and the whole run with its own timeouts (--timeout)")
	spec.unsupported("proxySecretRef", Error, "not supported: uptick uses the proxy in its environment (HTTPS_PROXY, NO_PROXY); remove the field and set those")
	o.suspend = spec.boolean("suspend")
	if o.suspend {
		w.report(Warning, spec.line("suspend"), "spec.suspend", "suspended: the images of policies using it are not updated")
	}

	o.exclude = spec.strList("exclusionList")
	if len(o.exclude) == 0 {
		o.exclude = []string{defaultExclusion}
	} else if len(o.exclude) > 25 {
		w.report(Error, spec.line("exclusionList"), "spec.exclusionList", "has %d patterns; Flux allows at most 25", len(o.exclude))
	}
	if _, err := policy.NewSelector(policy.Spec{Alphabetical: &policy.OrderSpec{}}, nil, o.exclude); err != nil {
		var fe *policy.FieldError
		line := spec.line("exclusionList")
		field := "spec.exclusionList"
		if errors.As(err, &fe) {
			var i int
			if _, serr := fmt.Sscanf(fe.Field, "exclude[%d]", &i); serr == nil {
				field = fmt.Sprintf("spec.exclusionList[%d]", i)
				if items := spec.list("exclusionList"); i < len(items) {
					line = items[i].Line
				}
			}
			err = fe.Err
		}
		w.report(Error, line, field, "%v", err)
	}

	o.registry.Provider = spec.str("provider")
	switch o.registry.Provider {
	case "":
		o.registry.Provider = "generic"
	case "generic", "aws", "azure", "gcp":
	default:
		w.report(Error, spec.line("provider"), "spec.provider", "%q is not one of generic, aws, azure, gcp", o.registry.Provider)
	}
	o.registry.Insecure = spec.boolean("insecure")
	if sa := spec.str("serviceAccountName"); sa != "" {
		if o.registry.Provider == "generic" {
			w.report(Error, spec.line("serviceAccountName"), "spec.serviceAccountName", "not supported with the generic provider: uptick cannot read a service account's image pull secrets; reference the pull secret with spec.secretRef instead")
		} else {
			w.report(Warning, spec.line("serviceAccountName"), "spec.serviceAccountName", "not used: uptick authenticates to %s with the identity of the job that runs it, not service account %q", o.registry.Provider, sa)
		}
	}
	if name := localRef(spec, "secretRef"); name != "" {
		ref := secretRef{cfg: l.secrets, namespace: m.namespace, name: name}
		src, found, err := ref.key(".dockerconfigjson")
		switch {
		case err != nil:
			w.report(Error, spec.line("secretRef"), "spec.secretRef", "%v", err)
		case !found:
			w.report(Error, spec.line("secretRef"), "spec.secretRef", "Secret %s/%s has no key .dockerconfigjson in %s (a docker config.json with the registry's credentials)", m.namespace, name, SecretsFileName)
		case src.Env != "":
			w.report(Error, spec.line("secretRef"), "spec.secretRef", "key .dockerconfigjson of Secret %s/%s must be a file (the scan reads a docker config.json), not %s", m.namespace, name, src)
		default:
			o.registry.DockerConfig = &src
		}
	}
	if name := localRef(spec, "certSecretRef"); name != "" {
		ref := secretRef{cfg: l.secrets, namespace: m.namespace, name: name}
		for _, k := range []struct {
			dst        **SecretSource
			key, older string
		}{{&o.registry.CA, "ca.crt", "caFile"}, {&o.registry.Cert, "tls.crt", "certFile"}, {&o.registry.Key, "tls.key", "keyFile"}} {
			src, found, err := ref.key(k.key)
			if err == nil && !found {
				src, found, err = ref.key(k.older)
			}
			switch {
			case err != nil:
				w.report(Error, spec.line("certSecretRef"), "spec.certSecretRef", "%v", err)
				return o
			case !found:
			case src.Env != "":
				w.report(Error, spec.line("certSecretRef"), "spec.certSecretRef", "key %s of Secret %s/%s must be a file, not %s", k.key, m.namespace, name, src)
			default:
				*k.dst = &src
			}
		}
		switch {
		case o.registry.CA == nil && o.registry.Cert == nil && o.registry.Key == nil:
			w.report(Error, spec.line("certSecretRef"), "spec.certSecretRef", "Secret %s/%s has none of ca.crt, tls.crt, tls.key in %s", m.namespace, name, SecretsFileName)
		case (o.registry.Cert == nil) != (o.registry.Key == nil):
			w.report(Error, spec.line("certSecretRef"), "spec.certSecretRef", "Secret %s/%s must have both tls.crt and tls.key, or neither", m.namespace, name)
		}
	}
	if af := spec.child("accessFrom"); af != nil {
		o.accessFrom = [][]labelReq{}
		for i, n := range af.list("namespaceSelectors") {
			sel := w.newMapping(n, fmt.Sprintf("%s.namespaceSelectors[%d]", af.path, i))
			o.accessFrom = append(o.accessFrom, matchLabels(sel.strMap("matchLabels")))
			sel.done()
		}
		af.done()
	}
	return o
}

// localRef reads a {name: ...} reference.
func localRef(spec *mapping, key string) string {
	r := spec.child(key)
	if r == nil {
		return ""
	}
	name := r.required("name")
	r.done()
	return name
}

type policyObj struct {
	*meta
	repoNS, repoName string
	refLine          int
	spec             policy.Spec
	filter           *policy.FilterSpec
	digest           DigestReflection
	suspend          bool
}

func (l *loader) readPolicy(m *meta, spec *mapping) *policyObj {
	w := m.w
	o := &policyObj{meta: m}
	ref := spec.child("imageRepositoryRef")
	if ref == nil {
		w.report(Error, spec.line("imageRepositoryRef"), "spec.imageRepositoryRef", "required")
	} else {
		o.repoName = ref.required("name")
		o.repoNS = ref.str("namespace")
		if o.repoNS == "" {
			o.repoNS = m.namespace
		}
		o.refLine = spec.line("imageRepositoryRef")
		ref.done()
	}

	choice := spec.child("policy")
	if choice == nil {
		w.report(Error, spec.line("policy"), "spec.policy", "required")
	} else {
		// Flux takes the first strategy set, in this order, and ignores
		// the others.
		var set []string
		for _, k := range []string{"semver", "alphabetical", "numerical"} {
			if choice.has(k) {
				set = append(set, k)
			}
		}
		switch {
		case len(set) == 0:
			w.report(Error, choice.line(""), "spec.policy", "one of semver, alphabetical or numerical is required")
		case len(set) > 1:
			w.report(Warning, choice.line(set[1]), "spec.policy", "sets %s; Flux uses %s and ignores the rest, and so does uptick", strings.Join(set, ", "), set[0])
		}
		for i, k := range set {
			s := choice.child(k)
			if i > 0 {
				s.known("range", "order")
				s.done()
				continue
			}
			switch k {
			case "semver":
				o.spec.SemVer = &policy.SemVerSpec{Range: s.required("range")}
			case "alphabetical":
				o.spec.Alphabetical = &policy.OrderSpec{Order: s.str("order")}
			case "numerical":
				o.spec.Numerical = &policy.OrderSpec{Order: s.str("order")}
			}
			s.done()
		}
		choice.done()
	}

	if ft := spec.child("filterTags"); ft != nil {
		f := policy.FilterSpec{Pattern: ft.str("pattern"), Extract: ft.str("extract")}
		switch {
		case f == policy.FilterSpec{}:
			// Flux's empty pattern matches every tag: no filter.
		case f.Pattern == "":
			w.report(Error, ft.line("extract"), "spec.filterTags.pattern", "required with extract (Flux would expand every tag to the same value)")
		default:
			o.filter = &f
		}
		ft.done()
	}
	if !w.failed {
		if _, err := policy.NewSelector(o.spec, o.filter, nil); err != nil {
			var fe *policy.FieldError
			field, line := "spec.policy", spec.line("policy")
			if errors.As(err, &fe) {
				field = "spec." + fe.Field
				if strings.HasPrefix(fe.Field, "filterTags") {
					line = spec.line("filterTags")
				}
				err = fe.Err
			}
			w.report(Error, line, field, "%v", err)
		}
	}

	o.digest = DigestReflection(spec.str("digestReflectionPolicy"))
	switch o.digest {
	case "":
		o.digest = DigestNever
	case DigestNever, DigestIfNotPresent, DigestAlways:
	default:
		w.report(Error, spec.line("digestReflectionPolicy"), "spec.digestReflectionPolicy", "%q is not one of Always, IfNotPresent, Never", o.digest)
	}
	// Flux's API rejects these combinations; uptick says why instead of
	// guessing.
	hasInterval := spec.has("interval")
	spec.known("interval")
	switch {
	case hasInterval && o.digest != DigestAlways:
		w.report(Error, spec.line("interval"), "spec.interval", "spec.interval is only accepted when spec.digestReflectionPolicy is set to 'Always'")
	case !hasInterval && o.digest == DigestAlways:
		w.report(Error, spec.line("digestReflectionPolicy"), "spec.interval", "spec.interval must be set when spec.digestReflectionPolicy is set to 'Always'")
	}
	o.suspend = spec.boolean("suspend")
	if o.suspend {
		w.report(Warning, spec.line("suspend"), "spec.suspend", "suspended: its markers are not updated")
	}
	return o
}

type autoObj struct {
	*meta
	sourceRef    string
	checkout     string
	author       [2]string // name, email
	signingKey   *SigningKeyRef
	template     string
	values       map[string]string
	pushBranch   string
	path         string
	selector     []labelReq
	suspend      bool
	templateLine int
	authorLine   int
	checkoutLine int
	pushLine     int
}

// SigningKeyRef is where the automation's OpenPGP key is, resolved.
type SigningKeyRef struct {
	File          string
	PassphraseEnv string
}

func (l *loader) readAutomation(m *meta, spec *mapping) *autoObj {
	w := m.w
	o := &autoObj{meta: m, path: "."}
	if src := spec.child("sourceRef"); src == nil {
		w.report(Error, spec.line("sourceRef"), "spec.sourceRef", "required")
	} else {
		kind := src.str("kind")
		if kind == "" {
			kind = "GitRepository"
		}
		if kind != "GitRepository" {
			w.report(Error, src.line("kind"), "spec.sourceRef.kind", "%q is not supported; only GitRepository", kind)
		}
		src.known("apiVersion")
		ns := src.str("namespace")
		if ns == "" {
			ns = m.namespace
		}
		o.sourceRef = kind + "/" + ns + "/" + src.required("name")
		src.done()
	}
	spec.known("interval")
	o.suspend = spec.boolean("suspend")
	if o.suspend {
		w.report(Warning, spec.line("suspend"), "spec.suspend", "suspended: Flux would not run it")
	}

	if sel := spec.child("policySelector"); sel != nil {
		o.selector = readLabelSelector(sel)
	}

	if up := spec.child("update"); up != nil {
		if s := up.str("strategy"); s != "" && s != "Setters" {
			w.report(Error, up.line("strategy"), "spec.update.strategy", "%q is not supported; only Setters", s)
		}
		if p := up.str("path"); p != "" {
			clean := path.Clean(strings.TrimPrefix(p, "/"))
			if strings.HasPrefix(p, "/") || clean == ".." || strings.HasPrefix(clean, "../") || strings.Contains(p, `\`) {
				w.report(Error, up.line("path"), "spec.update.path", "%q must be a relative slash path inside the repository", p)
			}
			o.path = clean
		}
		up.done()
	}

	git := spec.child("git")
	if git == nil {
		w.report(Error, spec.line("git"), "spec.git", "required: uptick needs the commit author")
		return o
	}
	if co := git.child("checkout"); co != nil {
		ref := co.child("ref")
		if ref == nil {
			w.report(Error, co.line("ref"), "spec.git.checkout.ref", "required")
		} else {
			for _, k := range []string{"tag", "semver", "name", "commit"} {
				ref.unsupported(k, Error, "not supported: uptick checks out a branch it can push to; use ref.branch")
			}
			o.checkout = ref.str("branch")
			o.checkoutLine = ref.line("branch")
			if o.checkout == "" && !w.failed {
				w.report(Error, co.line("ref"), "spec.git.checkout.ref.branch", "required")
			}
			ref.done()
		}
		co.done()
	}
	commit := git.child("commit")
	if commit == nil {
		w.report(Error, git.line("commit"), "spec.git.commit", "required")
	} else {
		if a := commit.child("author"); a == nil {
			w.report(Error, commit.line("author"), "spec.git.commit.author", "required")
		} else {
			o.author = [2]string{a.str("name"), a.required("email")}
			o.authorLine = commit.line("author")
			a.done()
		}
		o.template = commit.str("messageTemplate")
		o.templateLine = commit.line("messageTemplate")
		o.values = commit.strMap("messageTemplateValues")
		if sk := commit.child("signingKey"); sk != nil {
			o.signingKey = l.readSigningKey(m, sk)
			sk.done()
		}
		commit.done()
	}
	if push := git.child("push"); push != nil {
		o.pushBranch = push.str("branch")
		o.pushLine = push.line("branch")
		push.unsupported("refspec", Error, "not supported: uptick pushes to push.branch only")
		push.unsupported("options", Error, "not supported: uptick sends no push options")
		push.done()
	}
	git.done()
	return o
}

func (l *loader) readSigningKey(m *meta, sk *mapping) *SigningKeyRef {
	w := m.w
	if m.apiVersion == Group+"/v1" {
		if t := sk.str("type"); t != "" && t != "gpg" {
			w.report(Error, sk.line("type"), "spec.git.commit.signingKey.type", "%q is not supported: uptick signs with OpenPGP (gpg) keys only", t)
			sk.known("secretRef")
			return nil
		}
	}
	name := localRef(sk, "secretRef")
	if name == "" {
		if !sk.has("secretRef") {
			w.report(Error, sk.line("secretRef"), "spec.git.commit.signingKey.secretRef", "required")
		}
		return nil
	}
	ref := secretRef{cfg: l.secrets, namespace: m.namespace, name: name}
	field := "spec.git.commit.signingKey.secretRef"
	key, found, err := ref.key("git.asc")
	switch {
	case err != nil:
		w.report(Error, sk.line("secretRef"), field, "%v", err)
		return nil
	case !found:
		w.report(Error, sk.line("secretRef"), field, "Secret %s/%s has no key git.asc (the armored OpenPGP key) in %s", m.namespace, name, SecretsFileName)
		return nil
	case key.Env != "":
		w.report(Error, sk.line("secretRef"), field, "key git.asc of Secret %s/%s must be a file (commits are signed with a key file), not %s", m.namespace, name, key)
		return nil
	}
	out := &SigningKeyRef{File: key.File}
	pass, found, _ := ref.key("passphrase")
	switch {
	case !found:
	case pass.File != "":
		w.report(Error, sk.line("secretRef"), field, "key passphrase of Secret %s/%s must be an environment variable (env:), not %s", m.namespace, name, pass)
	default:
		out.PassphraseEnv = pass.Env
	}
	return out
}
