package mail

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/mail"
	"strings"
	"sync"
	"time"

	"github.com/sharesvc/sharesvc/internal/audit"
)

// Options configure a Mailer.
type Options struct {
	// DB is the pool the queue is read and claimed through.
	DB *sql.DB
	// Audit records every sent, deferred and failed message, together
	// with the row's new state.
	Audit *audit.Log
	// Sender delivers messages (an *SMTP in production).
	Sender Sender
	// Key is the 32-byte mail key sealing codes in the queue.
	Key []byte
	// From is the sender address of every message.
	From string
	// PublicURL is the base of short URLs (https://share.example).
	PublicURL string
	// Templates render messages; nil means the built-in ones.
	Templates *Templates
	// Clock is the time source; nil means time.Now.
	Clock func() time.Time
	// Logger gets one line per attempt (never a code or a URL).
	Logger *slog.Logger
	// MaxAttempts is how many times a message is tried before it fails
	// for good; 0 means 8.
	MaxAttempts int
	// Backoff is the wait after the n-th failed attempt; nil means 30 s
	// doubling per attempt, at most 1 h.
	Backoff func(n int) time.Duration
	// SendTimeout bounds one SMTP transaction; a row left 'sending' this
	// long (the process died mid-send) is tried again. 0 means 2 min.
	SendTimeout time.Duration
	// DigestInterval is how long first opens of a digest-mode share are
	// gathered into one notice; 0 means 1 h.
	DigestInterval time.Duration
	// Paused reports whether sending is on hold (the kill switch is on):
	// while it is, nothing is sent and queued messages wait, their
	// attempts untouched. An error counts as on hold. Nil means never.
	Paused func(ctx context.Context) (bool, error)
	// OnAttempt, when set, is told each attempt's message kind (KindShare
	// or KindNotify) and result: "sent", "deferred" or "failed" (for
	// metrics). It is called once the result is recorded.
	OnAttempt func(kind, result string)
}

// pausedPoll is how often a held queue looks at the kill switch again
// (turning it off through this instance also wakes the worker at once).
const pausedPoll = 5 * time.Second

// Mailer queues messages and sends them from one worker goroutine.
type Mailer struct {
	o      Options
	seal   *sealer
	clock  func() time.Time
	log    *slog.Logger
	domain string
	kick   chan struct{}
	mu     sync.Mutex // one pass at a time (Run and tests calling RunOnce)

	codeKey []byte // see CodeKey
}

// New returns a Mailer. Errors: ErrKey for a bad key, ErrConfig naming a
// missing or malformed option.
func New(o Options) (*Mailer, error) {
	s, err := newSealer(o.Key)
	if err != nil {
		return nil, err
	}
	from, err := mail.ParseAddress(o.From)
	if err != nil {
		return nil, fmt.Errorf("%w: from address %q is not an e-mail address", ErrConfig, o.From)
	}
	if o.DB == nil || o.Audit == nil || o.Sender == nil {
		return nil, fmt.Errorf("%w: mailer needs a database, an audit log and a sender", ErrConfig)
	}
	_, domain, _ := strings.Cut(from.Address, "@")
	if o.PublicURL == "" {
		return nil, fmt.Errorf("%w: mailer needs the public URL", ErrConfig)
	}
	if o.Templates == nil {
		if o.Templates, err = LoadTemplates(""); err != nil {
			return nil, err
		}
	}
	if o.Clock == nil {
		o.Clock = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = 8
	}
	if o.Backoff == nil {
		o.Backoff = DefaultBackoff
	}
	if o.SendTimeout <= 0 {
		o.SendTimeout = 2 * time.Minute
	}
	if o.DigestInterval <= 0 {
		o.DigestInterval = time.Hour
	}
	o.PublicURL = strings.TrimRight(o.PublicURL, "/")
	return &Mailer{o: o, seal: s, clock: o.Clock, log: o.Logger, domain: domain, kick: make(chan struct{}, 1),
		codeKey: deriveKey(o.Key, codeKeyLabel)}, nil
}

// DefaultBackoff waits 30 s after the first failed attempt, doubling each
// time, at most 1 h.
func DefaultBackoff(n int) time.Duration {
	d := 30 * time.Second
	for i := 1; i < n && d < time.Hour; i++ {
		d *= 2
	}
	return min(d, time.Hour)
}

