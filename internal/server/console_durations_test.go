package server_test

import (
	"net/http"
	"net/url"
	"regexp"
	"testing"
	"time"

	"github.com/sharesvc/sharesvc/internal/server"
)

var linkIDInPage = regexp.MustCompile(`/ui/links/(lnk_[A-Za-z0-9_]+)`)

// The console's "Expires in" takes durations as people write them; a bare
// number stays hours, and so does the field of a form rendered before.
func TestConsoleExpiresIn(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.put("form.txt", "f")
	c := newConsoleClient(t, e)
	c.signIn(e.sharer)
	for _, tc := range []struct {
		field, value string
		want         time.Duration
	}{
		{"expires_in", "3d", 72 * time.Hour},
		{"expires_in", "1w", 7 * 24 * time.Hour},
		{"expires_in", " 12h ", 12 * time.Hour},
		{"expires_in", "1d12h", 36 * time.Hour},
		{"expires_in", "5", 5 * time.Hour},
		{"expires_in_hours", "2", 2 * time.Hour},
	} {
		resp, body := c.post("/ui/links", c.origin, url.Values{"csrf": {c.csrf}, "key": {"form.txt"}, tc.field: {tc.value}})
		m := linkIDInPage.FindStringSubmatch(body)
		if resp.StatusCode != http.StatusCreated || m == nil {
			t.Fatalf("%s=%q: %s, link id found: %v", tc.field, tc.value, resp.Status, m != nil)
		}
		l := decode[server.LinkResponse](t, e.do("GET", "/api/v1/links/"+m[1], e.admin, ""))
		if got := l.ExpiresAt.Sub(l.CreatedAt); got != tc.want {
			t.Errorf("%s=%q: lifetime %v; want %v", tc.field, tc.value, got, tc.want)
		}
	}
	before := e.countRows("links")
	for _, v := range []string{"1.5d", "-3d", "soon", "0", "0s", "500ms", "3d\x00"} {
		resp, body := c.post("/ui/links", c.origin, url.Values{"csrf": {c.csrf}, "key": {"form.txt"}, "expires_in": {v}})
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("expires_in=%q: %s %s; want 400", v, resp.Status, body)
		}
	}
	if n := e.countRows("links"); n != before {
		t.Fatalf("refused forms made %d links", n-before)
	}
}
