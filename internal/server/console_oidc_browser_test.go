package server_test

import (
	"context"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/sharesvc/sharesvc/internal/audit"
	"github.com/sharesvc/sharesvc/internal/testrig/oidcop"
)

// signInProvider signs u in through the provider's login page, from the
// console's sign-in button, and waits for the console.
func signInProvider(t *testing.T, ctx context.Context, base string, u oidcop.User, shot string) {
	t.Helper()
	browse(t, ctx, "open the sign-in page", chromedp.Navigate(base+"/ui/signin"), chromedp.WaitVisible(chromedp.CSS("#oidc-signin")))
	if shot != "" {
		shoot(t, ctx, shot)
	}
	browse(t, ctx, "go to the provider", chromedp.Click(chromedp.CSS("#oidc-signin")), chromedp.WaitVisible(chromedp.CSS("#username")))
	browse(t, ctx, "sign in at the provider",
		chromedp.SendKeys(chromedp.CSS("#username"), u.Username),
		chromedp.SendKeys(chromedp.CSS("#password"), u.Password),
		chromedp.Click(chromedp.CSS("#submit")),
		chromedp.WaitVisible(chromedp.CSS("header .who")))
}

// The console in a real browser against a real OpenID Provider: a sharer
// signs in through the provider's login page, creates a link and revokes
// it, and signs out (the page then offers the provider's sign-out); an
// admin by the share-admins group reaches the admin page. The audit log
// shows each sign-in with the person's issuer, subject and email.
func TestOIDCConsoleInBrowser(t *testing.T) {
	e := newOIDCEnv(t, false)
	base := e.base
	e.put("sso/plan.txt", "the plan, shared after signing in through the provider\n")

	sam := newBrowser(t)
	signInProvider(t, sam, base, opSharer, "oidc-01-signin")
	if who := pull(t, sam, "who", chromedp.Text(chromedp.CSS("header .who"))); !strings.Contains(who, opSharer.Email) {
		t.Fatalf("header says %q; want %s", who, opSharer.Email)
	}
	browse(t, sam, "create a link",
		chromedp.Navigate(base+"/ui/links"), chromedp.WaitVisible(chromedp.CSS("#key")),
		chromedp.SetValue(chromedp.CSS("#key"), "sso/plan.txt"),
		chromedp.Click(chromedp.CSS("#create button[type=submit]")),
		chromedp.WaitVisible(chromedp.CSS("#short-url")))
	shortURL := pull(t, sam, "read the short URL", chromedp.Value(chromedp.CSS("#short-url")))
	if !strings.HasPrefix(shortURL, base+"/s/") {
		t.Fatalf("short URL %q", shortURL)
	}
	shoot(t, sam, "oidc-02-link-created")
	browse(t, sam, "revoke it", chromedp.Navigate(base+"/ui/links"), chromedp.WaitVisible(chromedp.CSS("table")),
		chromedp.Click(chromedp.CSS("form[action$='/revoke'] button")),
		chromedp.WaitVisible(chromedp.CSS(".state-revoked")))
	if r := e.do("GET", sharePath(t, strings.Replace(shortURL, base, "http://share.example", 1)), "", ""); r.StatusCode != 410 {
		t.Fatalf("the revoked link answers %s; want 410", r.Status)
	}
	revokes := e.events(audit.ActionLinkRevoke)
	if len(revokes) != 1 || revokes[0].Actor != opSharer.Email {
		t.Fatalf("revoke rows %+v; want one by %s", revokes, opSharer.Email)
	}
	browse(t, sam, "sign out", chromedp.Click(chromedp.CSS("form[action='/ui/signout'] button")),
		chromedp.WaitVisible(chromedp.CSS("#end-session")))
	shoot(t, sam, "oidc-03-signed-out")
	browse(t, sam, "signed out", chromedp.Navigate(base+"/ui/links"), chromedp.WaitVisible(chromedp.CSS("#oidc-signin")))

	ada := newBrowser(t)
	signInProvider(t, ada, base, opAdmin, "")
	browse(t, ada, "the admin page", chromedp.Navigate(base+"/ui/admin"), chromedp.WaitVisible(chromedp.CSS("#b-prefix")))
	shoot(t, ada, "oidc-04-admin")
	browse(t, ada, "the audit page", chromedp.Navigate(base+"/ui/audit?action="+audit.ActionSignIn), chromedp.WaitVisible(chromedp.CSS("table.events")))
	txt := bodyText(t, ada)
	for _, want := range []string{opSharer.Email, opAdmin.Email, opSharer.Subject, opAdmin.Subject, e.op.Issuer} {
		if !strings.Contains(txt, want) {
			t.Fatalf("the audit page of sign-ins lacks %q:\n%s", want, txt)
		}
	}
	shoot(t, ada, "oidc-05-audit-signins")
}
