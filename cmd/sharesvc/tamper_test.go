package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sharesvc/sharesvc/internal/audit"
	"github.com/sharesvc/sharesvc/internal/testrig/syncbuf"
)

// serveWithLog is startService with the service's log kept in logw, and
// the private listener (the readiness report, /metrics) at ops.
func serveWithLog(t *testing.T, env map[string]string, logw io.Writer) (base, ops string, stop func()) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	mln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	env["SHARESVC_LISTEN"] = ln.Addr().String()
	settings, err := serveFlags(nil, getenvFrom(env), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	svc, err := newService(context.Background(), settings, getenvFrom(env), logw)
	if err != nil {
		t.Fatal(err)
	}
	svc.metricsLn = mln
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- svc.serve(ctx, ln) }()
	return "http://" + ln.Addr().String(), "http://" + mln.Addr().String(), func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	}
}

// call sends an API request with token and returns the status and body.
func call(t *testing.T, method, url, token string) (int, string) {
	t.Helper()
	var body io.Reader
	if method == http.MethodPost {
		body = strings.NewReader("{}")
	}
	req, _ := http.NewRequest(method, url, body)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if method == http.MethodPost {
		req.Header.Set("Content-Type", "application/json")
	}
	r, err := noFollow.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Body.Close()
	b, _ := io.ReadAll(r.Body)
	return r.StatusCode, string(b)
}

