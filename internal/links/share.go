package links

import (
	"context"
	"fmt"
	"time"
)

// A share is the set of links created together for the recipients of one
// email: one link (and so one code, one use count, one audit trail) per
// recipient, all carrying the same ShareID.

// ByShare returns the links of a share in creation order, or ErrNotFound
// when the share has none.
func (s *Store) ByShare(ctx context.Context, shareID string) ([]*Link, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+linkColumns+` FROM links WHERE share_id = ? ORDER BY created_at, recipient`, shareID)
	if err != nil {
		return nil, fmt.Errorf("list share %s: %w", shareID, err)
	}
	defer rows.Close()
	var out []*Link
	for rows.Next() {
		l, err := scanLink(rows)
		if err != nil {
			return nil, fmt.Errorf("list share %s: %w", shareID, err)
		}
		out = append(out, l)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list share %s: %w", shareID, err)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("share %s: %w", shareID, ErrNotFound)
	}
	return out, nil
}

// RevokeShare revokes every unrevoked link of a share and returns how many
// it revoked (0 when all already were).
func RevokeShare(ctx context.Context, q Querier, shareID, by, reason string, at time.Time) (int, error) {
	res, err := q.ExecContext(ctx, `UPDATE links SET revoked_at = ?, revoked_by = ?, revoke_reason = ?
        WHERE share_id = ? AND revoked_at IS NULL`, ms(at), by, reason, shareID)
	if err != nil {
		return 0, fmt.Errorf("revoke share %s: %w", shareID, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("revoke share %s: %w", shareID, err)
	}
	return int(n), nil
}

// MarkFirstOpen records at as the link's first open and reports whether
// this call was the first: it is true exactly once per link, however many
// opens race, because the check and the write are one statement inside the
// writer's transaction.
func MarkFirstOpen(ctx context.Context, q Querier, id string, at time.Time) (bool, error) {
	res, err := q.ExecContext(ctx, `UPDATE links SET first_open_at = ? WHERE id = ? AND first_open_at IS NULL`, ms(at), id)
	if err != nil {
		return false, fmt.Errorf("mark first open of %s: %w", id, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("mark first open of %s: %w", id, err)
	}
	return n == 1, nil
}

// RevokeByGrant revokes every unrevoked link created under grant grantID
// and returns how many it revoked.
func RevokeByGrant(ctx context.Context, q Querier, grantID, by, reason string, at time.Time) (int, error) {
	res, err := q.ExecContext(ctx, `UPDATE links SET revoked_at = ?, revoked_by = ?, revoke_reason = ?
        WHERE grant_id = ? AND revoked_at IS NULL`, ms(at), by, reason, grantID)
	if err != nil {
		return 0, fmt.Errorf("revoke links of grant %s: %w", grantID, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("revoke links of grant %s: %w", grantID, err)
	}
	return int(n), nil
}
