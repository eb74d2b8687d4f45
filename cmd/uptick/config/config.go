package config

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
	"sigs.k8s.io/kustomize/kyaml/yaml"

	"github.com/uptick-gitops/uptick/gitops"
	"github.com/uptick-gitops/uptick/policy"
	"github.com/uptick-gitops/uptick/scan"
	"github.com/uptick-gitops/uptick/sync"
	"github.com/uptick-gitops/uptick/update"
)

// File is the schema of the config file: each stage's own spec, composed.
// Field names are the YAML keys; unknown keys are errors.
type File struct {
	Git      gitops.Spec `yaml:"git"`
	Images   []ImageSpec `yaml:"images"`
	Scan     ScanSpec    `yaml:"scan"`
	Update   UpdateSpec  `yaml:"update"`
	Sync     *sync.Spec  `yaml:"sync"`
	Schedule string      `yaml:"schedule"`
}

// ImageSpec is one entry of `images:`: a repository, the policy that picks
// its tag, and the name markers use to refer to it.
type ImageSpec struct {
	Name       string             `yaml:"name"`
	Repository string             `yaml:"repository"`
	Policy     policy.Spec        `yaml:"policy"`
	FilterTags *policy.FilterSpec `yaml:"filterTags"`
	Exclude    []string           `yaml:"exclude"`
	Auth       ImageAuth          `yaml:"auth"`
	// PinDigest looks up the chosen tag's digest, so full markers become
	// repo:tag@digest and :digest markers can be set (Flux's
	// digestReflectionPolicy: Always).
	PinDigest bool `yaml:"pinDigest"`
}

// ImageAuth says where registry credentials for one image come from; at
// most one of dockerConfig, usernameEnv/passwordEnv and provider. None:
// the docker config at $DOCKER_CONFIG/config.json or
// ~/.docker/config.json, else anonymous.
type ImageAuth struct {
	// DockerConfig is a docker config.json whose credentials (auths,
	// credHelpers, credsStore) are the only ones used for this image; "~/"
	// is the home directory.
	DockerConfig string `yaml:"dockerConfig"`
	// UsernameEnv and PasswordEnv name environment variables holding a
	// username and a password or token.
	UsernameEnv string `yaml:"usernameEnv"`
	PasswordEnv string `yaml:"passwordEnv"`
	// Provider uses a cloud registry's own auth: aws (ECR), google
	// (Artifact Registry, GCR) or azure (ACR).
	Provider string `yaml:"provider"`
}

// ScanSpec tunes registry access for the whole run.
type ScanSpec struct {
	// Concurrency bounds how many repositories are listed at once (default
	// the scanner's).
	Concurrency int `yaml:"concurrency"`
	// Insecure names registries reached over plain HTTP.
	Insecure []string `yaml:"insecure"`
	// CAFile is a PEM bundle of extra CAs trusted for registries.
	CAFile string `yaml:"caFile"`
	// Timeout is the time budget of one image: all its tag pages with
	// retries and waits (default the scanner's, 1m).
	Timeout time.Duration `yaml:"timeout"`
	// RequestTimeout bounds one registry request, body included (default
	// the scanner's, 30s).
	RequestTimeout time.Duration `yaml:"requestTimeout"`
	// IdleTimeout bounds the wait for response headers and for each further
	// piece of a body (default the scanner's, 15s).
	IdleTimeout time.Duration `yaml:"idleTimeout"`
	// Retries is how often one request is retried after a 429, a 5xx or a
	// transient network error (default the scanner's, 3); -1 for none.
	Retries int `yaml:"retries"`
	// Limits bound what one repository's tag list may cost.
	Limits ScanLimits `yaml:"limits"`
	// Registries tune single registries.
	Registries []RegistrySpec `yaml:"registries"`
}

