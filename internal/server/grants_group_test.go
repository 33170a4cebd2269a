package server_test

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/sharesvc/sharesvc/internal/app"
	"github.com/sharesvc/sharesvc/internal/audit"
	"github.com/sharesvc/sharesvc/internal/auth"
	"github.com/sharesvc/sharesvc/internal/grants"
	"github.com/sharesvc/sharesvc/internal/links"
	"github.com/sharesvc/sharesvc/internal/server"
)

// A grant for a provider group through the API: created with "group",
// shown with it (and without it for other grants), listed by ?group=; a
// grant naming two subjects, or a bad group, is a 400 that creates nothing.
// A token user (who has no provider groups) does not see the group's grant.
func TestGrantForGroupAPI(t *testing.T) {
	e := newEnv(t, envOptions{noGrants: true})
	resp := e.do("POST", "/api/v1/grants", e.admin,
		`{"group":"share-finance","bucket":"`+testBucket+`","key_prefix":"finance/{person}/","actions":["download"],"reason":"finance team"}`)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("create group grant = %s", fmtResp(resp, readAll(t, resp.Body)))
	}
	g := decode[server.GrantResponse](t, resp)
	if g.Group != "share-finance" || g.Person != "" || g.Role != "" {
		t.Fatalf("group grant = %+v", g)
	}
	evs, err := audit.List(context.Background(), e.db.Read, audit.Filter{Action: audit.ActionGrantCreate, Limit: 10})
	if err != nil || len(evs) != 1 || !strings.Contains(evs[0].Detail, `"group":"share-finance"`) {
		t.Fatalf("grant.create rows = %+v, %v; want one naming the group", evs, err)
	}
	person := e.grant("bob", "bob/")

	for _, tc := range []struct{ name, subject string }{
		{"person and group", `"person":"bob","group":"share-finance"`},
		{"role and group", `"role":"sharer","group":"share-finance"`},
		{"person and role", `"person":"bob","role":"sharer"`},
		{"all three", `"person":"bob","role":"sharer","group":"share-finance"`},
		{"none", `"reason":"nobody"`},
		{"blank group", `"group":"   "`},
		{"control character in group", `"group":"share\u0007finance"`},
		{"group of 257 bytes", `"group":"` + strings.Repeat("g", 257) + `"`},
	} {
		resp := e.do("POST", "/api/v1/grants", e.admin, `{`+tc.subject+`,"bucket":"`+testBucket+`","actions":["download"]}`)
		if resp.StatusCode != http.StatusBadRequest {
			t.Fatalf("%s: create = %s; want 400", tc.name, fmtResp(resp, readAll(t, resp.Body)))
		}
		if p := problemType(t, resp); !strings.Contains(p, ":invalid-grant ") {
			t.Fatalf("%s: problem %q; want invalid-grant", tc.name, p)
		}
	}
	if resp := e.do("POST", "/api/v1/grants", e.admin, `{"person":"bob","group":"share-finance","bucket":"`+testBucket+`","actions":["download"]}`); !strings.Contains(problemType(t, resp), "exactly one of a person, a role or a group") {
		t.Fatal("the refusal of two subjects does not say to give exactly one")
	}
	if n := e.countRows(`grants`); n != 2 {
		t.Fatalf("%d grants after the refusals; want 2", n)
	}

	list := decode[server.GrantListResponse](t, e.do("GET", "/api/v1/grants?group=share-finance", e.admin, ""))
	if len(list.Grants) != 1 || list.Grants[0].ID != g.ID || list.Grants[0].Group != "share-finance" {
		t.Fatalf("grants of group share-finance = %+v", list)
	}
	if list := decode[server.GrantListResponse](t, e.do("GET", "/api/v1/grants?group=share-legal", e.admin, "")); len(list.Grants) != 0 {
		t.Fatalf("grants of group share-legal = %+v; want none", list)
	}
	if resp := e.do("GET", "/api/v1/grants?group="+url.QueryEscape("a\x01b"), e.admin, ""); resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("?group with a control character = %d; want 400", resp.StatusCode)
	}
	if got := decode[server.GrantResponse](t, e.do("GET", "/api/v1/grants/"+g.ID, e.token("audrey", auth.RoleAuditor), "")); got.Group != "share-finance" {
		t.Fatalf("GET the group grant = %+v", got)
	}
	// "group" is left out of grants that name no group.
	raw := decode[map[string]any](t, e.do("GET", "/api/v1/grants/"+person, e.admin, ""))
	if _, ok := raw["group"]; ok || raw["person"] != "bob" {
		t.Fatalf("a person's grant = %v; want person and no group", raw)
	}

	if list := decode[server.GrantListResponse](t, e.do("GET", "/api/v1/grants", e.sharer, "")); len(list.Grants) != 0 {
		t.Fatalf("a token sharer's grants = %+v; want none (no provider groups)", list)
	}
	if resp := e.do("GET", "/api/v1/grants?group=share-finance", e.sharer, ""); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("a token sharer listing a group's grants = %d; want 403", resp.StatusCode)
	}
	if resp := e.do("GET", "/api/v1/grants/"+g.ID, e.sharer, ""); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("a token sharer reading the group's grant = %d; want 404", resp.StatusCode)
	}
}

