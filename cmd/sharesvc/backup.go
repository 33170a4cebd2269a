package main

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/sharesvc/sharesvc/internal/audit"
	"github.com/sharesvc/sharesvc/internal/db"
)

// backupCmd is "sharesvc backup": a consistent copy of a SQLite database,
// taken while serve may be writing to it, and checked before it is kept.
type backupCmd struct {
	DB         string `name:"db" envvar:"SHARESVC_DB" default:"sharesvc.db" help:"SQLite database file to copy (serve may be running on it)."`
	Out        string `name:"out" placeholder:"FILE" help:"File for the copy (required); it must not exist. Written with mode 0600."`
	Checkpoint string `name:"checkpoint" placeholder:"FILE|DIR" help:"Checkpoints the copy must agree with (default: the database path + \"-checkpoints\" when it exists)."`
}

func (c *backupCmd) Run(e *runEnv) error {
	ctx, stdout := e.ctx, e.stdout
	// Every setting is checked before anything is opened or written.
	switch {
	case db.IsPostgres(c.DB):
		// Without the URL, which may hold a password.
		return errors.New("backup: --db is a PostgreSQL URL: back PostgreSQL up with its own tools (pg_dump --format=custom, or continuous archiving); sharesvc backup copies SQLite files")
	case c.DB == "":
		return errors.New("backup: --db FILE is required (or set SHARESVC_DB)")
	case c.Out == "":
		return errors.New("backup: --out FILE is required (e.g. --out /var/backups/sharesvc-$(date +%F).db)")
	}
	if _, err := os.Lstat(c.Out); err == nil {
		return fmt.Errorf("backup: --out %s exists: a backup never replaces a file; choose a new name", c.Out)
	} else if !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("backup: --out: %w", err)
	}
	if fi, err := os.Stat(filepath.Dir(c.Out)); err != nil || !fi.IsDir() {
		return fmt.Errorf("backup: --out %s: its directory does not exist", c.Out)
	}
	if same, err := sameFile(c.DB, c.Out); err != nil || same {
		return fmt.Errorf("backup: --out %s is the database itself", c.Out)
	}
	// Read before the copy is taken: a checkpoint signed after it could
	// name rows the copy rightly lacks.
	opts, err := readCheckpoints(c.DB, c.Checkpoint)
	if errors.Is(err, audit.ErrNoCheckpoint) && c.Checkpoint == "" {
		opts, err = audit.VerifyOptions{}, nil // serve made the directory and has not signed one yet
	}
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	src, err := openReadOnly(ctx, c.DB)
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	defer src.Close()
	res, size, err := backup(ctx, src, c.Out, opts)
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	fmt.Fprintf(stdout, "Wrote %s (%d bytes): integrity_check ok; ", c.Out, size)
	printVerified(stdout, res, opts)
	return nil
}

// sameFile reports whether out would be the database file (or one of its
// -wal, -shm and -journal files); out does not exist yet, so only its path
// can be compared.
func sameFile(dbPath, out string) (bool, error) {
	a, err := filepath.Abs(dbPath)
	if err != nil {
		return false, err
	}
	b, err := filepath.Abs(out)
	if err != nil {
		return false, err
	}
	for _, s := range []string{"", "-wal", "-shm", "-journal"} {
		if a+s == b {
			return true, nil
		}
	}
	return false, nil
}

// readCheckpoints returns the verification options for the database at
// dbPath: the checkpoints in cpPath (a file, or a directory: every
// checkpoint in it, not only the newest, since a log cut and grown back
// past one still contradicts an earlier one), or in dbPath +
// "-checkpoints" when cpPath is empty and that exists.
func readCheckpoints(dbPath, cpPath string) (audit.VerifyOptions, error) {
	var o audit.VerifyOptions
	if cpPath == "" {
		if fi, err := os.Stat(dbPath + "-checkpoints"); err == nil && fi.IsDir() {
			cpPath = dbPath + "-checkpoints"
		}
	}
	if cpPath == "" {
		return o, nil
	}
	fi, err := os.Stat(cpPath)
	if err != nil {
		return o, fmt.Errorf("--checkpoint: %w", err)
	}
	if !fi.IsDir() {
		cp, err := audit.ReadCheckpoint(cpPath)
		if err != nil {
			return o, fmt.Errorf("--checkpoint: %w", err)
		}
		o.Checkpoint = cp
		return o, nil
	}
	all, err := audit.ReadCheckpointDir(cpPath)
	if err != nil {
		return o, fmt.Errorf("--checkpoint: %w", err)
	}
	newest := all[0]
	for _, c := range all {
		if c.Seq >= newest.Seq {
			newest = c
		}
	}
	o.Checkpoint, o.Checkpoints = &newest, all
	return o, nil
}

