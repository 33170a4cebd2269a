package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sharesvc/sharesvc/internal/audit"
	"github.com/sharesvc/sharesvc/internal/db"
	"github.com/sharesvc/sharesvc/internal/links"
	"github.com/sharesvc/sharesvc/internal/testrig/testdb"
)

// runErr runs the program and returns stdout, stderr and the error.
func runErr(args ...string) (string, string, error) {
	var out, errb bytes.Buffer
	err := run(context.Background(), args, func(string) string { return "" }, &out, &errb)
	return out.String(), errb.String(), err
}

// seedAudit writes n events to a new database (path or URL), the first half two
// days ago, and returns it closed.
func seedAudit(t *testing.T, path string, n int) {
	t.Helper()
	d, err := db.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	at := time.Now().Add(-48 * time.Hour)
	l, err := audit.Open(context.Background(), d.Write, audit.Options{Clock: func() time.Time { return at }})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	for i := 1; i <= n; i++ {
		if i == n/2+1 {
			at = time.Now()
		}
		ev := audit.Event{Action: audit.ActionAccess, Actor: audit.ActorClient, LinkID: fmt.Sprintf("lnk_%d", i%2),
			Outcome: audit.OutcomeMinted, ClientIP: "192.0.2.7", RequestID: fmt.Sprintf("req%d", i)}
		if i%5 == 0 {
			ev.Outcome, ev.Reason = audit.OutcomeDenied, "revoked"
		}
		if _, err := l.Append(context.Background(), ev, nil); err != nil {
			t.Fatal(err)
		}
	}
}

