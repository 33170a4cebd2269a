package db

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sharesvc/sharesvc/internal/testrig/postgres"
)

func TestMain(m *testing.M) { postgres.Main(m) }

func TestRebind(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{`SELECT 1`, `SELECT 1`},
		{`SELECT a FROM t WHERE b = ? AND c IN (?, ?)`, `SELECT a FROM t WHERE b = $1 AND c IN ($2, $3)`},
		{`SELECT '?', "?x", ? -- why?` + "\n" + `, ?`, `SELECT '?', "?x", $1 -- why?` + "\n" + `, $2`},
		{`SELECT 'it''s ?', ?`, `SELECT 'it''s ?', $1`},
		{`/* ? */ SELECT ?`, `/* ? */ SELECT $1`},
		{`DO $$ BEGIN PERFORM '?'; END $$; SELECT ?`, `DO $$ BEGIN PERFORM '?'; END $$; SELECT $1`},
		{`SELECT $fn$ ? $fn$, ?`, `SELECT $fn$ ? $fn$, $1`},
		{`SELECT $1 WHERE x = ?`, `SELECT $1 WHERE x = $1`}, // mixing is the caller's mistake; ? counts on its own
		{`SELECT 'open ?`, `SELECT 'open ?`},
		{`SELECT ?` + strings.Repeat(",?", 11), `SELECT $1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12`},
	} {
		if got := Rebind(c.in); got != c.want {
			t.Errorf("Rebind(%q) = %q; want %q", c.in, got, c.want)
		}
	}
}

func openPG(t *testing.T) (*DB, string) {
	t.Helper()
	u := postgres.Database(t)
	d, err := Open(context.Background(), u)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d, u
}

// Several instances starting at once on an empty database migrate it once.
func TestPostgresMigratesOnceUnderConcurrentStarts(t *testing.T) {
	u := postgres.Database(t)
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make([]error, 3)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d, err := Open(ctx, u)
			if err == nil {
				d.Close()
			}
			errs[i] = err
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("Open #%d: %v", i, err)
		}
	}
	d, err := Open(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	var n, max int
	if err := d.Read.QueryRowContext(ctx, `SELECT COUNT(*), MAX(version) FROM schema_migrations`).Scan(&n, &max); err != nil {
		t.Fatal(err)
	}
	if want := len(MigrationsPostgres()); n != want || max != want {
		t.Fatalf("%d migrations recorded up to %d; want %d", n, max, want)
	}
	if len(MigrationsPostgres()) != len(Migrations()) {
		t.Fatalf("schema_postgres.sql has %d steps, schema.sql %d", len(MigrationsPostgres()), len(Migrations()))
	}
	if d.Engine() != PostgreSQL || strings.Contains(d.Path(), "password") {
		t.Fatalf("engine %s, path %q", d.Engine().Name(), d.Path())
	}
	if ok, err := d.HasTable(ctx, "audit_events"); err != nil || !ok {
		t.Fatalf("HasTable(audit_events) = %v, %v", ok, err)
	}
	if ok, err := d.HasTable(ctx, "no_such_table"); err != nil || ok {
		t.Fatalf("HasTable(no_such_table) = %v, %v", ok, err)
	}
}

// BeginWrite serialises writers of every pool (every instance) on the one
// lock, and a writer that cannot have it within BusyTimeout gets IsBusy.
func TestPostgresBeginWriteSerialises(t *testing.T) {
	d, u := openPG(t)
	other, err := Open(context.Background(), u) // a second instance
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	ctx := context.Background()
	tx, err := BeginWrite(ctx, d.Write)
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan error, 1)
	go func() {
		tx2, err := BeginWrite(ctx, other.Write)
		if err == nil {
			err = tx2.Commit()
		}
		got <- err
	}()
	select {
	case err := <-got:
		t.Fatalf("a second writer began while the first held the lock (err %v)", err)
	case <-time.After(300 * time.Millisecond):
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	if err := <-got; err != nil {
		t.Fatalf("second writer after the first committed: %v", err)
	}

	// Held past the busy timeout: the waiter fails with IsBusy.
	tx, err = BeginWrite(ctx, d.Write)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	start := time.Now()
	_, err = BeginWrite(ctx, other.Read)
	if !IsBusy(err) || !IsEngineError(err) {
		t.Fatalf("writer behind a held lock: %v (IsBusy %v); want IsBusy", err, IsBusy(err))
	}
	if waited := time.Since(start); waited < BusyTimeout-100*time.Millisecond {
		t.Fatalf("gave up after %v; want about %v", waited, BusyTimeout)
	}
}

