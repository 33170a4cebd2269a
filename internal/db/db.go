// Package db opens sharesvc's database and brings its schema up to date:
// the embedded SQLite file by default (schema.sql), or PostgreSQL when given
// a postgres:// URL (schema_postgres.sql), for several instances on one
// database. It is the only package that knows the engine: others open
// through it, write SQL once with "?" placeholders, classify errors with
// IsUniqueViolation, IsBusy, IsReadOnly, IsFull and IsEngineError, take the
// write lock with BeginWrite, and share background work with Leader.
package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/sharesvc/sharesvc"
	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

// BusyTimeout is how long a statement waits for a lock held by another
// connection before failing with SQLITE_BUSY.
const BusyTimeout = 5 * time.Second

// ErrSchemaTooNew is returned by Open when the database was written by a newer
// sharesvc than this one.
var ErrSchemaTooNew = errors.New("database schema is newer than this binary")

// DB is an open sharesvc database.
type DB struct {
	// Read is a pool for queries and short writes.
	Read *sql.DB
	// Write is a single connection reserved for the audit writer, so that group
	// commits never wait behind the pool. It is nil on a DB from OpenReadOnly.
	Write  *sql.DB
	path   string
	engine Engine
}

// Path returns the file the database lives in, or a PostgreSQL database's
// URL with its password redacted.
func (d *DB) Path() string { return d.path }

// Open opens the database dsn names: a PostgreSQL database for a
// postgres:// or postgresql:// URL (see openPostgres), else a SQLite file.
// Either way it applies pending migrations before returning.
func Open(ctx context.Context, dsn string) (*DB, error) {
	if IsPostgres(dsn) {
		return openPostgres(ctx, dsn, false)
	}
	return openSQLite(ctx, dsn)
}

// openSQLite opens (creating if needed) the SQLite database at path, sets WAL mode
// with synchronous=FULL on every connection, and applies pending migrations.
// A new database file is private to its owner (0600, whatever the umask),
// and so are its -wal and -shm files, which SQLite creates with the mode of
// the database file; a missing directory is created 0700. An existing file
// keeps its mode.
func openSQLite(ctx context.Context, path string) (*DB, error) {
	if path == "" {
		return nil, errors.New("open database: empty path")
	}
	if err := createPrivate(path); err != nil {
		return nil, fmt.Errorf("open database %s: %w", path, err)
	}
	dsn := DSN(path)
	read, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("open database %s: %w", path, err)
	}
	read.SetMaxOpenConns(8)
	read.SetMaxIdleConns(8)
	read.SetConnMaxIdleTime(0)
	if err := read.PingContext(ctx); err != nil {
		read.Close()
		return nil, fmt.Errorf("open database %s: %w", path, err)
	}
	if err := Migrate(ctx, read); err != nil {
		read.Close()
		return nil, fmt.Errorf("migrate database %s: %w", path, err)
	}
	write, err := sql.Open("sqlite", dsn)
	if err != nil {
		read.Close()
		return nil, fmt.Errorf("open database %s: %w", path, err)
	}
	write.SetMaxOpenConns(1)
	write.SetMaxIdleConns(1)
	write.SetConnMaxIdleTime(0)
	write.SetConnMaxLifetime(0)
	return &DB{Read: read, Write: write, path: path, engine: SQLite}, nil
}