func TestAuditCLI(t *testing.T) {
	dir := t.TempDir()
	dbPath := testdb.DSN(t)
	keyPath := filepath.Join(dir, "checkpoint.key")
	cpDir := filepath.Join(dir, "checkpoints")
	seedAudit(t, dbPath, 20)

	pub, _, err := runErr("audit", "keygen", "--out", keyPath)
	if err != nil || !strings.Contains(pub, "BEGIN PUBLIC KEY") {
		t.Fatalf("keygen = %q, %v", pub, err)
	}
	if fi, err := os.Stat(keyPath); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("private key file: %v, %v; want mode 0600", fi, err)
	}
	if _, _, err := runErr("audit", "keygen", "--out", keyPath); err == nil {
		t.Fatal("keygen overwrote an existing key")
	}

	// A checkpoint as the server would write it.
	pem, _ := os.ReadFile(keyPath)
	key, err := audit.ParsePrivateKey(pem)
	if err != nil {
		t.Fatal(err)
	}
	d, err := db.Open(context.Background(), dbPath)
	if err != nil {
		t.Fatal(err)
	}
	cp, err := audit.NewCheckpointer(d.Read, key, audit.CheckpointOptions{Dir: cpDir})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cp.Write(context.Background()); err != nil {
		t.Fatal(err)
	}
	d.Close()

	t.Run("verify", func(t *testing.T) {
		out, _, err := runErr("audit", "verify", "--db", dbPath, "--checkpoint", cpDir, "--public-key", keyPath+".pub")
		if err != nil || !strings.Contains(out, "OK: rows 1..20 (20)") || !strings.Contains(out, "checkpoint of row 20") {
			t.Fatalf("verify = %q, %v", out, err)
		}
		out, _, err = runErr("audit", "verify", "--db", dbPath)
		if err != nil || !strings.Contains(out, "a cut-off tail would go unnoticed") {
			t.Fatalf("verify without checkpoint = %q, %v", out, err)
		}
	})
	t.Run("list", func(t *testing.T) {
		out, _, err := runErr("audit", "list", "--db", dbPath, "--outcome", "denied", "--json")
		if lines := strings.Split(strings.TrimSpace(out), "\n"); err != nil || len(lines) != 4 || !strings.Contains(lines[0], `"seq":20`) {
			t.Fatalf("list denied = %q, %v; want rows 20, 15, 10, 5", out, err)
		}
		out, errOut, err := runErr("audit", "list", "--db", dbPath, "--limit", "3", "--client-ip", "192.0.2.7")
		if err != nil || strings.Count(out, "\n") != 4 || !strings.Contains(errOut, "--cursor 18") {
			t.Fatalf("list page = %q %q, %v; want a header, 3 rows and a cursor hint", out, errOut, err)
		}
		out, _, err = runErr("audit", "list", "--db", dbPath, "--since", "1d", "--json")
		if lines := strings.Split(strings.TrimSpace(out), "\n"); err != nil || len(lines) != 10 || !strings.Contains(lines[9], `"seq":11`) {
			t.Fatalf("list --since 1d = %q, %v; want rows 20..11", out, err)
		}
		out, _, err = runErr("audit", "list", "--db", dbPath, "--until", "1d", "--json")
		if lines := strings.Split(strings.TrimSpace(out), "\n"); err != nil || len(lines) != 10 || !strings.Contains(lines[0], `"seq":10`) {
			t.Fatalf("list --until 1d = %q, %v; want rows 10..1", out, err)
		}
	})
	t.Run("export", func(t *testing.T) {
		csvPath := filepath.Join(dir, "out.csv")
		if _, _, err := runErr("audit", "export", "--db", dbPath, "--format", "csv", "--link-id", "lnk_1", "--out", csvPath); err != nil {
			t.Fatal(err)
		}
		f, _ := os.Open(csvPath)
		recs, err := csv.NewReader(f).ReadAll()
		f.Close()
		if err != nil || len(recs) != 11 || recs[1][0] != "1" {
			t.Fatalf("CSV = %d records, %v; want a header and 10 rows from seq 1", len(recs), err)
		}
		if _, _, err := runErr("audit", "export", "--db", dbPath, "--out", csvPath); err == nil {
			t.Fatal("export overwrote an existing file")
		}
	})
	t.Run("usage errors", func(t *testing.T) {
		for _, args := range [][]string{
			{"audit", "verify", "--db", filepath.Join(dir, "missing.db")},
			{"audit", "export", "--db", dbPath, "--format", "xml"},
			{"audit", "list", "--db", dbPath, "--since", "yesterday"},
			{"audit", "list", "--db", dbPath, "--since", "1.5d"},
			{"audit", "keygen"},
			{"audit", "prune", "--db", dbPath, "--older-than", "24h"},
			{"audit", "frobnicate"},
		} {
			if _, _, err := runErr(args...); err == nil {
				t.Errorf("sharesvc %s succeeded; want an error", strings.Join(args, " "))
			}
		}
		if _, err := os.Stat(filepath.Join(dir, "missing.db")); !errors.Is(err, os.ErrNotExist) {
			t.Error("verify created the database it was asked to check")
		}
	})
	t.Run("prune", func(t *testing.T) {
		out, _, err := runErr("audit", "prune", "--db", dbPath, "--older-than", "24h", "--checkpoint-key", keyPath, "--checkpoint-dir", cpDir)
		if err != nil || !strings.Contains(out, "removed rows through 10 (10 rows)") {
			t.Fatalf("prune = %q, %v; want rows 1..10 removed", out, err)
		}
		out, _, err = runErr("audit", "verify", "--db", dbPath, "--checkpoint", cpDir, "--public-key", keyPath+".pub")
		if err != nil || !strings.Contains(out, "OK: rows 11..21") || !strings.Contains(out, "rows 1..10 were removed by an audited prune") {
			t.Fatalf("verify after prune = %q, %v", out, err)
		}
		out, _, _ = runErr("audit", "list", "--db", dbPath, "--action", audit.ActionPrune, "--json")
		if !strings.Contains(out, `"actor":"cli"`) {
			t.Fatalf("prune row = %q; want one by cli", out)
		}
	})
	t.Run("tampering", func(t *testing.T) {
		d, err := db.Open(context.Background(), dbPath)
		if err != nil {
			t.Fatal(err)
		}
		// Rows 22..25 and a checkpoint of row 25; then the tail goes.
		l, err := audit.Open(context.Background(), d.Write, audit.Options{})
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 4; i++ {
			if _, err := l.Append(context.Background(), audit.Event{Action: "x", Actor: "y", Outcome: "ok"}, nil); err != nil {
				t.Fatal(err)
			}
		}
		l.Close()
		cp, err := audit.NewCheckpointer(d.Read, key, audit.CheckpointOptions{Dir: cpDir})
		if err != nil {
			t.Fatal(err)
		}
		if c, err := cp.Write(context.Background()); err != nil || c.Seq != 25 {
			t.Fatalf("checkpoint = %+v, %v; want row 25", c, err)
		}
		if d.Engine() == db.PostgreSQL {
			d.Read.Exec(`DROP TRIGGER audit_events_no_delete ON audit_events`)
		} else {
			d.Read.Exec(`DROP TRIGGER audit_events_no_delete`)
		}
		if _, err := d.Read.Exec(`DELETE FROM audit_events WHERE seq >= 23`); err != nil {
			t.Fatal(err)
		}
		d.Close()
		out, _, err := runErr("audit", "verify", "--db", dbPath)
		if err != nil {
			t.Fatalf("verify without checkpoint = %q, %v; a cut tail is invisible without one", out, err)
		}
		out, _, err = runErr("audit", "verify", "--db", dbPath, "--checkpoint", cpDir, "--public-key", keyPath+".pub")
		if err == nil || !strings.Contains(out, "FAILED") || !strings.Contains(err.Error(), "first bad row: 23") {
			t.Fatalf("verify of a cut log against the checkpoint = %q, %v; want FAILED at row 23", out, err)
		}
	})
}

