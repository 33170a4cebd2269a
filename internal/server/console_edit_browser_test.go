package server_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/sharesvc/sharesvc/internal/server"
)

// A sharer changes a link's expiry, cap and note from its page in a real
// browser (the form carries the session's CSRF value) and the page then
// shows the new expiry, the one the API reports.
func TestConsoleEditLinkInBrowser(t *testing.T) {
	e, base := consoleServer(t)
	e.put("console/edit.txt", "edit me")
	l := e.createLink(e.sharer, `{"key":"console/edit.txt","expires_in":3600,"max_uses":2,"note":"draft"}`)

	b := newBrowser(t)
	signInBrowser(t, b, base, e.sharer, "")
	browse(t, b, "the link page", chromedp.Navigate(base+"/ui/links/"+l.ID), chromedp.WaitVisible(chromedp.CSS("#edit-link")))
	before := bodyText(t, b)
	browse(t, b, "edit the link",
		chromedp.SetValue(chromedp.CSS("#e-expires-in"), "3d"),
		chromedp.SetValue(chromedp.CSS("#e-max-uses"), "7"),
		chromedp.SetValue(chromedp.CSS("#e-note"), "final"),
		chromedp.Click(chromedp.CSS("#edit-link button[type=submit]")))
	// The old page has the same form: wait for the new one's cap.
	waitText(t, b, "0 of 7")
	shoot(t, b, "16-link-edited")

	got := decode[server.LinkResponse](t, e.do("GET", "/api/v1/links/"+l.ID, e.admin, ""))
	if d := time.Until(got.ExpiresAt); d < 71*time.Hour || d > 73*time.Hour || got.MaxUses != 7 || got.Note != "final" {
		t.Fatalf("after the form: %+v; want expiry in 3 days, 7 uses, note final", got)
	}
	shown := got.ExpiresAt.UTC().Format("2006-01-02 15:04:05Z")
	txt := bodyText(t, b)
	if !strings.Contains(txt, shown) || strings.Contains(before, shown) || !strings.Contains(txt, "0 of 7") {
		t.Fatalf("the page does not show the new expiry %s and cap 7 (or showed that expiry before):\n%s", shown, txt)
	}

	// The same form with a wrong CSRF value is refused and changes nothing.
	pull(t, b, "forge the form", chromedp.Evaluate[string](`document.querySelector("#edit-link input[name=csrf]").value = "forged"`))
	browse(t, b, "a forged form",
		chromedp.SetValue(chromedp.CSS("#e-expires-in"), "1h"),
		chromedp.Click(chromedp.CSS("#edit-link button[type=submit]")))
	waitText(t, b, "Form refused")
	if again := decode[server.LinkResponse](t, e.do("GET", "/api/v1/links/"+l.ID, e.admin, "")); !again.ExpiresAt.Equal(got.ExpiresAt) {
		t.Fatalf("a refused form changed the expiry to %s", again.ExpiresAt)
	}
}

// waitText waits until the tab's page says want, reading it again while a
// form's answer loads (a navigation cuts a pending read short).
func waitText(t *testing.T, ctx context.Context, want string) {
	t.Helper()
	var txt string
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		v, err := chromedp.Run(rctx, chromedp.Evaluate[string](`document.body ? document.body.innerText : ""`))
		cancel()
		if err == nil {
			if txt = v; strings.Contains(txt, want) {
				return
			}
		}
	}
	t.Fatalf("the page never said %q; it says:\n%s", want, txt)
}
