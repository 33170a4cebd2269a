package db

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
)

// PostgreSQL is the engine for deployments that run several instances on
// one database (github.com/jackc/pgx/v5 through database/sql). Statements
// keep SQLite's "?" placeholders and are rewritten on the way (Rebind);
// BeginWrite takes a transaction-level advisory lock, so that the audit
// chain's appends serialise across every instance as they do on one
// SQLite file.
var PostgreSQL Engine = pgEngine{}

// Advisory lock keys. PostgreSQL's advisory locks are keyed by one bigint
// per database; these spell "sharesv" and a letter, so that they are
// unlikely to collide with another application's keys in a shared
// database.
const (
	writeLockKey   int64 = 0x7368617265737677 // "sharesvw": BeginWrite
	migrateLockKey int64 = 0x736861726573766d // "sharesvm": Migrate
	leaderLockBase int64 = 0x736861726573764c // "sharesvL": Leader, plus a small number per role
)

// IsPostgres reports whether dsn names a PostgreSQL database
// (postgres:// or postgresql://) rather than a SQLite file.
func IsPostgres(dsn string) bool {
	l := strings.ToLower(dsn)
	return strings.HasPrefix(l, "postgres://") || strings.HasPrefix(l, "postgresql://")
}

// Redact returns dsn with any password replaced by "xxxxx", for messages
// and logs. A SQLite path is returned as it is.
func Redact(dsn string) string {
	if !IsPostgres(dsn) {
		return dsn
	}
	u, err := url.Parse(dsn)
	if err != nil {
		return "postgres://(unparsable URL)"
	}
	if q := u.Query(); q.Has("password") {
		q.Set("password", "xxxxx")
		u.RawQuery = q.Encode()
	}
	return u.Redacted()
}

// Pool sizes on PostgreSQL, per instance: every instance holds at most
// pgReadConns+1 connections (plus one while it leads a background job), so
// that a cluster's default max_connections of 100 serves several instances.
const (
	pgReadConns = 12
	pgIdleConns = 4
)

func openPostgres(ctx context.Context, dsn string, readOnly bool) (*DB, error) {
	name := Redact(dsn)
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		// pgx's message can quote the URL, password included.
		return nil, fmt.Errorf("open database %s: not a valid PostgreSQL URL", name)
	}
	if cfg.ConnectTimeout == 0 {
		cfg.ConnectTimeout = BusyTimeout
	}
	if readOnly {
		cfg.RuntimeParams["default_transaction_read_only"] = "on"
	}
	if cfg.RuntimeParams["application_name"] == "" {
		cfg.RuntimeParams["application_name"] = "sharesvc"
	}
	pool := func(n, idle int) *sql.DB {
		d := sql.OpenDB(pgConnector{stdlib.GetConnector(*cfg)})
		d.SetMaxOpenConns(n)
		d.SetMaxIdleConns(idle)
		d.SetConnMaxIdleTime(time.Minute)
		return d
	}
	read := pool(pgReadConns, pgIdleConns)
	if err := read.PingContext(ctx); err != nil {
		read.Close()
		return nil, fmt.Errorf("open database %s: %w", name, err)
	}
	d := &DB{Read: read, path: name, engine: PostgreSQL}
	if readOnly {
		return d, nil
	}
	if err := Migrate(ctx, read); err != nil {
		read.Close()
		return nil, fmt.Errorf("migrate database %s: %w", name, err)
	}
	d.Write = pool(1, 1)
	d.Write.SetConnMaxIdleTime(0)
	return d, nil
}

// isPostgresPool reports whether d was opened by openPostgres.
func isPostgresPool(d *sql.DB) bool {
	_, ok := d.Driver().(pgDriver)
	return ok
}

// beginWritePostgres begins a transaction holding the write lock: a
// transaction-level advisory lock, released at commit or rollback, taken
// within BusyTimeout or failing with IsBusy.
func beginWritePostgres(ctx context.Context, d *sql.DB) (*sql.Tx, error) {
	tx, err := d.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	if _, err := tx.ExecContext(ctx, `SELECT set_config('lock_timeout', ?, true), pg_advisory_xact_lock(?)`,
		fmt.Sprintf("%dms", BusyTimeout.Milliseconds()), writeLockKey); err != nil {
		tx.Rollback()
		return nil, err
	}
	return tx, nil
}

type pgEngine struct{}

func (pgEngine) Name() string { return "postgres" }

// PostgreSQL error codes sharesvc tells apart
// (https://www.postgresql.org/docs/current/errcodes-appendix.html).
const (
	pgUniqueViolation      = "23505"
	pgReadOnlyTransaction  = "25006"
	pgSerializationFailure = "40001"
	pgDeadlockDetected     = "40P01"
	pgLockNotAvailable     = "55P03"
	pgDiskFull             = "53100"
	pgTooManyConnections   = "53300"
	pgAdminShutdown        = "57P01"
	pgCrashShutdown        = "57P02"
	pgCannotConnectNow     = "57P03"
)

func (pgEngine) Classify(err error) (ErrorClass, bool) {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch {
		case pe.Code == pgUniqueViolation:
			return ClassUniqueViolation, true
		case pe.Code == pgLockNotAvailable, pe.Code == pgSerializationFailure, pe.Code == pgDeadlockDetected:
			return ClassBusy, true
		case strings.HasPrefix(pe.Code, "08"), // connection exception
			pe.Code == pgTooManyConnections, pe.Code == pgAdminShutdown, pe.Code == pgCrashShutdown,
			pe.Code == pgCannotConnectNow:
			return ClassUnavailable, true
		case pe.Code == pgReadOnlyTransaction:
			return ClassReadOnly, true
		case pe.Code == pgDiskFull:
			return ClassFull, true
		}
		return ClassOther, true
	}
	var de *pgDriverError
	if errors.As(err, &de) {
		// No SQLSTATE: the driver's own failure, which is the connection's
		// (refused, reset, timed out, closed by the server).
		return ClassUnavailable, true
	}
	if errors.Is(err, driver.ErrBadConn) {
		return ClassUnavailable, true
	}
	return 0, false
}

