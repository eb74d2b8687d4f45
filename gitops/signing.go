package gitops

import (
	"errors"
	"fmt"
	"os"

	"github.com/ProtonMail/go-crypto/openpgp"
)

// Signing key errors; their text never includes key material or passphrases.
var (
	// ErrNoPrivateKey means the key file holds only public keys.
	ErrNoPrivateKey = errors.New("no private key in file")
	// ErrPassphraseRequired means the key is encrypted and no passphrase was given.
	ErrPassphraseRequired = errors.New("signing key is encrypted and no passphrase was given")
	// ErrBadPassphrase means the passphrase does not decrypt the key.
	ErrBadPassphrase = errors.New("wrong passphrase for signing key")
)

// LoadSigningKey reads an armored OpenPGP private key from path, decrypting
// it with passphrase if it is encrypted. When the file holds several keys
// the first one with private material is used.
func LoadSigningKey(path string, passphrase []byte) (*openpgp.Entity, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("opening signing key: %w", err)
	}
	defer f.Close()
	keys, err := openpgp.ReadArmoredKeyRing(f)
	if err != nil {
		return nil, fmt.Errorf("reading signing key %q: %w", path, err)
	}
	var e *openpgp.Entity
	for _, k := range keys {
		if k.PrivateKey != nil {
			e = k
			break
		}
	}
	if e == nil {
		return nil, fmt.Errorf("reading signing key %q: %w", path, ErrNoPrivateKey)
	}
	if !isEncrypted(e) {
		return e, nil
	}
	if len(passphrase) == 0 {
		return nil, fmt.Errorf("reading signing key %q: %w", path, ErrPassphraseRequired)
	}
	if err := e.DecryptPrivateKeys(passphrase); err != nil {
		// go-crypto's error is not wrapped: callers need only the sentinel,
		// and nothing about the attempt should travel further.
		return nil, fmt.Errorf("decrypting signing key %q: %w", path, ErrBadPassphrase)
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
