package server_test

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/sharesvc/sharesvc/internal/audit"
	"github.com/sharesvc/sharesvc/internal/clocktest"
	"github.com/sharesvc/sharesvc/internal/grants"
	"github.com/sharesvc/sharesvc/internal/oidc"
	"github.com/sharesvc/sharesvc/internal/people"
	"github.com/sharesvc/sharesvc/internal/ratelimit"
	"github.com/sharesvc/sharesvc/internal/server"
	"github.com/sharesvc/sharesvc/internal/testrig/oidcop"
)

// The people of the test provider: a sharer by default, and an admin by
// the share-admins group.
var (
	opSharer = oidcop.User{Subject: "u-sam", Username: "sam", Password: "sam-pw", Email: "sam@example.com", EmailVerified: true,
		Name: "Sam Sharer", Groups: []string{"staff"}}
	opAdmin = oidcop.User{Subject: "u-ada", Username: "ada", Password: "ada-pw", Email: "ada@example.com", EmailVerified: true,
		Name: "Ada Admin", Groups: []string{"staff", "share-admins"}}
)

const (
	opClientID     = "sharesvc"
	opClientSecret = "sharesvc-test-secret"
	opOtherClient  = "other-app"
)

// oidcEnv is a sharesvc whose console signs people in through a real
// OpenID Provider (internal/testrig/oidcop) on 127.0.0.1. sharesvc's time
// (session checks, audit) is clk; its ID token checks read idClk, so that
// moving sharesvc through its check intervals does not also age the
// tokens the provider, on real time, issues at each check.
type oidcEnv struct {
	*env
	base  string // where browsers and clients reach sharesvc (its public URL)
	op    *oidcop.Provider
	clk   *clocktest.Clock
	idClk *clocktest.Clock
	rp    *oidc.Provider
}

// newOIDCEnv starts the provider and a sharesvc signing in through it;
// tokenSignIn keeps the API token form as well.
func newOIDCEnv(t *testing.T, tokenSignIn bool) *oidcEnv {
	t.Helper()
	return newOIDCEnvWith(t, tokenSignIn, envOptions{})
}

// newOIDCEnvWith is newOIDCEnv with options (its clock, public URL, OIDC
// settings and dependency are set here; o.cfg then adjusts the config).
func newOIDCEnvWith(t *testing.T, tokenSignIn bool, o envOptions) *oidcEnv {
	t.Helper()
	start := time.Now()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	// localhost, not 127.0.0.1 as the provider: another site, as a real
	// provider is, so that the browser applies its cross-site cookie rules
	// on the way back.
	base := "http://localhost:" + strings.TrimPrefix(ln.Addr().String(), "127.0.0.1:")
	callback := base + "/ui/oidc/callback"
	op, err := oidcop.Start(context.Background(), []oidcop.User{opSharer, opAdmin}, []oidcop.Client{
		{ID: opClientID, Secret: opClientSecret, RedirectURIs: []string{callback}, PostLogoutRedirectURIs: []string{base + "/ui/signin"}},
		// Another application of the same provider, which sends its
		// people to the same address: its codes and ID tokens are not
		// sharesvc's.
		{ID: opOtherClient, Secret: "other-secret", RedirectURIs: []string{callback}},
	})
	if err != nil {
		t.Fatalf("start the OpenID Provider: %v", err)
	}
	t.Cleanup(func() { op.Close() })
	clk, idClk := clocktest.New(time.Now()), clocktest.New(time.Now())
	rp, err := oidc.New(oidc.Config{Issuer: op.Issuer, ClientID: opClientID, ClientSecret: opClientSecret, RedirectURL: callback,
		Scopes: []string{"openid", "email", "profile", "offline_access", "groups"}}, nil, func() time.Time {
		return idClk.Now().Add(time.Since(start))
	})
	if err != nil {
		t.Fatal(err)
	}
	roles, err := people.ParseRoleMap("admin=share-admins,auditor=auditors")
	if err != nil {
		t.Fatal(err)
	}
	o.clock = clk.Now
	adjust := o.cfg // the caller's changes, such as the provider's name
	o.cfg = func(c *server.Config) {
		c.PublicURL = base
		c.OIDC = server.OIDCConfig{Roles: roles, CheckInterval: 5 * time.Minute, OfflineGrace: 15 * time.Minute}
		c.NoTokenSignIn = !tokenSignIn
		if adjust != nil {
			adjust(c)
		}
	}
	o.deps = func(d *server.Deps) { d.OIDC = rp }
	e := newEnv(t, o)
	hs := &http.Server{Handler: e.srv, ReadHeaderTimeout: 10 * time.Second}
	go hs.Serve(ln)
	t.Cleanup(func() { hs.Close() })
	return &oidcEnv{env: e, base: base, op: op, clk: clk, idClk: idClk, rp: rp}
}

