package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/sharesvc/sharesvc/internal/audit"
	"github.com/sharesvc/sharesvc/internal/db"
	"github.com/sharesvc/sharesvc/internal/ratelimit"
)

func TestServeOperationsSettings(t *testing.T) {
	base := map[string]string{"SHARESVC_ROLE_ARN": "arn:aws:iam::123456789012:role/x"}
	with := func(extra map[string]string) map[string]string { return withEnv(base, extra) }
	for _, tc := range []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"SHARESVC_RATE_IP": "fast"}, "SHARESVC_RATE_IP"},
		{map[string]string{"SHARESVC_RATE_MISS": "10/d"}, "SHARESVC_RATE_MISS"},
		{map[string]string{"SHARESVC_RATE_LINK": "5/s burst 0"}, "SHARESVC_RATE_LINK"},
		{map[string]string{"SHARESVC_RATE_TOKEN": "-1/s"}, "SHARESVC_RATE_TOKEN"},
		{map[string]string{"SHARESVC_TRUSTED_PROXIES": "10.0.0.0/40"}, "SHARESVC_TRUSTED_PROXIES"},
		{map[string]string{"SHARESVC_METRICS_LISTEN": "nowhere"}, "SHARESVC_METRICS_LISTEN"},
		{map[string]string{"SHARESVC_METRICS_LISTEN": "127.0.0.1:8080"}, "SHARESVC_METRICS_LISTEN"},
		{map[string]string{"SHARESVC_CANARY_KEY": "canary.txt"}, "SHARESVC_CANARY_BUCKET"},
		{map[string]string{"SHARESVC_CANARY_BUCKET": "b", "SHARESVC_CANARY_KEY": "k", "SHARESVC_CANARY_INTERVAL": "1ms"}, "SHARESVC_CANARY_INTERVAL"},
	} {
		t.Run(strings.Join(keys(tc.env), ","), func(t *testing.T) {
			_, err := serveFlags(nil, getenvFrom(with(tc.env)), io.Discard)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("serve with %v = %v; want an error naming %s", tc.env, err, tc.want)
			}
		})
	}
	t.Run("bad flag value", func(t *testing.T) {
		var errb bytes.Buffer
		if _, err := serveFlags([]string{"-rate-ip", "lots"}, getenvFrom(base), &errb); err == nil || !strings.Contains(errb.String()+err.Error(), "-rate-ip") {
			t.Errorf("-rate-ip lots = %v (%s); want an error naming -rate-ip", err, errb.String())
		}
	})

	s, err := serveFlags([]string{"-rate-token", "off"}, getenvFrom(with(map[string]string{
		"SHARESVC_RATE_IP": "5/s burst 7", "SHARESVC_TRUSTED_PROXIES": "10.0.0.0/8, 192.0.2.1", "SHARESVC_RATE_TOKEN": "1/s",
	})), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if s.RateIP != (ratelimit.Limit{Rate: 5, Burst: 7}) || !s.RateToken.Off() || len(s.TrustedProxies) != 2 {
		t.Errorf("settings = ip %v token %v proxies %v; want 5/s burst 7, off (the flag wins), two proxies", s.RateIP, s.RateToken, s.TrustedProxies)
	}
	d, err := serveFlags(nil, getenvFrom(base), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if host, _, _ := net.SplitHostPort(d.MetricsListen); host != "127.0.0.1" || d.MetricsListen == d.Listen {
		t.Errorf("default -metrics-listen %q; want a loopback address apart from -listen %q", d.MetricsListen, d.Listen)
	}
	for name, l := range map[string]ratelimit.Limit{"ip": d.RateIP, "miss": d.RateMiss, "link": d.RateLink, "token": d.RateToken} {
		if l.Off() {
			t.Errorf("default %s limit is off; want a limit on by default", name)
		}
	}
}

func keys(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// TestServeOperations runs the wired service: metrics on their own
// listener, readiness with a canary against the real S3, a miss limit, and
// a shutdown that lets an in-flight request finish and its audit row land.
func TestServeOperations(t *testing.T) {
	const bucket = "ops-test"
	s3 := startS3(t, bucket)
	ctx := context.Background()
	for key, body := range map[string]string{"canary.txt": "ok", "doc.txt": "doc"} {
		if err := s3.PutObject(ctx, bucket, key, []byte(body)); err != nil {
			t.Fatal(err)
		}
	}
	env := s3env(s3, bucket, "")
	dbPath := serveDB(t, env)
	admin := strings.TrimSpace(runCLI(t, env, "token", "create", "--role", "admin", "--name", "root"))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	mln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	env["SHARESVC_LISTEN"] = ln.Addr().String()
	env["SHARESVC_METRICS_LISTEN"] = mln.Addr().String()
	env["SHARESVC_CANARY_BUCKET"], env["SHARESVC_CANARY_KEY"] = bucket, "canary.txt"
	env["SHARESVC_RATE_MISS"] = "2/h"
	env["SHARESVC_TRUSTED_PROXIES"] = "127.0.0.1"
	settings, err := serveFlags(nil, getenvFrom(env), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	svc, err := newService(ctx, settings, getenvFrom(env), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	svc.metricsLn = mln
	sctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- svc.serve(sctx, ln) }()
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			stop()
			<-done
		}
	})
	base, mbase := "http://"+ln.Addr().String(), "http://"+mln.Addr().String()
	get := func(url string) (int, string) {
		t.Helper()
		r, err := noFollow.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Body.Close()
		b, _ := io.ReadAll(r.Body)
		return r.StatusCode, string(b)
	}

	if code, _ := get(base + "/metrics"); code != http.StatusNotFound {
		t.Errorf("/metrics on the public listener = %d; want 404 when SHARESVC_METRICS_LISTEN is set", code)
	}
	// Ready once the canary (run at start) has fetched its object. The
	// public /readyz says so in one word; the report is on the private
	// listener.
	var body string
	deadline := time.Now().Add(30 * time.Second)
	for code := 0; code != http.StatusOK && time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		code, body = get(base + "/readyz")
	}
	if body != "ready\n" {
		t.Errorf("public /readyz = %q; want only \"ready\"", body)
	}
	_, body = get(mbase + "/readyz")
	var rep struct {
		Ready  bool
		Checks []struct {
			Name string
			OK   bool
		}
	}
	if err := json.Unmarshal([]byte(body), &rep); err != nil || !rep.Ready || len(rep.Checks) != 4 {
		t.Fatalf("/readyz = %s (%v); want ready with db, signer, audit and canary checks", body, err)
	}
	if code, m := get(mbase + "/metrics"); code != 200 || !strings.Contains(m, `sharesvc_canary_runs_total{result="ok"} 1`) || !strings.Contains(m, "sharesvc_ready 1") {
		t.Errorf("/metrics on the metrics listener = %d, canary/ready series missing", code)
	}

	// A scanner behind the trusted proxy (this test) runs out of misses;
	// the proxy's own address is another client and stays unaffected.
	for i, want := range []int{404, 404, 429} {
		req, _ := http.NewRequest("GET", base+"/s/"+strings.Repeat("M", 23)+string(rune('a'+i)), nil)
		req.Header.Set("X-Forwarded-For", "203.0.113.50")
		r, err := noFollow.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		r.Body.Close()
		if r.StatusCode != want {
			t.Errorf("unknown code %d = %d; want %d", i, r.StatusCode, want)
		}
	}

	// Shutdown with a request in flight: hold the audit writer's
	// connection so the request waits inside Append, stop the server, then
	// let it go. The request completes and its row is written.
	link := createLinkAPI(t, base, admin, `{"key":"doc.txt"}`)
	conn, err := svc.db.Write.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// Released before the server is stopped if the test fails early
	// (cleanups run last first): the writer waits on it, and so would
	// the stop.
	t.Cleanup(func() { conn.Close() })
	type result struct {
		code int
		err  error
	}
	// Two requests: the writer takes the first and blocks on the
	// connection; the second waits in the queue, which is observable.
	inflight := make(chan result, 2)
	for range 2 {
		go func() {
			r, err := noFollow.Get(link)
			if err != nil {
				inflight <- result{err: err}
				return
			}
			r.Body.Close()
			inflight <- result{code: r.StatusCode}
		}()
	}
	// Both must be inside the server, waiting for their audit rows,
	// before it stops. (The queue depth is no sign: the writer may take
	// both into the batch it is blocked on, leaving the queue empty.)
	inFlight := func() string {
		_, m := get(mbase + "/metrics")
		for _, line := range strings.Split(m, "\n") {
			if v, ok := strings.CutPrefix(line, "sharesvc_http_requests_in_flight "); ok {
				return v
			}
		}
		return "missing"
	}
	for wait := time.Now().Add(30 * time.Second); inFlight() != "2"; time.Sleep(time.Millisecond) {
		if time.Now().After(wait) {
			t.Fatalf("requests never both reached the server (in flight: %s, queued: %d)",
				inFlight(), svc.audit.QueueDepth())
		}
	}
	stop()
	time.Sleep(50 * time.Millisecond) // let Shutdown close the listener first
	conn.Close()
	for range 2 {
		if r := <-inflight; r.err != nil || r.code != http.StatusFound {
			t.Errorf("in-flight request during shutdown = %d, %v; want 302", r.code, r.err)
		}
	}
	if err := <-done; err != nil {
		t.Errorf("serve: %v", err)
	}
	stopped = true
	if _, err := net.Dial("tcp", ln.Addr().String()); err == nil {
		t.Error("public listener still accepts after shutdown")
	}

	d, err := db.Open(ctx, dbPath)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	evs, err := audit.List(ctx, d.Read, audit.Filter{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	var minted, limited int
	for _, ev := range evs {
		switch {
		case ev.Outcome == audit.OutcomeMinted:
			minted++
		case ev.Reason == "rate_limited":
			limited++
		}
	}
	if minted != 2 || limited != 1 {
		for _, ev := range evs {
			t.Logf("%s %s %s %s", ev.Action, ev.Outcome, ev.Reason, ev.Detail)
		}
		t.Errorf("audit after shutdown: %d minted, %d rate-limited rows; want 2 and 1", minted, limited)
	}
}

var noFollow = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

func createLinkAPI(t *testing.T, base, token, body string) string {
	t.Helper()
	req, _ := http.NewRequest("POST", base+"/api/v1/links", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	r, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Body.Close()
	var out struct{ URL string }
	if err := json.NewDecoder(r.Body).Decode(&out); err != nil || r.StatusCode != http.StatusCreated {
		t.Fatalf("create link = %d, %v", r.StatusCode, err)
	}
	return out.URL
}
