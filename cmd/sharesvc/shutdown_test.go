package main

import (
	"bufio"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// freeAddr returns a loopback address with a port free right now.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// logLines returns the JSON log lines of out with msg, each decoded.
func logLines(out, msg string) []map[string]any {
	var lines []map[string]any
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		var l map[string]any
		if json.Unmarshal(sc.Bytes(), &l) == nil && l["msg"] == msg {
			lines = append(lines, l)
		}
	}
	return lines
}

// TestShutdownDrains stops the real binary with SIGTERM: both /readyz turn
// 503 at once while share links are still answered for the drain time,
// each step of the stop is logged, and the process exits 0.
func TestShutdownDrains(t *testing.T) {
	const bucket = "drain-test"
	const drain = 3 * time.Second
	bin := buildBinary(t)
	s3 := startS3(t, bucket)
	ctx := context.Background()
	if err := s3.PutObject(ctx, bucket, "d.txt", []byte("drain")); err != nil {
		t.Fatal(err)
	}
	dbPath := filepath.Join(t.TempDir(), "sharesvc.db")
	addr, maddr := freeAddr(t), freeAddr(t)
	base, mbase := "http://"+addr, "http://"+maddr
	env := withEnv(s3env(s3, bucket, dbPath), map[string]string{
		"SHARESVC_LISTEN": addr, "SHARESVC_METRICS_LISTEN": maddr, "SHARESVC_LOG_FORMAT": "json",
		"SHARESVC_SHUTDOWN_DRAIN": drain.String(),
	})
	token, err := createToken(ctx, dbPath, "drain-admin", "admin", 0, "test", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	c := startChild(t, bin, env, base)
	status := func(url string) (int, string) {
		t.Helper()
		r, err := noFollow.Get(url)
		if err != nil {
			t.Fatalf("GET %s during the drain: %v\n%s", url, err, c.output())
		}
		defer r.Body.Close()
		var b strings.Builder
		bufio.NewReader(r.Body).WriteTo(&b)
		return r.StatusCode, b.String()
	}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if code, _ := status(base + "/readyz"); code == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz never 200\n%s", c.output())
		}
	}
	link := createLinkAPI(t, base, token, `{"key":"d.txt"}`)

	sent := time.Now()
	if err := c.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	// Not ready at once (the first answer after the signal is handled),
	// on both listeners.
	for deadline := time.Now().Add(time.Second); ; time.Sleep(5 * time.Millisecond) {
		code, _ := status(base + "/readyz")
		if code == http.StatusServiceUnavailable {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("public /readyz still %d 1s after SIGTERM\n%s", code, c.output())
		}
	}
	if code, body := status(mbase + "/readyz"); code != http.StatusServiceUnavailable || !strings.Contains(body, `{"name":"shutdown","ok":false,"reason":"draining"}`) {
		t.Errorf("private /readyz during the drain = %d %s; want 503 with shutdown: draining", code, body)
	}
	// New requests are still served.
	if code, _ := status(link); code != http.StatusFound {
		t.Errorf("share link during the drain = %d; want 302", code)
	}
	if time.Since(sent) >= drain {
		t.Fatalf("the checks above took longer than the drain (%s); they prove nothing", drain)
	}
	select {
	case err := <-c.wait:
		if err != nil {
			t.Fatalf("sharesvc serve after SIGTERM: %v; want exit 0\n%s", err, c.output())
		}
	case <-time.After(drain + 30*time.Second):
		t.Fatalf("sharesvc serve still running %s after SIGTERM\n%s", drain+30*time.Second, c.output())
	}
	if took := time.Since(sent); took < drain {
		t.Errorf("exited %s after SIGTERM; want after the drain (%s)", took, drain)
	}
	out := c.output()
	for _, step := range []struct {
		msg  string
		nums []string // fields that must be numbers
	}{
		{"shutdown: draining", []string{"drain_ms"}},
		{"shutdown: server stopped", []string{"duration_ms"}},
		{"shutdown: background jobs stopped", []string{"duration_ms"}},
		{"shutdown: audit flushed", []string{"duration_ms", "queued_rows"}},
		{"shutdown: done", nil},
	} {
		lines := logLines(out, step.msg)
		if len(lines) != 1 {
			t.Errorf("%d log lines %q; want 1\n%s", len(lines), step.msg, out)
			continue
		}
		for _, f := range step.nums {
			if _, ok := lines[0][f].(float64); !ok {
				t.Errorf("log line %q: %s = %#v; want a number", step.msg, f, lines[0][f])
			}
		}
	}
	if l := logLines(out, "shutdown: draining"); len(l) == 1 && l[0]["drain_ms"] != float64(drain.Milliseconds()) {
		t.Errorf("shutdown: draining drain_ms = %v; want %d", l[0]["drain_ms"], drain.Milliseconds())
	}
}
