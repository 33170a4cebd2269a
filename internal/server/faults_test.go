package server_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sharesvc/sharesvc/internal/clocktest"

	"github.com/sharesvc/sharesvc/internal/audit"
	"github.com/sharesvc/sharesvc/internal/health"
	"github.com/sharesvc/sharesvc/internal/seaweed"
	"github.com/sharesvc/sharesvc/internal/server"
	"github.com/sharesvc/sharesvc/internal/sts"
)

// Faults: revocation under load, STS and S3 going away, a database that is
// full or read-only, and a clock far from STS's. Each test fails if the
// promise it names breaks.

// clockedSource is the real AssumeRole seen through the test clock: the
// session's times are moved by (test clock − real clock), so advancing the
// clock ages the session as real time would. It can be told to fail, and
// it records the most AssumeRole calls ever in flight at once.
type clockedSource struct {
	inner    sts.Source
	clock    func() time.Time
	fail     atomic.Bool
	calls    atomic.Int32
	inflight atomic.Int32
	maxInfl  atomic.Int32
}

var errSTSThrottled = errors.New("sts: Throttling: Rate exceeded (test)")

func (s *clockedSource) Retrieve(ctx context.Context) (sts.Credentials, error) {
	n := s.inflight.Add(1)
	defer s.inflight.Add(-1)
	for m := s.maxInfl.Load(); n > m && !s.maxInfl.CompareAndSwap(m, n); m = s.maxInfl.Load() {
	}
	s.calls.Add(1)
	if s.fail.Load() {
		time.Sleep(20 * time.Millisecond) // an answer takes a moment
		return sts.Credentials{}, errSTSThrottled
	}
	c, err := s.inner.Retrieve(ctx)
	if err != nil {
		return c, err
	}
	offset := s.clock().Sub(time.Now())
	c.Expires = c.Expires.Add(offset)
	if !c.Issued.IsZero() {
		c.Issued = c.Issued.Add(offset)
	}
	return c, nil
}

func realAssumeRole(s3 *seaweed.Server) sts.Source {
	return &sts.AssumeRole{Client: stsClient(s3), RoleARN: s3.RoleARN, SessionName: "sharesvc-test", Duration: 15 * time.Minute}
}

// result is one answer seen by a load generator.
type result struct {
	status     int
	location   string
	retryAfter string
	requestID  string
	sentAfter  bool // the request left after the event under test completed
}

