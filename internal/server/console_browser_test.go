package server_test

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/chromedp"

	"github.com/sharesvc/sharesvc/internal/auth"
	"github.com/sharesvc/sharesvc/internal/server"
)

// chromiumPath finds Debian's Chromium (make test installs it). The browser
// tests fail, never skip, without it.
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, p := range []string{os.Getenv("SHARESVC_CHROMIUM"), "/usr/bin/chromium", "/usr/bin/chromium-browser"} {
		if p == "" {
			continue
		}
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			return p
		}
	}
	t.Fatal("Chromium is required for the browser tests: apt-get install chromium (make test does), or set SHARESVC_CHROMIUM")
	return ""
}

// newBrowser starts a fresh headless Chromium (its own profile: no cookies,
// no cache) and returns a tab's context.
func newBrowser(t *testing.T) context.Context {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromiumPath(t)),
		chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
	}
	actx, acancel := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() { cancel(); acancel() })
	if err := chromedp.Do(ctx); err != nil { // starts the browser, with no deadline
		t.Fatalf("start Chromium: %v", err)
	}
	return ctx
}

// screenshotDir is where the run's screenshots go: $SHARESVC_ARTIFACTS, or
// artifacts/screenshots at the repository root (not committed).
func screenshotDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("SHARESVC_ARTIFACTS")
	if dir == "" {
		root, err := filepath.Abs("../..")
		if err != nil {
			t.Fatal(err)
		}
		dir = filepath.Join(root, "artifacts")
	}
	dir = filepath.Join(dir, "screenshots")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// browse runs steps on the tab with a deadline and fails t on error.
func browse(t *testing.T, ctx context.Context, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	tctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(tctx, steps...); err != nil {
		dctx, dcancel := context.WithTimeout(ctx, 5*time.Second)
		defer dcancel()
		loc, _ := chromedp.Run(dctx, chromedp.Location())
		txt, _ := chromedp.Run(dctx, chromedp.Evaluate[string](`document.body ? document.body.innerText : ""`))
		t.Fatalf("%s: %v\nthe page (%s) says:\n%s", what, err, shortURLPattern.ReplaceAllString(loc, "/…"), txt)
	}
}

func pull[T any](t *testing.T, ctx context.Context, what string, a chromedp.Action[T]) T {
	t.Helper()
	tctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	v, err := chromedp.Run(tctx, a)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	return v
}

func shoot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	png := pull(t, ctx, "screenshot "+name, chromedp.FullScreenshot(100))
	p := filepath.Join(screenshotDir(t), name+".png")
	if err := os.WriteFile(p, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot %s", p)
}

func bodyText(t *testing.T, ctx context.Context) string {
	t.Helper()
	return pull(t, ctx, "read the page", chromedp.Text(chromedp.CSS("body")))
}

// allowDownloads saves the tab's downloads in dir.
func allowDownloads(dir string) chromedp.Action[chromedp.Void] {
	return func(ctx context.Context, tg *chromedp.Target) (chromedp.Void, error) {
		_, err := cdp.Call(ctx, tg, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{
			Behavior: browser.SetDownloadBehaviorBehaviorAllow, DownloadPath: dir})
		return chromedp.Void{}, err
	}
}

