// Package auth owns API tokens and the roles they carry. A token's secret is
// shown once when it is created; the database keeps its SHA-256 hash.
package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/sharesvc/sharesvc/internal/db"
)

// Errors returned by this package.
var (
	// ErrUnauthenticated means no token, or one that is unknown, expired or revoked.
	ErrUnauthenticated = errors.New("missing or invalid API token")
	// ErrForbidden means the token's role may not do this.
	ErrForbidden = errors.New("not allowed for this role")
	// ErrNotFound means no token has that id or name.
	ErrNotFound = errors.New("token not found")
	// ErrInvalid means a token to be created breaks a rule; the wrapped
	// message names the field.
	ErrInvalid = errors.New("invalid token")
	// ErrExists means a token with that name exists.
	ErrExists = errors.New("token name already in use")
)

// Role is what a token may do.
type Role string

// Roles.
const (
	RoleAdmin   Role = "admin"   // everything about links and tokens
	RoleSharer  Role = "sharer"  // create links; see and revoke their own
	RoleAuditor Role = "auditor" // read links and the audit log; never writes
)

// ParseRole returns the role named s, or ErrInvalid.
func ParseRole(s string) (Role, error) {
	switch r := Role(s); r {
	case RoleAdmin, RoleSharer, RoleAuditor:
		return r, nil
	}
	return "", fmt.Errorf("%w: role %q is not one of admin, sharer, auditor", ErrInvalid, s)
}

// Token is an API token without its secret.
type Token struct {
	ID         string
	Name       string
	Role       Role
	CreatedAt  time.Time
	CreatedBy  string
	ExpiresAt  time.Time // zero: never
	RevokedAt  time.Time // zero: valid
	LastUsedAt time.Time // zero: never used
	// DisplayName and Email are the person's name and address in the mail
	// sent on their behalf; "" when not given.
	DisplayName string
	Email       string
	// Owner is the person who minted the token for their own scripts; ""
	// for tokens an admin or the CLI made. An owned token acts as its
	// owner, with the owner's current role (Authenticate resolves it).
	Owner string
	// Groups are the provider's groups of the owner when Authenticate
	// resolved them from the owner's person; nil otherwise.
	Groups []string
}

// Person is the name the token acts under: its owner's, else its own.
func (t *Token) Person() string {
	if t.Owner != "" {
		return t.Owner
	}
	return t.Name
}

// secretPrefix marks sharesvc tokens so that secret scanners can find leaks.
const secretPrefix = "sst_"

// NewSecret returns a fresh token secret (192 bits from crypto/rand) and its hash.
func NewSecret() (secret string, hash []byte) {
	var b [24]byte
	rand.Read(b[:])
	secret = secretPrefix + base64.RawURLEncoding.EncodeToString(b[:])
	h := sha256.Sum256([]byte(secret))
	return secret, h[:]
}

// NewID returns a fresh public token id.
func NewID() string {
	var b [8]byte
	rand.Read(b[:])
	return "tok_" + strings.ToLower(base64.RawURLEncoding.EncodeToString(b[:]))
}

var namePattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._@+-]{0,63}$`)

// ValidateName returns ErrInvalid unless name is 1–64 characters of letters,
// digits and ._@+- starting with a letter or digit.
func ValidateName(name string) error {
	if !namePattern.MatchString(name) {
		return fmt.Errorf("%w: name %q must be 1-64 characters of letters, digits and ._@+- starting with a letter or digit", ErrInvalid, name)
	}
	return nil
}

// Querier is what Insert needs from *sql.DB or *sql.Tx.
type Querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// Insert stores a new token under the hash of its secret. Errors: ErrExists.
func Insert(ctx context.Context, q Querier, t *Token, hash []byte) error {
	var exp, owner any
	if !t.ExpiresAt.IsZero() {
		exp = t.ExpiresAt.UnixMilli()
	}
	if t.Owner != "" {
		owner = t.Owner
	}
	_, err := q.ExecContext(ctx, `INSERT INTO api_tokens (id, name, role, token_hash, created_at, created_by, expires_at, display_name, email, owner)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, t.ID, t.Name, string(t.Role), hash, t.CreatedAt.UnixMilli(), t.CreatedBy, exp, t.DisplayName, t.Email, owner)
	// The name's UNIQUE constraint decides, not a lookup before the insert:
	// a lookup is safe only while every writer takes one lock first (SQLite's
	// BEGIN IMMEDIATE); two PostgreSQL instances could both see the name
	// free. The id (64 random bits) and the hash (of 192 random bits) are
	// unique too, but only a reused name collides in practice.
	if db.IsUniqueViolation(err) {
		return fmt.Errorf("%w: %q", ErrExists, t.Name)
	}
	if err != nil {
		return fmt.Errorf("insert token: %w", err)
	}
	return nil
}

// Store authenticates tokens.
type Store struct {
	db *sql.DB
}

// NewStore returns a Store on db.
func NewStore(db *sql.DB) *Store { return &Store{db: db} }

// lastUsedResolution bounds how often authentication writes last_used_at.
const lastUsedResolution = time.Minute

// Authenticate returns the live token whose secret this is. Errors:
// ErrUnauthenticated for anything else.
func (s *Store) Authenticate(ctx context.Context, secret string, now time.Time) (*Token, error) {
	if !strings.HasPrefix(secret, secretPrefix) || len(secret) > 128 {
		return nil, ErrUnauthenticated
	}
	h := sha256.Sum256([]byte(secret))
	t, err := scanToken(s.db.QueryRowContext(ctx, `SELECT `+tokenColumns+` FROM api_tokens WHERE token_hash = ?`, h[:]))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrUnauthenticated
	}
	if err != nil {
		return nil, fmt.Errorf("authenticate: %w", err)
	}
	if !t.RevokedAt.IsZero() || !t.ExpiresAt.IsZero() && !now.Before(t.ExpiresAt) {
		return nil, ErrUnauthenticated
	}
	if err := ResolveOwner(ctx, s.db, t, now); err != nil {
		return nil, err
	}
	if now.Sub(t.LastUsedAt) >= lastUsedResolution {
		if _, err := s.db.ExecContext(ctx, `UPDATE api_tokens SET last_used_at = ? WHERE id = ?`, now.UnixMilli(), t.ID); err != nil {
			return nil, fmt.Errorf("authenticate: record use: %w", err)
		}
		t.LastUsedAt = now
	}
	return t, nil
}

// ResolveOwner gives an owned token t the standing of its owner now, in
// place: when a person of that name exists (someone who signs in through
// the identity provider) they must be active, and t takes their current
// role (an admin's override, else their groups') and groups; otherwise the
// owner must hold a live token of their own name (someone who signs in
// with a token), whose role t takes. A token without an owner is left as
// it is. Errors: ErrUnauthenticated when the owner may no longer act.
func ResolveOwner(ctx context.Context, q Querier, t *Token, now time.Time) error {
	if t.Owner == "" {
		return nil
	}
	// The people table is read here, not through internal/people, which
	// imports this package.
	var (
		groupRole, groups string
		override          sql.NullString
		disabled          sql.NullInt64
	)
	err := q.QueryRowContext(ctx, `SELECT role, role_override, groups, disabled_at FROM people WHERE name = ?`, t.Owner).
		Scan(&groupRole, &override, &groups, &disabled)
	switch {
	case err == nil:
		if disabled.Valid {
			return ErrUnauthenticated
		}
		t.Role = Role(groupRole)
		if override.Valid && override.String != "" {
			t.Role = Role(override.String)
		}
		t.Groups = nil
		if err := json.Unmarshal([]byte(groups), &t.Groups); err != nil {
			return fmt.Errorf("authenticate: groups of %s: %w", t.Owner, err)
		}
		return nil
	case !errors.Is(err, sql.ErrNoRows):
		return fmt.Errorf("authenticate: owner %s: %w", t.Owner, err)
	}
	own, err := ByName(ctx, q, t.Owner)
	if errors.Is(err, ErrNotFound) {
		return ErrUnauthenticated
	}
	if err != nil {
		return fmt.Errorf("authenticate: owner %s: %w", t.Owner, err)
	}
	if own.Owner != "" || !own.RevokedAt.IsZero() || !own.ExpiresAt.IsZero() && !now.Before(own.ExpiresAt) {
		return ErrUnauthenticated
	}
	t.Role, t.Groups = own.Role, nil
	return nil
}

