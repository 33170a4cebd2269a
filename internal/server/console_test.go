package server_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/sharesvc/sharesvc/internal/auth"
	"github.com/sharesvc/sharesvc/internal/clocktest"
	"github.com/sharesvc/sharesvc/internal/links"
	"github.com/sharesvc/sharesvc/internal/server"
)

// linkState reads a link's state from the database.
func (e *env) linkState(id string) links.State {
	e.t.Helper()
	l, err := links.NewStore(e.db.Read).Get(context.Background(), id)
	if err != nil {
		e.t.Fatal(err)
	}
	return l.StateAt(e.now())
}

// consoleClient is a browser-like client of the console on e: a cookie jar,
// no redirects followed, and the Origin a browser would send.
type consoleClient struct {
	t      *testing.T
	e      *env
	c      *http.Client
	origin string
	csrf   string
}

func newConsoleClient(t *testing.T, e *env) *consoleClient {
	jar, _ := cookiejar.New(nil)
	return &consoleClient{t: t, e: e, origin: "http://share.example", c: &http.Client{Jar: jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func (c *consoleClient) get(path string) (*http.Response, string) {
	c.t.Helper()
	resp, err := c.c.Get(c.e.http.URL + path)
	if err != nil {
		c.t.Fatal(err)
	}
	body := readAll(c.t, resp.Body)
	resp.Body.Close()
	if m := csrfField.FindStringSubmatch(body); m != nil {
		c.csrf = m[1]
	}
	return resp, body
}

// post sends a form; origin "" sends none.
func (c *consoleClient) post(path, origin string, form url.Values) (*http.Response, string) {
	c.t.Helper()
	req, _ := http.NewRequest("POST", c.e.http.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "text/html")
	if origin != "" {
		req.Header.Set("Origin", origin)
	}
	resp, err := c.c.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	body := readAll(c.t, resp.Body)
	resp.Body.Close()
	return resp, body
}

func (c *consoleClient) signIn(token string) {
	c.t.Helper()
	c.get("/ui/signin")
	resp, body := c.post("/ui/signin", c.origin, url.Values{"csrf": {c.csrf}, "token": {token}})
	if resp.StatusCode != http.StatusSeeOther {
		c.t.Fatalf("sign-in: %s %s", resp.Status, body)
	}
	c.get("/ui/links") // picks up the session's CSRF token
}

// A console form posted without its CSRF token, with a wrong one, or from
// another origin is refused and changes nothing; the session cookie is
// HttpOnly and SameSite=Strict; each role sees only what it may do.
func TestConsoleCSRF(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.put("console/csrf.txt", "x")
	id := e.createLink(e.sharer, `{"key":"console/csrf.txt"}`).ID

	c := newConsoleClient(t, e)
	// Sign-in itself needs the form's value.
	c.get("/ui/signin")
	if resp, _ := c.post("/ui/signin", c.origin, url.Values{"token": {e.sharer}}); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("sign-in without the CSRF value: %s", resp.Status)
	}
	c.get("/ui/signin")
	resp, _ := c.post("/ui/signin", c.origin, url.Values{"csrf": {c.csrf}, "token": {e.sharer}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign-in: %s", resp.Status)
	}
	var sc string
	for _, v := range resp.Header.Values("Set-Cookie") {
		if strings.HasPrefix(v, "sharesvc_session=") {
			sc = v
		}
	}
	if !strings.Contains(sc, "HttpOnly") || !strings.Contains(sc, "SameSite=Strict") || strings.Contains(sc, "Secure") {
		t.Errorf("session cookie %q: want HttpOnly, SameSite=Strict, and no Secure over http", sc)
	}
	if strings.Contains(resp.Header.Get("Location"), "sst_") {
		t.Fatal("the token appears in a URL")
	}
	_, page := c.get("/ui/links")
	if c.csrf == "" || !strings.Contains(page, id) {
		t.Fatalf("links page: no CSRF token or link %s:\n%s", id, page)
	}

	revoke := "/ui/links/" + id + "/revoke"
	for _, tc := range []struct {
		name, origin string
		form         url.Values
	}{
		{"no token", c.origin, url.Values{}},
		{"wrong token", c.origin, url.Values{"csrf": {strings.Repeat("A", len(c.csrf))}}},
		{"other origin", "https://evil.example", url.Values{"csrf": {c.csrf}}},
		{"no origin or referer", "", url.Values{"csrf": {c.csrf}}},
	} {
		resp, body := c.post(revoke, tc.origin, tc.form)
		if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "Form refused") {
			t.Errorf("%s: %s, want 403 Form refused", tc.name, resp.Status)
		}
	}
	if st := e.linkState(id); st != "live" {
		t.Fatalf("a refused form changed the link: state %v", st)
	}
	if resp, _ := c.post(revoke, c.origin, url.Values{"csrf": {c.csrf}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("revoke with the token: %s", resp.Status)
	}
	if st := e.linkState(id); st != "revoked" {
		t.Fatalf("state after revoke: %v", st)
	}

	// Role rules are the API's, and pages offer only what the viewer may do.
	if strings.Contains(page, `href="/ui/admin"`) || strings.Contains(page, `href="/ui/audit"`) {
		t.Error("a sharer's page links to admin or audit pages")
	}
	if resp, _ := c.get("/ui/admin"); resp.StatusCode != http.StatusForbidden {
		t.Errorf("sharer GET /ui/admin: %s", resp.Status)
	}
	aud := newConsoleClient(t, e)
	aud.signIn(e.token("auditor-csrf", auth.RoleAuditor))
	_, page = aud.get("/ui/links")
	if strings.Contains(page, "/revoke") || strings.Contains(page, `method="post" action="/ui/links"`) || strings.Contains(page, `href="/ui/admin"`) {
		t.Error("an auditor's links page offers create, revoke or admin")
	}
	if resp, body := aud.get("/ui/audit/export?format=csv&link_id=" + id); resp.StatusCode != http.StatusOK ||
		!strings.HasPrefix(resp.Header.Get("Content-Type"), "text/csv") || !strings.Contains(body, "link.revoke") {
		t.Errorf("auditor CSV export: %s %q\n%s", resp.Status, resp.Header.Get("Content-Type"), body)
	}
	if resp, _ := aud.post(revoke, aud.origin, url.Values{"csrf": {aud.csrf}}); resp.StatusCode != http.StatusForbidden {
		t.Errorf("auditor revoke: %s", resp.Status)
	}

	// Signing out ends the session; revoking the token ends it too.
	if resp, _ := c.post("/ui/signout", c.origin, url.Values{"csrf": {c.csrf}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign out: %s", resp.Status)
	}
	if resp, _ := c.get("/ui/links"); resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/ui/signin?return=%2Fui%2Flinks" {
		t.Fatalf("after sign-out: %s to %q", resp.Status, resp.Header.Get("Location"))
	}
	adm := newConsoleClient(t, e)
	adm.signIn(e.admin)
	tokID := e.tokenID("auditor-csrf")
	if resp, body := adm.post("/ui/admin/tokens/"+tokID+"/revoke", adm.origin, url.Values{"csrf": {adm.csrf}}); resp.StatusCode != http.StatusOK {
		t.Fatalf("admin revokes a token: %s %s", resp.Status, body)
	}
	if resp, _ := aud.get("/ui/audit"); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("a revoked token's session still works: %s", resp.Status)
	}
}

// The upload page's presign call makes the same checks, spends the same
// use and writes the same audit row as PUT /u/{code}; the page itself
// mints nothing.
func TestUploadPresign(t *testing.T) {
	e := newEnv(t, envOptions{})
	l := e.createLink(e.sharer, `{"kind":"upload","key":"console/presigned.txt","max_bytes":10,"max_uses":1}`)
	path := sharePath(t, l.URL)

	page := e.do("GET", path, "", "", "Accept", "text/html")
	body := readAll(t, page.Body)
	if page.StatusCode != http.StatusOK || !strings.Contains(body, `id="file"`) ||
		!strings.Contains(page.Header.Get("Content-Security-Policy"), "connect-src 'self' https: http:") ||
		page.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("upload page: %s", fmtResp(page, body))
	}
	if strings.Contains(body, "console/presigned.txt") {
		t.Error("the upload page names the object key")
	}

	presign := func(body string, hdr ...string) (*http.Response, string) {
		resp := e.do("POST", path+"/presign", "", body, hdr...)
		return resp, readAll(t, resp.Body)
	}
	if resp, b := presign(`{"size":11}`); resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Fatalf("too large: %s", fmtResp(resp, b))
	}
	if resp, b := presign(`{"size":5}`, "Origin", "https://evil.example"); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("cross-origin: %s", fmtResp(resp, b))
	}
	if resp, b := presign(`{}`); resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("no size: %s", fmtResp(resp, b))
	}
	resp, b := presign(`{"size":5,"content_type":"text/plain"}`)
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("presign: %s", fmtResp(resp, b))
	}
	var out struct {
		URL, Method string
		Headers     map[string]string
	}
	if err := json.Unmarshal([]byte(b), &out); err != nil || out.Method != "PUT" || out.Headers["If-None-Match"] != "*" {
		t.Fatalf("presign answer %s: %v", b, err)
	}
	req, _ := http.NewRequest("PUT", out.URL, strings.NewReader("hello"))
	for k, v := range out.Headers {
		req.Header.Set(k, v)
	}
	put, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	put.Body.Close()
	if put.StatusCode != http.StatusOK {
		t.Fatalf("PUT to the presigned URL: %s", put.Status)
	}
	if got, err := e.s3.GetObject(context.Background(), testBucket, "console/presigned.txt"); err != nil || string(got) != "hello" {
		t.Fatalf("S3 holds %q, %v", got, err)
	}
	// The one use is spent: the next call and the page say so.
	if resp, b := presign(`{"size":5}`); resp.StatusCode != http.StatusGone {
		t.Fatalf("second presign: %s", fmtResp(resp, b))
	}
	gone := e.do("GET", path, "", "", "Accept", "text/html")
	if b := readAll(t, gone.Body); gone.StatusCode != http.StatusGone || strings.Contains(b, "console/") {
		t.Fatalf("page of a used-up link: %s", fmtResp(gone, b))
	}
	var minted, pages int
	for _, ev := range e.events(l.ID) {
		switch {
		case ev.Outcome == "minted":
			minted++
		case ev.Reason == "upload_page":
			pages++
		}
	}
	if minted != 1 || pages != 1 {
		t.Fatalf("audit: %d minted, %d upload_page rows; want 1 and 1", minted, pages)
	}
}

