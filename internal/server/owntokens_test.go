package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/sharesvc/sharesvc/internal/audit"
	"github.com/sharesvc/sharesvc/internal/auth"
	"github.com/sharesvc/sharesvc/internal/people"
	"github.com/sharesvc/sharesvc/internal/server"
)

// signedIn records a sign-in of subject through the identity provider (as
// the console's provider sign-in does) and returns the person: a sharer
// unless in group "admins".
func (e *env) signedIn(subject string, groups ...string) *people.Person {
	e.t.Helper()
	m, _ := people.ParseRoleMap("admin=admins")
	p, _, err := people.NewStore(e.db.Read).SignIn(context.Background(), people.Claims{Issuer: "https://op.example",
		Subject: subject, Email: subject + "@corp.example", EmailVerified: true, Groups: groups}, m, e.now())
	if err != nil {
		e.t.Fatal(err)
	}
	return p
}

// ownToken stores a token p minted for themselves and returns its secret.
func (e *env) ownToken(p *people.Person, label string) string {
	e.t.Helper()
	secret, hash := auth.NewSecret()
	now := e.now()
	tok := &auth.Token{ID: auth.NewID(), Name: p.Name + "/" + label + "/x", Role: p.Role(), CreatedAt: now, CreatedBy: p.Name,
		ExpiresAt: now.Add(24 * time.Hour), Owner: p.Name}
	if err := auth.Insert(context.Background(), e.db.Read, tok, hash); err != nil {
		e.t.Fatal(err)
	}
	return secret
}

// A token minted for one's scripts acts as its owner: with the role an
// admin gives them from the next request on, and not at all once they are
// offboarded.
func TestOwnTokenFollowsPerson(t *testing.T) {
	e := newEnv(t, envOptions{})
	dana := e.signedIn("dana", "staff")
	tok := e.ownToken(dana, "ci")
	status := func(method, path, body string) int {
		t.Helper()
		r := e.do(method, path, tok, body)
		readAll(t, r.Body)
		return r.StatusCode
	}
	if got := status("GET", "/api/v1/tokens", ""); got != http.StatusForbidden {
		t.Fatalf("a sharer's token listing tokens = %d; want 403", got)
	}
	r := e.do("PUT", "/api/v1/people/"+dana.ID+"/role", e.admin, `{"role":"admin"}`)
	if p := decode[server.PersonResponse](t, r); r.StatusCode != 200 || p.Role != "admin" || p.Override != "admin" || p.GroupRole != "sharer" {
		t.Fatalf("PUT role admin = %d %+v; want admin by override", r.StatusCode, p)
	}
	if got := status("GET", "/api/v1/tokens", ""); got != http.StatusOK {
		t.Fatalf("after the override, dana's token listing tokens = %d; want 200", got)
	}
	// An admin never changes their own role, even through their token.
	r = e.do("PUT", "/api/v1/people/"+dana.ID+"/role", tok, `{"role":"auditor"}`)
	if body := readAll(t, r.Body); r.StatusCode != 400 || !strings.Contains(body, "your own role") {
		t.Fatalf("PUT own role = %s; want 400 saying why", fmtResp(r, body))
	}
	for _, body := range []string{`{}`, `{"role":"owner"}`, `{"role":""}`} {
		if r := e.do("PUT", "/api/v1/people/"+dana.ID+"/role", e.admin, body); r.StatusCode != 400 {
			t.Errorf("PUT role %s = %d; want 400", body, r.StatusCode)
		}
	}
	if r := e.do("PUT", "/api/v1/people/psn_none/role", e.admin, `{"role":null}`); r.StatusCode != 404 {
		t.Errorf("PUT role of nobody = %d; want 404", r.StatusCode)
	}
	r = e.do("PUT", "/api/v1/people/"+dana.ID+"/role", e.admin, `{"role":null}`)
	if p := decode[server.PersonResponse](t, r); r.StatusCode != 200 || p.Role != "sharer" || p.Override != "" {
		t.Fatalf("PUT role null = %d %+v; want sharer from groups", r.StatusCode, p)
	}
	if got := status("GET", "/api/v1/tokens", ""); got != http.StatusForbidden {
		t.Fatalf("after clearing the override, dana's token listing tokens = %d; want 403", got)
	}
	evs, err := audit.List(context.Background(), e.db.Read, audit.Filter{Action: audit.ActionPersonRole})
	if err != nil || len(evs) != 2 || !strings.Contains(evs[0].Detail, `"from":"admin"`) || !strings.Contains(evs[0].Detail, `"to":"sharer"`) ||
		!strings.Contains(evs[0].Detail, `"because":"override"`) {
		t.Fatalf("person.role rows = %+v, %v; want two, newest from admin to sharer", evs, err)
	}

	r = e.do("GET", "/api/v1/people", e.admin, "")
	var list struct{ People []server.PersonResponse }
	if b := readAll(t, r.Body); r.StatusCode != 200 || json.Unmarshal([]byte(b), &list) != nil || len(list.People) != 1 || list.People[0].Name != dana.Name {
		t.Fatalf("GET /api/v1/people = %s; want dana", fmtResp(r, b))
	}

	// Offboarding revokes it and disables her.
	r = e.do("POST", "/api/v1/offboard", e.admin, fmt.Sprintf(`{"name":%q}`, dana.Name))
	if v := decode[struct {
		TokensRevoked int `json:"tokens_revoked"`
	}](t, r); r.StatusCode != 200 || v.TokensRevoked != 1 {
		t.Fatalf("offboard dana = %d %+v; want her token revoked", r.StatusCode, v)
	}
	if got := status("GET", "/api/v1/links", ""); got != http.StatusUnauthorized {
		t.Fatalf("dana's token after offboarding = %d; want 401", got)
	}
	if p, err := people.NewStore(e.db.Read).Get(context.Background(), dana.ID); err != nil || p.Active() {
		t.Fatalf("dana after offboarding = %+v, %v; want disabled", p, err)
	}
	r = e.do("POST", "/api/v1/people/"+dana.ID+"/enable", e.admin, "")
	if p := decode[server.PersonResponse](t, r); r.StatusCode != 200 || p.DisabledAt != nil {
		t.Fatalf("enable dana = %d %+v; want enabled", r.StatusCode, p)
	}
}

