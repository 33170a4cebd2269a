package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/sharesvc/sharesvc/internal/audit"
	"github.com/sharesvc/sharesvc/internal/db"
	"github.com/sharesvc/sharesvc/internal/mail"
	"github.com/sharesvc/sharesvc/internal/mailpit"
	"github.com/sharesvc/sharesvc/internal/testrig/postgres"
)

// The multi-instance proofs: three "sharesvc serve" processes on one
// PostgreSQL database behind a round-robin proxy. The instances trust the
// proxy (127.0.0.1) for client addresses, as a deployment behind a load
// balancer does, and run without rate limits: these tests are about what
// the instances agree on, not about limits.

// rrProxy is a round-robin reverse proxy: each request goes to the next
// instance in turn, and an instance that refuses the connection (a dead
// one) is skipped for the next: nothing of the request reached it. A
// request that did reach an instance is not sent elsewhere by the proxy
// and fails with 502 if the instance dies before answering, with one
// exception, Go's transport's own (as nginx's proxy_next_upstream does): a
// GET on a kept-alive connection that breaks before the answer is sent
// again, and then reaches another instance. The dead one may have minted
// it; its row then stands for a redirect nobody received, which the audit
// allows (a row without a redirect, never a redirect without a row).
type rrProxy struct {
	srv   *httptest.Server
	names []string // the instances' names, answered in X-Upstream
	hosts []string // their host:port
	next  atomic.Uint64
	tr    *http.Transport
}

func startProxy(t *testing.T) *rrProxy {
	p := &rrProxy{tr: &http.Transport{MaxIdleConnsPerHost: 64, IdleConnTimeout: 30 * time.Second}}
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetXForwarded()
			pr.Out.URL.Scheme, pr.Out.URL.Host = "http", "upstream" // RoundTrip picks it
			pr.Out.Host = pr.In.Host
		},
		Transport: p,
		ErrorLog:  log.New(io.Discard, "", 0),
	}
	p.srv = httptest.NewServer(rp)
	t.Cleanup(func() { p.srv.Close(); p.tr.CloseIdleConnections() })
	return p
}

func (p *rrProxy) RoundTrip(req *http.Request) (*http.Response, error) {
	n := len(p.hosts)
	first := int(p.next.Add(1) % uint64(n))
	var err error
	for i := range n {
		k := (first + i) % n
		out := req.Clone(req.Context())
		out.URL.Host = p.hosts[k]
		resp, rerr := p.tr.RoundTrip(out)
		if rerr == nil {
			resp.Header.Set("X-Upstream", p.names[k])
			return resp, nil
		}
		err = rerr
		var oe *net.OpError
		if req.Body != nil || !errors.As(rerr, &oe) || oe.Op != "dial" {
			break
		}
	}
	return nil, err
}

// instance is one "sharesvc serve" of a fleet.
type instance struct {
	name    string // a, b, c
	base    string // http://host:port, to reach it directly
	session string // its STS session name, in its mint rows
	env     map[string]string
	c       *child
}

// fleet is three instances on one database behind a proxy.
type fleet struct {
	t      *testing.T
	bin    string
	dbURL  string
	admin  string // an admin API token
	proxy  *rrProxy
	inst   []*instance
	mail   *mailpit.Server // nil unless asked for
	key    string          // the checkpoint key every instance signs with
	client *http.Client    // follows no redirect
}