// A console sign-in lasts --console-session-lifetime: the cookie says so,
// and a minute past it the session is gone.
func TestConsoleSessionLifetime(t *testing.T) {
	clk := clocktest.New(time.Now())
	e := newEnv(t, envOptions{clock: clk.Now, cfg: func(c *server.Config) { c.ConsoleSessionTTL = 30 * time.Minute }})
	c := newConsoleClient(t, e)
	c.get("/ui/signin")
	resp, body := c.post("/ui/signin", c.origin, url.Values{"csrf": {c.csrf}, "token": {e.sharer}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign-in: %s %s", resp.Status, body)
	}
	var maxAge int
	for _, ck := range resp.Cookies() {
		if ck.Name == "sharesvc_session" {
			maxAge = ck.MaxAge
		}
	}
	if maxAge != 1800 {
		t.Fatalf("session cookie Max-Age = %d; want 1800", maxAge)
	}
	clk.Advance(29 * time.Minute)
	if resp, _ := c.get("/ui/links"); resp.StatusCode != http.StatusOK {
		t.Fatalf("29 minutes in: %s; want 200", resp.Status)
	}
	clk.Advance(2 * time.Minute)
	if resp, _ := c.get("/ui/links"); resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/ui/signin?return=%2Fui%2Flinks" {
		t.Fatalf("31 minutes in: %s to %q; want 303 to the sign-in page", resp.Status, resp.Header.Get("Location"))
	}
	if _, err := server.New(server.Config{PublicURL: "http://x", DefaultLifetime: time.Hour, MaxLifetime: time.Hour,
		DefaultPresignTTL: time.Minute, MaxPresignTTL: time.Minute, ConsoleSessionTTL: time.Minute}, server.Deps{}); err == nil ||
		!strings.Contains(err.Error(), "console session lifetime") {
		t.Fatalf("a 1-minute console session = %v; want refused", err)
	}
}

