package main

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sharesvc/sharesvc/internal/audit"
)

// countRows returns the number of audit rows in the database file at path.
func auditRowCount(t *testing.T, path string) int64 {
	t.Helper()
	d, err := openReadOnly(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	var n int64
	if err := d.QueryRow(`SELECT COUNT(*) FROM audit_events`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// writeCheckpoint signs a checkpoint of row seq with head and stores it in
// dir under the name serve gives it.
func writeCheckpoint(t *testing.T, dir string, seq int64, head []byte) {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	cp := audit.SignCheckpoint(priv, seq, head, time.Now())
	b, err := json.Marshal(cp)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	name := fmt.Sprintf("checkpoint-%020d-%d.json", cp.Seq, cp.At.UnixMicro())
	if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestBackupCommand(t *testing.T) {
	dir := t.TempDir()
	dbPath := filepath.Join(dir, "sharesvc.db")
	seedAudit(t, dbPath, 40)

	out := filepath.Join(dir, "copy.db")
	stdout, stderr, err := runErr("backup", "--db", dbPath, "--out", out)
	if err != nil {
		t.Fatalf("backup: %v\n%s", err, stderr)
	}
	if !strings.Contains(stdout, "integrity_check ok") || !strings.Contains(stdout, "audit rows 1..40 (40) verify") {
		t.Errorf("backup printed %q; want the checks it made", stdout)
	}
	fi, err := os.Stat(out)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("copy mode = %04o; want 0600", fi.Mode().Perm())
	}
	if n := auditRowCount(t, out); n != 40 {
		t.Errorf("copy has %d audit rows; want 40", n)
	}
	checkDBFile(t, out, "the copy")

	// The copy agrees with a checkpoint of the source's head.
	src, err := openReadOnly(context.Background(), dbPath)
	if err != nil {
		t.Fatal(err)
	}
	var head []byte
	if err := src.QueryRow(`SELECT hash FROM audit_events WHERE seq = 40`).Scan(&head); err != nil {
		t.Fatal(err)
	}
	src.Close()
	writeCheckpoint(t, dbPath+"-checkpoints", 40, head)
	stdout, stderr, err = runErr("backup", "--db", dbPath, "--out", filepath.Join(dir, "copy2.db"))
	if err != nil || !strings.Contains(stdout, "checkpoints agree (newest: row 40)") {
		t.Fatalf("backup beside a checkpoint = %q, %v\n%s", stdout, err, stderr)
	}

	before, _ := os.ReadFile(out)
	for _, tc := range []struct {
		name string
		args []string
		want string // in the error
	}{
		{"existing out", []string{"--db", dbPath, "--out", out}, "exists"},
		{"out is the database", []string{"--db", dbPath, "--out", dbPath + "-journal"}, "the database itself"},
		{"no out", []string{"--db", dbPath}, "--out FILE is required"},
		{"out in a missing directory", []string{"--db", dbPath, "--out", filepath.Join(dir, "no", "copy.db")}, "directory does not exist"},
		{"missing database", []string{"--db", filepath.Join(dir, "none.db"), "--out", filepath.Join(dir, "c3.db")}, "no such file"},
		{"postgres", []string{"--db", "postgres://u:hunter2secret@db.example/sharesvc", "--out", filepath.Join(dir, "c4.db")}, "pg_dump"},
		{"checkpoint beyond the copy", []string{"--db", dbPath, "--out", filepath.Join(dir, "c5.db"), "--checkpoint", filepath.Join(dir, "later")}, "does not verify"},
		{"empty checkpoint directory", []string{"--db", dbPath, "--out", filepath.Join(dir, "c6.db"), "--checkpoint", filepath.Join(dir, "empty")}, "no checkpoint"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			switch tc.name {
			case "checkpoint beyond the copy":
				writeCheckpoint(t, filepath.Join(dir, "later"), 41, make([]byte, audit.HashSize))
			case "empty checkpoint directory":
				os.Mkdir(filepath.Join(dir, "empty"), 0o700)
			}
			_, _, err := runErr(append([]string{"backup"}, tc.args...)...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("backup %v = %v; want an error with %q", tc.args, err, tc.want)
			}
			if strings.Contains(err.Error(), "hunter2secret") {
				t.Errorf("error shows the URL's password: %v", err)
			}
		})
	}
	for _, name := range []string{"none.db", "c3.db", "c4.db", "c5.db", "c6.db"} {
		if _, err := os.Stat(filepath.Join(dir, name)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("a refused backup left %s: %v", name, err)
		}
	}
	if after, _ := os.ReadFile(out); string(after) != string(before) {
		t.Error("a refused backup changed the existing --out")
	}
	// Neither a kept nor a refused copy leaves its temporary file.
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if strings.Contains(e.Name(), ".tmp-") {
			t.Errorf("backup left %s behind", e.Name())
		}
	}
}

// A backup taken while serve writes under load is consistent: it passes
// integrity_check, its chain verifies, and it holds every access whose
// 302 the client had received before the backup began.
func TestBackupWhileServing(t *testing.T) {
	const bucket = "backup-test"
	s3 := startS3(t, bucket)
	if err := s3.PutObject(context.Background(), bucket, "b.txt", []byte("backup")); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	dbPath := filepath.Join(dir, "sharesvc.db")
	env := withEnv(s3env(s3, bucket, dbPath), map[string]string{
		"SHARESVC_RATE_IP": "off", "SHARESVC_RATE_MISS": "off", "SHARESVC_RATE_LINK": "off", "SHARESVC_RATE_TOKEN": "off",
		"SHARESVC_LOG_LEVEL": "error",
	})
	token, err := createToken(context.Background(), dbPath, "backup-admin", "admin", 0, "test", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	_, base, stop := startService(t, env)
	defer stop()
	link := createLinkAPI(t, base, token, `{"key":"b.txt"}`)
	sharePath := link[strings.Index(link, "/s/"):]

	var (
		mu    sync.Mutex
		acked []string // request ids of the 302s received, in order
	)
	var fails atomic.Int64
	done := make(chan struct{})
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for {
				select {
				case <-done:
					return
				default:
				}
				r, err := noFollow.Get(base + sharePath)
				if err != nil {
					fails.Add(1)
					continue
				}
				r.Body.Close()
				if r.StatusCode != http.StatusFound {
					fails.Add(1)
					continue
				}
				mu.Lock()
				acked = append(acked, r.Header.Get("X-Request-Id"))
				mu.Unlock()
			}
		})
	}
	defer func() { close(done); wg.Wait() }()
	waitAcked := func(n int) {
		for deadline := time.Now().Add(time.Minute); ; time.Sleep(5 * time.Millisecond) {
			mu.Lock()
			got := len(acked)
			mu.Unlock()
			if got >= n {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("only %d redirects in a minute (%d failures)", got, fails.Load())
			}
		}
	}
	for i := range 3 {
		waitAcked(100 * (i + 1))
		mu.Lock()
		before := append([]string(nil), acked...)
		mu.Unlock()
		out := filepath.Join(dir, fmt.Sprintf("copy%d.db", i))
		stdout, stderr, err := runErr("backup", "--db", dbPath, "--out", out)
		if err != nil {
			t.Fatalf("backup %d under load: %v\n%s", i, err, stderr)
		}
		mu.Lock()
		during := len(acked) - len(before)
		mu.Unlock()
		checkDBFile(t, out, fmt.Sprintf("copy %d", i))
		d, err := openReadOnly(context.Background(), out)
		if err != nil {
			t.Fatal(err)
		}
		missing := 0
		for _, id := range before {
			var n int
			if err := d.QueryRow(`SELECT COUNT(*) FROM audit_events WHERE request_id = ?`, id).Scan(&n); err != nil {
				t.Fatal(err)
			}
			if n != 1 {
				missing++
			}
		}
		var rows int64
		d.QueryRow(`SELECT COUNT(*) FROM audit_events`).Scan(&rows)
		d.Close()
		if missing > 0 {
			t.Fatalf("copy %d lacks %d of the %d accesses acknowledged before it began", i, missing, len(before))
		}
		t.Logf("copy %d: %d audit rows; %d 302s before it began, all in it; %d more answered while it ran; %s",
			i, rows, len(before), during, strings.TrimSpace(stdout))
	}
	if fails.Load() > 0 {
		t.Errorf("%d requests failed during the backups", fails.Load())
	}
}