const tokenColumns = `id, name, role, created_at, created_by, expires_at, revoked_at, last_used_at, display_name, email, owner`

func scanToken(s interface{ Scan(...any) error }) (*Token, error) {
	var (
		t                          Token
		role                       string
		created                    int64
		expires, revoked, lastUsed sql.NullInt64
		owner                      sql.NullString
	)
	if err := s.Scan(&t.ID, &t.Name, &role, &created, &t.CreatedBy, &expires, &revoked, &lastUsed, &t.DisplayName, &t.Email, &owner); err != nil {
		return nil, err
	}
	t.Owner = owner.String
	t.Role = Role(role)
	t.CreatedAt = time.UnixMilli(created).UTC()
	if expires.Valid {
		t.ExpiresAt = time.UnixMilli(expires.Int64).UTC()
	}
	if revoked.Valid {
		t.RevokedAt = time.UnixMilli(revoked.Int64).UTC()
	}
	if lastUsed.Valid {
		t.LastUsedAt = time.UnixMilli(lastUsed.Int64).UTC()
	}
	return &t, nil
}

// List returns every token, newest first, without secrets.
func (s *Store) List(ctx context.Context) ([]*Token, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+tokenColumns+` FROM api_tokens ORDER BY created_at DESC, id DESC`)
	if err != nil {
		return nil, fmt.Errorf("list tokens: %w", err)
	}
	defer rows.Close()
	var out []*Token
	for rows.Next() {
		t, err := scanToken(rows)
		if err != nil {
			return nil, fmt.Errorf("list tokens: %w", err)
		}
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list tokens: %w", err)
	}
	return out, nil
}

// ByID returns the token with the given id, revoked or expired ones too
// (the caller decides). Errors: ErrNotFound.
func (s *Store) ByID(ctx context.Context, id string) (*Token, error) { return Get(ctx, s.db, id) }

