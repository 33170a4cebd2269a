package janitor_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sharesvc/sharesvc/internal/db"
	"github.com/sharesvc/sharesvc/internal/janitor"
	"github.com/sharesvc/sharesvc/internal/metrics"
	"github.com/sharesvc/sharesvc/internal/testrig/testdb"
)

// Each test's database is on the run's engine (SHARESVC_TEST_DB).
func TestMain(m *testing.M) { os.Exit(testdb.Main(m)) }

func open(t *testing.T, dsn string) *db.DB { return openB(t, dsn) }

func openB(t testing.TB, dsn string) *db.DB {
	t.Helper()
	d, err := db.Open(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

var now = time.Unix(1_800_000_000, 0)

func ms(d time.Duration) int64 { return now.Add(d).UnixMilli() }

func exec(t *testing.T, q *sql.DB, query string, args ...any) {
	t.Helper()
	if _, err := q.Exec(query, args...); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
}

func session(t *testing.T, q *sql.DB, id string, expires int64) {
	t.Helper()
	exec(t, q, `INSERT INTO console_sessions (id_hash, token_id, csrf, expires_at) VALUES (?, 'tok', 'csrf', ?)`, []byte(id), expires)
}

// code inserts a recipient code row; locked < 0 means not locked.
func code(t *testing.T, q *sql.DB, link string, expires, sent, locked int64) {
	t.Helper()
	var l any
	if locked >= 0 {
		l = locked
	}
	exec(t, q, `INSERT INTO recipient_codes (link_id, code_hash, expires_at, attempts, sent_at, window_at, sends, locked_at)
        VALUES (?, ?, ?, 0, ?, ?, 1, ?)`, link, []byte("h"), expires, sent, sent, l)
}

func arrival(t *testing.T, q *sql.DB, id, state string, created int64) {
	t.Helper()
	exec(t, q, `INSERT INTO arrivals (id, link_id, object_key, bytes, state, created_at) VALUES (?, 'lnk', 'k', 1, ?, ?)`, id, state, created)
}

// ids returns the keys left in table, sorted.
func ids(t *testing.T, q *sql.DB, table, key string) string {
	t.Helper()
	rows, err := q.Query(`SELECT ` + key + ` FROM ` + table + ` ORDER BY ` + key)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s []byte
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		out = append(out, string(s))
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return strings.Join(out, " ")
}

// counter reads sharesvc_janitor_rows_deleted_total{table} from reg.
func counter(t *testing.T, reg *prometheus.Registry, table string) (float64, bool) {
	t.Helper()
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		if f.GetName() != "sharesvc_janitor_rows_deleted_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "table" && l.GetValue() == table {
					return m.GetCounter().GetValue(), true
				}
			}
		}
	}
	return 0, false
}

