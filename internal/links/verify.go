package links

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"time"
)

// Recipient verification: a share link with VerifyRecipient mints only in
// a browser that entered a one-time code mailed to the link's recipient.
// The code is kept here only as a MAC under a server key that is not in
// the database (the mail package's CodeKey): a plain hash of eight digits
// would give the code away to anyone with a copy of the database within
// its ten minutes. The browser then holds a random id (in a cookie) whose
// hash vouches for that one link.

// Errors of recipient verification.
var (
	// ErrCodeWrong means the code entered is not the link's pending code,
	// or there is none (never sent, expired).
	ErrCodeWrong = errors.New("wrong or expired code")
	// ErrCodeLocked means too many wrong codes were entered: neither
	// checks nor sends are accepted until the lock ends.
	ErrCodeLocked = errors.New("verification locked after too many wrong codes")
	// ErrCodeTooSoon means a code was sent too recently or too often.
	ErrCodeTooSoon = errors.New("a code was sent too recently")
)

// CodePolicy bounds recipient verification codes.
type CodePolicy struct {
	TTL         time.Duration // how long a code is valid
	MaxAttempts int           // wrong entries of one code before the lock
	Lock        time.Duration // how long the lock lasts
	MinInterval time.Duration // between two sends
	MaxSends    int           // sends per Window
	Window      time.Duration
}

// DefaultCodePolicy: 8 digits valid 10 minutes, 5 tries, locked for an
// hour; one send a minute, 5 an hour.
var DefaultCodePolicy = CodePolicy{TTL: 10 * time.Minute, MaxAttempts: 5, Lock: time.Hour,
	MinInterval: time.Minute, MaxSends: 5, Window: time.Hour}

// NewVerifyCode returns a fresh 8-digit code from crypto/rand.
func NewVerifyCode() string {
	var b [8]byte
	rand.Read(b[:])
	return fmt.Sprintf("%08d", binary.BigEndian.Uint64(b[:])%100_000_000)
}

// minCodeKey is the shortest key codes are hashed under.
const minCodeKey = 16

// codeHash is HMAC-SHA256(key, link id || 0 || code). Until the release
// that keyed it, the hash was the plain SHA-256 of the same bytes: a code
// mailed before the upgrade no longer matches, and its recipient asks for
// a new one (it was valid for minutes only).
func codeHash(key []byte, linkID, code string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(linkID))
	m.Write([]byte{0})
	m.Write([]byte(code))
	return m.Sum(nil)
}

func checkCodeKey(key []byte) error {
	if len(key) < minCodeKey {
		return fmt.Errorf("recipient codes: a key of at least %d bytes is needed, got %d", minCodeKey, len(key))
	}
	return nil
}

