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
// expiring it ends the session), or the person the identity provider
// signed in, and the CSRF token of their forms.
type Session struct {
	TokenID  string // "" for a person's session
	PersonID string // "" for a token's session
	CSRF     string
	Expires  time.Time
	// CheckedAt is when the provider last vouched for the person (the
	// sign-in, then each check); zero for a token's session.
	CheckedAt time.Time
	// RefreshSealed is the provider's refresh token, sealed by the
	// provider's key; "" when the provider issued none.
	RefreshSealed string
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
	return s.create(ctx, Session{TokenID: tokenID})
}

// CreatePerson starts a session for the person with personID, checked by
// the provider now, keeping the sealed refresh token for later checks
// ("" for none), and returns its id (for the cookie).
func (s *Sessions) CreatePerson(ctx context.Context, personID, refreshSealed string) (string, Session, error) {
	return s.create(ctx, Session{PersonID: personID, CheckedAt: s.now().Truncate(time.Millisecond), RefreshSealed: refreshSealed})
}

func (s *Sessions) create(ctx context.Context, sess Session) (string, Session, error) {
	if s.db == nil {
		return "", Session{}, ErrNoDatabase
	}
	id := RandomToken()
	now := s.now()
	sess.CSRF, sess.Expires = RandomToken(), now.Add(s.ttl).Truncate(time.Millisecond)
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
	if _, err := tx.ExecContext(ctx, `INSERT INTO console_sessions (id_hash, token_id, csrf, expires_at, person_id, checked_at, refresh_token)
            VALUES (?, ?, ?, ?, ?, ?, ?)`,
		idHash(id), sess.TokenID, sess.CSRF, sess.Expires.UnixMilli(), nullString(sess.PersonID), nullTime(sess.CheckedAt),
		nullString(sess.RefreshSealed)); err != nil {
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
	var (
		exp             int64
		person, refresh sql.NullString
		checked         sql.NullInt64
	)
	err = s.db.QueryRowContext(ctx, `SELECT token_id, csrf, expires_at, person_id, checked_at, refresh_token
        FROM console_sessions WHERE id_hash = ?`,
		idHash(id)).Scan(&sess.TokenID, &sess.CSRF, &exp, &person, &checked, &refresh)
	if errors.Is(err, sql.ErrNoRows) {
		return Session{}, false, nil
	}
	if err != nil {
		return Session{}, false, fmt.Errorf("read console session: %w", err)
	}
	sess.Expires = time.UnixMilli(exp).UTC()
	sess.PersonID, sess.RefreshSealed = person.String, refresh.String
	if checked.Valid {
		sess.CheckedAt = time.UnixMilli(checked.Int64).UTC()
	}
	if !s.now().Before(sess.Expires) {
		return Session{}, false, nil // removed by the next Create
	}
	return sess, true, nil
}

// Execer is what MarkChecked needs: a write transaction (db.BeginWrite)
// that also records what the check learnt of the person.
type Execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// MarkChecked records, in tx, that the provider vouched for the person of
// session id at at, with the refresh token it handed back (sealed; ""
// for none). It reports false when the session is gone (signed out
// meanwhile).
func (s *Sessions) MarkChecked(ctx context.Context, tx Execer, id string, at time.Time, refreshSealed string) (bool, error) {
	res, err := tx.ExecContext(ctx, `UPDATE console_sessions SET checked_at = ?, refresh_token = ? WHERE id_hash = ?`,
		at.UnixMilli(), nullString(refreshSealed), idHash(id))
	if err != nil {
		return false, fmt.Errorf("record the session check: %w", err)
	}
	n, err := res.RowsAffected()
	return n > 0, err
}

func nullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func nullTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UnixMilli()
}

// PendingLogin is a sign-in sent to the identity provider and not yet
// back: what the callback must check the answer against.
type PendingLogin struct {
	Nonce, Verifier string
	ReturnTo        string // console path to land on; "" is /ui/
}

// maxPendingLogins bounds the sign-ins awaiting the provider, so that a
// stranger requesting the sign-in address in a loop cannot fill the
// database; the oldest go first.
const maxPendingLogins = 10000

// BeginLogin records a sign-in sent to the provider under the SHA-256 of
// its state, valid for ttl, after removing expired ones.
func (s *Sessions) BeginLogin(ctx context.Context, state string, l PendingLogin, ttl time.Duration) error {
	if s.db == nil {
		return ErrNoDatabase
	}
	now := s.now()
	tx, err := db.BeginWrite(ctx, s.db)
	if err != nil {
		return fmt.Errorf("start sign-in: %w", err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `DELETE FROM oidc_logins WHERE expires_at <= ?`, now.UnixMilli()); err != nil {
		return fmt.Errorf("start sign-in: %w", err)
	}
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM oidc_logins`).Scan(&n); err != nil {
		return fmt.Errorf("start sign-in: %w", err)
	}
	if n >= maxPendingLogins {
		if _, err := tx.ExecContext(ctx, `DELETE FROM oidc_logins WHERE state_hash IN
            (SELECT state_hash FROM oidc_logins ORDER BY expires_at LIMIT ?)`, n-maxPendingLogins+1); err != nil {
			return fmt.Errorf("start sign-in: %w", err)
		}
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO oidc_logins (state_hash, nonce, pkce_verifier, return_to, expires_at) VALUES (?, ?, ?, ?, ?)`,
		idHash(state), l.Nonce, l.Verifier, l.ReturnTo, now.Add(ttl).UnixMilli()); err != nil {
		return fmt.Errorf("start sign-in: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("start sign-in: %w", err)
	}
	return nil
}

// TakeLogin removes and returns the pending sign-in of state, in one
// statement, so that a state is good for one callback only. ok is false
// for an unknown, used or expired state.
func (s *Sessions) TakeLogin(ctx context.Context, state string) (l PendingLogin, ok bool, err error) {
	if state == "" || len(state) > 200 {
		return PendingLogin{}, false, nil
	}
	if s.db == nil {
		return PendingLogin{}, false, ErrNoDatabase
	}
	var exp int64
	err = s.db.QueryRowContext(ctx, `DELETE FROM oidc_logins WHERE state_hash = ? RETURNING nonce, pkce_verifier, return_to, expires_at`,
		idHash(state)).Scan(&l.Nonce, &l.Verifier, &l.ReturnTo, &exp)
	if errors.Is(err, sql.ErrNoRows) {
		return PendingLogin{}, false, nil
	}
	if err != nil {
		return PendingLogin{}, false, fmt.Errorf("finish sign-in: %w", err)
	}
	if !s.now().Before(time.UnixMilli(exp)) {
		return PendingLogin{}, false, nil
	}
	return l, true, nil
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
