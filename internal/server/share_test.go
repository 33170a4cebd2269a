package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sharesvc/sharesvc/internal/clocktest"
	"github.com/sharesvc/sharesvc/internal/db"

	"github.com/sharesvc/sharesvc/internal/audit"
)

type created struct {
	ID    string `json:"id"`
	URL   string `json:"url"`
	State string `json:"state"`
	Uses  int    `json:"uses"`
}

func (e *env) createLink(token, body string) created {
	e.t.Helper()
	return postLinks[created](e, "link", token, body)
}

// postLinks sends body to POST /api/v1/links, requires 201, and decodes
// the answer (a link, or a share: what).
func postLinks[T any](e *env, what, token, body string) T {
	e.t.Helper()
	resp := e.do("POST", "/api/v1/links", token, body)
	b := readAll(e.t, resp.Body)
	if resp.StatusCode != http.StatusCreated {
		e.t.Fatalf("create %s %s: %s", what, body, fmtResp(resp, b))
	}
	var v T
	if err := json.Unmarshal([]byte(b), &v); err != nil {
		e.t.Fatal(err)
	}
	return v
}

func (e *env) events(linkID string) []audit.Event {
	e.t.Helper()
	evs, err := audit.List(context.Background(), e.db.Read, audit.Filter{LinkID: linkID, Limit: 1000})
	if err != nil {
		e.t.Fatal(err)
	}
	return evs
}

func TestOpenRedirectsToWorkingPresignedURL(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.put("reports/q3 final+draft.txt", "the quarterly numbers")
	l := e.createLink(e.sharer, `{"key":"reports/q3 final+draft.txt","expires_in":3600,"presign_ttl":60}`)
	if !strings.HasPrefix(l.URL, "http://share.example/s/") {
		t.Fatalf("url = %q; want http://share.example/s/CODE", l.URL)
	}

	resp := e.do("GET", sharePath(t, l.URL), "", "")
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("GET share = %s; want 302", fmtResp(resp, readAll(t, resp.Body)))
	}
	for h, want := range map[string]string{
		"Cache-Control":   "no-store",
		"Referrer-Policy": "no-referrer",
		"X-Robots-Tag":    "noindex",
	} {
		if got := resp.Header.Get(h); got != want {
			t.Errorf("%s = %q; want %q", h, got, want)
		}
	}
	reqID := resp.Header.Get("X-Request-Id")
	if reqID == "" {
		t.Error("no X-Request-Id")
	}
	loc := resp.Header.Get("Location")
	u, err := url.Parse(loc)
	if err != nil {
		t.Fatal(err)
	}
	if want, _ := url.Parse(e.s3.Endpoint); u.Host != want.Host {
		t.Errorf("Location host = %q; want the S3 endpoint %q", u.Host, want.Host)
	}
	q := u.Query()
	if q.Get("X-Amz-Security-Token") == "" {
		t.Error("Location has no X-Amz-Security-Token: not signed with session credentials")
	}
	cred := q.Get("X-Amz-Credential")
	if strings.HasPrefix(cred, e.s3.AccessKey+"/") {
		t.Errorf("Location is signed with the long-term key %s", e.s3.AccessKey)
	}
	if q.Get("X-Amz-Expires") != "60" {
		t.Errorf("X-Amz-Expires = %q; want 60", q.Get("X-Amz-Expires"))
	}

	got, err := http.Get(loc)
	if err != nil {
		t.Fatal(err)
	}
	body := readAll(t, got.Body)
	got.Body.Close()
	if got.StatusCode != 200 || body != "the quarterly numbers" {
		t.Fatalf("following Location = %d %q; want 200 with the object", got.StatusCode, body)
	}

	// One character changed anywhere in the signed part breaks the signature.
	sig := q.Get("X-Amz-Signature")
	flipped := strings.Replace(loc, sig, flip(sig), 1)
	keyFlipped := strings.Replace(loc, "q3", "q4", 1)
	for name, bad := range map[string]string{"signature": flipped, "key": keyFlipped} {
		r, err := http.Get(bad)
		if err != nil {
			t.Fatal(err)
		}
		r.Body.Close()
		if r.StatusCode != http.StatusForbidden {
			t.Errorf("URL with %s changed = %d; want 403", name, r.StatusCode)
		}
	}

	// The access is audited with the request id, URL expiry and session.
	evs := e.events(l.ID)
	if len(evs) != 2 || evs[0].Outcome != audit.OutcomeMinted || evs[1].Action != audit.ActionLinkCreate {
		t.Fatalf("audit = %+v; want create then one mint", evs)
	}
	// The sharer's link is made under the test bucket's grant, so its
	// session is the grant's: the role's session name and the grant id.
	if evs[0].RequestID != reqID || !strings.HasPrefix(evs[0].STSSession, "sharesvc-test-grt_") || evs[0].URLExpiresAt.IsZero() {
		t.Errorf("mint row = %+v; want request id %s, session name, URL expiry", evs[0], reqID)
	}
}

