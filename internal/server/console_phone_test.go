package server_test

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/sharesvc/sharesvc/internal/auth"
	"github.com/sharesvc/sharesvc/internal/links"
	"github.com/sharesvc/sharesvc/internal/people"
	"github.com/sharesvc/sharesvc/internal/server"
)

// viewport is a browser window size the console must fit.
type viewport struct {
	name          string
	width, height int64
}

var consoleViewports = []viewport{{"desktop", 1280, 800}, {"phone", 390, 844}}

// consolePage is one console page and how a browser reaches it.
type consolePage struct {
	name  string
	admin bool                             // in the admin's browser (else a signed-out one)
	open  []chromedp.Action[chromedp.Void] // steps that end on the page
	shown string                           // the screenshot shows this element's section; "" the top
}

// seedDemo fills a server with what a small team's console shows: links by
// two people (long keys, a revoked one, an upload link, a recipient's
// link), accesses from a phone and a script, a grant and tokens, a file
// that arrived through the upload link, a share whose recipient must
// verify their address, the admin's own script tokens and people who
// signed in through the identity provider. It returns the admin's token
// and what the pages open: a busy link's id, the upload link's URL and
// id, and the path of the verified share's link.
func seedDemo(t *testing.T, e *env) (admin string, d demoLinks) {
	t.Helper()
	admin = e.token("ana", auth.RoleAdmin)
	sam := e.token("sam", auth.RoleSharer)
	e.token("audrey", auth.RoleAuditor)
	for _, k := range []string{"reports/2026/q3/board-pack-final-v2.pdf", "design/mockups/homepage hero (final) 2026-11.png",
		"contracts/acme/master-services-agreement-signed.pdf"} {
		e.put(k, "demo")
	}
	board := e.createLink(sam, `{"key":"reports/2026/q3/board-pack-final-v2.pdf","max_uses":10,"filename":"board-pack.pdf","note":"for the board"}`)
	hero := e.createLink(sam, `{"key":"design/mockups/homepage hero (final) 2026-11.png","expires_in":604800}`)
	old := e.createLink(admin, `{"key":"contracts/acme/master-services-agreement-signed.pdf"}`)
	up := e.createLink(sam, `{"kind":"upload","key_prefix":"inbox/from-clients/","note":"Please send the signed statement of work and any invoices for November."}`)
	putURL, hdrs, arrival := presignPut(t, e, pathOf(t, up.URL), 5, "Statement of work — Acme Corporation, signed by both parties (final).pdf")
	putTo(t, putURL, hdrs, "hello")
	if r := e.do("POST", pathOf(t, up.URL)+"/done", "", `{"upload":"`+arrival+`"}`); r.StatusCode != 200 {
		t.Fatalf("arrival: %s", r.Status)
	}
	code, hash := links.NewCode()
	now := time.Now().UTC().Truncate(time.Millisecond)
	rl := &links.Link{ID: links.NewID(), Kind: links.KindDownload, Bucket: testBucket, Key: "contracts/acme/master-services-agreement-signed.pdf",
		CreatedAt: now, CreatedBy: "sam", ExpiresAt: now.Add(72 * time.Hour), PresignTTL: time.Minute,
		ShareID: links.NewShareID(), Recipient: "legal@acme.example"}
	if err := links.Insert(context.Background(), e.db.Read, rl, hash); err != nil {
		t.Fatal(err)
	}
	vcode, vhash := links.NewCode()
	vl := &links.Link{ID: links.NewID(), Kind: links.KindDownload, Bucket: testBucket, Key: "contracts/acme/master-services-agreement-signed.pdf",
		CreatedAt: now, CreatedBy: "sam", ExpiresAt: now.Add(72 * time.Hour), PresignTTL: time.Minute, Filename: "master-services-agreement-signed-2026.pdf",
		ShareID: links.NewShareID(), Recipient: "counsel.office@legal-department.acme.example", Confirm: true, VerifyRecipient: true}
	if err := links.Insert(context.Background(), e.db.Read, vl, vhash); err != nil {
		t.Fatal(err)
	}
	phone := "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1"
	for i := 0; i < 3; i++ {
		e.do("GET", pathOf(t, board.URL), "", "", "User-Agent", phone)
	}
	e.do("GET", pathOf(t, hero.URL), "", "", "User-Agent", "curl/8.11.0")
	e.do("GET", "/s/"+code, "", "", "User-Agent", phone)
	e.do("POST", "/api/v1/links/"+old.ID+"/revoke", admin, `{"reason":"contract superseded"}`)
	e.do("GET", pathOf(t, old.URL), "", "", "User-Agent", "curl/8.11.0")
	seedOwnTokens(t, e, admin)
	seedPeople(t, e)
	return admin, demoLinks{busy: board.ID, upload: up.URL, inbox: up.ID, verified: "/s/" + vcode}
}

