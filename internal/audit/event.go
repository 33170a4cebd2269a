// Package audit owns the access log: every request for a link and every
// administrative act becomes one append-only row, chained by SHA-256 so that
// edits, deletions and reordering are detectable.
//
// Rows are written by a single writer that commits many requests in one
// transaction (group commit) with synchronous=FULL, so a caller that got a
// nil error from Log.Append knows its row is on disk.
package audit

import (
	"crypto/sha256"
	"encoding/binary"
	"time"
)

// Actions recorded in the log.
const (
	ActionAccess      = "link.access"
	ActionLinkCreate  = "link.create"
	ActionLinkRevoke  = "link.revoke"
	ActionLinkUpdate  = "link.update"
	ActionTokenCreate = "token.create"
	ActionTokenRevoke = "token.revoke"
	ActionTokenRotate = "token.rotate"
	ActionTokenUpdate = "token.update"
	// Recipient verification of email shares (internal/server/verify.go).
	ActionRecipientCodeSent    = "recipient.code_sent"
	ActionRecipientVerified    = "recipient.verified"
	ActionRecipientCodeRefused = "recipient.code_refused"
	ActionBulkRevoke           = "link.bulk_revoke"
	ActionOffboard             = "person.offboard"
	ActionKillSwitch           = "killswitch.set"
	ActionGrantCreate          = "grant.create"
	ActionGrantRevoke          = "grant.revoke"
	// Sign-in through the organisation's identity provider: each sign-in
	// (detail: issuer, subject, email, role, groups), each refusal (detail:
	// why), each sign-out, and each session the provider check ended.
	ActionSignIn        = "console.signin"
	ActionSignInRefused = "console.signin_refused"
	ActionSignOut       = "console.signout"
	ActionSessionEnded  = "console.session_ended"
	// A person's role changed: their groups at the provider changed at a
	// sign-in or session check, or an admin set or cleared an override.
	ActionPersonRole   = "person.role"
	ActionPersonEnable = "person.enable"
	// ActionAPIRequest records an API request refused before its handler
	// ran (over the token's rate limit).
	ActionAPIRequest = "api.request"
)

// Outcomes recorded in the log.
const (
	OutcomeMinted        = "minted"         // a presigned URL was handed out
	OutcomeDenied        = "denied"         // the link may not mint; Reason says why
	OutcomeNothingMinted = "nothing_minted" // answered without minting (HEAD, previews)
	OutcomeUnavailable   = "unavailable"    // the signer could not provide a session
	OutcomeOK            = "ok"             // an administrative act succeeded
)

// ActorClient is the actor of public requests, which carry no token.
const ActorClient = "client"

// HashSize is the size of a chain value.
const HashSize = sha256.Size

// Event is one row of the audit log. Seq, At, PrevHash and Hash are set by
// the writer. No field ever holds a link code, a token or a presigned URL.
type Event struct {
	Seq          int64
	At           time.Time // truncated to microseconds when written
	Action       string
	Actor        string
	LinkID       string
	Outcome      string
	Reason       string
	ClientIP     string
	UserAgent    string
	RequestID    string
	URLExpiresAt time.Time // zero unless a URL was minted
	STSSession   string
	Detail       string // JSON object, or ""
	PrevHash     []byte
	Hash         []byte
	// Object is the object of the row's link, read from the links table
	// by List and Export; nil when the row names no (known) link. It is
	// not part of the row, so not of the chain.
	Object *Object
}

// maxUserAgent bounds what a client can make us store.
const maxUserAgent = 512

// domain separates this chain's hashes from any other use of SHA-256.
const domain = "sharesvc.audit.v1\x00"

// Canonical returns the encoding the chain hashes: the fixed-width sequence
// number and times, then each text field as a uvarint length and its bytes,
// in a fixed order. Length prefixes make the encoding injective: two events
// that differ in any field never encode alike.
func (e *Event) Canonical(buf []byte) []byte {
	buf = binary.BigEndian.AppendUint64(buf, uint64(e.Seq))
	buf = binary.BigEndian.AppendUint64(buf, uint64(e.At.UnixMicro()))
	if e.URLExpiresAt.IsZero() {
		buf = append(buf, 0)
	} else {
		buf = append(buf, 1)
		buf = binary.BigEndian.AppendUint64(buf, uint64(e.URLExpiresAt.UnixMilli()))
	}
	for _, s := range [...]string{e.Action, e.Actor, e.LinkID, e.Outcome, e.Reason,
		e.ClientIP, e.UserAgent, e.RequestID, e.STSSession, e.Detail} {
		buf = binary.AppendUvarint(buf, uint64(len(s)))
		buf = append(buf, s...)
	}
	return buf
}

// ChainHash returns SHA-256(domain || prev || canonical(e)). The input is
// assembled in scratch, so that a caller hashing many rows can pass one
// buffer with room for them and allocate nothing.
func ChainHash(prev []byte, e *Event, scratch []byte) [HashSize]byte {
	buf := append(scratch[:0], domain...)
	buf = append(buf, prev...)
	return sha256.Sum256(e.Canonical(buf))
}

// normalize bounds client-supplied fields and rounds times to what the
// database stores, so that the hash computed before the insert matches the
// one recomputed from the row.
func (e *Event) normalize() {
	if len(e.UserAgent) > maxUserAgent {
		e.UserAgent = truncateUTF8(e.UserAgent, maxUserAgent)
	}
	e.At = time.UnixMicro(e.At.UnixMicro()).UTC()
	if !e.URLExpiresAt.IsZero() {
		e.URLExpiresAt = time.UnixMilli(e.URLExpiresAt.UnixMilli()).UTC()
	}
}

func truncateUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n]
}
