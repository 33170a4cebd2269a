package server_test

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
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

// xorshiftBytes returns n bytes (n a multiple of 4) of xorshift32 from
// seed, each word little-endian: what dropFileJS builds in the page.
func xorshiftBytes(n int, seed uint32) []byte {
	b := make([]byte, n)
	x := seed
	for i := 0; i < n; i += 4 {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		binary.LittleEndian.PutUint32(b[i:], x)
	}
	return b
}

// dropFileJS (a format of size, seed and name) builds, in the page, a File
// of size bytes of xorshift32 from seed, as xorshiftBytes does, and drags
// it onto the drop zone: dragenter, dragover and drop carrying a
// DataTransfer that holds it. It counts change events
// of the file input, and records in sessionStorage (which outlives the
// page's navigation to the new link) the highest percentage and progress
// the page showed.
const dropFileJS = `(() => {
	const n = %d, words = new Uint32Array(n / 4);
	let x = %d >>> 0;
	for (let i = 0; i < words.length; i++) {
		x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0;
		words[i] = x;
	}
	const file = new File([words], %q);
	const input = document.getElementById('share-file'), bar = document.getElementById('share-progress');
	const status = document.getElementById('share-status'), drop = document.getElementById('share-drop');
	let changes = 0;
	input.addEventListener('change', () => { changes++; sessionStorage.setItem('changes', changes); });
	sessionStorage.setItem('changes', 0);
	new MutationObserver(() => {
		const m = status.textContent.match(/: (\d+)%%/);
		if (m && +m[1] > +(sessionStorage.getItem('pct') || -1)) sessionStorage.setItem('pct', m[1]);
		if (bar.value > +(sessionStorage.getItem('value') || -1)) {
			sessionStorage.setItem('value', bar.value); sessionStorage.setItem('max', bar.max);
		}
	}).observe(status, {childList: true, characterData: true, subtree: true});
	const dt = new DataTransfer();
	dt.items.add(file);
	const fire = type => drop.dispatchEvent(new DragEvent(type, {bubbles: true, cancelable: true, dataTransfer: dt}));
	fire('dragenter');
	const dragoverTaken = !fire('dragover');
	const over = drop.classList.contains('over');
	const dropTaken = !fire('drop');
	return {Bytes: file.size, Words: [words[0], words[words.length - 1]], DragoverTaken: dragoverTaken, Over: over, DropTaken: dropTaken,
		OverAfter: drop.classList.contains('over'), Status: status.textContent, InputFiles: input.files.length, Changes: changes};
})()`

// In a real browser a sharer drags a 30 MB file, made in the page, onto
// the links page's drop zone: the drop handler (not the file input) starts
// the upload, the script sends it to S3 in parts with presigned URLs
// showing progress up to 100 %, the link is made in the same flow, and
// the short URL it shows downloads the same bytes.
func TestConsoleShareFileInBrowser(t *testing.T) {
	e, base := consoleServer(t)
	const (
		size = 30 << 20
		seed = 0x9E3779B9
		name = "survey results.bin"
	)
	data := xorshiftBytes(size, seed)
	ctx := newBrowser(t)
	signInBrowser(t, ctx, base, e.sharer, "")
	browse(t, ctx, "the links page", chromedp.Navigate(base+"/ui/links"), chromedp.WaitVisible(chromedp.CSS("#share-drop")))
	type dropped struct {
		Bytes                                     int
		Words                                     []uint32
		DragoverTaken, Over, DropTaken, OverAfter bool
		Status                                    string
		InputFiles, Changes                       int
	}
	d := pull(t, ctx, "drop the file", chromedp.Evaluate[dropped](fmt.Sprintf(dropFileJS, size, seed, name)))
	if d.Bytes != size || d.Words[0] != binary.LittleEndian.Uint32(data) || d.Words[1] != binary.LittleEndian.Uint32(data[size-4:]) {
		t.Fatalf("the page made %d bytes, words %x; want %d bytes as Go makes them", d.Bytes, d.Words, size)
	}
	if !d.DragoverTaken || !d.Over || !d.DropTaken || d.OverAfter {
		t.Fatalf("drag events: dragover taken %v (zone marked %v), drop taken %v (mark left %v); want the drop zone to take both",
			d.DragoverTaken, d.Over, d.DropTaken, d.OverAfter)
	}
	if d.Status != "Preparing the upload of "+name+"…" || d.InputFiles != 0 || d.Changes != 0 {
		t.Fatalf("after the drop the page says %q, the input holds %d files and saw %d changes; want the drop handler to start the upload",
			d.Status, d.InputFiles, d.Changes)
	}
	tctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	if err := chromedp.Do(tctx, chromedp.WaitVisible(chromedp.CSS("#short-url"))); err != nil {
		txt, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText : ""`))
		t.Fatalf("share the file: %v\nthe page says:\n%s", err, txt)
	}
	shoot(t, ctx, "console-share-file")
	progress := pull(t, ctx, "read the progress", chromedp.Evaluate[map[string]string](
		`({pct: sessionStorage.getItem('pct'), value: sessionStorage.getItem('value'), max: sessionStorage.getItem('max'), changes: sessionStorage.getItem('changes')})`))
	if want := fmt.Sprint(size); progress["pct"] != "100" || progress["value"] != want || progress["max"] != want || progress["changes"] != "0" {
		t.Fatalf("progress seen %v; want 100%% and %s of %s bytes, and no change event", progress, want, want)
	}
	short := pull(t, ctx, "read the short URL", chromedp.Value(chromedp.CSS("#short-url")))
	resp, err := http.Get(base + shortURLPattern.FindString(short))
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || sha256.Sum256(got) != sha256.Sum256(data) {
		t.Fatalf("the link gave %d, %d bytes; want the %d dropped", resp.StatusCode, len(got), len(data))
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
