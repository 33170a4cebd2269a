package audit

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Actions of the audit log's own maintenance.
const (
	// ActionPrune removes old rows; Detail holds through_seq, through_hash
	// (the hash of the last removed row, which the first remaining row
	// names as its predecessor), rows and before.
	ActionPrune = "audit.prune"
	// ActionCheckpoint records a checkpoint asked for by an admin; Detail
	// holds its seq and head.
	ActionCheckpoint = "audit.checkpoint"
)

// ActorRetention is the actor of scheduled prunes.
const ActorRetention = "retention"

// PruneOptions say what Prune removes.
type PruneOptions struct {
	// Before: rows written before it may be removed. Required.
	Before time.Time
	// Actor is recorded on the prune's own row (a token name, "cli", or
	// ActorRetention).
	Actor string
	// MaxRows bounds the rows removed by one call (one transaction, during
	// which other audit writes wait); 0 means 50000. Call again for more.
	MaxRows int64
	// Checkpointer, if set, signs a checkpoint of the last removed row
	// before anything is removed (the anchor of what remains) and one of the
	// head afterwards.
	Checkpointer *Checkpointer
}

// PruneResult describes one prune.
type PruneResult struct {
	ThroughSeq int64       // last row removed; 0 when nothing was
	Rows       int64       // rows removed
	Anchor     *Checkpoint // checkpoint of row ThroughSeq, when a Checkpointer was given
	Event      Event       // the prune's own row
}

// Prune removes the oldest rows written before o.Before, always keeping the
// newest row, and appends an ActionPrune row in the same transaction: the
// database's triggers let rows go only while that transaction holds the
// prune gate. What remains still verifies (VerifyWith), anchored by the
// prune row and, with a Checkpointer, by a signed checkpoint. It returns a
// zero result and no row when nothing is old enough. Errors: ErrUnavailable
// (wrapped), checkpoint errors (nothing is removed then), database errors.
func Prune(ctx context.Context, l *Log, db *sql.DB, o PruneOptions) (PruneResult, error) {
	var res PruneResult
	if o.Before.IsZero() {
		return res, fmt.Errorf("%w: prune needs a cut-off time", ErrConfig)
	}
	if o.MaxRows <= 0 {
		o.MaxRows = 50000
	}
	if o.Actor == "" {
		o.Actor = ActorRetention
	}
	var minSeq, maxSeq sql.NullInt64
	if err := db.QueryRowContext(ctx, `SELECT MIN(seq), MAX(seq) FROM audit_events`).Scan(&minSeq, &maxSeq); err != nil {
		return res, fmt.Errorf("prune: %w", err)
	}
	if !minSeq.Valid {
		return res, nil
	}
	var (
		cut  int64
		hash []byte
	)
	err := db.QueryRowContext(ctx, `SELECT seq, hash FROM audit_events WHERE at < ? AND seq < ? AND seq < ?
        ORDER BY seq DESC LIMIT 1`, o.Before.UnixMicro(), maxSeq.Int64, minSeq.Int64+o.MaxRows).Scan(&cut, &hash)
	if errors.Is(err, sql.ErrNoRows) {
		return res, nil
	}
	if err != nil {
		return res, fmt.Errorf("prune: %w", err)
	}
	if o.Checkpointer != nil {
		cp, err := o.Checkpointer.WriteAt(ctx, cut, hash)
		if err != nil {
			return res, fmt.Errorf("prune: anchor checkpoint: %w", err)
		}
		res.Anchor = &cp
	}
	ev := Event{Action: ActionPrune, Actor: o.Actor, Outcome: OutcomeOK}
	ev, err = l.Append(ctx, ev, func(ctx context.Context, tx *sql.Tx, ev *Event) error {
		var h []byte
		if err := tx.QueryRowContext(ctx, `SELECT hash FROM audit_events WHERE seq = ?`, cut).Scan(&h); err != nil {
			return fmt.Errorf("prune: row %d: %w", cut, err)
		}
		if !bytes.Equal(h, hash) {
			return fmt.Errorf("prune: row %d changed since it was read", cut)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO audit_prune_gate (through_seq) VALUES (?)`, cut); err != nil {
			return fmt.Errorf("%w: prune gate: %v", ErrUnavailable, err)
		}
		r, err := tx.ExecContext(ctx, `DELETE FROM audit_events WHERE seq <= ?`, cut)
		if err != nil {
			return fmt.Errorf("%w: prune: %v", ErrUnavailable, err)
		}
		n, _ := r.RowsAffected()
		if _, err := tx.ExecContext(ctx, `DELETE FROM audit_prune_gate`); err != nil {
			return fmt.Errorf("%w: prune gate: %v", ErrUnavailable, err)
		}
		d, _ := json.Marshal(pruneDetail{ThroughSeq: cut, ThroughHash: hex.EncodeToString(hash), Rows: n,
			Before: o.Before.UTC().Format(time.RFC3339)})
		ev.Detail = string(d)
		res.Rows = n
		return nil
	})
	if err != nil {
		return PruneResult{}, err
	}
	res.ThroughSeq, res.Event = cut, ev
	if o.Checkpointer != nil {
		if _, err := o.Checkpointer.Write(ctx); err != nil {
			return res, fmt.Errorf("prune: head checkpoint: %w", err)
		}
	}
	return res, nil
}
