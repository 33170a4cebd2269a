package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/sharesvc/sharesvc/internal/audit"
	"github.com/sharesvc/sharesvc/internal/testrig/testdb"
)

// buildBinary builds sharesvc into a temporary directory.
func buildBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "sharesvc")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// child is one run of "sharesvc serve" as a separate process.
type child struct {
	cmd  *exec.Cmd
	wait chan error // receives Wait's result once the process exits
	logs string     // file with its output
}

func (c *child) output() string {
	b, _ := os.ReadFile(c.logs)
	return string(b)
}

func startChild(t *testing.T, bin string, env map[string]string, base string) *child {
	t.Helper()
	cmd := exec.Command(bin, "serve")
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "AWS_") && !strings.HasPrefix(kv, "SHARESVC_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	logf, err := os.CreateTemp(t.TempDir(), "serve-*.log")
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	c := &child{cmd: cmd, wait: make(chan error, 1), logs: logf.Name()}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := c.wait
	go func() { exited <- cmd.Wait() }()
	for deadline := time.Now().Add(60 * time.Second); ; {
		if r, err := http.Get(base + "/healthz"); err == nil {
			r.Body.Close()
			if r.StatusCode == 200 {
				break
			}
		}
		select {
		case err := <-exited:
			t.Fatalf("sharesvc serve exited before it was ready: %v\n%s", err, c.output())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatalf("sharesvc serve not ready after 60s\n%s", c.output())
		}
	}
	t.Cleanup(func() { c.cmd.Process.Kill() }) // ErrProcessDone if it already exited
	return c
}