// ShareMessage is a recipient's link to queue.
type ShareMessage struct {
	LinkID  string
	ShareID string
	To      string // normalised address
	Data    ShareData
	// FromName is the sharer's display name: From reads "FromName via
	// sharesvc" <the configured sender>. "" keeps the configured From.
	FromName string
	// ReplyTo is the sharer's address, "" for none.
	ReplyTo string
}

// sharePayload is what the queue keeps of ShareData: everything but the URL.
type sharePayload struct {
	Sharer    string    `json:"sharer"`
	Recipient string    `json:"recipient"`
	Filename  string    `json:"filename"`
	Note      string    `json:"note,omitempty"`
	ExpiresAt time.Time `json:"expires_at"`
	FromName  string    `json:"from_name,omitempty"`
	ReplyTo   string    `json:"reply_to,omitempty"`
}

// QueueShare queues the message carrying code to its recipient, through q
// (the transaction creating the link), sealing the code. It returns the
// delivery; call Kick after the transaction commits.
func (m *Mailer) QueueShare(ctx context.Context, q Querier, s ShareMessage, code string) (*Delivery, error) {
	now := m.clock().UTC().Truncate(time.Millisecond)
	p, _ := json.Marshal(sharePayload{Sharer: s.Data.Sharer, Recipient: s.To, Filename: s.Data.Filename,
		Note: s.Data.Note, ExpiresAt: s.Data.ExpiresAt, FromName: s.FromName, ReplyTo: s.ReplyTo})
	d := &Delivery{ID: newDeliveryID(), LinkID: s.LinkID, ShareID: s.ShareID, Recipient: s.To, Kind: KindShare,
		State: StateQueued, NextAttemptAt: now, CreatedAt: now, payload: string(p)}
	d.MessageID = d.ID + "@" + m.domain
	d.sealed = m.seal.seal(d.ID, code)
	if err := insertDelivery(ctx, q, d); err != nil {
		return nil, err
	}
	d.sealed = nil
	return d, nil
}

// CodeMessage is a recipient verification code to queue.
type CodeMessage struct {
	LinkID   string
	ShareID  string
	To       string // the link's recipient
	Sharer   string
	Filename string
	ValidFor time.Duration
}

// codePayload is what the queue keeps of a CodeMessage; the code itself
// is only kept sealed.
type codePayload struct {
	Sharer   string `json:"sharer"`
	Filename string `json:"filename"`
	ValidFor string `json:"valid_for"`
}

// QueueCode queues the message carrying a recipient verification code,
// through q, sealing the code as share codes are. Call Kick after the
// transaction commits.
func (m *Mailer) QueueCode(ctx context.Context, q Querier, c CodeMessage, code string) error {
	now := m.clock().UTC().Truncate(time.Millisecond)
	p, _ := json.Marshal(codePayload{Sharer: c.Sharer, Filename: c.Filename, ValidFor: Humanize(c.ValidFor)})
	d := &Delivery{ID: newDeliveryID(), LinkID: c.LinkID, ShareID: c.ShareID, Recipient: c.To, Kind: KindCode,
		State: StateQueued, NextAttemptAt: now, CreatedAt: now, payload: string(p)}
	d.MessageID = d.ID + "@" + m.domain
	d.sealed = m.seal.seal(d.ID, code)
	return insertDelivery(ctx, q, d)
}

// NotifyMessage is a recipient's first open to tell the sharer about.
type NotifyMessage struct {
	ShareID   string
	LinkID    string // the link that was opened
	To        string // the sharer's address
	Mode      string // ModeFirst or ModeDigest
	Sharer    string
	Filename  string
	Recipient string    // who opened (ModeArrival: the uploader's address)
	At        time.Time // when
	Bytes     int64     // ModeArrival: the upload's size
}

type notifyPayload struct {
	Bytes     int64     `json:"bytes,omitempty"` // ModeArrival
	Sharer    string    `json:"sharer"`
	Filename  string    `json:"filename"`
	Recipient string    `json:"recipient"`
	At        time.Time `json:"at"`
}

