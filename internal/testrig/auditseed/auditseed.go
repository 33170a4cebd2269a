// Package auditseed writes many audit rows with a valid hash chain straight
// into a database, for the tests and benchmarks that need a big log (a
// restore, a migration, a verification over 100,000 rows) without paying the
// group-commit writer's fsync per batch, which is not what they measure.
package auditseed

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/sharesvc/sharesvc/internal/audit"
)

// Access returns the seq-th row of a realistic log starting at start: a
// mint every 10 ms by one of 250 client addresses on one of links links,
// with every 7th request refused as revoked.
func Access(seq int, start time.Time, links int) audit.Event {
	at := start.Add(time.Duration(seq) * 10 * time.Millisecond)
	ev := audit.Event{At: at, Action: audit.ActionAccess, Actor: audit.ActorClient,
		LinkID: fmt.Sprintf("lnk_%026d", seq%links), Outcome: audit.OutcomeMinted,
		ClientIP:  fmt.Sprintf("198.51.100.%d", seq%250),
		UserAgent: "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36",
		RequestID: fmt.Sprintf("%024x", seq), URLExpiresAt: at.Add(time.Minute).Truncate(time.Millisecond),
		STSSession: "sharesvc-host-1234"}
	if seq%7 == 0 {
		ev.Outcome, ev.Reason, ev.URLExpiresAt, ev.STSSession = audit.OutcomeDenied, "revoked", time.Time{}, ""
	}
	return ev
}

// Chain appends rows to the audit log in one transaction, each chained to
// the one before, as the log's writer would.
type Chain struct {
	ins     *sql.Stmt
	seq     int64
	prev    []byte
	scratch []byte
}

// New starts a Chain in tx after the row seq whose hash is prev (0 and nil
// for an empty log).
func New(ctx context.Context, tx *sql.Tx, seq int64, prev []byte) (*Chain, error) {
	ins, err := tx.PrepareContext(ctx, `INSERT INTO audit_events (seq, at, action, actor, link_id, outcome, reason,
        client_ip, user_agent, request_id, url_expires_at, sts_session, detail, prev_hash, hash)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
	if err != nil {
		return nil, err
	}
	if prev == nil {
		prev = make([]byte, audit.HashSize)
	}
	return &Chain{ins: ins, seq: seq, prev: prev, scratch: make([]byte, 0, 2048)}, nil
}

// Add writes ev as the next row; its Seq, PrevHash and Hash are set here.
func (c *Chain) Add(ctx context.Context, ev audit.Event) error {
	c.seq++
	ev.Seq, ev.PrevHash = c.seq, c.prev
	h := audit.ChainHash(c.prev, &ev, c.scratch)
	ev.Hash = h[:]
	var exp any
	if !ev.URLExpiresAt.IsZero() {
		exp = ev.URLExpiresAt.UnixMilli()
	}
	if _, err := c.ins.ExecContext(ctx, ev.Seq, ev.At.UnixMicro(), ev.Action, ev.Actor, ev.LinkID, ev.Outcome, ev.Reason,
		ev.ClientIP, ev.UserAgent, ev.RequestID, exp, ev.STSSession, ev.Detail, ev.PrevHash, ev.Hash); err != nil {
		return fmt.Errorf("seed audit row %d: %w", ev.Seq, err)
	}
	c.prev = ev.Hash
	return nil
}

// Head returns the last row written and its hash.
func (c *Chain) Head() (int64, []byte) { return c.seq, c.prev }

// Close releases the statement.
func (c *Chain) Close() error { return c.ins.Close() }

// Rows writes n rows of Access (from start, over links links) after an
// empty log into the database d (a pool of db.Open), 20,000 rows a
// transaction.
func Rows(ctx context.Context, d *sql.DB, n int, start time.Time, links int) error {
	var seq int64
	var prev []byte
	for seq < int64(n) {
		tx, err := d.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		c, err := New(ctx, tx, seq, prev)
		if err != nil {
			tx.Rollback()
			return err
		}
		for end := min(seq+20000, int64(n)); seq < end; seq++ {
			if err := c.Add(ctx, Access(int(seq)+1, start, links)); err != nil {
				tx.Rollback()
				return err
			}
		}
		_, prev = c.Head()
		c.Close()
		if err := tx.Commit(); err != nil {
			return err
		}
	}
	return nil
}