// A pass deletes the rows past their use in every table and keeps the
// others; it logs one line with the counts, and a pass with nothing to do
// logs nothing.
func TestPassDeletesExpiredRowsOnly(t *testing.T) {
	ctx := context.Background()
	d := open(t, testdb.DSN(t))
	q := d.Read

	session(t, q, "s_expired", ms(-time.Minute))
	session(t, q, "s_now", ms(0)) // expires_at <= now: over
	session(t, q, "s_live", ms(time.Minute))
	exec(t, q, `INSERT INTO oidc_logins (state_hash, nonce, pkce_verifier, expires_at) VALUES (?, 'n', 'v', ?), (?, 'n', 'v', ?)`,
		[]byte("o_expired"), ms(-time.Second), []byte("o_live"), ms(5*time.Minute))
	exec(t, q, `INSERT INTO recipient_verifications (id_hash, link_id, expires_at) VALUES (?, 'lnk', ?), (?, 'lnk', ?)`,
		[]byte("v_expired"), ms(-time.Hour), []byte("v_live"), ms(time.Hour))
	old := ms(-2 * time.Hour)
	code(t, q, "c_idle", old, old, -1)                                   // expired long ago, nothing in force: goes
	code(t, q, "c_unlocked", old, old, old)                              // its lock is over: goes
	code(t, q, "c_locked", old, old, ms(-30*time.Minute))                // lock in force: stays
	code(t, q, "c_used", 0, ms(-5*time.Minute), -1)                      // used, but its sends still count: stays
	code(t, q, "c_live", ms(5*time.Minute), ms(-5*time.Minute), -1)      // pending: stays
	code(t, q, "c_window", ms(-50*time.Minute), ms(-59*time.Minute), -1) // send window still open: stays
	arrival(t, q, "a_abandoned", "pending", ms(-8*24*time.Hour))         // never confirmed: goes
	arrival(t, q, "a_recent", "pending", ms(-6*24*time.Hour))            // may still confirm: stays
	arrival(t, q, "a_arrived", "arrived", ms(-30*24*time.Hour))          // an arrival is kept
	arrival(t, q, "a_edge", "pending", ms(-7*24*time.Hour))              // exactly a week: goes

	reg := prometheus.NewRegistry()
	m := metrics.New(reg, func() float64 { return 0 })
	var logs bytes.Buffer
	j := janitor.New(d, janitor.Options{
		Clock: func() time.Time { return now }, OnDelete: m.ObserveJanitor,
		Logger: slog.New(slog.NewJSONHandler(&logs, nil)),
	})
	for _, table := range []string{"console_sessions", "oidc_logins", "recipient_codes", "recipient_verifications", "arrivals"} {
		if v, ok := counter(t, reg, table); !ok || v != 0 {
			t.Errorf("before any pass, counter{table=%q} = %v (exists %v); want 0, present", table, v, ok)
		}
	}

	r := j.Pass(ctx)
	if !r.Led || r.Err != nil {
		t.Fatalf("Pass = led %v, err %v; want led, nil", r.Led, r.Err)
	}
	want := map[string]int64{"console_sessions": 2, "oidc_logins": 1, "recipient_verifications": 1, "recipient_codes": 2, "arrivals": 2}
	for table, n := range want {
		if r.Deleted[table] != n {
			t.Errorf("Deleted[%s] = %d; want %d", table, r.Deleted[table], n)
		}
		if v, _ := counter(t, reg, table); v != float64(n) {
			t.Errorf("sharesvc_janitor_rows_deleted_total{table=%q} = %v; want %d", table, v, n)
		}
	}
	for _, c := range []struct{ table, key, want string }{
		{"console_sessions", "id_hash", "s_live"},
		{"oidc_logins", "state_hash", "o_live"},
		{"recipient_verifications", "id_hash", "v_live"},
		{"recipient_codes", "link_id", "c_live c_locked c_used c_window"},
		{"arrivals", "id", "a_arrived a_recent"},
	} {
		if got := ids(t, q, c.table, c.key); got != c.want {
			t.Errorf("%s left: %q; want %q", c.table, got, c.want)
		}
	}

	lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
	if len(lines) != 1 {
		t.Fatalf("a pass that deleted rows logged %d lines; want 1:\n%s", len(lines), logs.String())
	}
	var line map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &line); err != nil {
		t.Fatal(err)
	}
	if line["msg"] != "janitor" || line["component"] != "janitor" || line["arrivals"] != 2.0 ||
		line["console_sessions"] != 2.0 || line["level"] != "INFO" {
		t.Errorf("log line = %s; want msg janitor with the counts", lines[0])
	}
	if _, ok := line["duration_ms"]; !ok {
		t.Errorf("log line = %s; want a duration_ms", lines[0])
	}

	logs.Reset()
	if r := j.Pass(ctx); !r.Led || r.Err != nil || len(r.Deleted) != 5 {
		t.Fatalf("second Pass = %+v", r)
	} else {
		for table, n := range r.Deleted {
			if n != 0 {
				t.Errorf("second pass deleted %d from %s; want 0", n, table)
			}
		}
	}
	if logs.Len() != 0 {
		t.Errorf("a pass with nothing to delete logged: %s", logs.String())
	}
}

