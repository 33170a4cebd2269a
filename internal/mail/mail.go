// Package mail owns sharing by email: recipient addresses, the outgoing
// message queue (the deliveries table), the templates messages are rendered
// from, and the worker that sends them over SMTP with retries.
//
// A share message carries the recipient's secret code. The queue keeps it
// only sealed with AES-256-GCM under the mail key, which lives outside the
// database, and erases the ciphertext once the message is sent or has
// finally failed, so that a copy of the database opens no link.
package mail

import (
	"errors"
	"fmt"
	"net/mail"
	"strings"
	"unicode/utf8"
)

// Errors returned by this package; functions wrap them with context.
var (
	// ErrInvalidAddress means an e-mail address is malformed; the message
	// names it.
	ErrInvalidAddress = errors.New("invalid e-mail address")
	// ErrKey means the mail key is missing or malformed, or a sealed code
	// does not open with it.
	ErrKey = errors.New("invalid mail key")
	// ErrConfig means an SMTP or template setting is unusable; the message
	// names it.
	ErrConfig = errors.New("invalid mail configuration")
	// ErrNotFound means no delivery has that id.
	ErrNotFound = errors.New("delivery not found")
	// ErrLinkGone means a share message was not sent because its link was
	// revoked or expired while it waited in the queue.
	// ErrQuota means the person has queued as many share messages as the
	// quota allows in 24 hours.
	ErrQuota    = errors.New("mail quota reached")
	ErrLinkGone = errors.New("link revoked or expired before the message was sent")
)

// Delivery kinds.
const (
	KindShare  = "share"  // a recipient's link
	KindNotify = "notify" // a first-open notice to the sharer
	KindCode   = "code"   // a recipient verification code, to the recipient
)

// Modes of 'notify' deliveries (the share's notify_mode).
const (
	ModeFirst  = "first"  // one message per recipient's first open
	ModeDigest = "digest" // one message per share per digest interval
	// ModeArrival is a notice of an upload that arrived through an upload
	// link: Filename is the uploader's file name, Recipient the uploader's
	// address as the audit log keeps it.
	ModeArrival = "arrival"
)

// Delivery states.
const (
	StateQueued  = "queued"
	StateSending = "sending"
	StateSent    = "sent"
	StateFailed  = "failed"
)

// maxAddress is the longest address SMTP can carry (RFC 5321 path limit).
const maxAddress = 254

// NormalizeAddress validates one recipient address and returns its
// normalised form: the bare addr-spec (a display name is dropped) with the
// domain in lower case. Quoted local parts, IP-literal domains and domains
// without a dot are refused: they are legal but, in a share form, far more
// often a typo than intended. Errors: ErrInvalidAddress naming the input.
func NormalizeAddress(s string) (string, error) {
	bad := func(why string) (string, error) {
		return "", fmt.Errorf("%w: %q %s", ErrInvalidAddress, s, why)
	}
	if !utf8.ValidString(s) || strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return bad("contains control characters or invalid UTF-8")
	}
	a, err := mail.ParseAddress(strings.TrimSpace(s))
	if err != nil {
		return bad("is not an e-mail address")
	}
	local, domain, ok := strings.Cut(a.Address, "@")
	switch {
	case !ok || local == "" || domain == "":
		return bad("is not an e-mail address")
	case !dotAtom(local):
		return bad("has a quoted or unusual local part")
	case strings.HasPrefix(domain, "["):
		return bad("has an IP-literal domain")
	case !strings.Contains(domain, ".") || strings.HasPrefix(domain, ".") || strings.HasSuffix(domain, "."):
		return bad("has no domain with a dot")
	}
	out := local + "@" + strings.ToLower(domain)
	if len(out) > maxAddress {
		return bad(fmt.Sprintf("is longer than %d bytes", maxAddress))
	}
	return out, nil
}

// dotAtom reports whether local is an unquoted local part (RFC 5322
// dot-atom; non-ASCII letters allowed, as SMTPUTF8 does). net/mail has
// already removed the quotes of a quoted one, so this is where "a b"@x is
// caught.
func dotAtom(local string) bool {
	if strings.HasPrefix(local, ".") || strings.HasSuffix(local, ".") || strings.Contains(local, "..") {
		return false
	}
	for _, r := range local {
		if r > 0x7f {
			continue
		}
		if !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || strings.ContainsRune(".!#$%&'*+/=?^_`{|}~-", r)) {
			return false
		}
	}
	return true
}

// NormalizeRecipients normalises a list of recipient addresses, refusing an
// empty list, more than max (when max > 0), and duplicates after
// normalisation. Errors: ErrInvalidAddress naming the address.
func NormalizeRecipients(in []string, max int) ([]string, error) {
	if len(in) == 0 {
		return nil, fmt.Errorf("%w: recipients is empty", ErrInvalidAddress)
	}
	if max > 0 && len(in) > max {
		return nil, fmt.Errorf("%w: %d recipients; the server allows at most %d per share", ErrInvalidAddress, len(in), max)
	}
	seen := make(map[string]bool, len(in))
	out := make([]string, 0, len(in))
	for _, s := range in {
		a, err := NormalizeAddress(s)
		if err != nil {
			return nil, err
		}
		key := strings.ToLower(a)
		if seen[key] {
			return nil, fmt.Errorf("%w: %q is listed twice", ErrInvalidAddress, a)
		}
		seen[key] = true
		out = append(out, a)
	}
	return out, nil
}
