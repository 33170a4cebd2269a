package server_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/sharesvc/sharesvc/internal/audit"
	"github.com/sharesvc/sharesvc/internal/auth"
	"github.com/sharesvc/sharesvc/internal/clocktest"
	"github.com/sharesvc/sharesvc/internal/server"
)

// patch sends a merge patch to a link and returns the answer.
func (e *env) patch(id, token, body string) *http.Response {
	e.t.Helper()
	return e.do("PATCH", "/api/v1/links/"+id, token, body, "Content-Type", "application/merge-patch+json")
}

// A sharer extends an expired link, raises and removes its cap and changes
// its note; the share route serves the link by its new settings at once
// (even from its cache), and each change is one link.update row with the
// old and new values. Bad input changes nothing; a revoked link is 409.
func TestEditLink(t *testing.T) {
	clk := clocktest.New(time.Now())
	e := newEnv(t, envOptions{clock: clk.Now})
	e.put("edit.txt", "editable")
	other := e.token("other-sharer", auth.RoleSharer)
	auditor := e.token("auditor", auth.RoleAuditor)
	l := e.createLink(e.sharer, `{"key":"edit.txt","expires_in":60,"max_uses":2,"note":"first"}`)
	open := func(want int) {
		t.Helper()
		if resp := e.do("GET", sharePath(t, l.URL), "", ""); resp.StatusCode != want {
			t.Fatalf("GET link = %d; want %d", resp.StatusCode, want)
		}
	}
	get := func() server.LinkResponse {
		t.Helper()
		return decode[server.LinkResponse](t, e.do("GET", "/api/v1/links/"+l.ID, e.admin, ""))
	}
	open(http.StatusFound) // now in the link cache
	clk.Advance(2 * time.Minute)
	open(http.StatusGone)

	resp := e.patch(l.ID, e.sharer, `{"expires_in":"3d"}`)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("PATCH expires_in = %s", fmtResp(resp, readAll(t, resp.Body)))
	}
	got := decode[server.LinkResponse](t, resp)
	if want := clk.Now().UTC().Truncate(time.Millisecond).Add(72 * time.Hour); !got.ExpiresAt.Equal(want) || got.State != "live" {
		t.Fatalf("after PATCH expires_in 3d: expires_at %s, state %s; want %s, live", got.ExpiresAt, got.State, want)
	}
	open(http.StatusFound) // uses 2 of 2
	open(http.StatusGone)

	before := get()
	for _, tc := range []struct{ name, body string }{
		{"cap below the uses spent", `{"max_uses":1}`},
		{"negative cap", `{"max_uses":-1}`},
		{"huge cap", `{"max_uses":1e30}`},
		{"zero lifetime", `{"expires_in":0}`},
		{"negative lifetime", `{"expires_in":-5}`},
		{"beyond the maximum lifetime", `{"expires_in":"40d"}`},
		{"not a duration", `{"expires_in":"soon"}`},
		{"expiry in the past", `{"expires_at":"2001-01-01T00:00:00Z"}`},
		{"null expiry", `{"expires_at":null}`},
		{"both expiries", `{"expires_in":60,"expires_at":"` + clk.Now().Add(time.Hour).Format(time.RFC3339) + `"}`},
		{"control character in the note", `{"note":"a\u0007b"}`},
		{"note too long", `{"note":"` + strings.Repeat("n", 1001) + `"}`},
		{"unknown field", `{"note":"x","bucket":"other"}`},
		{"empty patch", `{}`},
		{"not an object", `[]`},
		{"empty body", ``},
	} {
		resp := e.do("PATCH", "/api/v1/links/"+l.ID, e.sharer, tc.body, "Content-Type", "application/merge-patch+json")
		if b := readAll(t, resp.Body); resp.StatusCode != http.StatusBadRequest || !strings.Contains(resp.Header.Get("Content-Type"), "problem+json") {
			t.Fatalf("%s: PATCH %s = %s; want a 400 problem", tc.name, tc.body, fmtResp(resp, b))
		}
	}
	if after := get(); after.ExpiresAt != before.ExpiresAt || after.MaxUses != before.MaxUses || after.Note != before.Note {
		t.Fatalf("refused patches changed the link: %+v; was %+v", after, before)
	}
	// A merge patch is a PATCH body only: creating a link with one is refused.
	if resp := e.do("POST", "/api/v1/links", e.sharer, `{"key":"x.txt"}`, "Content-Type", "application/merge-patch+json"); resp.StatusCode != http.StatusUnsupportedMediaType {
		t.Fatalf("POST /api/v1/links as a merge patch = %d; want 415", resp.StatusCode)
	}

	for _, tok := range []string{other, auditor} {
		if resp := e.patch(l.ID, tok, `{"note":"mine now"}`); resp.StatusCode != http.StatusForbidden {
			t.Fatalf("another sharer or an auditor edited the link: %d", resp.StatusCode)
		}
	}
	if resp := e.patch("lnk_nosuchlink", e.admin, `{"note":"x"}`); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("PATCH of an unknown link = %d; want 404", resp.StatusCode)
	}

	// No ceiling in this env: null removes the cap; plain JSON works too.
	resp = e.do("PATCH", "/api/v1/links/"+l.ID, e.sharer, `{"max_uses":null,"note":null}`)
	if got := decode[server.LinkResponse](t, resp); resp.StatusCode != http.StatusOK || got.MaxUses != 0 || got.Note != "" || got.State != "live" {
		t.Fatalf("PATCH max_uses null = %d %+v; want no cap, no note, live", resp.StatusCode, got)
	}
	open(http.StatusFound)

	evs := e.events(l.ID)
	var updates []audit.Event
	for _, ev := range evs {
		if ev.Action == audit.ActionLinkUpdate {
			updates = append(updates, ev)
		}
	}
	if len(updates) != 2 {
		t.Fatalf("link.update rows = %d; want 2 (one per accepted change)", len(updates))
	}
	var d struct {
		Changed map[string]struct {
			Old, New any
		} `json:"changed"`
	}
	// Rows come newest first.
	if err := json.Unmarshal([]byte(updates[1].Detail), &d); err != nil || updates[1].Actor != envSharer(t) ||
		len(d.Changed) != 1 || d.Changed["expires_at"].Old == nil || d.Changed["expires_at"].New == nil {
		t.Fatalf("first link.update row = %+v (%v); want the sharer's expires_at change, old and new", updates[1], err)
	}
	d.Changed = nil
	if err := json.Unmarshal([]byte(updates[0].Detail), &d); err != nil || d.Changed["max_uses"].Old != float64(2) ||
		d.Changed["max_uses"].New != nil || d.Changed["note"].Old != "first" || d.Changed["note"].New != "" {
		t.Fatalf("second link.update row = %s (%v); want max_uses 2 → null and note first → \"\"", updates[0].Detail, err)
	}

	e.do("POST", "/api/v1/links/"+l.ID+"/revoke", e.admin, "")
	resp = e.patch(l.ID, e.admin, `{"expires_in":"1d"}`)
	if p := problemType(t, resp); resp.StatusCode != http.StatusConflict || !strings.Contains(p, ":link-revoked-conflict ") {
		t.Fatalf("PATCH of a revoked link = %d %s; want 409", resp.StatusCode, p)
	}
}