// More rows than a batch go in several statements of at most a batch each,
// all in one pass.
func TestPassDeletesInBatches(t *testing.T) {
	ctx := context.Background()
	d := open(t, testdb.DSN(t))
	for i := range 25 {
		session(t, d.Read, fmt.Sprintf("s_%02d", i), ms(-time.Duration(i+1)*time.Minute))
		arrival(t, d.Read, fmt.Sprintf("a_%02d", i), "pending", ms(-8*24*time.Hour-time.Duration(i)*time.Minute))
	}
	session(t, d.Read, "s_live", ms(time.Hour))
	arrival(t, d.Read, "a_live", "pending", ms(-time.Hour))
	calls := map[string][]int64{}
	var tasks []janitor.Task
	for _, task := range janitor.Tasks(d.Read) {
		if task.Table != "console_sessions" && task.Table != "arrivals" {
			continue
		}
		del := task.Delete
		task.Delete = func(ctx context.Context, now time.Time, limit int) (int64, error) {
			n, err := del(ctx, now, limit)
			calls[task.Table] = append(calls[task.Table], n)
			return n, err
		}
		tasks = append(tasks, task)
	}
	var logs bytes.Buffer
	j := janitor.New(d, janitor.Options{Clock: func() time.Time { return now }, Batch: 10, Tasks: tasks,
		Logger: slog.New(slog.NewJSONHandler(&logs, nil))})
	r := j.Pass(ctx)
	if r.Err != nil || r.Deleted["console_sessions"] != 25 || r.Deleted["arrivals"] != 25 {
		t.Fatalf("Pass = %+v; want 25 sessions and 25 arrivals deleted", r)
	}
	for _, table := range []string{"console_sessions", "arrivals"} {
		if got := fmt.Sprint(calls[table]); got != "[10 10 5]" {
			t.Errorf("statements on %s deleted %s rows; want [10 10 5]", table, got)
		}
	}
	if got := ids(t, d.Read, "console_sessions", "id_hash"); got != "s_live" {
		t.Errorf("sessions left %q; want s_live", got)
	}
	if got := ids(t, d.Read, "arrivals", "id"); got != "a_live" {
		t.Errorf("arrivals left %q; want a_live", got)
	}
	if !strings.Contains(logs.String(), `"console_sessions":25`) || !strings.Contains(logs.String(), `"arrivals":25`) {
		t.Errorf("log = %s; want the counts 25", logs.String())
	}
}

// A failing task is logged with its error and does not stop the others.
func TestPassGoesOnAfterAFailure(t *testing.T) {
	ctx := context.Background()
	d := open(t, testdb.DSN(t))
	session(t, d.Read, "s_expired", ms(-time.Minute))
	tasks := janitor.Tasks(d.Read)
	failing := janitor.Task{Table: "broken", Delete: func(context.Context, time.Time, int) (int64, error) {
		return 0, fmt.Errorf("prune broken: disk on fire")
	}}
	var logs bytes.Buffer
	j := janitor.New(d, janitor.Options{Clock: func() time.Time { return now },
		Tasks: append([]janitor.Task{failing}, tasks...), Logger: slog.New(slog.NewJSONHandler(&logs, nil))})
	r := j.Pass(ctx)
	if r.Err == nil || r.Deleted["console_sessions"] != 1 {
		t.Fatalf("Pass = %+v; want an error and the session deleted anyway", r)
	}
	if !strings.Contains(logs.String(), `"level":"ERROR","msg":"janitor"`) || !strings.Contains(logs.String(), "disk on fire") {
		t.Errorf("log = %s; want an error line with the cause", logs.String())
	}
}

// On PostgreSQL, with several instances on one database, only the one that
// leads the job deletes; when it stops, another takes over.
func TestOnlyTheLeaderCleans(t *testing.T) {
	if testdb.Engine(t) != testdb.Postgres {
		t.Log("SQLite has one instance per file, which always leads (SHARESVC_TEST_DB=postgres tests the lead)")
		return
	}
	ctx := context.Background()
	dsn := testdb.DSN(t)
	a, b := open(t, dsn), open(t, dsn)
	opts := janitor.Options{Clock: func() time.Time { return now }}
	ja, jb := janitor.New(a, opts), janitor.New(b, opts)
	if r := ja.Pass(ctx); !r.Led || r.Err != nil {
		t.Fatalf("first instance's Pass = %+v; want it to lead", r)
	}
	session(t, a.Read, "s_expired", ms(-time.Minute))
	if r := jb.Pass(ctx); r.Led || r.Err != nil {
		t.Fatalf("second instance's Pass = %+v; want it not to lead", r)
	}
	if got := ids(t, b.Read, "console_sessions", "id_hash"); got != "s_expired" {
		t.Fatalf("a pass that does not lead deleted rows: left %q", got)
	}
	// The leader stops: Run gives the lead up as it returns.
	stop, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { ja.Run(stop); close(done) }()
	cancel()
	<-done
	if r := jb.Pass(ctx); !r.Led || r.Err != nil || r.Deleted["console_sessions"] != 1 {
		t.Fatalf("second instance's Pass after the leader stopped = %+v; want it to lead and delete", r)
	}
}
