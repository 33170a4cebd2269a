package server_test

import (
	"context"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sharesvc/sharesvc/internal/audit"
	"github.com/sharesvc/sharesvc/internal/server"
	"github.com/sharesvc/sharesvc/internal/sts"
)

// countingSource counts the sessions asked of STS.
type countingSource struct {
	src sts.Source
	n   atomic.Int64
}

func (c *countingSource) Retrieve(ctx context.Context) (sts.Credentials, error) {
	c.n.Add(1)
	return c.src.Retrieve(ctx)
}

// countingTransport counts the requests sent to S3 at link creation.
type countingTransport struct{ n atomic.Int64 }

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.n.Add(1)
	return http.DefaultTransport.RoundTrip(r)
}

// grantsEnv is a server without the test bucket's default grant, whose
// calls to STS and S3 at link creation are counted.
func grantsEnv(t *testing.T) (*env, *countingSource, *countingTransport) {
	s3 := s3server(t)
	src := &countingSource{src: &sts.AssumeRole{Client: stsClient(s3), RoleARN: s3.RoleARN, SessionName: "sharesvc-test", Duration: 900e9}}
	tr := &countingTransport{}
	e := newEnv(t, envOptions{noGrants: true, source: src, deps: func(d *server.Deps) {
		d.HTTPClient = &http.Client{Transport: tr}
	}})
	return e, src, tr
}

func problemType(t *testing.T, resp *http.Response) string {
	t.Helper()
	p := decode[struct {
		Type   string `json:"type"`
		Detail string `json:"detail"`
	}](t, resp)
	return p.Type + " " + p.Detail
}

// A sharer outside their grants is refused before sharesvc calls STS or
// S3 (so that refusals say nothing about what exists); an admin is not;
// inside a grant the sharer's link is made and carries the grant.
func TestGrantsDecideWhatSharersMayShare(t *testing.T) {
	e, src, tr := grantsEnv(t)
	sharer := "sharer-" + strings.ReplaceAll(t.Name(), "/", "-")
	e.put("home/"+sharer+"/plan.txt", "plan")
	e.put("hr/salaries.csv", "salaries")

	for _, tc := range []struct{ name, body string }{
		{"no grant at all", `{"key":"hr/salaries.csv"}`},
		{"another bucket", `{"bucket":"hr-private","key":"salaries.csv"}`},
		{"missing object, no grant", `{"key":"nothing/here"}`},
	} {
		resp := e.do("POST", "/api/v1/links", e.sharer, tc.body)
		if resp.StatusCode != http.StatusForbidden {
			t.Fatalf("%s: POST %s = %d; want 403", tc.name, tc.body, resp.StatusCode)
		}
		if p := problemType(t, resp); !strings.Contains(p, ":missing-grant ") {
			t.Fatalf("%s: problem %q; want the missing-grant type", tc.name, p)
		}
	}
	if n, m := src.n.Load(), tr.n.Load(); n != 0 || m != 0 {
		t.Fatalf("refused creations made %d AssumeRole calls and %d S3 requests; want none", n, m)
	}

	// Only admins change grants.
	body := `{"person":"` + sharer + `","bucket":"` + testBucket + `","key_prefix":"home/{person}/","actions":["download"],"max_uses":3,"reason":"home folder"}`
	if resp := e.do("POST", "/api/v1/grants", e.sharer, body); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("a sharer created a grant: %d", resp.StatusCode)
	}
	resp := e.do("POST", "/api/v1/grants", e.admin, body)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("create grant = %s", fmtResp(resp, readAll(t, resp.Body)))
	}
	g := decode[server.GrantResponse](t, resp)
	if g.State != "active" || g.MaxUses != 3 || g.KeyPrefix != "home/{person}/" {
		t.Fatalf("grant = %+v", g)
	}
	evs, err := audit.List(context.Background(), e.db.Read, audit.Filter{Action: audit.ActionGrantCreate, Limit: 10})
	if err != nil || len(evs) != 1 || !strings.HasPrefix(evs[0].Actor, "admin-") || !strings.Contains(evs[0].Detail, `"reason":"home folder"`) {
		t.Fatalf("grant.create audit rows = %+v, %v; want one by the admin with the reason", evs, err)
	}

	// Inside the grant: made, with the grant's ceiling as the default cap.
	l := e.createLink(e.sharer, `{"key":"home/`+sharer+`/plan.txt"}`)
	got := decode[server.LinkResponse](t, e.do("GET", "/api/v1/links/"+l.ID, e.sharer, ""))
	if got.GrantID != g.ID || got.MaxUses != 3 {
		t.Fatalf("link made inside the grant = %+v; want grant %s and max_uses 3", got, g.ID)
	}
	for _, tc := range []struct{ name, body string }{
		{"above the grant's use ceiling", `{"key":"home/` + sharer + `/plan.txt","max_uses":5}`},
		{"an action the grant lacks", `{"kind":"upload","key":"home/` + sharer + `/new.txt"}`},
		{"another person's home", `{"key":"home/someone-else/plan.txt"}`},
		{"outside the prefix", `{"key":"hr/salaries.csv"}`},
	} {
		resp := e.do("POST", "/api/v1/links", e.sharer, tc.body)
		if resp.StatusCode != http.StatusForbidden {
			t.Fatalf("%s: POST %s = %d; want 403", tc.name, tc.body, resp.StatusCode)
		}
	}

	// Admins keep their reach, and their links carry no grant.
	a := e.createLink(e.admin, `{"key":"hr/salaries.csv"}`)
	if got := decode[server.LinkResponse](t, e.do("GET", "/api/v1/links/"+a.ID, e.admin, "")); got.GrantID != "" {
		t.Fatalf("an admin's link carries grant %q", got.GrantID)
	}

	// A sharer sees their grants, not others'.
	list := decode[server.GrantListResponse](t, e.do("GET", "/api/v1/grants", e.sharer, ""))
	if len(list.Grants) != 1 || list.Grants[0].ID != g.ID {
		t.Fatalf("the sharer's grants = %+v", list)
	}
	if resp := e.do("GET", "/api/v1/grants?person=someone-else", e.sharer, ""); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("a sharer listed another person's grants: %d", resp.StatusCode)
	}

	// Revoking the grant with its links stops them at once.
	resp = e.do("POST", "/api/v1/grants/"+g.ID+"/revoke", e.admin, `{"reason":"left the team","revoke_links":true}`)
	rv := decode[server.GrantRevokeResponse](t, resp)
	if rv.Grant.State != "revoked" || rv.LinksRevoked != 1 {
		t.Fatalf("revoke grant = %+v", rv)
	}
	if resp := e.do("GET", sharePath(t, l.URL), "", ""); resp.StatusCode != http.StatusGone {
		t.Fatalf("a link of a revoked grant answered %d; want 410", resp.StatusCode)
	}
	if resp := e.do("POST", "/api/v1/links", e.sharer, `{"key":"home/`+sharer+`/plan.txt"}`); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("a link under a revoked grant: %d; want 403", resp.StatusCode)
	}
}

