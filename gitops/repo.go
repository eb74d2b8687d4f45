package gitops

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"

	"github.com/ProtonMail/go-crypto/openpgp"
	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/transport"
)

// remoteName is the remote uptick clones from and pushes to.
const remoteName = "origin"

// Sentinel errors callers branch on.
var (
	// ErrNothingToCommit means the given files do not differ from HEAD.
	ErrNothingToCommit = errors.New("nothing to commit")
	// ErrPushRejected means the remote refused a non-fast-forward update:
	// someone pushed in between; re-run from a fresh checkout.
	ErrPushRejected = errors.New("push rejected: remote branch has commits not in the local branch")
	// ErrBranchNotFound means the checkout branch does not exist on the remote.
	ErrBranchNotFound = errors.New("branch not found on remote")
	// ErrWorkdirMismatch means the work directory holds something other
	// than a clone of the configured URL; uptick never deletes it blindly.
	ErrWorkdirMismatch = errors.New("work directory is not a clone of the configured repository")
	// ErrInvalidPath means a file given to Commit is not a clean relative
	// path inside the work tree.
	ErrInvalidPath = errors.New("invalid path")
)

// PushError is returned by Push; it names the remote (credentials
// redacted) and the branch pushed to.
type PushError struct {
	Remote string
	Branch string
	Err    error
}

// Error implements error.
func (e *PushError) Error() string {
	return fmt.Sprintf("pushing to branch %q of %s: %v", e.Branch, e.Remote, e.Err)
}

// Unwrap returns the cause (ErrPushRejected for non-fast-forward).
func (e *PushError) Unwrap() error { return e.Err }

// Repo is a checked-out working copy for one run.
type Repo struct {
	spec   Spec
	dir    string
	repo   *git.Repository
	tc     transportConfig
	red    *redactor
	opts   options
	remote string // redacted URL for messages
	base   string
	head   plumbing.Hash

	keyOnce sync.Once
	key     *openpgp.Entity
	keyErr  error
}

// Checkout clones spec.URL into dir or, if dir already holds a clone of the
// same URL (the --workdir cache), fetches and hard-resets it, removing
// untracked files, to the remote base branch. The base branch is
// spec.Push.Branch when it differs from spec.Branch and exists on the remote
// (so the commit fast-forwards the environment branch), otherwise spec.Branch.
func Checkout(ctx context.Context, spec Spec, dir string, opts ...Option) (*Repo, error) {
	o, err := makeOptions(opts)
	if err != nil {
		return nil, err
	}
	spec.SetDefaults()
	if err := spec.Validate(); err != nil {
		return nil, err
	}
	if kind, _ := classifyURL(spec.URL); kind == urlKindFile {
		spec.URL, err = absFileURL(spec.URL)
		if err != nil {
			return nil, err
		}
	}
	tc, err := buildTransport(spec, o.getenv)
	if err != nil {
		return nil, err
	}
	r := &Repo{
		spec:   spec,
		tc:     tc,
		red:    newRedactor(spec.URL, tc.secrets...),
		opts:   o,
		remote: redactURL(spec.URL),
	}
	if r.dir, err = filepath.Abs(dir); err != nil {
		return nil, fmt.Errorf("resolving work directory %q: %w", dir, err)
	}
	if r.repo, err = r.openOrInit(); err != nil {
		return nil, err
	}
	if err := r.sync(ctx); err != nil {
		return nil, err
	}
	return r, nil
}

// absFileURL turns a relative local path into an absolute one so the
// remote stays valid whatever the process's working directory.
func absFileURL(raw string) (string, error) {
	if strings.HasPrefix(raw, "file://") {
		return raw, nil
	}
	abs, err := filepath.Abs(raw)
	if err != nil {
		return "", fmt.Errorf("resolving repository path %q: %w", raw, err)
	}
	return abs, nil
}

