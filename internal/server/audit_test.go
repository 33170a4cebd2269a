package server_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sharesvc/sharesvc/internal/clocktest"

	"github.com/sharesvc/sharesvc/internal/audit"
	"github.com/sharesvc/sharesvc/internal/auth"
	"github.com/sharesvc/sharesvc/internal/db"
	"github.com/sharesvc/sharesvc/internal/ratelimit"
	"github.com/sharesvc/sharesvc/internal/server"
	"github.com/sharesvc/sharesvc/internal/sts"
)

// byRequest returns the audit rows of one request id.
func (e *env) byRequest(id string) []audit.Event {
	e.t.Helper()
	if id == "" {
		e.t.Fatal("response has no X-Request-Id")
	}
	evs, err := audit.List(context.Background(), e.db.Read, audit.Filter{RequestID: id, Limit: 100})
	if err != nil {
		e.t.Fatal(err)
	}
	return evs
}

// switchSource is the real AssumeRole that can be made to fail.
type switchSource struct {
	sts.Source
	fail atomic.Bool
}

func (s *switchSource) Retrieve(ctx context.Context) (sts.Credentials, error) {
	if s.fail.Load() {
		return sts.Credentials{}, errors.New("sts: connection refused")
	}
	return s.Source.Retrieve(ctx)
}

func TestEveryLinkOutcomeWritesOneRow(t *testing.T) {
	clk := clocktest.New(time.Now())
	s3 := s3server(t)
	src := &switchSource{Source: &sts.AssumeRole{Client: stsClient(s3), RoleARN: s3.RoleARN, SessionName: "sharesvc-test", Duration: 15 * time.Minute}}
	e := newEnv(t, envOptions{clock: clk.Now, source: src, cfg: func(c *server.Config) {
		c.RateLink = ratelimit.Limit{Rate: 0.0001, Burst: 1} // the second mint of a link is refused
	}})
	e.put("o.txt", "o")
	live := e.createLink(e.admin, `{"key":"o.txt"}`)
	hot := e.createLink(e.admin, `{"key":"o.txt"}`)
	revoked := e.createLink(e.admin, `{"key":"o.txt"}`)
	e.do("POST", "/api/v1/links/"+revoked.ID+"/revoke", e.admin, `{}`)
	usedUp := e.createLink(e.admin, `{"key":"o.txt","max_uses":1}`)
	if r := e.do("GET", sharePath(t, usedUp.URL), "", ""); r.StatusCode != 302 {
		t.Fatalf("first use = %d", r.StatusCode)
	}
	later := e.createLink(e.admin, fmt.Sprintf(`{"key":"o.txt","not_before":%q}`, clk.Now().Add(time.Hour).UTC().Format(time.RFC3339)))
	upload := e.createLink(e.admin, `{"kind":"upload","key":"up.txt"}`)
	expiring := e.createLink(e.admin, `{"key":"o.txt","expires_in":5}`)
	spare := e.createLink(e.admin, `{"key":"o.txt"}`)
	clk.Advance(6 * time.Second)

	for _, tc := range []struct {
		name, method, path, linkID string
		before                     func()
		status                     int
		outcome, reason            string
	}{
		{"minted", "GET", sharePath(t, live.URL), live.ID, nil, 302, audit.OutcomeMinted, ""},
		{"head", "HEAD", sharePath(t, live.URL), live.ID, nil, 302, audit.OutcomeNothingMinted, "head"},
		{"not found", "GET", "/s/AAAAAAAAAAAAAAAAAAAAAAAA", "", nil, 404, audit.OutcomeDenied, "not_found"},
		{"revoked", "GET", sharePath(t, revoked.URL), revoked.ID, nil, 410, audit.OutcomeDenied, "revoked"},
		{"expired", "GET", sharePath(t, expiring.URL), expiring.ID, nil, 410, audit.OutcomeDenied, "expired"},
		{"used up", "GET", sharePath(t, usedUp.URL), usedUp.ID, nil, 410, audit.OutcomeDenied, "used_up"},
		{"not yet valid", "GET", sharePath(t, later.URL), later.ID, nil, 403, audit.OutcomeDenied, "not_yet_valid"},
		{"wrong kind", "GET", "/s/" + strings.TrimPrefix(upload.URL, "http://share.example/u/"), upload.ID, nil, 404, audit.OutcomeDenied, "wrong_kind"},
		{"rate limited", "GET", sharePath(t, hot.URL), hot.ID, func() { e.do("GET", sharePath(t, hot.URL), "", "") }, 429, audit.OutcomeDenied, "rate_limited"},
		{"preview bot", "GET", sharePath(t, live.URL), live.ID, nil, 200, audit.OutcomeNothingMinted, "preview"},
		{"signer unavailable", "GET", sharePath(t, spare.URL), spare.ID, func() { src.fail.Store(true); e.signer.Drop() }, 503, audit.OutcomeUnavailable, "signer_unavailable"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.before != nil {
				tc.before()
			}
			ua := "agent/" + strings.ReplaceAll(tc.name, " ", "-")
			if tc.reason == "preview" {
				ua = "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)"
			}
			r := e.do(tc.method, tc.path, "", "", "User-Agent", ua)
			if r.StatusCode != tc.status {
				t.Fatalf("%s = %s; want %d", tc.method, fmtResp(r, readAll(t, r.Body)), tc.status)
			}
			minted := tc.outcome == audit.OutcomeMinted
			if (r.Header.Get("Location") != "") != minted {
				t.Fatalf("Location = %q; want one only for a mint", r.Header.Get("Location"))
			}
			evs := e.byRequest(r.Header.Get("X-Request-Id"))
			if len(evs) != 1 {
				t.Fatalf("rows for the request = %d (%+v); want exactly 1", len(evs), evs)
			}
			ev := evs[0]
			if ev.Action != audit.ActionAccess || ev.Actor != audit.ActorClient || ev.LinkID != tc.linkID ||
				ev.Outcome != tc.outcome || ev.Reason != tc.reason || ev.ClientIP != "127.0.0.1" || ev.UserAgent != ua {
				t.Fatalf("row = %+v; want link.access by client, link %q, %s/%s, 127.0.0.1, %s", ev, tc.linkID, tc.outcome, tc.reason, ua)
			}
			if minted != !ev.URLExpiresAt.IsZero() || minted != (ev.STSSession == "sharesvc-test") {
				t.Fatalf("row url_expires_at %v, sts_session %q; want both only for a mint", ev.URLExpiresAt, ev.STSSession)
			}
			if minted {
				exp, _ := url.Parse(r.Header.Get("Location"))
				if got := exp.Query().Get("X-Amz-Expires"); got != "60" || !ev.URLExpiresAt.After(clk.Now()) {
					t.Fatalf("URL expiry %v for X-Amz-Expires %s; want about a minute from now", ev.URLExpiresAt, got)
				}
			}
		})
	}
	src.fail.Store(false)
}