// An upload link never replaces an object: one on the exact key of an
// existing object is refused, and the object keeps its bytes.
func TestUploadLinkRefusedOverExistingObject(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.put("shared/report.pdf", "the original")
	resp := e.do("POST", "/api/v1/links", e.sharer, `{"kind":"upload","key":"shared/report.pdf","max_bytes":100}`)
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("upload link over an existing object = %s; want 400", fmtResp(resp, readAll(t, resp.Body)))
	}
	if p := problemType(t, resp); !strings.Contains(p, "already exists") {
		t.Fatalf("problem %q does not say the object exists", p)
	}
	if b, err := e.s3.GetObject(context.Background(), testBucket, "shared/report.pdf"); err != nil || string(b) != "the original" {
		t.Fatalf("object after the refusal = %q, %v", b, err)
	}
	e.createLink(e.sharer, `{"kind":"upload","key":"shared/new.pdf","max_bytes":100}`)
}

// While the kill switch is on, creating a link signs nothing: no
// AssumeRole, no S3 request; the answer is 503.
func TestKillSwitchStopsCreationWithoutAssumeRole(t *testing.T) {
	e, src, tr := grantsEnv(t)
	e.put("k/x.txt", "x")
	e.createLink(e.admin, `{"key":"k/x.txt"}`)
	if resp := e.do("POST", "/api/v1/killswitch", e.admin, `{"on":true,"reason":"incident"}`); resp.StatusCode != http.StatusOK {
		t.Fatalf("kill switch on: %d", resp.StatusCode)
	}
	n, m := src.n.Load(), tr.n.Load()
	resp := e.do("POST", "/api/v1/links", e.admin, `{"key":"k/x.txt"}`)
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("create while suspended = %d; want 503", resp.StatusCode)
	}
	if n2, m2 := src.n.Load(), tr.n.Load(); n2 != n || m2 != m {
		t.Fatalf("create while suspended made %d AssumeRole calls and %d S3 requests; want none", n2-n, m2-m)
	}
}

