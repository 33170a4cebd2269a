package audit

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// ErrInvalidFilter means a filter or cursor is malformed; the wrapped
// message names the field.
var ErrInvalidFilter = errors.New("invalid audit filter")

// MaxListLimit is the largest page List returns.
const MaxListLimit = 1000

// Filter selects events for List and Export. Empty fields do not filter.
type Filter struct {
	LinkID    string
	Actor     string
	Action    string
	Outcome   string
	Reason    string
	ClientIP  string    // as stored, i.e. after the privacy mode (see Log.ClientIP)
	RequestID string    // the X-Request-Id of the request the row records
	Since     time.Time // rows written at or after Since
	Until     time.Time // rows written before Until
	Limit     int       // List only: 0 means 100, at most MaxListLimit
	Before    int64     // List only: rows with seq < Before (the cursor); 0 means from the newest
}

// Validate reports a malformed filter, wrapping ErrInvalidFilter.
func (f *Filter) Validate() error {
	switch {
	case f.Limit < 0 || f.Limit > MaxListLimit:
		return fmt.Errorf("%w: limit must be between 1 and %d", ErrInvalidFilter, MaxListLimit)
	case f.Before < 0:
		return fmt.Errorf("%w: cursor must be positive", ErrInvalidFilter)
	case !f.Since.IsZero() && !f.Until.IsZero() && !f.Until.After(f.Since):
		return fmt.Errorf("%w: until must be after since", ErrInvalidFilter)
	}
	for _, s := range []string{f.LinkID, f.Actor, f.Action, f.Outcome, f.Reason, f.ClientIP, f.RequestID} {
		if len(s) > 256 {
			return fmt.Errorf("%w: filter values are limited to 256 bytes", ErrInvalidFilter)
		}
	}
	return nil
}

// where returns the SQL conditions and arguments for f (without cursor).
func (f *Filter) where() (string, []any) {
	var (
		conds []string
		args  []any
	)
	eq := func(col, v string) {
		if v != "" {
			conds = append(conds, col+" = ?")
			args = append(args, v)
		}
	}
	// The actor and outcome indexes leave out the common values (see
	// schema.sql, migration 5); SQLite uses a partial index only when the
	// query carries the index's own condition, word for word.
	partial := func(col, v, common string) {
		if v != "" {
			eq(col, v)
			if v != common {
				conds = append(conds, col+" <> '"+common+"'")
			}
		}
	}
	eq("link_id", f.LinkID)
	partial("actor", f.Actor, ActorClient)
	eq("action", f.Action)
	partial("outcome", f.Outcome, OutcomeMinted)
	eq("reason", f.Reason)
	eq("client_ip", f.ClientIP)
	eq("request_id", f.RequestID)
	if !f.Since.IsZero() {
		conds = append(conds, "at >= ?")
		args = append(args, f.Since.UnixMicro())
	}
	if !f.Until.IsZero() {
		conds = append(conds, "at < ?")
		args = append(args, f.Until.UnixMicro())
	}
	if len(conds) == 0 {
		return "1=1", nil
	}
	return strings.Join(conds, " AND "), args
}

// List returns events matching f, newest first, at most f.Limit of them.
// To page, pass the last row's Seq as the next call's Before. Errors:
// ErrInvalidFilter (wrapped), or the database error.
func List(ctx context.Context, db *sql.DB, f Filter) ([]Event, error) {
	if err := f.Validate(); err != nil {
		return nil, err
	}
	if f.Limit == 0 {
		f.Limit = 100
	}
	w, args := f.where()
	if f.Before > 0 {
		w += " AND seq < ?"
		args = append(args, f.Before)
	}
	args = append(args, f.Limit)
	rows, err := db.QueryContext(ctx, `SELECT `+eventColumns+` FROM audit_events WHERE `+w+` ORDER BY seq DESC LIMIT ?`, args...)
	if err != nil {
		return nil, fmt.Errorf("list audit events: %w", err)
	}
	defer rows.Close()
	var out []Event
	for rows.Next() {
		ev, err := scanEvent(rows)
		if err != nil {
			return nil, fmt.Errorf("list audit events: %w", err)
		}
		out = append(out, ev)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list audit events: %w", err)
	}
	return out, nil
}
