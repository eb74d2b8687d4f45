package pass

import (
	"bytes"
	"errors"
	"io/fs"
	"log/slog"
	"os"

	"github.com/uptick-gitops/uptick/gitops"
	"github.com/uptick-gitops/uptick/update"
)

// updateStateName is the file, in the work directory's clone, holding
// what the update stage learned of the tree the last pass saw.
const updateStateName = "update-state"

// updateCache keeps the update stage's State between passes that share a
// --workdir, keyed on Git: the state names the tree it was made on, the
// next pass diffs that tree with the one it checked out, and the update
// stage reads only the files that changed plus the files known to carry
// markers; nothing at all when neither the tree nor the chosen images
// changed. The state file is written atomically and validated when read;
// a missing, corrupt or stale one costs one full walk. The work directory
// lock keeps concurrent runs apart.
type updateCache struct {
	repo  *gitops.Repo
	file  string
	log   *slog.Logger
	state *update.State
	saved []byte // the state file's content, to skip writing it unchanged
	tree  string // the tree the pending rewrite runs on
}

func newUpdateCache(repo *gitops.Repo, log *slog.Logger) *updateCache {
	c := &updateCache{repo: repo, file: repo.StateFile(updateStateName), log: log}
	b, err := os.ReadFile(c.file)
	var s *update.State
	if err == nil {
		s, err = update.UnmarshalState(b)
	}
	switch {
	case err == nil:
		c.state, c.saved = s, b
	case errors.Is(err, fs.ErrNotExist):
	default:
		log.Warn("ignoring the update stage's saved state; reading the whole tree", "file", c.file, "problem", err)
	}
	return c
}

// options returns the update options for a rewrite of the tree checked
// out now: incremental when the saved state's tree diffs cleanly with it.
func (c *updateCache) options() []update.Option {
	tree, err := c.repo.Tree()
	if err != nil {
		c.log.Debug("no tree for the update state", "problem", err)
		c.tree = ""
		return nil
	}
	c.tree = tree
	if c.state == nil || c.state.Tree == "" {
		return nil
	}
	changes, err := c.repo.DiffTrees(c.state.Tree, tree)
	if err != nil {
		c.log.Debug("update state's tree is not in the clone; reading the whole tree", "problem", err)
		return nil
	}
	pc := make([]update.PathChange, len(changes))
	for i, ch := range changes {
		pc[i] = update.PathChange{Path: ch.Path, Before: ch.From, After: ch.To}
	}
	c.log.Debug("update state reused", "tree", tree, "since", c.state.Tree, "changed", len(pc))
	return []update.Option{update.WithIncremental(c.state, pc)}
}

// keep records what a rewrite learned and writes it to the state file.
func (c *updateCache) keep(res *update.Result) {
	if res == nil || res.State == nil || c.tree == "" {
		c.state = nil
		return
	}
	res.State.Tree = c.tree
	c.state = res.State
	if b, err := res.State.Marshal(); err == nil && bytes.Equal(b, c.saved) {
		return // a steady pass writes nothing
	}
	if err := update.SaveState(c.file, res.State); err != nil {
		c.log.Warn("could not save the update stage's state; the next pass reads the whole tree", "problem", err)
		c.saved = nil
		return
	}
	c.saved, _ = res.State.Marshal()
}
