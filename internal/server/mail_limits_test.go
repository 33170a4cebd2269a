package server_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/sharesvc/sharesvc/internal/server"
)

// A sharer's email shares stay inside the mail domains of their grant and
// within the mail quota; a refused share queues nothing.
func TestMailQuotaAndRecipientDomains(t *testing.T) {
	me := newMailEnvWith(t, nil, envOptions{noGrants: true, deps: func(d *server.Deps) { d.MailQuota = 3 }})
	e := me.env
	sharer := "sharer-" + strings.ReplaceAll(t.Name(), "/", "-")
	e.put("mail/plan.pdf", "plan")
	resp := e.do("POST", "/api/v1/grants", e.admin, `{"person":"`+sharer+`","bucket":"`+testBucket+`","key_prefix":"mail/",
		"actions":["download","email"],"recipient_domains":["example.com"],"reason":"partners"}`)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("create grant: %s", fmtResp(resp, readAll(t, resp.Body)))
	}
	queued := func() int { return e.countRows("deliveries WHERE kind = 'share'") }

	r := e.do("POST", "/api/v1/links", e.sharer, `{"key":"mail/plan.pdf","recipients":["a@example.com","x@elsewhere.test"]}`)
	if r.StatusCode != http.StatusForbidden || !strings.Contains(problemType(t, r), "elsewhere.test") {
		t.Fatalf("share to a domain outside the grant = %d; want 403 naming the address", r.StatusCode)
	}
	if n := queued(); n != 0 {
		t.Fatalf("a refused share queued %d messages", n)
	}
	me.env.createShare(e.sharer, `{"key":"mail/plan.pdf","recipients":["a@example.com","b@mail.example.com"]}`)
	r = e.do("POST", "/api/v1/links", e.sharer, `{"key":"mail/plan.pdf","recipients":["c@example.com","d@example.com"]}`)
	if r.StatusCode != http.StatusTooManyRequests || !strings.Contains(problemType(t, r), "mail-quota") {
		t.Fatalf("share over the quota = %d; want 429 mail-quota", r.StatusCode)
	}
	if n := queued(); n != 2 {
		t.Fatalf("queued messages = %d; want the first share's 2", n)
	}
	me.env.createShare(e.sharer, `{"key":"mail/plan.pdf","recipients":["c@example.com"]}`)

	// Names that could disguise a file are refused in every text field.
	r = e.do("POST", "/api/v1/links", e.admin, `{"key":"mail/plan.pdf","filename":"invoice\u202efdp.exe","recipients":["a@example.com"]}`)
	if r.StatusCode != http.StatusBadRequest {
		t.Fatalf("a bidi file name = %d; want 400", r.StatusCode)
	}
}
