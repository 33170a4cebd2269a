package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/sharesvc/sharesvc/internal/audit"
	"github.com/sharesvc/sharesvc/internal/db"
)

// migrateCmd is "sharesvc migrate": copy a SQLite database into an empty
// PostgreSQL database, for a deployment that moves to several instances.
type migrateCmd struct {
	From string `name:"from" placeholder:"FILE" help:"The SQLite database file to copy (opened read-only; it must be at this binary's schema version: stop the service first)."`
	To   string `name:"to" envvar:"SHARESVC_MIGRATE_TO" placeholder:"URL" help:"postgres:// URL of an empty database; its schema is created. Keep the password out of the command line with PGPASSWORD or this variable."`
}

// copyTable is one table migrate copies, in the order it copies them.
// audit_events comes last and in sequence order, so that a reader of the
// target (none should exist yet) never sees a row before its predecessor.
type copyTable struct {
	name  string
	order string // ORDER BY of the source read: a key, so that batches are stable
}

// copyTables are the tables of schema.sql whose rows migrate copies.
// A table added to schema.sql must be added here or to skipTables (a test
// fails otherwise).
var copyTables = []copyTable{
	{"api_tokens", "id"},
	{"grants", "id"},
	{"links", "id"},
	{"settings", "name"},
	{"deliveries", "id"},
	// Sessions hold only hashes of ids that live in browsers' cookies and
	// the token they signed in with: copied, people stay signed in.
	{"console_sessions", "id_hash"},
	// Upload links' arrivals, pending and arrived.
	{"arrivals", "id"},
	// Recipient verification: codes (hashed) in flight, and the browsers
	// that proved they read the recipient's mail (hashed ids), so that a
	// verified recipient need not ask for a code again.
	{"recipient_codes", "link_id"},
	{"recipient_verifications", "id_hash"},
	// People from the identity provider: their names own links and grants.
	{"people", "id"},
	{"audit_events", "seq"},
}

// skipTables are the tables of schema.sql that migrate does not copy, and
// why.
var skipTables = map[string]string{
	"schema_migrations": "the target records its own steps (schema_postgres.sql) when db.Open creates its schema",
	"oidc_logins":       "sign-ins under way live for minutes; a browser in the middle of one signs in again",
	"audit_prune_gate":  "empty outside a prune's transaction; a row copied into it would let deletes through the append-only trigger (migrate refuses a source where it is not empty)",
}

// migrateBatch is how many rows one INSERT carries. PostgreSQL takes at
// most 65535 parameters per statement; audit_events has 15 columns.
const migrateBatch = 1000

func (c *migrateCmd) Run(e *runEnv) error {
	return migrate(e.ctx, c.From, c.To, e.stdout)
}

// migrateStats is what a migration copied.
type migrateStats struct {
	rows    map[string]int64
	head    int64 // the audit chain's last row on the target (0: empty log)
	elapsed time.Duration
}

// migrate copies the SQLite database at from into the empty PostgreSQL
// database to names, then checks the copy, and prints a summary to out.
// Every check on the source and the target's emptiness comes before the
// first write; the copy is one transaction, so a failure leaves the target
// as it was (with sharesvc's empty schema if it had none).
func migrate(ctx context.Context, from, to string, out io.Writer) error {
	start := time.Now()
	target := db.Redact(to)
	switch {
	case from == "":
		return errors.New("migrate: --from FILE is required: the SQLite database to copy")
	case db.IsPostgres(from):
		return fmt.Errorf("migrate: --from %s is a PostgreSQL URL: migrate copies a SQLite file into PostgreSQL", db.Redact(from))
	case to == "":
		return errors.New("migrate: --to URL is required (or set SHARESVC_MIGRATE_TO): the postgres:// URL of an empty database")
	case !db.IsPostgres(to):
		return errors.New("migrate: --to must be a postgres:// URL (to copy a SQLite file, use sqlite3's .backup)")
	}

	src, err := db.OpenReadOnly(ctx, from)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("migrate: --from %s: no such file", from)
		}
		return fmt.Errorf("migrate: --from: %w", err)
	}
	defer src.Close()
	if err := checkSource(ctx, src, from); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	// One read transaction: every table is read from the same snapshot.
	stx, err := src.Read.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return fmt.Errorf("migrate: read %s: %w", from, err)
	}
	defer stx.Rollback()
	srcCounts, err := countRows(ctx, stx)
	if err != nil {
		return fmt.Errorf("migrate: read %s: %w", from, err)
	}
	if srcCounts["audit_prune_gate"] != 0 {
		return fmt.Errorf("migrate: %s: audit_prune_gate holds a row, which only a prune's transaction may: the file was changed by hand; investigate with \"sharesvc audit verify\"", from)
	}
	// The source's chain must verify before it is copied: a copy would
	// carry a break into the new database, where it would look like
	// tampering there.
	cps, cpDir, err := sourceCheckpoints(from)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	vo := audit.VerifyOptions{Checkpoints: cps}
	if _, err := audit.VerifyWith(ctx, src.Read, vo); err != nil {
		return fmt.Errorf("migrate: the audit log of %s does not verify, so it is not copied (see \"sharesvc audit verify --db %s\"): %w", from, from, err)
	}

	// The target must be empty before its schema is created or brought up
	// to date: a database with rows is refused with nothing changed.
	if err := checkTargetEmpty(ctx, to); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	dst, err := db.Open(ctx, to)
	if err != nil {
		return fmt.Errorf("migrate: --to: %w", err)
	}
	defer dst.Close()
	tx, err := db.BeginWrite(ctx, dst.Write)
	if err != nil {
		return fmt.Errorf("migrate: %s: %w", target, err)
	}
	defer tx.Rollback()
	// Again inside the write lock: an instance started meanwhile may
	// have written.
	if n, err := countRows(ctx, tx); err != nil {
		return fmt.Errorf("migrate: %s: %w", target, err)
	} else if t := nonEmpty(n); t != "" {
		return fmt.Errorf("migrate: %s is not empty (table %s has %d rows): give an empty database", target, t, n[t])
	}
	for _, t := range copyTables {
		if err := copyRows(ctx, stx, tx, t); err != nil {
			return fmt.Errorf("migrate: copy %s: %w (nothing was copied into %s)", t.name, err, target)
		}
	}
	dstCounts, err := countRows(ctx, tx)
	if err != nil {
		return fmt.Errorf("migrate: %s: %w", target, err)
	}
	for _, t := range copyTables {
		if srcCounts[t.name] != dstCounts[t.name] {
			return fmt.Errorf("migrate: %s: %d rows read, %d in %s (nothing was copied)", t.name, srcCounts[t.name], dstCounts[t.name], target)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("migrate: commit to %s: %w (run migrate again: it refuses the target if the copy did land)", target, err)
	}

	// What the target holds now, checked as "sharesvc audit verify" would.
	res, err := audit.VerifyWith(ctx, dst.Read, vo)
	if err != nil {
		return fmt.Errorf("migrate: copied, but the audit log on %s does not verify: %w; drop that database and report this", target, err)
	}
	st := migrateStats{rows: srcCounts, head: res.LastSeq, elapsed: time.Since(start)}
	return printMigrateSummary(out, from, target, st, res, len(cps), cpDir)
}

