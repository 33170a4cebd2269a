package health

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sharesvc/sharesvc/internal/audit"
	"github.com/sharesvc/sharesvc/internal/clocktest"
	"github.com/sharesvc/sharesvc/internal/db"
	"github.com/sharesvc/sharesvc/internal/sts"
	"github.com/sharesvc/sharesvc/internal/testrig/testdb"
)

// Each test's database is on the run's engine (SHARESVC_TEST_DB).
func TestMain(m *testing.M) { os.Exit(testdb.Main(m)) }

// source hands out sessions of a fixed length on the test clock.
type source struct {
	clock  *clocktest.Clock
	length time.Duration
	fail   atomic.Bool
}

func (s *source) Retrieve(ctx context.Context) (sts.Credentials, error) {
	if s.fail.Load() {
		return sts.Credentials{}, errors.New("sts down")
	}
	return sts.Credentials{AccessKeyID: "ASIATEST", SecretAccessKey: "secret", SessionToken: "SESSIONTOKEN",
		Expires: s.clock.Now().Add(s.length), SessionName: "test"}, nil
}

type queue struct{ n atomic.Int64 }

func (q *queue) QueueDepth() int { return int(q.n.Load()) }

type fixture struct {
	clock  *clocktest.Clock
	src    *source
	signer *sts.Signer
	queue  *queue
	db     *db.DB
	c      *Checker
}

