// Package health decides whether this instance should get traffic: the
// database takes writes, the signer holds a session with enough life left,
// the audit writer keeps up and its log still extends its latest signed
// checkpoint, and (when configured) a canary URL minted for a
// known object really opens.
package health

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sharesvc/sharesvc/internal/audit"
	"github.com/sharesvc/sharesvc/internal/db"
	"github.com/sharesvc/sharesvc/internal/metrics"
	"github.com/sharesvc/sharesvc/internal/sts"
)

// Check names, as reported by /readyz and the readiness_check_ok metric.
const (
	CheckDB       = "db"
	CheckSigner   = "signer"
	CheckAudit    = "audit"
	CheckCanary   = "canary"
	CheckShutdown = "shutdown" // fails, reason draining, once Drain is called
)

// ErrNotReady matches the error of a Report that is not ready.
var ErrNotReady = errors.New("not ready")

// Queue is what the audit check needs from the audit writer.
type Queue interface {
	QueueDepth() int
}

// Chain is what the audit check needs from the audit checkpoints: the
// outcome of the last check of the log against them (an audit.Checkpointer).
type Chain interface {
	Broken() error
}

// Options configure a Checker. DB, Signer and Audit are required.
type Options struct {
	// DB is the read pool; the check begins a write (db.BeginWrite) and rolls back,
	// which proves the file takes a write lock without writing anything.
	DB *sql.DB
	// Signer must hold (or get) a session with at least MinSessionLeft.
	Signer *sts.Signer
	// Audit's queue must stay under MaxAuditQueue.
	Audit Queue
	// Canary, when set, must have succeeded recently.
	Canary *Canary
	// Chain, when set, must not report the audit log broken (it contradicts
	// its latest signed checkpoint); the audit check fails with reason
	// chain_broken while it does.
	Chain Chain
	// MinSessionLeft is the least session life that counts as ready.
	// Default 2m; main sets it to the longest URL the service signs.
	MinSessionLeft time.Duration
	// MaxAuditQueue is the most rows waiting for the audit writer that
	// count as keeping up. Default 1024 (a quarter of the queue).
	MaxAuditQueue int
	// AuditFailWindow is how long a failed audit commit keeps the check
	// failing when no commit has succeeded since. Default 30s.
	AuditFailWindow time.Duration
	// Timeout bounds each check. Default 3s.
	Timeout time.Duration
	// CacheFor reuses a report this long (measured on the real clock), so
	// that a flood of probes cannot keep taking the database's write lock.
	// Zero evaluates every time.
	CacheFor time.Duration
	// Clock is the notion of now shared with the signer; nil means time.Now.
	Clock func() time.Time
	// Metrics, when set, receives every result.
	Metrics *metrics.Metrics
	// Logger is told when readiness changes; nil discards.
	Logger *slog.Logger
}

// Checker evaluates readiness.
type Checker struct {
	o Options

	mu          sync.Mutex
	auditFailAt time.Time // last failed audit commit not followed by a success
	auditErr    error
	wasReady    *bool

	evalMu   sync.Mutex // one evaluation at a time
	cached   Report
	cachedAt time.Time

	draining atomic.Bool
}

// Drain makes every later Check report not ready at once, without running
// the checks: the process is shutting down and its load balancer should
// stop sending it traffic while requests are still served.
func (c *Checker) Drain() {
	c.draining.Store(true)
	if m := c.o.Metrics; m != nil {
		m.ObserveReadiness(false, map[string]bool{CheckShutdown: false})
	}
}

// New returns a Checker, or an error if a required dependency is missing.
func New(o Options) (*Checker, error) {
	if o.DB == nil || o.Signer == nil || o.Audit == nil {
		return nil, errors.New("health: DB, Signer and Audit are required")
	}
	if o.MinSessionLeft <= 0 {
		o.MinSessionLeft = 2 * time.Minute
	}
	if o.MaxAuditQueue <= 0 {
		o.MaxAuditQueue = 1024
	}
	if o.AuditFailWindow <= 0 {
		o.AuditFailWindow = 30 * time.Second
	}
	if o.Timeout <= 0 {
		o.Timeout = 3 * time.Second
	}
	if o.Clock == nil {
		o.Clock = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return &Checker{o: o}, nil
}

// ObserveAuditCommit is the audit log's OnCommit hook: a commit the
// database refused (audit.IsDatabaseError) marks the audit check failing
// until one succeeds. An ApplyFunc's own refusal (a link already used up)
// is not a failure.
func (c *Checker) ObserveAuditCommit(rows int, d time.Duration, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case err == nil:
		c.auditFailAt, c.auditErr = time.Time{}, nil
	case audit.IsDatabaseError(err):
		c.auditFailAt, c.auditErr = c.o.Clock(), err
	}
}

// Result is the outcome of one check. Reason is a short, fixed word safe
// to show anyone; the error behind it is only logged.
type Result struct {
	Name   string `json:"name"`
	OK     bool   `json:"ok"`
	Reason string `json:"reason,omitempty"`
	err    error
}

