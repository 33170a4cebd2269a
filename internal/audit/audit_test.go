package audit_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/sharesvc/sharesvc/internal/audit"
	"github.com/sharesvc/sharesvc/internal/db"
	"github.com/sharesvc/sharesvc/internal/testrig/testdb"
)

// Each test's database is on the run's engine (SHARESVC_TEST_DB), except
// in the benchmarks and the query plan test, which are about SQLite.
func TestMain(m *testing.M) { os.Exit(testdb.Main(m)) }

func openLog(t *testing.T) (*db.DB, *audit.Log) {
	t.Helper()
	return openLogWith(t, audit.Options{})
}

func appendN(t *testing.T, l *audit.Log, n int) {
	t.Helper()
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := l.Append(context.Background(), audit.Event{
				Action: audit.ActionAccess, Actor: audit.ActorClient, LinkID: fmt.Sprintf("lnk_%d", i),
				Outcome: audit.OutcomeMinted, ClientIP: "192.0.2.1", UserAgent: "curl/8", RequestID: fmt.Sprint(i),
				URLExpiresAt: time.Now().Add(time.Minute), STSSession: "s",
			}, nil)
			if err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
}

func TestConcurrentAppendsFormOneChain(t *testing.T) {
	d, l := openLog(t)
	appendN(t, l, 200)
	r, err := audit.Verify(context.Background(), d.Read)
	if err != nil {
		t.Fatal(err)
	}
	if r.Rows != 200 || r.FirstSeq != 1 || r.LastSeq != 200 {
		t.Fatalf("Verify = %+v; want 200 rows 1..200", r)
	}
}

// tamper runs SQL as an attacker with write access to the database would,
// with the append-only triggers out of the way.
func tamper(t *testing.T, d *db.DB, stmts ...string) {
	t.Helper()
	qs := make([]query, len(stmts))
	for i, s := range stmts {
		qs[i] = query{sql: s}
	}
	tamperArgs(t, d, qs...)
}

// query is a statement and its arguments.
type query struct {
	sql  string
	args []any
}

// tamperArgs is tamper with statements that take arguments.
func tamperArgs(t *testing.T, d *db.DB, qs ...query) {
	t.Helper()
	tx, err := d.Read.Begin()
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	drop := []query{{sql: `DROP TRIGGER audit_events_no_update`}, {sql: `DROP TRIGGER audit_events_no_delete`}}
	if d.Engine() == db.PostgreSQL {
		drop = []query{{sql: `DROP TRIGGER audit_events_no_update ON audit_events`}, {sql: `DROP TRIGGER audit_events_no_delete ON audit_events`}}
	}
	for _, q := range append(drop, qs...) {
		if _, err := tx.Exec(q.sql, q.args...); err != nil {
			t.Fatalf("%s: %v", q.sql, err)
		}
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
}

func TestVerifyDetectsTampering(t *testing.T) {
	for _, tc := range []struct {
		name    string
		stmts   []string
		wantBad int64
	}{
		{"flipped byte", []string{`UPDATE audit_events SET user_agent = 'curl/9' WHERE seq = 7`}, 7},
		{"deleted row", []string{`DELETE FROM audit_events WHERE seq = 5`}, 5},
		{"swapped rows", []string{
			`UPDATE audit_events SET seq = -1 WHERE seq = 3`,
			`UPDATE audit_events SET seq = 3 WHERE seq = 4`,
			`UPDATE audit_events SET seq = 4 WHERE seq = -1`}, 3},
		{"edited time", []string{`UPDATE audit_events SET at = at - 1000000 WHERE seq = 9`}, 9},
		{"rewritten hash", []string{`UPDATE audit_events SET outcome = 'denied', hash = (SELECT hash FROM audit_events WHERE seq = 1) WHERE seq = 2`}, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, l := openLog(t)
			appendN(t, l, 10)
			if _, err := audit.Verify(context.Background(), d.Read); err != nil {
				t.Fatalf("untouched log: %v", err)
			}
			tamper(t, d, tc.stmts...)
			r, err := audit.Verify(context.Background(), d.Read)
			if !errors.Is(err, audit.ErrTampered) || r.BadSeq != tc.wantBad {
				t.Fatalf("Verify = %+v, %v; want ErrTampered at row %d", r, err, tc.wantBad)
			}
		})
	}
}

func TestApplyErrorFailsOnlyItsOwnRow(t *testing.T) {
	d, l := openLog(t)
	boom := errors.New("boom")
	var wg sync.WaitGroup
	errs := make([]error, 50)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var apply audit.ApplyFunc
			if i%10 == 0 {
				apply = func(ctx context.Context, tx *sql.Tx, ev *audit.Event) error { return boom }
			}
			_, errs[i] = l.Append(context.Background(), audit.Event{Action: "x", Actor: "y", Outcome: "ok"}, apply)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if (i%10 == 0) != errors.Is(err, boom) {
			t.Errorf("append %d = %v", i, err)
		}
	}
	r, err := audit.Verify(context.Background(), d.Read)
	if err != nil || r.Rows != 45 {
		t.Fatalf("Verify = %+v, %v; want 45 rows", r, err)
	}
}

func TestCanonicalEncodingIsInjective(t *testing.T) {
	a := audit.Event{Seq: 1, Action: "ab", Actor: "c"}
	b := audit.Event{Seq: 1, Action: "a", Actor: "bc"}
	if string(a.Canonical(nil)) == string(b.Canonical(nil)) {
		t.Fatal("shifting a byte between fields gives the same encoding")
	}
	c := audit.Event{Seq: 1, URLExpiresAt: time.UnixMilli(0)}
	d := audit.Event{Seq: 1}
	if string(c.Canonical(nil)) == string(d.Canonical(nil)) {
		t.Fatal("a URL expiry of 0 encodes like no URL expiry")
	}
}

func TestAppendFailsClosedWhenUnwritable(t *testing.T) {
	dsn := testdb.DSN(t)
	d, l := openLogAt(t, dsn, audit.Options{})
	appendN(t, l, 3)
	// Another process (another instance, on PostgreSQL) holding the write
	// lock for longer than the busy timeout.
	other, err := db.Open(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	lock, err := db.BeginWrite(context.Background(), other.Read)
	if err != nil {
		t.Fatal(err)
	}
	_, err = l.Append(context.Background(), audit.Event{Action: "x", Actor: "y", Outcome: "ok"}, nil)
	if !errors.Is(err, audit.ErrUnavailable) {
		t.Fatalf("Append while locked = %v; want ErrUnavailable", err)
	}
	lock.Rollback()
	if _, err := l.Append(context.Background(), audit.Event{Action: "x", Actor: "y", Outcome: "ok"}, nil); err != nil {
		t.Fatalf("Append after unlock = %v; want it to recover", err)
	}
	if r, err := audit.Verify(context.Background(), d.Read); err != nil || r.Rows != 4 {
		t.Fatalf("Verify = %+v, %v; want 4 rows", r, err)
	}
}
