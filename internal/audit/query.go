package audit

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/sharesvc/sharesvc/internal/links"
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
	ClientIP  string // as stored, i.e. after the privacy mode (see Log.ClientIP)
	RequestID string // the X-Request-Id of the request the row records
	// Bucket, KeyPrefix and Recipient select rows by the link they name
	// (link_id): a link to an object of Bucket whose key starts with
	// KeyPrefix (compared as bytes: % and _ are literal), sent by email to
	// Recipient. Rows without a link never match them.
	Bucket    string
	KeyPrefix string
	Recipient string    // a normalised address; the domain is compared in lower case
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
	if f.Bucket != "" {
		if err := links.ValidBucket(f.Bucket); err != nil {
			return fmt.Errorf("%w: %s", ErrInvalidFilter, strings.TrimPrefix(err.Error(), links.ErrInvalid.Error()+": "))
		}
	}
	for _, v := range []struct{ name, s string }{{"key_prefix", f.KeyPrefix}, {"recipient", f.Recipient}} {
		switch {
		case len(v.s) > 1024:
			return fmt.Errorf("%w: %s is %d bytes; at most 1024", ErrInvalidFilter, v.name, len(v.s))
		case !utf8.ValidString(v.s):
			return fmt.Errorf("%w: %s is not valid UTF-8", ErrInvalidFilter, v.name)
		case strings.ContainsFunc(v.s, func(r rune) bool { return r < 0x20 || r == 0x7f || 0x80 <= r && r <= 0x9f }):
			return fmt.Errorf("%w: %s contains a control character", ErrInvalidFilter, v.name)
		}
	}
	return nil
}

// recipientForm returns an address as links store it: the domain in lower
// case (mail.NormalizeAddress; this package cannot import mail).
func recipientForm(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '@'); i >= 0 {
		return s[:i+1] + strings.ToLower(s[i+1:])
	}
	return s
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
	// The object and the recipient live on the link, not on the row: rows
	// carry only link_id, and links are never deleted. A subquery on links
	// (indexes links_bucket_key and links_recipient) then audit_events_link.
	// Storing them on each row instead would put them in the hash chain
	// and leave every row written before unfilterable.
	if f.Bucket != "" || f.KeyPrefix != "" || f.Recipient != "" {
		var lc []string
		if f.Bucket != "" {
			lc = append(lc, "bucket = ?")
			args = append(args, f.Bucket)
		}
		if f.KeyPrefix != "" {
			// A byte range instead of LIKE, as links.Filter does: keys may
			// contain % and _. (PostgreSQL: object_key is COLLATE "C".)
			lc = append(lc, "object_key >= ? AND object_key < ?")
			args = append(args, f.KeyPrefix, f.KeyPrefix+"\U0010FFFF")
		}
		if f.Recipient != "" {
			// The index leaves out plain links (recipient ''); the query
			// repeats its condition so that SQLite uses it.
			lc = append(lc, "recipient = ? AND recipient <> ''")
			args = append(args, recipientForm(f.Recipient))
		}
		conds = append(conds, "link_id IN (SELECT id FROM links WHERE "+strings.Join(lc, " AND ")+")")
	}
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
	rows.Close()
	if err := attachObjects(ctx, db, out); err != nil {
		return nil, fmt.Errorf("list audit events: %w", err)
	}
	return out, nil
}

// Object is the S3 object a row's link points to (for an upload link with
// a key prefix, Key is that prefix).
type Object struct {
	Bucket string
	Key    string
}

// objectBatch bounds the ids in one lookup (SQLite allows 32766 variables).
const objectBatch = 500

// attachObjects sets Object on the events that name a link, from the links
// table, a batch of ids per query.
func attachObjects(ctx context.Context, db *sql.DB, evs []Event) error {
	idx := map[string][]int{}
	var ids []any
	for i := range evs {
		if id := evs[i].LinkID; id != "" {
			if _, seen := idx[id]; !seen {
				ids = append(ids, id)
			}
			idx[id] = append(idx[id], i)
		}
	}
	for len(ids) > 0 {
		batch := ids[:min(len(ids), objectBatch)]
		ids = ids[len(batch):]
		q := `SELECT id, bucket, object_key FROM links WHERE id IN (?` + strings.Repeat(",?", len(batch)-1) + `)`
		if err := func() error {
			rows, err := db.QueryContext(ctx, q, batch...)
			if err != nil {
				return err
			}
			defer rows.Close()
			for rows.Next() {
				var id string
				var o Object
				if err := rows.Scan(&id, &o.Bucket, &o.Key); err != nil {
					return err
				}
				for _, i := range idx[id] {
					evs[i].Object = &o
				}
			}
			return rows.Err()
		}(); err != nil {
			return fmt.Errorf("read the links' objects: %w", err)
		}
	}
	return nil
}
