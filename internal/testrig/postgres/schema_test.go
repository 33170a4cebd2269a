package postgres_test

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sharesvc/sharesvc"
	"github.com/sharesvc/sharesvc/internal/db"
	"github.com/sharesvc/sharesvc/internal/testrig/postgres"
)

// migratePostgres applies every step of schema_postgres.sql in order, each
// in one transaction with its record in schema_migrations, as internal/db
// does on SQLite.
func migratePostgres(ctx context.Context, pg *sql.DB) error {
	if _, err := pg.ExecContext(ctx, `CREATE TABLE schema_migrations (
    version     BIGINT PRIMARY KEY,  -- step number in schema_postgres.sql
    description text   NOT NULL,     -- the step's header text
    applied_at  BIGINT NOT NULL      -- UTC Unix ms
)`); err != nil {
		return err
	}
	header := regexp.MustCompile(`(?m)^-- migration: (\d+) (.*)$`)
	s := sharesvc.SchemaPostgres
	locs := header.FindAllStringSubmatchIndex(s, -1)
	for i, loc := range locs {
		end := len(s)
		if i+1 < len(locs) {
			end = locs[i+1][0]
		}
		v, _ := strconv.Atoi(s[loc[2]:loc[3]])
		if v != i+1 {
			return fmt.Errorf("step %d is numbered %d", i+1, v)
		}
		desc := strings.TrimSpace(s[loc[4]:loc[5]])
		tx, err := pg.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		// No arguments: pgx sends the step in the simple protocol, which
		// takes several statements at once.
		if _, err := tx.ExecContext(ctx, s[loc[1]:end]); err != nil {
			tx.Rollback()
			return fmt.Errorf("migration %d (%s): %w", v, desc, err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, description, applied_at) VALUES ($1, $2, $3)`,
			v, desc, time.Now().UnixMilli()); err != nil {
			tx.Rollback()
			return err
		}
		if err := tx.Commit(); err != nil {
			return err
		}
	}
	return nil
}

// schemaDB is a database with every step of schema_postgres.sql applied.
func schemaDB(t *testing.T) *sql.DB {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	pg := open(t, postgres.Database(t))
	if err := migratePostgres(ctx, pg); err != nil {
		t.Fatalf("applying schema_postgres.sql: %v", err)
	}
	return pg
}

// Every table, column and index of the SQLite schema exists on PostgreSQL
// with the same name, type, nullability, default and primary key, and
// nothing else does.
func TestSchemaMatchesSQLite(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	lite, err := db.Open(ctx, filepath.Join(t.TempDir(), "sharesvc.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer lite.Close()
	pg := schemaDB(t)

	want, err := sqliteLayout(ctx, lite.Read)
	if err != nil {
		t.Fatal(err)
	}
	got, err := postgresLayout(ctx, pg)
	if err != nil {
		t.Fatal(err)
	}
	if len(want) < 8 {
		t.Fatalf("SQLite has only %d tables: %v", len(want), keys(want))
	}
	if !slices.Equal(keys(got), keys(want)) {
		t.Fatalf("PostgreSQL tables = %v; want SQLite's %v", keys(got), keys(want))
	}
	for _, table := range keys(want) {
		if !slices.Equal(got[table], want[table]) {
			t.Errorf("table %s on PostgreSQL:\n  %s\nwant (SQLite):\n  %s", table,
				strings.Join(got[table], "\n  "), strings.Join(want[table], "\n  "))
		}
	}

	// Byte order where a range or a cursor compares text, whatever the
	// cluster's locale (this test cluster's is C, so look at the columns).
	for _, col := range []string{"id", "object_key"} {
		var coll sql.NullString
		if err := pg.QueryRowContext(ctx, `SELECT collation_name FROM information_schema.columns
            WHERE table_name = 'links' AND column_name = $1`, col).Scan(&coll); err != nil || coll.String != "C" {
			t.Errorf("links.%s collation = %v, %v; want C", col, coll, err)
		}
	}
}

// sqliteLayout describes each table: its columns ("name type [not null]
// [default X] [pk N]") in order, then its indexes, sorted.
func sqliteLayout(ctx context.Context, d *sql.DB) (map[string][]string, error) {
	tables, err := strs(ctx, d, `SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name`)
	if err != nil {
		return nil, err
	}
	types := map[string]string{"INTEGER": "bigint", "TEXT": "text", "BLOB": "bytea"}
	out := map[string][]string{}
	for _, table := range tables {
		rows, err := d.QueryContext(ctx, `SELECT name, type, "notnull", dflt_value, pk FROM pragma_table_info(?) ORDER BY cid`, table)
		if err != nil {
			return nil, err
		}
		var cols []string
		for rows.Next() {
			var name, typ string
			var notnull bool
			var dflt sql.NullString
			var pk int
			if err := rows.Scan(&name, &typ, &notnull, &dflt, &pk); err != nil {
				rows.Close()
				return nil, err
			}
			pgType, ok := types[strings.ToUpper(typ)]
			if !ok {
				pgType = "unknown " + typ
			}
			// A primary key is never NULL on PostgreSQL; on SQLite only an
			// INTEGER one is, but sharesvc never writes a NULL key.
			cols = append(cols, column(name, pgType, notnull || pk > 0, dflt, pk))
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
		// Indexes other than the primary key's: named ones with their columns,
		// UNIQUE constraints by their columns (their names differ by engine).
		idx, err := d.QueryContext(ctx, `SELECT l.name, l."unique", l.origin, l.partial,
                (SELECT group_concat(name, ',') FROM (SELECT name FROM pragma_index_info(l.name) ORDER BY seqno))
            FROM pragma_index_list(?) l WHERE l.origin <> 'pk'`, table)
		if err != nil {
			return nil, err
		}
		var idxs []string
		for idx.Next() {
			var name, origin, cols string
			var unique, partial bool
			if err := idx.Scan(&name, &unique, &origin, &partial, &cols); err != nil {
				idx.Close()
				return nil, err
			}
			idxs = append(idxs, index(name, cols, unique, partial, origin == "u"))
		}
		idx.Close()
		if err := idx.Err(); err != nil {
			return nil, err
		}
		slices.Sort(idxs)
		out[table] = append(cols, idxs...)
	}
	return out, nil
}

// postgresLayout describes each table of the public schema as sqliteLayout does.
func postgresLayout(ctx context.Context, d *sql.DB) (map[string][]string, error) {
	tables, err := strs(ctx, d, `SELECT table_name FROM information_schema.tables
        WHERE table_schema = 'public' AND table_type = 'BASE TABLE' ORDER BY table_name`)
	if err != nil {
		return nil, err
	}
	out := map[string][]string{}
	for _, table := range tables {
		rows, err := d.QueryContext(ctx, `SELECT c.column_name, c.data_type, c.is_nullable = 'NO', c.column_default,
                COALESCE((SELECT k.ordinal_position FROM information_schema.key_column_usage k
                    JOIN information_schema.table_constraints tc ON tc.constraint_name = k.constraint_name
                        AND tc.table_name = k.table_name AND tc.constraint_type = 'PRIMARY KEY'
                    WHERE k.table_name = c.table_name AND k.column_name = c.column_name), 0)
            FROM information_schema.columns c
            WHERE c.table_schema = 'public' AND c.table_name = $1 ORDER BY c.ordinal_position`, table)
		if err != nil {
			return nil, err
		}
		var cols []string
		for rows.Next() {
			var name, typ string
			var notnull bool
			var dflt sql.NullString
			var pk int
			if err := rows.Scan(&name, &typ, &notnull, &dflt, &pk); err != nil {
				rows.Close()
				return nil, err
			}
			// PostgreSQL shows a text default with its cast: ''::text.
			dflt.String = strings.TrimSuffix(dflt.String, "::text")
			cols = append(cols, column(name, typ, notnull, dflt, pk))
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
		idx, err := d.QueryContext(ctx, `SELECT c.relname, i.indisunique,
                EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid AND k.contype = 'u'),
                i.indpred IS NOT NULL,
                (SELECT string_agg(a.attname, ',' ORDER BY k.ord) FROM unnest(i.indkey) WITH ORDINALITY k(attnum, ord)
                    JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum)
            FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
            WHERE i.indrelid = $1::regclass AND NOT i.indisprimary`, table)
		if err != nil {
			return nil, err
		}
		var idxs []string
		for idx.Next() {
			var name, cols string
			var unique, constraint, partial bool
			if err := idx.Scan(&name, &unique, &constraint, &partial, &cols); err != nil {
				idx.Close()
				return nil, err
			}
			idxs = append(idxs, index(name, cols, unique, partial, constraint))
		}
		idx.Close()
		if err := idx.Err(); err != nil {
			return nil, err
		}
		slices.Sort(idxs)
		out[table] = append(cols, idxs...)
	}
	return out, nil
}

func column(name, typ string, notnull bool, dflt sql.NullString, pk int) string {
	s := "column " + name + " " + typ
	if notnull {
		s += " not null"
	}
	if dflt.Valid {
		s += " default " + dflt.String
	}
	if pk > 0 {
		s += " pk " + strconv.Itoa(pk)
	}
	return s
}

func index(name, cols string, unique, partial, constraint bool) string {
	if constraint {
		return "unique constraint (" + cols + ")"
	}
	s := "index " + name + " (" + cols + ")"
	if unique {
		s += " unique"
	}
	if partial {
		s += " partial"
	}
	return s
}

func strs(ctx context.Context, d *sql.DB, q string) ([]string, error) {
	rows, err := d.QueryContext(ctx, q)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

func keys(m map[string][]string) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

// The audit log is append-only on PostgreSQL too: UPDATE, DELETE and
// TRUNCATE are refused, except a DELETE of old rows while the prune gate is
// open, and the gate never opens over the newest row.
func TestAuditLogIsAppendOnly(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	pg := schemaDB(t)
	for seq := 1; seq <= 3; seq++ {
		if _, err := pg.ExecContext(ctx, `INSERT INTO audit_events (seq, at, action, actor, outcome, prev_hash, hash)
            VALUES ($1, $2, 'link.access', 'client', 'minted', $3, $4)`, seq, seq*1000, make([]byte, 32), []byte{byte(seq)}); err != nil {
			t.Fatal(err)
		}
	}
	count := func() int {
		t.Helper()
		var n int
		if err := pg.QueryRowContext(ctx, `SELECT count(*) FROM audit_events`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}

	for _, stmt := range []string{
		`UPDATE audit_events SET actor = 'someone else' WHERE seq = 2`,
		`DELETE FROM audit_events WHERE seq = 1`,
		`DELETE FROM audit_events`,
		`TRUNCATE audit_events`,
	} {
		if _, err := pg.ExecContext(ctx, stmt); err == nil || !strings.Contains(err.Error(), "audit_events is append-only") {
			t.Errorf("%s = %v; want the append-only refusal", stmt, err)
		}
	}
	if n := count(); n != 3 {
		t.Fatalf("%d rows after the refused statements; want 3", n)
	}

	// The gate never covers the newest row.
	if _, err := pg.ExecContext(ctx, `INSERT INTO audit_prune_gate (through_seq) VALUES (3)`); err == nil || !strings.Contains(err.Error(), "audit prune must keep the newest row") {
		t.Errorf("opening the gate over the newest row = %v; want a refusal", err)
	}

	// Inside the gate's transaction, rows up to through_seq go, and no more.
	tx, err := pg.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `INSERT INTO audit_prune_gate (through_seq) VALUES (1)`); err != nil {
		t.Fatalf("opening the gate: %v", err)
	}
	if r, err := tx.ExecContext(ctx, `DELETE FROM audit_events WHERE seq <= 1`); err != nil {
		t.Fatalf("pruning through the gate: %v", err)
	} else if n, _ := r.RowsAffected(); n != 1 {
		t.Fatalf("pruned %d rows; want 1", n)
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM audit_events WHERE seq = 2`); err == nil || !strings.Contains(err.Error(), "audit_events is append-only") {
		t.Fatalf("deleting past the gate = %v; want the append-only refusal", err)
	}
	tx.Rollback()

	tx, err = pg.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, stmt := range []string{
		`INSERT INTO audit_prune_gate (through_seq) VALUES (1)`,
		`DELETE FROM audit_events WHERE seq <= 1`,
		`DELETE FROM audit_prune_gate`,
	} {
		if _, err := tx.ExecContext(ctx, stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	if n := count(); n != 2 {
		t.Fatalf("%d rows after pruning one; want 2", n)
	}
	// Closed again: nothing more goes.
	if _, err := pg.ExecContext(ctx, `DELETE FROM audit_events WHERE seq = 2`); err == nil {
		t.Fatal("a delete after the gate closed succeeded")
	}
}

// Every step is recorded, with the descriptions of schema.sql's steps.
func TestMigrationsRecorded(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	pg := schemaDB(t)
	got, err := strs(ctx, pg, `SELECT version || ' ' || description FROM schema_migrations ORDER BY version`)
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, m := range db.Migrations() {
		want = append(want, strconv.Itoa(m.Version)+" "+m.Description)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("schema_migrations = %q; want %q", got, want)
	}
}