// ScanLimits bound one repository's tag list; 0 is the scanner's default.
type ScanLimits struct {
	// PageSize is the "n" asked for per page (default 1000).
	PageSize int `yaml:"pageSize"`
	// Pages caps the pages read (default 1000).
	Pages int `yaml:"pages"`
	// PageBytes caps one page's body (default 8388608, 8 MiB).
	PageBytes int64 `yaml:"pageBytes"`
	// Tags caps the tags kept (default 100000).
	Tags int `yaml:"tags"`
}

// RegistrySpec tunes one registry.
type RegistrySpec struct {
	// Host is the registry as written in repositories (host or host:port).
	Host string `yaml:"host"`
	// RPS limits the requests per second sent to it, across all images.
	RPS float64 `yaml:"rps"`
}

// UpdateSpec says which part of the repository the rewrite looks at.
type UpdateSpec struct {
	// Paths are relative to the repository root; default the whole root.
	Paths []string `yaml:"paths"`
	// MaxFileSize is the largest file with markers parsed and rewritten,
	// in bytes (default 8388608, 8 MiB; at most MaxUpdateFileSize); a
	// larger one is left alone with a warning. Parsing takes about ten
	// times a file's size in memory.
	MaxFileSize int64 `yaml:"maxFileSize"`
}

// MaxUpdateFileSize is the largest update.maxFileSize accepted: 256 MiB,
// whose parse takes a few GiB.
const MaxUpdateFileSize = 256 << 20

// Image is one configured image, resolved: everything a pass needs about it
// in one place.
type Image struct {
	// Name is the name as configured: "podinfo" or "flux-system:podinfo".
	Name string
	// Field is where the image sits in the file, for messages:
	// "images[2] (payments-api)".
	Field string
	// Ref is the marker reference the image answers to.
	Ref        update.PolicyRef
	Repository string
	// Selector applies the policy, filter and exclusions to a tag list.
	Selector *policy.Selector
	// Auth is the image's credential source; DockerConfig has "~"
	// expanded.
	Auth      ImageAuth
	PinDigest bool
	// Suspended images are not scanned and their markers are left alone
	// (a Flux ImagePolicy or ImageRepository with spec.suspend).
	Suspended bool
}

// Config is a loaded, defaulted and validated config file.
type Config struct {
	// lines locates every field of the file, for Preflight's messages.
	lines map[string]int

	// Path is the file the config was read from, as given.
	Path string
	Git  gitops.Spec
	// Images are in file order.
	Images   []Image
	Scan     ScanSpec
	Update   UpdateSpec
	Schedule string

	// Sync is the sync section with its defaults, nil when the file has
	// none (run then stops after the push).
	Sync *sync.Spec

	// RenderMessage, when set, renders the commit message in place of
	// Git.Commit.MessageTemplate (a Flux automation's template over Flux's
	// template data); images are the chosen ones, by marker reference.
	RenderMessage func(changes []update.Change, images map[update.PolicyRef]update.Image) (string, error)
	// Warnings are things the config declares that uptick does differently
	// (from Flux objects); reported with every pass.
	Warnings []string
}

// Load reads and parses a config file. Errors are *Error (bad input).
func Load(file string) (*Config, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, &Error{File: file, Problems: []*FieldError{{Err: readError(err)}}}
	}
	return Parse(file, data)
}

// LoadBase reads a config file whose images may come from elsewhere
// (Flux objects, see FromFlux): `images:` may be empty.
func LoadBase(file string) (*Config, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, &Error{File: file, Problems: []*FieldError{{Err: readError(err)}}}
	}
	return parse(file, data, true)
}

// readError says why a config file cannot be read, without Go's
// "open <path>:" prefix (the caller names the file).
func readError(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return fmt.Errorf("cannot read the config file: %w", pe.Err)
	}
	return fmt.Errorf("cannot read the config file: %w", err)
}

// Parse decodes, defaults and validates a config file's content; file names
// it in errors. Errors are *Error listing every problem found.
func Parse(file string, data []byte) (*Config, error) {
	return parse(file, data, false)
}