// A page asked for without a session sends the browser to sign in and,
// once signed in with a token, back to that page; a return address off
// the console is ignored.
func TestSignInReturnsToThePage(t *testing.T) {
	e := newEnv(t, envOptions{})
	c := newConsoleClient(t, e)
	resp, _ := c.get("/ui/audit?action=link.create")
	want := "/ui/signin?return=" + url.QueryEscape("/ui/audit?action=link.create")
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != want {
		t.Fatalf("GET without a session = %s to %q; want 303 to %q", resp.Status, resp.Header.Get("Location"), want)
	}
	if resp, _ := c.get("/ui/"); resp.Header.Get("Location") != "/ui/signin" {
		t.Fatalf("GET /ui/ without a session to %q; want plain /ui/signin", resp.Header.Get("Location"))
	}
	for _, tc := range []struct{ ret, want string }{
		{"/ui/audit?action=link.create", "/ui/audit?action=link.create"},
		{"//evil.example/ui/", "/ui/"},
		{"https://evil.example/ui/", "/ui/"},
		{"/ui/../api/v1/tokens", "/ui/"},
		{"/ui/oidc/callback?code=x", "/ui/"},
	} {
		c := newConsoleClient(t, e)
		_, body := c.get("/ui/signin?return=" + url.QueryEscape(tc.ret))
		if hidden := `name="return" value="`; (tc.want != "/ui/") != strings.Contains(body, hidden) {
			t.Errorf("sign-in page for return %q: hidden return field present = %v", tc.ret, strings.Contains(body, hidden))
		}
		resp, body := c.post("/ui/signin", c.origin, url.Values{"csrf": {c.csrf}, "token": {e.admin}, "return": {tc.ret}})
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != tc.want {
			t.Errorf("sign-in with return %q = %s to %q; want 303 to %q\n%s", tc.ret, resp.Status, resp.Header.Get("Location"), tc.want, body)
		}
	}
}