func flip(s string) string {
	b := []byte(s)
	if b[0] == '0' {
		b[0] = '1'
	} else {
		b[0] = '0'
	}
	return string(b)
}

func TestDeniedLinksGiveNoLocation(t *testing.T) {
	clk := clocktest.New(time.Now())
	e := newEnv(t, envOptions{clock: clk.Now})
	e.put("a.txt", "a")

	revoked := e.createLink(e.admin, `{"key":"a.txt"}`)
	if r := e.do("POST", "/api/v1/links/"+revoked.ID+"/revoke", e.admin, `{"reason":"sent to the wrong person"}`); r.StatusCode != 200 {
		t.Fatalf("revoke = %s", fmtResp(r, readAll(t, r.Body)))
	}
	usedUp := e.createLink(e.admin, `{"key":"a.txt","max_uses":1}`)
	if r := e.do("GET", sharePath(t, usedUp.URL), "", ""); r.StatusCode != http.StatusFound {
		t.Fatalf("first use = %d; want 302", r.StatusCode)
	}
	expired := e.createLink(e.admin, `{"key":"a.txt","expires_in":5}`)
	clk.Advance(6 * time.Second)

	for _, tc := range []struct {
		name, path, reason string
		status             int
	}{
		{"revoked", sharePath(t, revoked.URL), "revoked", 410},
		{"used up", sharePath(t, usedUp.URL), "used_up", 410},
		{"expired", sharePath(t, expired.URL), "expired", 410},
		{"unknown", "/s/AAAAAAAAAAAAAAAAAAAAAAAA", "not_found", 404},
		{"malformed", "/s/short", "not_found", 404},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, method := range []string{"GET", "HEAD"} {
				r := e.do(method, tc.path, "", "")
				body := readAll(t, r.Body)
				if r.StatusCode != tc.status || r.Header.Get("Location") != "" {
					t.Errorf("%s = %s; want %d and no Location", method, fmtResp(r, body), tc.status)
				}
				if r.Header.Get("Cache-Control") != "no-store" {
					t.Errorf("%s Cache-Control = %q; want no-store", method, r.Header.Get("Cache-Control"))
				}
				if method == "GET" {
					var p struct {
						Reason string `json:"reason"`
					}
					if err := json.Unmarshal([]byte(body), &p); err != nil || p.Reason != tc.reason {
						t.Errorf("GET body = %q; want problem JSON with reason %q", body, tc.reason)
					}
				}
			}
			// Browsers get a page, not JSON.
			r := e.do("GET", tc.path, "", "", "Accept", "text/html,*/*")
			if ct := r.Header.Get("Content-Type"); r.StatusCode != tc.status || !strings.HasPrefix(ct, "text/html") {
				t.Errorf("browser GET = %d %s; want %d text/html", r.StatusCode, ct, tc.status)
			}
		})
	}
	for _, id := range []string{revoked.ID, usedUp.ID, expired.ID} {
		for _, ev := range e.events(id) {
			if ev.Action == audit.ActionAccess && ev.Outcome == audit.OutcomeMinted && id != usedUp.ID {
				t.Errorf("link %s minted: %+v", id, ev)
			}
		}
	}
}