func parse(file string, data []byte, imagesOptional bool) (*Config, error) {
	fail := func(line int, err error) (*Config, error) {
		return nil, &Error{File: file, Problems: []*FieldError{{Line: line, Err: err}}}
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return fail(0, fmt.Errorf("not valid YAML: %s", strings.TrimPrefix(err.Error(), "yaml: ")))
	}
	if doc.Kind == 0 || len(doc.Content) == 0 || isNull(doc.Content[0]) {
		return fail(0, errors.New("empty config"))
	}
	root := doc.Content[0]
	names := imageNames(root)
	c := newChecker()
	c.check(root, reflect.TypeOf(File{}), "")
	if len(c.problems) > 0 {
		for _, p := range c.problems {
			p.Path = display(names, p.Path)
		}
		return nil, &Error{File: file, Problems: c.problems}
	}
	var f File
	if err := root.Decode(&f); err != nil {
		return fail(root.Line, err)
	}
	v := &validator{lines: c.lines, names: names, imagesOptional: imagesOptional}
	cfg := v.resolve(file, f)
	if len(v.problems) > 0 {
		return nil, &Error{File: file, Problems: v.problems}
	}
	cfg.lines = c.lines
	return cfg, nil
}

// Preflight checks what can be checked offline but needs the environment:
// every credential variable the config names is set, key files exist,
// parse and decrypt with their passphrases, the sync's kubeconfig reads
// and has its context. run and plan call it before
// any request, so a problem costs no network round trip. Errors are
// *Error, naming the field and its line.
func (c *Config) Preflight(getenv func(string) string) error {
	v := &validator{lines: c.lines, names: map[int]string{}}
	for i, img := range c.Images {
		v.names[i] = img.Name
	}
	v.addStage("git", c.Git.Preflight(getenv))
	for i, img := range c.Images {
		field := fmt.Sprintf("images[%d].auth", i)
		for _, e := range []struct{ key, name string }{{"usernameEnv", img.Auth.UsernameEnv}, {"passwordEnv", img.Auth.PasswordEnv}} {
			if e.name != "" && getenv(e.name) == "" {
				v.add(field+"."+e.key, fmt.Errorf("environment variable %s is empty or unset", e.name))
			}
		}
		if img.Auth.DockerConfig != "" {
			if err := scan.CheckDockerConfig(img.Auth.DockerConfig); err != nil {
				v.add(field+".dockerConfig", err)
			}
		}
	}
	if c.Sync != nil {
		v.addStage("sync", c.Sync.Preflight(getenv))
	}
	if len(v.problems) > 0 {
		return &Error{File: c.Path, Problems: v.problems}
	}
	return nil
}

// validator collects field problems with their lines.
type validator struct {
	lines    map[string]int
	names    map[int]string // image index → its name, for messages
	problems []*FieldError
	// imagesOptional: the images come from Flux objects.
	imagesOptional bool
}

// add records a problem with the field at path (a raw path such as
// "images[2].policy"); the line is the field's, or its closest parent's.
func (v *validator) add(path string, err error) {
	line := 0
	for p := path; p != ""; p = parentPath(p) {
		if l, ok := v.lines[p]; ok {
			line = l
			break
		}
	}
	v.problems = append(v.problems, &FieldError{Path: display(v.names, path), Line: line, Err: err})
}

// addStage records the problems a stage's Validate returned for the section
// at prefix, using each error's own field path when it has one.
func (v *validator) addStage(prefix string, err error) {
	for _, e := range leaves(err) {
		var fp fieldPather
		if errors.As(e, &fp) {
			p := prefix
			if fp.FieldPath() != "" {
				p = prefix + "." + fp.FieldPath()
			}
			v.add(p, fp.Unwrap())
			continue
		}
		v.add(prefix, e)
	}
}

// display puts the image's name after an "images[i]" prefix, so a message
// says which image it is about: "images[2] (payments-api).policy".
func display(names map[int]string, path string) string {
	rest, ok := strings.CutPrefix(path, "images[")
	if !ok {
		return path
	}
	end := strings.IndexByte(rest, ']')
	i, err := strconv.Atoi(rest[:max(end, 0)])
	if err != nil || names[i] == "" {
		return path
	}
	return fmt.Sprintf("images[%d] (%s)%s", i, names[i], rest[end+1:])
}