func TestEveryAdminActWritesOneRow(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.put("adm/a.txt", "a")
	e.createLink(e.sharer, `{"key":"adm/a.txt"}`) // for the bulk revoke
	adminName := "admin-" + t.Name()
	var newTokenID string
	var linkID string
	for _, tc := range []struct {
		name, method, path, body, action string
		status                           int
		path2                            func() string
	}{
		{"link created", "POST", "/api/v1/links", `{"key":"adm/a.txt"}`, audit.ActionLinkCreate, 201, nil},
		{"link revoked", "POST", "", `{"reason":"wrong person"}`, audit.ActionLinkRevoke, 200, func() string { return "/api/v1/links/" + linkID + "/revoke" }},
		{"bulk revoke", "POST", "/api/v1/links/bulk-revoke", `{"key_prefix":"adm/","reason":"project over"}`, audit.ActionBulkRevoke, 200, nil},
		{"token created", "POST", "/api/v1/tokens", `{"name":"carol","role":"sharer"}`, audit.ActionTokenCreate, 201, nil},
		{"token revoked", "POST", "", `{}`, audit.ActionTokenRevoke, 200, func() string { return "/api/v1/tokens/" + newTokenID + "/revoke" }},
		{"offboarding", "POST", "/api/v1/offboard", `{"name":"carol","reason":"left"}`, audit.ActionOffboard, 200, nil},
		{"kill switch on", "POST", "/api/v1/killswitch", `{"on":true,"reason":"drill"}`, audit.ActionKillSwitch, 200, nil},
		{"kill switch off", "POST", "/api/v1/killswitch", `{"on":false}`, audit.ActionKillSwitch, 200, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := tc.path
			if tc.path2 != nil {
				path = tc.path2()
			}
			r := e.do(tc.method, path, e.admin, tc.body, "User-Agent", "admin-cli/1")
			body := readAll(t, r.Body)
			if r.StatusCode != tc.status {
				t.Fatalf("%s %s = %s; want %d", tc.method, path, fmtResp(r, body), tc.status)
			}
			var out map[string]any
			json.Unmarshal([]byte(body), &out)
			switch tc.action {
			case audit.ActionLinkCreate:
				linkID, _ = out["id"].(string)
			case audit.ActionTokenCreate:
				newTokenID, _ = out["id"].(string)
			}
			evs := e.byRequest(r.Header.Get("X-Request-Id"))
			n := 0
			for _, ev := range evs {
				if ev.Action == tc.action {
					n++
					if ev.Actor != adminName || ev.Outcome != audit.OutcomeOK || ev.ClientIP != "127.0.0.1" || ev.UserAgent != "admin-cli/1" {
						t.Errorf("row = %+v; want actor %s, ok, 127.0.0.1, admin-cli/1", ev, adminName)
					}
				}
			}
			if n != 1 {
				t.Fatalf("%s rows for the request = %d (%+v); want exactly 1", tc.action, n, evs)
			}
		})
	}
}

