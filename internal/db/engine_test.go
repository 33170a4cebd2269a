package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// Each case provokes the real error from the engine, and every classifier
// must say yes to its own class and no to the others.
func TestClassifiers(t *testing.T) {
	ctx := context.Background()
	open := func(t *testing.T) *DB {
		t.Helper()
		d, err := Open(ctx, filepath.Join(t.TempDir(), "s.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { d.Close() })
		if _, err := d.Read.Exec(`CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, b BLOB)`); err != nil {
			t.Fatal(err)
		}
		if _, err := d.Read.Exec(`INSERT INTO t (id, name) VALUES (1, 'a')`); err != nil {
			t.Fatal(err)
		}
		return d
	}
	type class struct{ unique, busy, readOnly, full, engine bool }
	for _, tc := range []struct {
		name    string
		provoke func(t *testing.T) error
		want    class
	}{
		{"duplicate unique column", func(t *testing.T) error {
			_, err := open(t).Read.Exec(`INSERT INTO t (id, name) VALUES (2, 'a')`)
			return err
		}, class{unique: true, engine: true}},
		{"duplicate primary key", func(t *testing.T) error {
			_, err := open(t).Read.Exec(`INSERT INTO t (id, name) VALUES (1, 'b')`)
			return err
		}, class{unique: true, engine: true}},
		{"not null is not unique", func(t *testing.T) error {
			_, err := open(t).Read.Exec(`INSERT INTO t (id, name) VALUES (2, NULL)`)
			return err
		}, class{engine: true}},
		{"syntax error", func(t *testing.T) error {
			_, err := open(t).Read.Exec(`INSERT INTO`)
			return err
		}, class{engine: true}},
		{"write on a read-only open", func(t *testing.T) error {
			d := open(t)
			d.Close()
			ro, err := OpenReadOnly(ctx, d.Path())
			if err != nil {
				t.Fatal(err)
			}
			defer ro.Close()
			_, err = ro.Read.Exec(`INSERT INTO t (id, name) VALUES (2, 'b')`)
			return err
		}, class{readOnly: true, engine: true}},
		{"database at its max_page_count", func(t *testing.T) error {
			d := open(t)
			var pages int
			if err := d.Write.QueryRow(`PRAGMA page_count`).Scan(&pages); err != nil {
				t.Fatal(err)
			}
			// The writer is one connection, so the pragma sticks to it.
			if _, err := d.Write.Exec(fmt.Sprintf(`PRAGMA max_page_count = %d`, pages)); err != nil {
				t.Fatal(err)
			}
			_, err := d.Write.Exec(`INSERT INTO t (id, name, b) VALUES (2, 'b', zeroblob(1000000))`)
			return err
		}, class{full: true, engine: true}},
		{"write lock held by another connection", func(t *testing.T) error {
			d := open(t)
			tx, err := BeginWrite(ctx, d.Write)
			if err != nil {
				t.Fatal(err)
			}
			defer tx.Rollback()
			c, err := d.Read.Conn(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if _, err := c.ExecContext(ctx, `PRAGMA busy_timeout = 20`); err != nil {
				t.Fatal(err)
			}
			_, err = c.ExecContext(ctx, `INSERT INTO t (id, name) VALUES (2, 'b')`)
			return err
		}, class{busy: true, engine: true}},
		{"finished transaction", func(t *testing.T) error {
			tx, err := open(t).Read.Begin()
			if err != nil {
				t.Fatal(err)
			}
			tx.Rollback()
			return tx.Commit()
		}, class{engine: true}},
		{"no rows", func(t *testing.T) error {
			var n int
			return open(t).Read.QueryRow(`SELECT id FROM t WHERE id = 99`).Scan(&n)
		}, class{}},
		{"not from the database", func(t *testing.T) error { return errors.New("some other failure") }, class{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.provoke(t)
			if err == nil {
				t.Fatal("no error provoked")
			}
			err = fmt.Errorf("wrapped: %w", err)
			got := class{IsUniqueViolation(err), IsBusy(err), IsReadOnly(err), IsFull(err), IsEngineError(err)}
			if got != tc.want {
				t.Errorf("classes of %v = %+v; want %+v", err, got, tc.want)
			}
		})
	}
	if IsEngineError(nil) || IsUniqueViolation(nil) {
		t.Error("nil is classified as a database error")
	}
}

func TestOpenReadOnly(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing.db")
	if _, err := OpenReadOnly(ctx, missing); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("OpenReadOnly(missing) = %v; want os.ErrNotExist", err)
	}
	if _, err := os.Stat(missing); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("OpenReadOnly created %s", missing)
	}
	if _, err := OpenReadOnly(ctx, ""); err == nil {
		t.Error("OpenReadOnly(\"\") succeeded")
	}
	notDB := filepath.Join(dir, "notes.txt")
	if err := os.WriteFile(notDB, []byte("not a database, just some text that is long enough to look like a header ..."), 0o600); err != nil {
		t.Fatal(err)
	}
	if d, err := OpenReadOnly(ctx, notDB); err == nil {
		if _, err := d.HasTable(ctx, "audit_events"); err == nil {
			t.Error("a text file opened and answered as a database")
		}
		d.Close()
	}

	path := filepath.Join(dir, "s.db")
	w, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	w.Close()
	before, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	d, err := OpenReadOnly(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if d.Write != nil {
		t.Error("a read-only DB has a writer")
	}
	for name, want := range map[string]bool{"audit_events": true, "api_tokens": true, "no_such_table": false} {
		if got, err := d.HasTable(ctx, name); err != nil || got != want {
			t.Errorf("HasTable(%q) = %v, %v; want %v", name, got, err, want)
		}
	}
	if _, err := d.Read.Exec(`CREATE TABLE x (y INTEGER)`); !IsReadOnly(err) {
		t.Errorf("CREATE TABLE on a read-only DB = %v; want a read-only error", err)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if after, err := os.ReadFile(path); err != nil || string(after) != string(before) {
		t.Errorf("the read-only open changed %s (err %v)", path, err)
	}
	var _ Querier = (*sql.Tx)(nil)
}