// openOrInit opens the cached clone in r.dir, or initialises an empty
// repository there when the directory is missing or empty.
func (r *Repo) openOrInit() (*git.Repository, error) {
	repo, err := git.PlainOpen(r.dir)
	switch {
	case err == nil:
		rem, err := repo.Remote(remoteName)
		if err != nil {
			return nil, fmt.Errorf("work directory %q: %w (no %q remote)", r.dir, ErrWorkdirMismatch, remoteName)
		}
		urls := rem.Config().URLs
		if len(urls) != 1 || stripUserinfo(urls[0]) != stripUserinfo(r.tc.remoteURL) {
			got := ""
			if len(urls) > 0 {
				got = redactURL(urls[0])
			}
			return nil, fmt.Errorf("work directory %q: %w (it clones %s, want %s)", r.dir, ErrWorkdirMismatch, got, r.remote)
		}
		if urls[0] != r.tc.remoteURL { // e.g. credentials written by an older version
			if err := r.setRemote(repo); err != nil {
				return nil, err
			}
		}
		r.opts.logger.Debug("reusing work directory", "dir", r.dir, "remote", r.remote)
		return repo, nil
	case errors.Is(err, git.ErrRepositoryNotExists):
		entries, rerr := os.ReadDir(r.dir)
		if rerr != nil && !errors.Is(rerr, fs.ErrNotExist) {
			return nil, fmt.Errorf("reading work directory %q: %w", r.dir, rerr)
		}
		if len(entries) > 0 {
			return nil, fmt.Errorf("work directory %q is not empty and not a git clone: %w", r.dir, ErrWorkdirMismatch)
		}
		repo, err := git.PlainInit(r.dir, false)
		if err != nil {
			return nil, fmt.Errorf("initialising repository in %q: %w", r.dir, err)
		}
		if err := r.setRemote(repo); err != nil {
			return nil, err
		}
		r.opts.logger.Debug("cloning", "dir", r.dir, "remote", r.remote)
		return repo, nil
	default:
		return nil, fmt.Errorf("opening work directory %q: %w", r.dir, err)
	}
}

func (r *Repo) setRemote(repo *git.Repository) error {
	cfg, err := repo.Config()
	if err != nil {
		return fmt.Errorf("reading config of %q: %w", r.dir, err)
	}
	cfg.Remotes[remoteName] = &config.RemoteConfig{
		Name:  remoteName,
		URLs:  []string{r.tc.remoteURL},
		Fetch: []config.RefSpec{config.RefSpec("+refs/heads/*:refs/remotes/" + remoteName + "/*")},
	}
	if err := repo.SetConfig(cfg); err != nil {
		return fmt.Errorf("writing config of %q: %w", r.dir, err)
	}
	return nil
}

// sync fetches the base branch and makes the work tree exactly its tip.
func (r *Repo) sync(ctx context.Context) error {
	rem, err := r.repo.Remote(remoteName)
	if err != nil {
		return fmt.Errorf("work directory %q: %w", r.dir, err)
	}
	refs, err := rem.ListContext(ctx, &git.ListOptions{Auth: r.tc.auth, CABundle: r.tc.caBundle})
	if err != nil {
		if errors.Is(err, transport.ErrEmptyRemoteRepository) {
			return fmt.Errorf("listing branches of %s: %w: %q", r.remote, ErrBranchNotFound, r.spec.Branch)
		}
		if errors.Is(err, transport.ErrAuthenticationRequired) || errors.Is(err, transport.ErrAuthorizationFailed) {
			return r.red.scrub(fmt.Errorf("listing branches of %s: %w (check git.auth or the credentials in git.url)", r.remote, err))
		}
		return r.red.scrub(fmt.Errorf("listing branches of %s: %w", r.remote, err))
	}
	tips := map[string]plumbing.Hash{}
	for _, ref := range refs {
		if ref.Name().IsBranch() && ref.Type() == plumbing.HashReference {
			tips[ref.Name().Short()] = ref.Hash()
		}
	}
	if _, ok := tips[r.spec.Branch]; !ok {
		return fmt.Errorf("checking out %s: %w: %q", r.remote, ErrBranchNotFound, r.spec.Branch)
	}
	r.base = r.spec.Branch
	if pb := r.spec.Push.Branch; pb != r.spec.Branch {
		if _, ok := tips[pb]; ok {
			r.base = pb
		}
	}

	tracking := plumbing.NewRemoteReferenceName(remoteName, r.base)
	spec := config.RefSpec(fmt.Sprintf("+%s:%s", plumbing.NewBranchReferenceName(r.base), tracking))
	err = rem.FetchContext(ctx, &git.FetchOptions{
		RefSpecs: []config.RefSpec{spec},
		Auth:     r.tc.auth,
		CABundle: r.tc.caBundle,
		Tags:     git.NoTags,
		Force:    true,
	})
	if err != nil && !errors.Is(err, git.NoErrAlreadyUpToDate) {
		return r.red.scrub(fmt.Errorf("fetching branch %q from %s: %w", r.base, r.remote, err))
	}
	ref, err := r.repo.Reference(tracking, true)
	if err != nil {
		return fmt.Errorf("resolving fetched branch %q from %s: %w", r.base, r.remote, err)
	}
	r.head = ref.Hash()

	local := plumbing.NewBranchReferenceName(r.base)
	if err := r.repo.Storer.SetReference(plumbing.NewHashReference(local, r.head)); err != nil {
		return fmt.Errorf("setting branch %q in %q: %w", r.base, r.dir, err)
	}
	if err := r.repo.Storer.SetReference(plumbing.NewSymbolicReference(plumbing.HEAD, local)); err != nil {
		return fmt.Errorf("setting HEAD in %q: %w", r.dir, err)
	}
	wt, err := r.repo.Worktree()
	if err != nil {
		return fmt.Errorf("opening work tree %q: %w", r.dir, err)
	}
	if err := wt.Reset(&git.ResetOptions{Commit: r.head, Mode: git.HardReset}); err != nil {
		return fmt.Errorf("resetting %q to %s: %w", r.dir, r.head, err)
	}
	if err := r.removeUntracked(); err != nil {
		return err
	}
	r.opts.logger.Info("checked out", "remote", r.remote, "branch", r.base, "commit", r.head.String())
	return nil
}