// OpenReadOnly opens the existing database at path for an offline command
// that must not change it: no migration, no journal mode change, and every
// write fails (IsReadOnly). Write is nil. It refuses a missing file without
// creating it (an error wrapping os.ErrNotExist) and a file that is not a
// database. A PostgreSQL URL is opened with read-only transactions.
func OpenReadOnly(ctx context.Context, path string) (*DB, error) {
	if IsPostgres(path) {
		return openPostgres(ctx, path, true)
	}
	if path == "" {
		return nil, errors.New("open database: empty path")
	}
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("database: %w", err)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	q := url.Values{}
	q.Set("mode", "ro")
	q.Add("_pragma", "busy_timeout("+strconv.Itoa(int(BusyTimeout/time.Millisecond))+")")
	q.Add("_pragma", "query_only(1)")
	read, err := sql.Open("sqlite", "file:"+abs+"?"+q.Encode())
	if err != nil {
		return nil, err
	}
	if err := read.PingContext(ctx); err != nil {
		read.Close()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	return &DB{Read: read, path: path, engine: SQLite}, nil
}

// createPrivate creates the database file with mode 0600, and its
// directory with mode 0700, unless they exist. SQLite would create the file
// with 0644 less the umask, readable by every local user.
func createPrivate(path string) error {
	if _, err := os.Stat(path); err == nil {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, os.ErrExist) {
		return nil // created meanwhile by another opener
	}
	if err != nil {
		return err
	}
	// The umask can only take bits away; Chmod makes the mode exact.
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// DSN returns the modernc.org/sqlite data source name for path with the
// per-connection pragmas in it (pragmas set with Exec reach only one pooled
// connection).
func DSN(path string) string {
	q := url.Values{}
	for _, p := range []string{
		"journal_mode(WAL)",
		"synchronous(FULL)",
		"busy_timeout(" + strconv.Itoa(int(BusyTimeout/time.Millisecond)) + ")",
		"foreign_keys(ON)",
		"mmap_size(67108864)", // 64 MiB: bounds the resident pages the mapping adds
	} {
		q.Add("_pragma", p)
	}
	q.Set("_txlock", "immediate")
	return "file:" + path + "?" + q.Encode()
}

// Close closes both pools.
func (d *DB) Close() error {
	if d.Write == nil {
		return d.Read.Close()
	}
	return errors.Join(d.Write.Close(), d.Read.Close())
}

// BeginWrite begins a transaction on d (either pool of a DB from Open) that
// holds the database's write lock from its start, so that writers in other
// processes (the offline "token create" beside a server) serialise behind it
// and what it reads before writing, such as the audit chain's head, cannot
// change until it commits. With SQLite this is the DSN's _txlock=immediate
// (BEGIN IMMEDIATE); it fails with IsBusy after BusyTimeout and with
// IsReadOnly on a read-only file. On PostgreSQL it takes a transaction-level
// advisory lock that every instance's BeginWrite takes too, within
// BusyTimeout (else IsBusy).
func BeginWrite(ctx context.Context, d *sql.DB) (*sql.Tx, error) {
	if isPostgresPool(d) {
		return beginWritePostgres(ctx, d)
	}
	return d.BeginTx(ctx, nil)
}

// Migration is one ordered step of schema.sql (or schema_postgres.sql).
type Migration struct {
	Version     int
	Description string
	SQL         string
}

var migrationHeader = regexp.MustCompile(`(?m)^-- migration: (\d+) (.*)$`)

// Migrations parses schema.sql into its steps, in order. It panics if the
// embedded file is malformed, which a test catches.
func Migrations() []Migration { return parseMigrations("schema.sql", sharesvc.Schema) }

// MigrationsPostgres parses schema_postgres.sql the same way.
func MigrationsPostgres() []Migration {
	return parseMigrations("schema_postgres.sql", sharesvc.SchemaPostgres)
}

func parseMigrations(file, schema string) []Migration {
	locs := migrationHeader.FindAllStringSubmatchIndex(schema, -1)
	var ms []Migration
	for i, loc := range locs {
		end := len(schema)
		if i+1 < len(locs) {
			end = locs[i+1][0]
		}
		v, err := strconv.Atoi(schema[loc[2]:loc[3]])
		if err != nil || v != i+1 {
			panic(fmt.Sprintf("%s: migration %d is numbered %q", file, i+1, schema[loc[2]:loc[3]]))
		}
		ms = append(ms, Migration{
			Version:     v,
			Description: strings.TrimSpace(schema[loc[4]:loc[5]]),
			SQL:         schema[loc[1]:end],
		})
	}
	return ms
}

// Migrate applies the steps of schema.sql (schema_postgres.sql on
// PostgreSQL) that db has not recorded yet, each in its own transaction. It
// returns ErrSchemaTooNew if db records a step this binary does not know.
// On PostgreSQL, instances starting together migrate one at a time, under
// an advisory lock.
func Migrate(ctx context.Context, db *sql.DB) error {
	ms := Migrations()
	create := `CREATE TABLE IF NOT EXISTS schema_migrations (
    version     INTEGER PRIMARY KEY,  -- step number in schema.sql
    description TEXT    NOT NULL,     -- the step's header text
    applied_at  INTEGER NOT NULL      -- UTC Unix ms
)`
	if isPostgresPool(db) {
		ms = MigrationsPostgres()
		create = `CREATE TABLE IF NOT EXISTS schema_migrations (
    version     BIGINT PRIMARY KEY,  -- step number in schema_postgres.sql
    description text   NOT NULL,     -- the step's header text
    applied_at  BIGINT NOT NULL      -- UTC Unix ms
)`
		conn, err := db.Conn(ctx)
		if err != nil {
			return err
		}
		defer conn.Close()
		if _, err := conn.ExecContext(ctx, `SELECT pg_advisory_lock(?)`, migrateLockKey); err != nil {
			return err
		}
		defer conn.ExecContext(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock(?)`, migrateLockKey)
	}
	return migrate(ctx, db, create, ms)
}

func migrate(ctx context.Context, db *sql.DB, create string, ms []Migration) error {
	if _, err := db.ExecContext(ctx, create); err != nil {
		return err
	}
	var current int
	if err := db.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&current); err != nil {
		return err
	}
	if current > len(ms) {
		return fmt.Errorf("%w: database is at version %d, this binary knows %d", ErrSchemaTooNew, current, len(ms))
	}
	for _, m := range ms[current:] {
		if err := apply(ctx, db, m); err != nil {
			return fmt.Errorf("migration %d (%s): %w", m.Version, m.Description, err)
		}
	}
	return nil
}

func apply(ctx context.Context, db *sql.DB, m Migration) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, m.SQL); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, description, applied_at) VALUES (?, ?, ?)`,
		m.Version, m.Description, time.Now().UnixMilli()); err != nil {
		return err
	}
	return tx.Commit()
}
