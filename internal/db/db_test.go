package db

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

func TestMigrationsParse(t *testing.T) {
	ms := Migrations()
	if len(ms) == 0 {
		t.Fatal("schema.sql has no migration steps")
	}
	for i, m := range ms {
		if m.Version != i+1 || m.Description == "" || strings.TrimSpace(m.SQL) == "" {
			t.Errorf("migration %d = %+v; want numbered %d with a description and SQL", i, m, i+1)
		}
	}
}

func TestOpenAppliesAndRecordsMigrationsOnce(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "s.db")
	for i := 0; i < 2; i++ {
		d, err := Open(ctx, path)
		if err != nil {
			t.Fatalf("Open #%d: %v", i+1, err)
		}
		var n, max int
		if err := d.Read.QueryRow(`SELECT COUNT(*), MAX(version) FROM schema_migrations`).Scan(&n, &max); err != nil {
			t.Fatal(err)
		}
		if n != len(Migrations()) || max != len(Migrations()) {
			t.Fatalf("Open #%d: %d migrations recorded up to %d; want %d", i+1, n, max, len(Migrations()))
		}
		var mode string
		if err := d.Write.QueryRow(`PRAGMA journal_mode`).Scan(&mode); err != nil || mode != "wal" {
			t.Fatalf("journal_mode = %q, %v; want wal", mode, err)
		}
		var sync int
		if err := d.Write.QueryRow(`PRAGMA synchronous`).Scan(&sync); err != nil || sync != 2 {
			t.Fatalf("synchronous = %d, %v; want 2 (FULL)", sync, err)
		}
		d.Close()
	}
}

func TestOpenRefusesNewerSchema(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "s.db")
	d, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Read.Exec(`INSERT INTO schema_migrations VALUES (999, 'from the future', 0)`); err != nil {
		t.Fatal(err)
	}
	d.Close()
	if _, err := Open(ctx, path); !errors.Is(err, ErrSchemaTooNew) {
		t.Fatalf("Open = %v; want ErrSchemaTooNew", err)
	}
}

func TestAuditLogIsAppendOnly(t *testing.T) {
	d, err := Open(context.Background(), filepath.Join(t.TempDir(), "s.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if _, err := d.Read.Exec(`INSERT INTO audit_events (seq, at, action, actor, outcome, prev_hash, hash) VALUES (1, 0, 'x', 'y', 'ok', x'00', x'00')`); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{`UPDATE audit_events SET actor = 'z'`, `DELETE FROM audit_events`} {
		if _, err := d.Read.Exec(q); err == nil || !strings.Contains(err.Error(), "append-only") {
			t.Errorf("%s = %v; want refused as append-only", q, err)
		}
	}
}

// The database and its -wal and -shm files hold link codes' hashes, token
// hashes and the audit log: they are the owner's alone, as is a directory
// Open creates for them, under the usual umask 022.
func TestOpenCreatesPrivateFiles(t *testing.T) {
	old := syscall.Umask(0o022)
	t.Cleanup(func() { syscall.Umask(old) })
	dir := filepath.Join(t.TempDir(), "var", "sharesvc")
	path := filepath.Join(dir, "s.db")
	d, err := Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	// A write through each pool, so that the -wal and -shm exist.
	if _, err := d.Write.Exec(`CREATE TABLE mode_probe (x INTEGER)`); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Read.Exec(`INSERT INTO mode_probe VALUES (1)`); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]os.FileMode{
		dir: 0o700 | os.ModeDir, path: 0o600, path + "-wal": 0o600, path + "-shm": 0o600,
	} {
		fi, err := os.Stat(name)
		if err != nil {
			t.Errorf("stat %s: %v", name, err)
			continue
		}
		if fi.Mode() != want {
			t.Errorf("mode of %s = %v; want %v", filepath.Base(name), fi.Mode(), want)
		}
	}
}