func TestHeadMintsNothing(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.put("h.txt", "h")
	l := e.createLink(e.admin, `{"key":"h.txt","max_uses":1}`)
	for i := 0; i < 3; i++ {
		r := e.do("HEAD", sharePath(t, l.URL), "", "")
		if r.StatusCode != http.StatusFound || r.Header.Get("Location") != "" {
			t.Fatalf("HEAD = %d Location %q; want 302 without Location", r.StatusCode, r.Header.Get("Location"))
		}
	}
	evs := e.events(l.ID)
	for _, ev := range evs[:3] {
		if ev.Outcome != audit.OutcomeNothingMinted || ev.Reason != "head" || !ev.URLExpiresAt.IsZero() {
			t.Errorf("HEAD audit row = %+v; want nothing_minted/head", ev)
		}
	}
	// The one use is still there.
	if r := e.do("GET", sharePath(t, l.URL), "", ""); r.StatusCode != http.StatusFound || r.Header.Get("Location") == "" {
		t.Fatalf("GET after HEADs = %d; want 302 with Location", r.StatusCode)
	}
}

func TestPresignedURLExpiresAtS3(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.put("short.txt", "short-lived")
	l := e.createLink(e.admin, `{"key":"short.txt","presign_ttl":2}`)
	r := e.do("GET", sharePath(t, l.URL), "", "")
	loc := r.Header.Get("Location")
	if r.StatusCode != http.StatusFound {
		t.Fatalf("GET = %d; want 302", r.StatusCode)
	}
	// Real time must pass for S3 to see the URL expire; this is the one test
	// that waits, and it asserts S3's verdict, not a duration.
	time.Sleep(3500 * time.Millisecond)
	got, err := http.Get(loc)
	if err != nil {
		t.Fatal(err)
	}
	got.Body.Close()
	if got.StatusCode != http.StatusForbidden {
		t.Fatalf("expired URL = %d; want 403", got.StatusCode)
	}
}

func TestDatabaseHoldsNoCode(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.put("secret.txt", "s")
	var codes []string
	for i := 0; i < 20; i++ {
		l := e.createLink(e.admin, `{"key":"secret.txt"}`)
		code := strings.TrimPrefix(sharePath(t, l.URL), "/s/")
		codes = append(codes, code)
		e.do("GET", "/s/"+code, "", "")
	}
	var dump []byte
	if e.db.Engine() == db.PostgreSQL {
		// Every row of every table, as PostgreSQL prints it.
		rows, err := e.db.Read.Query(`SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()`)
		if err != nil {
			t.Fatal(err)
		}
		var tables []string
		for rows.Next() {
			var name string
			rows.Scan(&name)
			tables = append(tables, name)
		}
		rows.Close()
		for _, name := range tables {
			rows, err := e.db.Read.Query(`SELECT t::text FROM "` + name + `" t`)
			if err != nil {
				t.Fatal(err)
			}
			for rows.Next() {
				var row string
				rows.Scan(&row)
				dump = append(dump, row...)
			}
			rows.Close()
		}
	} else {
		files, _ := filepath.Glob(e.db.Path() + "*")
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			dump = append(dump, b...)
		}
	}
	if len(dump) == 0 {
		t.Fatal("read nothing from the database")
	}
	for _, c := range codes {
		if bytes.Contains(dump, []byte(c)) {
			t.Fatalf("database files contain the raw code %s", c)
		}
	}
	// The token secrets are not there either.
	for _, s := range []string{e.admin, e.sharer} {
		if bytes.Contains(dump, []byte(s)) {
			t.Fatal("database files contain a raw API token")
		}
	}
}

func TestPathVariantsNeverRedirect(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.put("p.txt", "p")
	l := e.createLink(e.admin, `{"key":"p.txt"}`)
	code := strings.TrimPrefix(sharePath(t, l.URL), "/s/")
	for _, p := range []string{"/s//" + code, "/s/./" + code, "/s/" + code + "/", "/s/" + code + "%2F", "/s/%2E/" + code} {
		r := e.do("GET", p, "", "")
		if r.StatusCode != http.StatusNotFound || r.Header.Get("Location") != "" {
			t.Errorf("GET %s = %d Location %q; want 404 without Location", strings.Replace(p, code, "CODE", 1), r.StatusCode, r.Header.Get("Location"))
		}
	}
}