// startFleet starts three instances on dbURL, with Mailpit and every
// instance sending mail when withMail.
func startFleet(t *testing.T, dbURL string, withMail bool) *fleet {
	t.Helper()
	const bucket = "multi-test"
	began := time.Now()
	f := &fleet{t: t, bin: buildBinary(t), dbURL: dbURL}
	built := time.Now()
	s3 := startS3(t, bucket)
	s3up := time.Now()
	ctx := context.Background()
	for key, body := range map[string]string{"doc.txt": "shared by three"} {
		if err := s3.PutObject(ctx, bucket, key, []byte(body)); err != nil {
			t.Fatal(err)
		}
	}
	dir := t.TempDir()
	keyPath := filepath.Join(dir, "checkpoint.key")
	if _, _, err := runErr("audit", "keygen", "--out", keyPath); err != nil {
		t.Fatal(err)
	}
	f.key = keyPath
	f.proxy = startProxy(t)
	common := s3env(s3, bucket, dbURL)
	for k, v := range map[string]string{
		"SHARESVC_LOG_LEVEL":  "warn",
		"SHARESVC_PUBLIC_URL": f.proxy.srv.URL,
		"SHARESVC_RATE_IP":    "off", "SHARESVC_RATE_MISS": "off", "SHARESVC_RATE_LINK": "off", "SHARESVC_RATE_TOKEN": "off",
		"SHARESVC_TRUSTED_PROXIES":   "127.0.0.1",
		"SHARESVC_CHECKPOINT_KEY":    keyPath,
		"SHARESVC_CHECKPOINT_BUCKET": bucket + "/audit",
	} {
		common[k] = v
	}
	if withMail {
		mctx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		mp, err := mailpit.Start(mctx, t.TempDir())
		if err != nil {
			t.Fatalf("the real SMTP server is required (run scripts/mailpit.sh): %v", err)
		}
		t.Cleanup(func() { mp.Stop() })
		f.mail = mp
		mailKey := filepath.Join(dir, "mail.key")
		if err := os.WriteFile(mailKey, []byte(mail.NewKey()+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		common["SHARESVC_SMTP_HOST"], common["SHARESVC_SMTP_PORT"], common["SHARESVC_SMTP_TLS"] = mp.SMTPHost, strconv.Itoa(mp.SMTPPort), "none"
		common["SHARESVC_SMTP_FROM"], common["SHARESVC_MAIL_KEY"] = "Files <files@example.org>", mailKey
	}
	tok, err := createToken(ctx, dbURL, "multi-admin", "admin", 0, "test", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	f.admin = tok
	// One after the other: the first migrates the database and creates the
	// default grant, which the others then find.
	for _, name := range []string{"a", "b", "c"} {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		in := &instance{name: name, base: "http://" + addr, session: "sharesvc-multi-" + name}
		in.env = withEnv(common, map[string]string{
			"SHARESVC_LISTEN": addr, "SHARESVC_SESSION_NAME": in.session,
			"SHARESVC_CHECKPOINT_DIR": filepath.Join(dir, "checkpoints-"+name),
		})
		in.c = startChild(t, f.bin, in.env, in.base)
		f.inst = append(f.inst, in)
		f.proxy.names = append(f.proxy.names, name)
		f.proxy.hosts = append(f.proxy.hosts, addr)
	}
	t.Logf("fleet up in %s: build %s, S3 %s, instances %s", time.Since(began).Round(time.Millisecond),
		built.Sub(began).Round(time.Millisecond), s3up.Sub(built).Round(time.Millisecond), time.Since(s3up).Round(time.Millisecond))
	f.client = &http.Client{
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Transport:     &http.Transport{MaxIdleConnsPerHost: 128},
		Timeout:       20 * time.Second,
	}
	t.Cleanup(f.client.CloseIdleConnections)
	return f
}

// answer is what a client got for one request.
type answer struct {
	status    int
	location  string
	retry     string // Retry-After
	requestID string
	upstream  string // the instance that answered through the proxy
	err       error  // no answer at all
	sent, at  time.Time
}

func (f *fleet) get(u string) answer {
	sent := time.Now()
	r, err := f.client.Get(u)
	if err != nil {
		return answer{err: err, sent: sent, at: time.Now()}
	}
	io.Copy(io.Discard, r.Body)
	r.Body.Close()
	return answer{status: r.StatusCode, location: r.Header.Get("Location"), retry: r.Header.Get("Retry-After"),
		requestID: r.Header.Get("X-Request-Id"), upstream: r.Header.Get("X-Upstream"), sent: sent, at: time.Now()}
}

// api calls the API at base with the admin token and decodes a JSON answer
// into out (when not nil); it fails the test unless the status is want.
func (f *fleet) api(base, method, path, body string, want int, out any) {
	f.t.Helper()
	req, _ := http.NewRequest(method, base+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+f.admin)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	r, err := f.client.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer r.Body.Close()
	b, _ := io.ReadAll(r.Body)
	if r.StatusCode != want {
		f.t.Fatalf("%s %s on %s = %d %s; want %d", method, path, base, r.StatusCode, b, want)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			f.t.Fatalf("%s %s: %v", method, path, err)
		}
	}
}

type linkInfo struct {
	ID   string `json:"id"`
	URL  string `json:"url"`
	Uses int    `json:"uses"`
}

// createLink creates a link through the proxy and returns it with its path
// (/s/…).
func (f *fleet) createLink(body string) (linkInfo, string) {
	f.t.Helper()
	var l linkInfo
	f.api(f.proxy.srv.URL, "POST", "/api/v1/links", body, http.StatusCreated, &l)
	i := strings.Index(l.URL, "/s/")
	if i < 0 {
		f.t.Fatalf("link URL %q has no /s/", l.URL)
	}
	return l, l.URL[i:]
}

// open is a share request through the proxy.
func (f *fleet) open(path string) answer { return f.get(f.proxy.srv.URL + path) }

// redirected reports whether a is a redirect that hands out a URL.
func (a answer) redirected() bool { return a.status == http.StatusFound && a.location != "" }

// mintRow is what the audit log holds for one request id.
type mintRow struct {
	rows    int
	outcome string
	session string
}

// accessRows reads every link.access row by request id.
func (f *fleet) accessRows() map[string]*mintRow {
	f.t.Helper()
	d := f.openDB()
	rows, err := d.Query(`SELECT request_id, outcome, sts_session FROM audit_events WHERE action = 'link.access'`)
	if err != nil {
		f.t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]*mintRow{}
	for rows.Next() {
		var id, outcome, session string
		if err := rows.Scan(&id, &outcome, &session); err != nil {
			f.t.Fatal(err)
		}
		m := out[id]
		if m == nil {
			m = &mintRow{}
			out[id] = m
		}
		m.rows++
		m.outcome, m.session = outcome, session
	}
	if err := rows.Err(); err != nil {
		f.t.Fatal(err)
	}
	return out
}

// openDB opens the fleet's database read-only, closed when the test ends.
func (f *fleet) openDB() *sql.DB {
	f.t.Helper()
	d, err := openReadOnly(context.Background(), f.dbURL)
	if err != nil {
		f.t.Fatal(err)
	}
	f.t.Cleanup(func() { d.Close() })
	return d
}

// checkRedirectsAudited fails the test unless every redirect in got has
// exactly one mint row, signed by the session of the instance that answered.
func (f *fleet) checkRedirectsAudited(got []answer) {
	f.t.Helper()
	rows := f.accessRows()
	sessions := map[string]string{}
	for _, in := range f.inst {
		sessions[in.name] = in.session
	}
	missing := 0
	for _, a := range got {
		if !a.redirected() {
			continue
		}
		m := rows[a.requestID]
		if m == nil || m.rows != 1 || m.outcome != "minted" || m.session != sessions[a.upstream] {
			missing++
			if missing <= 5 {
				f.t.Errorf("302 from instance %s, request id %s: audit rows %+v; want one mint signed by %s", a.upstream, a.requestID, m, sessions[a.upstream])
			}
		}
	}
	if missing > 0 {
		f.t.Fatalf("%d redirects lack their audit row", missing)
	}
}

// verifyChain runs "sharesvc audit verify" on the database and checks the
// sequence itself: 1…N without a gap or a repeat.
func (f *fleet) verifyChain() (rows int64) {
	f.t.Helper()
	out, errOut, err := runErr("audit", "verify", "--db", f.dbURL)
	if err != nil {
		f.t.Fatalf("audit verify: %v\n%s%s", err, out, errOut)
	}
	var n, lo, hi, distinct int64
	if err := f.openDB().QueryRow(`SELECT count(*), COALESCE(min(seq), 0), COALESCE(max(seq), 0), count(DISTINCT seq) FROM audit_events`).Scan(&n, &lo, &hi, &distinct); err != nil {
		f.t.Fatal(err)
	}
	if n == 0 || lo != 1 || hi != n || distinct != n {
		f.t.Fatalf("audit_events: %d rows, seq %d…%d, %d distinct; want 1…N without a gap or a repeat", n, lo, hi, distinct)
	}
	f.t.Logf("audit verify: %s", strings.TrimSpace(out))
	return n
}

// tally counts answers by instance and status ("a 302", "b 503").
type tally struct {
	mu sync.Mutex
	m  map[string]int
}

func (t *tally) add(a answer) {
	t.mu.Lock()
	if t.m == nil {
		t.m = map[string]int{}
	}
	t.m[a.upstream+" "+strconv.Itoa(a.status)]++
	t.mu.Unlock()
}

func (t *tally) get(upstream string, status int) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.m[upstream+" "+strconv.Itoa(status)]
}

// loadRun is a load started by fleet.load: workers open one path through
// the proxy until finish.
type loadRun struct {
	redirects atomic.Int64 // answers that were redirects
	by        tally
	stop      chan struct{}
	once      sync.Once
	wg        sync.WaitGroup
	mu        sync.Mutex
	got       []answer
}

// finish stops the workers and returns everything they got; it may be
// called again (the test's cleanup does) and returns the same.
func (l *loadRun) finish() []answer {
	l.once.Do(func() {
		close(l.stop)
		l.wg.Wait()
	})
	return l.got
}

// load opens path through the proxy from workers goroutines until the
// returned run is finished, at the latest when the test ends.
func (f *fleet) load(path string, workers int) *loadRun {
	l := &loadRun{stop: make(chan struct{})}
	for range workers {
		l.wg.Go(func() {
			for {
				select {
				case <-l.stop:
					return
				default:
				}
				a := f.open(path)
				if a.redirected() {
					l.redirects.Add(1)
				}
				l.by.add(a)
				l.mu.Lock()
				l.got = append(l.got, a)
				l.mu.Unlock()
			}
		})
	}
	f.t.Cleanup(func() { l.finish() })
	return l
}

// waitFor polls cond every 20ms until it holds, failing the test with what
// after the deadline.
func waitFor(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(within); !cond(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, within)
		}
	}
}

