package audit

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/sharesvc/sharesvc/internal/db"
)

// ErrUnavailable means the audit row could not be written; the caller must
// not hand out anything the row was meant to record.
var ErrUnavailable = errors.New("audit log unavailable")

// ErrClosed means the log was closed before the row was written.
var ErrClosed = errors.New("audit log closed")

// IsDatabaseError reports whether err, from Append or given to
// Options.OnCommit, means the database failed the write: ErrUnavailable, or
// a database error met by an ApplyFunc or Options.Claim (other than a
// constraint refusing a row). It is false for nil and for an ApplyFunc's
// own refusal of its request (a link not found, a key already taken).
func IsDatabaseError(err error) bool {
	return errors.Is(err, ErrUnavailable) || db.IsEngineError(err) && !db.IsUniqueViolation(err)
}

// ApplyFunc runs inside the transaction that appends ev, before the row is
// inserted. It may change the database (count a use, create a link) and fill
// in ev's outcome and reason. If it returns an error, nothing it did is kept
// and the error is returned from Append.
type ApplyFunc func(ctx context.Context, tx *sql.Tx, ev *Event) error

// Options tune a Log.
type Options struct {
	// Clock stamps rows; nil means time.Now.
	Clock func() time.Time
	// MaxBatch is the most rows committed in one transaction; 0 means 256.
	MaxBatch int
	// OnCommit, when set, is told the size and duration of each commit and
	// whether it failed (for metrics): IsDatabaseError tells a write the
	// database refused from an ApplyFunc refusing its request. A batch
	// rolled back only to retry its rows one by one is not reported; each
	// retry is.
	OnCommit func(rows int, d time.Duration, err error)
	// IP is the privacy mode applied to every event's ClientIP before it is
	// written; nil stores addresses in full.
	IP *IPPrivacy
	// Claim decides the claims of AppendClaim inside the writer's
	// transaction, a run of consecutive ones at a time, setting each one's
	// Refused. Nil means AppendClaim is refused.
	Claim func(ctx context.Context, q Querier, claims []Claim) error
}

// Claim asks, through AppendClaim, for one use of Key (a link's) by a
// request checked at At.
type Claim struct {
	Key string
	At  time.Time
	// Refused is set by Options.Claim: "" grants the claim; otherwise it
	// says why not and becomes the row's Reason.
	Refused string
}

// Log appends events through one writer goroutine with group commit.
type Log struct {
	db       *sql.DB
	clock    func() time.Time
	maxBatch int
	onCommit func(int, time.Duration, error)
	ip       *IPPrivacy
	claim    func(context.Context, Querier, []Claim) error

	queue chan *op
	done  chan struct{}
	once  sync.Once

	// Prepared statements, owned by the writer goroutine. The chain head
	// is not kept here: each batch reads it inside its own transaction.
	headStmt, insStmt *sql.Stmt
	stmts             stmtCache
	scratch           []byte
	claims            []Claim
	boxed             map[string]any // see box
}

type op struct {
	ctx   context.Context
	ev    Event
	apply ApplyFunc
	// With claiming set, the row is a mint that needs claim granted (and
	// apply, if set, runs only then); if it is refused the row records a
	// denial with deniedDetail.
	claiming     bool
	claim        Claim
	deniedDetail string
	minted       Event // ev as given, for a retry after a refusal changed ev
	err          error
	done         chan struct{}
}

var opPool = sync.Pool{New: func() any { return &op{done: make(chan struct{}, 1)} }}

// Open starts a Log writing to db, which should be a single-connection pool
// reserved for it. It reads the chain head from the last row.
func Open(ctx context.Context, db *sql.DB, o Options) (*Log, error) {
	l := &Log{
		db:       db,
		clock:    o.Clock,
		maxBatch: o.MaxBatch,
		onCommit: o.OnCommit,
		ip:       o.IP,
		claim:    o.Claim,
		queue:    make(chan *op, 4096),
		done:     make(chan struct{}),
		scratch:  make([]byte, 0, 2048), // room for a row's hash input
		boxed:    make(map[string]any),
	}
	if l.clock == nil {
		l.clock = time.Now
	}
	if l.maxBatch <= 0 {
		l.maxBatch = 256
	}
	// Fail at start, not on the first request, if the chain's last row is
	// unusable.
	var (
		seq  int64
		hash []byte
	)
	switch err := db.QueryRowContext(ctx, `SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1`).Scan(&seq, &hash); {
	case errors.Is(err, sql.ErrNoRows):
	case err != nil:
		return nil, fmt.Errorf("read audit chain head: %w", err)
	case len(hash) != HashSize:
		return nil, fmt.Errorf("read audit chain head: row %d has a %d-byte hash", seq, len(hash))
	}
	go l.run()
	return l, nil
}

