package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sharesvc/sharesvc/internal/audit"
	"github.com/sharesvc/sharesvc/internal/db"
	"github.com/sharesvc/sharesvc/internal/testrig/auditseed"
	"github.com/sharesvc/sharesvc/internal/testrig/postgres"
)

// seedSource writes a SQLite database at path at the current schema with
// nAudit audit rows (a valid chain, written straight into the table in one
// transaction: far faster than the group-commit writer) and a few rows of
// every other table, with the values that are easy to get wrong on the
// way: NULLs, blobs with zero bytes, times near the ends of int64, text
// outside ASCII.
func seedSource(t testing.TB, path string, nAudit int) {
	t.Helper()
	ctx := context.Background()
	d, err := db.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	tx, err := d.Write.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	exec := func(q string, args ...any) {
		t.Helper()
		if _, err := tx.ExecContext(ctx, q, args...); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	hash := func(s string) []byte { h := sha256.Sum256([]byte(s)); return h[:] }
	const big = int64(1) << 62
	exec(`INSERT INTO api_tokens (id, name, role, token_hash, created_at, created_by, expires_at, revoked_at, last_used_at)
        VALUES ('tok_a', 'alice', 'admin', ?, 1700000000000, 'cli', NULL, NULL, 1700000000123),
               ('tok_b', 'bob', 'sharer', ?, 1700000000001, 'alice', ?, 1700000009999, NULL),
               ('tok_c', 'zoë', 'auditor', ?, 1700000000002, 'alice', NULL, NULL, NULL)`,
		hash("a"), append([]byte{0, 0, 0}, hash("b")[3:]...), big, hash("c"))
	exec(`INSERT INTO grants (id, person, role, bucket, key_prefix, actions, max_lifetime_ms, max_uses, max_presign_ttl_ms,
            recipient_domains, created_at, created_by, reason, revoked_at, revoked_by, revoke_reason)
        VALUES ('grt_1', NULL, 'sharer', 'team', 'home/{person}/', 'download,upload,email', NULL, NULL, NULL, '', 1700000000000, 'alice', 'home folders', NULL, NULL, NULL),
               ('grt_2', 'bob', NULL, 'hr', 'reports/', 'download', 604800000, 5, 60000, 'example.org', 1700000000001, 'alice', 'q3', 1700000001000, 'alice', 'done')`)
	for i := range 50 {
		var share, grant any
		if i%3 == 0 {
			share = fmt.Sprintf("shr_%d", i/3)
		}
		if i%2 == 0 {
			grant = "grt_1"
		}
		exec(`INSERT INTO links (id, code_hash, kind, bucket, object_key, created_at, created_by, not_before, expires_at, max_uses, uses,
                presign_ttl_ms, note, filename, last_access_at, revoked_at, revoked_by, revoke_reason, max_bytes, content_type,
                key_is_prefix, share_id, recipient, confirm, direct, notify, notify_mode, first_open_at, grant_id, grant_prefix)
            VALUES (?, ?, 'download', 'team', ?, ?, 'bob', NULL, ?, ?, ?, 60000, ?, 'r.pdf', NULL, NULL, NULL, NULL, ?, '', 0, ?, ?, 1, 0, '', '', NULL, ?, ?)`,
			fmt.Sprintf("lnk_%04d", i), hash(fmt.Sprint("code", i)), fmt.Sprintf("home/bob/Déjà vu %d.pdf", i),
			1700000000000+int64(i), big+int64(i), i, i/2, "note ✓ \t\n"+strings.Repeat("x", i), int64(i)<<40,
			share, fmt.Sprintf("r%d@example.org", i), grant, "home/bob/")
	}
	exec(`INSERT INTO settings (name, value, updated_at, updated_by) VALUES ('killswitch', 'suspected leak', 1700000000000, 'alice')`)
	exec(`INSERT INTO deliveries (id, link_id, share_id, recipient, kind, mode, state, attempts, next_attempt_at, last_error,
            sealed_code, payload, message_id, created_at, sent_at)
        VALUES ('dlv_1', 'lnk_0000', 'shr_0', 'r0@example.org', 'share', '', 'queued', 0, 1700000000000, '', ?, '{"note":"hi"}', '<1@x>', 1700000000000, NULL),
               ('dlv_2', 'lnk_0003', 'shr_1', 'r3@example.org', 'share', '', 'sent', 2, 1700000000000, '421 try later', NULL, '{}', '<2@x>', 1700000000000, 1700000005000),
               ('dlv_3', 'lnk_0003', 'shr_1', 'bob@example.org', 'notify', 'digest', 'failed', 8, 1700000000000, '550 no', NULL, '{}', '<3@x>', 1700000000000, NULL)`,
		[]byte{0, 1, 2, 255, 0, 254})
	exec(`INSERT INTO console_sessions (id_hash, token_id, csrf, expires_at) VALUES (?, 'tok_a', 'csrf1', 1700043200000), (?, 'tok_b', 'csrf2', 1700043200001)`,
		hash("s1"), hash("s2"))
	exec(`INSERT INTO arrivals (id, link_id, object_key, filename, bytes, client_ip, state, created_at, arrived_at)
        VALUES ('arr_1', 'lnk_0001', 'inbox/Grüße ✓.pdf', 'Grüße ✓.pdf', 1234, '198.51.100.7', 'arrived', 1700000000000, 1700000001000),
               ('arr_2', 'lnk_0001', 'inbox/x', '', 0, '', 'pending', 1700000002000, NULL)`)
	exec(`INSERT INTO recipient_codes (link_id, code_hash, expires_at, attempts, sent_at, window_at, sends, locked_at)
        VALUES ('lnk_0002', ?, 1700000600000, 2, 1700000000000, 1700000000000, 3, NULL)`, hash("code"))
	exec(`INSERT INTO recipient_verifications (id_hash, link_id, expires_at) VALUES (?, 'lnk_0002', 1700086400000)`, hash("cookie"))
	exec(`UPDATE api_tokens SET display_name = 'Bob Example ✓', email = 'bob@example.org' WHERE name = 'bob'`)
	exec(`UPDATE links SET verify_recipient = 1 WHERE id = 'lnk_0002'`)
	exec(`UPDATE links SET object_bytes = ? WHERE id = 'lnk_0004'`, int64(5)<<40)
	exec(`INSERT INTO grants (id, group_name, bucket, key_prefix, actions, created_at, created_by)
        VALUES ('grt_3', 'share-finance', 'fin', 'out/', 'download,email', 1700000000002, 'alice')`)
	exec(`INSERT INTO people (id, issuer, subject, name, email, display_name, groups, role, role_override, created_at, seen_at, disabled_at)
        VALUES ('psn_1', 'https://idp.example.org', '00u1a2b3', 'carol@example.org', 'carol@example.org', 'Carol Ü', '["share-admins","all staff"]', 'admin', NULL, 1700000000000, 1700000100000, NULL),
               ('psn_2', 'https://idp.example.org', '00u9z', 'dan@example.org', '', '', '[]', 'sharer', 'auditor', 1700000000001, 1700000000001, 1700000200000)`)
	exec(`INSERT INTO console_sessions (id_hash, token_id, csrf, expires_at, person_id, checked_at, refresh_token) VALUES (?, '', 'csrf3', 1700043200002, 'psn_1', 1700000100000, 'sealed')`,
		hash("s3"))
	exec(`INSERT INTO api_tokens (id, name, role, token_hash, created_at, created_by, owner) VALUES ('tok_d', 'carol-laptop', 'sharer', ?, 1700000000003, 'carol@example.org', 'carol@example.org')`,
		hash("d"))

	chain, err := auditseed.New(ctx, tx, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer chain.Close()
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for seq := 1; seq <= nAudit; seq++ {
		// Accesses on 50 of the links above, some link.create rows with
		// non-ASCII details among them.
		ev := auditseed.Access(seq, start, 50)
		ev.LinkID = fmt.Sprintf("lnk_%04d", seq%50)
		if seq%7 == 3 {
			ev.Action, ev.Actor, ev.Outcome, ev.Detail = audit.ActionLinkCreate, "bob", audit.OutcomeOK, `{"key":"Grüße/✓.pdf"}`
			ev.URLExpiresAt, ev.STSSession = time.Time{}, ""
		}
		if err := chain.Add(ctx, ev); err != nil {
			t.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
}

// dump returns every row of every table migrate copies, each row as its
// columns by name with their values as the driver returns them, sorted:
// two databases whose dumps are equal hold the same values byte for byte.
func dump(t testing.TB, d *sql.DB) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	for _, ct := range copyTables {
		rows, err := d.Query(`SELECT * FROM ` + ct.name)
		if err != nil {
			t.Fatal(err)
		}
		cols, _ := rows.Columns()
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		var list []string
		for rows.Next() {
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			fields := make([]string, len(cols))
			for i, v := range vals {
				fields[i] = fmt.Sprintf("%s=%T:%#v", cols[i], v, v)
			}
			sort.Strings(fields)
			list = append(list, strings.Join(fields, " "))
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		rows.Close()
		sort.Strings(list)
		out[ct.name] = list
	}
	return out
}

func openDump(t testing.TB, dsn string) map[string][]string {
	t.Helper()
	d, err := db.OpenReadOnly(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	return dump(t, d.Read)
}

func compareDumps(t *testing.T, got, want map[string][]string) {
	t.Helper()
	for _, ct := range copyTables {
		g, w := got[ct.name], want[ct.name]
		if len(g) != len(w) {
			t.Errorf("%s: %d rows; want %d", ct.name, len(g), len(w))
			continue
		}
		for i := range g {
			if g[i] != w[i] {
				t.Errorf("%s: row differs:\n got %s\nwant %s", ct.name, g[i], w[i])
				break
			}
		}
	}
}

// runMigrate runs "sharesvc migrate" and returns its output and error.
func runMigrate(from, to string) (string, error) {
	var out, errb bytes.Buffer
	err := run(context.Background(), []string{"migrate", "--from", from, "--to", to}, func(string) string { return "" }, &out, &errb)
	return out.String() + errb.String(), err
}

// A SQLite database with 100,000 audit rows and rows in every table
// arrives on PostgreSQL value for value; the chain verifies there with
// "sharesvc audit verify", and the summary names every table's rows.
func TestMigrateCopiesEveryTable(t *testing.T) {
	src := filepath.Join(t.TempDir(), "old.db")
	seedSource(t, src, 100000)
	want := openDump(t, src)
	for _, ct := range copyTables {
		if len(want[ct.name]) == 0 {
			t.Fatalf("the seeded source has no %s rows: the test would prove nothing for it", ct.name)
		}
	}
	url := postgres.Database(t)
	out, err := runMigrate(src, url)
	if err != nil {
		t.Fatalf("migrate: %v\n%s", err, out)
	}
	t.Logf("%s", out)
	lines := map[string]bool{}
	for _, l := range strings.Split(out, "\n") {
		lines[strings.Join(strings.Fields(l), " ")] = true
	}
	for _, s := range []string{"audit_events 100000", "links 50", "api_tokens 4", "grants 3", "settings 1", "deliveries 3", "console_sessions 3", "people 2"} {
		if !lines[s] {
			t.Errorf("summary lacks the row %q:\n%s", s, out)
		}
	}
	if !strings.Contains(out, "chain head seq 100000") {
		t.Errorf("summary lacks the chain head:\n%s", out)
	}
	compareDumps(t, openDump(t, url), want)
	v := runCLI(t, map[string]string{}, "audit", "verify", "--db", url)
	if !strings.Contains(v, "OK: rows 1..100000 (100000) verify") {
		t.Errorf("audit verify on the target:\n%s", v)
	}
}

// The source's checkpoints come along as evidence: the copy is checked
// against them, and a source whose tail was cut since is refused.
func TestMigrateChecksSourceCheckpoints(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "old.db")
	seedSource(t, src, 100)
	d, err := db.Open(context.Background(), src)
	if err != nil {
		t.Fatal(err)
	}
	priv, _, err := audit.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	key, err := audit.ParsePrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	cp, err := audit.NewCheckpointer(d.Read, key, audit.CheckpointOptions{Dir: src + "-checkpoints"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cp.Write(context.Background()); err != nil {
		t.Fatal(err)
	}
	d.Close()
	out, err := runMigrate(src, postgres.Database(t))
	if err != nil {
		t.Fatalf("migrate: %v\n%s", err, out)
	}
	if !strings.Contains(out, "checked against 1 checkpoints in "+src+"-checkpoints") {
		t.Errorf("summary does not name the checkpoints:\n%s", out)
	}

	// Cut the last row off: only the checkpoint can tell.
	changeFile(t, src, []string{`DROP TRIGGER audit_events_no_delete`, `DELETE FROM audit_events WHERE seq = 100`})
	url := postgres.Database(t)
	out, err = runMigrate(src, url)
	if !errors.Is(err, audit.ErrTampered) {
		t.Fatalf("migrate of a cut log = %v; want ErrTampered\n%s", err, out)
	}
	assertUntouched(t, url)
}

// changeFile changes the SQLite file at path behind the service's back:
// each statement, with args for the last one.
func changeFile(t *testing.T, path string, stmts []string, args ...any) {
	t.Helper()
	d, err := db.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	for i, s := range stmts {
		var a []any
		if i == len(stmts)-1 {
			a = args
		}
		if _, err := d.Read.Exec(s, a...); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
}

// assertUntouched checks that the PostgreSQL database at url has no
// sharesvc table: migrate refused before creating the schema.
func assertUntouched(t *testing.T, url string) {
	t.Helper()
	d, err := db.OpenReadOnly(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	for _, name := range append(migrateTableNames(), "schema_migrations") {
		if ok, err := d.HasTable(context.Background(), name); err != nil || ok {
			t.Errorf("target has table %s (%v) after a refused migrate; want none", name, err)
		}
	}
}

// A source whose chain does not verify is refused before anything is
// written to the target: a copy would carry the break over.
func TestMigrateRefusesTamperedSource(t *testing.T) {
	src := filepath.Join(t.TempDir(), "old.db")
	seedSource(t, src, 500)
	changeFile(t, src, []string{`DROP TRIGGER audit_events_no_update`, `UPDATE audit_events SET actor = 'mallory' WHERE seq = 250`})
	url := postgres.Database(t)
	out, err := runMigrate(src, url)
	if !errors.Is(err, audit.ErrTampered) || !strings.Contains(err.Error(), "row 250") {
		t.Fatalf("migrate of a tampered log = %v; want ErrTampered naming row 250\n%s", err, out)
	}
	assertUntouched(t, url)
}

// A target with any row is refused, and left exactly as it was.
func TestMigrateRefusesNonEmptyTarget(t *testing.T) {
	ctx := context.Background()
	src := filepath.Join(t.TempDir(), "old.db")
	seedSource(t, src, 10)

	// A database that only holds the kill switch.
	url := postgres.Database(t)
	d, err := db.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Read.Exec(`INSERT INTO settings (name, value, updated_at, updated_by) VALUES ('killswitch', 'x', 1, 'y')`); err != nil {
		t.Fatal(err)
	}
	d.Close()
	before := openDump(t, url)
	out, err := runMigrate(src, url)
	if err == nil || !strings.Contains(err.Error(), "is not empty (table settings has 1 rows)") {
		t.Fatalf("migrate into a non-empty target = %v; want a refusal naming settings\n%s", err, out)
	}
	compareDumps(t, openDump(t, url), before)

	// A database migrated into once refuses a second copy.
	url = postgres.Database(t)
	if out, err := runMigrate(src, url); err != nil {
		t.Fatalf("first migrate: %v\n%s", err, out)
	}
	before = openDump(t, url)
	other := filepath.Join(t.TempDir(), "other.db")
	seedSource(t, other, 20)
	if out, err := runMigrate(other, url); err == nil || !strings.Contains(err.Error(), "is not empty") {
		t.Fatalf("second migrate = %v; want a refusal\n%s", err, out)
	}
	compareDumps(t, openDump(t, url), before)
}

// A row that PostgreSQL refuses mid-copy (text with a NUL byte, which
// SQLite stores and PostgreSQL's text cannot) rolls the whole copy back:
// the tables copied before it are empty again.
func TestMigrateFailedCopyLeavesTargetEmpty(t *testing.T) {
	src := filepath.Join(t.TempDir(), "old.db")
	seedSource(t, src, 10)
	changeFile(t, src, []string{`UPDATE links SET note = ? WHERE id = 'lnk_0049'`}, "a\x00b")
	url := postgres.Database(t)
	out, err := runMigrate(src, url)
	if err == nil || !strings.Contains(err.Error(), "copy links: rows 1 to 50") {
		t.Fatalf("migrate = %v; want a failed copy of links\n%s", err, out)
	}
	for name, rows := range openDump(t, url) {
		if len(rows) != 0 {
			t.Errorf("%s has %d rows after a failed copy; want 0", name, len(rows))
		}
	}
}

// Bad input gets a clear error and changes nothing; a password in the
// URL never reaches a message.
func TestMigrateBadInput(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.db")
	seedSource(t, good, 3)
	notDB := filepath.Join(dir, "notes.txt")
	if err := os.WriteFile(notDB, []byte(strings.Repeat("not a database\n", 100)), 0o600); err != nil {
		t.Fatal(err)
	}
	plain := filepath.Join(dir, "plain.db")
	if d, err := sql.Open("sqlite", plain); err != nil {
		t.Fatal(err)
	} else if _, err := d.Exec(`CREATE TABLE t (x)`); err != nil {
		t.Fatal(err)
	} else {
		d.Close()
	}
	old := filepath.Join(dir, "old.db")
	oldSchema(t, old, 6)
	newer := filepath.Join(dir, "newer.db")
	seedSource(t, newer, 3)
	changeFile(t, newer, []string{`INSERT INTO schema_migrations (version, description, applied_at) VALUES (99, 'future', 0)`})
	url := postgres.Database(t)
	const secret = "hunter2secret"
	refused := "postgres://sharesvc:" + secret + "@127.0.0.1:1/nothing?sslmode=disable"

	tests := []struct {
		name, from, to, want string
	}{
		{"no from", "", url, "--from FILE is required"},
		{"no to", good, "", "--to URL is required"},
		{"missing file", filepath.Join(dir, "nope.db"), url, "no such file"},
		{"not a database", notDB, url, "not a database"},
		{"not sharesvc", plain, url, "is not a sharesvc database"},
		{"older schema", old, url, "is at schema version 6, this binary writes version"},
		{"newer schema", newer, url, "newer than this binary's"},
		{"to sqlite", good, filepath.Join(dir, "new.db"), "must be a postgres:// URL"},
		{"from postgres", url, url, "is a PostgreSQL URL"},
		{"bad url", good, "postgres://a:" + secret + "@[::1", "not a valid PostgreSQL URL"},
		{"unreachable", good, refused, "127.0.0.1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, err := runMigrate(tc.from, tc.to)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("migrate(%q, %q) = %v; want an error containing %q", tc.from, db.Redact(tc.to), err, tc.want)
			}
			if strings.Contains(err.Error()+out, secret) {
				t.Errorf("the password is in the message: %v\n%s", err, out)
			}
		})
	}
	assertUntouched(t, url)
	if _, err := os.Stat(filepath.Join(dir, "new.db")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a refused --to created a file: %v", err)
	}
}

// oldSchema writes a SQLite database at path with only the first n steps
// of schema.sql applied, as an earlier release left it.
func oldSchema(t *testing.T, path string, n int) {
	t.Helper()
	d, err := sql.Open("sqlite", db.DSN(path))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if _, err := d.Exec(`CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, description TEXT NOT NULL, applied_at INTEGER NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	for _, m := range db.Migrations()[:n] {
		if _, err := d.Exec(m.SQL); err != nil {
			t.Fatal(err)
		}
		if _, err := d.Exec(`INSERT INTO schema_migrations VALUES (?, ?, 0)`, m.Version, m.Description); err != nil {
			t.Fatal(err)
		}
	}
}

// Every table of schema.sql is either copied or deliberately skipped: a
// table added to the schema fails here until migrate knows about it.
func TestMigrateKnowsEveryTable(t *testing.T) {
	d, err := db.Open(context.Background(), filepath.Join(t.TempDir(), "s.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	rows, err := d.Read.Query(`SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var tables []string
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			t.Fatal(err)
		}
		tables = append(tables, name)
	}
	known := map[string]bool{}
	for _, ct := range copyTables {
		known[ct.name] = true
	}
	for name := range skipTables {
		known[name] = true
	}
	for _, name := range tables {
		if !known[name] {
			t.Errorf("schema.sql has table %s, which migrate neither copies (copyTables) nor skips with a reason (skipTables)", name)
		}
		delete(known, name)
	}
	for name := range known {
		t.Errorf("migrate lists table %s, which schema.sql does not have", name)
	}
	if !slices.Contains(tables, "audit_events") {
		t.Fatalf("tables = %v; the query found no schema", tables)
	}
}

// BenchmarkMigrate times "sharesvc migrate" of a SQLite database with
// SHARESVC_BENCH_MIGRATE_ROWS audit rows (default 100000) and a few rows of
// every other table into a fresh PostgreSQL database, verification
// included. Run with -benchtime=1x -count=3 for a median of three. Besides
// the wall time it reports the CPU time of this process and of the
// PostgreSQL cluster it started (cpu_s, pg_cpu_s): on a shared machine
// those tell what the copy costs better than the wall time does.
func BenchmarkMigrate(b *testing.B) {
	n := 100000
	if v := os.Getenv("SHARESVC_BENCH_MIGRATE_ROWS"); v != "" {
		if _, err := fmt.Sscan(v, &n); err != nil || n < 1 {
			b.Fatalf("SHARESVC_BENCH_MIGRATE_ROWS=%q is not a positive number", v)
		}
	}
	src := filepath.Join(b.TempDir(), "old.db")
	seedSource(b, src, n)
	var cpu, pgCPU time.Duration
	for b.Loop() {
		b.StopTimer()
		url := postgres.Database(b)
		cpu0, pg0 := selfCPU(), clusterCPU(b)
		b.StartTimer()
		if err := migrate(context.Background(), src, url, io.Discard); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		cpu += selfCPU() - cpu0
		pgCPU += clusterCPU(b) - pg0
		b.StartTimer()
	}
	b.ReportMetric(float64(n), "audit_rows")
	b.ReportMetric(cpu.Seconds()/float64(b.N), "cpu_s/op")
	b.ReportMetric(pgCPU.Seconds()/float64(b.N), "pg_cpu_s/op")
}

// selfCPU returns the CPU time (user + system) this process has used.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// clusterCPU returns the CPU time used so far by the PostgreSQL server
// this process started (a child named postgres) and its backends, live or
// ended.
func clusterCPU(b *testing.B) time.Duration {
	const tick = 10 * time.Millisecond // USER_HZ on Linux
	stat := func(pid string) (ppid string, comm string, t []int64) {
		raw, err := os.ReadFile("/proc/" + pid + "/stat")
		if err != nil {
			return "", "", nil
		}
		s := string(raw)
		open, end := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
		f := strings.Fields(s[end+2:])            // from field 3 (state)
		for _, i := range []int{11, 12, 13, 14} { // utime, stime, cutime, cstime
			var v int64
			fmt.Sscan(f[i], &v)
			t = append(t, v)
		}
		return f[1], s[open+1 : end], t
	}
	procs, _ := filepath.Glob("/proc/[0-9]*")
	parent := map[string]string{}
	times := map[string][]int64{}
	self := fmt.Sprint(os.Getpid())
	var master string
	for _, p := range procs {
		pid := filepath.Base(p)
		ppid, comm, t := stat(pid)
		if t == nil {
			continue
		}
		parent[pid], times[pid] = ppid, t
		if ppid == self && comm == "postgres" {
			master = pid
		}
	}
	if master == "" {
		b.Fatal("no PostgreSQL server among this process's children")
	}
	t := times[master]
	total := t[0] + t[1] + t[2] + t[3] // its own, and its ended backends'
	for pid, pp := range parent {
		if pp == master {
			total += times[pid][0] + times[pid][1]
		}
	}
	return time.Duration(total) * tick
}
