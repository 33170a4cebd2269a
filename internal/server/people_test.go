package server_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/sharesvc/sharesvc/internal/audit"
	"github.com/sharesvc/sharesvc/internal/auth"
	"github.com/sharesvc/sharesvc/internal/people"
	"github.com/sharesvc/sharesvc/internal/server"
)

// A share message names the sharer: From carries their display name (RFC
// 2047-encoded by the mail library, decoded by Mailpit) over the configured
// sender's address, and Reply-To is their own address.
func TestShareMailNamesTheSharer(t *testing.T) {
	me := newMailEnv(t, nil)
	me.put("people/plan.pdf", "the plan")
	name := "sharer-" + t.Name()
	id := me.tokenID(name)

	// A line break in a display name is refused and changes nothing.
	for _, body := range []string{
		`{"display_name":"Alice\r\nBcc: evil@x.org","email":"alice@corp.example"}`,
		`{"display_name":"Alice","email":"alice@corp.example\r\nBcc: evil@x.org"}`,
	} {
		if r := me.do("PATCH", "/api/v1/tokens/"+id, me.admin, body); r.StatusCode != http.StatusBadRequest {
			t.Fatalf("PATCH %s = %d; want 400", body, r.StatusCode)
		}
	}
	if r := me.do("PATCH", "/api/v1/tokens/"+id, me.sharer, `{"display_name":"Mallory"}`); r.StatusCode != http.StatusForbidden {
		t.Fatalf("a sharer's PATCH = %d; want 403", r.StatusCode)
	}
	r := me.do("PATCH", "/api/v1/tokens/"+id, me.admin, `{"display_name":"Alice Exämple","email":"Alice@Corp.Example"}`)
	got := decode[server.TokenResponse](t, r)
	if got.DisplayName != "Alice Exämple" || got.Email != "Alice@corp.example" || got.Name != name {
		t.Fatalf("PATCH = %+v; want the display name and the normalised address under the same name", got)
	}

	me.createShare(me.sharer, `{"key":"people/plan.pdf","note":"the plan","recipients":["bob@x.org"]}`)
	if n := me.runMail(); n != 1 {
		t.Fatalf("RunOnce tried %d messages; want 1", n)
	}
	ms := me.messages()
	if len(ms) != 1 {
		t.Fatalf("%d messages; want 1", len(ms))
	}
	full, err := me.mp.Get(context.Background(), ms[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	if full.From.Name != "Alice Exämple via sharesvc" || full.From.Address != "noreply@share.example" {
		t.Errorf("From = %+v; want \"Alice Exämple via sharesvc\" <noreply@share.example>", full.From)
	}
	if len(full.ReplyTo) != 1 || full.ReplyTo[0].Address != "Alice@corp.example" {
		t.Errorf("Reply-To = %+v; want Alice@corp.example", full.ReplyTo)
	}
	if !strings.Contains(full.Text, "Alice Exämple") {
		t.Errorf("the body does not name the sharer:\n%s", full.Text)
	}
}

// A token created with a display name and address keeps them; one with a
// line break in its display name is not created.
func TestCreateTokenWithPerson(t *testing.T) {
	e := newEnv(t, envOptions{})
	if r := e.do("POST", "/api/v1/tokens", e.admin, `{"name":"eve","role":"sharer","display_name":"Eve\nX"}`); r.StatusCode != http.StatusBadRequest {
		t.Fatalf("create with a line break = %d; want 400", r.StatusCode)
	}
	r := e.do("POST", "/api/v1/tokens", e.admin, `{"name":"eve","role":"sharer","display_name":"Eve Example","email":"eve@x.org"}`)
	got := decode[server.TokenResponse](t, r)
	if got.DisplayName != "Eve Example" || got.Email != "eve@x.org" || got.Token == "" {
		t.Fatalf("created = %+v", got)
	}
}

// Rotation gives the same token (name, id, links) a new secret; the old
// one is refused at once, and the act is audited without the secret.
func TestRotateToken(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.put("rot/a.txt", "a")
	l := e.createLink(e.sharer, `{"key":"rot/a.txt"}`)
	name := "sharer-" + t.Name()
	id := e.tokenID(name)

	if r := e.do("POST", "/api/v1/tokens/"+id+"/rotate", e.sharer, `{}`); r.StatusCode != http.StatusForbidden {
		t.Fatalf("a sharer rotating = %d; want 403", r.StatusCode)
	}
	if r := e.do("POST", "/api/v1/tokens/tok_nosuch/rotate", e.admin, `{}`); r.StatusCode != http.StatusNotFound {
		t.Fatalf("rotating an unknown token = %d; want 404", r.StatusCode)
	}
	r := e.do("POST", "/api/v1/tokens/"+id+"/rotate", e.admin, `{"reason":"laptop lost"}`)
	rot := decode[server.TokenResponse](t, r)
	if rot.ID != id || rot.Name != name || rot.Token == "" || rot.Token == e.sharer {
		t.Fatalf("rotate = %+v; want the same token with a new secret", rot)
	}
	if r := e.do("GET", "/api/v1/links/"+l.ID, e.sharer, ""); r.StatusCode != http.StatusUnauthorized {
		t.Fatalf("the old secret = %d; want 401", r.StatusCode)
	}
	if r := e.do("GET", "/api/v1/links/"+l.ID, rot.Token, ""); r.StatusCode != http.StatusOK {
		t.Fatalf("the new secret on the person's own link = %d; want 200", r.StatusCode)
	}
	if r := e.do("POST", "/api/v1/links/"+l.ID+"/revoke", rot.Token, `{}`); r.StatusCode != http.StatusOK {
		t.Fatalf("the new secret revoking the person's own link = %d; want 200", r.StatusCode)
	}
	ev := e.byRequest(r.Header.Get("X-Request-Id"))
	if len(ev) != 1 || ev[0].Action != audit.ActionTokenRotate || ev[0].Actor != "admin-"+t.Name() ||
		!strings.Contains(ev[0].Detail, "laptop lost") || strings.Contains(ev[0].Detail, rot.Token) {
		t.Fatalf("audit rows = %+v; want one token.rotate without the secret", ev)
	}
	// A revoked token cannot be brought back by rotating it.
	e.do("POST", "/api/v1/tokens/"+id+"/revoke", e.admin, `{}`)
	if r := e.do("POST", "/api/v1/tokens/"+id+"/rotate", e.admin, `{}`); r.StatusCode != http.StatusNotFound {
		t.Fatalf("rotating a revoked token = %d; want 404", r.StatusCode)
	}
}

// A person who signs in through the identity provider shares under the
// name and address the provider gave: From carries their display name and
// Reply-To their verified address, here through a token they minted for
// their scripts (it acts as them).
func TestShareMailNamesAProviderPerson(t *testing.T) {
	me := newMailEnv(t, nil)
	me.put("people/roadmap.pdf", "the roadmap")
	ctx := context.Background()
	p, _, err := people.NewStore(me.db.Read).SignIn(ctx, people.Claims{Issuer: "https://idp.example.org", Subject: "00u-zoe",
		Email: "Zoe@Corp.Example", EmailVerified: true, Name: "Zoë Provider", Groups: []string{"staff"}}, people.RoleMap{}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	secret, hash := auth.NewSecret()
	tok := &auth.Token{ID: auth.NewID(), Name: p.Name + "/scripts/1", Role: auth.RoleSharer, CreatedAt: time.Now(), CreatedBy: p.Name, Owner: p.Name}
	if err := auth.Insert(ctx, me.db.Read, tok, hash); err != nil {
		t.Fatal(err)
	}
	me.createShare(secret, `{"key":"people/roadmap.pdf","recipients":["bob@x.org"]}`)
	if n := me.runMail(); n != 1 {
		t.Fatalf("RunOnce tried %d messages; want 1", n)
	}
	ms := me.messages()
	if len(ms) != 1 {
		t.Fatalf("%d messages; want 1", len(ms))
	}
	full, err := me.mp.Get(ctx, ms[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	if full.From.Name != "Zoë Provider via sharesvc" {
		t.Errorf("From = %+v; want the provider's display name", full.From)
	}
	if len(full.ReplyTo) != 1 || full.ReplyTo[0].Address != "zoe@corp.example" {
		t.Errorf("Reply-To = %+v; want the provider's address zoe@corp.example", full.ReplyTo)
	}
	if !strings.Contains(full.Text, "Zoë Provider") {
		t.Errorf("the body does not name the sharer:\n%s", full.Text)
	}
}

// The upload page names the sharer as the confirmation page does: their
// display name, not their token's name.
func TestUploadPageNamesTheSharer(t *testing.T) {
	e := newEnv(t, envOptions{})
	id := e.tokenID("sharer-" + t.Name())
	if r := e.do("PATCH", "/api/v1/tokens/"+id, e.admin, `{"display_name":"Alice Exämple"}`); r.StatusCode != http.StatusOK {
		t.Fatalf("PATCH = %s", r.Status)
	}
	l := e.createLink(e.sharer, `{"kind":"upload","key_prefix":"inbox/named"}`)
	r := e.do("GET", sharePath(t, l.URL), "", "", "Accept", "text/html")
	body := readAll(t, r.Body)
	if r.StatusCode != http.StatusOK || !strings.Contains(body, "Alice Exämple asked you for a file") {
		t.Fatalf("upload page = %s; want it to name Alice Exämple\n%s", r.Status, body)
	}
}