// The audit settings beside a SQLite file, whatever the run's engine: the
// defaults tested here (key and checkpoints next to the file) exist only
// there.
func TestAuditSettings(t *testing.T) {
	dir := t.TempDir()
	keyPath := filepath.Join(dir, "k")
	if _, _, err := runErr("audit", "keygen", "--out", keyPath); err != nil {
		t.Fatal(err)
	}
	hexKey := strings.Repeat("ab", 32)
	keyFile := filepath.Join(dir, "ipkey")
	os.WriteFile(keyFile, []byte(hexKey+"\n"), 0o600)
	d, err := db.Open(context.Background(), filepath.Join(dir, "s.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	for _, tc := range []struct {
		name    string
		a       auditSettings
		wantErr string // "" for success
	}{
		{"defaults", auditSettings{IPMode: "full", CheckpointInterval: time.Minute}, ""},
		{"truncate", auditSettings{IPMode: "truncate"}, ""},
		{"hash with hex key", auditSettings{IPMode: "hash", IPKey: hexKey}, ""},
		{"hash with key file", auditSettings{IPMode: "hash", IPKey: keyFile}, ""},
		{"hash without key", auditSettings{IPMode: "hash"}, "SHARESVC_AUDIT_IP_MODE"},
		{"hash with missing key file", auditSettings{IPMode: "hash", IPKey: filepath.Join(dir, "nope")}, "SHARESVC_AUDIT_IP_KEY"},
		{"unknown mode", auditSettings{IPMode: "anonymous"}, "SHARESVC_AUDIT_IP_MODE"},
		{"retention without key", auditSettings{IPMode: "full", Retention: 48 * time.Hour}, "SHARESVC_CHECKPOINT_KEY"},
		{"bucket without key", auditSettings{IPMode: "full", CheckpointBucket: "b"}, "SHARESVC_CHECKPOINT_KEY"},
		{"retention too short", auditSettings{IPMode: "full", CheckpointKey: keyPath, Retention: time.Minute}, "SHARESVC_AUDIT_RETENTION"},
		{"key is not a key", auditSettings{IPMode: "full", CheckpointKey: keyFile}, "SHARESVC_CHECKPOINT_KEY"},
		{"checkpoints", auditSettings{IPMode: "full", CheckpointKey: keyPath, CheckpointDir: filepath.Join(dir, "cps"), Retention: 90 * 24 * time.Hour}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.a.build(d.Read, filepath.Join(dir, "s.db"), nil)
			if tc.wantErr == "" && err != nil || tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Fatalf("build = %v; want %q", err, tc.wantErr)
			}
		})
	}
}

// audit list and export select rows by their link's object and recipient,
// offline, as the API does.
func TestAuditCLIObjectFilters(t *testing.T) {
	dbPath := filepath.Join(t.TempDir(), "sharesvc.db")
	seedAudit(t, dbPath, 20) // rows of lnk_1 (odd seqs) and lnk_0
	d, err := db.Open(context.Background(), dbPath)
	if err != nil {
		t.Fatal(err)
	}
	_, hash := links.NewCode()
	now := time.Now()
	l := &links.Link{ID: "lnk_1", Kind: links.KindDownload, Bucket: "files", Key: "a%b/x.txt", CreatedAt: now, CreatedBy: "sam",
		ExpiresAt: now.Add(time.Hour), PresignTTL: time.Minute, ShareID: links.NewShareID(), Recipient: "r@example.org"}
	if err := links.Insert(context.Background(), d.Write, l, hash); err != nil {
		t.Fatal(err)
	}
	d.Close()

	for _, c := range []struct {
		args []string
		rows int
	}{
		{[]string{"--bucket", "files", "--key-prefix", "a%"}, 10},
		{[]string{"--key-prefix", "a_"}, 0},
		{[]string{"--recipient", "r@EXAMPLE.org"}, 10},
		{[]string{"--bucket", "other"}, 0},
	} {
		out, _, err := runErr(append([]string{"audit", "list", "--db", dbPath, "--json"}, c.args...)...)
		out = strings.TrimSpace(out)
		if err != nil || strings.Count(out, `"object":{"bucket":"files","key":"a%b/x.txt"}`) != c.rows || c.rows == 0 && out != "" {
			t.Errorf("audit list %v = %q, %v; want %d rows of lnk_1 naming its object", c.args, out, err, c.rows)
		}
	}
	out, _, err := runErr("audit", "list", "--db", dbPath, "--bucket", "files", "--limit", "1")
	if err != nil || !strings.Contains(out, "OBJECT") || !strings.Contains(out, "files/a%b/x.txt") {
		t.Errorf("audit list table = %q, %v; want an OBJECT column", out, err)
	}
	out, _, err = runErr("audit", "export", "--db", dbPath, "--format", "csv", "--recipient", "r@example.org")
	if err != nil || strings.Count(out, ",files,a%b/x.txt\n") != 10 {
		t.Errorf("audit export --recipient = %q, %v; want 10 rows ending in the object", out, err)
	}
	for _, bad := range [][]string{{"--bucket", "Bad_Bucket"}, {"--key-prefix", "a\x01"}, {"--recipient", strings.Repeat("r", 1025)}} {
		if _, _, err := runErr(append([]string{"audit", "list", "--db", dbPath}, bad...)...); !errors.Is(err, audit.ErrInvalidFilter) {
			t.Errorf("audit list %.30q = %v; want an invalid filter", bad, err)
		}
	}
}
