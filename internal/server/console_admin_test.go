package server_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/sharesvc/sharesvc/internal/auth"
	"github.com/sharesvc/sharesvc/internal/links"
)

// A short URL pasted into the console shows its link (never its code) and
// is revoked only from that confirmation; a sharer may not name another's
// link. A bulk revoke's preview lists the links it will end; offboarding
// previews before acting and refuses a name nobody ever had.
func TestConsoleAdminFlows(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.put("flows/a.txt", "a")
	e.put("flows/b.txt", "b")
	bob := e.token("bob", auth.RoleSharer)
	mine := e.createLink(e.sharer, `{"key":"flows/a.txt"}`)
	bobs1 := e.createLink(bob, `{"key":"flows/a.txt"}`)
	bobs2 := e.createLink(bob, `{"key":"flows/b.txt"}`)
	codeOf := func(u string) string { return u[strings.LastIndex(u, "/")+1:] }

	sh := newConsoleClient(t, e)
	sh.signIn(e.sharer)
	if _, body := sh.get("/ui/links"); !strings.Contains(body, `action="/ui/links/revoke-by-url"`) {
		t.Fatal("the links page has no revoke-by-URL form")
	}
	resp, body := sh.post("/ui/links/revoke-by-url", sh.origin, url.Values{"csrf": {sh.csrf}, "url": {bobs1.URL}})
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "belongs to another sharer") {
		t.Fatalf("a sharer naming another's link: %s\n%s", resp.Status, body)
	}
	resp, body = sh.post("/ui/links/revoke-by-url", sh.origin, url.Values{"csrf": {sh.csrf}, "url": {"https://share.example/nothing"}})
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("not a short URL: %s\n%s", resp.Status, body)
	}
	resp, body = sh.post("/ui/links/revoke-by-url", sh.origin, url.Values{"csrf": {sh.csrf}, "url": {" " + mine.URL + " "}, "reason": {"sent to the wrong person"}})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("revoke-by-URL confirmation: %s\n%s", resp.Status, body)
	}
	for _, want := range []string{mine.ID, "flows/a.txt", "sharer-TestConsoleAdminFlows", "live", `action="/ui/links/` + mine.ID + `/revoke"`, "sent to the wrong person"} {
		if !strings.Contains(body, want) {
			t.Errorf("revoke-by-URL confirmation lacks %q:\n%s", want, body)
		}
	}
	if strings.Contains(body, codeOf(mine.URL)) {
		t.Error("the confirmation shows the link's code")
	}
	if st := e.linkState(mine.ID); st != links.StateLive {
		t.Fatalf("after the confirmation step the link is %s; want live", st)
	}
	resp, body = sh.post("/ui/links/"+mine.ID+"/revoke", sh.origin, url.Values{"csrf": {sh.csrf}, "reason": {"sent to the wrong person"}})
	if resp.StatusCode != http.StatusSeeOther || e.linkState(mine.ID) != links.StateRevoked {
		t.Fatalf("confirming: %s, link %s; want 303 and revoked\n%s", resp.Status, e.linkState(mine.ID), body)
	}

	adm := newConsoleClient(t, e)
	adm.signIn(e.admin)
	resp, body = adm.post("/ui/admin/bulk-revoke", adm.origin, url.Values{"csrf": {adm.csrf}, "step": {"preview"}, "key_prefix": {"flows/"}})
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, "This will revoke 2 live links") {
		t.Fatalf("bulk preview: %s\n%s", resp.Status, body)
	}
	if !strings.Contains(body, bobs1.ID) || !strings.Contains(body, bobs2.ID) || strings.Contains(body, mine.ID) {
		t.Errorf("bulk preview lists the wrong links (want %s and %s, not the revoked %s):\n%s", bobs1.ID, bobs2.ID, mine.ID, body)
	}
	if e.linkState(bobs1.ID) != links.StateLive {
		t.Fatal("the bulk preview revoked a link")
	}

	resp, body = adm.post("/ui/admin/offboard", adm.origin, url.Values{"csrf": {adm.csrf}, "name": {"bbo"}})
	if resp.StatusCode != http.StatusNotFound || !strings.Contains(body, "no person named bbo") {
		t.Fatalf("offboarding an unknown name: %s\n%s", resp.Status, body)
	}
	resp, body = adm.post("/ui/admin/offboard", adm.origin, url.Values{"csrf": {adm.csrf}, "name": {"bbo"}, "step": {"offboard"}})
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("confirming an unknown name's offboarding: %s\n%s", resp.Status, body)
	}
	resp, body = adm.post("/ui/admin/offboard", adm.origin, url.Values{"csrf": {adm.csrf}, "name": {"bob"}, "reason": {"left"}})
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, "revoke 2 live links created by bob") || !strings.Contains(body, e.tokenID("bob")) {
		t.Fatalf("offboarding preview: %s\n%s", resp.Status, body)
	}
	if e.linkState(bobs1.ID) != links.StateLive {
		t.Fatal("the offboarding preview revoked a link")
	}
	resp, body = adm.post("/ui/admin/offboard", adm.origin, url.Values{"csrf": {adm.csrf}, "name": {"bob"}, "reason": {"left"}, "step": {"offboard"}})
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, "Offboarded bob: 2 links revoked, 1 tokens disabled") {
		t.Fatalf("offboarding: %s\n%s", resp.Status, body)
	}
	if e.linkState(bobs1.ID) != links.StateRevoked || e.linkState(bobs2.ID) != links.StateRevoked {
		t.Error("offboarding left bob's links live")
	}
}
