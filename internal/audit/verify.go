package audit

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// ErrTampered means the chain does not verify; the wrapped message names the
// first bad row.
var ErrTampered = errors.New("audit chain does not verify")

// ErrTruncated means the log ends before the row a checkpoint vouches for:
// its tail was cut off. It wraps ErrTampered.
var ErrTruncated = fmt.Errorf("%w: rows are missing at the end", ErrTampered)

// VerifyResult summarises a verification.
type VerifyResult struct {
	Rows     int64  // rows checked
	FirstSeq int64  // first row checked (0 if none)
	LastSeq  int64  // last row checked
	Head     []byte // hash of the last row
	BadSeq   int64  // first row that failed, 0 if none
	// PrunedThrough is the last row removed by an audited prune, when the
	// log starts after row 1 (0 otherwise).
	PrunedThrough int64
	// CheckpointSeq is the row the checkpoint vouched for (0 without one),
	// and CheckpointMatched whether that row (or, for a pruned row, the
	// link to it) was found with the checkpoint's hash.
	CheckpointSeq     int64
	CheckpointMatched bool
	// Checkpoints is how many checkpoints (Checkpoint and Checkpoints) were
	// compared with the log, CheckpointsPruned how many of them name rows
	// an audited prune removed (which cannot be compared).
	Checkpoints       int
	CheckpointsPruned int
	// Rehashed is how many rows this call hashed: all of them for a full
	// verification, only the new ones for an incremental one (Verifier).
	Rehashed int64
}

// VerifyOptions add outside evidence to a verification.
type VerifyOptions struct {
	// Checkpoint, if set, must verify, and the log must still hold its row
	// with its hash: a shorter log is ErrTruncated.
	Checkpoint *Checkpoint
	// PublicKey, if set, is the only key trusted to sign Checkpoint.
	PublicKey ed25519.PublicKey
	// Checkpoints are every other checkpoint kept: each is checked like
	// Checkpoint, so a log that was cut and has grown back past one
	// checkpoint still contradicts an earlier one.
	Checkpoints []Checkpoint
	// SignaturesChecked skips the signature check of Checkpoints (not of
	// Checkpoint), for callers that checked them when they loaded them.
	SignaturesChecked bool
}

// checkpointSet indexes the checkpoints of a verification by row.
type checkpointSet struct {
	bySeq map[int64][]*Checkpoint
	max   *Checkpoint // the one naming the highest row
	n     int
}

func newCheckpointSet(o VerifyOptions) (checkpointSet, error) {
	cs := checkpointSet{bySeq: map[int64][]*Checkpoint{}}
	add := func(c *Checkpoint, checkSig bool) error {
		if checkSig {
			if err := c.Verify(o.PublicKey); err != nil {
				return err
			}
		}
		cs.bySeq[c.Seq] = append(cs.bySeq[c.Seq], c)
		if cs.max == nil || c.Seq > cs.max.Seq {
			cs.max = c
		}
		cs.n++
		return nil
	}
	if o.Checkpoint != nil {
		if err := add(o.Checkpoint, true); err != nil {
			return cs, err
		}
	}
	for i := range o.Checkpoints {
		if err := add(&o.Checkpoints[i], !o.SignaturesChecked); err != nil {
			return cs, err
		}
	}
	return cs, nil
}

// chainError is a tampered row: it matches ErrTampered and names the row.
type chainError struct {
	seq int64
	why string
}

func (e *chainError) Error() string { return fmt.Sprintf("%v: row %d: %s", ErrTampered, e.seq, e.why) }
func (e *chainError) Unwrap() error { return ErrTampered }

// badSeq returns the row a chain error names, or 0.
func badSeq(err error) int64 {
	var ce *chainError
	if errors.As(err, &ce) {
		return ce.seq
	}
	return 0
}

// Verify walks the chain in sequence order and checks that sequence numbers
// have no gaps, that each row names its predecessor's hash, and that each
// hash matches the row's content. It returns ErrTampered (wrapped) at the
// first bad row. Cutting off the tail is only detectable against a
// checkpoint kept elsewhere: see VerifyWith.
func Verify(ctx context.Context, db *sql.DB) (VerifyResult, error) {
	return VerifyWith(ctx, db, VerifyOptions{})
}

