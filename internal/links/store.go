package links

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"time"
)

// Querier is what the store needs from *sql.DB or *sql.Tx, so that a link
// change and its audit row can share one transaction.
type Querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// Store reads links. Writes take a Querier so that they happen inside the
// audit writer's transaction.
type Store struct {
	db *sql.DB

	// byCode is prepared once: the share route runs it on every request,
	// and SQLite spends more time parsing it than running it.
	mu     sync.Mutex
	byCode *sql.Stmt
	cache  cache
}

// NewStore returns a Store reading from db.
func NewStore(db *sql.DB) *Store { return &Store{db: db} }

const linkColumns = `id, kind, bucket, object_key, created_at, created_by, not_before, expires_at,
    max_uses, uses, presign_ttl_ms, note, filename, last_access_at, revoked_at, revoked_by, revoke_reason,
    max_bytes, content_type, key_is_prefix, share_id, recipient, confirm, direct, notify, notify_mode, first_open_at,
    grant_id, grant_prefix, verify_recipient, object_bytes`

// Get returns the link with the given public id, or ErrNotFound.
func (s *Store) Get(ctx context.Context, id string) (*Link, error) {
	return get(ctx, s.db, id)
}

// ByCode returns the link a code opens, or ErrNotFound. A malformed code is
// ErrNotFound without a query.
func (s *Store) ByCode(ctx context.Context, code string) (*Link, error) {
	if !ValidCode(code) {
		return nil, ErrNotFound
	}
	return s.byHash(ctx, HashCode(code))
}

// byHash reads the link whose code hashes to h. Errors: ErrNotFound.
func (s *Store) byHash(ctx context.Context, h [32]byte) (*Link, error) {
	stmt, err := s.byCodeStmt(ctx)
	if err != nil {
		return nil, fmt.Errorf("look up link by code: %w", err)
	}
	l, err := scanLink(stmt.QueryRowContext(ctx, h[:]))
	if err != nil {
		return nil, fmt.Errorf("look up link by code: %w", err)
	}
	return l, nil
}

// byCodeStmt prepares the lookup by code once; a failure is retried on the
// next call.
func (s *Store) byCodeStmt(ctx context.Context) (*sql.Stmt, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.byCode == nil {
		st, err := s.db.PrepareContext(ctx, `SELECT `+linkColumns+` FROM links WHERE code_hash = ?`)
		if err != nil {
			return nil, err
		}
		s.byCode = st
	}
	return s.byCode, nil
}

func get(ctx context.Context, q Querier, id string) (*Link, error) {
	l, err := scanLink(q.QueryRowContext(ctx, `SELECT `+linkColumns+` FROM links WHERE id = ?`, id))
	if err != nil {
		return nil, fmt.Errorf("get link %s: %w", id, err)
	}
	return l, nil
}