// QueueNotify queues a first-open notice through q (the transaction that
// minted the first URL, so that it is queued exactly once). In digest mode
// the notice joins the share's pending digest, due one DigestInterval after
// the first open it holds.
func (m *Mailer) QueueNotify(ctx context.Context, q Querier, n NotifyMessage) error {
	now := m.clock().UTC().Truncate(time.Millisecond)
	due := now
	if n.Mode == ModeDigest {
		var pending sql.NullInt64
		err := q.QueryRowContext(ctx, `SELECT MIN(next_attempt_at) FROM deliveries
            WHERE share_id = ? AND kind = 'notify' AND mode = 'digest' AND state = 'queued'`, n.ShareID).Scan(&pending)
		if err != nil {
			return fmt.Errorf("find pending digest: %w", err)
		}
		due = now.Add(m.o.DigestInterval)
		if pending.Valid {
			due = time.UnixMilli(pending.Int64).UTC()
		}
	}
	p, _ := json.Marshal(notifyPayload{Sharer: n.Sharer, Filename: n.Filename, Recipient: n.Recipient, At: n.At, Bytes: n.Bytes})
	d := &Delivery{ID: newDeliveryID(), LinkID: n.LinkID, ShareID: n.ShareID, Recipient: n.To, Kind: KindNotify,
		Mode: n.Mode, State: StateQueued, NextAttemptAt: due, CreatedAt: now, payload: string(p)}
	d.MessageID = d.ID + "@" + m.domain
	return insertDelivery(ctx, q, d)
}

// Kick wakes the worker to look at the queue now. It never blocks.
func (m *Mailer) Kick() {
	select {
	case m.kick <- struct{}{}:
	default:
	}
}

// Run sends due messages until ctx ends. A message being sent when ctx
// ends is finished and recorded first, so that a graceful stop neither
// loses nor repeats one.
func (m *Mailer) Run(ctx context.Context) {
	for {
		if _, err := m.RunOnce(ctx); err != nil && ctx.Err() == nil {
			m.log.Error("mail queue", "err", err)
		}
		wait := time.Minute
		if m.paused(ctx) {
			wait = pausedPoll
		} else if next, ok, err := m.nextDue(ctx); err == nil && ok {
			wait = min(max(next.Sub(m.clock()), 50*time.Millisecond), time.Minute)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-m.kick:
		case <-t.C:
		}
		t.Stop()
	}
}

// paused reports whether sending is on hold (Options.Paused); when the
// kill switch cannot be read, it is: better late mail than mail sent
// during an incident.
func (m *Mailer) paused(ctx context.Context) bool {
	if m.o.Paused == nil {
		return false
	}
	on, err := m.o.Paused(ctx)
	if err != nil {
		if ctx.Err() == nil {
			m.log.Error("mail held: cannot read the kill switch", "err", err)
		}
		return true
	}
	return on
}

func (m *Mailer) nextDue(ctx context.Context) (time.Time, bool, error) {
	var next sql.NullInt64
	err := m.o.DB.QueryRowContext(ctx, `SELECT MIN(next_attempt_at) FROM deliveries WHERE state IN ('queued', 'sending')`).Scan(&next)
	if err != nil || !next.Valid {
		return time.Time{}, false, err
	}
	return time.UnixMilli(next.Int64), true, nil
}

// RunOnce sends every message due now and returns how many messages it
// tried. While the kill switch holds the queue (Options.Paused) it sends
// nothing, and a pass stops at the next message once it is turned on. A
// row found 'sending' past its deadline (the process stopped in the middle
// of an attempt) is due again: that attempt may or may not have reached
// the server, so this is the one case where a recipient can get a message
// twice (with the same Message-ID, which mail clients collapse).
func (m *Mailer) RunOnce(ctx context.Context) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.clock()
	rows, err := m.o.DB.QueryContext(ctx, `SELECT `+deliveryColumns+` FROM deliveries
        WHERE state IN ('queued', 'sending') AND next_attempt_at <= ? ORDER BY next_attempt_at, id LIMIT 100`, now.UnixMilli())
	if err != nil {
		return 0, fmt.Errorf("read mail queue: %w", err)
	}
	var due []*Delivery
	for rows.Next() {
		d, err := scanDelivery(rows)
		if err != nil {
			rows.Close()
			return 0, fmt.Errorf("read mail queue: %w", err)
		}
		due = append(due, d)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("read mail queue: %w", err)
	}
	done := map[string]bool{}
	tried := 0
	for _, d := range due {
		if done[d.ID] || ctx.Err() != nil {
			continue
		}
		if m.paused(ctx) {
			break
		}
		group := []*Delivery{d}
		if d.Kind == KindNotify && d.Mode == ModeDigest {
			for _, o := range due {
				if o != d && o.Kind == KindNotify && o.Mode == ModeDigest && o.ShareID == d.ShareID {
					group = append(group, o)
				}
			}
		}
		for _, g := range group {
			done[g.ID] = true
		}
		group, err := m.claim(ctx, group, now)
		if err != nil {
			return tried, err
		}
		if len(group) == 0 {
			continue
		}
		tried++
		// The attempt is finished and recorded even if ctx ends meanwhile.
		m.attempt(context.WithoutCancel(ctx), group)
	}
	return tried, nil
}

