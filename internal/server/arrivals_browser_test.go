package server_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/chromedp/chromedp"
)

// An upload link as an inbox, in real browsers: the uploader sees the
// sharer's note and what is accepted and sends a file through the upload
// page; the sharer finds it on the link's page under the uploader's file
// name, downloads it, and shares it onwards with a new download link.
func TestUploadInboxInBrowser(t *testing.T) {
	e, base := consoleServer(t)
	l := e.createLink(e.sharer, `{"kind":"upload","key_prefix":"inbox/browser","max_bytes":2000000,"note":"the signed contract, please"}`)

	const name = "Signed contract (v2).pdf"
	payload := bytes.Repeat([]byte("signed in the browser\n"), 40000) // ~0.9 MB
	file := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(file, payload, 0o644); err != nil {
		t.Fatal(err)
	}
	up := newBrowser(t)
	browse(t, up, "the upload page", chromedp.Navigate(l.URL), chromedp.WaitVisible(chromedp.CSS("#file")))
	if txt := bodyText(t, up); !strings.Contains(txt, "the signed contract, please") || !strings.Contains(txt, "at most 2 MB") {
		t.Fatalf("upload page:\n%s", txt)
	}
	browse(t, up, "upload", chromedp.SetUploadFiles(chromedp.CSS("#file"), []string{file}), chromedp.Click(chromedp.CSS("#send")))
	tctx, cancel := context.WithTimeout(up, 30*time.Second)
	err := chromedp.Do(tctx, chromedp.WaitVisible(chromedp.CSS("#status.ok")))
	cancel()
	if err != nil {
		t.Fatalf("upload did not finish: %v; status %q", err, pull(t, up, "status", chromedp.Text(chromedp.CSS("#status"))))
	}
	shoot(t, up, "30-inbox-uploaded")
	// The page's script sent the name headers the presign answer signed,
	// so the object keeps the uploader's name in S3.
	_, arr := e.arrivals(e.sharer, l.ID)
	if len(arr.Arrivals) != 1 {
		t.Fatalf("arrivals = %+v", arr)
	}
	h, err := e.s3.HeadObject(context.Background(), testBucket, arr.Arrivals[0].Key)
	if err != nil {
		t.Fatal(err)
	}
	if cd, m := aws.ToString(h.ContentDisposition), h.Metadata["filename"]; cd != `attachment; filename="Signed contract (v2).pdf"; filename*=UTF-8''Signed%20contract%20%28v2%29.pdf` ||
		m != "Signed%20contract%20%28v2%29.pdf" {
		t.Errorf("object's Content-Disposition %q, x-amz-meta-filename %q; want the uploader's name", cd, m)
	}

	sharer := newBrowser(t)
	signInBrowser(t, sharer, base, e.sharer, "")
	browse(t, sharer, "the link's page", chromedp.Navigate(base+"/ui/links/"+l.ID), chromedp.WaitVisible(chromedp.CSS("#arrivals")))
	row := pull(t, sharer, "the arrival", chromedp.Text(chromedp.CSS("#arrivals tbody tr")))
	if !strings.Contains(row, name) || !strings.Contains(row, "880 kB") || !strings.Contains(row, "127.0.0.1") {
		t.Fatalf("arrival row: %q", row)
	}
	shoot(t, sharer, "31-inbox-arrivals")

	dl := t.TempDir()
	browse(t, sharer, "allow downloads", allowDownloads(dl))
	_ = chromedp.Do(sharer, chromedp.Click(chromedp.CSS("#arrivals a.download"))) // a download aborts the navigation
	if got := waitFile(t, dl); !bytes.Equal(got, payload) {
		t.Fatalf("downloaded %d bytes, want %d", len(got), len(payload))
	}
	if _, err := os.Stat(filepath.Join(dl, name)); err != nil {
		t.Errorf("the download is not saved under the uploader's name: %v", err)
	}

	browse(t, sharer, "share onwards", chromedp.Navigate(base+"/ui/links/"+l.ID), chromedp.WaitVisible(chromedp.CSS("#arrivals")),
		chromedp.Click(chromedp.CSS("#arrivals button.share-onwards")), chromedp.WaitVisible(chromedp.CSS("#short-url")))
	onward := pull(t, sharer, "read the short URL", chromedp.Value(chromedp.CSS("#short-url")))
	if !strings.HasPrefix(onward, base+"/s/") {
		t.Fatalf("share onwards made %q", onward)
	}
	shoot(t, sharer, "32-inbox-shared-onwards")
	stranger := newBrowser(t)
	dl2 := t.TempDir()
	browse(t, stranger, "allow downloads", allowDownloads(dl2))
	_ = chromedp.Do(stranger, chromedp.Navigate(onward))
	if got := waitFile(t, dl2); !bytes.Equal(got, payload) {
		t.Fatalf("the onward link gave %d bytes, want %d", len(got), len(payload))
	}
}