// A link made under a grant is signed with that grant's own STS session:
// the URL works inside the grant, the audit row names the grant's session,
// and the same session cannot reach an object outside the grant (S3
// answers 403 when asked directly).
func TestGrantLinksSignWithTheGrantsSession(t *testing.T) {
	e := newEnv(t, envOptions{noGrants: true})
	sharer := "sharer-" + strings.ReplaceAll(t.Name(), "/", "-")
	e.put("team/plan.txt", "the plan")
	e.put("secret/salaries.csv", "salaries")
	g := decode[server.GrantResponse](t, e.do("POST", "/api/v1/grants", e.admin,
		`{"person":"`+sharer+`","bucket":"`+testBucket+`","key_prefix":"team/","actions":["download","upload"]}`))

	l := e.createLink(e.sharer, `{"key":"team/plan.txt"}`)
	r := e.do("GET", sharePath(t, l.URL), "", "")
	loc := r.Header.Get("Location")
	if r.StatusCode != http.StatusFound || loc == "" {
		t.Fatalf("open = %s", fmtResp(r, readAll(t, r.Body)))
	}
	resp, err := http.Get(loc)
	if err != nil {
		t.Fatal(err)
	}
	body := readAll(t, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || body != "the plan" {
		t.Fatalf("GET the grant-signed URL = %d %q", resp.StatusCode, body)
	}
	var minted *audit.Event
	for _, ev := range e.events(l.ID) {
		if ev.Outcome == audit.OutcomeMinted {
			minted = &ev
		}
	}
	if minted == nil || !strings.HasSuffix(minted.STSSession, "-"+g.ID) {
		t.Fatalf("mint row = %+v; want the grant's session (…-%s)", minted, g.ID)
	}
	// The same URL pointed at another key is refused by S3: the signature
	// covers the key, and the session could not read it anyway.
	outside := strings.Replace(loc, "team/plan.txt", "secret/salaries.csv", 1)
	if resp, err := http.Get(outside); err != nil || resp.StatusCode != http.StatusForbidden {
		t.Fatalf("the URL moved outside the grant = %v, %v; want 403", resp.StatusCode, err)
	}

	// An upload link of the grant stores through its own session too.
	u := e.createLink(e.sharer, `{"kind":"upload","key":"team/in.txt","max_bytes":100}`)
	r = e.do("PUT", sharePath(t, u.URL), "", "hello", "If-None-Match", "*")
	req, _ := http.NewRequest("PUT", r.Header.Get("Location"), strings.NewReader("hello"))
	req.Header.Set("If-None-Match", "*")
	put, err := http.DefaultClient.Do(req)
	if err != nil || put.StatusCode != http.StatusOK {
		t.Fatalf("PUT through the grant's session = %v, %v", put.StatusCode, err)
	}
	put.Body.Close()
	if b, err := e.s3.GetObject(context.Background(), testBucket, "team/in.txt"); err != nil || string(b) != "hello" {
		t.Fatalf("uploaded object = %q, %v", b, err)
	}
}

// Offboarding a person ends their grants too, so that a later token of the
// same name inherits nothing.
func TestOffboardEndsPersonGrants(t *testing.T) {
	e := newEnv(t, envOptions{noGrants: true})
	id := e.grant("bob", "bob/")
	if r := e.do("POST", "/api/v1/offboard", e.admin, `{"name":"bob","reason":"left"}`); r.StatusCode != http.StatusOK {
		t.Fatalf("offboard = %s", fmtResp(r, readAll(t, r.Body)))
	}
	if g := decode[server.GrantResponse](t, e.do("GET", "/api/v1/grants/"+id, e.admin, "")); g.State != "revoked" || g.RevokeReason != "left" {
		t.Fatalf("bob's grant after offboarding = %+v; want revoked", g)
	}
}

// The kill switch turned on through one instance stops another on its next
// request, and the other drops its cached STS session once it has seen the
// switch (at most killCacheTTL later), as the instance that turned it on
// does at once.
func TestKillSwitchThroughAnotherInstance(t *testing.T) {
	a := newEnv(t, envOptions{})
	b := newEnv(t, envOptions{dsn: a.dsn})
	a.put("k/other.txt", "x")
	l := a.createLink(a.admin, `{"key":"k/other.txt"}`)
	if r := a.do("GET", sharePath(t, l.URL), "", ""); r.StatusCode != http.StatusFound {
		t.Fatalf("open through A = %d; want 302", r.StatusCode)
	}
	if _, ok := a.signer.Session(); !ok {
		t.Fatal("A holds no STS session after minting")
	}
	if r := b.do("POST", "/api/v1/killswitch", a.admin, `{"on":true,"reason":"incident"}`); r.StatusCode != http.StatusOK {
		t.Fatalf("kill switch on through B: %d", r.StatusCode)
	}
	r := a.do("GET", sharePath(t, l.URL), "", "")
	if r.StatusCode == http.StatusFound || r.Header.Get("Location") != "" {
		t.Fatalf("open through A after B turned the kill switch on = %d with Location %t; want refused", r.StatusCode, r.Header.Get("Location") != "")
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		a.do("GET", sharePath(t, l.URL), "", "")
		if _, ok := a.signer.Session(); !ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("A still holds its STS session 5 s after B turned the kill switch on")
		}
		time.Sleep(100 * time.Millisecond)
	}
}