// imageNames reads each image's name from the document before it is
// decoded, so even a field checker error can name the image.
func imageNames(root *yaml.Node) map[int]string {
	names := map[int]string{}
	for i := 0; i+1 < len(root.Content); i += 2 {
		if root.Content[i].Value != "images" || root.Content[i+1].Kind != yaml.SequenceNode {
			continue
		}
		for j, item := range root.Content[i+1].Content {
			for k := 0; item.Kind == yaml.MappingNode && k+1 < len(item.Content); k += 2 {
				if item.Content[k].Value == "name" && item.Content[k+1].Kind == yaml.ScalarNode && len(item.Content[k+1].Value) <= 100 {
					names[j] = item.Content[k+1].Value
				}
			}
		}
	}
	return names
}

// parentPath drops the last element of a field path.
func parentPath(p string) string {
	i := strings.LastIndexAny(p, ".[")
	if i <= 0 {
		return ""
	}
	return p[:i]
}

func (v *validator) resolve(file string, f File) *Config {
	cfg := &Config{Path: file, Git: f.Git, Scan: f.Scan, Update: f.Update, Schedule: f.Schedule}

	cfg.Git.SetDefaults()
	v.addStage("git", cfg.Git.Validate())
	if f.Sync != nil {
		spec := *f.Sync
		spec.SetDefaults()
		spec.Kubeconfig = expandHome(spec.Kubeconfig)
		v.addStage("sync", spec.Validate())
		cfg.Sync = &spec
	}
	if len(f.Images) == 0 && !v.imagesOptional {
		v.add("images", errors.New("at least one image is required"))
	}
	seen := map[update.PolicyRef]int{}
	for i, spec := range f.Images {
		field := fmt.Sprintf("images[%d]", i)
		img := Image{Name: spec.Name, Field: display(v.names, field), Repository: spec.Repository, PinDigest: spec.PinDigest, Auth: spec.Auth}
		img.Auth.DockerConfig = expandHome(spec.Auth.DockerConfig)
		v.checkAuth(field+".auth", spec.Auth)
		ref, err := update.ParsePolicyRef(spec.Name)
		switch {
		case spec.Name == "":
			v.add(field+".name", errors.New("required"))
		case err != nil:
			v.add(field+".name", err)
		default:
			if j, dup := seen[ref]; dup {
				v.add(field+".name", fmt.Errorf("%q is already used by images[%d]", spec.Name, j))
			}
			seen[ref] = i
		}
		img.Ref = ref
		if spec.Repository == "" {
			v.add(field+".repository", errors.New("required"))
		} else if err := update.ValidateRepository(spec.Repository); err != nil {
			v.add(field+".repository", err)
		}
		sel, err := policy.NewSelector(spec.Policy, spec.FilterTags, spec.Exclude)
		if err != nil {
			var fe *policy.FieldError
			if errors.As(err, &fe) {
				v.add(joinPath(field, fe.Field), fe.Err)
			} else {
				v.add(field, err)
			}
		}
		img.Selector = sel
		cfg.Images = append(cfg.Images, img)
	}
	if f.Scan.Concurrency < 0 {
		v.add("scan.concurrency", errors.New("must not be negative"))
	}
	v.checkScan(f.Scan)
	for _, d := range []struct {
		key string
		d   time.Duration
	}{{"timeout", f.Scan.Timeout}, {"requestTimeout", f.Scan.RequestTimeout}, {"idleTimeout", f.Scan.IdleTimeout}} {
		if d.d < 0 {
			v.add("scan."+d.key, fmt.Errorf("must not be negative, got %s", d.d))
		}
	}
	if len(cfg.Update.Paths) == 0 {
		cfg.Update.Paths = []string{"."}
	}
	if n := f.Update.MaxFileSize; n < 0 || n > MaxUpdateFileSize {
		v.add("update.maxFileSize", fmt.Errorf("must be between 0 (the default, 8 MiB) and %d bytes (256 MiB), got %d", MaxUpdateFileSize, n))
	}
	for i, p := range cfg.Update.Paths {
		clean := path.Clean(filepath.ToSlash(p))
		if path.IsAbs(clean) || clean == ".." || strings.HasPrefix(clean, "../") {
			v.add(fmt.Sprintf("update.paths[%d]", i), fmt.Errorf("%q must be a relative path inside the repository", p))
		}
	}
	v.checkPullRequestBranches(cfg)
	if f.Schedule != "" {
		if _, err := ParseSchedule(f.Schedule); err != nil {
			v.add("schedule", err)
		}
	}
	return cfg
}

