package links

import (
	"fmt"
	"mime"
	"net"
	"strings"
	"time"
	"unicode/utf8"
)

// Limits are the server's bounds on every link created.
type Limits struct {
	// DefaultBucket is used when a Spec names none; "" means a bucket is
	// required.
	DefaultBucket string
	// DefaultLifetime and MaxLifetime bound a link's lifetime.
	DefaultLifetime, MaxLifetime time.Duration
	// DefaultPresignTTL and MaxPresignTTL bound each minted URL's lifetime.
	DefaultPresignTTL, MaxPresignTTL time.Duration
	// MaxUses bounds a link's use cap; 0 means no server maximum.
	MaxUses int
	// MaxUploadBytes bounds an upload link's size cap (> 0).
	MaxUploadBytes int64
}

// Spec is a link as a person asks for it. Durations are whole seconds and
// nil means "the default"; it is checked and completed by Link.
type Spec struct {
	Kind        Kind
	Bucket      string
	Key         string
	KeyPrefix   string // upload only, instead of Key: each upload gets a generated name under it
	ExpiresIn   *int64 // seconds
	ExpiresAt   *time.Time
	NotBefore   *time.Time
	MaxUses     *int64
	PresignTTL  *int64 // seconds
	Note        string
	Filename    string // download only: served as Content-Disposition
	MaxBytes    *int64 // upload only
	ContentType string // upload only
}

// Max lengths of a link's free-text fields, in bytes.
const (
	MaxNote     = 1000
	MaxFilename = 255
)

