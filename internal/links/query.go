package links

import (
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Filter selects links for List and BulkRevoke. Zero fields match anything.
type Filter struct {
	State         State // live, revoked, expired, used_up or not_yet_valid
	CreatedBy     string
	Bucket        string
	KeyPrefix     string
	Kind          Kind
	CreatedAfter  time.Time // created_at >= CreatedAfter
	CreatedBefore time.Time // created_at < CreatedBefore
}

// Empty reports whether f matches every link.
func (f Filter) Empty() bool { return f == Filter{} }

// where returns the SQL condition and arguments for f at now.
func (f Filter) where(now time.Time) (string, []any, error) {
	var (
		conds []string
		args  []any
	)
	t := ms(now)
	switch f.State {
	case "":
	case StateLive:
		conds = append(conds, `revoked_at IS NULL AND expires_at > ? AND (max_uses IS NULL OR uses < max_uses) AND (not_before IS NULL OR not_before <= ?)`)
		args = append(args, t, t)
	case StateRevoked:
		conds = append(conds, `revoked_at IS NOT NULL`)
	case StateExpired:
		conds = append(conds, `revoked_at IS NULL AND expires_at <= ?`)
		args = append(args, t)
	case StateUsedUp:
		conds = append(conds, `revoked_at IS NULL AND expires_at > ? AND max_uses IS NOT NULL AND uses >= max_uses`)
		args = append(args, t)
	case StateNotYetValid:
		conds = append(conds, `revoked_at IS NULL AND expires_at > ? AND (max_uses IS NULL OR uses < max_uses) AND not_before > ?`)
		args = append(args, t, t)
	default:
		return "", nil, fmt.Errorf("%w: state %q is not one of live, revoked, expired, used_up, not_yet_valid", ErrInvalid, f.State)
	}
	if f.CreatedBy != "" {
		conds = append(conds, `created_by = ?`)
		args = append(args, f.CreatedBy)
	}
	if f.Bucket != "" {
		conds = append(conds, `bucket = ?`)
		args = append(args, f.Bucket)
	}
	if f.KeyPrefix != "" {
		// A range instead of LIKE: keys may contain % and _.
		conds = append(conds, `object_key >= ? AND object_key < ?`)
		args = append(args, f.KeyPrefix, f.KeyPrefix+"\U0010FFFF")
	}
	switch f.Kind {
	case "":
	case KindDownload, KindUpload:
		conds = append(conds, `kind = ?`)
		args = append(args, string(f.Kind))
	default:
		return "", nil, fmt.Errorf("%w: kind %q is not download or upload", ErrInvalid, f.Kind)
	}
	if !f.CreatedAfter.IsZero() {
		conds = append(conds, `created_at >= ?`)
		args = append(args, ms(f.CreatedAfter))
	}
	if !f.CreatedBefore.IsZero() {
		conds = append(conds, `created_at < ?`)
		args = append(args, ms(f.CreatedBefore))
	}
	if len(conds) == 0 {
		return "1=1", nil, nil
	}
	return "(" + strings.Join(conds, ") AND (") + ")", args, nil
}

// Page is one page of a listing. Next is the cursor of the following page,
// "" on the last one.
type Page struct {
	Links []*Link
	Next  string
}

// ErrBadCursor means a pagination cursor was not one this server issued.
var ErrBadCursor = errors.New("invalid cursor")

// List returns links matching f, newest first, limit at a time (1–500,
// default 100), starting after cursor. Errors: ErrInvalid for a bad filter,
// ErrBadCursor.
func (s *Store) List(ctx context.Context, f Filter, limit int, cursor string, now time.Time) (Page, error) {
	if limit <= 0 {
		limit = 100
	}
	if limit > 500 {
		limit = 500
	}
	where, args, err := f.where(now)
	if err != nil {
		return Page{}, err
	}
	if cursor != "" {
		at, id, err := decodeCursor(cursor)
		if err != nil {
			return Page{}, err
		}
		where += ` AND (created_at < ? OR (created_at = ? AND id < ?))`
		args = append(args, at, at, id)
	}
	args = append(args, limit+1)
	rows, err := s.db.QueryContext(ctx, `SELECT `+linkColumns+` FROM links WHERE `+where+
		` ORDER BY created_at DESC, id DESC LIMIT ?`, args...)
	if err != nil {
		return Page{}, fmt.Errorf("list links: %w", err)
	}
	defer rows.Close()
	var p Page
	for rows.Next() {
		l, err := scanLink(rows)
		if err != nil {
			return Page{}, fmt.Errorf("list links: %w", err)
		}
		p.Links = append(p.Links, l)
	}
	if err := rows.Err(); err != nil {
		return Page{}, fmt.Errorf("list links: %w", err)
	}
	if len(p.Links) > limit {
		p.Links = p.Links[:limit]
		last := p.Links[limit-1]
		p.Next = encodeCursor(ms(last.CreatedAt), last.ID)
	}
	return p, nil
}

func encodeCursor(at int64, id string) string {
	b := binary.BigEndian.AppendUint64(nil, uint64(at))
	return base64.RawURLEncoding.EncodeToString(append(b, id...))
}

func decodeCursor(c string) (int64, string, error) {
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil || len(b) < 9 || len(b) > 64 {
		return 0, "", ErrBadCursor
	}
	return int64(binary.BigEndian.Uint64(b[:8])), string(b[8:]), nil
}

// Count returns how many links match f and are not yet revoked: what
// BulkRevoke would revoke.
func (s *Store) Count(ctx context.Context, f Filter, now time.Time) (int, error) {
	where, args, err := f.where(now)
	if err != nil {
		return 0, err
	}
	var n int
	err = s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM links WHERE `+where+` AND revoked_at IS NULL`, args...).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("count links: %w", err)
	}
	return n, nil
}

// Unrevoked returns up to limit of the links Count counts (matching f, not
// yet revoked), newest first: a preview of what BulkRevoke would revoke.
// Errors: ErrInvalid for a bad filter.
func (s *Store) Unrevoked(ctx context.Context, f Filter, limit int, now time.Time) ([]*Link, error) {
	where, args, err := f.where(now)
	if err != nil {
		return nil, err
	}
	rows, err := s.db.QueryContext(ctx, `SELECT `+linkColumns+` FROM links WHERE `+where+
		` AND revoked_at IS NULL ORDER BY created_at DESC, id DESC LIMIT ?`, append(args, limit)...)
	if err != nil {
		return nil, fmt.Errorf("list unrevoked links: %w", err)
	}
	defer rows.Close()
	var out []*Link
	for rows.Next() {
		l, err := scanLink(rows)
		if err != nil {
			return nil, fmt.Errorf("list unrevoked links: %w", err)
		}
		out = append(out, l)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list unrevoked links: %w", err)
	}
	return out, nil
}

// BulkRevoke revokes every unrevoked link matching f and returns how many.
// An empty filter is refused with ErrInvalid unless all is set, so that a
// forgotten field cannot revoke everything.
func BulkRevoke(ctx context.Context, q Querier, f Filter, all bool, by, reason string, now time.Time) (int, error) {
	if f.Empty() && !all {
		return 0, fmt.Errorf("%w: an empty filter would revoke every link; say \"all\": true to mean that", ErrInvalid)
	}
	where, args, err := f.where(now)
	if err != nil {
		return 0, err
	}
	res, err := q.ExecContext(ctx, `UPDATE links SET revoked_at = ?, revoked_by = ?, revoke_reason = ?
        WHERE revoked_at IS NULL AND `+where, append([]any{ms(now), by, reason}, args...)...)
	if err != nil {
		return 0, fmt.Errorf("bulk revoke: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("bulk revoke: %w", err)
	}
	return int(n), nil
}

// KillSwitch is the state of the service-wide stop.
type KillSwitch struct {
	On     bool
	Reason string
	Since  time.Time
	By     string
}

func killSwitch(ctx context.Context, q Querier) (bool, string, error) {
	var reason string
	err := q.QueryRowContext(ctx, `SELECT value FROM settings WHERE name = 'killswitch'`).Scan(&reason)
	if errors.Is(err, sql.ErrNoRows) {
		return false, "", nil
	}
	if err != nil {
		return false, "", fmt.Errorf("read kill switch: %w", err)
	}
	return true, reason, nil
}

// KillSwitchOn reports whether the kill switch is on, for those who need
// only that (the mail worker holds the queue while it is).
func (s *Store) KillSwitchOn(ctx context.Context) (bool, error) {
	on, _, err := killSwitch(ctx, s.db)
	return on, err
}

// GetKillSwitch returns the kill switch's state.
func (s *Store) GetKillSwitch(ctx context.Context) (KillSwitch, error) {
	var (
		k  KillSwitch
		at int64
	)
	err := s.db.QueryRowContext(ctx, `SELECT value, updated_at, updated_by FROM settings WHERE name = 'killswitch'`).Scan(&k.Reason, &at, &k.By)
	if errors.Is(err, sql.ErrNoRows) {
		return KillSwitch{}, nil
	}
	if err != nil {
		return KillSwitch{}, fmt.Errorf("read kill switch: %w", err)
	}
	k.On, k.Since = true, fromMS(at)
	return k, nil
}

// SetKillSwitch turns the kill switch on (stopping every link from minting,
// on every instance, from the next request) or off, and reports whether it
// changed.
func SetKillSwitch(ctx context.Context, q Querier, on bool, reason, by string, now time.Time) (bool, error) {
	var (
		res sql.Result
		err error
	)
	if on {
		res, err = q.ExecContext(ctx, `INSERT INTO settings (name, value, updated_at, updated_by)
            SELECT 'killswitch', ?, ?, ? WHERE NOT EXISTS (SELECT 1 FROM settings WHERE name = 'killswitch')`, reason, ms(now), by)
	} else {
		res, err = q.ExecContext(ctx, `DELETE FROM settings WHERE name = 'killswitch'`)
	}
	if err != nil {
		return false, fmt.Errorf("set kill switch: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("set kill switch: %w", err)
	}
	return n > 0, nil
}
