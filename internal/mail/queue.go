package mail

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/base32"
	"errors"
	"fmt"
	"time"
)

// Querier is what queueing needs from *sql.DB or *sql.Tx, so that a message
// is queued in the same transaction as the link and audit row it belongs to.
type Querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// Delivery is one queued message as the API shows it. It never holds the
// sealed code.
type Delivery struct {
	ID            string
	LinkID        string
	ShareID       string
	Recipient     string
	Kind          string // KindShare or KindNotify
	Mode          string // notify rows: first or digest
	State         string // StateQueued, StateSending, StateSent or StateFailed
	Attempts      int
	NextAttemptAt time.Time // zero once sent or failed
	LastError     string    // the server's answer to the last failed attempt
	MessageID     string
	CreatedAt     time.Time
	SentAt        time.Time // zero until sent
	payload       string
	sealed        []byte
}

const deliveryColumns = `id, link_id, share_id, recipient, kind, mode, state, attempts, next_attempt_at,
    last_error, message_id, created_at, sent_at, payload, sealed_code`

func scanDelivery(row interface{ Scan(...any) error }) (*Delivery, error) {
	var (
		d             Delivery
		next, created int64
		sent          sql.NullInt64
	)
	err := row.Scan(&d.ID, &d.LinkID, &d.ShareID, &d.Recipient, &d.Kind, &d.Mode, &d.State, &d.Attempts, &next,
		&d.LastError, &d.MessageID, &created, &sent, &d.payload, &d.sealed)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	d.CreatedAt = time.UnixMilli(created).UTC()
	if d.State == StateQueued || d.State == StateSending {
		d.NextAttemptAt = time.UnixMilli(next).UTC()
	}
	if sent.Valid {
		d.SentAt = time.UnixMilli(sent.Int64).UTC()
	}
	return &d, nil
}

// newDeliveryID returns a fresh public delivery id.
func newDeliveryID() string {
	var b [10]byte
	rand.Read(b[:])
	return "dlv_" + idEncoding.EncodeToString(b[:])
}

var idEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

func insertDelivery(ctx context.Context, q Querier, d *Delivery) error {
	_, err := q.ExecContext(ctx, `INSERT INTO deliveries (id, link_id, share_id, recipient, kind, mode, state, attempts,
        next_attempt_at, last_error, sealed_code, payload, message_id, created_at)
        VALUES (?, ?, ?, ?, ?, ?, ?, 0, ?, '', ?, ?, ?, ?)`,
		d.ID, d.LinkID, d.ShareID, d.Recipient, d.Kind, d.Mode, StateQueued, d.NextAttemptAt.UnixMilli(),
		d.sealed, d.payload, d.MessageID, d.CreatedAt.UnixMilli())
	if err != nil {
		return fmt.Errorf("queue %s message: %w", d.Kind, err)
	}
	return nil
}

// Deliveries reads the queue.
type Deliveries struct{ db *sql.DB }

// NewDeliveries returns a reader of the deliveries table in db.
func NewDeliveries(db *sql.DB) *Deliveries { return &Deliveries{db: db} }

// ByShare returns the deliveries of a share, oldest first (none is not an
// error).
func (s *Deliveries) ByShare(ctx context.Context, shareID string) ([]*Delivery, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+deliveryColumns+` FROM deliveries WHERE share_id = ?
        ORDER BY created_at, id`, shareID)
	if err != nil {
		return nil, fmt.Errorf("deliveries of share %s: %w", shareID, err)
	}
	defer rows.Close()
	var out []*Delivery
	for rows.Next() {
		d, err := scanDelivery(rows)
		if err != nil {
			return nil, fmt.Errorf("deliveries of share %s: %w", shareID, err)
		}
		d.sealed = nil
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("deliveries of share %s: %w", shareID, err)
	}
	return out, nil
}

// Get returns one delivery, or ErrNotFound.
func (s *Deliveries) Get(ctx context.Context, id string) (*Delivery, error) {
	d, err := scanDelivery(s.db.QueryRowContext(ctx, `SELECT `+deliveryColumns+` FROM deliveries WHERE id = ?`, id))
	if err != nil {
		return nil, fmt.Errorf("delivery %s: %w", id, err)
	}
	d.sealed = nil
	return d, nil
}

// SharesSentBy counts the share messages queued since since for links
// created by person, whatever became of them: the measure of a mail quota.
func (s *Deliveries) SharesSentBy(ctx context.Context, person string, since time.Time) (int, error) {
	var n int
	err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM deliveries d JOIN links l ON l.id = d.link_id
        WHERE d.kind = 'share' AND d.created_at >= ? AND l.created_by = ?`, since.UnixMilli(), person).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("count share messages of %s: %w", person, err)
	}
	return n, nil
}