// Link checks the spec against lim and returns the link it describes,
// created by creator at now. Settings of shares sent by email (Confirm,
// Recipient…) are left for the caller. Errors: ErrInvalid naming the field.
func (sp *Spec) Link(lim Limits, creator string, now time.Time) (*Link, error) {
	kind := sp.Kind
	switch kind {
	case "":
		kind = KindDownload
	case KindDownload, KindUpload:
	default:
		return nil, fmt.Errorf("%w: kind %q must be download or upload", ErrInvalid, sp.Kind)
	}
	bucket := sp.Bucket
	if bucket == "" {
		if bucket = lim.DefaultBucket; bucket == "" {
			return nil, fmt.Errorf("%w: bucket is required (the server has no default bucket)", ErrInvalid)
		}
	}
	if err := ValidBucket(bucket); err != nil {
		return nil, err
	}
	l := &Link{ID: NewID(), Kind: kind, Bucket: bucket, CreatedAt: now, CreatedBy: creator,
		Note: sp.Note, Filename: sp.Filename}
	switch {
	case sp.KeyPrefix != "" && sp.Key != "":
		return nil, fmt.Errorf("%w: give key or key_prefix, not both", ErrInvalid)
	case sp.KeyPrefix != "":
		if kind != KindUpload {
			return nil, fmt.Errorf("%w: key_prefix is for upload links; a download link names one key", ErrInvalid)
		}
		if err := ValidKeyPrefix(sp.KeyPrefix); err != nil {
			return nil, err
		}
		l.Key, l.KeyIsPrefix = sp.KeyPrefix, true
	default:
		if err := ValidKey(sp.Key); err != nil {
			return nil, err
		}
		l.Key = sp.Key
	}

	// Lifetime: expires_in or expires_at, never both; within the maximum.
	switch {
	case sp.ExpiresIn != nil && sp.ExpiresAt != nil:
		return nil, fmt.Errorf("%w: give expires_in or expires_at, not both", ErrInvalid)
	case sp.ExpiresAt != nil:
		d := sp.ExpiresAt.Sub(now)
		if d < time.Second {
			return nil, fmt.Errorf("%w: expires_at %s is not in the future", ErrInvalid, sp.ExpiresAt.Format(time.RFC3339))
		}
		if d > lim.MaxLifetime {
			return nil, fmt.Errorf("%w: expires_at is %s away; the server maximum lifetime is %s", ErrInvalid, d.Round(time.Second), lim.MaxLifetime)
		}
		l.ExpiresAt = sp.ExpiresAt.UTC().Truncate(time.Millisecond)
	default:
		lifetime, err := seconds("expires_in", sp.ExpiresIn, lim.DefaultLifetime, lim.MaxLifetime)
		if err != nil {
			return nil, err
		}
		l.ExpiresAt = now.Add(lifetime)
	}
	if sp.NotBefore != nil {
		nb := sp.NotBefore.UTC().Truncate(time.Millisecond)
		if !nb.Before(l.ExpiresAt) {
			return nil, fmt.Errorf("%w: not_before must be before the link expires", ErrInvalid)
		}
		if nb.After(now) {
			l.NotBefore = nb
		}
	}
	ttl, err := seconds("presign_ttl", sp.PresignTTL, lim.DefaultPresignTTL, lim.MaxPresignTTL)
	if err != nil {
		return nil, err
	}
	l.PresignTTL = ttl
	if sp.MaxUses != nil {
		switch {
		case *sp.MaxUses < 1:
			return nil, fmt.Errorf("%w: max_uses must be at least 1 (omit it for no cap)", ErrInvalid)
		case lim.MaxUses > 0 && *sp.MaxUses > int64(lim.MaxUses):
			return nil, fmt.Errorf("%w: max_uses %d exceeds the server maximum of %d", ErrInvalid, *sp.MaxUses, lim.MaxUses)
		case *sp.MaxUses > 1<<31:
			return nil, fmt.Errorf("%w: max_uses %d is too large", ErrInvalid, *sp.MaxUses)
		}
		l.MaxUses = int(*sp.MaxUses)
	} else if lim.MaxUses > 0 {
		// A server maximum also caps links that ask for none.
		l.MaxUses = lim.MaxUses
	}
	if len(sp.Note) > MaxNote || len(sp.Filename) > MaxFilename {
		return nil, fmt.Errorf("%w: note is limited to %d bytes and filename to %d", ErrInvalid, MaxNote, MaxFilename)
	}
	if err := ValidText("note", sp.Note, true); err != nil {
		return nil, err
	}
	if err := ValidText("filename", sp.Filename, false); err != nil {
		return nil, err
	}
	if err := ValidText("content_type", sp.ContentType, false); err != nil {
		return nil, err
	}
	if strings.ContainsAny(sp.Filename, "/\\\n") {
		return nil, fmt.Errorf("%w: filename must be a bare file name", ErrInvalid)
	}
	if kind == KindDownload {
		if sp.MaxBytes != nil || sp.ContentType != "" {
			return nil, fmt.Errorf("%w: max_bytes and content_type are for upload links", ErrInvalid)
		}
		return l, nil
	}
	if sp.Filename != "" {
		return nil, fmt.Errorf("%w: filename is for download links", ErrInvalid)
	}
	if sp.MaxBytes != nil {
		switch {
		case *sp.MaxBytes < 1:
			return nil, fmt.Errorf("%w: max_bytes must be at least 1 (omit it for the server maximum)", ErrInvalid)
		case *sp.MaxBytes > lim.MaxUploadBytes:
			return nil, fmt.Errorf("%w: max_bytes %d exceeds the server maximum of %d", ErrInvalid, *sp.MaxBytes, lim.MaxUploadBytes)
		}
		l.MaxBytes = *sp.MaxBytes
	} else {
		l.MaxBytes = lim.MaxUploadBytes
	}
	if sp.ContentType != "" {
		if _, _, err := mime.ParseMediaType(sp.ContentType); err != nil || len(sp.ContentType) > 255 {
			return nil, fmt.Errorf("%w: content_type %q is not a media type", ErrInvalid, sp.ContentType)
		}
		l.ContentType = sp.ContentType
	}
	return l, nil
}

// seconds turns an optional whole-seconds field into a duration, applying a
// default and a maximum, and names the field in errors.
func seconds(field string, v *int64, def, max time.Duration) (time.Duration, error) {
	if v == nil {
		return def, nil
	}
	if *v < 1 {
		return 0, fmt.Errorf("%w: %s must be at least 1 second", ErrInvalid, field)
	}
	if *v > int64(max/time.Second) {
		return 0, fmt.Errorf("%w: %s %d exceeds the server maximum of %d seconds", ErrInvalid, field, *v, int64(max/time.Second))
	}
	return time.Duration(*v) * time.Second, nil
}

// ValidKey checks an object key the way S3 does (1–1024 bytes of UTF-8),
// and refuses what would make it unsafe to share by URL or show in mail:
// control and bidirectional-formatting characters, and "." or ".." path
// segments, which browsers rewrite before sending. Errors: ErrInvalid.
func ValidKey(k string) error {
	switch {
	case k == "":
		return fmt.Errorf("%w: key is required", ErrInvalid)
	case len(k) > 1024:
		return fmt.Errorf("%w: key is %d bytes; S3 allows at most 1024", ErrInvalid, len(k))
	case !utf8.ValidString(k):
		return fmt.Errorf("%w: key is not valid UTF-8", ErrInvalid)
	}
	if i := strings.IndexFunc(k, func(r rune) bool { return isControl(r, false) }); i >= 0 {
		return fmt.Errorf("%w: key contains a control character", ErrInvalid)
	}
	if i := strings.IndexFunc(k, isBidi); i >= 0 {
		return fmt.Errorf("%w: key contains a bidirectional formatting character (U+%04X), which can disguise a name", ErrInvalid, []rune(k[i:])[0])
	}
	for _, seg := range strings.Split(k, "/") {
		if seg == "." || seg == ".." {
			return fmt.Errorf("%w: key has a %q path segment, which browsers rewrite; such an object cannot be shared by URL", ErrInvalid, seg)
		}
	}
	return nil
}

