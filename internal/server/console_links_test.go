package server_test

import (
	"html"
	"net/http"
	"regexp"
	"strings"
	"testing"
)

// The audit page's export buttons and its "Older" link, and the links
// page's "Next page", lead where they say (the template once escaped their
// query strings, and the buttons answered 400).
func TestConsolePageLinksWork(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.put("pages/x.txt", "x")
	for range 105 { // over a page of the audit log (100) and of links (50)
		e.createLink(e.sharer, `{"key":"pages/x.txt"}`)
	}
	c := newConsoleClient(t, e)
	c.signIn(e.admin)
	follow := func(page, id string) (*http.Response, string) {
		t.Helper()
		resp, body := c.get(page)
		m := regexp.MustCompile(`href="([^"]+)" id="` + id + `"`).FindStringSubmatch(body)
		if m == nil {
			t.Fatalf("%s (%d) has no #%s link:\n%.2000s", page, resp.StatusCode, id, body)
		}
		href := html.UnescapeString(m[1])
		if !strings.Contains(href, "=") {
			t.Fatalf("#%s on %s = %q; want a query string", id, page, href)
		}
		return c.get(href)
	}
	for _, tc := range []struct{ page, id, ctype, want string }{
		{"/ui/audit?action=link.create", "export-csv", "text/csv", "link.create"},
		{"/ui/audit?action=link.create", "export-jsonl", "application/x-ndjson", `"action":"link.create"`},
		{"/ui/audit?action=link.create", "next-page", "text/html", "link.create"},
		{"/ui/links", "next-page", "text/html", "pages/x.txt"},
	} {
		resp, body := follow(tc.page, tc.id)
		if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), tc.ctype) || !strings.Contains(body, tc.want) {
			t.Errorf("#%s of %s = %d %s; want 200 %s holding %q", tc.id, tc.page, resp.StatusCode, resp.Header.Get("Content-Type"), tc.ctype, tc.want)
		}
	}
}

// The bare address sends a browser to the console.
func TestRootLeadsToTheConsole(t *testing.T) {
	e := newEnv(t, envOptions{})
	r := e.do("GET", "/", "", "")
	if r.StatusCode != http.StatusFound || r.Header.Get("Location") != "/ui/" {
		t.Fatalf("GET / = %d Location %q; want 302 to /ui/", r.StatusCode, r.Header.Get("Location"))
	}
}

// The upload page is told to send If-None-Match exactly when the URL signs
// it: for a link to one name, not for generated names, whatever the key
// (one named like the header once fooled a text search of the URL).
func TestPresignHeadersFollowTheSignature(t *testing.T) {
	e := newEnv(t, envOptions{})
	for _, tc := range []struct {
		body string
		want bool
	}{
		{`{"kind":"upload","key_prefix":"if-none-match/","max_bytes":100}`, false},
		{`{"kind":"upload","key":"inbox/one.txt","max_bytes":100}`, true},
	} {
		l := e.createLink(e.sharer, tc.body)
		r := e.do("POST", sharePath(t, l.URL)+"/presign", "", `{"size":5}`)
		out := decode[struct {
			Headers map[string]string `json:"headers"`
		}](t, r)
		if got := out.Headers["If-None-Match"] == "*"; got != tc.want {
			t.Errorf("presign for %s: If-None-Match asked = %v; want %v", tc.body, got, tc.want)
		}
	}
}
