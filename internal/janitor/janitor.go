// Package janitor removes rows that have outlived their use and that no
// request removes: expired console sessions and provider sign-ins under
// way, expired recipient codes and verifications, and uploads left pending
// for a week. It runs every few minutes on the one instance that leads the
// "janitor" job (db.Leader), and deletes in batches of bounded statements
// so that the write lock is never held long. The deletes themselves live
// with the tables' owners (internal/web, internal/links).
package janitor

import (
	"context"
	"database/sql"
	"errors"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/sharesvc/sharesvc/internal/db"
	"github.com/sharesvc/sharesvc/internal/links"
	"github.com/sharesvc/sharesvc/internal/web"
)

const (
	// DefaultInterval is the time between two passes (give or take a
	// tenth, so that restarted instances do not fall into step).
	DefaultInterval = 10 * time.Minute
	// DefaultBatch is how many rows one delete statement removes at most.
	DefaultBatch = 1000
	// maxBatches bounds one table's deletes in one pass; what is left
	// goes at the next.
	maxBatches = 100
)

// Task is one table's cleanup: Delete removes at most limit rows due at
// now, in one statement, and reports how many it removed.
type Task struct {
	Table  string
	Delete func(ctx context.Context, now time.Time, limit int) (int64, error)
}

// Tasks are sharesvc's cleanups on the pool d.
func Tasks(d *sql.DB) []Task {
	return []Task{
		{"console_sessions", func(ctx context.Context, now time.Time, limit int) (int64, error) {
			return web.PruneSessions(ctx, d, now, limit)
		}},
		{"oidc_logins", func(ctx context.Context, now time.Time, limit int) (int64, error) {
			return web.PruneLogins(ctx, d, now, limit)
		}},
		{"recipient_verifications", func(ctx context.Context, now time.Time, limit int) (int64, error) {
			return links.PruneVerifications(ctx, d, now, limit)
		}},
		{"recipient_codes", func(ctx context.Context, now time.Time, limit int) (int64, error) {
			return links.PruneCodes(ctx, d, links.DefaultCodePolicy, now, limit)
		}},
		{"arrivals", func(ctx context.Context, now time.Time, limit int) (int64, error) {
			return links.PrunePendingArrivals(ctx, d, now, limit)
		}},
	}
}

// Options configure a Janitor; the zero value is the production one.
type Options struct {
	// Interval is the time between passes; 0 means DefaultInterval.
	Interval time.Duration
	// Batch is the most rows one statement deletes; 0 means DefaultBatch.
	Batch int
	// Clock is the time rows are compared with; nil means time.Now.
	Clock func() time.Time
	// Logger gets one line per pass that deleted something or failed.
	Logger *slog.Logger
	// OnDelete, when set, is told the rows deleted from each table (for
	// metrics); it is called with 0 for every table at New, so that each
	// table's series exists from the start.
	OnDelete func(table string, n int64)
	// Tasks are the cleanups; nil means Tasks of the database's pool.
	Tasks []Task
}

// Janitor runs the cleanups.
type Janitor struct {
	o    Options
	lead *db.Leader
}

// New returns a Janitor over d, leading the job "janitor" among the
// instances on d.
func New(d *db.DB, o Options) *Janitor {
	if o.Interval <= 0 {
		o.Interval = DefaultInterval
	}
	if o.Batch <= 0 {
		o.Batch = DefaultBatch
	}
	if o.Clock == nil {
		o.Clock = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	o.Logger = o.Logger.With("component", "janitor")
	if o.Tasks == nil {
		o.Tasks = Tasks(d.Read)
	}
	if o.OnDelete != nil {
		for _, t := range o.Tasks {
			o.OnDelete(t.Table, 0)
		}
	}
	return &Janitor{o: o, lead: d.Leader("janitor")}
}

// Result is what one pass did.
type Result struct {
	Led      bool             // this instance led the job (else nothing ran)
	Deleted  map[string]int64 // rows deleted, by table
	Duration time.Duration
	Err      error // the failures of the pass, joined (logged already)
}

// Pass runs every task once, if this instance leads: each deletes in
// batches until fewer than a batch are left (or maxBatches ran). A task
// that fails does not stop the others. It logs one line ("janitor", the
// counts by table, duration_ms) when it deleted something or failed.
func (j *Janitor) Pass(ctx context.Context) Result {
	start := time.Now()
	var r Result
	r.Led, r.Err = j.lead.Lead(ctx)
	if !r.Led {
		if r.Err != nil && ctx.Err() == nil {
			j.o.Logger.Error("janitor: take the lead", "err", r.Err)
		}
		return r
	}
	r.Deleted = make(map[string]int64, len(j.o.Tasks))
	now := j.o.Clock()
	var errs []error
	for _, t := range j.o.Tasks {
		for range maxBatches {
			n, err := t.Delete(ctx, now, j.o.Batch)
			r.Deleted[t.Table] += n
			if n > 0 && j.o.OnDelete != nil {
				j.o.OnDelete(t.Table, n)
			}
			if err != nil {
				errs = append(errs, err)
				break
			}
			if n < int64(j.o.Batch) {
				break
			}
		}
	}
	r.Err, r.Duration = errors.Join(errs...), time.Since(start)
	var total int64
	args := make([]any, 0, 2*len(j.o.Tasks)+4)
	for _, t := range j.o.Tasks {
		total += r.Deleted[t.Table]
		args = append(args, t.Table, r.Deleted[t.Table])
	}
	args = append(args, "duration_ms", r.Duration.Milliseconds())
	switch {
	case r.Err != nil && ctx.Err() == nil:
		j.o.Logger.Error("janitor", append(args, "err", r.Err)...)
	case total > 0:
		j.o.Logger.Info("janitor", args...)
	}
	return r
}

// Run makes a pass at once and then every Interval, give or take a tenth,
// until ctx ends; then it gives the lead up.
func (j *Janitor) Run(ctx context.Context) {
	defer j.lead.Release()
	for {
		j.Pass(ctx)
		jitter := j.o.Interval / 5
		t := time.NewTimer(j.o.Interval - jitter/2 + rand.N(jitter+1))
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}
