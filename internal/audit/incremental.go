package audit

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
)

// walkFrom checks the rows after row seq, whose hash is hash: they follow
// on without gaps, each names its predecessor's hash, and each matches its
// own hash; check, if not nil, is called on every row as well. It returns
// the last row's sequence number and hash (seq and hash when there are no
// rows after it) and how many rows it hashed. A bad row is a *chainError.
func walkFrom(ctx context.Context, db *sql.DB, seq int64, hash []byte, check func(*Event) error) (int64, []byte, int64, error) {
	rows, err := db.QueryContext(ctx, `SELECT `+eventColumns+` FROM audit_events WHERE seq > ? ORDER BY seq`, seq)
	if err != nil {
		return seq, hash, 0, fmt.Errorf("read audit log: %w", err)
	}
	defer rows.Close()
	var (
		n       int64
		scratch = make([]byte, 0, 2048)
	)
	for rows.Next() {
		ev, err := scanEvent(rows)
		if err != nil {
			return seq, hash, n, fmt.Errorf("read audit log: %w", err)
		}
		switch {
		case ev.Seq != seq+1:
			return seq, hash, n, &chainError{seq + 1, fmt.Sprintf("missing (next row is %d)", ev.Seq)}
		case !bytes.Equal(ev.PrevHash, hash):
			return seq, hash, n, &chainError{ev.Seq, "does not link to the previous row"}
		}
		h := ChainHash(ev.PrevHash, &ev, scratch)
		n++
		if !bytes.Equal(h[:], ev.Hash) {
			return seq, hash, n, &chainError{ev.Seq, "content does not match its hash"}
		}
		if check != nil {
			if err := check(&ev); err != nil {
				return seq, hash, n, err
			}
		}
		seq, hash = ev.Seq, ev.Hash
	}
	if err := rows.Err(); err != nil {
		return seq, hash, n, fmt.Errorf("read audit log: %w", err)
	}
	return seq, hash, n, nil
}

// rowHash returns the hash of row seq, or nil if there is no such row.
func rowHash(ctx context.Context, db *sql.DB, seq int64) ([]byte, error) {
	var h []byte
	err := db.QueryRowContext(ctx, `SELECT hash FROM audit_events WHERE seq = ?`, seq).Scan(&h)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read audit log: %w", err)
	}
	return h, nil
}

// Verifier verifies the log incrementally: the first call checks the whole
// chain (VerifyWith); later calls only hash the rows written since the last
// row they verified, after checking that this row still has the hash it had,
// that the log still starts where it did and that no row before it is
// missing. Anything unexpected falls back to a full verification, which
// names the first bad row. Every checkpoint given is compared on every call.
//
// Rows before the last verified one that were rewritten without changing
// its hash (which breaks a link the incremental pass does not re-read) are
// caught by a full verification (VerifyWith, "sharesvc audit verify"), or
// by a checkpoint naming one of them.
type Verifier struct {
	db *sql.DB

	mu            sync.Mutex
	ok            bool // the fields below describe a verified chain
	first         int64
	firstPrev     []byte
	prunedThrough int64
	seq           int64
	hash          []byte
}

// NewVerifier returns a Verifier of the log in db.
func NewVerifier(db *sql.DB) *Verifier { return &Verifier{db: db} }

// Verify checks the chain and the checkpoints in o like VerifyWith, hashing
// only the rows added since its last successful call. Errors are
// VerifyWith's.
func (v *Verifier) Verify(ctx context.Context, o VerifyOptions) (VerifyResult, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.ok {
		r, done, err := v.incremental(ctx, o)
		if err != nil || done {
			return r, err
		}
	}
	r, err := VerifyWith(ctx, v.db, o)
	v.ok = err == nil && r.Rows > 0
	if v.ok {
		v.first, v.prunedThrough, v.seq, v.hash = r.FirstSeq, r.PrunedThrough, r.LastSeq, r.Head
		v.firstPrev = nil
		if err := v.db.QueryRowContext(ctx, `SELECT prev_hash FROM audit_events WHERE seq = ?`, r.FirstSeq).Scan(&v.firstPrev); err != nil {
			v.ok = false
		}
	}
	return r, err
}

// incremental verifies from the last verified row. done is false when it
// cannot decide, and a full verification must run instead.
func (v *Verifier) incremental(ctx context.Context, o VerifyOptions) (VerifyResult, bool, error) {
	var r VerifyResult
	cs, err := newCheckpointSet(o)
	if err != nil {
		return r, true, err
	}
	var (
		first sql.NullInt64
		count int64
	)
	// COUNT(*) of the whole table can use the narrowest index, where a
	// range of seq reads the table itself (the whole call took twice as
	// long that way on 100,000 rows).
	if err := v.db.QueryRowContext(ctx, `SELECT MIN(seq), COUNT(*) - (SELECT COUNT(*) FROM audit_events WHERE seq > ?) FROM audit_events`,
		v.seq).Scan(&first, &count); err != nil {
		return r, true, fmt.Errorf("read audit log: %w", err)
	}
	if !first.Valid || first.Int64 != v.first || count != v.seq-v.first+1 {
		return r, false, nil // pruned, emptied, or rows gone
	}
	h, err := rowHash(ctx, v.db, v.seq)
	if err != nil {
		return r, true, err
	}
	if !bytes.Equal(h, v.hash) {
		return r, false, nil
	}
	var mismatch bool
	seq, head, n, err := walkFrom(ctx, v.db, v.seq, v.hash, func(ev *Event) error {
		for _, c := range cs.bySeq[ev.Seq] {
			if !bytes.Equal(ev.Hash, c.Head) {
				mismatch = true
				return errors.New("checkpoint mismatch")
			}
		}
		return nil
	})
	if errors.Is(err, ErrTampered) || mismatch {
		return r, false, nil
	}
	if err != nil {
		return r, true, err
	}
	r = VerifyResult{Rows: seq - v.first + 1, FirstSeq: v.first, LastSeq: seq, Head: head, Rehashed: n,
		PrunedThrough: v.prunedThrough, Checkpoints: cs.n}
	if o.Checkpoint != nil {
		r.CheckpointSeq = o.Checkpoint.Seq
	}
	if c := cs.max; c != nil && c.Seq > seq {
		return r, false, nil
	}
	// The checkpoints of rows verified before: one lookup each.
	for cseq, list := range cs.bySeq {
		var want []byte
		switch {
		case cseq > v.seq:
			continue // compared in the walk
		case cseq >= v.first:
			if want, err = rowHash(ctx, v.db, cseq); err != nil {
				return r, true, err
			}
		case cseq == v.first-1:
			want = v.firstPrev
		default:
			r.CheckpointsPruned += len(list)
			continue
		}
		for _, c := range list {
			if !bytes.Equal(want, c.Head) {
				return r, false, nil
			}
		}
	}
	if o.Checkpoint != nil {
		r.CheckpointMatched = o.Checkpoint.Seq >= v.first-1
	}
	v.seq, v.hash = seq, head
	return r, true, nil
}
