package gitops

import (
	"errors"
	"fmt"
	"os"
	"time"

	git "github.com/go-git/go-git/v5"

	"github.com/ProtonMail/go-crypto/openpgp"
)

// Signing key errors, all bad input; their text never includes key
// material or passphrases.
var (
	// ErrNoPrivateKey means the key file holds only public keys, or no
	// key that can sign.
	ErrNoPrivateKey error = &inputError{"no private signing key in the file"}
	// ErrPassphraseRequired means the key is encrypted and no passphrase was given.
	ErrPassphraseRequired error = &inputError{"the signing key is encrypted and no passphrase was given"}
	// ErrBadPassphrase means the passphrase does not decrypt the key.
	ErrBadPassphrase error = &inputError{"wrong passphrase for the signing key"}
)

// LoadSigningKey reads an armored OpenPGP private key from path, decrypting
// it with passphrase if it is encrypted. When the file holds several keys
// the first one with private material is used; it must be able to sign.
// Every error is bad input.
func LoadSigningKey(path string, passphrase []byte) (*openpgp.Entity, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, &badInput{fmt.Errorf("reading signing key: %w", pathErrText(err))}
	}
	defer f.Close()
	keys, err := openpgp.ReadArmoredKeyRing(f)
	if err != nil {
		return nil, &badInput{fmt.Errorf("reading signing key %s: not an armored OpenPGP key (%w)", path, err)}
	}
	var e *openpgp.Entity
	for _, k := range keys {
		if k.PrivateKey != nil {
			e = k
			break
		}
	}
	if e == nil {
		return nil, withSentinel(ErrNoPrivateKey, "reading signing key %s: %v (it holds public keys only)", path, ErrNoPrivateKey)
	}
	if isEncrypted(e) {
		if len(passphrase) == 0 {
			return nil, withSentinel(ErrPassphraseRequired, "reading signing key %s: %v", path, ErrPassphraseRequired)
		}
		if err := e.DecryptPrivateKeys(passphrase); err != nil {
			// go-crypto's error is not wrapped: callers need only the
			// sentinel, and nothing about the attempt should travel further.
			return nil, withSentinel(ErrBadPassphrase, "decrypting signing key %s: %v", path, ErrBadPassphrase)
		}
	}
	if _, ok := e.SigningKey(time.Now()); !ok {
		return nil, withSentinel(ErrNoPrivateKey, "reading signing key %s: no key or subkey in it can sign now (expired, revoked or not for signing)", path)
	}
	return e, nil
}

func isEncrypted(e *openpgp.Entity) bool {
	if e.PrivateKey != nil && e.PrivateKey.Encrypted {
		return true
	}
	for _, s := range e.Subkeys {
		if s.PrivateKey != nil && s.PrivateKey.Encrypted {
			return true
		}
	}
	return false
}

// loadSpecSigningKey loads the key sk names, in its format, reading its
// passphrase from the environment, and says which field is wrong when it
// fails. The signer goes to go-git's CommitOptions.Signer for either format.
func loadSpecSigningKey(sk *SigningKey, getenv func(string) string) (git.Signer, error) {
	var pass []byte
	if sk.PassphraseEnv != "" {
		pass = []byte(getenv(sk.PassphraseEnv))
	}
	var signer git.Signer
	var err error
	if sk.Format == SigningFormatSSH {
		signer, err = LoadSSHSigningKey(sk.File, pass)
	} else {
		var e *openpgp.Entity
		if e, err = LoadSigningKey(sk.File, pass); err == nil {
			signer = &OpenPGPSigner{Entity: e}
		}
	}
	switch {
	case err == nil:
		return signer, nil
	case errors.Is(err, ErrPassphraseRequired) && sk.PassphraseEnv == "":
		return nil, &FieldError{Field: "commit.signingKey.passphraseEnv", Err: fmt.Errorf("required: %w", err)}
	case errors.Is(err, ErrPassphraseRequired):
		return nil, &FieldError{Field: "commit.signingKey.passphraseEnv", Err: fmt.Errorf("%w (environment variable %s is empty or unset)", err, sk.PassphraseEnv)}
	case errors.Is(err, ErrBadPassphrase):
		return nil, &FieldError{Field: "commit.signingKey.passphraseEnv", Err: fmt.Errorf("%s does not decrypt the key: %w", sk.PassphraseEnv, err)}
	default:
		return nil, &FieldError{Field: "commit.signingKey.file", Err: err}
	}
}
