package server_test

import (
	"context"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sharesvc/sharesvc/internal/clocktest"

	"github.com/sharesvc/sharesvc/internal/audit"
	"github.com/sharesvc/sharesvc/internal/links"
	"github.com/sharesvc/sharesvc/internal/ratelimit"
	"github.com/sharesvc/sharesvc/internal/server"
)

// retryAfter returns the response's Retry-After in seconds, failing t if a
// 429 has none.
func retryAfter(t testing.TB, r *http.Response) time.Duration {
	t.Helper()
	v := r.Header.Get("Retry-After")
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		t.Fatalf("%d has Retry-After %q; want whole seconds ≥ 1", r.StatusCode, v)
	}
	return time.Duration(n) * time.Second
}

// rateLimitedRows counts audit rows refused by a rate limit, by limit.
func rateLimitedRows(t testing.TB, e *env) map[string]int {
	t.Helper()
	evs, err := audit.List(context.Background(), e.db.Read, audit.Filter{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	n := map[string]int{}
	for _, ev := range evs {
		if ev.Reason == "rate_limited" {
			if ev.Outcome != audit.OutcomeDenied {
				t.Errorf("rate-limited row outcome %q; want denied", ev.Outcome)
			}
			n[strings.TrimSuffix(strings.TrimPrefix(ev.Detail, `{"limit":"`), `"}`)]++
		}
	}
	return n
}

// TestRateLimitPerClient sends a burst and then sustained traffic from one
// client and counts what gets through: exactly burst + rate·t (±1).
func TestRateLimitPerClient(t *testing.T) {
	c := clocktest.New(time.Now())
	const rate, burst = 5, 10
	e := newEnv(t, envOptions{clock: c.Now, cfg: func(cfg *server.Config) {
		cfg.RateIP = ratelimit.Limit{Rate: rate, Burst: burst}
	}})
	e.put("rl/a.txt", "a")
	path := sharePath(t, e.createLink(e.sharer, `{"key":"rl/a.txt"}`).URL)

	allowed, limited := 0, 0
	get := func(hdr ...string) *http.Response {
		r := e.do("GET", path, "", "", hdr...)
		switch r.StatusCode {
		case http.StatusFound:
			allowed++
		case http.StatusTooManyRequests:
			limited++
			retryAfter(t, r)
			if r.Header.Get("Location") != "" || r.Header.Get("Cache-Control") != "no-store" {
				t.Errorf("429 headers = %v; want no Location and no-store", r.Header)
			}
		default:
			t.Fatalf("GET = %s", fmtResp(r, readAll(t, r.Body)))
		}
		return r
	}
	for range 3 * burst {
		get()
	}
	if allowed != burst {
		t.Fatalf("burst: %d allowed of %d; want %d", allowed, 3*burst, burst)
	}

	t.Run("spoofed X-Forwarded-For from an untrusted peer changes nothing", func(t *testing.T) {
		for i := range 20 {
			r := get("X-Forwarded-For", "198.51.100."+strconv.Itoa(i))
			if r.StatusCode != http.StatusTooManyRequests {
				t.Fatalf("request %d with a fresh X-Forwarded-For = %d; want 429", i, r.StatusCode)
			}
		}
	})

	// Sustained: four attempts per token interval for 4 s.
	span, step := 4*time.Second, time.Second/rate/4
	before := allowed
	for el := time.Duration(0); el < span; el += step {
		c.Advance(step)
		for get().StatusCode == http.StatusFound {
		}
	}
	if got, want := allowed-before, rate*span.Seconds(); got < int(want)-1 || got > int(want)+1 {
		t.Errorf("sustained: %d allowed in %s; want rate·t = %.0f (±1)", got, span, want)
	}

	// Waiting the Retry-After given is enough.
	r := get()
	if r.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("after draining: %d; want 429", r.StatusCode)
	}
	c.Advance(retryAfter(t, r))
	if r := get(); r.StatusCode != http.StatusFound {
		t.Errorf("after waiting Retry-After: %d; want 302", r.StatusCode)
	}

	// Every refusal is audited, as the per-address limit.
	if rows := rateLimitedRows(t, e); rows["ip"] != limited {
		t.Errorf("audited rate-limited rows = %v; want ip: %d", rows, limited)
	}
}

// TestRateLimitRetryAfterRealTime checks once, with the real clock, that
// the Retry-After given is honest.
func TestRateLimitRetryAfterRealTime(t *testing.T) {
	e := newEnv(t, envOptions{cfg: func(cfg *server.Config) {
		cfg.RateIP = ratelimit.Limit{Rate: 1, Burst: 1}
	}})
	path := "/s/" + strings.Repeat("A", 24) // unknown code: 404 when allowed
	if r := e.do("GET", path, "", ""); r.StatusCode != http.StatusNotFound {
		t.Fatalf("first GET = %d; want 404", r.StatusCode)
	}
	r := e.do("GET", path, "", "")
	if r.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("second GET = %d; want 429", r.StatusCode)
	}
	time.Sleep(retryAfter(t, r))
	if r := e.do("GET", path, "", ""); r.StatusCode != http.StatusNotFound {
		t.Errorf("GET after Retry-After = %d; want 404 (allowed)", r.StatusCode)
	}
}