// oidcClient is a browser without a browser: a cookie jar, no redirects
// followed, the provider's login form posted by oidcop.Login.
type oidcClient struct {
	t    *testing.T
	e    *oidcEnv
	c    *http.Client
	csrf string
}

func (e *oidcEnv) client(t *testing.T) *oidcClient {
	jar, _ := cookiejar.New(nil)
	return &oidcClient{t: t, e: e, c: &http.Client{Jar: jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

func (c *oidcClient) get(rawURL string) (*http.Response, string) {
	c.t.Helper()
	if strings.HasPrefix(rawURL, "/") {
		rawURL = c.e.base + rawURL
	}
	resp, err := c.c.Get(rawURL)
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

func (c *oidcClient) post(path string, form url.Values) (*http.Response, string) {
	c.t.Helper()
	req, _ := http.NewRequest("POST", c.e.base+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", c.e.base)
	resp, err := c.c.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	body := readAll(c.t, resp.Body)
	resp.Body.Close()
	return resp, body
}

// authURL starts a sign-in at sharesvc and returns where it sends the
// browser.
func (c *oidcClient) authURL() string {
	c.t.Helper()
	return c.authURLFrom("/ui/oidc/login")
}

// authURLFrom is authURL starting at path (with its return).
func (c *oidcClient) authURLFrom(path string) string {
	c.t.Helper()
	resp, body := c.get(path)
	loc := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusFound || !strings.HasPrefix(loc, c.e.op.Issuer+"/") {
		c.t.Fatalf("GET /ui/oidc/login = %s %q %s; want 302 to the provider", resp.Status, loc, body)
	}
	return loc
}

// login signs u in at the provider for a sign-in sharesvc started and
// returns the provider's answer, unfetched: the callback with code and
// state.
func (c *oidcClient) login(u oidcop.User) *url.URL {
	c.t.Helper()
	back, err := c.e.op.Login(context.Background(), c.authURL(), u.Username, u.Password)
	if err != nil {
		c.t.Fatalf("provider login as %s: %v", u.Username, err)
	}
	if back.Query().Get("code") == "" {
		c.t.Fatalf("the provider answered %s without a code", back.Query().Encode())
	}
	return back
}

// signIn signs u in to the console.
func (c *oidcClient) signIn(u oidcop.User) {
	c.t.Helper()
	resp, body := c.get(c.login(u).String())
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/ui/" {
		c.t.Fatalf("callback for %s = %s %q\n%s", u.Username, resp.Status, resp.Header.Get("Location"), body)
	}
}

// status GETs path and returns the status (a 303 to the sign-in page is
// how the console answers a GET without a session).
func (c *oidcClient) status(path string) int {
	c.t.Helper()
	resp, _ := c.get(path)
	return resp.StatusCode
}

func (e *oidcEnv) events(action string) []audit.Event {
	e.t.Helper()
	evs, err := audit.List(context.Background(), e.db.Read, audit.Filter{Action: action, Limit: 100})
	if err != nil {
		e.t.Fatal(err)
	}
	return evs
}

func detailOf(t *testing.T, ev audit.Event) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(ev.Detail), &m); err != nil {
		t.Fatalf("detail of %s: %v: %s", ev.Action, err, ev.Detail)
	}
	return m
}

// A sharer and an admin sign in through the provider: each lands on the
// console with the role their groups give, the audit log records each
// sign-in with the person's issuer, subject and email, and a person's
// sign-out is recorded and offers the provider's own.
func TestOIDCSignInRolesAndAudit(t *testing.T) {
	e := newOIDCEnv(t, true)
	sam := e.client(t)
	if resp, body := sam.get("/ui/signin"); !strings.Contains(body, `href="/ui/oidc/login"`) || !strings.Contains(body, `id="token"`) {
		t.Fatalf("sign-in page (%s) lacks the provider's button or the token form:\n%s", resp.Status, body)
	}
	sam.signIn(opSharer)
	if got := sam.status("/ui/links"); got != http.StatusOK {
		t.Fatalf("sharer GET /ui/links = %d; want 200", got)
	}
	if got := sam.status("/ui/admin"); got != http.StatusForbidden {
		t.Fatalf("sharer GET /ui/admin = %d; want 403", got)
	}
	if got := sam.status("/ui/tokens"); got != http.StatusOK {
		t.Fatalf("sharer GET /ui/tokens (their own API tokens) = %d; want 200", got)
	}
	ada := e.client(t)
	ada.signIn(opAdmin)
	if got := ada.status("/ui/admin"); got != http.StatusOK {
		t.Fatalf("admin by group GET /ui/admin = %d; want 200", got)
	}
	if resp, body := ada.get("/ui/people"); resp.StatusCode != http.StatusOK || !strings.Contains(body, opSharer.Email) {
		t.Fatalf("admin GET /ui/people = %s; want 200 listing %s", resp.Status, opSharer.Email)
	}

	// A sign-in started from a page returns to it; one naming another
	// site lands on the console's first page.
	for ret, want := range map[string]string{"/ui/audit?action=console.signin": "/ui/audit?action=console.signin", "//evil.example/ui/": "/ui/"} {
		c := e.client(t)
		back, err := e.op.Login(context.Background(), c.authURLFrom("/ui/oidc/login?return="+url.QueryEscape(ret)), opAdmin.Username, opAdmin.Password)
		if err != nil {
			t.Fatal(err)
		}
		if resp, _ := c.get(back.String()); resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != want {
			t.Fatalf("sign-in returning to %q = %s %q; want 303 to %s", ret, resp.Status, resp.Header.Get("Location"), want)
		}
	}

	signins := e.events(audit.ActionSignIn)
	if len(signins) != 4 {
		t.Fatalf("%d sign-in rows; want 4", len(signins))
	}
	for _, ev := range signins {
		d := detailOf(t, ev)
		u, role := opSharer, "sharer"
		if d["subject"] == opAdmin.Subject {
			u, role = opAdmin, "admin"
		}
		if d["issuer"] != e.op.Issuer || d["subject"] != u.Subject || d["email"] != u.Email || d["role"] != role ||
			ev.Actor != u.Email || ev.Outcome != audit.OutcomeOK {
			t.Errorf("sign-in row %+v detail %v; want %s's issuer, subject, email and role %s", ev, d, u.Username, role)
		}
	}
	p, err := people.NewStore(e.db.Read).ByName(context.Background(), opAdmin.Email)
	if err != nil || p.Issuer != e.op.Issuer || p.Subject != opAdmin.Subject || p.Role() != "admin" || p.DisplayName != opAdmin.Name {
		t.Fatalf("person %+v, %v", p, err)
	}

	// Sign-out: recorded, the session gone, the provider's sign-out offered.
	sam.get("/ui/links")
	resp, _ := sam.post("/ui/signout", url.Values{"csrf": {sam.csrf}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/ui/signin?out=1" {
		t.Fatalf("sign-out = %s %q", resp.Status, resp.Header.Get("Location"))
	}
	if _, body := sam.get("/ui/signin?out=1"); !strings.Contains(body, `href="`+e.op.Issuer+`/end_session" id="end-session"`) {
		t.Fatalf("signed-out page offers no provider sign-out:\n%s", body)
	}
	if got := sam.status("/ui/links"); got != http.StatusSeeOther {
		t.Fatalf("GET /ui/links after sign-out = %d; want 303 to sign in", got)
	}
	outs := e.events(audit.ActionSignOut)
	if len(outs) != 1 || outs[0].Actor != opSharer.Email {
		t.Fatalf("sign-out rows %+v; want one by %s", outs, opSharer.Email)
	}
}

// Each forged or stale answer is refused: a tampered state, a replayed
// callback, a code replayed into a new sign-in, a code issued to another
// application (its ID token is for another audience), an ID token that
// expired by the server's clock, and the provider's own error. Each
// leaves no session, names no code or state on the page, and writes a
// refusal row.
func TestOIDCRefusals(t *testing.T) {
	e := newOIDCEnv(t, false)
	refused := func(t *testing.T, c *oidcClient, callback string, status int, reason string) {
		t.Helper()
		before := len(e.events(audit.ActionSignInRefused))
		resp, body := c.get(callback)
		if resp.StatusCode != status {
			t.Fatalf("callback = %s; want %d\n%s", resp.Status, status, body)
		}
		for _, ck := range resp.Cookies() {
			if ck.Name == "sharesvc_session" && ck.Value != "" {
				t.Fatal("a refused sign-in set a session cookie")
			}
		}
		q, _ := url.Parse(callback)
		for _, secret := range []string{q.Query().Get("code"), q.Query().Get("state")} {
			if secret != "" && strings.Contains(body, secret) {
				t.Fatal("the refusal page echoes the code or the state")
			}
		}
		if got := c.status("/ui/links"); got != http.StatusSeeOther {
			t.Fatalf("GET /ui/links after a refused sign-in = %d; want 303: no session", got)
		}
		evs := e.events(audit.ActionSignInRefused)
		if len(evs) != before+1 || evs[0].Reason != reason || evs[0].Outcome != audit.OutcomeDenied {
			t.Fatalf("refusal rows %d -> %d, newest %+v; want one more with reason %s", before, len(evs), evs[0], reason)
		}
		if d := detailOf(t, evs[0]); d["issuer"] != e.op.Issuer {
			t.Fatalf("refusal detail %v lacks the issuer", d)
		}
	}

	t.Run("tampered state", func(t *testing.T) {
		c := e.client(t)
		back := c.login(opSharer)
		q := back.Query()
		q.Set("state", q.Get("state")+"x")
		back.RawQuery = q.Encode()
		refused(t, c, back.String(), http.StatusBadRequest, "state_mismatch")
	})
	t.Run("replayed callback", func(t *testing.T) {
		c := e.client(t)
		back := c.login(opSharer)
		c.get(back.String()) // signs in
		other := e.client(t) // the same answer, again, in a browser that started a sign-in
		other.authURL()
		refused(t, other, back.String(), http.StatusBadRequest, "state_mismatch")
		// The same state twice, with its cookie: the pending sign-in was
		// used up.
		third := e.client(t)
		u, _ := url.Parse(e.base + "/ui/oidc/callback")
		third.c.Jar.SetCookies(u, []*http.Cookie{{Name: "sharesvc_oidc_state", Value: back.Query().Get("state"), Path: "/ui/oidc/callback"}})
		refused(t, third, back.String(), http.StatusBadRequest, "state_unknown")
	})
	t.Run("code replayed into a new sign-in", func(t *testing.T) {
		c := e.client(t)
		used := c.login(opSharer)
		c.get(used.String())
		fresh := e.client(t)
		back := fresh.login(opSharer)
		q := back.Query()
		q.Set("code", used.Query().Get("code"))
		back.RawQuery = q.Encode()
		refused(t, fresh, back.String(), http.StatusForbidden, "refused")
	})
	t.Run("code for another audience", func(t *testing.T) {
		c := e.client(t)
		au, _ := url.Parse(c.authURL())
		q := au.Query()
		q.Set("client_id", opOtherClient) // the other application's sign-in, with sharesvc's state
		q.Del("code_challenge")
		q.Del("code_challenge_method")
		au.RawQuery = q.Encode()
		back, err := e.op.Login(context.Background(), au.String(), opSharer.Username, opSharer.Password)
		if err != nil || back.Query().Get("code") == "" {
			t.Fatalf("login at the other application: %v %v", back, err)
		}
		refused(t, c, back.String(), http.StatusForbidden, "refused")
		// And an ID token the provider issued to the other application is
		// refused by the same checks.
		raw, err := e.op.IDToken(context.Background(), oidcop.Client{ID: opOtherClient, Secret: "other-secret",
			RedirectURIs: []string{e.base + "/ui/oidc/callback"}}, opSharer.Subject, "n-1")
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := e.rp.Verify(context.Background(), raw, "n-1"); err == nil {
			t.Fatal("Verify accepted an ID token for another audience")
		}
	})
	t.Run("expired ID token", func(t *testing.T) {
		c := e.client(t)
		back := c.login(opSharer)
		e.idClk.Advance(6 * time.Minute) // past the ID token's 5 minutes
		defer e.idClk.Advance(-6 * time.Minute)
		refused(t, c, back.String(), http.StatusForbidden, "refused")
	})
	t.Run("provider error", func(t *testing.T) {
		c := e.client(t)
		au, _ := url.Parse(c.authURL())
		back, _ := url.Parse(e.base + "/ui/oidc/callback?error=access_denied&state=" + url.QueryEscape(au.Query().Get("state")))
		refused(t, c, back.String(), http.StatusForbidden, "provider_error")
	})
	if n := len(e.events(audit.ActionSignIn)); n != 2 {
		t.Fatalf("%d sign-ins; want only the 2 the replays started from", n)
	}
}

// With token sign-in off the sign-in page has no token form, and a token
// posted anyway is refused with a page that says to use the provider;
// API calls with a bearer token still work.
func TestOIDCTokenSignInOff(t *testing.T) {
	e := newOIDCEnv(t, false)
	c := e.client(t)
	if _, body := c.get("/ui/signin"); strings.Contains(body, `id="token"`) || !strings.Contains(body, "Sign in with 127.0.0.1") {
		t.Fatalf("sign-in page with token sign-in off:\n%s", body)
	}
	resp, body := c.post("/ui/signin", url.Values{"token": {e.admin}})
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "sign in with your organisation") {
		t.Fatalf("token sign-in = %s\n%s", resp.Status, body)
	}
	if r := e.do("GET", "/api/v1/links", e.sharer, ""); r.StatusCode != http.StatusOK {
		t.Fatalf("API with a bearer token = %s; want 200", r.Status)
	}
}

// Offboarding follows the provider: an admin removed from share-admins
// loses admin at the next check (time injected), a person the provider no
// longer knows loses the session, and while the provider is down a
// session keeps its last checked role for the check interval plus the
// grace, then ends.
func TestOIDCSessionChecks(t *testing.T) {
	e := newOIDCEnv(t, false)
	ada := e.client(t)
	ada.signIn(opAdmin)
	if got := ada.status("/ui/admin"); got != http.StatusOK {
		t.Fatalf("admin GET /ui/admin = %d", got)
	}
	e.op.SetGroups(opAdmin.Subject, "staff")
	e.clk.Advance(4 * time.Minute)
	if got := ada.status("/ui/admin"); got != http.StatusOK {
		t.Fatalf("before the check is due GET /ui/admin = %d; want 200 (last checked role)", got)
	}
	e.clk.Advance(time.Minute + time.Second)
	if got := ada.status("/ui/admin"); got != http.StatusForbidden {
		t.Fatalf("after leaving share-admins GET /ui/admin = %d; want 403; sessions ended: %+v", got, e.events(audit.ActionSessionEnded))
	}
	if got := ada.status("/ui/links"); got != http.StatusOK {
		t.Fatalf("as a sharer now GET /ui/links = %d; want 200", got)
	}
	roles := e.events(audit.ActionPersonRole)
	if len(roles) != 1 {
		t.Fatalf("%d role rows; want 1", len(roles))
	}
	if d := detailOf(t, roles[0]); d["from"] != "admin" || d["to"] != "sharer" || d["because"] != "groups" || roles[0].Actor != opAdmin.Email {
		t.Fatalf("role row %+v %v", roles[0], d)
	}
	// Back in the group, admin again at the next check.
	e.op.SetGroups(opAdmin.Subject, "staff", "share-admins")
	e.clk.Advance(5 * time.Minute)
	if got := ada.status("/ui/admin"); got != http.StatusOK {
		t.Fatalf("back in share-admins GET /ui/admin = %d; want 200", got)
	}

	// The provider forgets the person: the session ends at the next check.
	sam := e.client(t)
	sam.signIn(opSharer)
	e.op.RemoveUser(opSharer.Subject)
	e.clk.Advance(5 * time.Minute)
	if got := sam.status("/ui/links"); got != http.StatusSeeOther {
		t.Fatalf("after the provider forgot the person GET /ui/links = %d; want 303 (signed out)", got)
	}
	ended := e.events(audit.ActionSessionEnded)
	if len(ended) != 1 || ended[0].Actor != opSharer.Email || detailOf(t, ended[0])["reason"] != "provider no longer vouches" {
		t.Fatalf("session-ended rows %+v", ended)
	}

	// The provider goes down: within interval + grace the last checked
	// role holds; past it the session ends.
	e.op.SetDown(true)
	defer e.op.SetDown(false)
	e.clk.Advance(6 * time.Minute)
	if got := ada.status("/ui/admin"); got != http.StatusOK {
		t.Fatalf("provider down within the grace GET /ui/admin = %d; want 200", got)
	}
	e.clk.Advance(14 * time.Minute) // 20 minutes since the last check: the interval and the grace
	if got := ada.status("/ui/admin"); got != http.StatusSeeOther {
		t.Fatalf("provider down past the grace GET /ui/admin = %d; want 303 (signed out)", got)
	}
	ended = e.events(audit.ActionSessionEnded)
	if len(ended) != 2 || detailOf(t, ended[0])["reason"] != "provider unavailable past the offline grace" {
		t.Fatalf("session-ended rows %+v", ended)
	}
	// A sign-in under way when it goes down fails with a clear page.
	e.op.SetDown(false)
	late := e.client(t)
	back := late.login(opAdmin)
	e.op.SetDown(true)
	resp, body := late.get(back.String())
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(body, "cannot be reached") {
		t.Fatalf("sign-in with the provider down = %s\n%s", resp.Status, body)
	}
	if evs := e.events(audit.ActionSignInRefused); len(evs) != 1 || evs[0].Reason != "provider_unavailable" {
		t.Fatalf("refusal rows %+v; want one, provider_unavailable", evs)
	}
}

// The person's groups reach the verbs: with no grant but one for the
// provider group "staff", a member creates a link from the console and a
// person outside it is refused; leaving the group at the provider takes
// the grant away at the next check.
func TestOIDCGroupGrant(t *testing.T) {
	e := newOIDCEnvWith(t, false, envOptions{noGrants: true})
	e.put("staff/memo.txt", "memo")
	g := &grants.Grant{ID: grants.NewID(), Group: "staff", Bucket: testBucket, KeyPrefix: "staff/",
		Actions: []grants.Action{grants.ActionDownload}, CreatedAt: time.Now(), CreatedBy: "test"}
	if err := grants.Insert(context.Background(), e.db.Read, g); err != nil {
		t.Fatal(err)
	}
	sam := e.client(t)
	sam.signIn(opSharer)
	create := func() int {
		t.Helper()
		sam.get("/ui/links")
		resp, _ := sam.post("/ui/links", url.Values{"csrf": {sam.csrf}, "kind": {"download"}, "bucket": {testBucket}, "key": {"staff/memo.txt"}})
		return resp.StatusCode
	}
	if got := create(); got != http.StatusCreated {
		t.Fatalf("a member of staff creates a link = %d; want 201", got)
	}
	e.op.SetGroups(opSharer.Subject, "contractors")
	e.clk.Advance(5 * time.Minute)
	if got := create(); got != http.StatusForbidden {
		t.Fatalf("after leaving staff = %d; want 403", got)
	}
}

// An admin's override of a person's role applies at the person's next
// request and outlasts the checks of their groups; offboarding a person
// ends their session at once and refuses their next sign-in.
func TestOIDCOverrideAndOffboard(t *testing.T) {
	e := newOIDCEnv(t, false)
	ada, sam := e.client(t), e.client(t)
	ada.signIn(opAdmin)
	sam.signIn(opSharer)
	p, err := people.NewStore(e.db.Read).ByName(context.Background(), opSharer.Email)
	if err != nil {
		t.Fatal(err)
	}
	ada.get("/ui/people")
	if resp, body := ada.post("/ui/people/"+p.ID+"/role", url.Values{"csrf": {ada.csrf}, "role": {"admin"}}); resp.StatusCode != http.StatusOK {
		t.Fatalf("override = %s\n%s", resp.Status, body)
	}
	if got := sam.status("/ui/admin"); got != http.StatusOK {
		t.Fatalf("after the override GET /ui/admin = %d; want 200", got)
	}
	e.clk.Advance(5 * time.Minute)
	if got := sam.status("/ui/admin"); got != http.StatusOK {
		t.Fatalf("after a check of groups that map no role GET /ui/admin = %d; want 200: the override wins", got)
	}

	ada.get("/ui/admin")
	if resp, body := ada.post("/ui/admin/offboard", url.Values{"csrf": {ada.csrf}, "name": {opSharer.Email}, "step": {"offboard"}}); resp.StatusCode != http.StatusOK {
		t.Fatalf("offboard = %s\n%s", resp.Status, body)
	}
	if got := sam.status("/ui/links"); got != http.StatusSeeOther {
		t.Fatalf("after offboarding GET /ui/links = %d; want 303 (signed out)", got)
	}
	back := sam.login(opSharer)
	if resp, _ := sam.get(back.String()); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("an offboarded person's sign-in = %s; want 403", resp.Status)
	}
	evs := e.events(audit.ActionSignInRefused)
	if len(evs) != 1 || evs[0].Reason != "offboarded" || evs[0].Actor != opSharer.Email {
		t.Fatalf("refusal rows %+v; want one, offboarded, by %s", evs, opSharer.Email)
	}
}

// During an outage a failed check holds off the next ask for 30 seconds
// only: requests within them do not extend the wait, so the first check
// after the provider is back succeeds and the session lives on.
func TestOIDCOutageRetry(t *testing.T) {
	e := newOIDCEnv(t, false)
	ada := e.client(t)
	ada.signIn(opAdmin)
	e.op.SetDown(true)
	e.clk.Advance(6 * time.Minute) // due: the check fails
	if got := ada.status("/ui/admin"); got != http.StatusOK {
		t.Fatalf("provider down within the grace = %d; want 200", got)
	}
	e.clk.Advance(20 * time.Second) // held off: the provider is not asked
	if got := ada.status("/ui/admin"); got != http.StatusOK {
		t.Fatalf("held off = %d; want 200", got)
	}
	e.op.SetDown(false)
	e.clk.Advance(20 * time.Second) // 40 s after the failure: asked again, and it answers
	if got := ada.status("/ui/admin"); got != http.StatusOK {
		t.Fatalf("provider back = %d; want 200", got)
	}
	e.op.SetDown(true)
	defer e.op.SetDown(false)
	e.clk.Advance(14 * time.Minute) // past the first check's interval and grace, within the new one's
	if got := ada.status("/ui/admin"); got != http.StatusOK {
		t.Fatalf("down again after a successful check = %d; want 200 (that check counts)", got)
	}
	if evs := e.events(audit.ActionSessionEnded); len(evs) != 0 {
		t.Fatalf("sessions ended: %+v", evs)
	}
}

// The sign-in routes sit behind the per-address limit: anyone may call
// them and each touches the database, so one address cannot fill the
// store of pending sign-ins (pushing out other people's) or hammer the
// token lookup. Over the limit they answer a 429 page with Retry-After
// and store nothing.
func TestSignInRoutesAreRateLimited(t *testing.T) {
	e := newOIDCEnvWith(t, true, envOptions{cfg: func(c *server.Config) {
		c.RateIP = ratelimit.Limit{Rate: 0.001, Burst: 3}
	}})
	c := e.client(t)
	pending := func() int {
		t.Helper()
		var n int
		if err := e.db.Read.QueryRow(`SELECT COUNT(*) FROM oidc_logins`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	for i := 0; i < 3; i++ {
		if resp, _ := c.get("/ui/oidc/login"); resp.StatusCode != http.StatusFound {
			t.Fatalf("sign-in %d = %s; want 302 to the provider", i+1, resp.Status)
		}
	}
	for _, path := range []string{"/ui/oidc/login", "/ui/oidc/callback?state=x&code=y"} {
		resp, _ := c.get(path)
		if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
			t.Fatalf("GET %s over the limit = %s (Retry-After %q); want 429 with Retry-After", path, resp.Status, resp.Header.Get("Retry-After"))
		}
	}
	if n := pending(); n != 3 {
		t.Fatalf("%d pending sign-ins stored; want the 3 within the limit", n)
	}
	if resp, _ := c.post("/ui/signin", url.Values{"token": {e.admin}}); resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("token sign-in over the limit = %s; want 429", resp.Status)
	}
}
