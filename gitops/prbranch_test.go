package gitops

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
)

// commitOnto builds the tree git itself would build for the same files:
// edits, additions in new nested directories, deletions that empty a
// directory, an executable kept executable. The commit's parent is the
// base, no ref moves, and restoreFiles leaves a clean work tree.
func TestCommitOntoMatchesGit(t *testing.T) {
	files := fixtureFiles()
	files["deploy/run.sh"] = "#!/bin/sh\necho 1\n"
	files["old/only/file.yaml"] = "x: 1\n"
	bare := newBareRepo(t, t.TempDir(), "fleet", files)
	// The fixture's run.sh is executable, as git stores it.
	exe := t.TempDir()
	gitRun(t, exe, nil, "clone", "-q", bare, ".")
	if err := os.Chmod(filepath.Join(exe, "deploy", "run.sh"), 0o755); err != nil {
		t.Fatal(err)
	}
	gitRun(t, exe, nil, "add", "deploy/run.sh")
	gitRun(t, exe, nil, "commit", "-qm", "executable")
	gitRun(t, exe, nil, "push", "-q", "origin", "main")

	ctx := context.Background()
	repo, err := Checkout(ctx, Spec{URL: bare}, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	edits := map[string]string{
		"clusters/prod/podinfo.yaml": strings.Replace(files["clusters/prod/podinfo.yaml"], "6.5.0", "6.5.1", 1),
		"deploy/run.sh":              "#!/bin/sh\necho 2\n",
		"new/deep/dir/app.yaml":      "image: app:1\n",
	}
	writeFiles(t, repo.Dir(), edits)
	if err := os.Remove(filepath.Join(repo.Dir(), "old", "only", "file.yaml")); err != nil {
		t.Fatal(err)
	}
	changed := []string{"clusters/prod/podinfo.yaml", "deploy/run.sh", "new/deep/dir/app.yaml", "old/only/file.yaml", "README.md"}
	head := repo.Head()
	c, err := repo.commitOnto(ctx, changed, "rebuild\n")
	if err != nil {
		t.Fatal(err)
	}
	if len(c.ParentHashes) != 1 || c.ParentHashes[0].String() != head {
		t.Errorf("parents %v, want [%s]", c.ParentHashes, head)
	}

	// The same change made by git.
	gitRun(t, exe, nil, "pull", "-q")
	writeFiles(t, exe, edits)
	gitRun(t, exe, nil, "rm", "-q", "old/only/file.yaml")
	gitRun(t, exe, nil, "add", "-A")
	gitRun(t, exe, nil, "commit", "-qm", "the same by git")
	if want := strings.TrimSpace(gitRun(t, exe, nil, "rev-parse", "HEAD^{tree}")); c.TreeHash.String() != want {
		t.Errorf("tree %s, git builds %s\nours:\n%s\ngit's:\n%s", c.TreeHash, want,
			gitRun(t, repo.Dir(), nil, "ls-tree", "-r", "-t", c.Hash.String()), gitRun(t, exe, nil, "ls-tree", "-r", "-t", "HEAD"))
	}

	// Nothing moved; restoring leaves a clean tree at the base.
	if got := strings.TrimSpace(gitRun(t, repo.Dir(), nil, "rev-parse", "HEAD")); got != head {
		t.Errorf("HEAD moved to %s", got)
	}
	if err := repo.restoreFiles(changed); err != nil {
		t.Fatal(err)
	}
	if st := gitRun(t, repo.Dir(), nil, "status", "--porcelain", "--untracked-files=all"); st != "" {
		t.Errorf("work tree after restoreFiles:\n%s", st)
	}
	if out, err := execGit(repo.Dir(), "fsck", "--strict", "--no-dangling").CombinedOutput(); err != nil {
		t.Errorf("git fsck: %v\n%s", err, out)
	}
	if _, err := repo.commitOnto(ctx, []string{"clusters/prod/podinfo.yaml", "deploy/run.sh", "README.md"}, "again\n"); !errors.Is(err, ErrNothingToCommit) {
		t.Errorf("commitOnto after restore = %v, want ErrNothingToCommit", err)
	}
}

// An SSH-signed pull request commit verifies with git.
func TestCommitOntoSigns(t *testing.T) {
	keyPath, pub := writeSSHKey(t, t.TempDir(), "ed25519", "")
	bare := newBareRepo(t, t.TempDir(), "fleet", fixtureFiles())
	spec := Spec{URL: bare, Commit: CommitSpec{SigningKey: &SigningKey{Format: SigningFormatSSH, File: keyPath}}}
	ctx := context.Background()
	repo, err := Checkout(ctx, spec, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	writeFiles(t, repo.Dir(), map[string]string{"README.md": "changed\n"})
	c, err := repo.commitOnto(ctx, []string{"README.md"}, "signed\n")
	if err != nil {
		t.Fatal(err)
	}
	allowed := filepath.Join(t.TempDir(), "allowed")
	writeFiles(t, filepath.Dir(allowed), map[string]string{"allowed": DefaultAuthorEmail + ` namespaces="git" ` + string(sshAuthorized(pub))})
	out, err := sshsignGit(t, repo.Dir(), "-c", "gpg.ssh.allowedSignersFile="+allowed, "verify-commit", c.Hash.String())
	if err != nil {
		t.Fatalf("git verify-commit: %v\n%s", err, out)
	}
}

func TestPushCommitRefusesTheBase(t *testing.T) {
	bare := newBareRepo(t, t.TempDir(), "fleet", fixtureFiles())
	repo, err := Checkout(context.Background(), Spec{URL: bare}, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := repo.pushCommit(context.Background(), repo.head, "main", repo.Head()); err == nil {
		t.Fatal("pushCommit force-pushed the base branch")
	}
}

func sshAuthorized(pub ssh.PublicKey) []byte { return ssh.MarshalAuthorizedKey(pub) }