func newFixture(t *testing.T, endpoint string) *fixture {
	t.Helper()
	f := &fixture{clock: clocktest.New(time.Now()), queue: &queue{}}
	f.src = &source{clock: f.clock, length: 15 * time.Minute}
	if endpoint == "" {
		endpoint = "http://127.0.0.1:1"
	}
	p, err := sts.NewPresigner(endpoint, "us-east-1", true)
	if err != nil {
		t.Fatal(err)
	}
	f.signer = sts.NewSigner(f.src, p, sts.SignerOptions{Clock: f.clock.Now, RefreshAhead: time.Minute})
	f.db, err = db.Open(context.Background(), testdb.DSN(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.db.Close() })
	f.c, err = New(Options{DB: f.db.Read, Signer: f.signer, Audit: f.queue, Clock: f.clock.Now, MinSessionLeft: 5 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *fixture) result(t *testing.T, name string) Result {
	t.Helper()
	rep := f.c.Check(context.Background())
	for _, r := range rep.Checks {
		if r.Name == name {
			return r
		}
	}
	t.Fatalf("no %s check in %+v", name, rep)
	return Result{}
}

func TestSignerCheck(t *testing.T) {
	f := newFixture(t, "")
	if r := f.result(t, CheckSigner); !r.OK {
		t.Fatalf("signer with a fresh session: %+v, %v", r, r.err)
	}
	// 11 minutes on, 4 left: below MinSessionLeft, and STS fails to renew.
	f.src.fail.Store(true)
	f.clock.Advance(11 * time.Minute)
	if r := f.result(t, CheckSigner); r.OK || r.Reason != "session_expiring" {
		t.Errorf("session with 4m left, STS down: %+v; want session_expiring", r)
	}
	f.signer.Drop()
	f.clock.Advance(time.Minute) // past the failure backoff
	if r := f.result(t, CheckSigner); r.OK || r.Reason != "no_session" || !errors.Is(r.err, sts.ErrUnavailable) {
		t.Errorf("no session, STS down: %+v (%v); want no_session", r, r.err)
	}
	f.src.fail.Store(false)
	f.clock.Advance(time.Minute)
	if r := f.result(t, CheckSigner); !r.OK {
		t.Errorf("STS back: %+v (%v); want ok", r, r.err)
	}
}

func TestAuditCheck(t *testing.T) {
	f := newFixture(t, "")
	unavailable := fmt.Errorf("%w: commit: disk I/O error", audit.ErrUnavailable)
	for _, step := range []struct {
		name   string
		act    func()
		reason string // "" means ok
	}{
		{"idle", func() {}, ""},
		{"queue deep", func() { f.queue.n.Store(5000) }, "lagging"},
		{"queue drained", func() { f.queue.n.Store(3) }, ""},
		{"commit refused", func() { f.c.ObserveAuditCommit(4, time.Millisecond, unavailable) }, "failing"},
		{"still within the window", func() { f.clock.Advance(29 * time.Second) }, "failing"},
		{"window over, no commit since", func() { f.clock.Advance(2 * time.Second) }, ""},
		{"refused again", func() { f.c.ObserveAuditCommit(1, time.Millisecond, unavailable) }, "failing"},
		{"a commit succeeds", func() { f.c.ObserveAuditCommit(1, time.Millisecond, nil) }, ""},
		{"an apply func refuses", func() { f.c.ObserveAuditCommit(1, time.Millisecond, errors.New("link used up")) }, ""},
	} {
		t.Run(step.name, func(t *testing.T) {
			step.act()
			r := f.result(t, CheckAudit)
			if r.OK != (step.reason == "") || r.Reason != step.reason {
				t.Errorf("audit check = %+v (%v); want reason %q", r, r.err, step.reason)
			}
		})
	}
}

func TestDBCheck(t *testing.T) {
	f := newFixture(t, "")
	rep := f.c.Check(context.Background())
	if !rep.Ready || rep.Err() != nil {
		t.Fatalf("fresh fixture not ready: %v", rep.Err())
	}
	f.db.Read.Close()
	rep = f.c.Check(context.Background())
	if rep.Ready || !errors.Is(rep.Err(), ErrNotReady) {
		t.Fatalf("closed database: ready %v, err %v; want ErrNotReady", rep.Ready, rep.Err())
	}
	if r := f.result(t, CheckDB); r.OK || r.Reason != "not_writable" {
		t.Errorf("db check = %+v; want not_writable", r)
	}
}

// fakeS3 answers presigned GETs: 200 for ok.txt, a 403 whose body echoes
// the request (as S3's SignatureDoesNotMatch does) for anything else.
func fakeS3(t *testing.T) *httptest.Server {
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("X-Amz-Signature") == "" {
			t.Errorf("canary request is not presigned: %s", r.URL.RawQuery)
		}
		if strings.HasSuffix(r.URL.Path, "/ok.txt") {
			w.Write([]byte("ok"))
			return
		}
		w.WriteHeader(http.StatusForbidden)
		fmt.Fprintf(w, "<Error><Code>SignatureDoesNotMatch</Code><CanonicalRequest>GET %s?%s</CanonicalRequest></Error>",
			r.URL.Path, r.URL.RawQuery)
	}))
	t.Cleanup(s.Close)
	return s
}

