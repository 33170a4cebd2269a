package server_test

import (
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// The grants page in a real browser: with no grant a sharer can create no
// link; an admin grants the sharer a home prefix through the form; the
// sharer then creates a link inside it and is refused outside it; the admin
// revokes the grant together with its links.
func TestConsoleGrantsInBrowser(t *testing.T) {
	e, base := consoleServerWith(t, envOptions{noGrants: true})
	sharerName := "sharer-" + strings.ReplaceAll(t.Name(), "/", "-")
	e.put("home/"+sharerName+"/plan.txt", "the plan\n")
	e.put("elsewhere/salaries.csv", "secret\n")

	adm := newBrowser(t)
	signInBrowser(t, adm, base, e.admin, "")
	browse(t, adm, "the grants page", chromedp.Navigate(base+"/ui/grants"), chromedp.WaitVisible(chromedp.CSS("#no-grants")))
	browse(t, adm, "fill the grant form",
		chromedp.SetValue(chromedp.CSS("#g-who"), "person"),
		chromedp.SetValue(chromedp.CSS("#g-subject"), sharerName),
		chromedp.SetValue(chromedp.CSS("#g-prefix"), "home/{person}/"),
		chromedp.SetValue(chromedp.CSS("#g-uses"), "3"),
		chromedp.SetValue(chromedp.CSS("#g-reason"), "home folder"),
		chromedp.Click(chromedp.CSS("#grant-form button[type=submit]")),
		chromedp.WaitVisible(chromedp.CSS(".notice")))
	shoot(t, adm, "20-grants")
	if body := bodyText(t, adm); !strings.Contains(body, "home/{person}/") || !strings.Contains(body, "uses ≤ 3") {
		t.Fatalf("grants page after creating one:\n%s", body)
	}

	sharer := newBrowser(t)
	signInBrowser(t, sharer, base, e.sharer, "")
	browse(t, sharer, "the sharer's grants", chromedp.Navigate(base+"/ui/grants"), chromedp.WaitVisible(chromedp.CSS("#grants")))
	if body := bodyText(t, sharer); strings.Contains(body, "New grant") || !strings.Contains(body, "Your grants") {
		t.Fatalf("a sharer's grants page shows the admin form, or not their grants:\n%s", body)
	}
	browse(t, sharer, "a link outside the grant",
		chromedp.Navigate(base+"/ui/links"),
		chromedp.SetValue(chromedp.CSS("#key"), "elsewhere/salaries.csv"),
		chromedp.Click(chromedp.CSS("#create button[type=submit]")),
		chromedp.WaitVisible(chromedp.CSS("main h1")))
	if body := bodyText(t, sharer); !strings.Contains(body, "No grant allows this") {
		t.Fatalf("a link outside the grant was not refused:\n%s", body)
	}
	browse(t, sharer, "a link inside the grant",
		chromedp.Navigate(base+"/ui/links"),
		chromedp.SetValue(chromedp.CSS("#key"), "home/"+sharerName+"/plan.txt"),
		chromedp.Click(chromedp.CSS("#create button[type=submit]")),
		chromedp.WaitVisible(chromedp.CSS("#short-url")))

	browse(t, adm, "revoke the grant and its links",
		chromedp.Navigate(base+"/ui/grants"),
		chromedp.Click(chromedp.CSS("form[action$='/revoke'] input[name=revoke_links]")),
		chromedp.Click(chromedp.CSS("form[action$='/revoke'] button")),
		chromedp.WaitVisible(chromedp.CSS(".notice")))
	if body := bodyText(t, adm); !strings.Contains(body, "1 links revoked") || !strings.Contains(body, "No grant is in force") {
		t.Fatalf("after revoking the grant:\n%s", body)
	}
	if n := e.countRows(`links WHERE revoked_at IS NOT NULL AND grant_id IS NOT NULL`); n != 1 {
		t.Fatalf("links revoked with the grant = %d; want 1", n)
	}
}