// envSharer is the name of the sharer newEnv makes for t.
func envSharer(t *testing.T) string { return "sharer-" + strings.ReplaceAll(t.Name(), "/", "-") }

// The grant a link was made under bounds its edits, for its sharer and
// admins alike: the lifetime from creation and the use cap stay within the
// grant's ceilings. Once the grant is revoked its sharer can no longer
// edit the link; an admin still can.
func TestEditLinkKeepsGrantCeilings(t *testing.T) {
	e := newEnv(t, envOptions{noGrants: true})
	e.put("ceil/report.txt", "report")
	sharer := envSharer(t)
	resp := e.do("POST", "/api/v1/grants", e.admin, `{"person":"`+sharer+`","bucket":"`+testBucket+
		`","key_prefix":"ceil/","actions":["download"],"max_uses":3,"max_lifetime":"7d"}`)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("create grant = %s", fmtResp(resp, readAll(t, resp.Body)))
	}
	g := decode[server.GrantResponse](t, resp)
	l := e.createLink(e.sharer, `{"key":"ceil/report.txt","expires_in":"1d"}`)

	for _, tc := range []struct {
		name, token, body string
		want              int
	}{
		{"cap above the grant's", e.sharer, `{"max_uses":4}`, 400},
		{"no cap under a capped grant", e.sharer, `{"max_uses":null}`, 400},
		{"lifetime beyond the grant's", e.sharer, `{"expires_in":"8d"}`, 400},
		{"an admin is bound by the link's grant", e.admin, `{"expires_in":"8d"}`, 400},
		{"within the ceilings", e.sharer, `{"expires_in":"6d","max_uses":2}`, 200},
		// 6d 23h from now would be 7d from creation plus the test's
		// runtime: repeated edits cannot stretch a link past its grant.
		{"again, past the lifetime counted from creation", e.sharer, `{"expires_in":"7d"}`, 400},
	} {
		if resp := e.patch(l.ID, tc.token, tc.body); resp.StatusCode != tc.want {
			t.Fatalf("%s: PATCH %s = %s; want %d", tc.name, tc.body, fmtResp(resp, readAll(t, resp.Body)), tc.want)
		}
	}
	if got := decode[server.LinkResponse](t, e.do("GET", "/api/v1/links/"+l.ID, e.admin, "")); got.MaxUses != 2 {
		t.Fatalf("max_uses = %d; want 2", got.MaxUses)
	}

	if resp := e.do("POST", "/api/v1/grants/"+g.ID+"/revoke", e.admin, `{"reason":"moved"}`); resp.StatusCode != http.StatusOK {
		t.Fatalf("revoke grant = %d", resp.StatusCode)
	}
	resp = e.patch(l.ID, e.sharer, `{"note":"still mine?"}`)
	if p := problemType(t, resp); resp.StatusCode != http.StatusForbidden || !strings.Contains(p, ":missing-grant ") {
		t.Fatalf("sharer's PATCH after the grant was revoked = %d %s; want 403 missing-grant", resp.StatusCode, p)
	}
	if resp := e.patch(l.ID, e.admin, `{"note":"kept by an admin"}`); resp.StatusCode != http.StatusOK {
		t.Fatalf("admin's PATCH after the grant was revoked = %d", resp.StatusCode)
	}
}