// A crash may leave a row for a redirect that was never received, but never
// a redirect without its row: the URL leaves only after the commit is
// flushed. Hammer the real binary, SIGKILL it mid-stream several times,
// and check every 302 that reached the client.
func TestCrashKeepsEveryRedirectAudited(t *testing.T) {
	const bucket = "crash-test"
	bin := buildBinary(t)
	s3 := startS3(t, bucket)
	if err := s3.PutObject(context.Background(), bucket, "c.txt", []byte("crash")); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	// SQLite whatever the run's engine: the test is about the embedded
	// file surviving kills (PRAGMA integrity_check after each).
	dbPath := testdb.SQLiteFile(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	base := "http://" + addr
	keyPath := filepath.Join(dir, "checkpoint.key")
	if _, _, err := runErr("audit", "keygen", "--out", keyPath); err != nil {
		t.Fatal(err)
	}
	env := s3env(s3, bucket, dbPath)
	for k, v := range map[string]string{
		"SHARESVC_LISTEN": addr, "SHARESVC_METRICS_LISTEN": "127.0.0.1:0", "SHARESVC_LOG_LEVEL": "warn",
		// This test is about durability, not limits.
		"SHARESVC_RATE_IP": "off", "SHARESVC_RATE_MISS": "off", "SHARESVC_RATE_LINK": "off", "SHARESVC_RATE_TOKEN": "off",
		"SHARESVC_CHECKPOINT_KEY": keyPath, "SHARESVC_CHECKPOINT_DIR": filepath.Join(dir, "checkpoints"),
		"SHARESVC_CHECKPOINT_BUCKET": bucket + "/audit",
	} {
		env[k] = v
	}
	token, err := createToken(context.Background(), dbPath, "crash-admin", "admin", 0, "test", time.Now())
	if err != nil {
		t.Fatal(err)
	}

	c := startChild(t, bin, env, base)
	req, _ := http.NewRequest("POST", base+"/api/v1/links", strings.NewReader(`{"key":"c.txt"}`))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var link struct{ URL string }
	json.NewDecoder(resp.Body).Decode(&link)
	resp.Body.Close()
	if resp.StatusCode != 201 {
		t.Fatalf("create link = %d", resp.StatusCode)
	}
	sharePath := link.URL[strings.Index(link.URL, "/s/"):]

	client := &http.Client{
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Transport:     &http.Transport{MaxIdleConnsPerHost: 64},
		Timeout:       10 * time.Second,
	}
	var (
		mu       sync.Mutex
		redirect []string // request ids of 302s with a Location
	)
	// CRASH_CYCLES runs more kills (make crash); the default keeps make test short.
	rounds := 4
	if v := os.Getenv("CRASH_CYCLES"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			t.Fatalf("CRASH_CYCLES=%q: want a positive number", v)
		}
		rounds = n
	}
	const workers = 16
	// load runs the workers against the child until stop is closed.
	load := func(got *atomic.Int64, stop chan struct{}) *sync.WaitGroup {
		var wg sync.WaitGroup
		for w := 0; w < workers; w++ {
			wg.Go(func() {
				for {
					select {
					case <-stop:
						return
					default:
					}
					r, err := client.Get(base + sharePath)
					if err != nil {
						continue // the server is down: no answer, nothing to check
					}
					r.Body.Close()
					if r.StatusCode == http.StatusFound && r.Header.Get("Location") != "" {
						mu.Lock()
						redirect = append(redirect, r.Header.Get("X-Request-Id"))
						mu.Unlock()
						got.Add(1)
					}
				}
			})
		}
		return &wg
	}
	for round := 0; round < rounds; round++ {
		if round > 0 {
			c = startChild(t, bin, env, base)
		}
		var got atomic.Int64
		stop := make(chan struct{})
		wg := load(&got, stop)
		// Kill mid-stream, at a random point, while requests are in flight.
		perRound := 50 + rand.Int64N(400)
		for got.Load() < perRound {
			time.Sleep(time.Millisecond)
		}
		if err := c.cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		<-c.wait
		close(stop)
		wg.Wait()
		// The file the dead process left is sound: SQLite's own check and
		// the audit chain, before any restart repairs anything.
		checkDBFile(t, dbPath, fmt.Sprintf("after kill %d", round+1))
	}

	// A graceful stop under load loses nothing: every 302 it sent has its
	// row, and the process exits cleanly.
	c = startChild(t, bin, env, base)
	var got atomic.Int64
	stop := make(chan struct{})
	wg := load(&got, stop)
	for got.Load() < 200 {
		time.Sleep(time.Millisecond)
	}
	if err := c.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := <-c.wait; err != nil {
		t.Fatalf("graceful stop under load: %v\n%s", err, c.output())
	}
	close(stop)
	wg.Wait()
	checkDBFile(t, dbPath, "after a graceful stop under load")

	// Restart; the service recovers the database, and the chain verifies.
	c = startChild(t, bin, env, base)
	vreq, _ := http.NewRequest("GET", base+"/api/v1/audit/verify", nil)
	vreq.Header.Set("Authorization", "Bearer "+token)
	vresp, err := http.DefaultClient.Do(vreq)
	if err != nil {
		t.Fatal(err)
	}
	var v map[string]any
	json.NewDecoder(vresp.Body).Decode(&v)
	vresp.Body.Close()
	if v["ok"] != true {
		t.Fatalf("verify after %d crashes = %v", rounds, v)
	}
	c.cmd.Process.Signal(syscall.SIGTERM)
	<-c.wait

	d, err := openReadOnly(context.Background(), dbPath)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	missing := 0
	for _, id := range redirect {
		evs, err := audit.List(context.Background(), d, audit.Filter{RequestID: id})
		if err != nil {
			t.Fatal(err)
		}
		if len(evs) != 1 || evs[0].Outcome != audit.OutcomeMinted {
			missing++
			if missing <= 5 {
				t.Errorf("302 with request id %s has rows %+v; want one mint", id, evs)
			}
		}
	}
	var minted int
	d.QueryRow(`SELECT COUNT(*) FROM audit_events WHERE outcome = 'minted'`).Scan(&minted)
	t.Logf("%d crashes and a graceful stop under load; %d redirects received, %d mints recorded (the difference never reached a client); %d missing",
		rounds, len(redirect), minted, missing)
	if missing > 0 {
		t.Fatalf("%d of %d redirects have no audit row", missing, len(redirect))
	}

	// The graceful stop wrote a last checkpoint, to the directory and the bucket.
	cp, err := audit.ReadCheckpoint(filepath.Join(dir, "checkpoints"))
	if err != nil {
		t.Fatal(err)
	}
	var head int64
	d.QueryRow(`SELECT MAX(seq) FROM audit_events`).Scan(&head)
	if cp.Seq != head {
		t.Fatalf("last checkpoint at row %d; want the head %d", cp.Seq, head)
	}
	name := fmt.Sprintf("checkpoint-%020d-%d.json", cp.Seq, cp.At.UnixMicro())
	obj, err := s3.GetObject(context.Background(), bucket, "audit/"+name)
	file, _ := os.ReadFile(filepath.Join(dir, "checkpoints", name))
	if err != nil || !bytes.Equal(obj, file) {
		t.Fatalf("checkpoint object audit/%s: %v (equal to the file: %v)", name, err, bytes.Equal(obj, file))
	}
}

// checkDBFile opens the database file read-only and fails t unless SQLite's
// integrity_check passes and the audit chain verifies.
func checkDBFile(t *testing.T, path, when string) {
	t.Helper()
	ctx := context.Background()
	d, err := openReadOnly(ctx, path)
	if err != nil {
		t.Fatalf("%s: open: %v", when, err)
	}
	defer d.Close()
	var ic string
	if err := d.QueryRowContext(ctx, `PRAGMA integrity_check`).Scan(&ic); err != nil || ic != "ok" {
		t.Fatalf("%s: integrity_check = %q, %v", when, ic, err)
	}
	if _, err := audit.Verify(ctx, d); err != nil {
		t.Fatalf("%s: audit chain: %v", when, err)
	}
}