// A link made by a member of a group under the group's grant is signed with
// that grant's own STS session, as a person's or a role's grant is: the URL
// works inside the grant's prefix (with {person} the creator), the mint row
// names the grant's session, and the session cannot read outside the
// prefix. Without the group the same person is refused.
func TestGrantGroupLinksSignWithTheGrantsSession(t *testing.T) {
	e := newEnv(t, envOptions{noGrants: true})
	ctx := context.Background()
	e.put("finance/carol/q3.txt", "the quarter")
	e.put("finance/dave/q3.txt", "dave's quarter")
	g := decode[server.GrantResponse](t, e.do("POST", "/api/v1/grants", e.admin,
		`{"group":"share-finance","bucket":"`+testBucket+`","key_prefix":"finance/{person}/","actions":["download"]}`))
	member := app.Actor{Name: "carol", Role: auth.RoleSharer, Groups: []string{"staff", "share-finance"}}
	spec := func(key string) *app.CreateLink {
		return &app.CreateLink{Spec: links.Spec{Kind: links.KindDownload, Bucket: testBucket, Key: key}}
	}

	c, err := e.srv.App().CreateLink(ctx, member, spec("finance/carol/q3.txt"))
	if err != nil {
		t.Fatalf("CreateLink by a member of the group: %v", err)
	}
	if c.Link.GrantID != g.ID || c.Link.GrantPrefix != "finance/carol/" {
		t.Fatalf("link made under the group grant carries grant %q prefix %q; want %s finance/carol/", c.Link.GrantID, c.Link.GrantPrefix, g.ID)
	}
	r := e.do("GET", sharePath(t, e.srv.ShortURL(links.KindDownload, c.Code)), "", "")
	loc := r.Header.Get("Location")
	if r.StatusCode != http.StatusFound || loc == "" {
		t.Fatalf("open = %s", fmtResp(r, readAll(t, r.Body)))
	}
	resp, err := http.Get(loc)
	if err != nil {
		t.Fatal(err)
	}
	if body := readAll(t, resp.Body); resp.StatusCode != http.StatusOK || body != "the quarter" {
		t.Fatalf("GET the grant-signed URL = %d %q", resp.StatusCode, body)
	}
	resp.Body.Close()
	var minted *audit.Event
	for _, ev := range e.events(c.Link.ID) {
		if ev.Outcome == audit.OutcomeMinted {
			minted = &ev
		}
	}
	if minted == nil || !strings.HasSuffix(minted.STSSession, "-"+g.ID) {
		t.Fatalf("mint row = %+v; want the grant's session (…-%s)", minted, g.ID)
	}
	outside := strings.Replace(loc, "finance/carol/q3.txt", "finance/dave/q3.txt", 1)
	if resp, err := http.Get(outside); err != nil || resp.StatusCode != http.StatusForbidden {
		t.Fatalf("the URL moved to another member's folder = %v, %v; want 403", resp.StatusCode, err)
	}

	for _, tc := range []struct {
		name  string
		actor app.Actor
		key   string
	}{
		{"not in the group", app.Actor{Name: "carol", Role: auth.RoleSharer, Groups: []string{"staff"}}, "finance/carol/q3.txt"},
		{"token user", app.Actor{Name: "carol", Role: auth.RoleSharer}, "finance/carol/q3.txt"},
		{"another member's folder", member, "finance/dave/q3.txt"},
	} {
		if _, err := e.srv.App().CreateLink(ctx, tc.actor, spec(tc.key)); !errors.Is(err, grants.ErrNoGrant) {
			t.Errorf("%s: CreateLink(%s) = %v; want ErrNoGrant", tc.name, tc.key, err)
		}
	}
}

// The console's grant form offers a group: the grant is made for the
// group and listed with it.
func TestConsoleGrantsGroupInBrowser(t *testing.T) {
	e, base := consoleServerWith(t, envOptions{noGrants: true})
	adm := newBrowser(t)
	signInBrowser(t, adm, base, e.admin, "")
	browse(t, adm, "fill the grant form for a group",
		chromedp.Navigate(base+"/ui/grants"),
		chromedp.WaitVisible(chromedp.CSS("#no-grants")),
		chromedp.SetValue(chromedp.CSS("#g-who"), "group"),
		chromedp.SetValue(chromedp.CSS("#g-subject"), "share-finance"),
		chromedp.SetValue(chromedp.CSS("#g-prefix"), "finance/{person}/"),
		chromedp.SetValue(chromedp.CSS("#g-reason"), "finance team"),
		chromedp.Click(chromedp.CSS("#grant-form button[type=submit]")),
		chromedp.WaitVisible(chromedp.CSS(".notice")))
	body := bodyText(t, adm)
	if !strings.Contains(body, "created for group share-finance") || !strings.Contains(body, "finance/{person}/") {
		t.Fatalf("grants page after creating a group's grant:\n%s", body)
	}
	cell := pull(t, adm, "the list's For column", chromedp.Text(chromedp.CSS(`#grants td[data-label="For"]`)))
	if strings.TrimSpace(cell) != "group share-finance" {
		t.Fatalf("For = %q; want group share-finance", cell)
	}
	if n := e.countRows(`grants WHERE group_name = 'share-finance' AND person IS NULL AND role IS NULL`); n != 1 {
		t.Fatalf("grants stored for the group = %d; want 1", n)
	}
	who := pull(t, adm, "the form's choices", chromedp.Evaluate[string](`[...document.querySelectorAll("#g-who option")].map(o => o.value).join(" ")`))
	if who != "role person group" {
		t.Fatalf("the form offers %q; want role person group", who)
	}
}
