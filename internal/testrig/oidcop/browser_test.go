package oidcop_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"golang.org/x/oauth2"

	"github.com/sharesvc/sharesvc/internal/testrig/oidcop"
)

// newBrowser starts a fresh headless Chromium ($SHARESVC_CHROMIUM or
// /usr/bin/chromium) and returns a tab's context; the test fails without one.
func newBrowser(t *testing.T) context.Context {
	t.Helper()
	path := os.Getenv("SHARESVC_CHROMIUM")
	if path == "" {
		path = "/usr/bin/chromium"
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("Chromium is required: apt-get install chromium, or set SHARESVC_CHROMIUM: %v", err)
	}
	actx, acancel := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(path),
		chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()),
	)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() { cancel(); acancel() })
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start Chromium: %v", err)
	}
	return ctx
}

// TestBrowserLogin signs in through the form in Chromium: a wrong password
// shows the error and stays on the form, the right one lands on the client's
// redirect URI with a code that exchanges for tokens.
func TestBrowserLogin(t *testing.T) {
	var (
		mu  sync.Mutex
		got url.Values
	)
	rpSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/callback" {
			http.NotFound(w, r)
			return
		}
		mu.Lock()
		got = r.URL.Query()
		mu.Unlock()
		io.WriteString(w, `<!doctype html><p id="done">signed in</p>`)
	}))
	t.Cleanup(rpSrv.Close)

	p := start(t)
	app := oidcop.Client{ID: "browser-app", Secret: "browser-secret", RedirectURIs: []string{rpSrv.URL + "/callback"}}
	p.AddClient(app)
	d := discover(t, p)
	conf := oauthConfig(d, app, oauth2.AuthStyleInHeader, "profile", "email", "groups")
	verifier := oauth2.GenerateVerifier()
	authURL := conf.AuthCodeURL("browser-state", oauth2.S256ChallengeOption(verifier), oauth2.SetAuthURLParam("nonce", "bn"))

	ctx := newBrowser(t)
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	err := chromedp.Do(ctx,
		chromedp.Navigate(authURL),
		chromedp.WaitVisible(chromedp.CSS("#username")),
		chromedp.SendKeys(chromedp.CSS("#username"), alice.Username),
		chromedp.SendKeys(chromedp.CSS("#password"), "wrong"),
		chromedp.Click(chromedp.CSS("#submit")),
		chromedp.WaitVisible(chromedp.CSS("#error")),
	)
	if err != nil {
		t.Fatalf("browser, wrong password: %v", err)
	}
	errText, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("#error")))
	if err != nil {
		t.Fatal(err)
	}
	err = chromedp.Do(ctx,
		chromedp.SetValue(chromedp.CSS("#password"), alice.Password),
		chromedp.Click(chromedp.CSS("#submit")),
		chromedp.WaitVisible(chromedp.CSS("#done")),
	)
	if err != nil {
		t.Fatalf("browser, right password: %v", err)
	}
	if errText == "" {
		t.Error("wrong password showed no error text")
	}
	mu.Lock()
	q := got
	mu.Unlock()
	if q.Get("state") != "browser-state" || q.Get("code") == "" {
		t.Fatalf("callback query %v", q)
	}
	tok, err := conf.Exchange(t.Context(), q.Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatalf("Exchange: %v", err)
	}
	c := verifyIDToken(t, d, app.ID, "bn", idToken(t, tok))
	if c.Subject != alice.Subject || c.Name != alice.Name {
		t.Errorf("sub %q name %q", c.Subject, c.Name)
	}
}
