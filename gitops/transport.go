package gitops

import (
	"context"
	"errors"
	"os"
	"path/filepath"

	"github.com/go-git/go-billy/v5/osfs"
	"github.com/go-git/go-git/v5/plumbing/cache"
	"github.com/go-git/go-git/v5/plumbing/protocol/packp"
	"github.com/go-git/go-git/v5/plumbing/storer"
	"github.com/go-git/go-git/v5/plumbing/transport"
	"github.com/go-git/go-git/v5/plumbing/transport/client"
	"github.com/go-git/go-git/v5/plumbing/transport/server"
	"github.com/go-git/go-git/v5/storage/filesystem"
)

// go-git's default file:// transport executes git-upload-pack and
// git-receive-pack, so uptick would need the git CLI in its image. Serve
// local repositories in-process instead, bare or not. This is a one-time
// registration (like a database/sql driver), not mutable state.
func init() {
	client.InstallProtocol("file", localTransport{})
}

// localTransport is go-git's embedded server used as a client for local
// repositories, with one fix: it ignores "have" lines naming commits the
// served repository does not know (go-git's server fails the whole fetch
// with "object not found" otherwise, e.g. after a rejected push).
type localTransport struct{}

func (localTransport) NewUploadPackSession(ep *transport.Endpoint, auth transport.AuthMethod) (transport.UploadPackSession, error) {
	st, err := openLocal(ep.Path)
	if err != nil {
		return nil, err
	}
	s, err := server.NewClient(fixedLoader{st}).NewUploadPackSession(ep, auth)
	if err != nil {
		return nil, err
	}
	return &knownHavesSession{UploadPackSession: s, st: st}, nil
}

func (localTransport) NewReceivePackSession(ep *transport.Endpoint, auth transport.AuthMethod) (transport.ReceivePackSession, error) {
	st, err := openLocal(ep.Path)
	if err != nil {
		return nil, err
	}
	return server.NewClient(fixedLoader{st}).NewReceivePackSession(ep, auth)
}

// fixedLoader hands go-git's server an already opened repository.
type fixedLoader struct{ st storer.Storer }

func (l fixedLoader) Load(*transport.Endpoint) (storer.Storer, error) { return l.st, nil }

// knownHavesSession drops haves unknown to the served repository.
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
// non-bare one through its .git directory.
func openLocal(dir string) (storer.Storer, error) {
	for _, d := range []string{dir, filepath.Join(dir, ".git")} {
		fi, err := os.Stat(filepath.Join(d, "config"))
		if err == nil && !fi.IsDir() {
			if _, err := os.Stat(filepath.Join(d, "objects")); err == nil {
				return filesystem.NewStorage(osfs.New(d), cache.NewObjectLRUDefault()), nil
			}
		} else if err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, err
		}
	}
	return nil, transport.ErrRepositoryNotFound
}