// TestRateLimitMisses checks that unknown codes are limited separately and
// more strictly, per client address (per /64 for IPv6), and that the
// address comes from X-Forwarded-For only through a trusted proxy.
func TestRateLimitMisses(t *testing.T) {
	c := clocktest.New(time.Now())
	e := newEnv(t, envOptions{clock: c.Now, cfg: func(cfg *server.Config) {
		cfg.RateIP = ratelimit.Limit{Rate: 100, Burst: 100}
		cfg.RateMiss = ratelimit.Limit{Rate: 1.0 / 60, Burst: 3}
		cfg.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}
	}})
	e.put("rl/m.txt", "m")
	hit := sharePath(t, e.createLink(e.sharer, `{"key":"rl/m.txt"}`).URL)
	miss := func(i int) string { return "/s/" + strings.Repeat("Z", 20) + strconv.Itoa(1000+i) }
	from := func(ip string) []string { return []string{"X-Forwarded-For", ip} }

	// Hits never touch the miss budget.
	for i := range 20 {
		if r := e.do("GET", hit, "", "", from("198.51.100.1")...); r.StatusCode != http.StatusFound {
			t.Fatalf("hit %d = %d; want 302", i, r.StatusCode)
		}
	}
	for _, tc := range []struct {
		name, client, neighbour, stranger string
	}{
		{"ipv4", "198.51.100.1", "", "198.51.100.2"},
		{"ipv6 /64", "2001:db8:1:2::1", "2001:db8:1:2:ffff::9", "2001:db8:1:3::1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for i := range 3 {
				if r := e.do("GET", miss(i), "", "", from(tc.client)...); r.StatusCode != http.StatusNotFound {
					t.Fatalf("miss %d = %d; want 404", i, r.StatusCode)
				}
			}
			r := e.do("GET", miss(3), "", "", from(tc.client)...)
			if r.StatusCode != http.StatusTooManyRequests {
				t.Fatalf("4th miss = %d; want 429", r.StatusCode)
			}
			if got := retryAfter(t, r); got != 60*time.Second {
				t.Errorf("Retry-After = %s; want 60s (one token per minute)", got)
			}
			// Charged after the lookup: a real code from an address out of
			// misses still opens (clients behind one NAT share it).
			if r := e.do("GET", hit, "", "", from(tc.client)...); r.StatusCode != http.StatusFound {
				t.Errorf("hit from a client out of misses = %d; want 302", r.StatusCode)
			}
			if tc.neighbour != "" {
				if r := e.do("GET", miss(4), "", "", from(tc.neighbour)...); r.StatusCode != http.StatusTooManyRequests {
					t.Errorf("miss from the same /64 = %d; want 429", r.StatusCode)
				}
			}
			if r := e.do("GET", miss(5), "", "", from(tc.stranger)...); r.StatusCode != http.StatusNotFound {
				t.Errorf("miss from another client = %d; want 404", r.StatusCode)
			}
		})
	}
	c.Advance(time.Minute)
	if r := e.do("GET", miss(6), "", "", from("198.51.100.1")...); r.StatusCode != http.StatusNotFound {
		t.Errorf("miss a minute later = %d; want 404", r.StatusCode)
	}
	if r := e.do("GET", miss(7), "", "", from("198.51.100.1")...); r.StatusCode != http.StatusTooManyRequests {
		t.Errorf("second miss a minute later = %d; want 429", r.StatusCode)
	}

	// The audit row names the client the trusted proxy reported.
	evs, err := audit.List(context.Background(), e.db.Read, audit.Filter{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, ev := range evs {
		if ev.Reason == "rate_limited" {
			seen[ev.ClientIP] = true
		}
	}
	for _, ip := range []string{"198.51.100.1", "2001:db8:1:2::1", "2001:db8:1:2:ffff::9"} {
		if !seen[ip] {
			t.Errorf("no rate-limited audit row from %s; rows came from %v", ip, seen)
		}
	}
	if rows := rateLimitedRows(t, e); rows["miss"] != 4 || rows["ip"] != 0 {
		t.Errorf("rate-limited rows by limit = %v; want miss: 4", rows)
	}
}

// serveDefaults are the limits `sharesvc serve` applies when none are given
// (cmd/sharesvc/serve.go: -rate-ip, -rate-miss, -rate-link).
func serveDefaults(t testing.TB, cfg *server.Config) {
	t.Helper()
	for _, l := range []struct {
		p *ratelimit.Limit
		s string
	}{{&cfg.RateIP, "10/s burst 50"}, {&cfg.RateMiss, "20/m burst 20"}, {&cfg.RateLink, "2/s burst 60"}} {
		v, err := ratelimit.ParseLimit(l.s)
		if err != nil {
			t.Fatal(err)
		}
		*l.p = v
	}
}

// TestRateLimitSharedAddress is many people behind one NAT address: under
// the default limits they all open one link at once, and an address that
// has used up its misses still opens real links while its unknown codes
// keep getting 429.
func TestRateLimitSharedAddress(t *testing.T) {
	c := clocktest.New(time.Now())
	e := newEnv(t, envOptions{clock: c.Now, cfg: func(cfg *server.Config) { serveDefaults(t, cfg) }})
	e.put("rl/nat.txt", "nat")
	hit := sharePath(t, e.createLink(e.sharer, `{"key":"rl/nat.txt"}`).URL)

	const n = 30
	codes := make(chan int, n)
	start := make(chan struct{})
	for range n {
		go func() {
			<-start
			r, err := noRedirect.Get(e.http.URL + hit)
			if err != nil {
				codes <- 0
				return
			}
			r.Body.Close()
			codes <- r.StatusCode
		}()
	}
	close(start)
	got := map[int]int{}
	for range n {
		got[<-codes]++
	}
	if got[http.StatusFound] != n {
		t.Errorf("%d concurrent opens of one link from one address = %v; want all 302", n, got)
	}
	c.Advance(10 * time.Second) // the per-address limit refills; misses have not been touched

	miss := func(i int) string { return "/s/" + strings.Repeat("N", 20) + strconv.Itoa(1000+i) }
	for i := range 20 {
		if r := e.do("GET", miss(i), "", ""); r.StatusCode != http.StatusNotFound {
			t.Fatalf("miss %d = %d; want 404", i, r.StatusCode)
		}
	}
	if r := e.do("GET", miss(20), "", ""); r.StatusCode != http.StatusTooManyRequests {
		t.Errorf("21st miss = %d; want 429", r.StatusCode)
	}
	if r := e.do("GET", hit, "", ""); r.StatusCode != http.StatusFound {
		t.Errorf("real code from an address out of misses = %d; want 302", r.StatusCode)
	}
	if r := e.do("GET", miss(21), "", ""); r.StatusCode != http.StatusTooManyRequests {
		t.Errorf("unknown code after that = %d; want 429", r.StatusCode)
	}
}

// TestRateLimitPerLink caps mints of one link; HEAD mints nothing and is
// not charged, and other links are unaffected.
func TestRateLimitPerLink(t *testing.T) {
	e := newEnv(t, envOptions{cfg: func(cfg *server.Config) {
		cfg.RateLink = ratelimit.Limit{Rate: 1.0 / 3600, Burst: 2}
	}})
	e.put("rl/hot.txt", "hot")
	hot := e.createLink(e.sharer, `{"key":"rl/hot.txt"}`)
	cold := e.createLink(e.sharer, `{"key":"rl/hot.txt"}`)
	for i := range 2 {
		if r := e.do("GET", sharePath(t, hot.URL), "", ""); r.StatusCode != http.StatusFound {
			t.Fatalf("mint %d = %d; want 302", i, r.StatusCode)
		}
	}
	r := e.do("GET", sharePath(t, hot.URL), "", "")
	if r.StatusCode != http.StatusTooManyRequests || r.Header.Get("Location") != "" {
		t.Fatalf("third mint = %d (Location %q); want 429 and no URL", r.StatusCode, r.Header.Get("Location"))
	}
	if got := retryAfter(t, r); got != time.Hour {
		t.Errorf("Retry-After = %s; want 1h", got)
	}
	if r := e.do("HEAD", sharePath(t, hot.URL), "", ""); r.StatusCode != http.StatusFound {
		t.Errorf("HEAD of the hot link = %d; want 302 (nothing minted, nothing charged)", r.StatusCode)
	}
	if r := e.do("GET", sharePath(t, cold.URL), "", ""); r.StatusCode != http.StatusFound {
		t.Errorf("another link = %d; want 302", r.StatusCode)
	}
	evs := e.events(hot.ID) // newest first: HEAD, the refusal, two mints, create
	if len(evs) != 5 || evs[1].Reason != "rate_limited" || evs[1].Detail != `{"limit":"link"}` {
		t.Errorf("audit rows of the hot link = %+v; want the refusal second newest, by the link limit", evs)
	}
	l, err := links.NewStore(e.db.Read).Get(context.Background(), hot.ID)
	if err != nil || l.Uses != 2 {
		t.Errorf("hot link uses = %v, %v; want 2 (the refused request spent none)", l, err)
	}
}

// TestRateLimitPerToken caps API calls per token.
func TestRateLimitPerToken(t *testing.T) {
	c := clocktest.New(time.Now())
	e := newEnv(t, envOptions{clock: c.Now, cfg: func(cfg *server.Config) {
		cfg.RateToken = ratelimit.Limit{Rate: 1, Burst: 3}
	}})
	// newEnv's token creation is not an API call; the first three are free.
	for i := range 3 {
		if r := e.do("GET", "/api/v1/links", e.sharer, ""); r.StatusCode != http.StatusOK {
			t.Fatalf("call %d = %s", i, fmtResp(r, readAll(t, r.Body)))
		}
	}
	r := e.do("GET", "/api/v1/links", e.sharer, "")
	if r.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("4th call = %d; want 429", r.StatusCode)
	}
	if got := retryAfter(t, r); got != time.Second {
		t.Errorf("Retry-After = %s; want 1s", got)
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/problem+json" {
		t.Errorf("Content-Type = %q; want problem+json", ct)
	}
	if r := e.do("GET", "/api/v1/links", e.admin, ""); r.StatusCode != http.StatusOK {
		t.Errorf("another token = %d; want 200", r.StatusCode)
	}
	c.Advance(time.Second)
	if r := e.do("GET", "/api/v1/links", e.sharer, ""); r.StatusCode != http.StatusOK {
		t.Errorf("after Retry-After = %d; want 200", r.StatusCode)
	}
	evs, err := audit.List(context.Background(), e.db.Read, audit.Filter{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, ev := range evs {
		if ev.Action == audit.ActionAPIRequest && ev.Reason == "rate_limited" && strings.HasPrefix(ev.Actor, "sharer-") {
			found = true
		}
	}
	if !found {
		t.Errorf("no audited api.request refusal for the sharer token in %d rows", len(evs))
	}
}