// claim marks the rows 'sending' with a deadline, each only if nobody else
// changed it since it was read, and returns those it got.
func (m *Mailer) claim(ctx context.Context, group []*Delivery, now time.Time) ([]*Delivery, error) {
	tx, err := m.o.DB.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("claim delivery: %w", err)
	}
	defer tx.Rollback()
	deadline := now.Add(m.o.SendTimeout).UnixMilli()
	var got []*Delivery
	for _, d := range group {
		res, err := tx.ExecContext(ctx, `UPDATE deliveries SET state = 'sending', attempts = attempts + 1, next_attempt_at = ?
            WHERE id = ? AND state = ? AND next_attempt_at = ?`, deadline, d.ID, d.State, d.NextAttemptAt.UnixMilli())
		if err != nil {
			return nil, fmt.Errorf("claim delivery %s: %w", d.ID, err)
		}
		if n, _ := res.RowsAffected(); n == 1 {
			d.Attempts++
			got = append(got, d)
		}
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("claim delivery: %w", err)
	}
	return got, nil
}

// attempt sends one message for the group (one row, or a digest's rows)
// and records the outcome on every row, with its audit row.
func (m *Mailer) attempt(ctx context.Context, group []*Delivery) {
	lead := group[0]
	msg, err := m.build(group)
	if err == nil {
		sctx, cancel := context.WithTimeout(ctx, m.o.SendTimeout)
		err = m.o.Sender.Send(sctx, msg)
		cancel()
	}
	now := m.clock().UTC()
	var pe *PermanentError
	gone := errors.Is(err, ErrLinkGone)
	final := err != nil && (errors.As(err, &pe) || gone || errors.Is(err, ErrKey) || lead.Attempts >= m.o.MaxAttempts)
	ids := make([]string, len(group))
	for i, d := range group {
		ids[i] = d.ID
	}
	detail := map[string]any{"delivery": lead.ID, "kind": lead.Kind, "recipient": lead.Recipient,
		"share_id": lead.ShareID, "attempts": lead.Attempts, "message_id": lead.MessageID}
	if len(ids) > 1 {
		detail["deliveries"] = ids
	}
	ev := audit.Event{Actor: audit.ActorMailer, LinkID: lead.LinkID}
	var (
		state, lastErr string
		result         string // for OnAttempt: sent, failed or deferred
		next           int64
	)
	switch {
	case err == nil:
		ev.Action, ev.Outcome = audit.ActionMailSent, audit.OutcomeOK
		state, result = StateSent, "sent"
	case final:
		lastErr = answer(err)
		ev.Action, ev.Outcome, ev.Reason = audit.ActionMailFailed, audit.OutcomeError, "gave_up"
		switch {
		case pe != nil:
			ev.Reason = "refused"
		case gone:
			ev.Reason = "link_not_live"
		}
		detail["answer"] = lastErr
		state, result = StateFailed, "failed"
	default:
		lastErr = answer(err)
		retry := now.Add(m.o.Backoff(lead.Attempts))
		ev.Action, ev.Outcome, ev.Reason = audit.ActionMailDeferred, audit.OutcomeError, "will_retry"
		detail["answer"] = lastErr
		detail["next_attempt_at"] = retry.Truncate(time.Millisecond)
		state, result, next = StateQueued, "deferred", retry.UnixMilli()
	}
	b, _ := json.Marshal(detail)
	ev.Detail = string(b)
	_, aerr := m.o.Audit.Append(ctx, ev, func(ctx context.Context, tx *sql.Tx, _ *audit.Event) error {
		for _, d := range group {
			var err error
			switch state {
			case StateSent:
				_, err = tx.ExecContext(ctx, `UPDATE deliveries SET state = 'sent', sent_at = ?, sealed_code = NULL,
                    last_error = '', message_id = ? WHERE id = ? AND state = 'sending'`, now.UnixMilli(), lead.MessageID, d.ID)
			case StateFailed:
				_, err = tx.ExecContext(ctx, `UPDATE deliveries SET state = 'failed', sealed_code = NULL, last_error = ?
                    WHERE id = ? AND state = 'sending'`, lastErr, d.ID)
			default:
				_, err = tx.ExecContext(ctx, `UPDATE deliveries SET state = 'queued', next_attempt_at = ?, last_error = ?
                    WHERE id = ? AND state = 'sending'`, next, lastErr, d.ID)
			}
			if err != nil {
				return fmt.Errorf("record delivery %s: %w", d.ID, err)
			}
		}
		return nil
	})
	attrs := []any{"delivery", lead.ID, "kind", lead.Kind, "attempt", lead.Attempts, "state", state}
	if lastErr != "" {
		attrs = append(attrs, "answer", lastErr)
	}
	if aerr != nil {
		// The row stays 'sending' and is tried again after SendTimeout.
		m.log.Error("record delivery", append(attrs, "err", aerr)...)
		return
	}
	m.log.Info("mail", attrs...)
	if m.o.OnAttempt != nil {
		m.o.OnAttempt(lead.Kind, result)
	}
}