// backup copies src into the new file out with VACUUM INTO, a snapshot of
// one read transaction that writers beside it do not disturb, and keeps it
// only once SQLite's integrity_check passes on the copy and its audit chain
// verifies against opts. The copy is written beside out under a temporary
// name, made durable, and linked to out, which fails if out appeared
// meanwhile: out never holds an unchecked or partial copy, and an existing
// file is never replaced. It returns the verification and the copy's size.
func backup(ctx context.Context, src *sql.DB, out string, opts audit.VerifyOptions) (audit.VerifyResult, int64, error) {
	// CreateTemp makes the file 0600 whatever the umask; VACUUM INTO
	// writes into an empty file and keeps its mode.
	f, err := os.CreateTemp(filepath.Dir(out), "."+filepath.Base(out)+".tmp-")
	if err != nil {
		return audit.VerifyResult{}, 0, err
	}
	tmp := f.Name()
	defer removeDBFiles(tmp)
	if err := f.Close(); err != nil {
		return audit.VerifyResult{}, 0, err
	}
	if err := vacuumInto(ctx, src, tmp); err != nil {
		return audit.VerifyResult{}, 0, fmt.Errorf("copy: %w", err)
	}
	res, err := checkCopy(ctx, tmp, opts)
	if err != nil {
		return res, 0, err
	}
	// Rows still in a -wal would not travel with the file: checkCopy only
	// reads, so any there is empty, and the copy is the file alone.
	removeSidecars(tmp)
	size, err := syncFile(tmp)
	if err != nil {
		return res, 0, err
	}
	if err := os.Link(tmp, out); err != nil {
		if errors.Is(err, os.ErrExist) {
			return res, 0, fmt.Errorf("--out %s appeared while the copy was made; it was left alone", out)
		}
		return res, 0, err
	}
	return res, size, syncDir(filepath.Dir(out))
}

// vacuumInto writes a snapshot of src into the empty file path. src is
// opened read-only (mode=ro), which VACUUM INTO allows, and query_only,
// which refuses it as a write: the statement runs on a connection of its
// own with query_only lifted, and that connection is then discarded, so
// no other query runs without it.
func vacuumInto(ctx context.Context, src *sql.DB, path string) error {
	conn, err := src.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Raw(func(any) error { return driver.ErrBadConn }) // closes it instead of pooling it
	if _, err := conn.ExecContext(ctx, `PRAGMA query_only = 0`); err != nil {
		return err
	}
	_, err = conn.ExecContext(ctx, `VACUUM INTO ?`, path)
	return err
}

// checkCopy runs SQLite's integrity_check on the copy at path and verifies
// its audit chain against opts.
func checkCopy(ctx context.Context, path string, opts audit.VerifyOptions) (audit.VerifyResult, error) {
	d, err := openReadOnly(ctx, path)
	if err != nil {
		return audit.VerifyResult{}, fmt.Errorf("check the copy: %w", err)
	}
	defer d.Close()
	rows, err := d.QueryContext(ctx, `PRAGMA integrity_check`)
	if err != nil {
		return audit.VerifyResult{}, fmt.Errorf("check the copy: %w", err)
	}
	var problems []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			rows.Close()
			return audit.VerifyResult{}, fmt.Errorf("check the copy: %w", err)
		}
		if s != "ok" {
			problems = append(problems, s)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return audit.VerifyResult{}, fmt.Errorf("check the copy: %w", err)
	}
	if len(problems) > 0 {
		return audit.VerifyResult{}, fmt.Errorf("the copy fails integrity_check: %s", strings.Join(problems, "; "))
	}
	res, err := audit.VerifyWith(ctx, d, opts)
	if err != nil {
		return res, fmt.Errorf("the copy's audit log does not verify (first bad row: %d): %w", res.BadSeq, err)
	}
	return res, nil
}

// printVerified says what the verification of a copy found.
func printVerified(w io.Writer, res audit.VerifyResult, opts audit.VerifyOptions) {
	if res.Rows == 0 {
		fmt.Fprint(w, "the audit log is empty")
	} else {
		fmt.Fprintf(w, "audit rows %d..%d (%d) verify; head %x", res.FirstSeq, res.LastSeq, res.Rows, res.Head)
	}
	if opts.Checkpoint != nil {
		fmt.Fprintf(w, "; %d checkpoints agree (newest: row %d)", max(res.Checkpoints, 1), opts.Checkpoint.Seq)
	}
	fmt.Fprintln(w)
}

// syncFile flushes the file at path to disk and returns its size.
func syncFile(path string) (int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		return 0, err
	}
	fi, err := f.Stat()
	if err != nil {
		return 0, err
	}
	return fi.Size(), nil
}

// syncDir flushes a directory, so that a file linked into it stays after a
// crash.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// removeSidecars removes the -wal and -shm files SQLite may leave beside
// the database file path.
func removeSidecars(path string) {
	os.Remove(path + "-wal")
	os.Remove(path + "-shm")
}

// removeDBFiles removes the database file path and its sidecars.
func removeDBFiles(path string) {
	os.Remove(path)
	removeSidecars(path)
	os.Remove(path + "-journal")
}