func TestCanary(t *testing.T) {
	s3 := fakeS3(t)
	f := newFixture(t, s3.URL)
	c, err := NewCanary(CanaryOptions{Signer: f.signer, Bucket: "canary-bucket", Key: "ok.txt", Interval: time.Minute, Clock: f.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	f.c.o.Canary = c
	if r := f.result(t, CheckCanary); r.OK || r.Reason != "no_result" {
		t.Errorf("before the first run: %+v; want no_result", r)
	}
	if err := c.RunOnce(context.Background()); err != nil {
		t.Fatalf("canary of a readable object: %v", err)
	}
	if r := f.result(t, CheckCanary); !r.OK {
		t.Errorf("after a good run: %+v (%v)", r, r.err)
	}
	f.clock.Advance(4 * time.Minute)
	if r := f.result(t, CheckCanary); r.OK || r.Reason != "stale" {
		t.Errorf("4 intervals after the last run: %+v; want stale", r)
	}

	c.o.Key = "denied.txt"
	err = c.RunOnce(context.Background())
	if !errors.Is(err, ErrCanary) || !strings.Contains(err.Error(), "bad_status") || !strings.Contains(err.Error(), "SignatureDoesNotMatch") {
		t.Fatalf("canary answered 403 = %v; want ErrCanary, bad_status, S3's code", err)
	}
	if strings.Contains(err.Error(), "SESSIONTOKEN") || strings.Contains(err.Error(), "X-Amz") {
		t.Errorf("canary error repeats the request: %v", err)
	}
	if r := f.result(t, CheckCanary); r.OK || r.Reason != "failing" {
		t.Errorf("after a failed run: %+v; want failing", r)
	}

	s3.Close()
	c.o.Key = "ok.txt"
	err = c.RunOnce(context.Background())
	if !errors.Is(err, ErrCanary) || !strings.Contains(err.Error(), "fetch_error") {
		t.Fatalf("canary with S3 gone = %v; want fetch_error", err)
	}
	if strings.Contains(err.Error(), "SESSIONTOKEN") || strings.Contains(err.Error(), "X-Amz") || strings.Contains(err.Error(), s3.URL) {
		t.Errorf("canary error quotes the URL: %v", err)
	}
}

func TestNewRequiresDependencies(t *testing.T) {
	if _, err := New(Options{}); err == nil {
		t.Error("New(Options{}) = nil error; want one naming what is missing")
	}
	if _, err := NewCanary(CanaryOptions{Bucket: "b"}); err == nil {
		t.Error("NewCanary without signer or key = nil error")
	}
}

func TestCheckCache(t *testing.T) {
	f := newFixture(t, "")
	f.c.o.CacheFor = time.Hour
	if rep := f.c.Check(context.Background()); !rep.Ready {
		t.Fatalf("not ready: %v", rep.Err())
	}
	f.queue.n.Store(1 << 20)
	if rep := f.c.Check(context.Background()); !rep.Ready {
		t.Errorf("within CacheFor the cached report should be reused; got %v", rep.Err())
	}
	f.c.o.CacheFor = 0
	if rep := f.c.Check(context.Background()); rep.Ready {
		t.Error("without a cache the deep queue should make it unready")
	}
}

// TestDrain checks that Drain turns a ready checker, cached report and
// all, unready at once, and that it stays so.
func TestDrain(t *testing.T) {
	f := newFixture(t, "")
	f.c.o.CacheFor = time.Hour
	if rep := f.c.Check(context.Background()); !rep.Ready {
		t.Fatalf("not ready: %v", rep.Err())
	}
	f.c.Drain()
	for range 2 {
		rep := f.c.Check(context.Background())
		if rep.Ready || len(rep.Checks) != 1 || rep.Checks[0].Name != CheckShutdown || rep.Checks[0].Reason != "draining" {
			t.Errorf("Check after Drain = %+v; want not ready, shutdown: draining", rep)
		}
		if !errors.Is(rep.Err(), ErrNotReady) {
			t.Errorf("Err after Drain = %v; want ErrNotReady", rep.Err())
		}
	}
}

type chain struct{ err atomic.Pointer[error] }

func (c *chain) Broken() error {
	if p := c.err.Load(); p != nil {
		return *p
	}
	return nil
}

func TestAuditChainBroken(t *testing.T) {
	f := newFixture(t, "")
	var ch chain
	f.c.o.Chain = &ch
	if r := f.result(t, CheckAudit); !r.OK {
		t.Fatalf("audit with an intact chain = %+v; want ok", r)
	}
	err := fmt.Errorf("%w: row 8: missing", audit.ErrChainBroken)
	ch.err.Store(&err)
	if r := f.result(t, CheckAudit); r.OK || r.Reason != "chain_broken" {
		t.Fatalf("audit with a broken chain = %+v; want chain_broken", r)
	}
	if rep := f.c.Check(context.Background()); rep.Ready || !errors.Is(rep.Err(), audit.ErrChainBroken) {
		t.Fatalf("report = %+v; want not ready, caused by the chain", rep)
	}
}
