package mail

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
)

// KeySize is the size of the mail key: AES-256.
const KeySize = 32

// LoadKey reads the mail key from spec: 64 hex digits, or the path of a
// file holding 64 hex digits (surrounding space ignored) or 32 raw bytes.
// Errors: ErrKey saying what is wrong (never the key).
func LoadKey(spec string) ([]byte, error) {
	spec = strings.TrimSpace(spec)
	if spec == "" {
		return nil, fmt.Errorf("%w: no key given", ErrKey)
	}
	if len(spec) == 2*KeySize {
		if k, err := hex.DecodeString(spec); err == nil {
			return k, nil
		}
	}
	b, err := os.ReadFile(spec)
	if err != nil {
		// Without the path: spec may be a mistyped key.
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return nil, fmt.Errorf("%w: not 64 hex digits, and not a readable file: %v", ErrKey, err)
	}
	if len(b) == KeySize {
		return b, nil
	}
	t := strings.TrimSpace(string(b))
	if len(t) == 2*KeySize {
		if k, err := hex.DecodeString(t); err == nil {
			return k, nil
		}
	}
	return nil, fmt.Errorf("%w: file %s must hold 64 hex digits or %d raw bytes", ErrKey, spec, KeySize)
}

// NewKey returns a fresh random mail key, hex encoded (for the demo and tests).
func NewKey() string {
	var b [KeySize]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// codeKeyLabel names the key recipient verification codes are hashed
// under; a new label (v2) would make a new key.
const codeKeyLabel = "sharesvc recipient code v1"

// deriveKey returns HMAC-SHA256(key, label): a key for one purpose, so
// the mail key itself only ever seals.
func deriveKey(key []byte, label string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(label))
	return m.Sum(nil)
}

// CodeKey returns the key recipient verification codes are hashed under
// (links.SetCode, links.CheckCode). It is derived from the mail key, which
// is never in the database: a copy of the database alone does not let
// anyone try the few digits of a pending code offline. Every instance with
// the same mail key has the same CodeKey.
func (m *Mailer) CodeKey() []byte { return m.codeKey }

// sealer encrypts codes for the queue with AES-256-GCM. The delivery id is
// the additional data, so a sealed code moved to another row does not open.
type sealer struct{ aead cipher.AEAD }

func newSealer(key []byte) (*sealer, error) {
	if len(key) != KeySize {
		return nil, fmt.Errorf("%w: key is %d bytes; want %d", ErrKey, len(key), KeySize)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrKey, err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrKey, err)
	}
	return &sealer{aead: aead}, nil
}

// seal returns nonce || ciphertext of code bound to id.
func (s *sealer) seal(id, code string) []byte {
	nonce := make([]byte, s.aead.NonceSize(), s.aead.NonceSize()+len(code)+s.aead.Overhead())
	rand.Read(nonce)
	return s.aead.Seal(nonce, nonce, []byte(code), []byte(id))
}

// open reverses seal. Errors: ErrKey when the key or id does not match.
func (s *sealer) open(id string, sealed []byte) (string, error) {
	n := s.aead.NonceSize()
	if len(sealed) < n+s.aead.Overhead() {
		return "", fmt.Errorf("%w: sealed code of delivery %s is too short", ErrKey, id)
	}
	plain, err := s.aead.Open(nil, sealed[:n], sealed[n:], []byte(id))
	if err != nil {
		return "", fmt.Errorf("%w: sealed code of delivery %s does not open with this key", ErrKey, id)
	}
	return string(plain), nil
}