func get(t testing.TB, e *env, path string) result {
	resp, err := noRedirect.Get(e.http.URL + path)
	if err != nil {
		t.Error(err)
		return result{}
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return result{status: resp.StatusCode, location: resp.Header.Get("Location"),
		retryAfter: resp.Header.Get("Retry-After"), requestID: resp.Header.Get("X-Request-Id")}
}

// urlEnd returns when a presigned URL stops working by its own terms.
func urlEnd(t testing.TB, loc string) time.Time {
	t.Helper()
	u, err := url.Parse(loc)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	at, err := time.Parse("20060102T150405Z", q.Get("X-Amz-Date"))
	if err != nil {
		t.Fatalf("X-Amz-Date: %v", err)
	}
	secs, err := strconv.Atoi(q.Get("X-Amz-Expires"))
	if err != nil {
		t.Fatalf("X-Amz-Expires: %v", err)
	}
	return at.Add(time.Duration(secs) * time.Second)
}

// Hammer one link, revoke it mid-flight: every mint is ordered before the
// revocation in the log, its time is not after the revocation's, and no
// request sent after the revoke answered gets a Location.
func TestRevocationUnderLoad(t *testing.T) {
	e := newEnv(t, envOptions{}) // rate limits are off in the test env
	e.put("hot.txt", "hot")
	l := e.createLink(e.sharer, `{"key":"hot.txt"}`)
	path := sharePath(t, l.URL)

	var (
		revoked  atomic.Bool
		minted   atomic.Int64
		mu       sync.Mutex
		results  []result
		stop     = make(chan struct{})
		wg       sync.WaitGroup
		revokeAt time.Time
	)
	for range 16 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				after := revoked.Load()
				r := get(t, e, path)
				r.sentAfter = after
				if r.location != "" {
					minted.Add(1)
				}
				mu.Lock()
				results = append(results, r)
				mu.Unlock()
			}
		})
	}
	for minted.Load() < 200 {
		time.Sleep(time.Millisecond)
	}
	rv := e.do("POST", "/api/v1/links/"+l.ID+"/revoke", e.sharer, `{"reason":"under load"}`)
	if rv.StatusCode != http.StatusOK {
		t.Fatalf("revoke = %s", fmtResp(rv, readAll(t, rv.Body)))
	}
	revoked.Store(true)
	revokeAt = time.Now()
	// Keep hammering a while after the revocation.
	for n := 0; n <= 600 && time.Since(revokeAt) < 5*time.Second; time.Sleep(time.Millisecond) {
		mu.Lock()
		n = len(results)
		mu.Unlock()
	}
	close(stop)
	wg.Wait()

	var afterSent, afterGone int
	for _, r := range results {
		if !r.sentAfter {
			continue
		}
		afterSent++
		if r.location != "" || r.status != http.StatusGone {
			t.Errorf("request sent after the revoke answered: %d Location %v; want 410 and none", r.status, r.location != "")
		} else {
			afterGone++
		}
	}
	if afterSent == 0 {
		t.Fatal("no request was sent after the revocation; the test proves nothing")
	}

	evs := e.events(l.ID)
	var rev *audit.Event
	for i := range evs {
		if evs[i].Action == audit.ActionLinkRevoke {
			rev = &evs[i]
		}
	}
	if rev == nil {
		t.Fatal("no link.revoke row")
	}
	var mintRows, deniedAfter int
	for _, ev := range evs {
		if ev.Action != audit.ActionAccess {
			continue
		}
		switch ev.Outcome {
		case audit.OutcomeMinted:
			mintRows++
			if ev.Seq > rev.Seq || ev.At.After(rev.At) {
				t.Errorf("mint row %d at %s is after the revocation row %d at %s", ev.Seq, ev.At, rev.Seq, rev.At)
			}
		case audit.OutcomeDenied:
			if ev.Seq < rev.Seq {
				t.Errorf("denial row %d (%s) before the revocation row %d", ev.Seq, ev.Reason, rev.Seq)
			}
			deniedAfter++
		}
	}
	var locations int64
	for _, r := range results {
		if r.location != "" {
			locations++
		}
	}
	if int64(mintRows) != locations {
		t.Errorf("%d mint rows for %d responses with a Location; want equal", mintRows, locations)
	}
	if _, err := audit.Verify(context.Background(), e.db.Read); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d requests: %d minted before the revocation (row %d); %d sent after it, all 410; %d denial rows",
		len(results), mintRows, rev.Seq, afterSent, deniedAfter)
}