// The attack this guards against: with write access to the database file,
// cut the last rows of audit_events and restart the service once. Before,
// the clean stop signed a checkpoint of the shorter log and every verify
// said OK. Now the service refuses to sign, reports not ready, and both
// verifications fail, however often it restarts.
func TestCutTailCaughtAfterRestart(t *testing.T) {
	const bucket = "tamper-test"
	s3 := startS3(t, bucket)
	ctx := context.Background()
	if err := s3.PutObject(ctx, bucket, "doc.txt", []byte("doc")); err != nil {
		t.Fatal(err)
	}
	// SQLite whatever the run's engine: the test is about what serve makes
	// beside a database file when no key is configured (the directory, the
	// key and their modes), which it never does with PostgreSQL. On
	// PostgreSQL a tail cut behind a stopped service is caught after the
	// restart in TestAnchoredCheckpoints.
	dir := filepath.Join(t.TempDir(), "state") // made by serve, 0700
	dbPath := filepath.Join(dir, "s.db")
	env := s3env(s3, bucket, dbPath) // no checkpoint key configured
	keyPath := dbPath + "-checkpoint.key"
	cpDir := dbPath + "-checkpoints"

	var logw syncbuf.Buffer
	base, _, stop := serveWithLog(t, env, &logw)
	for path, want := range map[string]os.FileMode{dir: 0o700, keyPath: 0o600} {
		if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != want {
			t.Fatalf("%s: %v, %v; want mode %04o", path, fi, err, want)
		}
	}
	key, _ := os.ReadFile(keyPath)
	if !strings.Contains(logw.String(), "created an audit checkpoint key") || strings.Contains(logw.String(), strings.Split(string(key), "\n")[1]) {
		t.Fatalf("log = %q; want the key's creation said, never the key", logw.String())
	}
	admin, err := createToken(ctx, dbPath, "root", "admin", 0, "test", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	link := createLinkAPI(t, base, admin, `{"key":"doc.txt"}`)
	linkPath := link[strings.Index(link, "/s/"):]
	open := func(n int) {
		for range n {
			r, err := noFollow.Get(base + linkPath) // each run listens on another port
			if err != nil {
				t.Fatal(err)
			}
			r.Body.Close()
			if r.StatusCode != http.StatusFound {
				t.Fatalf("open link = %d; want 302", r.StatusCode)
			}
		}
	}
	open(3)
	if code, body := call(t, "POST", base+"/api/v1/audit/checkpoint", admin); code != http.StatusCreated {
		t.Fatalf("checkpoint = %d %s", code, body)
	}
	open(3)
	stop() // a clean stop signs the head
	cps, err := audit.ReadCheckpointDir(cpDir)
	if err != nil || len(cps) != 2 {
		t.Fatalf("checkpoints after the first run: %d, %v; want 2 (on demand, at stop)", len(cps), err)
	}
	head := cps[len(cps)-1].Seq
	if out, _, err := runErr("audit", "verify", "--db", dbPath, "--public-key", keyPath+".pub"); err != nil || !strings.Contains(out, "OK:") {
		t.Fatalf("verify of the honest log = %q, %v", out, err)
	}

	// The attacker: a raw SQLite connection to the file, triggers dropped,
	// the last three rows deleted.
	raw, err := sql.Open("sqlite", "file:"+dbPath)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{`DROP TRIGGER audit_events_no_delete`, `DELETE FROM audit_events WHERE seq > ?`} {
		if _, err := raw.Exec(q, head-3); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	raw.Close()

	// Restarted, the service notices at once, whether or not the log grows
	// back past the checkpoint's row, and across a second restart.
	for run := 1; run <= 2; run++ {
		logw = syncbuf.Buffer{}
		var ops string
		base, ops, stop = serveWithLog(t, env, &logw)
		if code, body := call(t, "GET", base+"/readyz", ""); code != http.StatusServiceUnavailable {
			t.Fatalf("run %d: public /readyz = %d %s; want 503", run, code, body)
		}
		code, body := call(t, "GET", ops+"/readyz", "")
		if code != http.StatusServiceUnavailable || !strings.Contains(body, `"reason":"chain_broken"`) {
			t.Fatalf("run %d: readiness report = %d %s; want 503 with audit chain_broken", run, code, body)
		}
		_, body = call(t, "GET", base+"/api/v1/audit/verify", admin)
		var v struct {
			OK     bool
			BadSeq int64 `json:"bad_seq"`
		}
		if err := json.Unmarshal([]byte(body), &v); err != nil || v.OK || v.BadSeq == 0 {
			t.Fatalf("run %d: verify = %s; want not ok with a bad row", run, body)
		}
		if code, body := call(t, "POST", base+"/api/v1/audit/checkpoint", admin); code != http.StatusConflict || !strings.Contains(body, "audit-chain-broken") {
			t.Fatalf("run %d: checkpoint = %d %s; want 409 audit-chain-broken", run, code, body)
		}
		open(5) // the log grows back past the checkpoint's row
		_, m := call(t, "GET", ops+"/metrics", "")
		if !strings.Contains(m, "sharesvc_audit_chain_broken 1") {
			t.Errorf("run %d: metrics lack sharesvc_audit_chain_broken 1", run)
		}
		stop()
		if !strings.Contains(logw.String(), "audit log contradicts its latest checkpoint") {
			t.Errorf("run %d: log = %q; want the broken chain named", run, logw.String())
		}
		if now, _ := audit.ReadCheckpointDir(cpDir); len(now) != len(cps) {
			t.Fatalf("run %d: %d checkpoints; want still %d, nothing signed since the cut", run, len(now), len(cps))
		}
		out, _, err := runErr("audit", "verify", "--db", dbPath, "--public-key", keyPath+".pub")
		if err == nil || !strings.Contains(out, "FAILED") {
			t.Fatalf("run %d: audit verify = %q, %v; want FAILED", run, out, err)
		}
	}

	// A key file others may read is refused at start.
	if err := os.Chmod(keyPath, 0o644); err != nil {
		t.Fatal(err)
	}
	settings, err := serveFlags(nil, getenvFrom(env), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := newService(ctx, settings, getenvFrom(env), io.Discard); err == nil || !strings.Contains(err.Error(), "SHARESVC_CHECKPOINT_KEY") {
		t.Fatalf("serve with a readable key = %v; want a refusal naming the key", err)
	}
}
