package audit

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// ErrTampered means the chain does not verify; the wrapped message names the
// first bad row.
var ErrTampered = errors.New("audit chain does not verify")

// VerifyResult summarises a verification.
type VerifyResult struct {
	Rows     int64  // rows checked
	FirstSeq int64  // first row checked (0 if none)
	LastSeq  int64  // last row checked
	Head     []byte // hash of the last row
	BadSeq   int64  // first row that failed, 0 if none
}

// Verify walks the chain in sequence order and checks that sequence numbers
// have no gaps, that each row names its predecessor's hash, and that each
// hash matches the row's content. It returns ErrTampered (wrapped) at the
// first bad row. Cutting off the tail is only detectable against a
// checkpoint kept elsewhere.
func Verify(ctx context.Context, db *sql.DB) (VerifyResult, error) {
	var r VerifyResult
	rows, err := db.QueryContext(ctx, `SELECT seq, at, action, actor, link_id, outcome, reason,
        client_ip, user_agent, request_id, url_expires_at, sts_session, detail, prev_hash, hash
        FROM audit_events ORDER BY seq`)
	if err != nil {
		return r, fmt.Errorf("read audit log: %w", err)
	}
	defer rows.Close()
	var (
		prev    []byte
		scratch []byte
	)
	for rows.Next() {
		ev, err := scanEvent(rows)
		if err != nil {
			return r, fmt.Errorf("read audit log: %w", err)
		}
		bad := func(why string) (VerifyResult, error) {
			r.BadSeq = ev.Seq
			return r, fmt.Errorf("%w: row %d: %s", ErrTampered, ev.Seq, why)
		}
		if r.Rows == 0 {
			r.FirstSeq = ev.Seq
		} else if ev.Seq != r.LastSeq+1 {
			r.BadSeq = r.LastSeq + 1
			return r, fmt.Errorf("%w: row %d: missing (next row is %d)", ErrTampered, r.LastSeq+1, ev.Seq)
		}
		if prev != nil && !bytes.Equal(ev.PrevHash, prev) {
			return bad("does not link to the previous row")
		}
		if r.Rows == 0 && ev.Seq == 1 && !bytes.Equal(ev.PrevHash, make([]byte, HashSize)) {
			return bad("first row does not start the chain")
		}
		h := ChainHash(ev.PrevHash, &ev, scratch)
		if !bytes.Equal(h[:], ev.Hash) {
			return bad("content does not match its hash")
		}
		prev = ev.Hash
		r.Rows++
		r.LastSeq = ev.Seq
		r.Head = ev.Hash
	}
	if err := rows.Err(); err != nil {
		return r, fmt.Errorf("read audit log: %w", err)
	}
	return r, nil
}

type scanner interface{ Scan(...any) error }

func scanEvent(s scanner) (Event, error) {
	var (
		ev     Event
		at     int64
		urlExp sql.NullInt64
	)
	err := s.Scan(&ev.Seq, &at, &ev.Action, &ev.Actor, &ev.LinkID, &ev.Outcome, &ev.Reason,
		&ev.ClientIP, &ev.UserAgent, &ev.RequestID, &urlExp, &ev.STSSession, &ev.Detail, &ev.PrevHash, &ev.Hash)
	if err != nil {
		return ev, err
	}
	ev.At = time.UnixMicro(at).UTC()
	if urlExp.Valid {
		ev.URLExpiresAt = time.UnixMilli(urlExp.Int64).UTC()
	}
	return ev, nil
}

// Filter selects events for List.
type Filter struct {
	LinkID string
	Limit  int   // 0 means 100
	Before int64 // only rows with seq < Before; 0 means no bound (newest first)
}

// List returns events matching f, newest first.
func List(ctx context.Context, db *sql.DB, f Filter) ([]Event, error) {
	if f.Limit <= 0 || f.Limit > 1000 {
		f.Limit = 100
	}
	q := `SELECT seq, at, action, actor, link_id, outcome, reason,
        client_ip, user_agent, request_id, url_expires_at, sts_session, detail, prev_hash, hash
        FROM audit_events WHERE 1=1`
	var args []any
	if f.LinkID != "" {
		q += ` AND link_id = ?`
		args = append(args, f.LinkID)
	}
	if f.Before > 0 {
		q += ` AND seq < ?`
		args = append(args, f.Before)
	}
	q += ` ORDER BY seq DESC LIMIT ?`
	args = append(args, f.Limit)
	rows, err := db.QueryContext(ctx, q, args...)
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