// STS going away: while the cached session covers a URL's lifetime links
// keep minting (and S3 being away too does not matter: minting makes no S3
// call); once it does not, 503 with Retry-After and no Location; when STS
// is back the service recovers by itself. Never more than one AssumeRole
// in flight. Readiness names the canary when S3 is unreachable.
func TestSTSOutage(t *testing.T) {
	for _, tc := range []struct {
		name        string
		unreachable bool // stop the private S3+STS server; else STS answers errors
	}{
		{"unreachable", true},
		{"erroring", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var s3 *seaweed.Server
			if tc.unreachable {
				s3 = startPrivateS3(t)
			} else {
				s3 = s3server(t)
			}
			clk := clocktest.New(time.Now())
			src := &clockedSource{inner: realAssumeRole(s3), clock: clk.Now}
			var canary *health.Canary
			var checker *health.Checker
			e := newEnv(t, envOptions{s3: s3, clock: clk.Now, source: src,
				signer: func(o *sts.SignerOptions) {
					o.FailureBackoff = time.Second
					o.RefreshTimeout = 5 * time.Second
				},
				cfg: func(c *server.Config) { c.DefaultPresignTTL = 10 * time.Second },
				deps: func(d *server.Deps) {
					var err error
					canary, err = health.NewCanary(health.CanaryOptions{Signer: d.Signer, Bucket: testBucket, Key: "canary.txt", Clock: clk.Now})
					if err != nil {
						t.Fatal(err)
					}
					checker, err = health.New(health.Options{DB: d.AuditDB, Signer: d.Signer, Audit: d.Audit, Canary: canary, Clock: clk.Now})
					if err != nil {
						t.Fatal(err)
					}
					d.Health = checker
				},
			})
			e.put("outage.txt", "outage")
			e.put("canary.txt", "ok")
			l := e.createLink(e.admin, `{"key":"outage.txt"}`)
			path := sharePath(t, l.URL)
			if r := get(t, e, path); r.status != http.StatusFound {
				t.Fatalf("GET before the outage = %d", r.status)
			}
			ctx := context.Background()
			if err := canary.RunOnce(ctx); err != nil {
				t.Fatalf("canary before the outage: %v", err)
			}
			if status, rep := e.readyz(); status != http.StatusOK {
				t.Fatalf("/readyz before the outage = %d %+v", status, rep)
			}
			sess, ok := e.signer.Session()
			if !ok {
				t.Fatal("no session after the first mint")
			}

			if tc.unreachable {
				if err := s3.Stop(); err != nil {
					t.Fatal(err)
				}
			} else {
				src.fail.Store(true)
			}
			callsBefore := src.calls.Load()

			// hammer sends n GETs from 16 goroutines.
			hammer := func(n int) []result {
				var mu sync.Mutex
				var out []result
				var wg sync.WaitGroup
				work := make(chan struct{})
				for range 16 {
					wg.Go(func() {
						for range work {
							r := get(t, e, path)
							mu.Lock()
							out = append(out, r)
							mu.Unlock()
						}
					})
				}
				for range n {
					work <- struct{}{}
				}
				close(work)
				wg.Wait()
				return out
			}

			if tc.unreachable {
				// S3 is down too: the canary says so, the rest is fine.
				if err := canary.RunOnce(ctx); !errors.Is(err, health.ErrCanary) {
					t.Fatalf("canary with S3 stopped = %v; want ErrCanary", err)
				}
				rep := checker.Check(ctx)
				if rep.Ready {
					t.Fatalf("ready with S3 unreachable: %+v", rep)
				}
				for _, c := range rep.Checks {
					if wantOK := c.Name != health.CheckCanary; c.OK != wantOK {
						t.Errorf("check %s ok=%v (%s) with S3 unreachable and a session cached; want ok=%v", c.Name, c.OK, c.Reason, wantOK)
					}
				}
			}

			// 1. The cached session still covers the URLs, and inside the
			// refresh-ahead window too (where refreshes are tried and fail).
			for _, left := range []time.Duration{10 * time.Minute, 4 * time.Minute, 30 * time.Second} {
				clk.Advance(sess.Expires.Sub(clk.Now()) - left)
				for _, r := range hammer(64) {
					if r.status != http.StatusFound || r.location == "" {
						t.Fatalf("with %s of session left and STS down: %d (Location %v); want 302", left, r.status, r.location != "")
					}
					if end := urlEnd(t, r.location); end.After(sess.Expires) {
						t.Fatalf("URL ends %s, after its session %s", end, sess.Expires)
					}
				}
			}
			// 2. The session is nearly over: no URL that would outlive it.
			clk.Advance(sess.Expires.Sub(clk.Now()) - 20*time.Second)
			for round := range 3 {
				clk.Advance(2 * time.Second) // past the failure backoff: STS is tried again
				for _, r := range hammer(32) {
					if r.status != http.StatusServiceUnavailable || r.location != "" || r.retryAfter == "" {
						t.Fatalf("round %d, session nearly over, STS down: %d Location %v Retry-After %q; want 503, none, set",
							round, r.status, r.location != "", r.retryAfter)
					}
					evs := e.byRequest(r.requestID)
					if len(evs) != 1 || evs[0].Outcome != audit.OutcomeUnavailable || evs[0].Reason != "signer_unavailable" {
						t.Fatalf("row of a 503 = %+v; want one unavailable/signer_unavailable", evs)
					}
				}
			}
			if src.calls.Load() == callsBefore {
				t.Fatal("the signer never tried STS during the outage")
			}

			// 3. STS is back: recovery without restarting sharesvc.
			if tc.unreachable {
				rctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
				defer cancel()
				if err := s3.Restart(rctx); err != nil {
					t.Fatalf("restart: %v", err)
				}
			} else {
				src.fail.Store(false)
			}
			var last result
			for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
				clk.Advance(time.Second)
				if last = get(t, e, path); last.status == http.StatusFound {
					break
				}
			}
			if last.status != http.StatusFound || last.location == "" {
				t.Fatalf("a minute after STS came back: %d; want 302", last.status)
			}
			if fresh, _ := e.signer.Session(); !fresh.Expires.After(clk.Now().Add(10 * time.Minute)) {
				t.Fatalf("session after recovery ends %s; want a fresh one", fresh.Expires.Sub(clk.Now()))
			}
			if n := src.maxInfl.Load(); n != 1 {
				t.Fatalf("at most %d AssumeRole calls were in flight; want 1", n)
			}
			t.Logf("AssumeRole calls: %d (%d during the outage), at most %d in flight", src.calls.Load(), src.calls.Load()-callsBefore, src.maxInfl.Load())
			if _, err := audit.Verify(ctx, e.db.Read); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// A full or read-only database: every open fails closed (503, Retry-After,
// no Location, no row, no use spent), admin acts too, and the same process
// recovers once the database takes writes again.
//
// "Full" caps the writer connection's max_page_count at the file's size:
// SQLite then answers SQLITE_FULL exactly as on a full disk. "Read-only"
// sets query_only on the writer connection: SQLite answers SQLITE_READONLY,
// the code a read-only file or mount gives. (chmod would prove nothing: the
// tests run as root, and an open file descriptor keeps its mode.)
func TestDatabaseFullOrReadOnly(t *testing.T) {
	for _, tc := range []struct {
		name         string
		break_, lift string
	}{
		{"full", `PRAGMA max_page_count = 1`, `PRAGMA max_page_count = 1073741823`},
		{"read-only", `PRAGMA query_only = 1`, `PRAGMA query_only = 0`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, envOptions{sqliteOnly: true}) // the embedded file's limits
			e.put("db.txt", "db")
			l := e.createLink(e.admin, `{"key":"db.txt"}`)
			path := sharePath(t, l.URL)
			ctx := context.Background()
			if r := get(t, e, path); r.status != http.StatusFound {
				t.Fatalf("GET before = %d", r.status)
			}
			// The writer pool has one connection: the pragma lands on it.
			if _, err := e.db.Write.ExecContext(ctx, tc.break_); err != nil {
				t.Fatal(err)
			}
			// A full file still takes rows that fit in its free space:
			// open until the first refusal, then every open is refused.
			minted := 1
			var first int
			for first = 0; first < 5000; first++ {
				r := get(t, e, path)
				if r.status != http.StatusFound {
					break
				}
				minted++
			}
			uses := func() float64 {
				return decode[map[string]any](t, e.do("GET", "/api/v1/links/"+l.ID, e.admin, ""))["uses"].(float64)
			}
			before := uses()
			for i := range 20 {
				r := get(t, e, path)
				if r.status != http.StatusServiceUnavailable || r.location != "" || r.retryAfter == "" {
					t.Fatalf("open %d with the database %s: %d Location %v Retry-After %q; want 503, none, set",
						i, tc.name, r.status, r.location != "", r.retryAfter)
				}
				if evs := e.byRequest(r.requestID); len(evs) != 0 {
					t.Fatalf("a refused open has rows: %+v", evs)
				}
			}
			if r := e.do("POST", "/api/v1/links", e.admin, `{"key":"db.txt"}`); r.StatusCode != http.StatusServiceUnavailable {
				t.Fatalf("create with the database %s = %d; want 503", tc.name, r.StatusCode)
			}
			if got := uses(); got != before || int(got) != minted {
				t.Fatalf("uses = %v (was %v, %d minted); refused opens must spend nothing", got, before, minted)
			}

			if _, err := e.db.Write.ExecContext(ctx, tc.lift); err != nil {
				t.Fatal(err)
			}
			r := get(t, e, path)
			if r.status != http.StatusFound || r.location == "" {
				t.Fatalf("GET after the database takes writes again = %d; want 302", r.status)
			}
			if evs := e.byRequest(r.requestID); len(evs) != 1 || evs[0].Outcome != audit.OutcomeMinted {
				t.Fatalf("row after recovery = %+v; want one mint", evs)
			}
			var ic string
			if err := e.db.Read.QueryRowContext(ctx, `PRAGMA integrity_check`).Scan(&ic); err != nil || ic != "ok" {
				t.Fatalf("integrity_check = %q, %v", ic, err)
			}
			if _, err := audit.Verify(ctx, e.db.Read); err != nil {
				t.Fatal(err)
			}
			t.Logf("%s: %d opens succeeded after the cap before the first refusal", tc.name, first)
		})
	}
}