// dedicatedCluster starts a PostgreSQL cluster for one test and returns it
// with a new database's URL.
func dedicatedCluster(t *testing.T) (*postgres.Cluster, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := postgres.Start(ctx)
	if err != nil {
		t.Fatalf("a real PostgreSQL is required (run scripts/postgres.sh to install it): %v", err)
	}
	t.Cleanup(func() { c.Stop() })
	u, _, err := c.CreateDatabase(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return c, u
}

// Three instances on one database behave as one service: a use cap, a
// revocation, the kill switch, share mail, the audit chain and console
// sessions hold across them.
func TestThreeInstancesOneDatabase(t *testing.T) {
	_, dbURL := dedicatedCluster(t)
	f := startFleet(t, dbURL, true)
	a, b, c := f.inst[0], f.inst[1], f.inst[2]

	t.Run("use cap", func(t *testing.T) {
		l, path := f.createLink(`{"key":"doc.txt","max_uses":5}`)
		const n = 60
		got := make([]answer, n)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range n {
			wg.Go(func() { <-start; got[i] = f.open(path) })
		}
		close(start)
		wg.Wait()
		var redirects, refused int
		by := map[string]int{}
		for _, a := range got {
			switch {
			case a.redirected():
				redirects++
			case a.status == http.StatusGone && a.location == "":
				refused++
			default:
				t.Errorf("open = %d Location %q (%v); want 302 or 410", a.status, a.location, a.err)
			}
			by[a.upstream]++
		}
		var after linkInfo
		f.api(f.proxy.srv.URL, "GET", "/api/v1/links/"+l.ID, "", 200, &after)
		t.Logf("%d concurrent opens of a cap-5 link: %d redirects, %d refused (410); answered by %v; uses = %d", n, redirects, refused, by, after.Uses)
		if redirects != 5 || refused != n-5 || after.Uses != 5 {
			t.Fatalf("%d redirects, %d refused, uses %d; want 5, %d, 5", redirects, refused, after.Uses, n-5)
		}
		if len(by) != 3 {
			t.Fatalf("answered by %v; want all three instances", by)
		}
		f.checkRedirectsAudited(got)
	})

	t.Run("revoke on A bites on B", func(t *testing.T) {
		l, path := f.createLink(`{"key":"doc.txt"}`)
		// B has opened it (and cached it) before the revocation.
		if got := f.get(b.base + path); !got.redirected() {
			t.Fatalf("open on B = %d; want 302", got.status)
		}
		f.api(a.base, "POST", "/api/v1/links/"+l.ID+"/revoke", `{"reason":"multi"}`, 200, nil)
		if got := f.get(b.base + path); got.status != http.StatusGone || got.location != "" {
			t.Fatalf("open on B right after the revocation on A = %d Location %q; want 410", got.status, got.location)
		}
	})

	t.Run("kill switch on B stops A and C", func(t *testing.T) {
		_, path := f.createLink(`{"key":"doc.txt"}`)
		// A and C have just read the switch (off), so their one-second
		// cache of it is fresh: only the check in the use's transaction
		// can stop them.
		for _, in := range []*instance{a, c} {
			if got := f.get(in.base + path); !got.redirected() {
				t.Fatalf("open on %s = %d; want 302", in.name, got.status)
			}
		}
		f.api(b.base, "POST", "/api/v1/killswitch", `{"on":true,"reason":"multi-instance test"}`, 200, nil)
		for _, in := range []*instance{a, c} {
			got := f.get(in.base + path)
			if got.status != http.StatusServiceUnavailable || got.location != "" || got.retry == "" {
				t.Errorf("open on %s right after the kill switch on B = %d Location %q Retry-After %q; want 503, Retry-After, no Location",
					in.name, got.status, got.location, got.retry)
			}
		}
		f.api(b.base, "POST", "/api/v1/killswitch", `{"on":false}`, 200, nil)
		for _, in := range []*instance{a, c} {
			waitFor(t, 10*time.Second, "open on "+in.name+" after the kill switch is lifted", func() bool {
				return f.get(in.base + path).redirected()
			})
		}
	})

	t.Run("share mail sent once", func(t *testing.T) {
		// Each round creates three shares at once, one on each instance:
		// each instance's mailer is woken by its own share and finds all
		// three due, so the three race for every message.
		const rounds = 4
		want := map[string]bool{}
		for round := range rounds {
			var wg sync.WaitGroup
			for _, in := range f.inst {
				to := fmt.Sprintf("r%d-%s@example.org", round, in.name)
				want[to] = true
				wg.Go(func() {
					req, _ := http.NewRequest("POST", in.base+"/api/v1/links", strings.NewReader(`{"key":"doc.txt","recipients":["`+to+`"]}`))
					req.Header.Set("Authorization", "Bearer "+f.admin)
					req.Header.Set("Content-Type", "application/json")
					r, err := f.client.Do(req)
					if err != nil {
						t.Error(err)
						return
					}
					r.Body.Close()
					if r.StatusCode != http.StatusCreated {
						t.Errorf("share to %s on %s = %d; want 201", to, in.name, r.StatusCode)
					}
				})
			}
			wg.Wait()
		}
		// Done when every delivery is recorded sent: a message goes out only
		// after its row is claimed, and is recorded only after it went.
		d := f.openDB()
		waitFor(t, 30*time.Second, "every share message recorded sent", func() bool {
			var sent, pending int
			d.QueryRow(`SELECT count(*) FILTER (WHERE state = 'sent'), count(*) FILTER (WHERE state <> 'sent') FROM deliveries`).Scan(&sent, &pending)
			return sent == len(want) && pending == 0
		})
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		var msgs []mailpit.Message
		waitFor(t, 10*time.Second, "Mailpit shows every message", func() bool {
			var err error
			msgs, err = f.mail.Messages(ctx)
			return err == nil && len(msgs) >= len(want)
		})
		seen := map[string]int{}
		for _, m := range msgs {
			for _, to := range m.To {
				seen[to.Address]++
			}
		}
		for to := range want {
			if seen[to] != 1 {
				t.Errorf("%s got %d messages; want 1", to, seen[to])
			}
		}
		if len(msgs) != len(want) {
			t.Fatalf("%d messages for %d recipients (by recipient: %v)", len(msgs), len(want), seen)
		}
		var attempts int
		d.QueryRow(`SELECT COALESCE(sum(attempts), 0) FROM deliveries`).Scan(&attempts)
		t.Logf("%d recipients, %d messages, %d claims recorded", len(want), len(msgs), attempts)
	})

	t.Run("console session on any instance", func(t *testing.T) {
		// Sign in on A (the form's CSRF value is a cookie, so the same
		// instance serves both halves, as any would)…
		r, err := f.client.Get(a.base + "/ui/signin")
		if err != nil {
			t.Fatal(err)
		}
		page, _ := io.ReadAll(r.Body)
		r.Body.Close()
		m := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindSubmatch(page)
		if m == nil {
			t.Fatalf("sign-in page on A = %d without a CSRF field", r.StatusCode)
		}
		form := url.Values{"csrf": {string(m[1])}, "token": {f.admin}}
		req, _ := http.NewRequest("POST", a.base+"/ui/signin", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", f.proxy.srv.URL) // the public URL's origin, as a browser sends it
		for _, ck := range r.Cookies() {
			req.AddCookie(ck)
		}
		r, err = f.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		r.Body.Close()
		var session *http.Cookie
		for _, ck := range r.Cookies() {
			if ck.Name == "sharesvc_session" && ck.Value != "" {
				session = ck
			}
		}
		if r.StatusCode != http.StatusSeeOther || session == nil {
			t.Fatalf("sign-in on A = %d, session cookie %v; want 303 and a session", r.StatusCode, session != nil)
		}
		// …and use the session on B.
		req, _ = http.NewRequest("GET", b.base+"/ui/links", nil)
		req.AddCookie(session)
		r, err = f.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(r.Body)
		r.Body.Close()
		if r.StatusCode != http.StatusOK || !strings.Contains(string(body), "multi-admin") {
			t.Fatalf("links page on B with A's session = %d (signed in as multi-admin: %v); want 200 signed in", r.StatusCode, strings.Contains(string(body), "multi-admin"))
		}
	})

	t.Run("audit chain under load", func(t *testing.T) {
		_, path := f.createLink(`{"key":"doc.txt"}`)
		const perInstance = 100
		got := make([]answer, 0, 3*perInstance)
		var (
			mu sync.Mutex
			wg sync.WaitGroup
		)
		// 3×100 opens, 24 at a time, through the proxy: each instance
		// answers a third and appends to the one chain.
		work := make(chan struct{}, 3*perInstance)
		for range 3 * perInstance {
			work <- struct{}{}
		}
		close(work)
		for range 24 {
			wg.Go(func() {
				for range work {
					a := f.open(path)
					mu.Lock()
					got = append(got, a)
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		by := map[string]int{}
		for _, a := range got {
			if !a.redirected() {
				t.Fatalf("open under load = %d (%v); want 302", a.status, a.err)
			}
			by[a.upstream]++
		}
		f.checkRedirectsAudited(got)
		var sessions []string
		rows, err := f.openDB().Query(`SELECT sts_session, count(*) FROM audit_events WHERE outcome = 'minted' GROUP BY sts_session ORDER BY 1`)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var s string
			var n int
			rows.Scan(&s, &n)
			sessions = append(sessions, fmt.Sprintf("%s:%d", s, n))
		}
		rows.Close()
		n := f.verifyChain()
		t.Logf("%d opens answered by %v; mint rows by session %v; chain of %d rows verifies", len(got), by, sessions, n)
		for _, in := range f.inst {
			if by[in.name] < perInstance/2 {
				t.Errorf("instance %s answered %d of %d; want its share", in.name, by[in.name], len(got))
			}
		}
	})
	t.Run("graceful stops sign the head", func(t *testing.T) {
		// One after the other: each signs a last checkpoint if it leads
		// then, and gives the lead up; the last one leads at its end.
		dirs := map[string]int{}
		for _, in := range f.inst {
			if err := in.c.cmd.Process.Signal(syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
			if err := <-in.c.wait; err != nil {
				t.Fatalf("instance %s stopped with %v\n%s", in.name, err, in.c.output())
			}
			files, _ := filepath.Glob(filepath.Join(in.env["SHARESVC_CHECKPOINT_DIR"], "checkpoint-*.json"))
			dirs[in.name] = len(files)
		}
		// Verify against every checkpoint any of them signed, with the
		// shared key's public half.
		all := t.TempDir()
		for _, in := range f.inst {
			files, _ := filepath.Glob(filepath.Join(in.env["SHARESVC_CHECKPOINT_DIR"], "checkpoint-*.json"))
			for _, file := range files {
				b, err := os.ReadFile(file)
				if err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(all, filepath.Base(file)), b, 0o600); err != nil {
					t.Fatal(err)
				}
			}
		}
		out, errOut, err := runErr("audit", "verify", "--db", f.dbURL, "--checkpoint", all, "--public-key", f.key+".pub")
		if err != nil {
			t.Fatalf("audit verify against the checkpoints: %v\n%s%s", err, out, errOut)
		}
		var head int64
		f.openDB().QueryRow(`SELECT max(seq) FROM audit_events`).Scan(&head)
		newest, err := audit.ReadCheckpoint(all)
		if err != nil || newest.Seq != head {
			t.Fatalf("newest checkpoint = %+v, %v; want one at the head, row %d", newest, err, head)
		}
		t.Logf("checkpoints by instance %v; newest at the head (row %d); %s", dirs, head, strings.TrimSpace(out))
	})
}

// SIGKILL one of three instances under load: the other two keep answering
// through the proxy, which skips the dead one (it refuses connections), and
// every redirect any client received has its audit row.
func TestThreeInstancesSurviveAKill(t *testing.T) {
	_, dbURL := dedicatedCluster(t)
	f := startFleet(t, dbURL, false)
	_, path := f.createLink(`{"key":"doc.txt"}`)
	const workers = 16
	run := f.load(path, workers)
	redirects := &run.redirects
	waitFor(t, 30*time.Second, "300 redirects before the kill", func() bool { return redirects.Load() >= 300 })
	victim, others := f.inst[1], []*instance{f.inst[0], f.inst[2]}
	if err := victim.c.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-victim.c.wait
	dead := time.Now()
	before := redirects.Load()
	waitFor(t, 30*time.Second, "300 redirects after the kill", func() bool { return redirects.Load() >= before+300 })
	got := run.finish()

	var failed int
	after := map[string]int{} // redirects asked for once the victim was dead
	for _, a := range got {
		if !a.redirected() {
			failed++
			t.Logf("not a redirect: %d %v (instance %q)", a.status, a.err, a.upstream)
			continue
		}
		if a.sent.After(dead) {
			after[a.upstream]++
		}
	}
	t.Logf("SIGKILL of instance %s after %d redirects; %d answers in all, %d not redirects; redirects asked for after its death, by instance: %v",
		victim.name, before, len(got), failed, after)
	// Each worker had at most one request inside the victim when it died;
	// only those may fail (502 from the proxy).
	if failed > workers {
		t.Errorf("%d requests failed; want at most %d (those in flight inside the killed instance)", failed, workers)
	}
	if after[victim.name] != 0 {
		t.Errorf("the killed instance answered %d requests sent after its death", after[victim.name])
	}
	for _, in := range others {
		if after[in.name] == 0 {
			t.Errorf("instance %s answered no redirect after the kill", in.name)
		}
	}
	f.checkRedirectsAudited(got)
	f.verifyChain()
}

// PostgreSQL stopped and started under load: while it is down every
// instance refuses (503 with Retry-After, never a Location) without
// hanging, and once it is back every instance serves again without a
// restart; every redirect has its audit row.
func TestThreeInstancesRideOutPostgresRestart(t *testing.T) {
	cluster, dbURL := dedicatedCluster(t)
	f := startFleet(t, dbURL, false)
	_, path := f.createLink(`{"key":"doc.txt"}`)
	// A link no instance has opened (nor cached) before the outage: its
	// lookup needs the database.
	_, fresh := f.createLink(`{"key":"doc.txt"}`)
	const workers = 8
	run := f.load(path, workers)
	redirects, by := &run.redirects, &run.by
	waitFor(t, 30*time.Second, "100 redirects before the outage", func() bool { return redirects.Load() >= 100 })

	if err := cluster.StopServer(); err != nil {
		t.Fatal(err)
	}
	down := time.Now()
	// While it is down: every instance, asked directly, refuses both links.
	for _, in := range f.inst {
		for _, p := range []string{path, fresh} {
			start := time.Now()
			got := f.get(in.base + p)
			if got.err != nil || got.status != http.StatusServiceUnavailable || got.location != "" || got.retry == "" {
				t.Errorf("open on %s while PostgreSQL is down = %d Location %q Retry-After %q (%v, after %s); want 503 with Retry-After",
					in.name, got.status, got.location, got.retry, got.err, time.Since(start).Round(time.Millisecond))
			}
		}
	}
	// The load meets the outage on every instance.
	for _, in := range f.inst {
		n := by.get(in.name, http.StatusServiceUnavailable)
		waitFor(t, 30*time.Second, "the load refused by "+in.name, func() bool { return by.get(in.name, http.StatusServiceUnavailable) >= n+workers })
	}
	upAt := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := cluster.StartServer(ctx); err != nil {
		t.Fatal(err)
	}
	up := time.Now()
	for _, in := range f.inst {
		waitFor(t, 30*time.Second, "instance "+in.name+" serving again", func() bool {
			return f.get(in.base + path).redirected()
		})
		t.Logf("instance %s serves again %s after PostgreSQL is back", in.name, time.Since(up).Round(time.Millisecond))
	}
	back := redirects.Load()
	waitFor(t, 30*time.Second, "100 redirects after the outage", func() bool { return redirects.Load() >= back+100 })
	got := run.finish()

	statuses := map[string]int{}
	var slowest time.Duration
	for _, a := range got {
		if !a.redirected() {
			slowest = max(slowest, a.at.Sub(a.sent))
		}
		k := strconv.Itoa(a.status)
		if a.err != nil {
			k = "no answer"
		}
		statuses[k]++
		if a.redirected() {
			continue
		}
		if a.status != http.StatusServiceUnavailable || a.location != "" || a.retry == "" {
			t.Errorf("answer during the outage = %d Location %q Retry-After %q (%v); want 503 with Retry-After", a.status, a.location, a.retry, a.err)
		}
	}
	t.Logf("PostgreSQL down %s; answers by status: %v; slowest refusal %s", upAt.Sub(down).Round(time.Millisecond), statuses, slowest.Round(time.Millisecond))
	// Refusing takes no wait for the database: its connections fail at
	// once. Every query would wait at most db.BusyTimeout.
	if slowest > db.BusyTimeout {
		t.Errorf("a refusal took %s; want at most %s", slowest, db.BusyTimeout)
	}
	if statuses["503"] == 0 {
		t.Error("the load met no 503: it did not reach the outage")
	}
	f.checkRedirectsAudited(got)
	f.verifyChain()
}