func joinPath(base, rel string) string {
	switch {
	case rel == "":
		return base
	case strings.HasPrefix(rel, "["):
		return base + rel
	}
	return base + "." + rel
}

// ParseSchedule reads a standard five-field cron line or a descriptor such
// as "@hourly" or "@every 10m".
func ParseSchedule(spec string) (cron.Schedule, error) {
	s, err := cron.ParseStandard(spec)
	if err != nil {
		return nil, fmt.Errorf("invalid cron schedule %q: %w", spec, err)
	}
	return s, nil
}

func expandHome(p string) string {
	if p == "~" || strings.HasPrefix(p, "~/") {
		if home, err := os.UserHomeDir(); err == nil {
			return filepath.Join(home, p[1:])
		}
	}
	return p
}

// providers are the cloud registries' auth uptick knows.
var providers = []string{"aws", "google", "azure"}

// checkAuth validates one image's auth section.
func (v *validator) checkAuth(field string, a ImageAuth) {
	sources := 0
	if a.DockerConfig != "" {
		sources++
	}
	if a.UsernameEnv != "" || a.PasswordEnv != "" {
		sources++
		if a.PasswordEnv == "" {
			v.add(field+".passwordEnv", errors.New("required with usernameEnv"))
		}
		if a.UsernameEnv == "" {
			v.add(field+".usernameEnv", errors.New("required with passwordEnv"))
		}
	}
	if a.Provider != "" {
		sources++
		if !slices.Contains(providers, a.Provider) {
			v.add(field+".provider", fmt.Errorf("unknown provider %q (want one of %s)", a.Provider, strings.Join(providers, ", ")))
		}
	}
	if sources > 1 {
		v.add(field, errors.New("give one of dockerConfig, usernameEnv/passwordEnv or provider"))
	}
}

// checkScan validates the scan section's limits and registries.
func (v *validator) checkScan(s ScanSpec) {
	if s.Retries < -1 {
		v.add("scan.retries", fmt.Errorf("must be -1 (none) or more, got %d", s.Retries))
	}
	for _, l := range []struct {
		key string
		n   int64
	}{{"pageSize", int64(s.Limits.PageSize)}, {"pages", int64(s.Limits.Pages)}, {"pageBytes", s.Limits.PageBytes}, {"tags", int64(s.Limits.Tags)}} {
		if l.n < 0 {
			v.add("scan.limits."+l.key, fmt.Errorf("must not be negative, got %d", l.n))
		}
	}
	seen := map[string]int{}
	for i, r := range s.Registries {
		field := fmt.Sprintf("scan.registries[%d]", i)
		switch j, dup := seen[r.Host]; {
		case r.Host == "":
			v.add(field+".host", errors.New("required"))
		case dup:
			v.add(field+".host", fmt.Errorf("%q is already tuned by scan.registries[%d]", r.Host, j))
		default:
			seen[r.Host] = i
		}
		if r.RPS < 0 || math.IsNaN(r.RPS) || math.IsInf(r.RPS, 0) {
			v.add(field+".rps", fmt.Errorf("must be a positive number of requests per second, got %v", r.RPS))
		}
	}
}