// Report is the outcome of all checks.
type Report struct {
	Ready  bool     `json:"ready"`
	Checks []Result `json:"checks"`
}

// Err returns nil when r is ready, else an error matching ErrNotReady that
// joins each failing check's cause (for logs; it holds no secrets).
func (r Report) Err() error {
	if r.Ready {
		return nil
	}
	errs := []error{ErrNotReady}
	for _, c := range r.Checks {
		if !c.OK {
			errs = append(errs, fmt.Errorf("%s: %s: %w", c.Name, c.Reason, c.err))
		}
	}
	return errors.Join(errs...)
}

// Check runs every check and reports, records the results as metrics, and
// logs a change of readiness. Concurrent calls wait for one evaluation and,
// within CacheFor of it, share its report.
// After Drain it reports not ready (check shutdown, reason draining) and
// runs nothing.
func (c *Checker) Check(ctx context.Context) Report {
	if c.draining.Load() {
		return Report{Checks: []Result{{Name: CheckShutdown, Reason: "draining", err: errors.New("shutting down")}}}
	}
	c.evalMu.Lock()
	defer c.evalMu.Unlock()
	if c.o.CacheFor > 0 && !c.cachedAt.IsZero() && time.Since(c.cachedAt) < c.o.CacheFor {
		return c.cached
	}
	rep := c.evaluate(ctx)
	c.cached, c.cachedAt = rep, time.Now()
	return rep
}

func (c *Checker) evaluate(ctx context.Context) Report {
	rep := Report{Ready: true}
	add := func(name, reason string, err error) {
		r := Result{Name: name, OK: err == nil, err: err}
		if err != nil {
			r.Reason = reason
			rep.Ready = false
		}
		rep.Checks = append(rep.Checks, r)
	}
	add(CheckDB, "not_writable", c.checkDB(ctx))
	reason, err := c.checkSigner(ctx)
	add(CheckSigner, reason, err)
	reason, err = c.checkAudit()
	add(CheckAudit, reason, err)
	if c.o.Canary != nil {
		reason, err = c.o.Canary.check(c.o.Clock())
		add(CheckCanary, reason, err)
	}
	if m := c.o.Metrics; m != nil && !c.draining.Load() { // Drain has said not ready
		checks := make(map[string]bool, len(rep.Checks))
		for _, r := range rep.Checks {
			checks[r.Name] = r.OK
		}
		m.ObserveReadiness(rep.Ready, checks)
	}
	c.mu.Lock()
	changed := c.wasReady == nil || *c.wasReady != rep.Ready
	ready := rep.Ready
	c.wasReady = &ready
	c.mu.Unlock()
	if changed {
		if rep.Ready {
			c.o.Logger.Info("ready")
		} else {
			c.o.Logger.Warn("not ready", "err", rep.Err())
		}
	}
	return rep
}

func (c *Checker) checkDB(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, c.o.Timeout)
	defer cancel()
	// BeginWrite takes the write lock (and fails on a read-only file or a
	// lock held for longer than the busy timeout).
	tx, err := db.BeginWrite(ctx, c.o.DB)
	if err == nil {
		err = tx.Rollback()
	}
	if err != nil {
		if c.o.Metrics != nil {
			c.o.Metrics.DBErrors.WithLabelValues("ready_check").Inc()
		}
		return fmt.Errorf("begin immediate: %w", err)
	}
	return nil
}

func (c *Checker) checkSigner(ctx context.Context) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, c.o.Timeout)
	defer cancel()
	// A one-second grant costs nothing with a good session; without one it
	// makes the signer assume the role (once per failure backoff at most),
	// which is how readiness comes back after STS does.
	if _, err := c.o.Signer.Grant(ctx, time.Second); err != nil {
		return "no_session", err
	}
	cr, ok := c.o.Signer.Session()
	if !ok {
		return "no_session", errors.New("no session after a successful grant")
	}
	if left := cr.Expires.Sub(c.o.Clock()); left < c.o.MinSessionLeft {
		return "session_expiring", fmt.Errorf("session has %s left; want at least %s", left.Truncate(time.Second), c.o.MinSessionLeft)
	}
	return "", nil
}

func (c *Checker) checkAudit() (string, error) {
	if c.o.Chain != nil {
		if err := c.o.Chain.Broken(); err != nil {
			return "chain_broken", err
		}
	}
	if n := c.o.Audit.QueueDepth(); n > c.o.MaxAuditQueue {
		return "lagging", fmt.Errorf("%d rows queued; want at most %d", n, c.o.MaxAuditQueue)
	}
	c.mu.Lock()
	at, err := c.auditFailAt, c.auditErr
	c.mu.Unlock()
	if !at.IsZero() && c.o.Clock().Sub(at) < c.o.AuditFailWindow {
		return "failing", err
	}
	return "", nil
}