// seedOwnTokens gives the admin the tokens of their scripts, one of them
// revoked.
func seedOwnTokens(t *testing.T, e *env, admin string) {
	t.Helper()
	for _, name := range []string{"github-actions-deploy-reports-bucket-production", "nightly-audit-export.finance-reporting-pipeline",
		"ana-laptop-cli-2026-11"} {
		r := e.do("POST", "/api/v1/me/tokens", admin, `{"name":"`+name+`","lifetime":"90d"}`)
		if r.StatusCode != 201 {
			t.Fatalf("mint the token %s: %s", name, r.Status)
		}
		tok := decode[struct{ ID string }](t, r)
		if name == "ana-laptop-cli-2026-11" {
			if r := e.do("DELETE", "/api/v1/me/tokens/"+tok.ID, admin, ""); r.StatusCode != 200 {
				t.Fatalf("revoke the token %s: %s", name, r.Status)
			}
		}
	}
}

// seedPeople signs in four people as the identity provider would: an admin
// by group, an auditor by group, a sharer an admin made an auditor, and a
// sharer who was offboarded. One address is too long for a sharesvc name.
func seedPeople(t *testing.T, e *env) {
	t.Helper()
	ctx := context.Background()
	roles, err := people.ParseRoleMap("admin=share-admins,auditor=auditors")
	if err != nil {
		t.Fatal(err)
	}
	const issuer = "https://login.microsoftonline.com/9188040d-6c67-4c5b-b112-36a304b66dad/v2.0"
	st := people.NewStore(e.db.Read)
	now := time.Now()
	var ps []*people.Person
	for _, c := range []people.Claims{
		{Subject: "2f6c1a0e-88b4-4d0c-9d7e-5b1f3c2a9e41", Email: "zoe.lukasiewicz-angstrom@research-partners.northwind.example",
			Name: "Zoë Łukasiewicz-Ångström", Groups: []string{"staff", "share-admins", "eu-research-collaboration-2026"}},
		{Subject: "7a91d3c4-0b2e-4f58-a6c1-93e0d4b7f215", Email: "maximilian.schwarzenegger-oberhauser@procurement.central-europe.northwind.example",
			Name: "Maximilian Schwarzenegger-Oberhauser", Groups: []string{"staff", "auditors", "procurement-central-europe"}},
		{Subject: "c03e58b9-7d1f-4a26-8e4b-1f9a6c2d0b73", Email: "jose.maria.fernandez@legal-department.acme.example",
			Name: "José María Fernández Núñez", Groups: []string{"staff", "legal-compliance-emea", "contractors-external"}},
		{Subject: "e5b7a2d0-3c96-4f1e-b8d4-6a0c9e2f7b18", Email: "chloe.dubois-hebert@marketing.northwind.example",
			Name: "Chloé Dubois-Hébert", Groups: []string{"staff", "marketing-campaigns-2026"}},
	} {
		c.Issuer, c.EmailVerified = issuer, true
		p, _, err := st.SignIn(ctx, c, roles, now)
		if err != nil {
			t.Fatalf("sign in %s: %v", c.Email, err)
		}
		ps = append(ps, p)
	}
	if _, _, err := people.SetOverride(ctx, e.db.Read, ps[2].ID, auth.RoleAuditor); err != nil {
		t.Fatal(err)
	}
	if ok, err := people.Disable(ctx, e.db.Read, ps[3].Name, now); err != nil || !ok {
		t.Fatalf("disable %s: %v, %v", ps[3].Name, ok, err)
	}
}

// demoLinks are the seeded links the console pages open.
type demoLinks struct{ busy, upload, inbox, verified string }

// pathOf is the path of a link's URL on a console server.
func pathOf(t *testing.T, u string) string {
	t.Helper()
	p, err := url.Parse(u)
	if err != nil {
		t.Fatal(err)
	}
	return p.Path
}