// ValidKeyPrefix checks an upload link's key prefix: each generated key is
// the prefix, a "/" unless it ends with one, and a name, so the prefix
// follows the key rules, and a "." or ".." segment is refused wherever it
// is (even last: "inbox/.." would put uploads beside the inbox). Errors:
// ErrInvalid.
func ValidKeyPrefix(p string) error {
	if err := ValidKey(strings.TrimSuffix(p, "/") + "/x"); err != nil {
		return fmt.Errorf("key_prefix: %w", err)
	}
	return nil
}

// ValidBucket checks S3's naming rules for general purpose buckets: 3–63
// lower-case letters, digits, '.' and '-', starting and ending with a letter
// or digit, no "..", not an IP address, and none of the prefixes and
// suffixes S3 reserves (xn--, sthree-, -s3alias, --ol-s3, …), which name
// access points or other kinds of bucket. Errors: ErrInvalid.
func ValidBucket(b string) error {
	if len(b) < 3 || len(b) > 63 {
		return fmt.Errorf("%w: bucket %q must be 3-63 characters", ErrInvalid, b)
	}
	for i := 0; i < len(b); i++ {
		c := b[i]
		ok := 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '.'
		if !ok || (i == 0 || i == len(b)-1) && (c == '-' || c == '.') {
			return fmt.Errorf("%w: bucket %q must be lower-case letters, digits, '.' and '-', starting and ending with a letter or digit", ErrInvalid, b)
		}
	}
	if strings.Contains(b, "..") {
		return fmt.Errorf("%w: bucket %q must not contain '..'", ErrInvalid, b)
	}
	if strings.Trim(b, "0123456789.") == "" && net.ParseIP(b) != nil {
		return fmt.Errorf("%w: bucket %q must not be formatted as an IP address", ErrInvalid, b)
	}
	for _, pre := range [...]string{"xn--", "sthree-", "amzn-s3-demo-"} {
		if strings.HasPrefix(b, pre) {
			return fmt.Errorf("%w: bucket %q uses the prefix %q, which S3 reserves", ErrInvalid, b, pre)
		}
	}
	for _, suf := range [...]string{"-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3"} {
		if strings.HasSuffix(b, suf) {
			return fmt.Errorf("%w: bucket %q uses the suffix %q, which S3 reserves for aliases and other kinds of bucket", ErrInvalid, b, suf)
		}
	}
	return nil
}

// ValidText checks a free-text field shown to people (a note, a file name,
// a display name): valid UTF-8 without control characters (a note may hold
// line breaks) and without bidirectional formatting characters, which can
// make "invoice‮fdp.exe" read as "invoiceexe.pdf". Errors: ErrInvalid naming
// field.
func ValidText(field, s string, multiline bool) error {
	if !utf8.ValidString(s) {
		return fmt.Errorf("%w: %s is not valid UTF-8", ErrInvalid, field)
	}
	for _, r := range s {
		switch {
		case isControl(r, multiline):
			return fmt.Errorf("%w: %s contains a control character (U+%04X)", ErrInvalid, field, r)
		case isBidi(r):
			return fmt.Errorf("%w: %s contains a bidirectional formatting character (U+%04X), which can disguise text", ErrInvalid, field, r)
		}
	}
	return nil
}

// isControl reports C0 and C1 controls, DEL, and the Unicode line and
// paragraph separators; a line feed only when !multiline.
func isControl(r rune, multiline bool) bool {
	switch {
	case r == '\n':
		return !multiline
	case r < 0x20, r == 0x7f, 0x80 <= r && r <= 0x9f, r == 0x2028, r == 0x2029:
		return true
	}
	return false
}

// isBidi reports the characters that change the direction text is shown in
// (Unicode's bidirectional formatting characters and marks).
func isBidi(r rune) bool {
	switch {
	case r == 0x061c, r == 0x200e, r == 0x200f:
		return true
	case 0x202a <= r && r <= 0x202e, 0x2066 <= r && r <= 0x2069:
		return true
	}
	return false
}
