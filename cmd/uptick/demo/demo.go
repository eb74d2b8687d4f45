package demo

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
	"github.com/go-git/go-git/v5"
	gitconfig "github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/uptick-gitops/uptick"
)

// Tags are what the demo registry holds: each policy has something newer
// than the fixtures to find, and something it must not pick.
var Tags = map[string][]string{
	"demo/podinfo": {"6.3.5", "6.4.0", "6.4.1", "6.5.0", "6.5.3", "6.6.0-rc.1", "7.0.0", "latest"},
	"demo/redis":   {"7.0.15", "7.2.4", "7.2.5", "7.4.1", "7.2.6-alpine"},
}

// SeedRegistry pushes a distinct random image for every demo tag.
func SeedRegistry(ctx context.Context, host string, opts ...remote.Option) error {
	for repo, tags := range Tags {
		for _, tag := range tags {
			ref, err := name.NewTag(host + "/" + repo + ":" + tag)
			if err != nil {
				return err
			}
			img, err := random.Image(512, 1)
			if err != nil {
				return err
			}
			if err := remote.Write(ref, img, append(opts, remote.WithContext(ctx))...); err != nil {
				return fmt.Errorf("pushing %s: %w", ref, err)
			}
		}
	}
	return nil
}

// SeedFleet creates a bare repository holding the embedded demo fleet on
// branch main, with the registry address filled in.
func SeedFleet(remoteDir, host string) error {
	if err := os.RemoveAll(remoteDir); err != nil {
		return err
	}
	if _, err := git.PlainInitWithOptions(remoteDir, &git.PlainInitOptions{Bare: true, InitOptions: git.InitOptions{DefaultBranch: "refs/heads/main"}}); err != nil {
		return err
	}
	seed, err := os.MkdirTemp("", "uptick-demo-seed-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(seed)
	repo, err := git.PlainInitWithOptions(seed, &git.PlainInitOptions{InitOptions: git.InitOptions{DefaultBranch: "refs/heads/main"}})
	if err != nil {
		return err
	}
	const root = "testdata/demo/fleet"
	err = fs.WalkDir(uptick.DemoFleet, root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := uptick.DemoFleet.ReadFile(p)
		if err != nil {
			return err
		}
		data = bytes.ReplaceAll(data, []byte("127.0.0.1:5000"), []byte(host))
		dst := filepath.Join(seed, filepath.FromSlash(strings.TrimPrefix(p, root+"/")))
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return err
		}
		return os.WriteFile(dst, data, 0o644)
	})
	if err != nil {
		return err
	}
	wt, err := repo.Worktree()
	if err != nil {
		return err
	}
	if err := wt.AddGlob("."); err != nil {
		return err
	}
	who := &object.Signature{Name: "fleet admin", Email: "admin@example.org", When: time.Now()}
	if _, err := wt.Commit("Add the demo fleet", &git.CommitOptions{Author: who, Committer: who}); err != nil {
		return err
	}
	if _, err := repo.CreateRemote(&gitconfig.RemoteConfig{Name: "origin", URLs: []string{remoteDir}}); err != nil {
		return err
	}
	return repo.Push(&git.PushOptions{RemoteName: "origin", RefSpecs: []gitconfig.RefSpec{"refs/heads/main:refs/heads/main"}})
}

// WriteKey generates an unencrypted Ed25519 signing key, writing the
// armored private key (for uptick) and public key (for gpg --import).
func WriteKey(privFile, pubFile string) (*openpgp.Entity, error) {
	e, err := openpgp.NewEntity("uptick demo", "throwaway", "uptick-demo@example.org", &packet.Config{Algorithm: packet.PubKeyAlgoEdDSA})
	if err != nil {
		return nil, err
	}
	write := func(file, blockType string, serialize func(io.Writer) error) error {
		var buf bytes.Buffer
		w, err := armor.Encode(&buf, blockType, nil)
		if err != nil {
			return err
		}
		if err := serialize(w); err != nil {
			return err
		}
		if err := w.Close(); err != nil {
			return err
		}
		return os.WriteFile(file, buf.Bytes(), 0o600)
	}
	if err := write(privFile, openpgp.PrivateKeyType, func(w io.Writer) error { return e.SerializePrivate(w, nil) }); err != nil {
		return nil, err
	}
	if err := write(pubFile, openpgp.PublicKeyType, e.Serialize); err != nil {
		return nil, err
	}
	return e, nil
}