// Append writes ev (after apply, if not nil) and returns once the row is
// committed and flushed, with Seq, At and Hash filled in. Errors:
// ErrUnavailable (wrapped) when the database refused the write, ErrClosed,
// the ApplyFunc's own error, or ctx's error if it ends first (the row may
// still be written then).
func (l *Log) Append(ctx context.Context, ev Event, apply ApplyFunc) (Event, error) {
	o := opPool.Get().(*op)
	o.ctx, o.ev, o.apply, o.err = ctx, ev, apply, nil
	return l.enqueue(ctx, o)
}

// AppendClaim writes ev, a mint, once Options.Claim has granted c inside
// the same transaction; claims of neighbouring requests are decided
// together, which is what makes a busy link cheap. If c is granted and
// then is not nil, then runs next in the transaction (it may record more,
// as an ApplyFunc does; its error fails this row alone). If c is refused,
// the row records the denial instead: its Outcome becomes OutcomeDenied,
// its Reason c's Refused, its Detail deniedDetail, and the URL's expiry and
// session are cleared. It returns like Append; check the returned event's
// Outcome before handing out what the row records.
func (l *Log) AppendClaim(ctx context.Context, ev Event, c Claim, deniedDetail string, then ApplyFunc) (Event, error) {
	if l.claim == nil {
		return ev, errors.New("audit: AppendClaim on a log opened without Options.Claim")
	}
	o := opPool.Get().(*op)
	o.ctx, o.ev, o.apply, o.err = ctx, ev, then, nil
	o.claiming, o.claim, o.deniedDetail = true, c, deniedDetail
	return l.enqueue(ctx, o)
}

func (l *Log) enqueue(ctx context.Context, o *op) (Event, error) {
	o.ev.ClientIP = l.ip.Apply(o.ev.ClientIP)
	ev := o.ev
	if o.claiming {
		o.minted = ev
	}
	select {
	case l.queue <- o:
	case <-l.done:
		return ev, ErrClosed
	case <-ctx.Done():
		return ev, ctx.Err()
	}
	select {
	case <-o.done:
	case <-ctx.Done():
		// The writer still owns o; it is not returned to the pool.
		return ev, ctx.Err()
	}
	out, err := o.ev, o.err
	o.ctx, o.apply, o.ev = nil, nil, Event{}
	o.claiming, o.claim, o.deniedDetail, o.minted = false, Claim{}, "", Event{}
	opPool.Put(o)
	return out, err
}

// ClientIP returns addr as the log would store it under its privacy mode,
// so that a filter on a client address matches the stored rows.
func (l *Log) ClientIP(addr string) string { return l.ip.Apply(addr) }

// QueueDepth returns how many rows wait for the writer (for metrics and
// readiness: a growing queue means the disk is not keeping up).
func (l *Log) QueueDepth() int { return len(l.queue) }

// Close stops accepting rows, writes those already queued, and returns.
func (l *Log) Close() error {
	l.once.Do(func() {
		close(l.queue)
		<-l.done
	})
	return nil
}

func (l *Log) run() {
	defer close(l.done)
	defer func() {
		if l.insStmt != nil {
			l.insStmt.Close()
			l.headStmt.Close()
		}
		l.stmts.close()
	}()
	batch := make([]*op, 0, l.maxBatch)
	for first := range l.queue {
		batch = append(batch[:0], first)
	fill:
		for len(batch) < l.maxBatch {
			select {
			case o, ok := <-l.queue:
				if !ok {
					break fill
				}
				batch = append(batch, o)
			default:
				break fill
			}
		}
		l.write(batch)
	}
}

// write commits batch in one transaction. If that fails, each op is retried
// alone so that one failing ApplyFunc cannot fail its neighbours.
func (l *Log) write(batch []*op) {
	err := l.commit(batch)
	// Only an ApplyFunc's own failure is worth retrying row by row; when the
	// database refuses the write, each retry would just wait out the lock
	// again before failing the same way.
	var ae applyError
	if errors.As(err, &ae) && len(batch) > 1 {
		for _, o := range batch {
			o.err = l.commit([]*op{o})
		}
	} else {
		for _, o := range batch {
			if o.err == nil {
				o.err = err
			}
		}
	}
	for _, o := range batch {
		o.done <- struct{}{}
	}
}

type applyError struct{ err error }

func (e applyError) Error() string { return e.err.Error() }
func (e applyError) Unwrap() error { return e.err }