// removeUntracked deletes every file the index does not track, ignored
// ones included (like `git clean -dfx`), so leftovers of an earlier run can
// never reach a commit or a sync. go-git's Clean keeps ignored files and
// hashes the whole tree; this only compares names.
func (r *Repo) removeUntracked() error {
	idx, err := r.repo.Storer.Index()
	if err != nil {
		return fmt.Errorf("reading index of %q: %w", r.dir, err)
	}
	tracked := make(map[string]bool, len(idx.Entries))
	for _, e := range idx.Entries {
		tracked[e.Name] = true
	}
	var dirs []string
	err = filepath.WalkDir(r.dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == r.dir {
			return nil
		}
		rel, err := filepath.Rel(r.dir, p)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		if d.IsDir() {
			if rel == git.GitDirName || tracked[rel] { // .git, or a submodule
				return filepath.SkipDir
			}
			dirs = append(dirs, p)
			return nil
		}
		if !tracked[rel] {
			if err := os.Remove(p); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("removing untracked files in %q: %w", r.dir, err)
	}
	for i := len(dirs) - 1; i >= 0; i-- { // deepest first
		if entries, err := os.ReadDir(dirs[i]); err == nil && len(entries) == 0 {
			if err := os.Remove(dirs[i]); err != nil {
				return fmt.Errorf("removing empty directory %q: %w", dirs[i], err)
			}
		}
	}
	return nil
}

// Dir returns the work tree root.
func (r *Repo) Dir() string { return r.dir }

// Head returns the hex SHA of the checked-out base commit.
func (r *Repo) Head() string { return r.head.String() }

// BaseBranch returns the branch the work tree was checked out from: the
// push branch when it already existed on the remote, else spec.Branch.
func (r *Repo) BaseBranch() string { return r.base }

// Commit stages exactly the given files (slash paths relative to Dir; a
// missing file stages its deletion) and commits them with the rendered
// message and the configured author and committer, OpenPGP-signed when a
// signing key is configured. It returns ErrNothingToCommit if the files do
// not differ from HEAD.
func (r *Repo) Commit(ctx context.Context, files []string, changes []Change) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	for _, f := range files {
		if err := checkRelPath(f); err != nil {
			return "", err
		}
	}
	headRef, err := r.repo.Head()
	if err != nil {
		return "", fmt.Errorf("resolving HEAD in %q: %w", r.dir, err)
	}
	parent, err := r.repo.CommitObject(headRef.Hash())
	if err != nil {
		return "", fmt.Errorf("reading HEAD commit %s: %w", headRef.Hash(), err)
	}
	tree, err := parent.Tree()
	if err != nil {
		return "", fmt.Errorf("reading tree of %s: %w", headRef.Hash(), err)
	}
	changed, err := r.changedFiles(tree, files)
	if err != nil {
		return "", err
	}
	if len(changed) == 0 {
		return "", ErrNothingToCommit
	}
	msg, err := RenderMessage(r.spec.Commit.MessageTemplate, changes)
	if err != nil {
		return "", err
	}
	key, err := r.signingKey()
	if err != nil {
		return "", err
	}
	wt, err := r.repo.Worktree()
	if err != nil {
		return "", fmt.Errorf("opening work tree %q: %w", r.dir, err)
	}
	for _, f := range changed {
		if _, err := os.Lstat(filepath.Join(r.dir, filepath.FromSlash(f))); errors.Is(err, fs.ErrNotExist) {
			if _, err := wt.Remove(f); err != nil {
				return "", fmt.Errorf("staging deletion of %s: %w", f, err)
			}
			continue
		}
		if _, err := wt.Add(f); err != nil {
			return "", fmt.Errorf("staging %s: %w", f, err)
		}
	}
	sig := object.Signature{
		Name:  r.spec.Commit.Author.Name,
		Email: r.spec.Commit.Author.Email,
		When:  r.opts.now(),
	}
	hash, err := wt.Commit(msg, &git.CommitOptions{Author: &sig, Committer: &sig, SignKey: key})
	if err != nil {
		return "", fmt.Errorf("committing %d file(s) in %q: %w", len(changed), r.dir, err)
	}
	r.opts.logger.Info("committed", "commit", hash.String(), "files", len(changed), "signed", key != nil)
	return hash.String(), nil
}

