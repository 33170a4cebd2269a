package web_test

import (
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/sharesvc/sharesvc/internal/web"
)

// The session store holds at most its bound, forgets expired sessions, and
// keys sessions by a hash: the id itself is not kept.
func TestSessionsBoundedAndExpiring(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	s := web.NewSessions(3, time.Hour, func() time.Time { return now })
	var ids []string
	for i := 0; i < 5; i++ {
		id, sess := s.Create("tok_" + string(rune('a'+i)))
		if sess.CSRF == "" || sess.CSRF == id {
			t.Fatal("a session needs its own CSRF token")
		}
		ids = append(ids, id)
		now = now.Add(time.Minute)
	}
	if s.Len() != 3 {
		t.Fatalf("Len = %d, want the bound 3", s.Len())
	}
	if _, ok := s.Get(ids[0]); ok {
		t.Error("the oldest session survived eviction")
	}
	if sess, ok := s.Get(ids[4]); !ok || sess.TokenID != "tok_e" {
		t.Fatalf("newest session: %+v %v", sess, ok)
	}
	now = now.Add(2 * time.Hour)
	if _, ok := s.Get(ids[4]); ok {
		t.Error("an expired session is still valid")
	}
	s.Delete(ids[3])
	if _, ok := s.Get(ids[3]); ok {
		t.Error("a deleted session is still valid")
	}
	if web.Equal("", "") || !web.Equal("abc", "abc") || web.Equal("abc", "abd") {
		t.Error("Equal")
	}
}

func TestQRAndPages(t *testing.T) {
	svg, err := web.QR("https://share.example/s/AAAAAAAAAAAAAAAAAAAAAAAA")
	if err != nil || !strings.HasPrefix(string(svg), "<svg") || !strings.Contains(string(svg), "h1v1h-1z") {
		t.Fatalf("QR: %v %.80s", err, svg)
	}
	w := httptest.NewRecorder()
	p := &web.Page{Title: "Sign in", CSRF: `"><script>`}
	if err := web.Render(w, 200, "signin", p); err != nil {
		t.Fatal(err)
	}
	if b := w.Body.String(); strings.Contains(b, `"><script>`) || !strings.Contains(b, "Sign in") {
		t.Fatalf("the page does not escape its values:\n%s", b)
	}
	if err := web.Render(httptest.NewRecorder(), 200, "nonesuch", p); err == nil {
		t.Error("an unknown page rendered")
	}
	if !web.HasStatic("console.css") || !web.HasStatic("upload.js") || web.HasStatic("../web.go") {
		t.Error("HasStatic")
	}
}