// A disabled person's token is refused though nobody revoked it.
func TestOwnTokenOfDisabledPersonRefused(t *testing.T) {
	e := newEnv(t, envOptions{})
	erin := e.signedIn("erin")
	tok := e.ownToken(erin, "ci")
	if r := e.do("GET", "/api/v1/links", tok, ""); r.StatusCode != 200 {
		t.Fatalf("erin's token = %d; want 200", r.StatusCode)
	}
	if _, err := people.Disable(context.Background(), e.db.Read, erin.Name, e.now()); err != nil {
		t.Fatal(err)
	}
	if r := e.do("GET", "/api/v1/links", tok, ""); r.StatusCode != 401 {
		t.Fatalf("a disabled person's token = %d; want 401", r.StatusCode)
	}
}

// /api/v1/me/tokens: minted with a bounded lifetime and shown once, listed
// and revoked by their owner alone, and never minted by a personal token.
func TestOwnTokensAPI(t *testing.T) {
	e := newEnv(t, envOptions{})
	tess := e.token("tess", auth.RoleSharer)
	other := e.token("otto", auth.RoleSharer)
	list := func(tok string) []server.OwnTokenResponse {
		t.Helper()
		r := e.do("GET", "/api/v1/me/tokens", tok, "")
		var v struct{ Tokens []server.OwnTokenResponse }
		if b := readAll(t, r.Body); r.StatusCode != 200 || json.Unmarshal([]byte(b), &v) != nil {
			t.Fatalf("GET /api/v1/me/tokens = %s", fmtResp(r, b))
		}
		return v.Tokens
	}
	for _, body := range []string{`{"name":"ci","lifetime":"91d"}`, `{"name":"ci","lifetime":"1w2x"}`, `{"name":"c i"}`, `{"name":"ci","lifetime":0}`} {
		if r := e.do("POST", "/api/v1/me/tokens", tess, body); r.StatusCode != 400 {
			t.Errorf("POST %s = %d; want 400", body, r.StatusCode)
		}
	}
	if n := len(list(tess)); n != 0 {
		t.Fatalf("refused mints stored %d tokens", n)
	}
	r := e.do("POST", "/api/v1/me/tokens", tess, `{"name":"ci","lifetime":"7d"}`)
	got := decode[server.OwnTokenResponse](t, r)
	if r.StatusCode != 201 || !strings.HasPrefix(got.Token, "sst_") || got.Name != "ci" || got.Role != "sharer" ||
		got.ExpiresAt.Sub(got.CreatedAt) != 7*24*time.Hour {
		t.Fatalf("POST /api/v1/me/tokens = %d %+v; want ci for 7 days with its secret", r.StatusCode, got)
	}
	if r := e.do("POST", "/api/v1/me/tokens", tess, `{"name":"ci"}`); r.StatusCode != 409 {
		t.Fatalf("a second live ci = %d; want 409", r.StatusCode)
	}
	// It acts as tess.
	e.put("mine.txt", "x")
	l := postLinks[struct {
		CreatedBy string `json:"created_by"`
	}](e, "link", got.Token, `{"key":"mine.txt"}`)
	if l.CreatedBy != "tess" {
		t.Fatalf("a link made with tess's token was created by %q; want tess", l.CreatedBy)
	}
	if r := e.do("POST", "/api/v1/me/tokens", got.Token, `{"name":"more"}`); r.StatusCode != 403 {
		t.Fatalf("a personal token minting = %d; want 403", r.StatusCode)
	}
	ls := list(tess)
	if len(ls) != 1 || ls[0].ID != got.ID || ls[0].Token != "" {
		t.Fatalf("tess's tokens = %+v; want ci without its secret", ls)
	}
	if n := len(list(other)); n != 0 {
		t.Fatalf("otto sees %d tokens; want none", n)
	}
	for _, id := range []string{got.ID, "tok_none"} {
		if r := e.do("DELETE", "/api/v1/me/tokens/"+id, other, ""); r.StatusCode != 404 {
			t.Fatalf("otto revoking %s = %d; want 404", id, r.StatusCode)
		}
	}
	if r := e.do("GET", "/api/v1/links", got.Token, ""); r.StatusCode != 200 {
		t.Fatalf("tess's token after otto's attempt = %d; want 200", r.StatusCode)
	}
	r = e.do("DELETE", "/api/v1/me/tokens/"+got.ID, tess, "")
	if rv := decode[server.OwnTokenResponse](t, r); r.StatusCode != 200 || rv.RevokedAt == nil {
		t.Fatalf("DELETE own token = %d %+v; want revoked", r.StatusCode, rv)
	}
	if r := e.do("GET", "/api/v1/links", got.Token, ""); r.StatusCode != 401 {
		t.Fatalf("revoked personal token = %d; want 401", r.StatusCode)
	}
	evs, err := audit.List(context.Background(), e.db.Read, audit.Filter{Actor: "tess"})
	if err != nil {
		t.Fatal(err)
	}
	var seen []string
	for _, ev := range evs {
		if strings.HasPrefix(ev.Action, "token.") {
			seen = append(seen, ev.Action)
		}
	}
	if strings.Join(seen, ",") != "token.revoke,token.create" {
		t.Fatalf("tess's token rows = %v; want a create then a revoke", seen)
	}
}

