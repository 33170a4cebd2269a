package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// Engine is what sharesvc needs to know about one database engine beyond
// database/sql: how to read its errors and how to ask its catalogue about
// the schema. SQLite is the embedded default and PostgreSQL the engine of
// deployments that outgrow one machine; callers use the package-level
// functions below and never name either.
type Engine interface {
	// Name is the engine's name, such as "sqlite".
	Name() string
	// Classify returns the class of err if it came from this engine's
	// driver (at any depth of wrapping), and ok false otherwise.
	Classify(err error) (c ErrorClass, ok bool)
	// HasTable reports whether the schema q reads from has a table named
	// name.
	HasTable(ctx context.Context, q Querier, name string) (bool, error)
}

// Querier is the part of *sql.DB, *sql.Conn and *sql.Tx that reads.
type Querier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// ErrorClass is an engine-neutral kind of database failure.
type ErrorClass int

// Error classes. An error that came from the engine but fits none of the
// others is ClassOther.
const (
	ClassOther           ErrorClass = iota + 1
	ClassUniqueViolation            // a UNIQUE or PRIMARY KEY constraint refused a row
	ClassBusy                       // another writer held the lock past the busy timeout
	ClassReadOnly                   // the database, or this connection, may not be written
	ClassFull                       // the disk, or the database's size limit, is full
	ClassUnavailable                // the database server cannot be reached or is shutting down or starting
)

// SQLite is the embedded engine (modernc.org/sqlite, pure Go).
var SQLite Engine = sqliteEngine{}

// engines are those whose errors the classifiers recognise.
var engines = []Engine{SQLite, PostgreSQL}

// Engine returns the engine d talks to.
func (d *DB) Engine() Engine { return d.engine }

// HasTable reports whether d's schema has a table named name.
func (d *DB) HasTable(ctx context.Context, name string) (bool, error) {
	return d.engine.HasTable(ctx, d.Read, name)
}

func classify(err error) (ErrorClass, bool) {
	if err == nil {
		return 0, false
	}
	for _, e := range engines {
		if c, ok := e.Classify(err); ok {
			return c, true
		}
	}
	return 0, false
}

// IsUniqueViolation reports whether err is a UNIQUE or PRIMARY KEY
// constraint refusing a row, so that callers can rely on the constraint
// rather than on a check-then-insert that is safe with one writer only.
func IsUniqueViolation(err error) bool {
	c, _ := classify(err)
	return c == ClassUniqueViolation
}

// IsBusy reports whether err is a lock held by another connection or
// process for longer than the busy timeout: retrying later may succeed.
func IsBusy(err error) bool {
	c, _ := classify(err)
	return c == ClassBusy
}

// IsUnavailable reports whether err is the database failing for a while
// rather than for good: a database server (PostgreSQL) that cannot be
// reached, is starting or shutting down, or refuses more connections, or a
// connection lost mid-statement. Retrying later may succeed. SQLite, a file
// in this process, has no such state.
func IsUnavailable(err error) bool {
	c, _ := classify(err)
	return c == ClassUnavailable
}

// IsReadOnly reports whether err is a write refused because the database
// file, its directory or the connection is read-only.
func IsReadOnly(err error) bool {
	c, _ := classify(err)
	return c == ClassReadOnly
}

// IsFull reports whether err is a write refused because the disk or the
// database's own size limit is full.
func IsFull(err error) bool {
	c, _ := classify(err)
	return c == ClassFull
}

// IsEngineError reports whether err came from the database: from an
// engine's driver, or from database/sql on a closed connection or finished
// transaction. It is false for sql.ErrNoRows and for a caller's own errors.
func IsEngineError(err error) bool {
	if _, ok := classify(err); ok {
		return true
	}
	return errors.Is(err, sql.ErrConnDone) || errors.Is(err, sql.ErrTxDone)
}

type sqliteEngine struct{}

func (sqliteEngine) Name() string { return "sqlite" }

func (sqliteEngine) Classify(err error) (ErrorClass, bool) {
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return 0, false
	}
	// Codes are extended result codes; the low byte is the primary code.
	switch code := se.Code(); {
	case code == sqlite3.SQLITE_CONSTRAINT_UNIQUE, code == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
		return ClassUniqueViolation, true
	case code&0xff == sqlite3.SQLITE_BUSY, code&0xff == sqlite3.SQLITE_LOCKED:
		return ClassBusy, true
	case code&0xff == sqlite3.SQLITE_READONLY:
		return ClassReadOnly, true
	case code&0xff == sqlite3.SQLITE_FULL:
		return ClassFull, true
	}
	return ClassOther, true
}

func (sqliteEngine) HasTable(ctx context.Context, q Querier, name string) (bool, error) {
	var n int
	if err := q.QueryRowContext(ctx, `SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = ?`, name).Scan(&n); err != nil {
		return false, fmt.Errorf("look up table %s: %w", name, err)
	}
	return n > 0, nil
}
