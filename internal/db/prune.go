package db

import (
	"context"
	"database/sql"
	"fmt"
)

// Prune runs query, a DELETE of at most limit rows whose last placeholder
// is the LIMIT, with args and limit, and reports how many rows it deleted.
// The janitor calls such deletes in a loop, so that each holds the write
// lock briefly. Errors name what ("prune <what>: ..."): a limit that is
// not positive (nothing is run), or the engine's error.
func Prune(ctx context.Context, q interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}, what string, limit int, query string, args ...any) (int64, error) {
	if limit <= 0 {
		return 0, fmt.Errorf("prune %s: limit %d must be positive", what, limit)
	}
	res, err := q.ExecContext(ctx, query, append(args, limit)...)
	if err != nil {
		return 0, fmt.Errorf("prune %s: %w", what, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("prune %s: %w", what, err)
	}
	return n, nil
}
