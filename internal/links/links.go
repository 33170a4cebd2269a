// Package links owns share links: their secret codes, the rules that decide
// whether a link may mint a URL, and their storage.
//
// A link has a public id ("lnk_…", safe to show and log) and a secret code
// that appears only in the short URL handed to its creator. The database
// keeps a SHA-256 hash of the code, never the code.
package links

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/base64"
	"errors"
	"time"
)

// Errors returned by this package. Store methods wrap them with context.
var (
	// ErrNotFound means no link has that id or code.
	ErrNotFound = errors.New("link not found")
	// ErrRevoked means the link was revoked.
	ErrRevoked = errors.New("link revoked")
	// ErrExpired means the link's lifetime is over.
	ErrExpired = errors.New("link expired")
	// ErrUsedUp means the link's use cap is reached.
	ErrUsedUp = errors.New("link used up")
	// ErrNotYetValid means the link's not_before is in the future.
	ErrNotYetValid = errors.New("link not yet valid")
	// ErrInvalid means a link to be created breaks a rule; the wrapped
	// message names the field.
	ErrInvalid = errors.New("invalid link")
	// ErrSuspended means the kill switch is on: no link mints until an
	// admin lifts it.
	ErrSuspended = errors.New("sharing is suspended")
)

// Kind says what a link lets its holder do.
type Kind string

// Link kinds.
const (
	KindDownload Kind = "download"
	KindUpload   Kind = "upload"
)

// State is a link's condition at a moment.
type State string

// Link states, as shown in listings and used as audit reasons.
const (
	StateLive        State = "live"
	StateRevoked     State = "revoked"
	StateExpired     State = "expired"
	StateUsedUp      State = "used_up"
	StateNotYetValid State = "not_yet_valid"
	// StateSuspended is never stored: ClaimUses answers it while the kill
	// switch is on.
	StateSuspended State = "kill_switch"
)

// Link is one share link. It never holds the code.
type Link struct {
	ID           string
	Kind         Kind
	Bucket       string
	Key          string
	CreatedAt    time.Time
	CreatedBy    string
	NotBefore    time.Time // zero: valid from creation
	ExpiresAt    time.Time
	MaxUses      int // 0: unlimited
	Uses         int
	PresignTTL   time.Duration
	Note         string
	Filename     string
	LastAccessAt time.Time // zero: never
	RevokedAt    time.Time // zero: not revoked
	RevokedBy    string
	RevokeReason string
	// Upload links only.
	MaxBytes    int64  // 0: no cap; else S3 refuses larger uploads
	ContentType string // "": any; else the upload must carry exactly this
	KeyIsPrefix bool   // Key is a prefix; each upload gets a generated name
	// Shares sent by email (see Share).
	ShareID   string // "shr_…" when this is one recipient's link of a share; "" for plain links
	Recipient string // the recipient's normalised address; "" for plain links
	Confirm   bool   // browsers get a confirmation page; only its POST mints
	Direct    bool   // with Confirm: clients not asking for text/html are redirected at once
	// VerifyRecipient: a share link mints only in a browser that proved,
	// with a code mailed to Recipient, that it reads that mailbox.
	VerifyRecipient bool
	Notify          string    // address told about the first open; "" for none
	NotifyMode      string    // NotifyFirst or NotifyDigest when Notify is set
	FirstOpenAt     time.Time // zero: no URL minted yet
	// The grant the link was created under and the key prefix it gave;
	// URLs are signed with that grant's scoped session. "" for links made
	// by admins or before grants, signed with the role's own session.
	GrantID     string
	GrantPrefix string
	// ObjectBytes is the download object's size as S3 answered the HEAD
	// made at creation; nil for upload links and for links made before
	// sizes were kept.
	ObjectBytes *int64
}

// Notification modes of a share's first-open notices.
const (
	// NotifyFirst sends one message per recipient's first open.
	NotifyFirst = "first"
	// NotifyDigest sends one message per share per digest interval listing
	// the first opens since the last one.
	NotifyDigest = "digest"
)

// NewShareID returns a fresh public share id.
func NewShareID() string {
	var b [10]byte
	rand.Read(b[:])
	return "shr_" + idEncoding.EncodeToString(b[:])
}

// StateAt returns the link's state at now. Revocation wins over every other
// state, then expiry, then the use cap, then not_before.
func (l *Link) StateAt(now time.Time) State {
	switch {
	case !l.RevokedAt.IsZero():
		return StateRevoked
	case !now.Before(l.ExpiresAt):
		return StateExpired
	case l.MaxUses > 0 && l.Uses >= l.MaxUses:
		return StateUsedUp
	case !l.NotBefore.IsZero() && now.Before(l.NotBefore):
		return StateNotYetValid
	}
	return StateLive
}

// Err returns the error matching state s, or nil for StateLive.
func (s State) Err() error {
	switch s {
	case StateRevoked:
		return ErrRevoked
	case StateExpired:
		return ErrExpired
	case StateUsedUp:
		return ErrUsedUp
	case StateNotYetValid:
		return ErrNotYetValid
	case StateSuspended:
		return ErrSuspended
	}
	return nil
}

// CodeBytes is the entropy of a code: 144 bits from crypto/rand.
const CodeBytes = 18

// CodeLen is the length of a code as it appears in a URL (unpadded base64url).
const CodeLen = 24

// NewCode returns a fresh secret code and its hash.
func NewCode() (code string, hash []byte) {
	var b [CodeBytes]byte
	rand.Read(b[:]) // never fails on Linux; the runtime aborts otherwise
	code = base64.RawURLEncoding.EncodeToString(b[:])
	h := HashCode(code)
	return code, h[:]
}

// HashCode returns the SHA-256 of a code, the form the database keeps.
func HashCode(code string) [32]byte {
	return sha256.Sum256([]byte(code))
}

// ValidCode reports whether s has the shape of a code (length and alphabet),
// so that malformed requests are answered without touching the database.
func ValidCode(s string) bool {
	if len(s) != CodeLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// NewID returns a fresh public link id.
func NewID() string {
	var b [10]byte
	rand.Read(b[:])
	return "lnk_" + idEncoding.EncodeToString(b[:])
}

// idEncoding is the alphabet of public ids: lower case, no padding, easy to
// read aloud and to paste.
var idEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)