// QueueDepth returns how many messages are not yet sent or given up
// (queued, or being sent), digest notices counted one per row.
func (m *Mailer) QueueDepth(ctx context.Context) (int, error) {
	var n int
	err := m.o.DB.QueryRowContext(ctx, `SELECT count(*) FROM deliveries WHERE state IN ('queued', 'sending')`).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("count mail queue: %w", err)
	}
	return n, nil
}

// build renders the message for group. Errors: ErrKey when a sealed code
// does not open; template errors.
func (m *Mailer) build(group []*Delivery) (*Message, error) {
	lead := group[0]
	msg := &Message{ID: lead.MessageID, From: m.o.From, To: lead.Recipient, Date: m.clock()}
	var (
		r   rendered
		err error
	)
	switch lead.Kind {
	case KindShare:
		var p sharePayload
		if err := json.Unmarshal([]byte(lead.payload), &p); err != nil {
			return nil, fmt.Errorf("delivery %s payload: %w", lead.ID, err)
		}
		if p.FromName != "" {
			msg.FromName = p.FromName + " via sharesvc"
		}
		msg.ReplyTo = p.ReplyTo
		if err := m.linkLive(lead.LinkID); err != nil {
			return nil, err
		}
		var code string
		if code, err = m.seal.open(lead.ID, lead.sealed); err != nil {
			return nil, err
		}
		r, err = m.o.Templates.render(KindShare, ShareData{
			Sharer: p.Sharer, Recipient: p.Recipient, Filename: p.Filename, Note: p.Note,
			URL: m.o.PublicURL + "/s/" + code, ExpiresAt: p.ExpiresAt,
			ExpiresIn: Humanize(p.ExpiresAt.Sub(m.clock())),
		})
	case KindCode:
		var p codePayload
		if err := json.Unmarshal([]byte(lead.payload), &p); err != nil {
			return nil, fmt.Errorf("delivery %s payload: %w", lead.ID, err)
		}
		if err := m.linkLive(lead.LinkID); err != nil {
			return nil, err
		}
		var code string
		if code, err = m.seal.open(lead.ID, lead.sealed); err != nil {
			return nil, err
		}
		r, err = m.o.Templates.render(KindCode, CodeData{Sharer: p.Sharer, Filename: p.Filename, Code: code, ValidFor: p.ValidFor})
	case KindNotify:
		var data NotifyData
		for _, d := range group {
			var p notifyPayload
			if err := json.Unmarshal([]byte(d.payload), &p); err != nil {
				return nil, fmt.Errorf("delivery %s payload: %w", d.ID, err)
			}
			data.Sharer, data.Filename, data.Bytes = p.Sharer, p.Filename, p.Bytes
			data.Opens = append(data.Opens, Open{Recipient: p.Recipient, At: p.At})
		}
		data.Digest, data.Arrival = lead.Mode == ModeDigest, lead.Mode == ModeArrival
		r, err = m.o.Templates.render(KindNotify, data)
	default:
		return nil, fmt.Errorf("delivery %s has unknown kind %q", lead.ID, lead.Kind)
	}
	if err != nil {
		return nil, err
	}
	msg.Subject, msg.Text, msg.HTML = r.Subject, r.Text, r.HTML
	return msg, nil
}

// linkLive returns ErrLinkGone when the link a share message carries was
// revoked or has expired: such a message would only deliver a dead link.
func (m *Mailer) linkLive(id string) error {
	var (
		revoked sql.NullInt64
		expires int64
	)
	err := m.o.DB.QueryRow(`SELECT revoked_at, expires_at FROM links WHERE id = ?`, id).Scan(&revoked, &expires)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return ErrLinkGone
	case err != nil:
		return fmt.Errorf("check link %s: %w", id, err)
	case revoked.Valid || expires <= m.clock().UnixMilli():
		return ErrLinkGone
	}
	return nil
}
