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
	"testing"
	"time"

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
