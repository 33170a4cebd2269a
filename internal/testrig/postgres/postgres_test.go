package postgres_test

import (
	"context"
	"database/sql"
	"testing"
	"time"

	"github.com/sharesvc/sharesvc/internal/testrig/postgres"
)

func TestMain(m *testing.M) { postgres.Main(m) }

// Each test gets a database of its own: what one writes, another never sees.
func TestDatabasesAreSeparate(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	a, b := open(t, postgres.Database(t)), open(t, postgres.Database(t))
	if _, err := a.ExecContext(ctx, `CREATE TABLE only_in_a (x BIGINT)`); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := b.QueryRowContext(ctx, `SELECT count(*) FROM information_schema.tables WHERE table_name = 'only_in_a'`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("the second database sees %d tables named only_in_a (%v); want 0", n, err)
	}
	var coll string
	if err := a.QueryRowContext(ctx, `SELECT datcollate FROM pg_database WHERE datname = current_database()`).Scan(&coll); err != nil || coll != "C" {
		t.Fatalf("datcollate = %q, %v; want C (byte order, as SQLite's)", coll, err)
	}
}

// Stop ends the server: its port no longer accepts connections.
func TestStopEndsTheServer(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := postgres.Start(ctx)
	if err != nil {
		t.Fatalf("a real PostgreSQL is required (run scripts/postgres.sh to install it): %v", err)
	}
	u, _, err := c.CreateDatabase(ctx)
	if err != nil {
		c.Stop()
		t.Fatal(err)
	}
	db := open(t, u)
	if err := db.PingContext(ctx); err != nil {
		c.Stop()
		t.Fatal(err)
	}
	db.Close()
	if err := c.Stop(); err != nil {
		t.Fatalf("Stop = %v", err)
	}
	if err := open(t, u).PingContext(ctx); err == nil {
		t.Fatal("the server still accepts connections after Stop")
	}
}

func open(t *testing.T, u string) *sql.DB {
	t.Helper()
	db, err := sql.Open("pgx", u)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// StopServer and StartServer are an outage: the port refuses connections
// in between, and the server comes back on the same port with its data.
func TestServerRestartKeepsDataAndPort(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := postgres.Start(ctx)
	if err != nil {
		t.Fatalf("a real PostgreSQL is required (run scripts/postgres.sh to install it): %v", err)
	}
	defer c.Stop()
	u, _, err := c.CreateDatabase(ctx)
	if err != nil {
		t.Fatal(err)
	}
	db := open(t, u)
	if _, err := db.ExecContext(ctx, `CREATE TABLE kept (x BIGINT); INSERT INTO kept VALUES (42)`); err != nil {
		t.Fatal(err)
	}
	port := c.Port
	if err := c.StopServer(); err != nil {
		t.Fatalf("StopServer = %v", err)
	}
	if err := open(t, u).PingContext(ctx); err == nil {
		t.Fatal("the server accepts connections after StopServer")
	}
	if err := c.StartServer(ctx); err != nil {
		t.Fatalf("StartServer = %v", err)
	}
	var x int
	if err := open(t, u).QueryRowContext(ctx, `SELECT x FROM kept`).Scan(&x); err != nil || x != 42 || c.Port != port {
		t.Fatalf("after a restart: x = %d, %v on port %d; want 42 on port %d", x, err, c.Port, port)
	}
	// A pool from before the outage recovers without being reopened.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if err := db.QueryRowContext(ctx, `SELECT x FROM kept`).Scan(&x); err == nil {
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("the old pool still fails after the restart: %v", err)
		}
	}
}