// A clock far from STS's (and S3's) makes URLs S3 rejects. The signer
// refuses to sign with it, opens fail closed, and the canary and readiness
// say so.
func TestClockSkewFailsClosed(t *testing.T) {
	s3 := s3server(t)
	ctx := context.Background()
	if err := s3.PutObject(ctx, testBucket, "skew.txt", []byte("skew")); err != nil {
		t.Fatal(err)
	}
	// The premise: the real S3 rejects URLs signed with a clock this far off.
	creds, err := realAssumeRole(s3).Retrieve(ctx)
	if err != nil {
		t.Fatal(err)
	}
	p, err := sts.NewPresigner(s3.Endpoint, s3.Region, true)
	if err != nil {
		t.Fatal(err)
	}
	for _, skew := range []time.Duration{-20 * time.Minute, 20 * time.Minute} {
		loc, err := p.Presign(creds, sts.Request{Method: http.MethodGet, Bucket: testBucket, Key: "skew.txt",
			Expires: time.Minute, Now: time.Now().Add(skew)})
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.Get(loc)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		t.Logf("S3 answers a URL signed with a clock %s off: %d", skew, resp.StatusCode)
		if skew < 0 && resp.StatusCode == http.StatusOK {
			t.Errorf("S3 accepted a URL signed with a clock %s off", skew)
		}
	}

	for _, tc := range []struct {
		name string
		skew time.Duration
		ok   bool
	}{
		{"in step", 0, true},
		{"20m ahead", 20 * time.Minute, false},
		{"20m behind", -20 * time.Minute, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clock := func() time.Time { return time.Now().Add(tc.skew) }
			var canary *health.Canary
			e := newEnv(t, envOptions{clock: clock, deps: func(d *server.Deps) {
				var err error
				canary, err = health.NewCanary(health.CanaryOptions{Signer: d.Signer, Bucket: testBucket, Key: "skew.txt", Clock: clock})
				if err != nil {
					t.Fatal(err)
				}
				hc, err := health.New(health.Options{DB: d.AuditDB, Signer: d.Signer, Audit: d.Audit, Canary: canary, Clock: clock})
				if err != nil {
					t.Fatal(err)
				}
				d.Health = hc
			}})
			code := e.insertLinks(1, "skew.txt")[0]
			r := get(t, e, "/s/"+code)
			cerr := canary.RunOnce(ctx)
			status, rep := e.readyz()
			if tc.ok {
				if r.status != http.StatusFound || cerr != nil || status != http.StatusOK {
					t.Fatalf("in step: open %d, canary %v, /readyz %d %+v; want 302, ok, 200", r.status, cerr, status, rep)
				}
				return
			}
			if r.status != http.StatusServiceUnavailable || r.location != "" || r.retryAfter == "" {
				t.Fatalf("open with a clock %s off = %d Location %v Retry-After %q; want 503, none, set", tc.skew, r.status, r.location != "", r.retryAfter)
			}
			if !errors.Is(cerr, health.ErrCanary) || !errors.Is(cerr, sts.ErrClockSkew) {
				t.Fatalf("canary with a clock %s off = %v; want ErrCanary from ErrClockSkew", tc.skew, cerr)
			}
			if status != http.StatusServiceUnavailable {
				t.Fatalf("/readyz with a clock %s off = %d %+v; want 503", tc.skew, status, rep)
			}
			for _, name := range []string{health.CheckSigner, health.CheckCanary} {
				if ok, reason := checkOK(rep, name); ok {
					t.Errorf("check %s ok with a clock %s off (%s)", name, tc.skew, reason)
				}
			}
			if _, ok := e.signer.Session(); ok {
				t.Error("a session was cached despite the skew")
			}
		})
	}
}