// SetCode stores code as link id's pending code (replacing any other), if
// the policy allows a send now; the code is kept as a MAC under key (at
// least 16 bytes, a secret that is not in the database). Errors:
// ErrCodeLocked, ErrCodeTooSoon, or one for a short key.
func SetCode(ctx context.Context, q Querier, key []byte, id, code string, p CodePolicy, now time.Time) error {
	if err := checkCodeKey(key); err != nil {
		return err
	}
	var (
		sentAt, windowAt int64
		sends            int
		locked           sql.NullInt64
	)
	err := q.QueryRowContext(ctx, `SELECT sent_at, window_at, sends, locked_at FROM recipient_codes WHERE link_id = ?`, id).
		Scan(&sentAt, &windowAt, &sends, &locked)
	n := ms(now)
	if errors.Is(err, sql.ErrNoRows) {
		_, err = q.ExecContext(ctx, `INSERT INTO recipient_codes (link_id, code_hash, expires_at, attempts, sent_at, window_at, sends)
            VALUES (?, ?, ?, 0, ?, ?, 1)`, id, codeHash(key, id, code), ms(now.Add(p.TTL)), n, n)
		if err != nil {
			return fmt.Errorf("store code of %s: %w", id, err)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("read code of %s: %w", id, err)
	}
	if locked.Valid && n < locked.Int64+p.Lock.Milliseconds() {
		return ErrCodeLocked
	}
	if n < sentAt+p.MinInterval.Milliseconds() {
		return ErrCodeTooSoon
	}
	if n >= windowAt+p.Window.Milliseconds() {
		windowAt, sends = n, 0
	}
	if sends >= p.MaxSends {
		return ErrCodeTooSoon
	}
	_, err = q.ExecContext(ctx, `UPDATE recipient_codes SET code_hash = ?, expires_at = ?, attempts = 0, sent_at = ?,
        window_at = ?, sends = ?, locked_at = NULL WHERE link_id = ?`, codeHash(key, id, code), ms(now.Add(p.TTL)), n, windowAt, sends+1, id)
	if err != nil {
		return fmt.Errorf("store code of %s: %w", id, err)
	}
	return nil
}

// CheckCode compares code with link id's pending code. The right code is
// used up (it verifies once); a wrong one counts an attempt, and the last
// allowed wrong one locks. key is the one SetCode was given. Errors:
// ErrCodeWrong, ErrCodeLocked (also for the entry that locks), or one for
// a short key.
func CheckCode(ctx context.Context, q Querier, key []byte, id, code string, p CodePolicy, now time.Time) error {
	if err := checkCodeKey(key); err != nil {
		return err
	}
	var (
		hash     []byte
		expires  int64
		attempts int
		locked   sql.NullInt64
	)
	err := q.QueryRowContext(ctx, `SELECT code_hash, expires_at, attempts, locked_at FROM recipient_codes WHERE link_id = ?`, id).
		Scan(&hash, &expires, &attempts, &locked)
	if errors.Is(err, sql.ErrNoRows) {
		return ErrCodeWrong
	}
	if err != nil {
		return fmt.Errorf("read code of %s: %w", id, err)
	}
	n := ms(now)
	if locked.Valid && n < locked.Int64+p.Lock.Milliseconds() {
		return ErrCodeLocked
	}
	if n < expires && subtle.ConstantTimeCompare(hash, codeHash(key, id, code)) == 1 {
		// Used up: expires_at in the past, so it cannot verify twice.
		if _, err := q.ExecContext(ctx, `UPDATE recipient_codes SET expires_at = 0, attempts = 0 WHERE link_id = ?`, id); err != nil {
			return fmt.Errorf("use code of %s: %w", id, err)
		}
		return nil
	}
	attempts++
	var lockAt any
	if attempts >= p.MaxAttempts {
		lockAt = n
	}
	if _, err := q.ExecContext(ctx, `UPDATE recipient_codes SET attempts = ?, locked_at = ? WHERE link_id = ?`, attempts, lockAt, id); err != nil {
		return fmt.Errorf("count attempt on %s: %w", id, err)
	}
	if lockAt != nil {
		return ErrCodeLocked
	}
	return ErrCodeWrong
}

// AddVerified records that the browser holding the id whose SHA-256 is
// idHash has verified link id, until expires.
func AddVerified(ctx context.Context, q Querier, idHash []byte, id string, expires time.Time) error {
	if _, err := q.ExecContext(ctx, `INSERT INTO recipient_verifications (id_hash, link_id, expires_at) VALUES (?, ?, ?)`,
		idHash, id, ms(expires)); err != nil {
		return fmt.Errorf("record verification of %s: %w", id, err)
	}
	return nil
}

// IsVerified reports whether idHash vouches for link id at now.
func (s *Store) IsVerified(ctx context.Context, idHash []byte, id string, now time.Time) (bool, error) {
	var n int
	err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM recipient_verifications WHERE id_hash = ? AND link_id = ? AND expires_at > ?`,
		idHash, id, ms(now)).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("check verification of %s: %w", id, err)
	}
	return n > 0, nil
}
