package gitops

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/go-git/go-billy/v5"
	"github.com/go-git/go-billy/v5/osfs"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/cache"
	"github.com/go-git/go-git/v5/plumbing/format/packfile"
	"github.com/go-git/go-git/v5/plumbing/protocol/packp"
	"github.com/go-git/go-git/v5/plumbing/protocol/packp/capability"
	"github.com/go-git/go-git/v5/plumbing/storer"
	"github.com/go-git/go-git/v5/plumbing/transport"
	"github.com/go-git/go-git/v5/plumbing/transport/client"
	"github.com/go-git/go-git/v5/plumbing/transport/server"
	"github.com/go-git/go-git/v5/storage/filesystem"
	"github.com/go-git/go-git/v5/utils/ioutil"
)

// InstallFileTransport makes go-git serve file:// URLs and local paths
// in-process, so uptick needs no git binary, with pushes that are a
// compare-and-swap under git's own ref lock (see refStore). go-git's
// default file transport runs git-upload-pack and git-receive-pack
// instead, and its embedded server sets refs without comparing them.
//
// go-git keeps its transports in a process-wide table, so call this once
// from main (or TestMain) before any goroutine uses git; calling it again
// is harmless. Checkout refuses local URLs until it has been called.
func InstallFileTransport() {
	client.InstallProtocol("file", localTransport{})
}

// fileTransportInstalled reports whether InstallFileTransport ran.
func fileTransportInstalled() bool {
	_, ok := client.Protocols["file"].(localTransport)
	return ok
}

// errFileTransportMissing is a programming error in the embedding binary.
var errFileTransportMissing = errors.New("local repositories need gitops.InstallFileTransport() to be called first")

// localTransport is go-git's embedded server used as a client for local
// repositories, bare or not, with the refs read and written by refStore.
type localTransport struct{}

func (localTransport) NewUploadPackSession(ep *transport.Endpoint, auth transport.AuthMethod) (transport.UploadPackSession, error) {
	st, dir, err := openLocal(ep.Path)
	if err != nil {
		return nil, err
	}
	s, err := server.NewClient(fixedLoader{casStorage{st, refStore{dir}}}).NewUploadPackSession(ep, auth)
	if err != nil {
		return nil, err
	}
	return &knownHavesSession{UploadPackSession: s, st: st}, nil
}

func (localTransport) NewReceivePackSession(ep *transport.Endpoint, auth transport.AuthMethod) (transport.ReceivePackSession, error) {
	st, dir, err := openLocal(ep.Path)
	if err != nil {
		return nil, err
	}
	refs := refStore{dir}
	s, err := server.NewClient(fixedLoader{casStorage{st, refs}}).NewReceivePackSession(ep, auth)
	if err != nil {
		return nil, err
	}
	return &casReceivePack{ReceivePackSession: s, st: st, refs: refs, dir: dir}, nil
}

// fixedLoader hands go-git's server an already opened repository.
type fixedLoader struct{ st storer.Storer }

func (l fixedLoader) Load(*transport.Endpoint) (storer.Storer, error) { return l.st, nil }

// casStorage is a repository whose refs are read through refStore: lock
// files and a ref being replaced are never seen, and nothing writes refs
// except casReceivePack.
type casStorage struct {
	*filesystem.Storage
	refs refStore
}

func (s casStorage) Reference(name plumbing.ReferenceName) (*plumbing.Reference, error) {
	return s.refs.read(name)
}

func (s casStorage) IterReferences() (storer.ReferenceIter, error) {
	refs, err := s.refs.list()
	if err != nil {
		return nil, err
	}
	return storer.NewReferenceSliceIter(refs), nil
}

var errReadOnlyRefs = errors.New("refs of a served repository change only through a push")

func (s casStorage) SetReference(*plumbing.Reference) error { return errReadOnlyRefs }
func (s casStorage) CheckAndSetReference(_, _ *plumbing.Reference) error {
	return errReadOnlyRefs
}
func (s casStorage) RemoveReference(plumbing.ReferenceName) error { return errReadOnlyRefs }
func (s casStorage) PackRefs() error                              { return errReadOnlyRefs }

// casReceivePack takes the advertisement from go-git's server and does
// the update itself: the pack is stored and flushed to disk, then every
// command is a compare-and-swap of the ref against the value the client
// saw, reported per ref the way git receive-pack reports it.
type casReceivePack struct {
	transport.ReceivePackSession
	st   *filesystem.Storage
	refs refStore
	dir  string
}