// pruneDetail is the Detail of an ActionPrune row.
type pruneDetail struct {
	ThroughSeq  int64  `json:"through_seq"`
	ThroughHash string `json:"through_hash"`
	Rows        int64  `json:"rows"`
	Before      string `json:"before"`
}

// VerifyWith is Verify with outside evidence. A log that starts after row 1
// verifies only if an audited prune (an ActionPrune row in what remains)
// names the removed rows' last hash as the first remaining row's
// predecessor. Errors: ErrBadSignature for a checkpoint that does not
// verify, ErrTampered or ErrTruncated (wrapped) naming the first bad row.
func VerifyWith(ctx context.Context, db *sql.DB, o VerifyOptions) (VerifyResult, error) {
	var r VerifyResult
	cp := o.Checkpoint
	if cp != nil {
		r.CheckpointSeq = cp.Seq
	}
	cs, err := newCheckpointSet(o)
	if err != nil {
		return r, err
	}
	r.Checkpoints = cs.n
	rows, err := db.QueryContext(ctx, `SELECT `+eventColumns+` FROM audit_events ORDER BY seq`)
	if err != nil {
		return r, fmt.Errorf("read audit log: %w", err)
	}
	defer rows.Close()
	var (
		prev      []byte
		firstPrev []byte
		scratch   = make([]byte, 0, 2048) // ChainHash's input, reused
		prunes    = map[int64]string{}    // through_seq -> through_hash (hex)
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
			firstPrev = ev.PrevHash
			if ev.Seq < 1 {
				return bad("sequence numbers start at 1")
			}
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
		r.Rehashed++
		if !bytes.Equal(h[:], ev.Hash) {
			return bad("content does not match its hash")
		}
		for _, c := range cs.bySeq[ev.Seq] {
			if !bytes.Equal(ev.Hash, c.Head) {
				return bad(fmt.Sprintf("differs from the signed checkpoint of this row (signed at %s)", c.At.Format(time.RFC3339)))
			}
			if c == cp {
				r.CheckpointMatched = true
			}
		}
		if r.Rows == 0 {
			for _, c := range cs.bySeq[ev.Seq-1] {
				if !bytes.Equal(ev.PrevHash, c.Head) {
					return bad("does not link to the signed checkpoint of the row before it")
				}
				if c == cp {
					r.CheckpointMatched = true
				}
			}
		}
		if ev.Action == ActionPrune {
			var d pruneDetail
			if json.Unmarshal([]byte(ev.Detail), &d) == nil {
				prunes[d.ThroughSeq] = d.ThroughHash
			}
		}
		prev = ev.Hash
		r.Rows++
		r.LastSeq = ev.Seq
		r.Head = ev.Hash
	}
	if err := rows.Err(); err != nil {
		return r, fmt.Errorf("read audit log: %w", err)
	}
	if r.FirstSeq > 1 {
		h, ok := prunes[r.FirstSeq-1]
		if !ok || h != hex.EncodeToString(firstPrev) {
			r.BadSeq = r.FirstSeq - 1
			return r, fmt.Errorf("%w: rows up to %d are missing and no audited prune accounts for them", ErrTampered, r.FirstSeq-1)
		}
		r.PrunedThrough = r.FirstSeq - 1
	}
	if c := cs.max; c != nil && r.LastSeq < c.Seq {
		r.BadSeq = r.LastSeq + 1
		return r, fmt.Errorf("%w: the log ends at row %d but a checkpoint signed at %s vouches for row %d",
			ErrTruncated, r.LastSeq, c.At.Format(time.RFC3339), c.Seq)
	}
	for seq, list := range cs.bySeq {
		if r.Rows > 0 && seq < r.FirstSeq-1 {
			r.CheckpointsPruned += len(list)
		}
	}
	return r, nil
}

// eventColumns lists audit_events' columns in scanEvent's order.
const eventColumns = `seq, at, action, actor, link_id, outcome, reason,
        client_ip, user_agent, request_id, url_expires_at, sts_session, detail, prev_hash, hash`

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