// The "bad inputs worth trying" of the field notes that the other tests do
// not already cover (bodies: TestBadAdminBodies; path variants:
// TestPathVariantsNeverRedirect; oversized headers and Host games:
// cmd/sharesvc). Each bad input gets a 4xx, no Location, and changes no
// state; each odd but valid object key opens exactly its object at S3.
func TestBadInputsFromFieldNotes(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.put("fn.txt", "fn")
	l := e.createLink(e.admin, `{"key":"fn.txt"}`)
	code := strings.TrimPrefix(sharePath(t, l.URL), "/s/")
	state := func() string {
		var n, uses int
		if err := e.db.Read.QueryRow(`SELECT COUNT(*), SUM(uses) FROM links`).Scan(&n, &uses); err != nil {
			t.Fatal(err)
		}
		return fmt.Sprintf("%d links, %d uses", n, uses)
	}
	before := state()

	t.Run("codes", func(t *testing.T) {
		for _, tc := range []struct{ name, path string }{
			{"empty", "/s/"},
			{"one byte", "/s/A"},
			{"1 MB", "/s/" + strings.Repeat("A", 1<<20)},
			{"wrong alphabet", "/s/" + strings.Repeat("+", 24)},
			{"NUL", "/s/" + code[:23] + "%00"},
			{"encoded slash", "/s/" + code[:12] + "%2F" + code[12:]},
			{"dot dot", "/s/../s/" + code},
			{"CRLF injection", "/s/" + code + "%0d%0aLocation:%20http://evil.example/"},
			{"lookalike Unicode", "/s/" + code[:23] + url.PathEscape("а")}, // Cyrillic a
			{"prefix", "/s/" + code[:23]},
			{"one character more", "/s/" + code + "A"},
			{"last character changed", "/s/" + code[:23] + map[bool]string{true: "B", false: "A"}[code[23] == 'A']},
		} {
			t.Run(tc.name, func(t *testing.T) {
				req, err := http.NewRequest("GET", e.http.URL+"/", nil)
				if err != nil {
					t.Fatal(err)
				}
				req.URL.Opaque = tc.path // sent exactly as written
				resp, err := noRedirect.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if resp.StatusCode < 400 || resp.StatusCode > 499 || resp.Header.Get("Location") != "" {
					t.Fatalf("GET %.60s = %d Location %q; want 4xx without Location", tc.path, resp.StatusCode, resp.Header.Get("Location"))
				}
			})
		}
	})

	t.Run("methods and conditional headers", func(t *testing.T) {
		for _, m := range []string{"OPTIONS", "TRACE", "PUT", "DELETE", "PATCH"} {
			r := e.do(m, "/s/"+code, "", "")
			if r.StatusCode < 400 || r.StatusCode > 499 || r.Header.Get("Location") != "" {
				t.Errorf("%s /s/CODE = %d; want 4xx without Location", m, r.StatusCode)
			}
		}
		if after := state(); after != before {
			t.Fatalf("state changed by refused requests: %s, was %s", after, before)
		}
		// A conditional GET is never answered 304 (that would skip the
		// audit): it mints like any other.
		for _, h := range [][2]string{{"If-None-Match", "*"}, {"If-Modified-Since", "Mon, 02 Jan 2006 15:04:05 GMT"}} {
			r := e.do("GET", "/s/"+code, "", "", h[0], h[1])
			if r.StatusCode != http.StatusFound {
				t.Errorf("GET with %s = %d; want 302", h[0], r.StatusCode)
			}
		}
	})

	// Keys S3 allows are shared and open exactly their object. (The key
	// "/" is left out: SeaweedFS stores it but cannot serve it back, unlike
	// AWS; its path components are limited to 255 bytes, hence the
	// 1024-byte key in segments.)
	t.Run("object keys", func(t *testing.T) {
		for _, key := range []string{
			"a//b", strings.Repeat(strings.Repeat("k", 250)+"/", 4) + strings.Repeat("k", 20), "résumé.pdf", "re\u0301sume\u0301.pdf",
			"emoji-😀.txt", "a*b", "a?b", "${aws:username}/x", "a+b c", "a#b", "trailing/", "~u/.p",
		} {
			if err := e.s3.PutObject(context.Background(), testBucket, key, []byte("body of "+key)); err != nil {
				t.Errorf("key %.40q: put: %v", key, err)
				continue
			}
			body, _ := json.Marshal(map[string]string{"key": key})
			cr := e.do("POST", "/api/v1/links", e.admin, string(body))
			if cr.StatusCode != http.StatusCreated {
				t.Errorf("key %.40q: create = %s", key, fmtResp(cr, readAll(t, cr.Body)))
				continue
			}
			l := decode[created](t, cr)
			r := e.do("GET", sharePath(t, l.URL), "", "")
			if r.StatusCode != http.StatusFound {
				t.Errorf("key %.40q: open = %d; want 302", key, r.StatusCode)
				continue
			}
			got, err := http.Get(r.Header.Get("Location"))
			if err != nil {
				t.Fatal(err)
			}
			b := readAll(t, got.Body)
			got.Body.Close()
			if got.StatusCode != http.StatusOK || b != "body of "+key {
				t.Errorf("key %.40q: S3 answered %d %.60q; want its own object", key, got.StatusCode, b)
			}
		}
	})
}