func (pgEngine) HasTable(ctx context.Context, q Querier, name string) (bool, error) {
	var n int
	if err := q.QueryRowContext(ctx, `SELECT COUNT(*) FROM information_schema.tables
        WHERE table_schema = current_schema() AND table_name = $1`, name).Scan(&n); err != nil {
		return false, fmt.Errorf("look up table %s: %w", name, err)
	}
	return n > 0, nil
}

// pgDriverError marks an error that came out of the PostgreSQL driver, such
// as a connection refused or lost mid-query, which carries no SQLSTATE, so
// that IsEngineError recognises it.
type pgDriverError struct{ err error }

func (e *pgDriverError) Error() string { return e.err.Error() }
func (e *pgDriverError) Unwrap() error { return e.err }

// mark wraps an error from the driver. database/sql's own signals
// (driver.ErrBadConn, driver.ErrSkip, io.EOF at the end of rows) and a
// caller's cancellation pass unchanged.
func mark(err error) error {
	if err == nil || err == io.EOF || errors.Is(err, driver.ErrBadConn) || errors.Is(err, driver.ErrSkip) ||
		errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return err
	}
	return &pgDriverError{err}
}

// pgConnector and the types below wrap pgx's database/sql driver: they
// rebind placeholders and mark the driver's errors. Everything else passes
// through.
type pgConnector struct{ c driver.Connector }

func (c pgConnector) Connect(ctx context.Context) (driver.Conn, error) {
	conn, err := c.c.Connect(ctx)
	if err != nil {
		return nil, mark(err)
	}
	return pgConn{conn.(*stdlib.Conn)}, nil
}

func (c pgConnector) Driver() driver.Driver { return pgDriver{c.c.Driver()} }

type pgDriver struct{ d driver.Driver }

func (d pgDriver) Open(name string) (driver.Conn, error) {
	return nil, errors.New("sharesvc: open PostgreSQL through db.Open")
}

type pgConn struct{ c *stdlib.Conn }

var (
	_ driver.ConnPrepareContext = pgConn{}
	_ driver.ConnBeginTx        = pgConn{}
	_ driver.ExecerContext      = pgConn{}
	_ driver.QueryerContext     = pgConn{}
	_ driver.Pinger             = pgConn{}
	_ driver.SessionResetter    = pgConn{}
	_ driver.NamedValueChecker  = pgConn{}
)

func (c pgConn) Prepare(query string) (driver.Stmt, error) {
	return c.PrepareContext(context.Background(), query)
}

func (c pgConn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	st, err := c.c.PrepareContext(ctx, Rebind(query))
	if err != nil {
		return nil, mark(err)
	}
	return pgStmt{st.(*stdlib.Stmt)}, nil
}

func (c pgConn) Close() error { return c.c.Close() }

func (c pgConn) Begin() (driver.Tx, error) {
	return c.BeginTx(context.Background(), driver.TxOptions{})
}

func (c pgConn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	tx, err := c.c.BeginTx(ctx, opts)
	if err != nil {
		return nil, mark(err)
	}
	return pgTx{tx}, nil
}

func (c pgConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	r, err := c.c.ExecContext(ctx, Rebind(query), args)
	return r, mark(err)
}

func (c pgConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	r, err := c.c.QueryContext(ctx, Rebind(query), args)
	if err != nil {
		return nil, mark(err)
	}
	return pgRows{r}, nil
}

func (c pgConn) Ping(ctx context.Context) error             { return mark(c.c.Ping(ctx)) }
func (c pgConn) ResetSession(ctx context.Context) error     { return c.c.ResetSession(ctx) }
func (c pgConn) CheckNamedValue(v *driver.NamedValue) error { return c.c.CheckNamedValue(v) }

type pgStmt struct{ s *stdlib.Stmt }

func (s pgStmt) ExecContext(ctx context.Context, args []driver.NamedValue) (driver.Result, error) {
	r, err := s.s.ExecContext(ctx, args)
	return r, mark(err)
}

func (s pgStmt) QueryContext(ctx context.Context, args []driver.NamedValue) (driver.Rows, error) {
	r, err := s.s.QueryContext(ctx, args)
	if err != nil {
		return nil, mark(err)
	}
	return pgRows{r}, nil
}

func (s pgStmt) Close() error                               { return mark(s.s.Close()) }
func (s pgStmt) NumInput() int                              { return s.s.NumInput() }
func (s pgStmt) CheckNamedValue(v *driver.NamedValue) error { return nil } // pgx takes any value

func (s pgStmt) Exec(args []driver.Value) (driver.Result, error) {
	r, err := s.s.Exec(args)
	return r, mark(err)
}

func (s pgStmt) Query(args []driver.Value) (driver.Rows, error) {
	r, err := s.s.Query(args)
	if err != nil {
		return nil, mark(err)
	}
	return pgRows{r}, nil
}

type pgTx struct{ t driver.Tx }

func (t pgTx) Commit() error   { return mark(t.t.Commit()) }
func (t pgTx) Rollback() error { return mark(t.t.Rollback()) }

type pgRows struct{ r driver.Rows }

func (r pgRows) Columns() []string              { return r.r.Columns() }
func (r pgRows) Close() error                   { return mark(r.r.Close()) }
func (r pgRows) Next(dest []driver.Value) error { return mark(r.r.Next(dest)) }