// checkRelPath rejects paths that are absolute, unclean or leave the tree.
func checkRelPath(f string) error {
	if f == "" || path.IsAbs(f) || strings.Contains(f, "\\") || path.Clean(f) != f ||
		f == ".." || strings.HasPrefix(f, "../") || f == "." || f == ".git" || strings.HasPrefix(f, ".git/") {
		return fmt.Errorf("%w: %q must be a clean slash path relative to the work tree", ErrInvalidPath, f)
	}
	return nil
}

// changedFiles returns the files whose work-tree content differs from tree
// (including deletions), by comparing blob hashes.
func (r *Repo) changedFiles(tree *object.Tree, files []string) ([]string, error) {
	var changed []string
	seen := map[string]bool{}
	for _, f := range files {
		if seen[f] {
			continue
		}
		seen[f] = true
		data, err := os.ReadFile(filepath.Join(r.dir, filepath.FromSlash(f)))
		missing := errors.Is(err, fs.ErrNotExist)
		if err != nil && !missing {
			return nil, fmt.Errorf("reading %s: %w", f, err)
		}
		entry, terr := tree.FindEntry(f)
		if terr != nil && !errors.Is(terr, object.ErrEntryNotFound) && !errors.Is(terr, object.ErrDirectoryNotFound) {
			return nil, fmt.Errorf("looking up %s in HEAD: %w", f, terr)
		}
		inTree := terr == nil
		switch {
		case missing && !inTree:
			return nil, fmt.Errorf("staging %s: %w", f, fs.ErrNotExist)
		case missing != !inTree: // added or deleted
			changed = append(changed, f)
		default:
			if plumbing.ComputeHash(plumbing.BlobObject, data) != entry.Hash {
				changed = append(changed, f)
			}
		}
	}
	return changed, nil
}

// signingKey loads the configured key once, on first commit, so commands
// that never commit need no passphrase.
func (r *Repo) signingKey() (*openpgp.Entity, error) {
	sk := r.spec.Commit.SigningKey
	if sk == nil {
		return nil, nil
	}
	r.keyOnce.Do(func() {
		var pass []byte
		if sk.PassphraseEnv != "" {
			pass = []byte(r.opts.getenv(sk.PassphraseEnv))
		}
		r.key, r.keyErr = LoadSigningKey(sk.File, pass)
	})
	return r.key, r.keyErr
}

// Push pushes the local base branch to refs/heads/<push branch> on origin,
// creating that branch if missing. A non-fast-forward rejection returns a
// *PushError wrapping ErrPushRejected.
func (r *Repo) Push(ctx context.Context) error {
	target := r.spec.Push.Branch
	spec := config.RefSpec(fmt.Sprintf("%s:%s", plumbing.NewBranchReferenceName(r.base), plumbing.NewBranchReferenceName(target)))
	err := r.repo.PushContext(ctx, &git.PushOptions{
		RemoteName: remoteName,
		RefSpecs:   []config.RefSpec{spec},
		Auth:       r.tc.auth,
		CABundle:   r.tc.caBundle,
	})
	switch {
	case err == nil:
		r.opts.logger.Info("pushed", "remote", r.remote, "branch", target)
		return nil
	case errors.Is(err, git.NoErrAlreadyUpToDate):
		r.opts.logger.Info("remote already up to date", "remote", r.remote, "branch", target)
		return nil
	case isNonFastForward(err):
		return &PushError{Remote: r.remote, Branch: target, Err: fmt.Errorf("%w (%v)", ErrPushRejected, r.red.scrub(err))}
	default:
		return &PushError{Remote: r.remote, Branch: target, Err: r.red.scrub(err)}
	}
}

// isNonFastForward recognises go-git's local fast-forward check and the
// remote's report-status rejections.
func isNonFastForward(err error) bool {
	if errors.Is(err, git.ErrNonFastForwardUpdate) || errors.Is(err, git.ErrForceNeeded) {
		return true
	}
	msg := err.Error()
	for _, s := range []string{"non-fast-forward", "fetch first", "stale info"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}
