package web

import (
	"context"
	"database/sql"
	"time"

	"github.com/sharesvc/sharesvc/internal/db"
)

// PruneLogins deletes at most limit provider sign-ins under way
// (oidc_logins) expired at now, in one statement, and reports how many it
// deleted. A browser still in the middle of one signs in again.
func PruneLogins(ctx context.Context, d *sql.DB, now time.Time, limit int) (int64, error) {
	return pruneExpired(ctx, d, "sign-ins under way", `DELETE FROM oidc_logins WHERE state_hash IN
        (SELECT state_hash FROM oidc_logins WHERE expires_at <= ? LIMIT ?)`, now, limit)
}

// pruneExpired runs query with now (in UTC Unix ms) and limit, its two
// placeholders.
func pruneExpired(ctx context.Context, d *sql.DB, what, query string, now time.Time, limit int) (int64, error) {
	return db.Prune(ctx, d, what, limit, query, now.UnixMilli())
}