// consolePages lists every console page template: the pages a signed-in
// admin sees (links, link, audit, verify, admin, grants, tokens, people,
// and the answers of forms: created, token_created, token_mint, confirm),
// and the public ones (signin, signin_sso on the server at sso, which
// signs people in through an identity provider, upload, mid-upload, and a
// recipient's address check) and the error page.
func consolePages(base, sso string, d demoLinks) []consolePage {
	nav := func(path, wait string) []chromedp.Action[chromedp.Void] {
		return []chromedp.Action[chromedp.Void]{chromedp.Navigate(base + path), chromedp.WaitVisible(chromedp.CSS(wait))}
	}
	return []consolePage{
		{"signin", false, nav("/ui/signin", "#token"), ""},
		{"signin_sso", false, []chromedp.Action[chromedp.Void]{chromedp.Navigate(sso + "/ui/signin"),
			chromedp.WaitVisible(chromedp.CSS("#oidc-signin")), chromedp.WaitVisible(chromedp.CSS("#token"))}, ""},
		{"links", true, nav("/ui/links", "table"), "#links"},
		{"share_file", true, nav("/ui/links", "#share-drop"), "#share-drop"},
		{"link", true, nav("/ui/links/"+d.busy, "table.events"), ""},
		{"arrivals", true, nav("/ui/links/"+d.inbox, "#arrivals"), "#arrivals"},
		{"audit", true, nav("/ui/audit", "table.events"), ""},
		{"verify", true, nav("/ui/audit/verify", ".ok"), ""},
		{"admin", true, nav("/ui/admin", "#b-prefix"), ""},
		{"grants", true, nav("/ui/grants", "#grants"), "#grants"},
		{"created", true, append(nav("/ui/links", "#key"),
			chromedp.SetValue(chromedp.CSS("#key"), "reports/2026/q3/board-pack-final-v2.pdf"),
			chromedp.Click(chromedp.CSS("#create button[type=submit]")), chromedp.WaitVisible(chromedp.CSS("#short-url"))), ""},
		{"token_created", true, append(nav("/ui/admin", "#t-name"),
			chromedp.SetValue(chromedp.CSS("#t-name"), "build-bot"),
			chromedp.Click(chromedp.CSS("form[action='/ui/admin/tokens'] button")), chromedp.WaitVisible(chromedp.CSS("#secret"))), ""},
		{"tokens", true, nav("/ui/tokens", "#tokens"), ""},
		{"token_mint", true, append(nav("/ui/tokens", "#t-name"),
			chromedp.SetValue(chromedp.CSS("#t-name"), "quarterly-board-pack-uploader.ci-runner-eu-west-1"),
			chromedp.Click(chromedp.CSS("form[action='/ui/tokens'] button")), chromedp.WaitVisible(chromedp.CSS("#secret"))), ""},
		{"people", true, nav("/ui/people", "#people"), ""},
		{"confirm", true, append(nav("/ui/admin", "#b-prefix"),
			chromedp.SetValue(chromedp.CSS("#b-prefix"), "reports/"),
			chromedp.Click(chromedp.CSS("form[action='/ui/admin/bulk-revoke'] button")), chromedp.WaitVisible(chromedp.CSS("#confirm-links"))), ""},
		{"upload", false, []chromedp.Action[chromedp.Void]{chromedp.Navigate(d.upload), chromedp.WaitVisible(chromedp.CSS("#file"))}, ""},
		// Mid-upload: the bar, the Cancel button and the status as upload.js shows them.
		{"uploading", false, []chromedp.Action[chromedp.Void]{chromedp.Navigate(d.upload), chromedp.WaitVisible(chromedp.CSS("#file")),
			chromedp.Evaluate[chromedp.Void](`(() => { const p = document.querySelector('#progress'); p.hidden = false; p.value = 0.42;
				document.querySelector('#cancel').hidden = false; document.querySelector('#send').disabled = true;
				document.querySelector('#status').textContent = 'Uploading Statement of work — Acme Corporation, signed by both parties (final).pdf: 42% of 18.4 MB'; })()`)}, ""},
		{"recipient_verify", false, append(nav(d.verified, "button"),
			chromedp.Click(chromedp.CSS("form button[type=submit]")), chromedp.WaitVisible(chromedp.CSS("input[name=code]"))), ""},
		{"error", true, nav("/ui/links/lnk_AAAAAAAAAAAAAAAAAAAAAA", "main h1"), ""},
	}
}

