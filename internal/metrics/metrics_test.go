package metrics_test

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/sharesvc/sharesvc/internal/audit"
	"github.com/sharesvc/sharesvc/internal/db"
	"github.com/sharesvc/sharesvc/internal/metrics"
)

// TestAuditCommitResults checks that a request an ApplyFunc refuses counts
// as refused, once, even when it shared a batch with others, and that only
// failures of the database count as commit failures.
func TestAuditCommitResults(t *testing.T) {
	ctx := context.Background()
	d, err := db.Open(ctx, filepath.Join(t.TempDir(), "m.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	m := metrics.New(prometheus.NewRegistry(), func() float64 { return 0 })
	l, err := audit.Open(ctx, d.Write, audit.Options{OnCommit: m.ObserveAuditCommit})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	counts := func() [4]float64 {
		return [4]float64{
			value(t, m.AuditCommits.WithLabelValues("ok")),
			value(t, m.AuditCommits.WithLabelValues("db_error")),
			value(t, m.AuditRefused),
			value(t, m.DBErrors.WithLabelValues("audit_write")),
		}
	}
	ev := audit.Event{Action: audit.ActionAccess, Actor: audit.ActorClient, Outcome: audit.OutcomeDenied, Reason: "not_found"}
	errRefused := errors.New("refused (test)")
	refuse := func(context.Context, *sql.Tx, *audit.Event) error { return errRefused }

	// A batch of three, one refused: the writer holds the first row's
	// transaction open until the three are queued behind it.
	started, release := make(chan struct{}), make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		if _, err := l.Append(ctx, ev, func(context.Context, *sql.Tx, *audit.Event) error {
			close(started)
			<-release
			return nil
		}); err != nil {
			t.Errorf("first append: %v", err)
		}
	})
	<-started
	for i, apply := range []audit.ApplyFunc{nil, refuse, nil} {
		wg.Go(func() {
			if _, err := l.Append(ctx, ev, apply); (err != nil) != (i == 1) {
				t.Errorf("append %d of the batch = %v", i, err)
			}
		})
	}
	deadline := time.Now().Add(10 * time.Second)
	for l.QueueDepth() < 3 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	close(release)
	wg.Wait()
	if got, want := counts(), [4]float64{3, 0, 1, 0}; got != want {
		t.Errorf("after a batch with a refusal: [ok db_error refused db_errors] = %v; want %v", got, want)
	}

	// A unique constraint refusing a row is the request's refusal too.
	if _, err := l.Append(ctx, ev, func(ctx context.Context, tx *sql.Tx, _ *audit.Event) error {
		if _, err := tx.ExecContext(ctx, `CREATE TEMP TABLE u (k TEXT PRIMARY KEY)`); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO u VALUES ('a'), ('a')`)
		return err
	}); !db.IsUniqueViolation(err) {
		t.Fatalf("append with a duplicate key = %v; want a unique violation", err)
	}
	if got, want := counts(), [4]float64{3, 0, 2, 0}; got != want {
		t.Errorf("after a unique violation: [ok db_error refused db_errors] = %v; want %v", got, want)
	}

	// The database failing, inside an ApplyFunc or in the writer's own
	// statements, is a commit failure.
	if _, err := l.Append(ctx, ev, func(ctx context.Context, tx *sql.Tx, _ *audit.Event) error {
		_, err := tx.ExecContext(ctx, `SELECT * FROM no_such_table`)
		return err
	}); err == nil {
		t.Fatal("append reading a missing table succeeded")
	}
	if _, err := d.Read.Exec(`ALTER TABLE audit_events RENAME TO audit_gone`); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Append(ctx, ev, nil); !errors.Is(err, audit.ErrUnavailable) {
		t.Fatalf("append with the table gone = %v; want ErrUnavailable", err)
	}
	if got, want := counts(), [4]float64{3, 2, 2, 2}; got != want {
		t.Errorf("after two database failures: [ok db_error refused db_errors] = %v; want %v", got, want)
	}
}

// value reads a counter.
func value(t *testing.T, c prometheus.Counter) float64 {
	t.Helper()
	var out dto.Metric
	if err := c.Write(&out); err != nil {
		t.Fatal(err)
	}
	return out.GetCounter().GetValue()
}