// checkSource refuses a file that is not a sharesvc database at this
// binary's schema version. migrate does not bring an older file up to
// date itself: it opens the source read-only, so that the file the old
// deployment runs on is never changed by a copy.
func checkSource(ctx context.Context, src *db.DB, from string) error {
	ok, err := src.HasTable(ctx, "schema_migrations")
	if err != nil {
		return fmt.Errorf("--from %s: %w", from, err)
	}
	if !ok {
		return fmt.Errorf("--from %s is not a sharesvc database (no schema_migrations table)", from)
	}
	var v int
	if err := src.Read.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&v); err != nil {
		return fmt.Errorf("--from %s: read its schema version: %w", from, err)
	}
	want := len(db.Migrations())
	switch {
	case v < want:
		return fmt.Errorf("--from %s is at schema version %d, this binary writes version %d: start this version's \"sharesvc serve\" on the file once (it migrates at start), stop it, and run migrate again", from, v, want)
	case v > want:
		return fmt.Errorf("--from %s is at schema version %d, newer than this binary's %d: use a newer sharesvc", from, v, want)
	}
	return nil
}

// sourceCheckpoints reads the checkpoints serve keeps next to a SQLite
// file (FILE-checkpoints), if that directory exists: the copy must agree
// with every one of them.
func sourceCheckpoints(from string) ([]audit.Checkpoint, string, error) {
	dir := from + "-checkpoints"
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		return nil, "", nil
	}
	cps, err := audit.ReadCheckpointDir(dir)
	if errors.Is(err, audit.ErrNoCheckpoint) {
		return nil, dir, nil
	}
	if err != nil {
		return nil, "", fmt.Errorf("checkpoints of %s: %w", from, err)
	}
	return cps, dir, nil
}

// checkTargetEmpty refuses a PostgreSQL database that holds any row of a
// sharesvc table, reading it without changing it.
func checkTargetEmpty(ctx context.Context, to string) error {
	d, err := db.OpenReadOnly(ctx, to)
	if err != nil {
		return fmt.Errorf("--to: %w", err)
	}
	defer d.Close()
	for _, name := range migrateTableNames() {
		ok, err := d.HasTable(ctx, name)
		if err != nil {
			return fmt.Errorf("--to %s: %w", d.Path(), err)
		}
		if !ok {
			continue
		}
		var n int64
		if err := d.Read.QueryRowContext(ctx, `SELECT COUNT(*) FROM `+name).Scan(&n); err != nil {
			return fmt.Errorf("--to %s: %w", d.Path(), err)
		}
		if n > 0 {
			return fmt.Errorf("--to %s is not empty (table %s has %d rows): migrate copies into an empty database only, and changed nothing", d.Path(), name, n)
		}
	}
	return nil
}

// migrateTableNames are the tables whose rows make a target non-empty.
func migrateTableNames() []string {
	names := []string{"audit_prune_gate"}
	for _, t := range copyTables {
		names = append(names, t.name)
	}
	return names
}

