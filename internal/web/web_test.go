package web_test

import (
	"context"
	"errors"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/sharesvc/sharesvc/internal/db"
	"github.com/sharesvc/sharesvc/internal/testrig/testdb"
	"github.com/sharesvc/sharesvc/internal/web"
)

// Each test's database is on the run's engine (SHARESVC_TEST_DB).
func TestMain(m *testing.M) { os.Exit(testdb.Main(m)) }

func openDB(t *testing.T, dsn string) *db.DB {
	t.Helper()
	d, err := db.Open(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

// The session store holds at most its bound, forgets expired sessions, and
// keys sessions by a hash: the id itself is not kept.
func TestSessionsBoundedAndExpiring(t *testing.T) {
	ctx := context.Background()
	now := time.Unix(1_800_000_000, 0)
	d := openDB(t, testdb.DSN(t))
	s := web.NewSessions(d.Read, 3, time.Hour, func() time.Time { return now })
	var ids []string
	for i := 0; i < 5; i++ {
		id, sess, err := s.Create(ctx, "tok_"+string(rune('a'+i)))
		if err != nil {
			t.Fatal(err)
		}
		if sess.CSRF == "" || sess.CSRF == id {
			t.Fatal("a session needs its own CSRF token")
		}
		ids = append(ids, id)
		now = now.Add(time.Minute)
	}
	if n, err := s.Len(ctx); err != nil || n != 3 {
		t.Fatalf("Len = %d, %v; want the bound 3", n, err)
	}
	get := func(id string) (web.Session, bool) {
		t.Helper()
		sess, ok, err := s.Get(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		return sess, ok
	}
	if _, ok := get(ids[0]); ok {
		t.Error("the oldest session survived eviction")
	}
	if sess, ok := get(ids[4]); !ok || sess.TokenID != "tok_e" {
		t.Fatalf("newest session: %+v %v", sess, ok)
	}
	if err := s.Delete(ctx, ids[3]); err != nil {
		t.Fatal(err)
	}
	if _, ok := get(ids[3]); ok {
		t.Error("a deleted session is still valid")
	}
	now = now.Add(2 * time.Hour)
	if _, ok := get(ids[4]); ok {
		t.Error("an expired session is still valid")
	}
	if _, ok := get(strings.Repeat("x", 101)); ok {
		t.Error("an overlong id found a session")
	}
	// Only hashes are stored: no column holds a session id.
	var leaked int
	if err := d.Read.QueryRow(`SELECT count(*) FROM console_sessions WHERE CAST(id_hash AS TEXT) = ? OR token_id = ? OR csrf = ?`,
		ids[4], ids[4], ids[4]).Scan(&leaked); err != nil || leaked != 0 {
		t.Fatalf("a session id is stored in the clear (%d rows, %v)", leaked, err)
	}
	if web.Equal("", "") || !web.Equal("abc", "abc") || web.Equal("abc", "abd") {
		t.Error("Equal")
	}
}

// Sessions live in the database: a second store on the same database (a
// restarted process, another instance) knows a session the first created,
// and a sign-out through either ends it for both.
func TestSessionsSurviveRestartAndAreShared(t *testing.T) {
	ctx := context.Background()
	dsn := testdb.DSN(t)
	a := web.NewSessions(openDB(t, dsn).Read, 10, time.Hour, nil)
	b := web.NewSessions(openDB(t, dsn).Read, 10, time.Hour, nil)
	id, sess, err := a.Create(ctx, "tok_shared")
	if err != nil {
		t.Fatal(err)
	}
	got, ok, err := b.Get(ctx, id)
	if err != nil || !ok || got.TokenID != "tok_shared" || got.CSRF != sess.CSRF {
		t.Fatalf("other store's Get = %+v %v %v; want the session", got, ok, err)
	}
	if err := b.Delete(ctx, id); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := a.Get(ctx, id); ok || err != nil {
		t.Fatalf("first store's Get after sign-out through the other = %v %v; want gone", ok, err)
	}
	if _, _, err := web.NewSessions(nil, 10, time.Hour, nil).Create(ctx, "tok"); !errors.Is(err, web.ErrNoDatabase) {
		t.Fatalf("Create without a database = %v; want ErrNoDatabase", err)
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

// A pending sign-in is good for one callback: the state works once, an
// unknown or expired state gets nothing, and only the state's hash is kept.
// A person's session carries their id, check time and sealed refresh
// token, and MarkChecked moves them on.
func TestPendingLoginsAndPersonSessions(t *testing.T) {
	ctx := context.Background()
	now := time.Unix(1_800_000_000, 0)
	d := openDB(t, testdb.DSN(t))
	s := web.NewSessions(d.Read, 10, time.Hour, func() time.Time { return now })
	want := web.PendingLogin{Nonce: "n-1", Verifier: "v-1", ReturnTo: "/ui/links"}
	if err := s.BeginLogin(ctx, "state-1", want, 10*time.Minute); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := d.Read.QueryRow(`SELECT count(*) FROM oidc_logins WHERE nonce = 'n-1' AND state_hash != ?`, "state-1").Scan(&n); err != nil || n != 1 {
		t.Fatalf("stored logins = %d, %v; want 1 keyed by a hash", n, err)
	}
	if got, ok, err := s.TakeLogin(ctx, "state-1"); err != nil || !ok || got != want {
		t.Fatalf("TakeLogin = %+v %v %v; want %+v", got, ok, err, want)
	}
	if _, ok, err := s.TakeLogin(ctx, "state-1"); ok || err != nil {
		t.Fatalf("second TakeLogin = %v %v; want nothing: a state works once", ok, err)
	}
	if _, ok, err := s.TakeLogin(ctx, "never-issued"); ok || err != nil {
		t.Fatalf("TakeLogin(unknown) = %v %v; want nothing", ok, err)
	}
	if err := s.BeginLogin(ctx, "state-2", want, 10*time.Minute); err != nil {
		t.Fatal(err)
	}
	now = now.Add(10 * time.Minute)
	if _, ok, err := s.TakeLogin(ctx, "state-2"); ok || err != nil {
		t.Fatalf("TakeLogin after expiry = %v %v; want nothing", ok, err)
	}

	id, sess, err := s.CreatePerson(ctx, "psn_a", "sealed-1")
	if err != nil {
		t.Fatal(err)
	}
	got, ok, err := s.Get(ctx, id)
	if err != nil || !ok || got.PersonID != "psn_a" || got.TokenID != "" || got.RefreshSealed != "sealed-1" || !got.CheckedAt.Equal(now) || got.CSRF != sess.CSRF {
		t.Fatalf("Get = %+v %v %v; want the person's session checked now", got, ok, err)
	}
	later := now.Add(5 * time.Minute)
	tx, err := d.Read.Begin()
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := s.MarkChecked(ctx, tx, id, later, "sealed-2"); err != nil || !ok {
		t.Fatalf("MarkChecked = %v %v", ok, err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	if got, _, _ := s.Get(ctx, id); !got.CheckedAt.Equal(later) || got.RefreshSealed != "sealed-2" {
		t.Fatalf("after MarkChecked: %+v", got)
	}
	if tok, _, _ := s.Create(ctx, "tok_x"); tok != "" {
		if got, _, _ := s.Get(ctx, tok); got.PersonID != "" || !got.CheckedAt.IsZero() || got.RefreshSealed != "" {
			t.Fatalf("a token's session: %+v", got)
		}
	}
}