// Insert stores a new link under the hash of its code.
func Insert(ctx context.Context, q Querier, l *Link, codeHash []byte) error {
	var maxBytes any
	if l.MaxBytes > 0 {
		maxBytes = l.MaxBytes
	}
	prefix := 0
	if l.KeyIsPrefix {
		prefix = 1
	}
	var shareID any
	if l.ShareID != "" {
		shareID = l.ShareID
	}
	var grantID, grantPrefix any
	if l.GrantID != "" {
		grantID, grantPrefix = l.GrantID, l.GrantPrefix
	}
	var objectBytes any
	if l.ObjectBytes != nil {
		objectBytes = *l.ObjectBytes
	}
	// Direct only matters on a link with Confirm; every other link
	// redirects whoever asks.
	_, err := q.ExecContext(ctx, `INSERT INTO links (id, code_hash, kind, bucket, object_key, created_at, created_by,
        not_before, expires_at, max_uses, uses, presign_ttl_ms, note, filename, max_bytes, content_type, key_is_prefix,
        share_id, recipient, confirm, direct, notify, notify_mode, grant_id, grant_prefix, verify_recipient, object_bytes)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		l.ID, codeHash, string(l.Kind), l.Bucket, l.Key, ms(l.CreatedAt), l.CreatedBy,
		nullMS(l.NotBefore), ms(l.ExpiresAt), nullInt(l.MaxUses), l.PresignTTL.Milliseconds(), l.Note, l.Filename,
		maxBytes, l.ContentType, prefix, shareID, l.Recipient, boolInt(l.Confirm), boolInt(l.Direct || !l.Confirm),
		l.Notify, l.NotifyMode, grantID, grantPrefix, boolInt(l.VerifyRecipient), objectBytes)
	if err != nil {
		return fmt.Errorf("insert link: %w", err)
	}
	return nil
}

// Revoke marks a link revoked and returns it. Revoking a revoked link changes
// nothing and returns it with ErrRevoked. Errors: ErrNotFound, ErrRevoked.
func Revoke(ctx context.Context, q Querier, id, by, reason string, at time.Time) (*Link, error) {
	res, err := q.ExecContext(ctx, `UPDATE links SET revoked_at = ?, revoked_by = ?, revoke_reason = ?
        WHERE id = ? AND revoked_at IS NULL`, ms(at), by, reason, id)
	if err != nil {
		return nil, fmt.Errorf("revoke link %s: %w", id, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return nil, fmt.Errorf("revoke link %s: %w", id, err)
	}
	l, err := get(ctx, q, id)
	if err != nil {
		return nil, err
	}
	if n == 0 {
		return l, ErrRevoked
	}
	return l, nil
}

// rowScanner is *sql.Row or *sql.Rows.
type rowScanner interface{ Scan(...any) error }

func scanLink(row rowScanner) (*Link, error) {
	var (
		l                                         Link
		kind                                      string
		createdAt, expiresAt, ttl                 int64
		notBefore, maxUses, lastAccess, revokedAt sql.NullInt64
		revokedBy, revokeReason                   sql.NullString
		maxBytes                                  sql.NullInt64
		prefix                                    int
		shareID                                   sql.NullString
		confirm, direct, verify                   int
		firstOpen                                 sql.NullInt64
		grantID, grantPrefix                      sql.NullString
		objectBytes                               sql.NullInt64
	)
	err := row.Scan(&l.ID, &kind, &l.Bucket, &l.Key, &createdAt, &l.CreatedBy, &notBefore, &expiresAt,
		&maxUses, &l.Uses, &ttl, &l.Note, &l.Filename, &lastAccess, &revokedAt, &revokedBy, &revokeReason,
		&maxBytes, &l.ContentType, &prefix, &shareID, &l.Recipient, &confirm, &direct, &l.Notify, &l.NotifyMode, &firstOpen,
		&grantID, &grantPrefix, &verify, &objectBytes)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	l.Kind = Kind(kind)
	l.CreatedAt = fromMS(createdAt)
	l.ExpiresAt = fromMS(expiresAt)
	l.PresignTTL = time.Duration(ttl) * time.Millisecond
	if notBefore.Valid {
		l.NotBefore = fromMS(notBefore.Int64)
	}
	if maxUses.Valid {
		l.MaxUses = int(maxUses.Int64)
	}
	if lastAccess.Valid {
		l.LastAccessAt = fromMS(lastAccess.Int64)
	}
	if revokedAt.Valid {
		l.RevokedAt = fromMS(revokedAt.Int64)
	}
	l.MaxBytes = maxBytes.Int64
	l.KeyIsPrefix = prefix != 0
	l.ShareID = shareID.String
	l.Confirm, l.Direct = confirm != 0, direct != 0
	l.VerifyRecipient = verify != 0
	if firstOpen.Valid {
		l.FirstOpenAt = fromMS(firstOpen.Int64)
	}
	l.RevokedBy = revokedBy.String
	l.RevokeReason = revokeReason.String
	l.GrantID, l.GrantPrefix = grantID.String, grantPrefix.String
	if objectBytes.Valid {
		n := objectBytes.Int64
		l.ObjectBytes = &n
	}
	return &l, nil
}

func ms(t time.Time) int64 { return t.UnixMilli() }

func fromMS(v int64) time.Time { return time.UnixMilli(v).UTC() }

func nullMS(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UnixMilli()
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func nullInt(v int) any {
	if v == 0 {
		return nil
	}
	return v
}

// Get returns link id as q sees it, so that a change can read the link
// inside its own transaction. Errors: ErrNotFound.
func Get(ctx context.Context, q Querier, id string) (*Link, error) { return get(ctx, q, id) }

// Amend sets link id's expiry, use cap (0: none) and note, and returns the
// link as changed. It changes nothing on a revoked link, nor when the link
// has spent more uses than the new cap; both conditions are part of the
// UPDATE, so a revocation or a use committed meanwhile (by another
// instance, too) wins. Errors: ErrNotFound, ErrRevoked, ErrInvalid (the cap
// is below the uses spent).
func Amend(ctx context.Context, q Querier, id string, expiresAt time.Time, maxUses int, note string) (*Link, error) {
	query := `UPDATE links SET expires_at = ?, max_uses = ?, note = ? WHERE id = ? AND revoked_at IS NULL`
	args := []any{ms(expiresAt), nullInt(maxUses), note, id}
	if maxUses > 0 {
		query += ` AND uses <= ?`
		args = append(args, maxUses)
	}
	res, err := q.ExecContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("amend link %s: %w", id, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return nil, fmt.Errorf("amend link %s: %w", id, err)
	}
	l, err := get(ctx, q, id)
	if err != nil {
		return nil, err
	}
	switch {
	case n == 1:
		return l, nil
	case !l.RevokedAt.IsZero():
		return nil, fmt.Errorf("amend link %s: %w", id, ErrRevoked)
	default:
		return nil, fmt.Errorf("%w: max_uses %d is below the %d uses the link has already spent", ErrInvalid, maxUses, l.Uses)
	}
}
