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
	// ErrPushRejected means the remote branch moved after it was fetched
	// (another writer pushed first): a stale push refused by a
	// compare-and-swap. Publish refreshes, rewrites and retries then.
	ErrPushRejected = errors.New("push rejected because the remote branch moved since it was fetched (another writer pushed first)")
	// ErrBranchNotFound means the checkout branch does not exist on the remote.
	ErrBranchNotFound error = &inputError{"branch not found on the remote"}
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

// Unwrap returns the cause (ErrPushRejected for a lost race).
func (e *PushError) Unwrap() error { return e.Err }

// Repo is a checked-out working copy for one run.
type Repo struct {
	spec   Spec
	root   string // the work directory
	dir    string // the clone in it: root/repo
	repo   *git.Repository
	tc     transportConfig
	red    *redactor
	opts   options
	remote string // redacted URL for messages
	base   string
	head   plumbing.Hash

	keyOnce sync.Once
	key     git.Signer
	keyErr  error
}

// Checkout makes DIR/repo a clean checkout of the remote base branch and
// returns it; dir is the work directory (--workdir, or a temporary
// directory), laid out as described at LockWorkdir: the caller holds
// LockWorkdir(dir) or is otherwise its only user.
//
// The first run clones into DIR/.repo.new and renames it into place once
// complete. A later run reuses the clone (fetch, hard reset, untracked and
// ignored files removed); one found damaged by a killed run is cloned
// again, with a warning. A clone of another repository gives
// ErrWorkdirMismatch, files uptick did not make ErrWorkdirForeign; both are
// bad input and nothing is deleted.
//
// The base branch is spec.Push.Branch when it differs from spec.Branch and
// exists on the remote (so the commit fast-forwards the environment
// branch), otherwise spec.Branch.
func Checkout(ctx context.Context, spec Spec, dir string, opts ...Option) (*Repo, error) {
	o, err := makeOptions(opts)
	if err != nil {
		return nil, err
	}
	spec.SetDefaults()
	if err := spec.Validate(); err != nil {
		return nil, err
	}
	if pr := spec.Push.PullRequest; pr != nil {
		// Pull request branches are built from their base, so that is
		// what is checked out, whatever git.branch says.
		spec.Branch = pr.Base
	}
	if kind, _ := classifyURL(spec.URL); kind == urlKindFile {
		if !fileTransportInstalled() {
			return nil, errFileTransportMissing
		}
		if spec.URL, err = absFileURL(spec.URL); err != nil {
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
	if r.root, err = filepath.Abs(dir); err != nil {
		return nil, fmt.Errorf("resolving work directory %q: %w", dir, err)
	}
	if err := prepareWorkdir(r.root); err != nil {
		return nil, err
	}
	// Leftovers of a run killed while cloning or repairing.
	for _, name := range []string{workdirNew, workdirOld} {
		if err := removeDir(filepath.Join(r.root, name)); err != nil {
			return nil, err
		}
	}
	r.dir = filepath.Join(r.root, workdirRepo)
	reuse, err := r.openExisting()
	if err != nil {
		return nil, err
	}
	if reuse {
		r.opts.logger.Debug("reusing work directory", "dir", r.root, "remote", r.remote)
		if err := r.sync(ctx); err != nil {
			return nil, err
		}
		return r, nil
	}
	if err := r.clone(ctx); err != nil {
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

// openExisting opens DIR/repo if it holds a usable clone of the remote. It
// returns false when there is none, or when a damaged one was removed.
func (r *Repo) openExisting() (bool, error) {
	if _, err := os.Lstat(r.dir); isNotExist(err) {
		return false, nil
	} else if err != nil {
		return false, fmt.Errorf("reading work directory: %w", pathErrText(err))
	}
	url, ok := readMarker(r.dir)
	if !ok { // prepareWorkdir checked it; the directory changed since
		return false, fmt.Errorf("work directory %s holds %s, which uptick did not make: %w; use an empty directory", r.root, workdirRepo, ErrWorkdirForeign)
	}
	if stripUserinfo(url) != stripUserinfo(r.tc.remoteURL) {
		return false, fmt.Errorf("work directory %s clones %s, not %s: %w; use another directory, or remove it", r.root, redactURL(url), r.remote, ErrWorkdirMismatch)
	}
	repo, err := openClone(r.dir, r.tc.remoteURL)
	var de *damagedError
	if errors.As(err, &de) {
		r.opts.logger.Warn("work directory damaged, probably by a run that was killed; cloning it again", "dir", r.root, "problem", de.Error())
		old := filepath.Join(r.root, workdirOld)
		if err := os.Rename(r.dir, old); err != nil {
			return false, fmt.Errorf("moving the damaged clone aside: %w", pathErrText(err))
		}
		return false, removeDir(old)
	}
	if err != nil {
		return false, err
	}
	r.repo = repo
	if urls := originURLs(repo); len(urls) == 1 && urls[0] != r.tc.remoteURL {
		// e.g. credentials written by an older version
		if err := r.setRemote(repo); err != nil {
			return false, err
		}
	}
	return true, nil
}

// originURLs returns origin's URLs of a repository openClone checked.
func originURLs(repo *git.Repository) []string {
	rem, err := repo.Remote(remoteName)
	if err != nil {
		return nil
	}
	return rem.Config().URLs
}

// clone makes a complete clone in DIR/.repo.new and renames it to
// DIR/repo: a run killed meanwhile leaves no half clone in place.
func (r *Repo) clone(ctx context.Context) error {
	final := r.dir
	r.dir = filepath.Join(r.root, workdirNew)
	r.opts.logger.Debug("cloning", "dir", r.root, "remote", r.remote)
	repo, err := git.PlainInit(r.dir, false)
	if err != nil {
		return fmt.Errorf("initialising a clone in %s: %w", r.dir, pathErrText(err))
	}
	if err := r.setRemote(repo); err != nil {
		return err
	}
	if err := writeMarker(r.dir, stripUserinfo(r.tc.remoteURL)); err != nil {
		return err
	}
	r.repo = repo
	if err := r.sync(ctx); err != nil {
		return err
	}
	if err := os.Rename(r.dir, final); err != nil {
		return fmt.Errorf("moving the new clone into place: %w", pathErrText(err))
	}
	if err := syncDir(r.root); err != nil {
		return err
	}
	r.dir = final
	if r.repo, err = git.PlainOpen(r.dir); err != nil {
		return fmt.Errorf("opening the new clone %s: %w", r.dir, pathErrText(err))
	}
	return nil
}

func (r *Repo) setRemote(repo *git.Repository) error {
	cfg, err := repo.Config()
	if err != nil {
		return fmt.Errorf("reading config of %s: %w", r.dir, pathErrText(err))
	}
	cfg.Remotes[remoteName] = &config.RemoteConfig{
		Name:  remoteName,
		URLs:  []string{r.tc.remoteURL},
		Fetch: []config.RefSpec{config.RefSpec("+refs/heads/*:refs/remotes/" + remoteName + "/*")},
	}
	if err := repo.SetConfig(cfg); err != nil {
		return fmt.Errorf("writing config of %s: %w", r.dir, pathErrText(err))
	}
	return nil
}

// Refresh fetches the base branch again and makes the work tree exactly
// its tip, as Checkout does for a reused clone: what Publish does before
// each retry.
func (r *Repo) Refresh(ctx context.Context) error {
	// When the push branch exists it is the base and only its tip can
	// have moved: skip listing the branches (one round trip less in the
	// window another writer can win). Otherwise it may have been created.
	if r.base != "" && r.base == r.spec.Push.Branch {
		return r.fetchAndReset(ctx)
	}
	return r.sync(ctx)
}

// listBranches returns the tips of the remote's branches.
func (r *Repo) listBranches(ctx context.Context) (map[string]plumbing.Hash, error) {
	rem, err := r.repo.Remote(remoteName)
	if err != nil {
		return nil, fmt.Errorf("work directory %s: %w", r.root, err)
	}
	refs, err := rem.ListContext(ctx, &git.ListOptions{Auth: r.tc.auth, CABundle: r.tc.caBundle})
	if err != nil {
		if errors.Is(err, transport.ErrEmptyRemoteRepository) {
			return map[string]plumbing.Hash{}, nil
		}
		return nil, r.transportError("listing branches of "+r.remote, err)
	}
	tips := map[string]plumbing.Hash{}
	for _, ref := range refs {
		if ref.Name().IsBranch() && ref.Type() == plumbing.HashReference {
			tips[ref.Name().Short()] = ref.Hash()
		}
	}
	return tips, nil
}

// isBadTransportInput reports whether a transport error can only be fixed
// by changing the URL or the credentials.
func isBadTransportInput(err error) bool {
	return errors.Is(err, transport.ErrAuthenticationRequired) ||
		errors.Is(err, transport.ErrAuthorizationFailed) ||
		errors.Is(err, transport.ErrRepositoryNotFound)
}

// transportError describes a failed network call: credentials redacted,
// and bad input when only a change of config or credentials can fix it.
func (r *Repo) transportError(doing string, err error) error {
	// go-git's texts can end in ": " when the server gave no reason.
	text := strings.TrimRight(pathErrText(err).Error(), ": \t\r\n")
	hint := ""
	switch {
	case errors.Is(err, transport.ErrAuthenticationRequired):
		hint = "set auth, or check the credentials given"
	case errors.Is(err, transport.ErrAuthorizationFailed):
		hint = "check that the credentials in auth may do this"
	case errors.Is(err, transport.ErrRepositoryNotFound):
		hint = "check url"
	}
	if hint == "" {
		return &sentinelError{msg: r.red.scrubString(doing + ": " + text), sentinel: err}
	}
	return &badInput{&sentinelError{msg: r.red.scrubString(doing + ": " + text + "; " + hint), sentinel: err}}
}

// RemoteBranch returns the tip of branch on the remote, or ok false when
// the remote has no such branch. It is what a publisher that pushes to a
// branch of its own (a pull request's) needs for a compare-and-swap.
func (r *Repo) RemoteBranch(ctx context.Context, branch string) (sha string, ok bool, err error) {
	tips, err := r.listBranches(ctx)
	if err != nil {
		return "", false, err
	}
	h, ok := tips[branch]
	if !ok {
		return "", false, nil
	}
	return h.String(), true, nil
}

// sync fetches the base branch and makes the work tree exactly its tip.
func (r *Repo) sync(ctx context.Context) error {
	if r.spec.Push.Branch == r.spec.Branch {
		// The base is the branch itself: no need to list the branches
		// first (a round trip, and an SSH connection, saved).
		r.base = r.spec.Branch
		return r.fetchAndReset(ctx)
	}
	tips, err := r.listBranches(ctx)
	if err != nil {
		return err
	}
	if _, ok := tips[r.spec.Branch]; !ok {
		return withSentinel(ErrBranchNotFound, "branch %q does not exist on %s", r.spec.Branch, r.remote)
	}
	r.base = r.spec.Branch
	if pb := r.spec.Push.Branch; pb != r.spec.Branch {
		if _, ok := tips[pb]; ok {
			r.base = pb
		}
	}
	return r.fetchAndReset(ctx)
}

// fetchAndReset fetches the base branch and makes the work tree exactly
// its tip.
func (r *Repo) fetchAndReset(ctx context.Context) error {
	rem, err := r.repo.Remote(remoteName)
	if err != nil {
		return fmt.Errorf("work directory %s: %w", r.root, err)
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
	switch {
	case errors.Is(err, git.NoMatchingRefSpecError{}) || errors.Is(err, transport.ErrEmptyRemoteRepository):
		return withSentinel(ErrBranchNotFound, "branch %q does not exist on %s", r.base, r.remote)
	case err != nil && !errors.Is(err, git.NoErrAlreadyUpToDate):
		return r.transportError(fmt.Sprintf("fetching branch %q from %s", r.base, r.remote), err)
	}
	ref, err := r.repo.Reference(tracking, true)
	if err != nil {
		return fmt.Errorf("resolving fetched branch %q from %s: %w", r.base, r.remote, pathErrText(err))
	}
	r.head = ref.Hash()

	local := plumbing.NewBranchReferenceName(r.base)
	if err := r.repo.Storer.SetReference(plumbing.NewHashReference(local, r.head)); err != nil {
		return fmt.Errorf("setting branch %q in %s: %w", r.base, r.dir, pathErrText(err))
	}
	if err := r.repo.Storer.SetReference(plumbing.NewSymbolicReference(plumbing.HEAD, local)); err != nil {
		return fmt.Errorf("setting HEAD in %s: %w", r.dir, pathErrText(err))
	}
	if err := r.resetWorktree(r.head); errors.Is(err, errResetFallback) {
		if err := r.resetWithGoGit(); err != nil {
			return err
		}
	} else if err != nil {
		return fmt.Errorf("resetting %s to %s: %w", r.dir, r.head, err)
	}
	r.opts.logger.Info("checked out", "remote", r.remote, "branch", r.base, "commit", r.head.String())
	return nil
}

// resetWithGoGit is the reset for trees resetWorktree leaves to go-git
// (submodules): it hashes the whole work tree.
func (r *Repo) resetWithGoGit() error {
	wt, err := r.repo.Worktree()
	if err != nil {
		return fmt.Errorf("opening work tree %s: %w", r.dir, pathErrText(err))
	}
	if err := wt.Reset(&git.ResetOptions{Commit: r.head, Mode: git.HardReset}); err != nil {
		return fmt.Errorf("resetting %s to %s: %w", r.dir, r.head, pathErrText(err))
	}
	os.Remove(filepath.Join(r.dir, git.GitDirName, indexTreeRecord))
	return r.removeUntracked()
}

// removeUntracked deletes every file the index does not track, ignored
// ones included (like `git clean -dfx`), so leftovers of an earlier run can
// never reach a commit or a sync. go-git's Clean keeps ignored files and
// hashes the whole tree; this only compares names.
func (r *Repo) removeUntracked() error {
	idx, err := r.repo.Storer.Index()
	if err != nil {
		return fmt.Errorf("reading index of %s: %w", r.dir, pathErrText(err))
	}
	tracked := make(map[string]bool, len(idx.Entries))
	for _, e := range idx.Entries {
		tracked[e.Name] = true
	}
	return r.removeUntrackedOf(tracked)
}

// removeUntrackedOf deletes every file of the work tree not in tracked
// (slash paths), and the directories left empty, reading each directory
// once.
func (r *Repo) removeUntrackedOf(tracked map[string]bool) error {
	var dirs []string
	kept := map[string]int{} // entries left in each directory
	err := filepath.WalkDir(r.dir, func(p string, d fs.DirEntry, err error) error {
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
				kept[filepath.Dir(p)]++
				return filepath.SkipDir
			}
			dirs = append(dirs, p)
			return nil
		}
		if !tracked[rel] {
			return os.Remove(p)
		}
		kept[filepath.Dir(p)]++
		return nil
	})
	if err != nil {
		return fmt.Errorf("removing untracked files in %s: %w", r.dir, pathErrText(err))
	}
	for i := len(dirs) - 1; i >= 0; i-- { // children before their parents
		if kept[dirs[i]] > 0 {
			kept[filepath.Dir(dirs[i])]++
			continue
		}
		if err := os.Remove(dirs[i]); err != nil {
			return fmt.Errorf("removing empty directory: %w", pathErrText(err))
		}
	}
	return nil
}

// Dir returns the work tree root: DIR/repo of the work directory given to
// Checkout.
func (r *Repo) Dir() string { return r.dir }

// Head returns the hex SHA of the checked-out base commit.
func (r *Repo) Head() string { return r.head.String() }

// BaseBranch returns the branch the work tree was checked out from: the
// push branch when it already existed on the remote, else spec.Branch.
func (r *Repo) BaseBranch() string { return r.base }

// PushBranch returns the branch a direct push updates (spec.Push.Branch).
func (r *Repo) PushBranch() string { return r.spec.Push.Branch }

// Remote returns the remote URL with any password redacted, for messages.
func (r *Repo) Remote() string { return r.remote }

// Commit stages exactly the given files (slash paths relative to Dir; a
// missing file stages its deletion) and commits them on the local base
// branch with message (rendered once by the caller, e.g. with
// RenderMessage) and the configured author and committer, OpenPGP-signed
// when a signing key is configured. It returns ErrNothingToCommit if the
// files do not differ from HEAD.
func (r *Repo) Commit(ctx context.Context, files []string, message string) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	if strings.TrimSpace(message) == "" {
		return "", ErrEmptyMessage
	}
	for _, f := range files {
		if err := checkRelPath(f); err != nil {
			return "", err
		}
	}
	headRef, err := r.repo.Head()
	if err != nil {
		return "", fmt.Errorf("resolving HEAD in %s: %w", r.dir, pathErrText(err))
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
	key, err := r.signingKey()
	if err != nil {
		return "", err
	}
	wt, err := r.repo.Worktree()
	if err != nil {
		return "", fmt.Errorf("opening work tree %s: %w", r.dir, pathErrText(err))
	}
	indexSum, err := r.stageFiles(changed)
	if err != nil {
		return "", err
	}
	sig := object.Signature{
		Name:  r.spec.Commit.Author.Name,
		Email: r.spec.Commit.Author.Email,
		When:  r.opts.now(),
	}
	hash, err := wt.Commit(message, &git.CommitOptions{Author: &sig, Committer: &sig, Signer: key})
	if err != nil {
		return "", fmt.Errorf("committing %d file(s) in %s: %w", len(changed), r.dir, pathErrText(err))
	}
	// The index now holds the commit's tree: the next refresh diffs from it.
	if c, err := r.repo.CommitObject(hash); err == nil {
		_ = writeIndexTree(filepath.Join(r.dir, git.GitDirName), c.TreeHash, indexSum)
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
			return nil, fmt.Errorf("reading %s: %w", f, pathErrText(err))
		}
		entry, terr := tree.FindEntry(f)
		if terr != nil && !errors.Is(terr, object.ErrEntryNotFound) && !errors.Is(terr, object.ErrDirectoryNotFound) {
			return nil, fmt.Errorf("looking up %s in HEAD: %w", f, terr)
		}
		inTree := terr == nil
		switch {
		case missing && !inTree:
			return nil, fmt.Errorf("staging %s: the file does not exist", f)
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
func (r *Repo) signingKey() (git.Signer, error) {
	sk := r.spec.Commit.SigningKey
	if sk == nil {
		return nil, nil
	}
	r.keyOnce.Do(func() {
		r.key, r.keyErr = loadSpecSigningKey(sk, r.opts.getenv)
	})
	return r.key, r.keyErr
}

// Push pushes the commit at the tip of the local base branch to the push
// branch on origin (Spec.Push.Branch), as a compare-and-swap: when that
// branch existed at checkout it must still be at Head; otherwise it must
// still not exist (or, created meanwhile, be fast-forwarded by the push). A lost race returns a *PushError wrapping
// ErrPushRejected. An up-to-date remote is not an error.
func (r *Repo) Push(ctx context.Context) error {
	expect := ""
	if r.base == r.spec.Push.Branch {
		expect = r.head.String()
	}
	return r.PushTo(ctx, r.spec.Push.Branch, expect)
}

// PushTo pushes the commit at the tip of the local base branch to
// refs/heads/<branch> on origin as a compare-and-swap. With expect (a hex
// SHA) the remote branch must be exactly there, and the new commit need
// not descend from it: a force-push with a lease, for branches uptick owns
// (a pull request's). With expect "" the branch must not exist or the push
// must fast-forward it. Push uses Head, which the commit descends from.
// A lost race returns a *PushError wrapping ErrPushRejected; the server's
// own reason (a hook's output) is kept in the error.
func (r *Repo) PushTo(ctx context.Context, branch, expect string) error {
	dst := plumbing.NewBranchReferenceName(branch)
	var log remoteLog
	po := &git.PushOptions{
		RemoteName: remoteName,
		RefSpecs:   []config.RefSpec{config.RefSpec(fmt.Sprintf("%s:%s", plumbing.NewBranchReferenceName(r.base), dst))},
		Auth:       r.tc.auth,
		CABundle:   r.tc.caBundle,
		Progress:   &log,
	}
	if expect != "" {
		if !isHexHash(expect) {
			return fmt.Errorf("pushing to branch %q: expected commit %q is not a full hex SHA", branch, expect)
		}
		po.ForceWithLease = &git.ForceWithLease{RefName: dst, Hash: plumbing.NewHash(expect)}
	}
	err := r.repo.PushContext(ctx, po)
	switch {
	case err == nil:
		r.opts.logger.Info("pushed", "remote", r.remote, "branch", branch)
		return nil
	case errors.Is(err, git.NoErrAlreadyUpToDate):
		r.opts.logger.Info("remote already up to date", "remote", r.remote, "branch", branch)
		return nil
	}
	return r.pushError(branch, &log, err)
}

// pushError describes a failed push to branch: the server's own reason
// (from log) kept, credentials redacted, a lost race marked as such.
func (r *Repo) pushError(branch string, log *remoteLog, err error) error {
	reason := error(&remoteReasonError{err: err, remote: r.red.scrubString(log.text())})
	reason = r.red.scrub(reason)
	if isRace(err) {
		reason = &raceError{reason}
	} else if isBadTransportInput(err) {
		reason = &badInput{reason}
	}
	return &PushError{Remote: r.remote, Branch: branch, Err: reason}
}

// raceLosses are the texts of the ways a stale push is refused: go-git's
// own checks ("non-fast-forward update"), git's client wording ("fetch
// first", "stale info"), git receive-pack's status ("failed to update ref",
// "failed to lock") and its ref store's message, which uptick's file://
// server also uses ("cannot lock ref …: is at X but expected Y",
// "reference already exists").
var raceLosses = []string{
	"non-fast-forward",
	"fetch first",
	"stale info",
	"failed to update ref",
	"failed to lock",
	"cannot lock ref",
	"reference already exists",
}

// isRace reports whether err is a push refused because the remote branch
// moved since it was fetched.
func isRace(err error) bool {
	if errors.Is(err, git.ErrNonFastForwardUpdate) || errors.Is(err, git.ErrForceNeeded) {
		return true
	}
	msg := err.Error()
	for _, s := range raceLosses {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}

// raceError is a push that lost a race: errors.Is finds ErrPushRejected.
type raceError struct{ err error }

func (e *raceError) Error() string        { return ErrPushRejected.Error() + ": " + e.err.Error() }
func (e *raceError) Unwrap() error        { return e.err }
func (e *raceError) Is(target error) bool { return target == ErrPushRejected }

// remoteReasonError is a push error with what the server said on its
// side band (hook output, git's own error lines) appended.
type remoteReasonError struct {
	err    error
	remote string
}

func (e *remoteReasonError) Error() string {
	if e.remote == "" {
		return e.err.Error()
	}
	return e.err.Error() + " (remote: " + e.remote + ")"
}
func (e *remoteReasonError) Unwrap() error { return e.err }

// remoteLogMax bounds what is kept of the server's side band.
const remoteLogMax = 4 << 10

// remoteLog keeps the last remoteLogMax bytes a server sent on its side
// band during a push: git prints them as "remote: …" lines.
type remoteLog struct {
	mu  sync.Mutex
	buf []byte
}

func (l *remoteLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf = append(l.buf, p...)
	if over := len(l.buf) - remoteLogMax; over > 0 {
		l.buf = append(l.buf[:0], l.buf[over:]...)
	}
	return len(p), nil
}

// text returns the server's message lines joined with "; ", without
// progress meters.
func (l *remoteLog) text() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var lines []string
	for _, line := range strings.FieldsFunc(string(l.buf), func(r rune) bool { return r == '\n' || r == '\r' }) {
		line = strings.TrimSpace(line)
		if line == "" || isProgressLine(line) {
			continue
		}
		lines = append(lines, line)
	}
	return strings.Join(lines, "; ")
}

// isProgressLine recognises git's progress meters ("Resolving deltas: 50% (1/2)").
func isProgressLine(line string) bool {
	_, rest, ok := strings.Cut(line, ": ")
	return ok && strings.Contains(rest, "%") && (strings.Contains(rest, "(") || strings.HasSuffix(rest, "done."))
}
