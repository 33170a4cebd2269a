package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"os"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/sharesvc/sharesvc/internal/health"
	"github.com/sharesvc/sharesvc/internal/links"
	"github.com/sharesvc/sharesvc/internal/ratelimit"
	"github.com/sharesvc/sharesvc/internal/server"
	"github.com/sharesvc/sharesvc/internal/sts"
)

// gather returns the registry's families by name.
func (e *env) gather() map[string]*dto.MetricFamily {
	e.t.Helper()
	mfs, err := e.reg.Gather()
	if err != nil {
		e.t.Fatal(err)
	}
	out := map[string]*dto.MetricFamily{}
	for _, mf := range mfs {
		out[mf.GetName()] = mf
	}
	return out
}

// series lists every series as name{label="value",...}, sorted.
func (e *env) series() []string {
	var out []string
	for name, mf := range e.gather() {
		for _, m := range mf.GetMetric() {
			var ls []string
			for _, l := range m.GetLabel() {
				ls = append(ls, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
			}
			out = append(out, name+"{"+strings.Join(ls, ",")+"}")
		}
	}
	sort.Strings(out)
	return out
}

// value sums the family's series whose labels include want: counter and
// gauge values, and the sample count of histograms.
func (e *env) value(name string, want ...string) float64 {
	mf := e.gather()[name]
	if mf == nil {
		return 0
	}
	var sum float64
	for _, m := range mf.GetMetric() {
		labels := map[string]string{}
		for _, l := range m.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		match := true
		for i := 0; i+1 < len(want); i += 2 {
			match = match && labels[want[i]] == want[i+1]
		}
		if !match {
			continue
		}
		switch {
		case m.Counter != nil:
			sum += m.Counter.GetValue()
		case m.Gauge != nil:
			sum += m.Gauge.GetValue()
		case m.Histogram != nil:
			sum += float64(m.Histogram.GetSampleCount())
		case m.Untyped != nil:
			sum += m.Untyped.GetValue()
		}
	}
	return sum
}

// insertLinks stores n live download links of key directly (test setup, in
// one transaction) and returns their codes.
func (e *env) insertLinks(n int, key string) []string {
	e.t.Helper()
	ctx := context.Background()
	tx, err := e.db.Read.BeginTx(ctx, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	defer tx.Rollback()
	now := e.now()
	codes := make([]string, n)
	for i := range codes {
		code, hash := links.NewCode()
		l := &links.Link{ID: links.NewID(), Kind: links.KindDownload, Bucket: testBucket, Key: key,
			CreatedAt: now, CreatedBy: "test", ExpiresAt: now.Add(time.Hour), PresignTTL: time.Minute}
		if err := links.Insert(ctx, tx, l, hash); err != nil {
			e.t.Fatal(err)
		}
		codes[i] = code
	}
	if err := tx.Commit(); err != nil {
		e.t.Fatal(err)
	}
	return codes
}

// openAll GETs every code once, eight at a time, and fails on anything
// but 302.
func (e *env) openAll(codes []string) {
	e.t.Helper()
	work := make(chan string)
	var wg sync.WaitGroup
	var bad atomic.Value
	for range 8 {
		wg.Go(func() {
			for code := range work {
				resp, err := noRedirect.Get(e.http.URL + "/s/" + code)
				if err != nil {
					bad.Store(err.Error())
					continue
				}
				resp.Body.Close()
				if resp.StatusCode != http.StatusFound {
					bad.Store(resp.Status)
				}
			}
		})
	}
	for _, c := range codes {
		work <- c
	}
	close(work)
	wg.Wait()
	if v := bad.Load(); v != nil {
		e.t.Fatalf("opening links: %v", v)
	}
}

// TestMetricCardinalityBounded checks that the set of series is the same
// after 10 links as after 10,000 accesses to distinct links: no label ever
// holds a code, key, link id or address.
func TestMetricCardinalityBounded(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.put("card/obj.txt", "x")
	round := func(n int) []string {
		e.openAll(e.insertLinks(n, "card/obj.txt"))
		// One of each other outcome, with fresh codes and addresses.
		code, _ := links.NewCode()
		e.do("GET", "/s/"+code, "", "", "X-Forwarded-For", fmt.Sprintf("203.0.113.%d", n%250))
		e.do("HEAD", "/s/"+code, "", "")
		e.do("GET", "/api/v1/links", e.sharer, "")
		return e.series()
	}
	small := round(10)
	n := 10_000
	if testing.Short() {
		n = 1000
	}
	large := round(n)
	if !slices.Equal(small, large) {
		t.Errorf("series differ after %d accesses to distinct links:\nonly before: %v\nonly after: %v",
			n, diff(small, large), diff(large, small))
	}
	if got := e.value("sharesvc_mints_total", "kind", "download"); got != float64(10+n) {
		t.Errorf("sharesvc_mints_total = %v; want %d", got, 10+n)
	}
}

func diff(a, b []string) []string {
	var out []string
	for _, x := range a {
		if !slices.Contains(b, x) {
			out = append(out, x)
		}
	}
	return out
}

// flakySource is a session source that can be told to fail.
type flakySource struct {
	inner sts.Source
	fail  atomic.Bool
}

var errSTSDown = errors.New("sts is down (test)")

func (f *flakySource) Retrieve(ctx context.Context) (sts.Credentials, error) {
	if f.fail.Load() {
		return sts.Credentials{}, errSTSDown
	}
	return f.inner.Retrieve(ctx)
}

// TestMetricFamiliesMove triggers each event the issue names and checks
// that its family moves.
func TestMetricFamiliesMove(t *testing.T) {
	s3 := s3server(t)
	src := &flakySource{inner: &sts.AssumeRole{Client: stsClient(s3), RoleARN: s3.RoleARN, SessionName: "sharesvc-test", Duration: 15 * time.Minute}}
	e := newEnv(t, envOptions{source: src, signer: func(o *sts.SignerOptions) { o.FailureBackoff = time.Millisecond }, cfg: func(cfg *server.Config) {
		cfg.RateLink = ratelimit.Limit{Rate: 1.0 / 3600, Burst: 1}
	}})
	e.put("fam/obj.txt", "fam")
	moves := func(name string, labels []string, act func()) {
		t.Helper()
		before := e.value(name, labels...)
		act()
		if after := e.value(name, labels...); after <= before {
			t.Errorf("%s%v stayed at %v", name, labels, after)
		}
	}
	var code string
	moves("sharesvc_sts_session_seconds_left", nil, func() {
		moves("sharesvc_sts_refreshes_total", []string{"result", "ok"}, func() {
			moves("sharesvc_sts_refresh_duration_seconds", nil, func() {
				moves("sharesvc_mints_total", []string{"kind", "download"}, func() {
					code = e.insertLinks(1, "fam/obj.txt")[0]
					if r := e.do("GET", "/s/"+code, "", ""); r.StatusCode != 302 {
						t.Fatalf("GET = %d", r.StatusCode)
					}
				})
			})
		})
	})
	moves("sharesvc_http_requests_total", []string{"route", "/s/{code}", "method", "GET", "code_class", "4xx", "outcome", "not_found"}, func() {
		moves("sharesvc_http_request_duration_seconds", []string{"route", "/s/{code}", "outcome", "not_found"}, func() {
			moves("sharesvc_denials_total", []string{"reason", "not_found"}, func() {
				e.do("GET", "/s/"+strings.Repeat("Q", 24), "", "")
			})
		})
	})
	moves("sharesvc_ratelimit_rejections_total", []string{"scope", "link"}, func() {
		if r := e.do("GET", "/s/"+code, "", ""); r.StatusCode != http.StatusTooManyRequests {
			t.Fatalf("second mint = %d; want 429", r.StatusCode)
		}
	})
	moves("sharesvc_sts_refreshes_total", []string{"result", "error"}, func() {
		src.fail.Store(true)
		e.signer.Drop()
		if r := e.do("GET", "/s/"+e.insertLinks(1, "fam/obj.txt")[0], "", ""); r.StatusCode != http.StatusServiceUnavailable {
			t.Fatalf("GET with STS down = %d; want 503", r.StatusCode)
		}
		src.fail.Store(false)
	})
	moves("sharesvc_readiness_check_ok", []string{"check", "signer"}, func() {
		e.signer.Drop()
		src.fail.Store(true)
		r := e.do("GET", "/readyz", "", "")
		if r.StatusCode != http.StatusServiceUnavailable {
			t.Fatalf("/readyz with STS down = %d; want 503", r.StatusCode)
		}
		if body := readAll(t, r.Body); body != "unready\n" {
			t.Errorf("public /readyz with STS down says %q; want only \"unready\"", body)
		}
		src.fail.Store(false)
		if err := e.signer.Prime(context.Background()); err != nil { // skip the failure backoff
			t.Fatal(err)
		}
		moves("sharesvc_ready", nil, func() {
			if r := e.do("GET", "/readyz", "", ""); r.StatusCode != http.StatusOK {
				t.Fatalf("/readyz = %s", fmtResp(r, readAll(t, r.Body)))
			}
		})
	})

	// Audit queue: hold the writer's only connection, queue requests
	// behind it, watch the depth rise, then let them through. The writer
	// takes whatever is queued when it wakes as one batch and then blocks
	// on the connection, so requests are sent one at a time until some
	// are left waiting in the queue behind that batch.
	moves("sharesvc_audit_batch_rows", nil, func() {
		moves("sharesvc_audit_commit_duration_seconds", nil, func() {
			moves("sharesvc_audit_commits_total", []string{"result", "ok"}, func() {
				conn, err := e.db.Write.Conn(context.Background())
				if err != nil {
					t.Fatal(err)
				}
				var wg sync.WaitGroup
				sent := 0
				deadline := time.Now().Add(20 * time.Second)
				for e.value("sharesvc_audit_queue_depth") < 2 && time.Now().Before(deadline) {
					if sent < 64 {
						sent++
						wg.Go(func() {
							resp, err := noRedirect.Get(e.http.URL + "/s/" + strings.Repeat("W", 24))
							if err == nil {
								resp.Body.Close()
							}
						})
					}
					time.Sleep(10 * time.Millisecond)
				}
				if d := e.value("sharesvc_audit_queue_depth"); d < 2 {
					t.Errorf("sharesvc_audit_queue_depth = %v with the writer blocked and %d requests sent; want ≥ 2", d, sent)
				}
				conn.Close()
				wg.Wait()
			})
		})
	})

	// Canary.
	c, err := health.NewCanary(health.CanaryOptions{Signer: e.signer, Bucket: testBucket, Key: "fam/obj.txt", Metrics: e.metrics})
	if err != nil {
		t.Fatal(err)
	}
	moves("sharesvc_canary_last_success_timestamp_seconds", nil, func() {
		moves("sharesvc_canary_runs_total", []string{"result", "ok"}, func() {
			moves("sharesvc_canary_duration_seconds", nil, func() {
				if err := c.RunOnce(context.Background()); err != nil {
					t.Fatal(err)
				}
			})
		})
	})
	bad, _ := health.NewCanary(health.CanaryOptions{Signer: e.signer, Bucket: testBucket, Key: "fam/missing.txt", Metrics: e.metrics})
	moves("sharesvc_canary_runs_total", []string{"result", "bad_status"}, func() {
		if err := bad.RunOnce(context.Background()); !errors.Is(err, health.ErrCanary) {
			t.Errorf("canary of a missing object = %v; want ErrCanary", err)
		}
	})

	// Database errors, last: they break the database for good.
	moves("sharesvc_db_errors_total", []string{"op", "audit_write"}, func() {
		moves("sharesvc_audit_commits_total", []string{"result", "db_error"}, func() {
			if _, err := e.db.Read.Exec(`ALTER TABLE audit_events RENAME TO audit_gone`); err != nil {
				t.Fatal(err)
			}
			if r := e.do("GET", "/s/"+e.insertLinks(1, "fam/obj.txt")[0], "", ""); r.StatusCode != http.StatusServiceUnavailable {
				t.Errorf("GET with the audit table gone = %d; want 503", r.StatusCode)
			}
		})
	})
	moves("sharesvc_db_errors_total", []string{"op", "read"}, func() {
		if _, err := e.db.Read.Exec(`ALTER TABLE links RENAME TO links_gone`); err != nil {
			t.Fatal(err)
		}
		// HEAD always reads the database (a GET may be served from the link cache).
		if r := e.do("HEAD", "/s/"+code, "", ""); r.StatusCode != http.StatusInternalServerError {
			t.Errorf("HEAD with the links table gone = %d; want 500", r.StatusCode)
		}
	})
	fams := e.gather()
	if r := e.do("GET", "/readyz", "", ""); r.StatusCode != http.StatusServiceUnavailable { // audit failed 0s ago
		t.Errorf("/readyz with audit writes failing = %d; want 503", r.StatusCode)
	}
	if e.value("sharesvc_readiness_check_ok", "check", "audit") != 0 {
		t.Errorf("readiness_check_ok{check=audit} = 1 while audit writes fail; want 0")
	}
	for _, name := range []string{"go_build_info", "go_goroutines", "go_memstats_alloc_bytes", "process_cpu_seconds_total", "process_resident_memory_bytes"} {
		if fams[name] == nil {
			t.Errorf("family %s is missing", name)
		}
	}
}

// TestPagesAndRefusalsAreNotFailures checks that a page shown instead of a
// URL counts as a page, not a denial, and that a refused request counts as
// a denial, not as an audit commit failure.
func TestPagesAndRefusalsAreNotFailures(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.put("pages/obj.txt", "x")
	confirm := e.createLink(e.sharer, `{"key":"pages/obj.txt","confirm":true,"direct":false}`)
	plain := e.createLink(e.sharer, `{"key":"pages/obj.txt"}`)
	upload := e.createLink(e.sharer, `{"kind":"upload","key":"pages/in.txt","content_type":"text/plain"}`)
	for _, tc := range []struct {
		name   string
		method string
		path   string
		hdr    []string
		status int
		moves  []string // name, label, value
	}{
		{"confirmation page", "GET", sharePath(t, confirm.URL), []string{"Accept", "text/html"}, http.StatusOK,
			[]string{"sharesvc_pages_total", "page", "confirm_page"}},
		{"HEAD", "HEAD", sharePath(t, plain.URL), nil, http.StatusFound,
			[]string{"sharesvc_pages_total", "page", "head"}},
		{"upload page", "GET", sharePath(t, upload.URL), []string{"Accept", "text/html"}, http.StatusOK,
			[]string{"sharesvc_pages_total", "page", "upload_page"}},
		{"upload of the wrong type", "PUT", sharePath(t, upload.URL), []string{"Content-Type", "application/pdf", "If-None-Match", "*"},
			http.StatusUnsupportedMediaType, []string{"sharesvc_denials_total", "reason", "wrong_content_type"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			denials, dbErr := e.value("sharesvc_denials_total"), e.value("sharesvc_audit_commits_total", "result", "db_error")
			ok, want := e.value("sharesvc_audit_commits_total", "result", "ok"), e.value(tc.moves[0], tc.moves[1:]...)
			if r := e.do(tc.method, tc.path, "", "body", tc.hdr...); r.StatusCode != tc.status {
				t.Fatalf("%s %s = %d; want %d", tc.method, tc.path, r.StatusCode, tc.status)
			}
			if got := e.value(tc.moves[0], tc.moves[1:]...); got != want+1 {
				t.Errorf("%s%v = %v; want %v", tc.moves[0], tc.moves[1:], got, want+1)
			}
			if got := e.value("sharesvc_audit_commits_total", "result", "ok"); got <= ok {
				t.Errorf("audit_commits_total{result=ok} stayed at %v; the row was written", got)
			}
			if got := e.value("sharesvc_audit_commits_total", "result", "db_error"); got != dbErr {
				t.Errorf("audit_commits_total{result=db_error} moved from %v to %v; the database refused nothing", dbErr, got)
			}
			if tc.moves[0] == "sharesvc_pages_total" {
				if got := e.value("sharesvc_denials_total"); got != denials {
					t.Errorf("sharesvc_denials_total moved from %v to %v for a page", denials, got)
				}
			}
		})
	}
}

// readyz returns /readyz's status and report, from the private listener.
func (e *env) readyz() (int, health.Report) {
	e.t.Helper()
	r, err := http.Get(e.ops.URL + "/readyz")
	if err != nil {
		e.t.Fatal(err)
	}
	defer r.Body.Close()
	var rep health.Report
	if err := json.Unmarshal([]byte(readAll(e.t, r.Body)), &rep); err != nil {
		e.t.Fatalf("/readyz body: %v", err)
	}
	if (r.StatusCode == http.StatusOK) != rep.Ready {
		e.t.Fatalf("/readyz = %d with ready=%v", r.StatusCode, rep.Ready)
	}
	return r.StatusCode, rep
}

func checkOK(rep health.Report, name string) (ok bool, reason string) {
	for _, c := range rep.Checks {
		if c.Name == name {
			return c.OK, c.Reason
		}
	}
	return false, "missing"
}

// TestReadinessFollowsSTS stops and restarts a real S3+STS server of its
// own: /readyz turns unready when the signer cannot get a session and ready
// again when it can.
func TestReadinessFollowsSTS(t *testing.T) {
	s3 := startPrivateS3(t)
	e := newEnv(t, envOptions{s3: s3, signer: func(o *sts.SignerOptions) {
		o.FailureBackoff = 200 * time.Millisecond
		o.RefreshTimeout = 5 * time.Second
	}})

	status, rep := e.readyz()
	if status != http.StatusOK {
		t.Fatalf("/readyz at start = %d %+v; want 200", status, rep)
	}
	for _, name := range []string{health.CheckDB, health.CheckSigner, health.CheckAudit} {
		if ok, _ := checkOK(rep, name); !ok {
			t.Errorf("check %s at start: not ok in %+v", name, rep)
		}
	}

	if err := s3.Stop(); err != nil {
		t.Fatal(err)
	}
	// The cached session still has its life: STS being away does not
	// matter yet.
	if status, rep := e.readyz(); status != http.StatusOK {
		t.Errorf("/readyz with STS stopped but a good session cached = %d %+v; want 200", status, rep)
	}
	// Without a session (as after its expiry), the signer must reach STS.
	e.signer.Drop()
	status, rep = e.readyz()
	if status != http.StatusServiceUnavailable {
		t.Fatalf("/readyz with STS stopped and no session = %d %+v; want 503", status, rep)
	}
	if ok, reason := checkOK(rep, health.CheckSigner); ok || reason != "no_session" {
		t.Errorf("signer check = ok %v reason %q; want failing with no_session", ok, reason)
	}
	if ok, _ := checkOK(rep, health.CheckDB); !ok {
		t.Errorf("db check failed while only STS is down: %+v", rep)
	}
	if v := e.value("sharesvc_ready"); v != 0 {
		t.Errorf("sharesvc_ready = %v while unready; want 0", v)
	}

	if err := s3.Restart(t.Context()); err != nil {
		t.Fatalf("restart: %v", err)
	}
	deadline := time.Now().Add(time.Minute)
	for {
		status, rep = e.readyz()
		if status == http.StatusOK || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if status != http.StatusOK {
		t.Fatalf("/readyz a minute after STS came back = %d %+v; want 200", status, rep)
	}
	if v := e.value("sharesvc_ready"); v != 1 {
		t.Errorf("sharesvc_ready = %v when ready; want 1", v)
	}
	if v := e.value("sharesvc_sts_session_seconds_left"); v < 600 {
		t.Errorf("sts_session_seconds_left = %v after recovery; want a fresh 15-minute session", v)
	}
}

// lockedBuffer collects log output from many goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestLogsHoldNoSecrets captures every log line of a run through the
// routes and failure paths and looks for codes, tokens, signatures and
// session tokens.
func TestLogsHoldNoSecrets(t *testing.T) {
	var logs lockedBuffer
	logger := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	s3 := s3server(t)
	src := &flakySource{inner: &sts.AssumeRole{Client: stsClient(s3), RoleARN: s3.RoleARN, SessionName: "sharesvc-test", Duration: 15 * time.Minute}}
	e := newEnv(t, envOptions{logger: logger, source: src, signer: func(o *sts.SignerOptions) { o.FailureBackoff = time.Millisecond }, cfg: func(cfg *server.Config) {
		cfg.RateLink = ratelimit.Limit{Rate: 1.0 / 3600, Burst: 1}
		cfg.RateMiss = ratelimit.Limit{Rate: 1.0 / 3600, Burst: 2}
		cfg.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}
	}})
	e.put("logs/secret report.txt", "numbers")
	secrets := []string{e.admin, e.sharer}
	var codes []string
	for range 4 {
		l := e.createLink(e.sharer, `{"key":"logs/secret report.txt"}`)
		codes = append(codes, l.URL[strings.LastIndex(l.URL, "/")+1:])
	}
	up := e.do("POST", "/api/v1/links", e.admin, `{"kind":"upload","key":"logs/in/"}`)
	if up.StatusCode == http.StatusCreated {
		var c created
		json.Unmarshal([]byte(readAll(t, up.Body)), &c)
		code := c.URL[strings.LastIndex(c.URL, "/")+1:]
		codes = append(codes, code)
		e.do("PUT", "/u/"+code, "", "")
	}

	// Mint, refuse, HEAD, revoke, misses, bad tokens.
	r := e.do("GET", "/s/"+codes[0], "", "", "X-Forwarded-For", "198.51.100.4")
	if r.StatusCode != http.StatusFound {
		t.Fatalf("GET = %d", r.StatusCode)
	}
	minted := r.Header.Get("Location")
	cr, _ := e.signer.Session()
	secrets = append(secrets, cr.SessionToken, cr.SecretAccessKey, minted)
	e.do("GET", "/s/"+codes[0], "", "")  // 429, per link
	e.do("HEAD", "/s/"+codes[1], "", "") // nothing minted
	lr := e.createLink(e.sharer, `{"key":"logs/secret report.txt"}`)
	codes = append(codes, lr.URL[strings.LastIndex(lr.URL, "/")+1:])
	e.do("POST", "/api/v1/links/"+lr.ID+"/revoke", e.sharer, `{"reason":"test"}`)
	e.do("GET", sharePath(t, lr.URL), "", "") // 410
	for i := range 4 {
		code, _ := links.NewCode()
		codes = append(codes, code)
		e.do("GET", "/s/"+code, "", "", "X-Forwarded-For", fmt.Sprintf("203.0.113.%d", i%2)) // 404, then 429
	}
	bogus := "sst_" + strings.Repeat("k", 32)
	secrets = append(secrets, bogus)
	e.do("GET", "/api/v1/links", bogus, "") // 401
	e.do("GET", "/api/v1/links", e.admin, "")
	e.do("GET", "/s/"+codes[2]+"%0d%0aLocation:", "", "")

	// STS down: 503 and an unready check, each logged with their causes.
	src.fail.Store(true)
	e.signer.Drop()
	e.do("GET", "/s/"+codes[3], "", "")
	e.readyz()
	src.fail.Store(false)
	if err := e.signer.Prime(context.Background()); err != nil {
		t.Fatal(err)
	}
	e.readyz()

	// Canary failures, logged: a fetch error (whose *url.Error would quote
	// the presigned URL) and an S3 error answer.
	for _, o := range []health.CanaryOptions{
		{Key: "logs/secret report.txt", Client: &http.Client{Timeout: time.Nanosecond}},
		{Key: "logs/missing.txt"},
	} {
		o.Signer, o.Bucket, o.Logger = e.signer, testBucket, logger
		c, err := health.NewCanary(o)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.RunOnce(context.Background()); err == nil {
			t.Errorf("canary %s succeeded; want a logged failure", o.Key)
		} else if strings.Contains(err.Error(), "X-Amz-") {
			t.Errorf("canary error quotes the URL: %v", err)
		}
	}

	// A database failure: a 500 logged with its cause.
	if _, err := e.db.Read.Exec(`ALTER TABLE links RENAME TO links_gone`); err != nil {
		t.Fatal(err)
	}
	e.do("GET", "/s/"+codes[1], "", "")

	out := logs.String()
	for _, want := range []string{`"msg":"request"`, `"msg":"request failed"`, `"msg":"canary failed"`, `"msg":"not ready"`, `"msg":"ready"`,
		`"status":429`, `"status":503`, `"result":"fetch_error"`, `"result":"bad_status"`} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %s; the run did not cover what it should", want)
		}
	}
	if n := strings.Count(out, `"msg":"request"`); n < 20 {
		t.Errorf("%d request lines logged; want one per request", n)
	}
	// Durations are numbers, the unit in the field's name: a Go duration
	// string ("1.2ms", "2m0s") cannot be summed or compared by a log query.
	goDuration := regexp.MustCompile(`^-?([0-9.]+(ns|µs|us|ms|s|m|h))+$`)
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		for k, v := range rec {
			if s, ok := v.(string); ok && goDuration.MatchString(s) {
				t.Errorf("log %q: %s = %q, a Go duration string; want a number in a field named with its unit", rec["msg"], k, s)
			}
		}
		if rec["msg"] == "request" || rec["msg"] == "canary failed" {
			if _, ok := rec["duration_ms"].(float64); !ok {
				t.Errorf("log %q: duration_ms = %#v; want a number", rec["msg"], rec["duration_ms"])
			}
		}
	}
	for _, bad := range append([]string{"X-Amz-Signature", "X-Amz-Security-Token", "X-Amz-Credential", "sst_"}, secrets...) {
		if bad != "" && strings.Contains(out, bad) {
			t.Errorf("log holds a secret %.24q…", bad)
		}
	}
	for _, code := range codes {
		if strings.Contains(out, code) {
			t.Errorf("log holds link code %s", code)
		}
	}
	if t.Failed() || os.Getenv("SHARESVC_SHOW_LOG") != "" {
		t.Logf("log:\n%s", out)
	}
}

// TestPublicOpsRoutesSayLittle: the public listener has no metrics and its
// /readyz says ready or not in one word; the private one has both in full.
func TestPublicOpsRoutesSayLittle(t *testing.T) {
	e := newEnv(t, envOptions{})
	if r := e.do("GET", "/metrics", "", ""); r.StatusCode != http.StatusNotFound {
		t.Errorf("public /metrics = %d; want 404", r.StatusCode)
	}
	r := e.do("GET", "/readyz", "", "")
	if body := readAll(t, r.Body); r.StatusCode != http.StatusOK || body != "ready\n" {
		t.Errorf("public /readyz = %d %q; want 200 \"ready\"", r.StatusCode, body)
	}
	if status, rep := e.readyz(); status != http.StatusOK || len(rep.Checks) == 0 {
		t.Errorf("private /readyz = %d %+v; want 200 with each check", status, rep)
	}
	m, err := http.Get(e.ops.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer m.Body.Close()
	if body := readAll(t, m.Body); m.StatusCode != http.StatusOK || !strings.Contains(body, "sharesvc_ready 1") {
		t.Errorf("private /metrics = %d, sharesvc_ready missing", m.StatusCode)
	}
}
