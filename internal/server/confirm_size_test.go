package server_test

import (
	"net/http"
	"strings"
	"testing"
)

// The confirmation page says how large the file is: the size the HEAD at
// creation saw, in human form with the exact count beside it; the API shows
// it as object_bytes. A link whose size is not known (made before sizes
// were kept: a NULL) shows no size at all, not "0 bytes".
func TestConfirmPageShowsObjectSize(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.put("sized/report.pdf", strings.Repeat("x", 2_400_000))
	e.put("sized/empty.txt", "")
	const html = "text/html,application/xhtml+xml"
	page := func(url string) string {
		t.Helper()
		r := e.do("GET", sharePath(t, url), "", "", "Accept", html)
		body := readAll(t, r.Body)
		if r.StatusCode != http.StatusOK || !strings.Contains(body, "<form method=\"post\">") {
			t.Fatalf("confirmation page = %s", fmtResp(r, body))
		}
		return body
	}
	objectBytes := func(id string) *int64 {
		t.Helper()
		type link struct {
			ObjectBytes *int64 `json:"object_bytes"`
		}
		return decode[link](t, e.do("GET", "/api/v1/links/"+id, e.admin, "")).ObjectBytes
	}

	l := e.createLink(e.sharer, `{"key":"sized/report.pdf","confirm":true,"note":"Q3 figures"}`)
	body := page(l.URL)
	for _, want := range []string{`<span title="2,400,000 bytes">2.4 MB</span>`, "(2,400,000 bytes)", "Q3 figures", "Download report.pdf"} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %q:\n%s", want, body)
		}
	}
	if n := objectBytes(l.ID); n == nil || *n != 2_400_000 {
		t.Errorf("object_bytes = %v; want 2400000", n)
	}
	// The sharer's own page of the link says it too.
	c := newConsoleClient(t, e)
	c.signIn(e.sharer)
	if _, body := c.get("/ui/links/" + l.ID); !strings.Contains(body, `<td id="object-size">2.4 MB (2,400,000 bytes)</td>`) {
		t.Errorf("console link page lacks the size:\n%s", body)
	}

	// An empty object is known to be empty.
	z := e.createLink(e.sharer, `{"key":"sized/empty.txt","confirm":true}`)
	if body := page(z.URL); !strings.Contains(body, `<p id="size">Size: <span title="0 bytes">0 bytes</span></p>`) {
		t.Errorf("page of an empty object lacks its size:\n%s", body)
	}
	if n := objectBytes(z.ID); n == nil || *n != 0 {
		t.Errorf("object_bytes of an empty object = %v; want 0", n)
	}

	// A row from before the migration.
	old := e.createLink(e.sharer, `{"key":"sized/report.pdf","confirm":true}`)
	if _, err := e.db.Write.Exec(`UPDATE links SET object_bytes = NULL WHERE id = '` + old.ID + `'`); err != nil {
		t.Fatal(err)
	}
	body = page(old.URL)
	if strings.Contains(body, `id="size"`) || strings.Contains(body, "bytes") || strings.Contains(body, " B<") {
		t.Errorf("page of a link without a known size shows one:\n%s", body)
	}
	if !strings.Contains(body, "Download report.pdf") {
		t.Errorf("page lacks the file name:\n%s", body)
	}
	if _, body := c.get("/ui/links/" + old.ID); strings.Contains(body, "object-size") {
		t.Errorf("console page of a link without a known size shows one:\n%s", body)
	}
	if n := objectBytes(old.ID); n != nil {
		t.Errorf("object_bytes of a link without a known size = %d; want it absent", *n)
	}
	r := e.do("GET", "/api/v1/links/"+old.ID, e.admin, "")
	if b := readAll(t, r.Body); strings.Contains(b, "object_bytes") {
		t.Errorf("API link without a known size holds object_bytes: %s", b)
	}
}