var secretField = regexp.MustCompile(`id="secret" value="(sst_[^"]+)"`)

// The console's "Your API tokens" page mints (showing the secret once),
// lists and revokes one's own tokens; the People page is for admins and
// auditors.
func TestConsoleOwnTokensAndPeople(t *testing.T) {
	e := newEnv(t, envOptions{})
	c := newConsoleClient(t, e)
	c.signIn(e.sharer)
	resp, body := c.get("/ui/tokens")
	if resp.StatusCode != 200 || !strings.Contains(body, "Your API tokens") || !strings.Contains(body, `value="30d" selected`) ||
		!strings.Contains(body, `value="90d"`) {
		t.Fatalf("GET /ui/tokens = %d %s", resp.StatusCode, body)
	}
	if resp, _ := c.post("/ui/tokens", c.origin, url.Values{"csrf": {c.csrf}, "name": {"laptop"}, "lifetime": {"365d"}}); resp.StatusCode != 400 {
		t.Fatalf("a year-long token = %d; want 400", resp.StatusCode)
	}
	resp, body = c.post("/ui/tokens", c.origin, url.Values{"csrf": {c.csrf}, "name": {"laptop"}, "lifetime": {"1d"}})
	m := secretField.FindStringSubmatch(body)
	if resp.StatusCode != 201 || m == nil || !strings.Contains(body, `data-copy="secret"`) {
		t.Fatalf("POST /ui/tokens = %d %s; want the secret with a copy button", resp.StatusCode, body)
	}
	if r := e.do("GET", "/api/v1/links", m[1], ""); r.StatusCode != 200 {
		t.Fatalf("the minted token = %d; want 200", r.StatusCode)
	}
	_, body = c.get("/ui/tokens")
	if strings.Contains(body, m[1]) || !strings.Contains(body, "laptop") {
		t.Fatal("the list shows the secret again, or not the token")
	}
	id := regexp.MustCompile(`/ui/tokens/(tok_[^/]+)/revoke`).FindStringSubmatch(body)
	if id == nil {
		t.Fatalf("no revoke form: %s", body)
	}
	resp, body = c.post("/ui/tokens/"+id[1]+"/revoke", c.origin, url.Values{"csrf": {c.csrf}})
	if resp.StatusCode != 200 || !strings.Contains(body, "Revoked your token laptop") {
		t.Fatalf("revoke = %d %s", resp.StatusCode, body)
	}
	if r := e.do("GET", "/api/v1/links", m[1], ""); r.StatusCode != 401 {
		t.Fatalf("the revoked token = %d; want 401", r.StatusCode)
	}
	if resp, _ := c.get("/ui/people"); resp.StatusCode != 403 {
		t.Fatalf("a sharer's GET /ui/people = %d; want 403", resp.StatusCode)
	}

	gil := e.signedIn("gil")
	admin := newConsoleClient(t, e)
	admin.signIn(e.admin)
	resp, body = admin.get("/ui/people")
	if resp.StatusCode != 200 || !strings.Contains(body, gil.Name) || !strings.Contains(body, "/ui/people/"+gil.ID+"/role") {
		t.Fatalf("GET /ui/people = %d %s", resp.StatusCode, body)
	}
	resp, body = admin.post("/ui/people/"+gil.ID+"/role", admin.origin, url.Values{"csrf": {admin.csrf}, "role": {"auditor"}})
	if resp.StatusCode != 200 || !strings.Contains(body, "is now auditor by override") {
		t.Fatalf("set role = %d %s", resp.StatusCode, body)
	}
	aud := newConsoleClient(t, e)
	aud.signIn(e.token("audrey", auth.RoleAuditor))
	if resp, body := aud.get("/ui/people"); resp.StatusCode != 200 || !strings.Contains(body, "(override; groups give sharer)") || strings.Contains(body, "/role\"") {
		t.Fatalf("an auditor's GET /ui/people = %d %s; want the list without forms", resp.StatusCode, body)
	}
	if resp, _ := aud.post("/ui/people/"+gil.ID+"/role", aud.origin, url.Values{"csrf": {aud.csrf}, "role": {""}}); resp.StatusCode != 403 {
		t.Fatalf("an auditor setting a role = %d; want 403", resp.StatusCode)
	}

	// Offboarding's preview names what it ends beyond a token of the name.
	e.ownToken(gil, "ci")
	resp, body = admin.post("/ui/admin/offboard", admin.origin, url.Values{"csrf": {admin.csrf}, "name": {gil.Name}})
	if resp.StatusCode != 200 || !strings.Contains(body, "their own, ci") || !strings.Contains(body, "stop their sign-in") {
		t.Fatalf("offboarding preview = %d %s; want gil's own token and sign-in", resp.StatusCode, body)
	}
}

// A person's own token brings their provider groups: a grant to one of
// them lets it share, and someone outside the group is refused.
func TestOwnTokenCarriesGroups(t *testing.T) {
	e := newEnv(t, envOptions{noGrants: true})
	e.put("team/plan.txt", "plan")
	r := e.do("POST", "/api/v1/grants", e.admin, `{"group":"team-a","bucket":"`+testBucket+`","key_prefix":"team/","actions":["download"],"reason":"team files"}`)
	if b := readAll(t, r.Body); r.StatusCode != 201 {
		t.Fatalf("group grant = %s", fmtResp(r, b))
	}
	in := e.ownToken(e.signedIn("ina", "team-a"), "ci")
	out := e.ownToken(e.signedIn("oli", "team-b"), "ci")
	if r := e.do("POST", "/api/v1/links", in, `{"key":"team/plan.txt"}`); r.StatusCode != 201 {
		t.Fatalf("a team-a member's token = %d; want 201", r.StatusCode)
	}
	if r := e.do("POST", "/api/v1/links", out, `{"key":"team/plan.txt"}`); r.StatusCode != 403 {
		t.Fatalf("a team-b member's token = %d; want 403", r.StatusCode)
	}
}