func TestPostgresClassifiers(t *testing.T) {
	d, u := openPG(t)
	ctx := context.Background()
	ins := `INSERT INTO api_tokens (id, name, role, token_hash, created_at, created_by) VALUES (?, ?, ?, ?, ?, 'cli')`
	if _, err := d.Read.ExecContext(ctx, ins, "tok_1", "alice", "sharer", []byte("h1"), 1); err != nil {
		t.Fatal(err)
	}
	_, err := d.Read.ExecContext(ctx, ins, "tok_2", "alice", "sharer", []byte("h2"), 2)
	if !IsUniqueViolation(err) || !IsEngineError(err) {
		t.Fatalf("duplicate name: %v; want IsUniqueViolation", err)
	}
	// The append-only trigger's refusal is an engine error of no special class.
	_, err = d.Read.ExecContext(ctx, `INSERT INTO audit_events (seq, at, action, actor, outcome, reason, client_ip, user_agent, request_id, detail, prev_hash, hash)
        VALUES (1, 1, 'x', 'y', 'ok', '', '', '', '', '', ?, ?)`, make([]byte, 32), make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	_, err = d.Read.ExecContext(ctx, `DELETE FROM audit_events`)
	if err == nil || !IsEngineError(err) || IsUniqueViolation(err) || IsBusy(err) {
		t.Fatalf("delete from the audit log: %v; want an engine error", err)
	}
	if IsEngineError(sql.ErrNoRows) || IsEngineError(errors.New("x")) || IsEngineError(context.Canceled) {
		t.Fatal("IsEngineError is true for an error that is not the database's")
	}

	ro, err := OpenReadOnly(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	if ro.Write != nil {
		t.Fatal("a read-only DB has a writer")
	}
	var n int
	if err := ro.Read.QueryRowContext(ctx, `SELECT COUNT(*) FROM api_tokens WHERE name = ?`, "alice").Scan(&n); err != nil || n != 1 {
		t.Fatalf("read-only read: %d, %v", n, err)
	}
	_, err = ro.Read.ExecContext(ctx, ins, "tok_3", "bob", "sharer", []byte("h3"), 3)
	if !IsReadOnly(err) {
		t.Fatalf("write through a read-only DB: %v; want IsReadOnly", err)
	}

	// Nothing listening: an engine error, and the message keeps the password out.
	_, err = Open(ctx, "postgres://sharesvc:s3cret-pw@127.0.0.1:1/x?sslmode=disable&connect_timeout=2")
	if err == nil || strings.Contains(err.Error(), "s3cret-pw") || !IsUnavailable(err) || IsBusy(err) {
		t.Fatalf("open with nothing listening: %v; want IsUnavailable without the password", err)
	}
	_, err = Open(ctx, "postgres://u:s3cret-pw@[::1/x")
	if err == nil || strings.Contains(err.Error(), "s3cret-pw") {
		t.Fatalf("open with a malformed URL: %v; want an error without the password", err)
	}
}

// One instance leads a job at a time; when it goes, another takes over at
// its next Lead.
func TestPostgresLeaderFailsOver(t *testing.T) {
	a, u := openPG(t)
	b, err := Open(context.Background(), u)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	ctx := context.Background()
	la, lb := a.Leader("audit-checkpoints"), b.Leader("audit-checkpoints")
	other := b.Leader("audit-prune")
	for i := 0; i < 3; i++ {
		if ok, err := la.Lead(ctx); !ok || err != nil {
			t.Fatalf("first instance, call %d: lead %v, %v; want true", i, ok, err)
		}
		if ok, err := lb.Lead(ctx); ok || err != nil {
			t.Fatalf("second instance while the first leads: %v, %v; want false", ok, err)
		}
	}
	if ok, err := other.Lead(ctx); !ok || err != nil {
		t.Fatalf("another job: %v, %v; want its own lead", ok, err)
	}
	// The leader's connection ends (as when its process dies).
	var pid int
	if err := la.conn.QueryRowContext(ctx, `SELECT pg_backend_pid()`).Scan(&pid); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Read.ExecContext(ctx, `SELECT pg_terminate_backend(?)`, pid); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		ok, err := lb.Lead(ctx)
		if ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the second instance never took the lead after the first's connection ended (last: %v)", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if ok, _ := la.Lead(ctx); ok {
		t.Fatal("the first instance still leads after losing its connection")
	}
	lb.Release()
	if ok, err := la.Lead(ctx); !ok || err != nil {
		t.Fatalf("after the second released: %v, %v; want the first to lead again", ok, err)
	}
	s, err := Open(ctx, filepath.Join(t.TempDir(), "s.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if ok, err := s.Leader("audit-checkpoints").Lead(ctx); !ok || err != nil {
		t.Fatalf("SQLite: %v, %v; want always leading", ok, err)
	}
}