func (s *casReceivePack) ReceivePack(ctx context.Context, req *packp.ReferenceUpdateRequest) (*packp.ReportStatus, error) {
	rs := packp.NewReportStatus()
	rs.UnpackStatus = "ok"
	if req.Packfile != nil {
		start := time.Now()
		r := ioutil.NewContextReadCloser(ctx, req.Packfile)
		err := packfile.UpdateObjectStorage(s.st, r)
		if cerr := r.Close(); err == nil {
			err = cerr
		}
		if err == nil {
			err = syncNewPacks(s.dir, start)
		}
		if err != nil {
			rs.UnpackStatus = err.Error()
			return s.status(req, rs), fmt.Errorf("unpacking objects: %w", err)
		}
	}
	cmds := make([]refUpdate, 0, len(req.Commands))
	var missing []bool
	for _, c := range req.Commands {
		cmds = append(cmds, refUpdate{Name: c.Name, Old: c.Old, New: c.New})
		missing = append(missing, !c.New.IsZero() && s.st.HasEncodedObject(c.New) != nil)
	}
	var errs []error
	if len(cmds) > 0 {
		// Commands naming objects the pack did not bring are refused,
		// as git's connectivity check refuses them.
		var ok []refUpdate
		var okIdx []int
		errs = make([]error, len(cmds))
		for i, c := range cmds {
			if missing[i] {
				errs[i] = errors.New("missing necessary objects")
				continue
			}
			ok = append(ok, c)
			okIdx = append(okIdx, i)
		}
		for j, err := range s.refs.update(ctx, ok) {
			errs[okIdx[j]] = err
		}
	}
	for i, c := range cmds {
		status := "ok"
		if errs[i] != nil {
			status = errs[i].Error()
		}
		rs.CommandStatuses = append(rs.CommandStatuses, &packp.CommandStatus{ReferenceName: c.Name, Status: status})
	}
	if st := s.status(req, rs); st != nil {
		return st, nil
	}
	return nil, rs.Error()
}

// status returns rs if the client asked for a report.
func (s *casReceivePack) status(req *packp.ReferenceUpdateRequest, rs *packp.ReportStatus) *packp.ReportStatus {
	if req.Capabilities == nil || !req.Capabilities.Supports(capability.ReportStatus) {
		return nil
	}
	return rs
}

// syncNewPacks flushes the pack files written since start, so a ref never
// points at objects a power loss could take back.
func syncNewPacks(dir string, start time.Time) error {
	packDir := filepath.Join(dir, "objects", "pack")
	entries, err := os.ReadDir(packDir)
	if err != nil {
		return pathErrText(err)
	}
	for _, e := range entries {
		info, err := e.Info()
		if err != nil || info.ModTime().Before(start.Add(-time.Second)) {
			continue
		}
		f, err := os.Open(filepath.Join(packDir, e.Name()))
		if err != nil {
			continue // renamed or removed meanwhile
		}
		err = f.Sync()
		f.Close()
		if err != nil {
			return pathErrText(err)
		}
	}
	return syncDir(packDir)
}

// knownHavesSession drops "have" lines naming commits the served
// repository does not know (go-git's server fails the whole fetch with
// "object not found" otherwise, e.g. after a rejected push).
type knownHavesSession struct {
	transport.UploadPackSession
	st storer.Storer
}

func (s *knownHavesSession) UploadPack(ctx context.Context, req *packp.UploadPackRequest) (*packp.UploadPackResponse, error) {
	known := req.Haves[:0:0]
	for _, h := range req.Haves {
		if s.st.HasEncodedObject(h) == nil {
			known = append(known, h)
		}
	}
	req.Haves = known
	return s.UploadPackSession.UploadPack(ctx, req)
}

// openLocal opens the repository at dir: a bare repository directly, a
// non-bare one through its .git directory. It returns the git directory.
func openLocal(dir string) (*filesystem.Storage, string, error) {
	for _, d := range []string{dir, filepath.Join(dir, ".git")} {
		fi, err := os.Stat(filepath.Join(d, "config"))
		if err == nil && !fi.IsDir() {
			if _, err := os.Stat(filepath.Join(d, "objects")); err == nil {
				return filesystem.NewStorage(racingReaderFS{osfs.New(d)}, cache.NewObjectLRUDefault()), d, nil
			}
		} else if err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, "", pathErrText(err)
		}
	}
	return nil, "", transport.ErrRepositoryNotFound
}

// racingReaderFS is the file system of a served repository, which other
// processes write while this one reads. go-billy's osfs stats every entry
// of a directory listing and fails the whole listing when one vanished in
// between, which happens whenever a concurrent push renames its
// objects/pack/tmp_pack_* into place; go-git then caches "no packs" for
// the session and answers "object not found" for every packed object.
// Here an entry removed or renamed during the listing is skipped instead,
// as git itself does.
type racingReaderFS struct{ billy.Filesystem }

// ReadDir implements billy.Filesystem.
func (f racingReaderFS) ReadDir(path string) ([]os.FileInfo, error) {
	entries, err := os.ReadDir(filepath.Join(f.Root(), path))
	if err != nil {
		return nil, err
	}
	infos := make([]os.FileInfo, 0, len(entries))
	for _, e := range entries {
		fi, err := e.Info()
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		infos = append(infos, fi)
	}
	return infos, nil
}