func (l *Log) commit(batch []*op) (err error) {
	start := time.Now()
	defer func() {
		var retried applyError // write retries each row alone: no commit to report yet
		if l.onCommit != nil && !errors.As(err, &retried) {
			l.onCommit(len(batch), time.Since(start), err)
		}
	}()
	// Before the transaction: it holds the writer's only connection.
	if err := l.prepare(); err != nil {
		return err
	}
	l.stmts.prepareAll(l.db)
	tx, err := db.BeginWrite(context.Background(), l.db)
	if err != nil {
		return fmt.Errorf("%w: begin: %v", ErrUnavailable, err)
	}
	defer tx.Rollback()
	// The head is re-read inside the transaction, which holds the write
	// lock from its start: another process, such as the offline "token
	// create", may have appended since, and none can until it commits.
	var (
		seq  int64
		head []byte
	)
	switch err := tx.Stmt(l.headStmt).QueryRow().Scan(&seq, &head); {
	case errors.Is(err, sql.ErrNoRows):
		seq, head = 0, make([]byte, HashSize)
	case err != nil:
		return fmt.Errorf("%w: read chain head: %v", ErrUnavailable, err)
	}
	// Statements prepared once on the writer's connection are reused by
	// every batch: parsing SQL costs more than running it. (One row per
	// INSERT: a multi-row INSERT needs a statement journal, which measured
	// slower.)
	ins := tx.Stmt(l.insStmt)
	defer ins.Close()
	add := func(ev *Event) error {
		seq++
		ev.Seq = seq
		ev.At = l.clock()
		ev.normalize()
		ev.PrevHash = head
		h := ChainHash(head, ev, l.scratch)
		ev.Hash = h[:]
		head = ev.Hash
		var urlExp any
		if !ev.URLExpiresAt.IsZero() {
			urlExp = ev.URLExpiresAt.UnixMilli()
		}
		if _, err := ins.Exec(ev.Seq, ev.At.UnixMicro(), l.box(ev.Action), l.box(ev.Actor), ev.LinkID, l.box(ev.Outcome),
			l.box(ev.Reason), ev.ClientIP, ev.UserAgent, ev.RequestID, urlExp, l.box(ev.STSSession), ev.Detail,
			ev.PrevHash, ev.Hash); err != nil {
			return fmt.Errorf("%w: insert: %v", ErrUnavailable, err)
		}
		return nil
	}
	for i := 0; i < len(batch); {
		if batch[i].claiming {
			j := i + 1
			for j < len(batch) && batch[j].claiming {
				j++
			}
			if err := l.claimRun(tx, batch[i:j]); err != nil {
				if len(batch) > 1 {
					return applyError{err}
				}
				batch[i].err = err
				return err
			}
			for _, o := range batch[i:j] {
				o.err = nil
				if err := add(&o.ev); err != nil {
					return err
				}
			}
			i = j
			continue
		}
		o := batch[i]
		i++
		o.err = nil
		ev := &o.ev
		if o.apply != nil {
			if err := o.apply(o.ctx, tx, ev); err != nil {
				o.err = err
				if len(batch) > 1 {
					return applyError{err}
				}
				return err
			}
		}
		if err := add(ev); err != nil {
			return err
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("%w: commit: %v", ErrUnavailable, err)
	}
	return nil
}

// claimRun has l.claim decide the claims of run, consecutive claiming ops,
// and turns each refused one into a denial.
func (l *Log) claimRun(tx *sql.Tx, run []*op) error {
	l.claims = l.claims[:0]
	for _, o := range run {
		o.ev = o.minted // undo a refusal from an attempt that was rolled back
		o.claim.Refused = ""
		l.claims = append(l.claims, o.claim)
	}
	if err := l.claim(context.Background(), l.Querier(tx), l.claims); err != nil {
		return err
	}
	for i, o := range run {
		if r := l.claims[i].Refused; r != "" {
			ev := &o.ev
			ev.Outcome, ev.Reason, ev.Detail = OutcomeDenied, r, o.deniedDetail
			ev.URLExpiresAt, ev.STSSession = time.Time{}, ""
		} else if o.apply != nil {
			if err := o.apply(o.ctx, tx, &o.ev); err != nil {
				o.err = err
				return err
			}
		}
	}
	clear(l.claims)
	return nil
}

// box returns s as an interface value, made once per distinct s: the
// columns it is used for (action, actor, outcome, reason, STS session) take
// few values, and converting a string to an Exec argument allocates each
// time. It runs on the writer goroutine only.
func (l *Log) box(s string) any {
	if v, ok := l.boxed[s]; ok {
		return v
	}
	if len(l.boxed) >= 256 { // bounded whatever the values
		clear(l.boxed)
	}
	var v any = s
	l.boxed[s] = v
	return v
}

// prepare readies the writer's statements once. It runs on the writer
// goroutine only.
func (l *Log) prepare() error {
	if l.insStmt != nil {
		return nil
	}
	head, err := l.db.Prepare(`SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1`)
	if err != nil {
		return fmt.Errorf("%w: prepare: %v", ErrUnavailable, err)
	}
	ins, err := l.db.Prepare(insertSQL)
	if err != nil {
		head.Close()
		return fmt.Errorf("%w: prepare: %v", ErrUnavailable, err)
	}
	l.headStmt, l.insStmt = head, ins
	return nil
}

const insertSQL = `INSERT INTO audit_events (seq, at, action, actor, link_id, outcome, reason,
    client_ip, user_agent, request_id, url_expires_at, sts_session, detail, prev_hash, hash)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
