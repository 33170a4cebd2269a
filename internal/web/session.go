package web

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"database/sql"
	"encoding/base64"
	"errors"
	"fmt"
	"time"

	"github.com/sharesvc/sharesvc/internal/db"
)

// Session is a signed-in console user: the API token they signed in with
// (by id: the token itself is re-read on every request, so revoking or
// expiring it ends the session) and the CSRF token of their forms.
type Session struct {
	TokenID string
	CSRF    string
	Expires time.Time
}

// Sessions keeps console sessions in the database (table
// console_sessions), keyed by the SHA-256 of the session id: the id itself
// lives only in the browser's cookie. Sessions survive a restart and are
// shared by every instance on the same database. It holds at most max
// sessions: when full, expired ones go first, then the one closest to
// expiry.
type Sessions struct {
	db  *sql.DB
	max int
	ttl time.Duration
	now func() time.Time
}

// ErrNoDatabase means Sessions was built without a database.
var ErrNoDatabase = errors.New("console sessions: no database")

// NewSessions returns a store on db of at most max sessions, each valid
// for ttl.
func NewSessions(db *sql.DB, max int, ttl time.Duration, now func() time.Time) *Sessions {
	if now == nil {
		now = time.Now
	}
	return &Sessions{db: db, max: max, ttl: ttl, now: now}
}

// RandomToken returns 32 random bytes, base64url-encoded.
func RandomToken() string {
	var b [32]byte
	rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

func idHash(id string) []byte {
	h := sha256.Sum256([]byte(id))
	return h[:]
}

// Create starts a session for tokenID and returns its id (for the cookie).
func (s *Sessions) Create(ctx context.Context, tokenID string) (string, Session, error) {
	if s.db == nil {
		return "", Session{}, ErrNoDatabase
	}
	id := RandomToken()
	now := s.now()
	sess := Session{TokenID: tokenID, CSRF: RandomToken(), Expires: now.Add(s.ttl).Truncate(time.Millisecond)}
	// The write lock makes count-then-insert safe against other instances.
	tx, err := db.BeginWrite(ctx, s.db)
	if err != nil {
		return "", Session{}, fmt.Errorf("start console session: %w", err)
	}
	defer tx.Rollback()
	// Make room: expired sessions first, then those closest to expiry.
	if _, err := tx.ExecContext(ctx, `DELETE FROM console_sessions WHERE expires_at <= ?`, now.UnixMilli()); err != nil {
		return "", Session{}, fmt.Errorf("start console session: %w", err)
	}
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM console_sessions`).Scan(&n); err != nil {
		return "", Session{}, fmt.Errorf("start console session: %w", err)
	}
	if n >= s.max {
		if _, err := tx.ExecContext(ctx, `DELETE FROM console_sessions WHERE id_hash IN
            (SELECT id_hash FROM console_sessions ORDER BY expires_at LIMIT ?)`, n-s.max+1); err != nil {
			return "", Session{}, fmt.Errorf("start console session: %w", err)
		}
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO console_sessions (id_hash, token_id, csrf, expires_at) VALUES (?, ?, ?, ?)`,
		idHash(id), tokenID, sess.CSRF, sess.Expires.UnixMilli()); err != nil {
		return "", Session{}, fmt.Errorf("start console session: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return "", Session{}, fmt.Errorf("start console session: %w", err)
	}
	return id, sess, nil
}

// Get returns the live session with this id; ok is false for an unknown,
// malformed or expired one.
func (s *Sessions) Get(ctx context.Context, id string) (sess Session, ok bool, err error) {
	if id == "" || len(id) > 100 {
		return Session{}, false, nil
	}
	if s.db == nil {
		return Session{}, false, ErrNoDatabase
	}
	var exp int64
	err = s.db.QueryRowContext(ctx, `SELECT token_id, csrf, expires_at FROM console_sessions WHERE id_hash = ?`,
		idHash(id)).Scan(&sess.TokenID, &sess.CSRF, &exp)
	if errors.Is(err, sql.ErrNoRows) {
		return Session{}, false, nil
	}
	if err != nil {
		return Session{}, false, fmt.Errorf("read console session: %w", err)
	}
	sess.Expires = time.UnixMilli(exp).UTC()
	if !s.now().Before(sess.Expires) {
		return Session{}, false, nil // removed by the next Create
	}
	return sess, true, nil
}

// Delete ends the session with this id.
func (s *Sessions) Delete(ctx context.Context, id string) error {
	if s.db == nil {
		return ErrNoDatabase
	}
	if _, err := s.db.ExecContext(ctx, `DELETE FROM console_sessions WHERE id_hash = ?`, idHash(id)); err != nil {
		return fmt.Errorf("end console session: %w", err)
	}
	return nil
}

// Len is the number of sessions held, expired ones not yet removed
// included.
func (s *Sessions) Len(ctx context.Context) (int, error) {
	if s.db == nil {
		return 0, ErrNoDatabase
	}
	var n int
	if err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM console_sessions`).Scan(&n); err != nil {
		return 0, fmt.Errorf("count console sessions: %w", err)
	}
	return n, nil
}

// Equal compares two secrets in constant time.
func Equal(a, b string) bool {
	return a != "" && subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

// PruneSessions deletes at most limit console sessions expired at now, in
// one statement (the janitor calls it in a loop, so that the write lock is
// held briefly), and reports how many it deleted.
func PruneSessions(ctx context.Context, d *sql.DB, now time.Time, limit int) (int64, error) {
	return pruneExpired(ctx, d, "console sessions", `DELETE FROM console_sessions WHERE id_hash IN
        (SELECT id_hash FROM console_sessions WHERE expires_at <= ? LIMIT ?)`, now, limit)
}
