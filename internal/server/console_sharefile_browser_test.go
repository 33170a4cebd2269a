package server_test

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/fetch"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/sharesvc/sharesvc/internal/app"
)

// In a real browser a sharer chooses a 30 MB file on the links page: the
// script uploads it to S3 in parts with presigned URLs, the link is made in
// the same flow, and the short URL it shows downloads the same bytes.
func TestConsoleShareFileInBrowser(t *testing.T) {
	e, base := consoleServer(t)
	data := make([]byte, 30<<20)
	rand.Read(data)
	file := filepath.Join(t.TempDir(), "survey results.bin")
	if err := os.WriteFile(file, data, 0o600); err != nil {
		t.Fatal(err)
	}
	ctx := newBrowser(t)
	signInBrowser(t, ctx, base, e.sharer, "")
	browse(t, ctx, "the links page", chromedp.Navigate(base+"/ui/links"), chromedp.WaitVisible(chromedp.CSS("#share-drop")))
	tctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	if err := chromedp.Do(tctx, chromedp.SetUploadFiles(chromedp.CSS("#share-file"), []string{file}),
		chromedp.WaitVisible(chromedp.CSS("#short-url"))); err != nil {
		txt, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText : ""`))
		t.Fatalf("share the file: %v\nthe page says:\n%s", err, txt)
	}
	shoot(t, ctx, "console-share-file")
	short := pull(t, ctx, "read the short URL", chromedp.Value(chromedp.CSS("#short-url")))
	resp, err := http.Get(base + shortURLPattern.FindString(short))
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || sha256.Sum256(got) != sha256.Sum256(data) {
		t.Fatalf("the link gave %d, %d bytes; want the %d chosen", resp.StatusCode, len(got), len(data))
	}
	starts := e.fileEvents(app.ActionFileUploadStart, "sharer-"+strings.ReplaceAll(t.Name(), "/", "-"))
	if len(starts) != 1 || !strings.Contains(starts[0].Detail, `"parts":4`) {
		t.Fatalf("file.upload.start rows = %+v; want one upload in 4 parts", starts)
	}
}

// A part whose PUT keeps failing stops the upload with a Retry button
// that resumes at that part; the bytes still arrive whole.
func TestConsoleShareFileRetryInBrowser(t *testing.T) {
	e, base := consoleServer(t)
	data := make([]byte, 20<<20)
	rand.Read(data)
	file := filepath.Join(t.TempDir(), "flaky.bin")
	if err := os.WriteFile(file, data, 0o600); err != nil {
		t.Fatal(err)
	}
	ctx := newBrowser(t)
	signInBrowser(t, ctx, base, e.sharer, "")
	browse(t, ctx, "the links page", chromedp.Navigate(base+"/ui/links"), chromedp.WaitVisible(chromedp.CSS("#share-drop")))

	// The object store "fails" the first three PUTs of part 2.
	paused := make(chan *fetch.EventRequestPaused, 64)
	if err := chromedp.Listen(ctx, func(ev any) {
		if p, ok := ev.(*fetch.EventRequestPaused); ok {
			paused <- p
		}
	}); err != nil {
		t.Fatal(err)
	}
	var failed atomic.Int32
	go func() {
		for p := range paused {
			act := func(ctx context.Context, tg *chromedp.Target) (chromedp.Void, error) {
				if p.Request.Method == http.MethodPut && failed.Load() < 3 {
					failed.Add(1)
					_, err := cdp.Call(ctx, tg, fetch.FailRequest, fetch.FailRequestParams{RequestID: p.RequestID, ErrorReason: network.ErrorReasonConnectionFailed})
					return chromedp.Void{}, err
				}
				_, err := cdp.Call(ctx, tg, fetch.ContinueRequest, fetch.ContinueRequestParams{RequestID: p.RequestID})
				return chromedp.Void{}, err
			}
			chromedp.Run(ctx, chromedp.Action[chromedp.Void](act))
		}
	}()
	t.Cleanup(func() { close(paused) })
	browse(t, ctx, "intercept part 2", func(ctx context.Context, tg *chromedp.Target) (chromedp.Void, error) {
		_, err := cdp.Call(ctx, tg, fetch.Enable, fetch.EnableParams{Patterns: []*fetch.RequestPattern{{URLPattern: "*partNumber=2*"}}})
		return chromedp.Void{}, err
	})

	tctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	if err := chromedp.Do(tctx, chromedp.SetUploadFiles(chromedp.CSS("#share-file"), []string{file}),
		chromedp.WaitVisible(chromedp.CSS("#share-retry"))); err != nil {
		t.Fatalf("wait for Retry: %v\n%s", err, bodyText(t, ctx))
	}
	if txt := bodyText(t, ctx); !strings.Contains(txt, "part 2 of 3 failed") || failed.Load() != 3 {
		t.Fatalf("after %d failed PUTs the page says %q; want part 2 of 3 failed", failed.Load(), txt)
	}
	shoot(t, ctx, "console-share-file-retry")
	if err := chromedp.Do(tctx, chromedp.Click(chromedp.CSS("#share-retry")), chromedp.WaitVisible(chromedp.CSS("#short-url"))); err != nil {
		t.Fatalf("retry: %v\n%s", err, bodyText(t, ctx))
	}
	short := pull(t, ctx, "read the short URL", chromedp.Value(chromedp.CSS("#short-url")))
	resp, err := http.Get(base + shortURLPattern.FindString(short))
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || sha256.Sum256(got) != sha256.Sum256(data) {
		t.Fatalf("the link gave %d, %d bytes; want the %d chosen", resp.StatusCode, len(got), len(data))
	}
}
