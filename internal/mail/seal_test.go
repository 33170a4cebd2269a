package mail

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"testing"
)

// The recipient code key is the mail key's for that purpose only: the same
// for every instance with the mail key, another for another mail key, and
// never the mail key itself.
func TestCodeKeyDerived(t *testing.T) {
	k1, _ := hex.DecodeString(NewKey())
	k2, _ := hex.DecodeString(NewKey())
	a, b, c := deriveKey(k1, codeKeyLabel), deriveKey(k1, codeKeyLabel), deriveKey(k2, codeKeyLabel)
	if !bytes.Equal(a, b) {
		t.Error("deriveKey gives two keys for one mail key")
	}
	if bytes.Equal(a, c) || bytes.Equal(a, k1) || len(a) != sha256.Size {
		t.Errorf("deriveKey = %x for mail key %x; want %d bytes of its own", a, k1, sha256.Size)
	}
	m := hmac.New(sha256.New, k1)
	m.Write([]byte("sharesvc recipient code v1"))
	if !bytes.Equal(a, m.Sum(nil)) {
		t.Error(`the code key is not HMAC-SHA256(mail key, "sharesvc recipient code v1"): codes mailed by other instances would not verify`)
	}
}