func TestAuditHoldsNoSecrets(t *testing.T) {
	var logs bytes.Buffer
	var mu sync.Mutex
	lw := writerFunc(func(p []byte) (int, error) { mu.Lock(); defer mu.Unlock(); return logs.Write(p) })
	e := newEnv(t, envOptions{logger: slog.New(slog.NewTextHandler(lw, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	e.put("s/secret.txt", "s")
	secrets := []string{e.admin, e.sharer}
	for i := 0; i < 5; i++ {
		l := e.createLink(e.sharer, `{"key":"s/secret.txt","max_uses":2}`)
		code := strings.TrimPrefix(sharePath(t, l.URL), "/s/")
		secrets = append(secrets, code)
		for j := 0; j < 3; j++ { // minted, minted, used up
			r := e.do("GET", "/s/"+code, "", "")
			if loc := r.Header.Get("Location"); loc != "" {
				u, _ := url.Parse(loc)
				secrets = append(secrets, loc, u.Query().Get("X-Amz-Signature"), u.Query().Get("X-Amz-Security-Token"), u.RawQuery)
			}
		}
		e.do("HEAD", "/s/"+code, "", "")
		e.do("GET", "/s/"+code+"x", "", "") // a near miss
		e.do("POST", "/api/v1/links/"+l.ID+"/revoke", e.sharer, `{}`)
		e.do("GET", "/s/"+code, "", "")
	}
	r := e.do("POST", "/api/v1/tokens", e.admin, `{"name":"dave","role":"auditor"}`)
	tok := decode[map[string]any](t, r)
	auditor, _ := tok["token"].(string)
	if auditor == "" {
		t.Fatalf("token create answered %v", tok)
	}
	secrets = append(secrets, auditor)

	var haystacks = map[string][]byte{}
	files, _ := filepath.Glob(e.db.Path() + "*")
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		haystacks["database file "+filepath.Base(f)] = b
	}
	for _, p := range []string{"/metrics", "/api/v1/audit?limit=1000", "/api/v1/audit/export?format=jsonl", "/api/v1/audit/export?format=csv"} {
		var r *http.Response
		if p == "/metrics" { // on the private listener
			var err error
			if r, err = http.Get(e.ops.URL + p); err != nil {
				t.Fatal(err)
			}
			defer r.Body.Close()
		} else {
			r = e.do("GET", p, auditor, "")
		}
		if r.StatusCode != 200 {
			t.Fatalf("GET %s = %d", p, r.StatusCode)
		}
		haystacks[p] = []byte(readAll(t, r.Body))
	}
	mu.Lock()
	haystacks["service log"] = bytes.Clone(logs.Bytes())
	mu.Unlock()
	if len(haystacks["service log"]) == 0 || !bytes.Contains(haystacks["/api/v1/audit/export?format=jsonl"], []byte(`"minted"`)) {
		t.Fatal("nothing was logged or audited: the test would prove nothing")
	}
	for where, b := range haystacks {
		for _, s := range secrets {
			if len(s) >= 16 && bytes.Contains(b, []byte(s)) {
				t.Errorf("%s holds a secret (%.6s…)", where, s)
			}
		}
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

func TestAuditFailsClosedAndRecovers(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.put("fc.txt", "fc")
	l := e.createLink(e.admin, `{"key":"fc.txt"}`)

	// Another connection holds the write lock past the busy timeout: the
	// audit cannot be written.
	// (Another instance, on PostgreSQL.)
	other, err := db.Open(context.Background(), e.dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	lock, err := db.BeginWrite(context.Background(), other.Read)
	if err != nil {
		t.Fatal(err)
	}
	var (
		wg        sync.WaitGroup
		mu        sync.Mutex
		locations int
		statuses  = map[int]int{}
		ids       []string
	)
	for i := 0; i < 12; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			method := "GET"
			if i%4 == 3 {
				method = "HEAD"
			}
			req, _ := http.NewRequest(method, e.http.URL+sharePath(t, l.URL), nil)
			resp, err := noRedirect.Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			resp.Body.Close()
			mu.Lock()
			defer mu.Unlock()
			statuses[resp.StatusCode]++
			if resp.Header.Get("Location") != "" {
				locations++
			}
			if resp.StatusCode == 503 && resp.Header.Get("Retry-After") == "" {
				t.Error("503 without Retry-After")
			}
			ids = append(ids, resp.Header.Get("X-Request-Id"))
		}()
	}
	wg.Wait()
	if locations != 0 || statuses[503] != 12 {
		t.Fatalf("while the audit is unwritable: statuses %v, %d with Location; want 12 × 503 and none", statuses, locations)
	}
	// An admin act fails closed too: no link is created unaudited.
	if r := e.do("POST", "/api/v1/links", e.admin, `{"key":"fc.txt"}`); r.StatusCode != 503 {
		t.Fatalf("create while unwritable = %d; want 503", r.StatusCode)
	}
	if err := lock.Rollback(); err != nil {
		t.Fatal(err)
	}

	// Writable again: the same process recovers.
	r := e.do("GET", sharePath(t, l.URL), "", "")
	if r.StatusCode != 302 || r.Header.Get("Location") == "" {
		t.Fatalf("GET after recovery = %s; want 302 with Location", fmtResp(r, readAll(t, r.Body)))
	}
	if evs := e.byRequest(r.Header.Get("X-Request-Id")); len(evs) != 1 || evs[0].Outcome != audit.OutcomeMinted {
		t.Fatalf("row after recovery = %+v; want one mint", evs)
	}
	for _, id := range ids {
		if evs := e.byRequest(id); len(evs) != 0 {
			t.Errorf("a refused request has a row: %+v", evs)
		}
	}
	got := decode[map[string]any](t, e.do("GET", "/api/v1/links/"+l.ID, e.admin, ""))
	if got["uses"] != float64(1) {
		t.Fatalf("uses = %v; want 1 (refused requests spend nothing)", got["uses"])
	}
	if _, err := audit.Verify(context.Background(), e.db.Read); err != nil {
		t.Fatal(err)
	}
}

func TestAuditAPI(t *testing.T) {
	key, _, err := audit.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	priv, err := audit.ParsePrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	var cp *audit.Checkpointer
	e := newEnv(t, envOptions{deps: func(d *server.Deps) {
		cp, err = audit.NewCheckpointer(d.AuditDB, priv, audit.CheckpointOptions{Dir: t.TempDir()})
		if err != nil {
			t.Fatal(err)
		}
		d.Checkpointer = cp
	}})
	e.put("api/a.txt", "a")
	auditor := e.token("auditor", auth.RoleAuditor)
	a := e.createLink(e.sharer, `{"key":"api/a.txt"}`)
	b := e.createLink(e.sharer, `{"key":"api/a.txt"}`)
	for i := 0; i < 3; i++ {
		e.do("GET", sharePath(t, a.URL), "", "")
		e.do("GET", sharePath(t, b.URL), "", "")
	}
	e.do("GET", "/s/AAAAAAAAAAAAAAAAAAAAAAAA", "", "")

	type page struct {
		Events []struct {
			Seq      int64  `json:"seq"`
			Action   string `json:"action"`
			LinkID   string `json:"link_id"`
			Outcome  string `json:"outcome"`
			Reason   string `json:"reason"`
			ClientIP string `json:"client_ip"`
			Hash     string `json:"hash"`
		} `json:"events"`
		NextCursor string `json:"next_cursor"`
	}
	list := func(query string) page {
		t.Helper()
		r := e.do("GET", "/api/v1/audit?"+query, auditor, "")
		if r.StatusCode != 200 {
			t.Fatalf("GET /api/v1/audit?%s = %s", query, fmtResp(r, readAll(t, r.Body)))
		}
		return decode[page](t, r)
	}

	t.Run("filters", func(t *testing.T) {
		p := list("link_id=" + a.ID)
		if len(p.Events) != 4 || p.Events[0].Outcome != "minted" || p.Events[3].Action != audit.ActionLinkCreate || p.NextCursor != "" {
			t.Fatalf("link filter = %+v; want 3 mints then the creation, no next page", p)
		}
		for i := 1; i < len(p.Events); i++ {
			if p.Events[i].Seq >= p.Events[i-1].Seq {
				t.Fatalf("not newest first: %+v", p.Events)
			}
		}
		if p := list("reason=not_found&client_ip=127.0.0.1"); len(p.Events) != 1 || p.Events[0].LinkID != "" {
			t.Fatalf("reason+client_ip filter = %+v; want the one unknown code", p)
		}
		if p := list("outcome=minted&since=" + url.QueryEscape(time.Now().Add(time.Hour).Format(time.RFC3339))); len(p.Events) != 0 {
			t.Fatalf("since in the future = %+v; want nothing", p)
		}
		if p := list("actor=sharer-" + t.Name()[:strings.Index(t.Name(), "/")]); len(p.Events) != 2 {
			t.Fatalf("actor filter = %+v; want the two creations", p)
		}
	})
	t.Run("cursor pages", func(t *testing.T) {
		var seen []int64
		q := "limit=3"
		for pages := 0; pages < 10; pages++ {
			p := list(q)
			for _, ev := range p.Events {
				seen = append(seen, ev.Seq)
			}
			if p.NextCursor == "" {
				break
			}
			q = "limit=3&cursor=" + p.NextCursor
		}
		if len(seen) != 9 || seen[0] != 9 || seen[8] != 1 {
			t.Fatalf("paged seqs = %v; want 9..1", seen)
		}
	})
	t.Run("bad queries", func(t *testing.T) {
		for _, q := range []string{"limit=0", "limit=1001", "limit=x", "cursor=abc", "cursor=-1", "since=yesterday",
			"linkid=lnk_x", "actor=a&actor=b", "since=2026-01-02T00:00:00Z&until=2026-01-01T00:00:00Z"} {
			r := e.do("GET", "/api/v1/audit?"+q, auditor, "")
			p := decode[map[string]any](t, r)
			if r.StatusCode != 400 || p["type"] != "urn:sharesvc:problem:invalid-audit-query" {
				t.Errorf("GET ?%s = %d %v; want 400 invalid-audit-query", q, r.StatusCode, p)
			}
		}
		if r := e.do("GET", "/api/v1/audit/export?format=xml", auditor, ""); r.StatusCode != 400 {
			t.Errorf("export format=xml = %d; want 400", r.StatusCode)
		}
	})
	t.Run("export", func(t *testing.T) {
		r := e.do("GET", "/api/v1/audit/export?format=csv&link_id="+b.ID, auditor, "")
		if ct := r.Header.Get("Content-Type"); r.StatusCode != 200 || !strings.HasPrefix(ct, "text/csv") ||
			!strings.HasPrefix(r.Header.Get("Content-Disposition"), "attachment;") {
			t.Fatalf("CSV export = %d %s %s", r.StatusCode, ct, r.Header.Get("Content-Disposition"))
		}
		recs, err := csv.NewReader(r.Body).ReadAll()
		if err != nil || len(recs) != 5 || recs[0][0] != "seq" || recs[1][2] != audit.ActionLinkCreate {
			t.Fatalf("CSV = %v, %v; want a header, the creation and 3 mints, oldest first", recs, err)
		}
		r = e.do("GET", "/api/v1/audit/export", auditor, "")
		lines := strings.Split(strings.TrimSpace(readAll(t, r.Body)), "\n")
		if r.Header.Get("Content-Type") != "application/x-ndjson" || len(lines) != 9 {
			t.Fatalf("JSONL export = %s, %d lines; want 9", r.Header.Get("Content-Type"), len(lines))
		}
		for _, line := range lines {
			if !json.Valid([]byte(line)) {
				t.Fatalf("invalid JSON line %q", line)
			}
		}
	})
	t.Run("verify and checkpoint", func(t *testing.T) {
		v := decode[map[string]any](t, e.do("GET", "/api/v1/audit/verify", auditor, ""))
		if v["ok"] != true || v["rows"] != float64(9) || v["checkpoint"] != nil {
			t.Fatalf("verify = %v; want ok, 9 rows, no checkpoint yet", v)
		}
		if r := e.do("POST", "/api/v1/audit/checkpoint", auditor, ""); r.StatusCode != 403 {
			t.Fatalf("auditor checkpoint = %d; want 403", r.StatusCode)
		}
		r := e.do("POST", "/api/v1/audit/checkpoint", e.admin, "")
		c := decode[map[string]any](t, r)
		if r.StatusCode != 201 || c["seq"] != float64(9) {
			t.Fatalf("checkpoint = %d %v; want 201 at row 9", r.StatusCode, c)
		}
		if evs := e.byRequest(r.Header.Get("X-Request-Id")); len(evs) != 1 || evs[0].Action != audit.ActionCheckpoint {
			t.Fatalf("checkpoint rows = %+v; want one audit.checkpoint", evs)
		}
		v = decode[map[string]any](t, e.do("GET", "/api/v1/audit/verify", auditor, ""))
		cpv, _ := v["checkpoint"].(map[string]any)
		if v["ok"] != true || cpv["matched"] != true || cpv["seq"] != float64(9) {
			t.Fatalf("verify = %v; want ok with checkpoint 9 matched", v)
		}
		// Cut off the tail behind the service's back: verify notices.
		tx, _ := e.db.Read.Begin()
		if e.db.Engine() == db.PostgreSQL {
			tx.Exec(`DROP TRIGGER audit_events_no_delete ON audit_events`)
		} else {
			tx.Exec(`DROP TRIGGER audit_events_no_delete`)
		}
		tx.Exec(`DELETE FROM audit_events WHERE seq >= 8`)
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
		v = decode[map[string]any](t, e.do("GET", "/api/v1/audit/verify", auditor, ""))
		if v["ok"] != false || v["bad_seq"] != float64(8) || !strings.Contains(fmt.Sprint(v["error"]), "missing at the end") {
			t.Fatalf("verify of a cut log = %v; want not ok, bad row 8", v)
		}
	})
}

func TestUnknownCodeFloodIsSummarized(t *testing.T) {
	flood := audit.NewFlood(audit.FloodOptions{PerClient: 5})
	e := newEnv(t, envOptions{deps: func(d *server.Deps) { d.Flood = flood }})
	for i := 0; i < 30; i++ {
		if r := e.do("GET", fmt.Sprintf("/s/AAAAAAAAAAAAAAAAAAAAA%03d", i), "", ""); r.StatusCode != 404 {
			t.Fatalf("GET = %d; want 404", r.StatusCode)
		}
	}
	evs, err := audit.List(context.Background(), e.db.Read, audit.Filter{Reason: "not_found", Limit: 1000})
	if err != nil || len(evs) != 5 {
		t.Fatalf("not_found rows = %d, %v; want the budget of 5", len(evs), err)
	}
	if err := flood.Write(context.Background(), e.audit, true); err != nil {
		t.Fatal(err)
	}
	sum, err := audit.List(context.Background(), e.db.Read, audit.Filter{Action: audit.ActionAccessSummary})
	if err != nil || len(sum) != 1 || sum[0].ClientIP != "127.0.0.1" || !strings.Contains(sum[0].Detail, `"count":25`) {
		t.Fatalf("summary rows = %+v, %v; want one for 127.0.0.1 with count 25", sum, err)
	}
}

func TestClientIPPrivacyModes(t *testing.T) {
	for _, tc := range []struct {
		mode  audit.IPMode
		check func(string) bool
	}{
		{audit.IPFull, func(s string) bool { return s == "127.0.0.1" }},
		{audit.IPTruncate, func(s string) bool { return s == "127.0.0.0/24" }},
		{audit.IPHash, func(s string) bool { return strings.HasPrefix(s, "hmac:") && !strings.Contains(s, "127.0") }},
	} {
		t.Run(string(tc.mode), func(t *testing.T) {
			p, err := audit.NewIPPrivacy(tc.mode, bytes.Repeat([]byte("k"), 32))
			if err != nil {
				t.Fatal(err)
			}
			e := newEnv(t, envOptions{audit: func(o *audit.Options) { o.IP = p }})
			auditor := e.token("auditor", auth.RoleAuditor)
			r := e.do("GET", "/s/AAAAAAAAAAAAAAAAAAAAAAAA", "", "")
			evs := e.byRequest(r.Header.Get("X-Request-Id"))
			if len(evs) != 1 || !tc.check(evs[0].ClientIP) {
				t.Fatalf("stored client_ip = %+v; want it in %s form", evs, tc.mode)
			}
			// Auditors search by the plain address.
			got := decode[struct{ Events []json.RawMessage }](t, e.do("GET", "/api/v1/audit?client_ip=127.0.0.1", auditor, ""))
			if len(got.Events) != 1 {
				t.Fatalf("client_ip filter found %d rows; want 1", len(got.Events))
			}
		})
	}
}

// TestAuditBudgetBoundsEveryDenial repeats each kind of request that mints
// nothing, each from an address of its own: whoever holds a dead code (or
// none) must not be able to write a row per request. Past the per-client
// budget the requests are counted in metrics and in one summary row.
func TestAuditBudgetBoundsEveryDenial(t *testing.T) {
	const budget, n = 5, 12
	clk := clocktest.New(time.Now())
	flood := audit.NewFlood(audit.FloodOptions{PerClient: budget, Clock: clk.Now})
	e := newEnv(t, envOptions{clock: clk.Now,
		cfg: func(c *server.Config) {
			c.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}
		},
		deps: func(d *server.Deps) { d.Flood = flood },
	})
	e.put("fl.txt", "fl")
	live := e.createLink(e.admin, `{"key":"fl.txt"}`)
	confirm := e.createLink(e.admin, `{"key":"fl.txt","confirm":true,"direct":false}`)
	revoked := e.createLink(e.admin, `{"key":"fl.txt"}`)
	e.do("POST", "/api/v1/links/"+revoked.ID+"/revoke", e.admin, `{}`)
	expired := e.createLink(e.admin, `{"key":"fl.txt","expires_in":5}`)
	clk.Advance(6 * time.Second)

	slack := "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)"
	for i, tc := range []struct {
		reason, method, path, ua string
		status                   int
	}{
		{"not_found", "GET", "/s/" + strings.Repeat("F", 24), "agent/1", 404},
		{"revoked", "GET", sharePath(t, revoked.URL), "agent/1", 410},
		{"expired", "GET", sharePath(t, expired.URL), "agent/1", 410},
		{"head", "HEAD", sharePath(t, live.URL), "agent/1", 302},
		{"preview", "GET", sharePath(t, live.URL), slack, 200},
		{"confirm_page", "GET", sharePath(t, confirm.URL), "agent/1", 200},
	} {
		t.Run(tc.reason, func(t *testing.T) {
			ip := fmt.Sprintf("198.51.100.%d", 10+i)
			for j := range n {
				r := e.do(tc.method, tc.path, "", "", "X-Forwarded-For", ip, "User-Agent", tc.ua)
				if r.StatusCode != tc.status {
					t.Fatalf("request %d = %d; want %d", j, r.StatusCode, tc.status)
				}
			}
			evs, err := audit.List(context.Background(), e.db.Read, audit.Filter{ClientIP: ip, Limit: 1000})
			if err != nil {
				t.Fatal(err)
			}
			if len(evs) > budget {
				t.Errorf("%d %s requests from one address wrote %d rows; want at most the budget of %d", n, tc.reason, len(evs), budget)
			}
			for _, ev := range evs {
				if ev.Reason != tc.reason {
					t.Errorf("row reason %q; want %q", ev.Reason, tc.reason)
				}
			}
			if got := e.value("sharesvc_audit_summarised_total", "reason", tc.reason); got != n-budget {
				t.Errorf("audit_summarised_total{reason=%q} = %v; want %d", tc.reason, got, n-budget)
			}
		})
	}

	// The summaries carry the rest, with the refusal's own outcome.
	sums := map[string]string{}
	for _, ev := range flood.Drain(true) {
		if !strings.Contains(ev.Detail, fmt.Sprintf(`"count":%d`, n-budget)) {
			t.Errorf("summary %s/%s detail %s; want count %d", ev.Outcome, ev.Reason, ev.Detail, n-budget)
		}
		sums[ev.Reason] = ev.Outcome
	}
	want := map[string]string{"not_found": "denied", "revoked": "denied", "expired": "denied",
		"head": "nothing_minted", "preview": "nothing_minted", "confirm_page": "nothing_minted"}
	if !maps.Equal(sums, want) {
		t.Errorf("summaries (reason: outcome) = %v; want %v", sums, want)
	}
}

func TestAuditRelativeTimes(t *testing.T) {
	clk := clocktest.New(time.Now())
	e := newEnv(t, envOptions{clock: clk.Now})
	e.put("rel/a.txt", "a")
	auditor := e.token("auditor", auth.RoleAuditor)
	old := e.createLink(e.sharer, `{"key":"rel/a.txt"}`)
	recent := e.createLink(e.sharer, `{"key":"rel/a.txt"}`)
	// Revoking signs nothing, so the clock may pass the real STS session.
	revoke := func(id string) {
		t.Helper()
		if r := e.do("POST", "/api/v1/links/"+id+"/revoke", e.sharer, `{}`); r.StatusCode != 200 {
			t.Fatalf("revoke = %s", fmtResp(r, readAll(t, r.Body)))
		}
	}
	revoke(old.ID)
	clk.Advance(8 * 24 * time.Hour)
	revoke(recent.ID)

	ids := func(query string) []string {
		t.Helper()
		r := e.do("GET", "/api/v1/audit?action=link.revoke&"+query, auditor, "")
		if r.StatusCode != 200 {
			t.Fatalf("GET ?%s = %s", query, fmtResp(r, readAll(t, r.Body)))
		}
		var got []string
		for _, ev := range decode[struct {
			Events []struct {
				LinkID string `json:"link_id"`
			} `json:"events"`
		}](t, r).Events {
			got = append(got, ev.LinkID)
		}
		return got
	}
	if got := ids("since=7d"); len(got) != 1 || got[0] != recent.ID {
		t.Fatalf("since=7d = %v; want only %s", got, recent.ID)
	}
	if got := ids("since=1w1d1h"); len(got) != 2 {
		t.Fatalf("since=1w1d1h = %v; want both revocations", got)
	}
	if got := ids("until=168h"); len(got) != 1 || got[0] != old.ID {
		t.Fatalf("until=168h = %v; want only %s", got, old.ID)
	}
	r := e.do("GET", "/api/v1/audit/export?format=csv&action=link.revoke&since=7d", auditor, "")
	body := readAll(t, r.Body)
	if r.StatusCode != 200 || !strings.Contains(body, recent.ID) || strings.Contains(body, old.ID) {
		t.Fatalf("export since=7d = %d %s; want only %s", r.StatusCode, body, recent.ID)
	}
	for _, q := range []string{"since=1.5d", "since=-7d", "until=7x"} {
		r := e.do("GET", "/api/v1/audit?"+q, auditor, "")
		p := decode[map[string]any](t, r)
		if r.StatusCode != 400 || p["type"] != "urn:sharesvc:problem:invalid-audit-query" {
			t.Errorf("GET ?%s = %d %v; want 400 invalid-audit-query", q, r.StatusCode, p)
		}
	}
}