// pageFit is what a page measures at one viewport.
type pageFit struct {
	ScrollWidth  int `json:"scroll"`
	Revoke       int `json:"revoke"` // right edge of the first Revoke button; -1 without one
	RevokeLeft   int `json:"left"`
	ViewportWide int `json:"vw"`
	Squeezed     int `json:"squeezed"` // visible buttons wrapped to three lines or more
}

const measureFit = `(() => {
	const b = [...document.querySelectorAll('button')].find(b => b.textContent.trim() === 'Revoke');
	const r = b ? b.getBoundingClientRect() : null;
	const squeezed = [...document.querySelectorAll('button')].filter(b => {
		const h = b.getBoundingClientRect().height, s = getComputedStyle(b);
		return h > 0 && h > 3 * parseFloat(s.lineHeight === 'normal' ? 1.2 * parseFloat(s.fontSize) : s.lineHeight) + parseFloat(s.paddingTop) + parseFloat(s.paddingBottom);
	}).length;
	return {scroll: document.documentElement.scrollWidth, vw: window.innerWidth, squeezed,
		revoke: r ? Math.ceil(r.right) : -1, left: r ? Math.floor(r.left) : -1};
})()`

// Every console page fits a phone: at 390 px wide nothing scrolls
// sideways, the first Revoke button is on screen and no button's label is
// squeezed into a column of letters; and at desktop width
// too. Each page is saved at both widths in the screenshot directory
// ($SHARESVC_SCREENSHOTS; make screenshots points it at docs/screenshots).
func TestConsoleFitsPhoneWidth(t *testing.T) {
	e, base := consoleServer(t)
	admin, demo := seedDemo(t, e)
	// Signing in through an identity provider needs one: a second server
	// with a provider, token sign-in kept, for the sign-in page only.
	sso := newOIDCEnvWith(t, true, envOptions{cfg: func(c *server.Config) { c.OIDC.Name = "Northwind Traders (Microsoft Entra ID)" }})
	dir := os.Getenv("SHARESVC_SCREENSHOTS")
	if dir == "" {
		dir = screenshotDir(t)
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	adm, pub := newBrowser(t), newBrowser(t)
	signInBrowser(t, adm, base, admin, "")
	revokes := 0
	for _, p := range consolePages(base, sso.base, demo) {
		tab := pub
		if p.admin {
			tab = adm
		}
		// Forms answer once: reach the page at desktop width, then resize.
		browse(t, tab, "desktop width", chromedp.EmulateViewport(consoleViewports[0].width, consoleViewports[0].height))
		browse(t, tab, "open "+p.name, p.open...)
		for _, vp := range consoleViewports {
			browse(t, tab, vp.name+" width", chromedp.EmulateViewport(vp.width, vp.height), chromedp.Sleep(100*time.Millisecond))
			fit := pull(t, tab, "measure "+p.name, chromedp.Evaluate[pageFit](measureFit))
			t.Logf("%-16s %-7s scrollWidth %4d (viewport %d), first Revoke button right edge %d", p.name, vp.name, fit.ScrollWidth, fit.ViewportWide, fit.Revoke)
			if fit.ScrollWidth > int(vp.width) {
				t.Errorf("%s at %s width (%d px): the page is %d px wide; want no sideways scrolling", p.name, vp.name, vp.width, fit.ScrollWidth)
			}
			if fit.Squeezed > 0 {
				t.Errorf("%s at %s width (%d px): %d buttons wrap to three lines or more; want their labels readable", p.name, vp.name, vp.width, fit.Squeezed)
			}
			if fit.Revoke >= 0 {
				revokes++
				if fit.Revoke > int(vp.width) || fit.RevokeLeft < 0 {
					t.Errorf("%s at %s width (%d px): the first Revoke button spans %d–%d px; want it on screen", p.name, vp.name, vp.width, fit.RevokeLeft, fit.Revoke)
				}
			}
			if p.shown != "" {
				browse(t, tab, "scroll to "+p.shown, chromedp.Evaluate[chromedp.Void](
					`document.querySelector(`+strconv.Quote(p.shown)+`).closest("section").scrollIntoView()`))
			}
			png := pull(t, tab, "screenshot "+p.name, chromedp.CaptureScreenshot())
			if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("%s-%s.png", p.name, vp.name)), png, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	if revokes < 6 { // links, admin, grants at both widths
		t.Errorf("found a Revoke button %d times; want it on the links, admin and grants pages at both widths", revokes)
	}
}
