package links

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/sharesvc/sharesvc/internal/db"
)

// Rows of this package that outlive their use are removed in batches by
// the janitor (internal/janitor), on one instance at a time. Each function
// deletes at most limit rows in one statement, so that the write lock is
// held briefly, and reports how many it deleted: fewer than limit means
// none are left.

// PendingArrivalMaxAge is how long an arrival may stay pending (a PUT URL
// was minted, the upload never confirmed) before PrunePendingArrivals
// forgets it. Its URL expired long before.
const PendingArrivalMaxAge = 7 * 24 * time.Hour

// PruneVerifications deletes recipient verifications expired at now.
func PruneVerifications(ctx context.Context, q Querier, now time.Time, limit int) (int64, error) {
	return db.Prune(ctx, q, "recipient verifications", limit, `DELETE FROM recipient_verifications WHERE id_hash IN
        (SELECT id_hash FROM recipient_verifications WHERE expires_at <= ? LIMIT ?)`, ms(now))
}

// PruneCodes deletes the recipient code rows that hold nothing that
// counts at now under p: the code expired (or was used), no lock is in
// force, and the send window and the pause between sends are over. A row
// is kept while it is locked, or while it still counts sends, so that
// deleting it never lifts a lock or a send limit early; once all those
// are over it means no more than no row (the next send starts afresh).
func PruneCodes(ctx context.Context, q Querier, p CodePolicy, now time.Time, limit int) (int64, error) {
	n := ms(now)
	return db.Prune(ctx, q, "recipient codes", limit, `DELETE FROM recipient_codes WHERE link_id IN
        (SELECT link_id FROM recipient_codes WHERE expires_at <= ? AND window_at <= ? AND sent_at <= ?
            AND (locked_at IS NULL OR locked_at <= ?) LIMIT ?)`,
		n, n-p.Window.Milliseconds(), n-p.MinInterval.Milliseconds(), n-p.Lock.Milliseconds())
}

// PrunePendingArrivals deletes the arrivals still pending
// PendingArrivalMaxAge after their presign: uploads that never confirmed.
// Only the row goes; an object that was uploaded anyway stays in the
// bucket (it was never seen, so the sharer was never told of it). The ids
// are read first, outside any write: arrivals has no index on its state,
// and a DELETE that read the whole table would hold SQLite's write lock
// meanwhile (about 40 ms for 200,000 rows); the DELETE then finds its at
// most limit rows by primary key.
func PrunePendingArrivals(ctx context.Context, d *sql.DB, now time.Time, limit int) (int64, error) {
	if limit <= 0 {
		return 0, fmt.Errorf("prune pending arrivals: limit %d must be positive", limit)
	}
	before := ms(now.Add(-PendingArrivalMaxAge))
	rows, err := d.QueryContext(ctx, `SELECT id FROM arrivals WHERE state = ? AND created_at <= ? LIMIT ?`, ArrivalPending, before, limit)
	if err != nil {
		return 0, fmt.Errorf("prune pending arrivals: %w", err)
	}
	defer rows.Close()
	args := []any{ArrivalPending, before}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return 0, fmt.Errorf("prune pending arrivals: %w", err)
		}
		args = append(args, id)
	}
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("prune pending arrivals: %w", err)
	}
	rows.Close()
	if len(args) == 2 {
		return 0, nil
	}
	// Conditions again: an arrival may have been confirmed since.
	res, err := d.ExecContext(ctx, `DELETE FROM arrivals WHERE state = ? AND created_at <= ?
        AND id IN (?`+strings.Repeat(", ?", len(args)-3)+`)`, args...)
	if err != nil {
		return 0, fmt.Errorf("prune pending arrivals: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("prune pending arrivals: %w", err)
	}
	return n, nil
}