// waitFile waits for a finished download in dir and returns its bytes.
func waitFile(t *testing.T, dir string) []byte {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		ents, _ := os.ReadDir(dir)
		for _, e := range ents {
			if !strings.HasSuffix(e.Name(), ".crdownload") {
				b, err := os.ReadFile(filepath.Join(dir, e.Name()))
				if err == nil {
					return b
				}
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("no download arrived in %s", dir)
	return nil
}

// consoleServer is a sharesvc whose public URL is where the browser
// reaches it (the console checks Origin against it).
func consoleServer(t *testing.T) (*env, string) { return consoleServerWith(t, envOptions{}) }

// consoleServerWith is consoleServer with options.
func consoleServerWith(t *testing.T, o envOptions) (*env, string) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + ln.Addr().String()
	o.cfg = func(c *server.Config) { c.PublicURL = base }
	e := newEnv(t, o)
	hs := &http.Server{Handler: e.srv, ReadHeaderTimeout: 10 * time.Second}
	go hs.Serve(ln)
	t.Cleanup(func() { hs.Close() })
	return e, base
}

func signInBrowser(t *testing.T, ctx context.Context, base, token, shot string) {
	t.Helper()
	browse(t, ctx, "open the sign-in page", chromedp.Navigate(base+"/ui/signin"), chromedp.WaitVisible(chromedp.CSS("#token")))
	if shot != "" {
		shoot(t, ctx, shot)
	}
	browse(t, ctx, "sign in",
		chromedp.SendKeys(chromedp.CSS("#token"), token),
		chromedp.Click(chromedp.CSS("form[action='/ui/signin'] button")),
		chromedp.WaitVisible(chromedp.CSS("header .who")))
}

var shortURLPattern = regexp.MustCompile(`/[su]/[A-Za-z0-9_-]{24}$`)

// The console in a real browser: a sharer creates a link, a stranger's
// fresh browser receives the object's bytes through it; the sharer revokes
// it and the stranger gets the gone page; an auditor finds both accesses;
// an admin previews a bulk revoke and confirms the kill switch; a file goes
// through the upload page into S3. Each page is saved as a screenshot.
func TestConsoleInBrowser(t *testing.T) {
	e, base := consoleServer(t)
	const object = "the quarterly numbers, from the browser test\n"
	e.put("console/report.txt", object)
	auditor := e.token("auditor-browser", auth.RoleAuditor)

	// The sharer signs in and creates a download link.
	sharer := newBrowser(t)
	signInBrowser(t, sharer, base, e.sharer, "01-signin")
	shoot(t, sharer, "02-links-empty")
	browse(t, sharer, "fill the create form",
		chromedp.SetValue(chromedp.CSS("#key"), "console/report.txt"),
		chromedp.SetValue(chromedp.CSS("#max_uses"), "5"),
		chromedp.SetValue(chromedp.CSS("#filename"), "report.txt"),
		chromedp.SetValue(chromedp.CSS("#note"), "for the board"),
		chromedp.Click(chromedp.CSS("#create button[type=submit]")),
		chromedp.WaitVisible(chromedp.CSS("#short-url")))
	shortURL := pull(t, sharer, "read the short URL", chromedp.Value(chromedp.CSS("#short-url")))
	if !strings.HasPrefix(shortURL, base+"/s/") || !shortURLPattern.MatchString(shortURL) {
		t.Fatalf("short URL %q", shortURL)
	}
	linkID := pull(t, sharer, "read the link id", chromedp.Text(chromedp.CSS("a[href^='/ui/links/lnk_']")))
	browse(t, sharer, "the QR code", chromedp.WaitVisible(chromedp.CSS("svg.qr")))
	shoot(t, sharer, "03-link-created")

	// A stranger's fresh browser opens it and receives the bytes.
	stranger := newBrowser(t)
	dl := t.TempDir()
	browse(t, stranger, "allow downloads", allowDownloads(dl))
	_ = chromedp.Do(stranger, chromedp.Navigate(shortURL)) // a download aborts the navigation
	if got := waitFile(t, dl); string(got) != object {
		t.Fatalf("downloaded %q, want %q", got, object)
	}

	// The sharer sees one use, then revokes the link.
	browse(t, sharer, "the links page", chromedp.Navigate(base+"/ui/links"), chromedp.WaitVisible(chromedp.CSS("table")))
	if txt := bodyText(t, sharer); !strings.Contains(txt, "1 / 5") || !strings.Contains(txt, "live") {
		t.Fatalf("links page after one download:\n%s", txt)
	}
	shoot(t, sharer, "04-links")
	browse(t, sharer, "revoke", chromedp.Click(chromedp.CSS("form[action$='/revoke'] button")),
		chromedp.WaitVisible(chromedp.CSS(".state-revoked")))
	shoot(t, sharer, "05-links-revoked")

	// The stranger now gets the gone page, which says nothing about the object.
	browse(t, stranger, "open the revoked link", chromedp.Navigate(shortURL), chromedp.WaitVisible(chromedp.CSS("h1")))
	gone := bodyText(t, stranger)
	if !strings.Contains(gone, "revoked") || strings.Contains(gone, "report") || strings.Contains(gone, "console/") {
		t.Fatalf("gone page:\n%s", gone)
	}
	shoot(t, stranger, "06-gone")

	// A link that asks browsers to confirm shows its confirmation page.
	confirm := e.createLink(e.sharer, `{"key":"console/report.txt","filename":"report.txt","confirm":true}`)
	browse(t, stranger, "the confirmation page", chromedp.Navigate(confirm.URL), chromedp.WaitVisible(chromedp.CSS("form button")))
	if txt := bodyText(t, stranger); !strings.Contains(txt, "Download report.txt from") {
		t.Fatalf("confirmation page:\n%s", txt)
	}
	shoot(t, stranger, "06b-confirm")

	// The auditor finds both accesses: the minted one and the refused one.
	aud := newBrowser(t)
	signInBrowser(t, aud, base, auditor, "")
	browse(t, aud, "audit page", chromedp.Navigate(base+"/ui/audit?action=link.access&link_id="+linkID), chromedp.WaitVisible(chromedp.CSS("table.events")))
	txt := bodyText(t, aud)
	if !strings.Contains(txt, "minted") || !regexp.MustCompile(`denied\s+revoked`).MatchString(txt) {
		t.Fatalf("audit page lacks the minted and the revoked access:\n%s", txt)
	}
	shoot(t, aud, "07-audit")
	browse(t, aud, "a link's timeline", chromedp.Navigate(base+"/ui/links/"+linkID), chromedp.WaitVisible(chromedp.CSS("main h2")))
	if txt := bodyText(t, aud); !strings.Contains(txt, "Timeline") || !strings.Contains(txt, "link.revoke") {
		t.Fatalf("timeline:\n%s", txt)
	}
	shoot(t, aud, "08-link-timeline")
	browse(t, aud, "verify", chromedp.Navigate(base+"/ui/audit/verify"), chromedp.WaitVisible(chromedp.CSS(".ok")))
	shoot(t, aud, "09-audit-verify")

	// The admin: tokens, a bulk revoke preview, the kill switch.
	adm := newBrowser(t)
	signInBrowser(t, adm, base, e.admin, "")
	browse(t, adm, "admin page", chromedp.Navigate(base+"/ui/admin"), chromedp.WaitVisible(chromedp.CSS("#b-prefix")))
	shoot(t, adm, "10-admin")
	browse(t, adm, "bulk revoke preview", chromedp.SetValue(chromedp.CSS("#b-prefix"), "console/"),
		chromedp.Click(chromedp.CSS("form[action='/ui/admin/bulk-revoke'] button")), chromedp.WaitVisible(chromedp.CSS("section.narrow h1")))
	if txt := bodyText(t, adm); !strings.Contains(txt, "This will revoke 1 live links") {
		t.Fatalf("bulk preview:\n%s", txt)
	}
	shoot(t, adm, "11-bulk-preview")
	browse(t, adm, "kill switch", chromedp.Navigate(base+"/ui/admin"),
		chromedp.SetValue(chromedp.CSS("#k-reason"), "browser test"),
		chromedp.Click(chromedp.CSS("form[action='/ui/admin/killswitch'] button")),
		chromedp.WaitVisible(chromedp.CSS("section.narrow button.danger")))
	shoot(t, adm, "12-killswitch-confirm")
	browse(t, adm, "confirm the kill switch", chromedp.Click(chromedp.CSS("section.narrow button.danger")), chromedp.WaitVisible(chromedp.CSS(".notice")))
	if txt := bodyText(t, adm); !strings.Contains(txt, "suspended") {
		t.Fatalf("after the kill switch:\n%s", txt)
	}
	shoot(t, adm, "13-killswitch-on")
	browse(t, adm, "lift the kill switch", chromedp.Click(chromedp.CSS("form[action='/ui/admin/killswitch'] button")),
		chromedp.WaitVisible(chromedp.CSS("form[action='/ui/admin/killswitch'] button.danger")),
		chromedp.Click(chromedp.CSS("form[action='/ui/admin/killswitch'] button.danger")),
		chromedp.WaitVisible(chromedp.CSS("#k-reason")))

	// An upload link, created in the console, used through the upload page.
	browse(t, sharer, "create an upload link", chromedp.Navigate(base+"/ui/links"),
		chromedp.SetValue(chromedp.CSS("#kind"), "upload"),
		chromedp.SetValue(chromedp.CSS("#key"), "console/uploaded.bin"),
		chromedp.Click(chromedp.CSS("#create button[type=submit]")),
		chromedp.WaitVisible(chromedp.CSS("#short-url")))
	uploadURL := pull(t, sharer, "read the upload URL", chromedp.Value(chromedp.CSS("#short-url")))
	if !strings.HasPrefix(uploadURL, base+"/u/") {
		t.Fatalf("upload URL %q", uploadURL)
	}
	payload := bytes.Repeat([]byte("upload through the browser\n"), 40000) // ~1 MB: the bar moves
	file := filepath.Join(t.TempDir(), "uploaded.bin")
	if err := os.WriteFile(file, payload, 0o644); err != nil {
		t.Fatal(err)
	}
	up := newBrowser(t)
	browse(t, up, "the upload page", chromedp.Navigate(uploadURL), chromedp.WaitVisible(chromedp.CSS("#file")))
	shoot(t, up, "14-upload")
	browse(t, up, "upload", chromedp.SetUploadFiles(chromedp.CSS("#file"), []string{file}),
		chromedp.Click(chromedp.CSS("#upload button")))
	tctx, cancel := context.WithTimeout(up, 30*time.Second)
	err := chromedp.Do(tctx, chromedp.WaitVisible(chromedp.CSS("#status.ok")))
	cancel()
	if err != nil {
		t.Fatalf("upload did not finish: %v; status %q", err, pull(t, up, "status", chromedp.Text(chromedp.CSS("#status"))))
	}
	shoot(t, up, "15-upload-done")
	got, err := e.s3.GetObject(context.Background(), testBucket, "console/uploaded.bin")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, payload) {
		t.Fatalf("S3 holds %d bytes, want the %d uploaded", len(got), len(payload))
	}
}
