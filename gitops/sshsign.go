package gitops

import (
	"bytes"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/ProtonMail/go-crypto/openpgp"
	git "github.com/go-git/go-git/v5"
	"github.com/hiddeco/sshsig"
	"golang.org/x/crypto/ssh"
)

// SSHSignatureNamespace is the namespace git signs commits in with
// gpg.format=ssh (ssh-keygen -Y sign -n git); a verifier checks it.
const SSHSignatureNamespace = "git"

// maxKeyFileBytes bounds what is read from a signing key file; real keys
// are a few KiB.
const maxKeyFileBytes = 1 << 20

// SSHSigner signs commits the way git does with gpg.format=ssh: an
// armored SSHSIG signature ("-----BEGIN SSH SIGNATURE-----") over the
// commit, namespace "git", hash sha512 (rsa-sha2-512 for RSA keys). It
// implements go-git's Signer (CommitOptions.Signer), so `git verify-commit`
// with gpg.ssh.allowedSignersFile checks the result.
type SSHSigner struct {
	signer ssh.Signer
}

var _ git.Signer = (*SSHSigner)(nil)

// Sign implements git.Signer.
func (s *SSHSigner) Sign(message io.Reader) ([]byte, error) {
	sig, err := sshsig.Sign(message, s.signer, sshsig.HashSHA512, SSHSignatureNamespace)
	if err != nil {
		return nil, fmt.Errorf("signing with ssh key %s: %w", ssh.FingerprintSHA256(s.signer.PublicKey()), err)
	}
	return sshsig.Armor(sig), nil
}

// PublicKey is the key's public half, e.g. for an allowed-signers line.
func (s *SSHSigner) PublicKey() ssh.PublicKey { return s.signer.PublicKey() }

// LoadSSHSigningKey reads an SSH private key (OpenSSH, PKCS#1, PKCS#8 or
// SEC1 PEM; ed25519, ECDSA or RSA) from path, decrypting it with
// passphrase when it is encrypted. It needs no network, so a config check
// can call it. Errors name the file and match ErrNoPrivateKey,
// ErrPassphraseRequired or ErrBadPassphrase; they never carry key material.
func LoadSSHSigningKey(path string, passphrase []byte) (*SSHSigner, error) {
	data, err := readKeyFile(path)
	if err != nil {
		return nil, err
	}
	if _, _, _, _, perr := ssh.ParseAuthorizedKey(data); perr == nil {
		return nil, &signingKeyError{path: path, err: ErrNoPrivateKey, hint: "it holds an SSH public key"}
	}
	if bytes.Contains(data, []byte("-----BEGIN PGP ")) {
		return nil, &signingKeyError{path: path, err: errBadKeyFile, hint: "it is an OpenPGP key; use format openpgp for it"}
	}
	key, err := ssh.ParseRawPrivateKey(data)
	var missing *ssh.PassphraseMissingError
	switch {
	case errors.As(err, &missing):
		if len(passphrase) == 0 {
			return nil, &signingKeyError{path: path, err: ErrPassphraseRequired}
		}
		key, err = ssh.ParseRawPrivateKeyWithPassphrase(data, passphrase)
		if err != nil {
			if errors.Is(err, x509.IncorrectPasswordError) || strings.Contains(err.Error(), "decryption password incorrect") {
				return nil, &signingKeyError{path: path, err: ErrBadPassphrase}
			}
			// The parser's own words say what is wrong with the file; they
			// hold no key material.
			return nil, &signingKeyError{path: path, err: errBadKeyFile, hint: err.Error()}
		}
	case err != nil:
		return nil, &signingKeyError{path: path, err: errBadKeyFile, hint: err.Error()}
	}
	signer, err := ssh.NewSignerFromKey(key)
	if err != nil {
		return nil, &signingKeyError{path: path, err: errBadKeyFile, hint: err.Error()}
	}
	return &SSHSigner{signer: signer}, nil
}

// errBadKeyFile means the file is not a key uptick can sign with.
var errBadKeyFile error = &inputError{"not a usable private key"}

// signingKeyError names the key file; its kind is what errors.Is matches.
type signingKeyError struct {
	path string
	err  error
	hint string
}

func (e *signingKeyError) Error() string {
	msg := fmt.Sprintf("ssh key %q: %v", e.path, e.err)
	if e.hint != "" {
		msg += " (" + e.hint + ")"
	}
	return msg
}

func (e *signingKeyError) Unwrap() error { return e.err }

// BadInput reports true: only another key file or passphrase fixes it.
func (e *signingKeyError) BadInput() bool { return true }

func readKeyFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, &signingKeyError{path: path, err: errKeyUnreadable, hint: pathErrReason(err)}
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxKeyFileBytes+1))
	if err != nil {
		return nil, &signingKeyError{path: path, err: errKeyUnreadable, hint: pathErrReason(err)}
	}
	if len(data) > maxKeyFileBytes {
		return nil, &signingKeyError{path: path, err: errBadKeyFile, hint: "file is over 1 MiB"}
	}
	return data, nil
}

var errKeyUnreadable error = &inputError{"cannot read the key file"}

// pathErrReason is an *fs.PathError's reason without the syscall name.
func pathErrReason(err error) string {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}

// SigningFormat is how commits are signed, as git's gpg.format.
type SigningFormat string

// Signing formats.
const (
	// SigningFormatOpenPGP signs with an armored OpenPGP private key.
	SigningFormatOpenPGP SigningFormat = "openpgp"
	// SigningFormatSSH signs with an SSH private key (git's gpg.format=ssh).
	SigningFormatSSH SigningFormat = "ssh"
)

// OpenPGPSigner is the OpenPGP counterpart of SSHSigner: an armored
// detached signature, exactly what go-git makes from CommitOptions.SignKey,
// so both formats go through CommitOptions.Signer.
type OpenPGPSigner struct {
	Entity *openpgp.Entity
}

// Sign implements git.Signer.
func (s *OpenPGPSigner) Sign(message io.Reader) ([]byte, error) {
	var b bytes.Buffer
	if err := openpgp.ArmoredDetachSign(&b, s.Entity, message, nil); err != nil {
		return nil, fmt.Errorf("signing with OpenPGP key %X: %w", s.Entity.PrimaryKey.Fingerprint, err)
	}
	return b.Bytes(), nil
}
