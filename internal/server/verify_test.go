package server_test

import (
	"context"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/sharesvc/sharesvc/internal/audit"
)

var codeInMail = regexp.MustCompile(`\b[0-9]{8}\b`)

const verifyCookieName = "sharesvc_verified"

func hasRow(evs []audit.Event, action, outcome string) bool {
	for _, ev := range evs {
		if ev.Action == action && ev.Outcome == outcome {
			return true
		}
	}
	return false
}

// A share with verify_recipient mints only after the recipient entered the
// code mailed to their address: a missing or wrong code mints nothing, the
// right one mints once and leaves a cookie bound to the link, and a second
// browser (a forwarded link) needs a code of its own. Each step is audited
// and no row holds the code.
func TestRecipientVerification(t *testing.T) {
	me := newMailEnv(t, nil)
	me.put("verify/secret.pdf", "secret bytes")
	s := me.createShare(me.sharer, `{"key":"verify/secret.pdf","recipients":["bob@x.org"],"verify_recipient":true}`)
	if n := me.runMail(); n != 1 {
		t.Fatalf("RunOnce tried %d messages; want 1", n)
	}
	path := sharePath(t, me.linksByRecipient()["bob@x.org"])
	uses := func() int { return me.getShare(s.ID).Links[0].Uses }
	const form = "application/x-www-form-urlencoded"
	post := func(body string, hdr ...string) (*http.Response, string, []audit.Event) {
		t.Helper()
		r := me.do("POST", path, "", body, append([]string{"Accept", "text/html", "Content-Type", form}, hdr...)...)
		b := readAll(t, r.Body)
		return r, b, me.byRequest(r.Header.Get("X-Request-Id"))
	}
	mints := func(r *http.Response, body string) {
		t.Helper()
		if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") == "" {
			t.Fatalf("answer = %s; want 303 to a URL", fmtResp(r, body))
		}
	}
	refuses := func(r *http.Response, body string, status int) {
		t.Helper()
		if r.StatusCode != status || r.Header.Get("Location") != "" || len(r.Cookies()) != 0 {
			t.Fatalf("answer = %s; want %d without a URL or a cookie", fmtResp(r, body), status)
		}
	}

	// The button without a verification: the page, nothing minted.
	r, body, evs := post("")
	refuses(r, body, http.StatusOK)
	if !strings.Contains(body, "b…@x.org") || len(evs) != 1 || evs[0].Reason != "unverified" {
		t.Fatalf("page = %s, audit %+v; want the masked address and an unverified row", body, evs)
	}
	// A code before any was sent.
	r, body, evs = post("code=12345678")
	refuses(r, body, http.StatusForbidden)
	if len(evs) != 1 || evs[0].Action != audit.ActionRecipientCodeRefused || evs[0].Reason != "wrong_code" {
		t.Fatalf("audit = %+v; want one recipient.code_refused", evs)
	}

	// Send a code; it arrives at the recipient's address only.
	r, body, evs = post("action=send")
	refuses(r, body, http.StatusOK)
	if len(evs) != 1 || evs[0].Action != audit.ActionRecipientCodeSent || evs[0].Outcome != audit.OutcomeOK {
		t.Fatalf("audit = %+v; want one recipient.code_sent", evs)
	}
	r, body, evs = post("action=send") // at once again: rate-limited
	refuses(r, body, http.StatusTooManyRequests)
	if len(evs) != 1 || evs[0].Outcome != audit.OutcomeDenied || evs[0].Reason != "rate_limited" {
		t.Fatalf("audit = %+v; want a denied recipient.code_sent", evs)
	}
	if n := me.runMail(); n != 1 {
		t.Fatalf("RunOnce tried %d messages; want the one code", n)
	}
	var code string
	for _, m := range me.messages() {
		if strings.HasPrefix(m.Subject, "Your code") {
			full, err := me.mp.Get(context.Background(), m.ID)
			if err != nil {
				t.Fatal(err)
			}
			if m.To[0].Address != "bob@x.org" {
				t.Fatalf("the code went to %s; want bob@x.org", m.To[0].Address)
			}
			code = codeInMail.FindString(full.Text)
		}
	}
	if code == "" {
		t.Fatal("no code message")
	}
	wrong := "00000000"
	if code == wrong {
		wrong = "11111111"
	}
	r, body, _ = post("code=" + wrong)
	refuses(r, body, http.StatusForbidden)
	if n := uses(); n != 0 {
		t.Fatalf("uses = %d after wrong codes; want 0", n)
	}

	// The right code mints once and leaves the cookie.
	r, body, evs = post("code=" + code)
	mints(r, body)
	if len(evs) != 2 || !hasRow(evs, audit.ActionRecipientVerified, audit.OutcomeOK) || !hasRow(evs, audit.ActionAccess, audit.OutcomeMinted) {
		t.Fatalf("audit = %+v; want recipient.verified then a mint", evs)
	}
	var cookie *http.Cookie
	for _, c := range r.Cookies() {
		cookie = c
	}
	if cookie == nil || !cookie.HttpOnly || cookie.SameSite != http.SameSiteStrictMode || cookie.Path != path {
		t.Fatalf("cookie = %+v; want HttpOnly, SameSite=Strict, bound to %s", cookie, path)
	}
	if n := uses(); n != 1 {
		t.Fatalf("uses = %d; want 1", n)
	}
	// The code is used up: a second browser cannot reuse it.
	r, body, _ = post("code=" + code)
	refuses(r, body, http.StatusForbidden)
	r, body, _ = post("")
	refuses(r, body, http.StatusOK)
	// The verified browser opens again as any confirm link does.
	r, body, _ = post("", "Cookie", verifyCookieName+"="+cookie.Value)
	mints(r, body)
	if n := uses(); n != 2 {
		t.Fatalf("uses = %d; want 2", n)
	}
	// A forged cookie vouches for nothing.
	r, body, _ = post("", "Cookie", verifyCookieName+"=forged")
	refuses(r, body, http.StatusOK)
	// Nor does bob's cookie for another verified link: it is bound to his.
	me.put("verify/other.pdf", "other bytes")
	me.createShare(me.sharer, `{"key":"verify/other.pdf","recipients":["carol@x.org"],"verify_recipient":true}`)
	me.runMail()
	other := sharePath(t, me.linksByRecipient()["carol@x.org"])
	r = me.do("POST", other, "", "", "Accept", "text/html", "Content-Type", form, "Cookie", verifyCookieName+"="+cookie.Value)
	refuses(r, readAll(t, r.Body), http.StatusOK)

	for _, ev := range me.events(me.getShare(s.ID).Links[0].ID) {
		if strings.Contains(ev.Detail, code) || strings.Contains(ev.Reason, code) {
			t.Fatalf("audit row %d holds the code: %+v", ev.Seq, ev)
		}
	}
}