// Get returns the token with the given id. Errors: ErrNotFound.
func Get(ctx context.Context, q Querier, id string) (*Token, error) {
	t, err := scanToken(q.QueryRowContext(ctx, `SELECT `+tokenColumns+` FROM api_tokens WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	if err != nil {
		return nil, fmt.Errorf("get token %s: %w", id, err)
	}
	return t, nil
}

// Revoke disables the token with the given id and returns it; revoking a
// revoked token changes nothing. Errors: ErrNotFound.
func Revoke(ctx context.Context, q Querier, id string, now time.Time) (*Token, error) {
	if _, err := q.ExecContext(ctx, `UPDATE api_tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL`, now.UnixMilli(), id); err != nil {
		return nil, fmt.Errorf("revoke token %s: %w", id, err)
	}
	return Get(ctx, q, id)
}

// RevokeByName disables the live token of the person called name (tokens
// are unique by name) and reports how many were disabled (0 or 1).
func RevokeByName(ctx context.Context, q Querier, name string, now time.Time) (int, error) {
	res, err := q.ExecContext(ctx, `UPDATE api_tokens SET revoked_at = ? WHERE name = ? AND revoked_at IS NULL`, now.UnixMilli(), name)
	if err != nil {
		return 0, fmt.Errorf("revoke tokens of %s: %w", name, err)
	}
	n, err := res.RowsAffected()
	return int(n), err
}

// Rotate replaces the secret of live token id with the one hashed as hash
// and returns the token: the old secret stops working at once (no overlap:
// a rotation is usually made because the old one may have leaked). The
// name, role and so the links and grants of the person stay. A token a
// person minted for themselves is never rotated: its new secret would let
// whoever rotated it act as that person; its owner revokes it and mints
// another. Errors: ErrNotFound (no such token, or it is revoked or owned).
func Rotate(ctx context.Context, q Querier, id string, hash []byte) (*Token, error) {
	res, err := q.ExecContext(ctx, `UPDATE api_tokens SET token_hash = ? WHERE id = ? AND revoked_at IS NULL AND owner IS NULL`, hash, id)
	if err != nil {
		return nil, fmt.Errorf("rotate token %s: %w", id, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return nil, fmt.Errorf("rotate token %s: %w", id, err)
	} else if n == 0 {
		return nil, fmt.Errorf("%w: %s (or revoked, or a person's own token, which only its owner may replace)", ErrNotFound, id)
	}
	return Get(ctx, q, id)
}

// SetPerson sets the display name and address of the person holding token
// id. Errors: ErrNotFound.
func SetPerson(ctx context.Context, q Querier, id, displayName, email string) (*Token, error) {
	res, err := q.ExecContext(ctx, `UPDATE api_tokens SET display_name = ?, email = ? WHERE id = ?`, displayName, email, id)
	if err != nil {
		return nil, fmt.Errorf("update token %s: %w", id, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return nil, fmt.Errorf("update token %s: %w", id, err)
	} else if n == 0 {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	return Get(ctx, q, id)
}

// ByName returns the token of the person called name. Errors: ErrNotFound.
func ByName(ctx context.Context, q Querier, name string) (*Token, error) {
	t, err := scanToken(q.QueryRowContext(ctx, `SELECT `+tokenColumns+` FROM api_tokens WHERE name = ?`, name))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, name)
	}
	if err != nil {
		return nil, fmt.Errorf("get token %s: %w", name, err)
	}
	return t, nil
}

// Owned returns the tokens owner minted for themselves, revoked and expired
// ones too, newest first.
func (s *Store) Owned(ctx context.Context, owner string) ([]*Token, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+tokenColumns+` FROM api_tokens WHERE owner = ? ORDER BY created_at DESC, id DESC`, owner)
	if err != nil {
		return nil, fmt.Errorf("list tokens of %s: %w", owner, err)
	}
	defer rows.Close()
	var out []*Token
	for rows.Next() {
		t, err := scanToken(rows)
		if err != nil {
			return nil, fmt.Errorf("list tokens of %s: %w", owner, err)
		}
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list tokens of %s: %w", owner, err)
	}
	return out, nil
}

// RevokeOwned disables token id if owner minted it and returns it;
// revoking a revoked token changes nothing. Errors: ErrNotFound, also for
// someone else's token, so that ids of others' tokens are never confirmed.
func RevokeOwned(ctx context.Context, q Querier, id, owner string, now time.Time) (*Token, error) {
	t, err := Get(ctx, q, id)
	if err != nil {
		return nil, err
	}
	if owner == "" || t.Owner != owner {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	return Revoke(ctx, q, id, now)
}

// RevokeOwner disables every live token owner minted for themselves and
// reports how many.
func RevokeOwner(ctx context.Context, q Querier, owner string, now time.Time) (int, error) {
	res, err := q.ExecContext(ctx, `UPDATE api_tokens SET revoked_at = ? WHERE owner = ? AND revoked_at IS NULL`, now.UnixMilli(), owner)
	if err != nil {
		return 0, fmt.Errorf("revoke tokens owned by %s: %w", owner, err)
	}
	n, err := res.RowsAffected()
	return int(n), err
}

// ResolveOwner is ResolveOwner on the store's database.
func (s *Store) ResolveOwner(ctx context.Context, t *Token, now time.Time) error {
	return ResolveOwner(ctx, s.db, t, now)
}
