package server_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/sharesvc/sharesvc/internal/server"
)

// Durations in request bodies are numbers of seconds, as always, or
// strings as people write them.
func TestDurationFields(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.put("d.txt", "d")
	for _, tc := range []struct {
		body     string
		lifetime time.Duration
		ttl      int64
	}{
		{`{"key":"d.txt","expires_in":"2d","presign_ttl":"90s"}`, 48 * time.Hour, 90},
		{`{"key":"d.txt","expires_in":"1w","presign_ttl":"2m"}`, 7 * 24 * time.Hour, 120},
		{`{"key":"d.txt","expires_in":"1d12h"}`, 36 * time.Hour, 60},
		{`{"key":"d.txt","expires_in":"3600","presign_ttl":"45"}`, time.Hour, 45},
		{`{"key":"d.txt","expires_in":7200,"presign_ttl":30}`, 2 * time.Hour, 30},
	} {
		r := e.do("POST", "/api/v1/links", e.admin, tc.body)
		if r.StatusCode != http.StatusCreated {
			t.Fatalf("POST %s = %s", tc.body, fmtResp(r, readAll(t, r.Body)))
		}
		l := decode[server.LinkResponse](t, r)
		if got := l.ExpiresAt.Sub(l.CreatedAt); got != tc.lifetime || l.PresignTTL != tc.ttl {
			t.Errorf("POST %s: lifetime %v, presign_ttl %d; want %v, %d", tc.body, got, l.PresignTTL, tc.lifetime, tc.ttl)
		}
	}
	// Refusals name the field and the text.
	r := e.do("POST", "/api/v1/links", e.admin, `{"key":"d.txt","expires_in":"1.5d"}`)
	if body := readAll(t, r.Body); r.StatusCode != 400 || !strings.Contains(body, `expires_in`) || !strings.Contains(body, `1.5d`) {
		t.Errorf("expires_in 1.5d = %d %s; want 400 naming the field and the text", r.StatusCode, body)
	}
	// Numbers keep their old message.
	r = e.do("POST", "/api/v1/links", e.admin, `{"key":"d.txt","expires_in":1.5}`)
	if body := readAll(t, r.Body); r.StatusCode != 400 || !strings.Contains(body, `field \"expires_in\" must be int64`) {
		t.Errorf("expires_in 1.5 = %d %s; want the int64 message", r.StatusCode, body)
	}

	body := `{"role":"sharer","bucket":"` + testBucket + `","key_prefix":"d/","actions":["download"],"max_lifetime":"1w","max_presign_ttl":"2m","reason":"r"}`
	r = e.do("POST", "/api/v1/grants", e.admin, body)
	if r.StatusCode != http.StatusCreated {
		t.Fatalf("create grant = %s", fmtResp(r, readAll(t, r.Body)))
	}
	if g := decode[server.GrantResponse](t, r); g.MaxLifetime != 7*24*3600 || g.MaxPresignTTL != 120 {
		t.Fatalf("grant = %+v; want max_lifetime 604800, max_presign_ttl 120", g)
	}
	for _, b := range []string{`"max_lifetime":"2.5w"`, `"max_presign_ttl":"0s"`, `"max_lifetime":false`} {
		body := `{"role":"sharer","bucket":"` + testBucket + `","key_prefix":"e/","actions":["download"],` + b + `,"reason":"r"}`
		if r := e.do("POST", "/api/v1/grants", e.admin, body); r.StatusCode != 400 {
			t.Errorf("grant with %s = %s; want 400", b, fmtResp(r, readAll(t, r.Body)))
		}
	}
}