// nonEmpty returns a table of counts with rows, or "".
func nonEmpty(counts map[string]int64) string {
	for _, name := range migrateTableNames() {
		if counts[name] > 0 {
			return name
		}
	}
	return ""
}

// queryer is what countRows and copyRows read through (a *sql.Tx).
type queryer interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// countRows counts the rows of every table migrate knows.
func countRows(ctx context.Context, q queryer) (map[string]int64, error) {
	counts := map[string]int64{}
	for _, name := range migrateTableNames() {
		var n int64
		if err := q.QueryRowContext(ctx, `SELECT COUNT(*) FROM `+name).Scan(&n); err != nil {
			return nil, fmt.Errorf("count %s: %w", name, err)
		}
		counts[name] = n
	}
	return counts, nil
}

// copyRows copies every row of t from src to dst in batched multi-row
// INSERTs, with the source's columns by name and its values as the driver
// reads them: int64, []byte, string or NULL, so that hashes and times
// arrive byte for byte. The next batch is read from the source while the
// last one is being written.
func copyRows(ctx context.Context, src queryer, dst *sql.Tx, t copyTable) error {
	rows, err := src.QueryContext(ctx, `SELECT * FROM `+t.name+` ORDER BY `+t.order)
	if err != nil {
		return fmt.Errorf("read: %w", err)
	}
	defer rows.Close()
	cols, err := rows.ColumnTypes()
	if err != nil {
		return fmt.Errorf("read: %w", err)
	}
	names := make([]string, len(cols))
	blob := make([]bool, len(cols))
	for i, c := range cols {
		names[i] = c.Name()
		blob[i] = strings.EqualFold(c.DatabaseTypeName(), "BLOB")
	}
	row := "(" + strings.TrimSuffix(strings.Repeat("?, ", len(cols)), ", ") + ")"
	head := `INSERT INTO ` + t.name + ` (` + strings.Join(names, ", ") + `) VALUES `
	full := head + strings.TrimSuffix(strings.Repeat(row+", ", migrateBatch), ", ")

	batches := make(chan []any, 2)
	readErr := make(chan error, 1)
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		defer close(batches)
		readErr <- readBatches(rctx, rows, len(cols), blob, batches)
	}()
	var done int64
	var werr error
	for args := range batches {
		if werr != nil {
			continue // drain, so that the reader ends
		}
		n := len(args) / len(cols)
		q := full
		if n < migrateBatch {
			q = head + strings.TrimSuffix(strings.Repeat(row+", ", n), ", ")
		}
		if _, err := dst.ExecContext(ctx, q, args...); err != nil {
			werr = fmt.Errorf("rows %d to %d: %w", done+1, done+int64(n), err)
			cancel()
			continue
		}
		done += int64(n)
	}
	if err := <-readErr; werr == nil && err != nil {
		return fmt.Errorf("read: %w", err)
	}
	return werr
}

// readBatches sends rows' values to out, migrateBatch rows at a time.
func readBatches(ctx context.Context, rows *sql.Rows, ncols int, blob []bool, out chan<- []any) error {
	vals := make([]any, ncols)
	ptrs := make([]any, ncols)
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	args := make([]any, 0, migrateBatch*ncols)
	send := func() error {
		select {
		case out <- args:
			args = make([]any, 0, migrateBatch*ncols)
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return err
		}
		for i, v := range vals {
			switch x := v.(type) {
			case []byte:
				v = append([]byte(nil), x...) // Scan's buffer is reused
			case string:
				if blob[i] { // a BLOB column holding text: still bytes to bytea
					v = []byte(x)
				}
			}
			args = append(args, v)
		}
		if len(args) == cap(args) {
			if err := send(); err != nil {
				return err
			}
		}
	}
	if err := rows.Err(); err != nil {
		return err
	}
	if len(args) > 0 {
		return send()
	}
	return nil
}

// printMigrateSummary prints rows per table, the audit chain's head, what
// was verified and the time taken.
func printMigrateSummary(out io.Writer, from, target string, st migrateStats, res audit.VerifyResult, ncp int, cpDir string) error {
	fmt.Fprintf(out, "copied %s to %s in %s\n", from, target, st.elapsed.Round(time.Millisecond))
	rows := make([][]string, 0, len(copyTables))
	for _, t := range copyTables {
		rows = append(rows, []string{t.name, fmt.Sprint(st.rows[t.name])})
	}
	if err := table(out, []string{"TABLE", "ROWS"}, rows); err != nil {
		return err
	}
	switch {
	case res.Rows == 0:
		fmt.Fprintln(out, "audit log: empty")
	default:
		fmt.Fprintf(out, "audit log: rows %d..%d verify on the target; chain head seq %d, hash %x\n", res.FirstSeq, res.LastSeq, st.head, res.Head)
	}
	if cpDir != "" {
		fmt.Fprintf(out, "checked against %d checkpoints in %s: keep serving with --checkpoint-key %s%s --checkpoint-dir %s\n",
			ncp, cpDir, from, defaultKeySuffix, cpDir)
	}
	return nil
}
