// Package testdb gives a test a fresh, empty database on the engine the
// test run is for: SQLite (a file in the test's temporary directory) by
// default, or PostgreSQL (a new database in the test binary's throwaway
// cluster) when SHARESVC_TEST_DB=postgres. The behaviour suites open their
// databases through it, so that one setup runs them on both engines:
// `make test` runs them once per engine.
package testdb

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/sharesvc/sharesvc/internal/testrig/postgres"
)

// Engines are the values SHARESVC_TEST_DB takes.
const (
	SQLite   = "sqlite"
	Postgres = "postgres"
)

// Engine returns the engine of this test run, failing t on a value it does
// not know (rather than quietly testing SQLite instead).
func Engine(t testing.TB) string {
	t.Helper()
	switch e := os.Getenv("SHARESVC_TEST_DB"); e {
	case "", SQLite:
		return SQLite
	case Postgres:
		return Postgres
	default:
		t.Fatalf("SHARESVC_TEST_DB=%q: want %q or %q", e, SQLite, Postgres)
		return ""
	}
}

// DSN returns what db.Open takes for a new, empty database for t on the
// run's engine; it is removed when t ends.
func DSN(t testing.TB) string {
	t.Helper()
	if Engine(t) == Postgres {
		return postgres.Database(t)
	}
	return filepath.Join(t.TempDir(), "sharesvc.db")
}

// SQLiteFile returns a new SQLite file for t whatever the run's engine: for
// the tests that are about the embedded file itself (its mode on disk, a
// full disk, a read-only file, SQLite's own locking).
func SQLiteFile(t testing.TB) string {
	t.Helper()
	return filepath.Join(t.TempDir(), "sharesvc.db")
}

// Main runs m's tests and stops the PostgreSQL cluster if one was started;
// call it from TestMain instead of m.Run when the package uses DSN.
func Main(m *testing.M) int {
	return postgres.RunMain(m)
}