// Too many wrong codes lock the link's verification: even the right code
// is then refused, and so are new codes, until the lock ends.
func TestRecipientVerificationLocks(t *testing.T) {
	me := newMailEnv(t, nil)
	me.put("verify/lock.pdf", "x")
	me.createShare(me.sharer, `{"key":"verify/lock.pdf","recipients":["carol@x.org"],"verify_recipient":true}`)
	me.runMail()
	path := sharePath(t, me.linksByRecipient()["carol@x.org"])
	post := func(body string) (int, []audit.Event) {
		r := me.do("POST", path, "", body, "Accept", "text/html", "Content-Type", "application/x-www-form-urlencoded")
		readAll(t, r.Body)
		return r.StatusCode, me.byRequest(r.Header.Get("X-Request-Id"))
	}
	if st, _ := post("action=send"); st != http.StatusOK {
		t.Fatalf("send = %d", st)
	}
	me.runMail()
	var code string
	for _, m := range me.messages() {
		if strings.HasPrefix(m.Subject, "Your code") {
			full, _ := me.mp.Get(context.Background(), m.ID)
			code = codeInMail.FindString(full.Text)
		}
	}
	wrong := "00000000"
	if code == wrong {
		wrong = "11111111"
	}
	for i := 0; i < 4; i++ {
		if st, _ := post("code=" + wrong); st != http.StatusForbidden {
			t.Fatalf("wrong code %d = %d; want 403", i+1, st)
		}
	}
	st, evs := post("code=" + wrong)
	if st != http.StatusTooManyRequests || len(evs) != 1 || evs[0].Reason != "locked" {
		t.Fatalf("fifth wrong code = %d %+v; want 429 and a locked row", st, evs)
	}
	if st, _ := post("code=" + code); st != http.StatusTooManyRequests {
		t.Fatalf("the right code while locked = %d; want 429", st)
	}
	me.clock.Advance(2 * time.Minute)
	if st, _ := post("action=send"); st != http.StatusTooManyRequests {
		t.Fatalf("a send while locked = %d; want 429", st)
	}
}
