package server_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/sharesvc/sharesvc/internal/clocktest"

	"github.com/sharesvc/sharesvc/internal/audit"
	"github.com/sharesvc/sharesvc/internal/auth"
	"github.com/sharesvc/sharesvc/internal/links"
	"github.com/sharesvc/sharesvc/internal/mail"
	"github.com/sharesvc/sharesvc/internal/mailpit"
	"github.com/sharesvc/sharesvc/internal/server"
)

// mailEnv is an env whose server sends mail to a real SMTP server
// (Mailpit). The worker is not running: tests call RunOnce, so that what
// was sent is decided by the queue and the injected clock alone.
type mailEnv struct {
	*env
	mp     *mailpit.Server
	mailer *mail.Mailer
	clock  *clocktest.Clock
	opts   mail.Options
}

func startMailpit(t testing.TB) *mailpit.Server {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	mp, err := mailpit.Start(ctx, t.TempDir())
	if err != nil {
		t.Fatalf("the real SMTP server is required (run scripts/mailpit.sh): %v", err)
	}
	t.Cleanup(func() { mp.Stop() })
	return mp
}

func newMailEnv(t testing.TB, adjust func(*mail.Options)) *mailEnv {
	t.Helper()
	return newMailEnvWith(t, adjust, envOptions{})
}

// newMailEnvWith is newMailEnv with the env's options; its deps function,
// if any, runs after the mailer is set.
func newMailEnvWith(t testing.TB, adjust func(*mail.Options), o envOptions) *mailEnv {
	t.Helper()
	more := o.deps
	me := &mailEnv{mp: startMailpit(t), clock: clocktest.New(time.Now())}
	sender, err := mail.NewSMTP(mail.SMTPConfig{Host: me.mp.SMTPHost, Port: me.mp.SMTPPort, TLS: mail.TLSNone})
	if err != nil {
		t.Fatal(err)
	}
	key, err := mail.LoadKey(mail.NewKey())
	if err != nil {
		t.Fatal(err)
	}
	o.clock = me.clock.Now
	o.deps = func(d *server.Deps) {
		me.opts = mail.Options{DB: d.AuditDB, Audit: d.Audit, Sender: sender, Key: key,
			From: "sharesvc <noreply@share.example>", PublicURL: "http://share.example", Clock: me.clock.Now,
			Backoff: func(int) time.Duration { return time.Minute }, MaxAttempts: 3, DigestInterval: 10 * time.Minute,
			Paused: d.Links.KillSwitchOn, OnAttempt: d.Metrics.ObserveMail}
		if adjust != nil {
			adjust(&me.opts)
		}
		if me.mailer, err = mail.New(me.opts); err != nil {
			t.Fatal(err)
		}
		d.Mail, d.Deliveries = me.mailer, mail.NewDeliveries(d.AuditDB)
		d.Metrics.WatchMailQueue(func() (int, error) { return me.mailer.QueueDepth(context.Background()) })
		if more != nil {
			more(d)
		}
	}
	me.env = newEnv(t, o)
	return me
}

// runMail sends what is due and returns how many messages were tried.
func (me *mailEnv) runMail() int {
	me.t.Helper()
	n, err := me.mailer.RunOnce(context.Background())
	if err != nil {
		me.t.Fatal(err)
	}
	return n
}

func (me *mailEnv) messages() []mailpit.Message {
	me.t.Helper()
	ms, err := me.mp.Messages(context.Background())
	if err != nil {
		me.t.Fatal(err)
	}
	return ms
}

type shareResp struct {
	ID    string `json:"id"`
	Links []struct {
		ID        string `json:"id"`
		URL       string `json:"url"`
		Recipient string `json:"recipient"`
		State     string `json:"state"`
		Uses      int    `json:"uses"`
		Delivery  *struct {
			State string `json:"state"`
		} `json:"delivery"`
	} `json:"links"`
	Deliveries []struct {
		ID        string `json:"id"`
		Kind      string `json:"kind"`
		Recipient string `json:"recipient"`
		State     string `json:"state"`
		Attempts  int    `json:"attempts"`
		LastError string `json:"last_error"`
		MessageID string `json:"message_id"`
	} `json:"deliveries"`
}

func (e *env) createShare(token, body string) shareResp {
	e.t.Helper()
	return postLinks[shareResp](e, "share", token, body)
}

func (e *env) getShare(id string) shareResp {
	e.t.Helper()
	return decode[shareResp](e.t, e.do("GET", "/api/v1/shares/"+id, e.admin, ""))
}

// insertShare stores a one-recipient share of the sharer with token secret
// directly (for the role table, which needs no mail).
func (e *env) insertShare(secret string) string {
	e.t.Helper()
	tok, err := auth.NewStore(e.db.Read).Authenticate(context.Background(), secret, time.Now())
	if err != nil {
		e.t.Fatal(err)
	}
	_, hash := links.NewCode()
	now := time.Now().UTC().Truncate(time.Millisecond)
	l := &links.Link{ID: links.NewID(), Kind: links.KindDownload, Bucket: testBucket, Key: "roles.txt", CreatedAt: now,
		CreatedBy: tok.Name, ExpiresAt: now.Add(time.Hour), PresignTTL: time.Minute,
		ShareID: links.NewShareID(), Recipient: "r@x.org", Confirm: true}
	if err := links.Insert(context.Background(), e.db.Read, l, hash); err != nil {
		e.t.Fatal(err)
	}
	return l.ShareID
}

var linkInMail = regexp.MustCompile(`http://share\.example/s/[A-Za-z0-9_-]{24}`)

// linksByRecipient reads every share message in Mailpit and returns the
// link it carries, by recipient, failing on a recipient with two messages.
func (me *mailEnv) linksByRecipient() map[string]string {
	me.t.Helper()
	out := map[string]string{}
	for _, m := range me.messages() {
		if !strings.Contains(m.Subject, "shared") {
			continue
		}
		full, err := me.mp.Get(context.Background(), m.ID)
		if err != nil {
			me.t.Fatal(err)
		}
		u := linkInMail.FindString(full.Text)
		if u == "" || !strings.Contains(full.HTML, u) {
			me.t.Fatalf("message to %s carries no link in both bodies:\n%s", m.To[0].Address, full.Text)
		}
		to := m.To[0].Address
		if _, dup := out[to]; dup {
			me.t.Fatalf("%s got two share messages", to)
		}
		out[to] = u
	}
	return out
}

// notices returns the first-open notices in Mailpit.
func (me *mailEnv) notices() []mailpit.Message {
	var out []mailpit.Message
	for _, m := range me.messages() {
		if strings.Contains(m.Subject, "opened") || strings.Contains(m.Subject, "open") && !strings.Contains(m.Subject, "shared") {
			out = append(out, m)
		}
	}
	return out
}

func lastEvent(t testing.TB, evs []audit.Event, action string) audit.Event {
	t.Helper()
	for i := len(evs) - 1; i >= 0; i-- {
		if evs[i].Action == action {
			return evs[i]
		}
	}
	t.Fatalf("no %s event in %+v", action, evs)
	return audit.Event{}
}

// A share to three recipients delivers three messages with three different
// working links; opening one records that recipient; revoking one leaves the
// other two working; the sharer hears once per recipient's first open.
func TestShareByEmail(t *testing.T) {
	me := newMailEnv(t, nil)
	me.put("reports/report.pdf", "the report")
	s := me.createShare(me.sharer, `{"key":"reports/report.pdf","note":"Q3 numbers",
		"recipients":["Alice <alice@X.org>","bob@x.org","carol@x.org"],"notify":"sharer@x.org"}`)
	if len(s.Links) != 3 || !strings.HasPrefix(s.ID, "shr_") {
		t.Fatalf("share = %+v; want 3 links under a shr_ id", s)
	}
	ids := map[string]string{}
	for _, l := range s.Links {
		if l.URL != "" {
			t.Fatalf("the creator got a recipient's URL back: %+v", l)
		}
		if l.Delivery == nil || l.Delivery.State != mail.StateQueued {
			t.Fatalf("link %s delivery = %+v; want queued (sending never happens in the request)", l.ID, l.Delivery)
		}
		ids[l.Recipient] = l.ID
	}
	if ids["alice@x.org"] == "" || ids["bob@x.org"] == "" || ids["carol@x.org"] == "" {
		t.Fatalf("recipients = %v; want the normalised addresses", ids)
	}
	if n := len(me.messages()); n != 0 {
		t.Fatalf("%d messages before the worker ran; want 0", n)
	}

	if n := me.runMail(); n != 3 {
		t.Fatalf("RunOnce tried %d messages; want 3", n)
	}
	urls := me.linksByRecipient()
	if len(urls) != 3 || urls["alice@x.org"] == urls["bob@x.org"] || urls["bob@x.org"] == urls["carol@x.org"] || urls["alice@x.org"] == urls["carol@x.org"] {
		t.Fatalf("links by recipient = %v; want three different links", urls)
	}
	for _, d := range me.getShare(s.ID).Deliveries {
		if d.State != mail.StateSent || d.Attempts != 1 {
			t.Errorf("delivery to %s = %s after %d attempts; want sent after 1", d.Recipient, d.State, d.Attempts)
		}
	}
	if n := me.runMail(); n != 0 {
		t.Fatalf("second RunOnce tried %d; want 0 (nothing sent twice)", n)
	}

	// Each code is the recipient's own: opening Alice's records Alice.
	open := func(rcpt string) *http.Response {
		return me.do("POST", sharePath(t, urls[rcpt]), "", "", "Accept", "text/html")
	}
	r := open("alice@x.org")
	if r.StatusCode != http.StatusSeeOther {
		t.Fatalf("POST alice's link = %s; want 303", fmtResp(r, readAll(t, r.Body)))
	}
	got, err := http.Get(r.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	if body := readAll(t, got.Body); got.StatusCode != 200 || body != "the report" {
		t.Fatalf("presigned GET = %d %q; want the object", got.StatusCode, body)
	}
	ev := lastEvent(t, me.events(ids["alice@x.org"]), audit.ActionAccess)
	if ev.Outcome != audit.OutcomeMinted || !strings.Contains(ev.Detail, `"recipient":"alice@x.org"`) || !strings.Contains(ev.Detail, s.ID) {
		t.Fatalf("alice's access row = %+v; want minted with her address and the share id", ev)
	}

	// Revoking Bob leaves Alice and Carol working.
	if r := me.do("POST", "/api/v1/links/"+ids["bob@x.org"]+"/revoke", me.sharer, `{"reason":"left the project"}`); r.StatusCode != 200 {
		t.Fatalf("revoke bob = %s", fmtResp(r, readAll(t, r.Body)))
	}
	for rcpt, want := range map[string]int{"bob@x.org": 410, "alice@x.org": 303, "carol@x.org": 303} {
		if r := open(rcpt); r.StatusCode != want {
			t.Errorf("POST %s's link after revoking bob = %d; want %d", rcpt, r.StatusCode, want)
		}
	}

	// First-open notices: Alice (first open, then a second) and Carol.
	me.runMail()
	notices := me.notices()
	var about []string
	for _, n := range notices {
		if n.To[0].Address != "sharer@x.org" {
			t.Errorf("notice to %s; want the notify address", n.To[0].Address)
		}
		about = append(about, n.Subject)
	}
	sort.Strings(about)
	if len(notices) != 2 || !strings.HasPrefix(about[0], "alice@x.org opened") || !strings.HasPrefix(about[1], "carol@x.org opened") {
		t.Fatalf("notices = %q; want one for alice and one for carol", about)
	}
	open("alice@x.org")
	me.runMail()
	if n := len(me.notices()); n != 2 {
		t.Fatalf("%d notices after alice's third open; want still 2", n)
	}

	// Revoking the share stops every link at once.
	if r := me.do("POST", "/api/v1/shares/"+s.ID+"/revoke", me.sharer, ""); r.StatusCode != 200 {
		t.Fatalf("revoke share = %s", fmtResp(r, readAll(t, r.Body)))
	}
	for _, rcpt := range []string{"alice@x.org", "carol@x.org"} {
		if r := open(rcpt); r.StatusCode != http.StatusGone {
			t.Errorf("POST %s's link after revoking the share = %d; want 410", rcpt, r.StatusCode)
		}
	}

	// The database never held a working code: the queue kept them sealed,
	// and the ciphertext is gone once sent.
	var sealed int
	me.db.Read.QueryRow(`SELECT COUNT(*) FROM deliveries WHERE sealed_code IS NOT NULL`).Scan(&sealed)
	if sealed != 0 {
		t.Errorf("%d sealed codes left after sending; want 0", sealed)
	}
	me.assertNoCodes(urls)
}

// assertNoCodes fails if any code of urls appears in the database files.
func (e *env) assertNoCodes(urls map[string]string) {
	e.t.Helper()
	var dump []byte
	files, _ := filepath.Glob(e.db.Path() + "*")
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			e.t.Fatal(err)
		}
		dump = append(dump, b...)
	}
	for rcpt, u := range urls {
		if bytes.Contains(dump, []byte(strings.TrimPrefix(u, "http://share.example/s/"))) {
			e.t.Fatalf("database files contain %s's code", rcpt)
		}
	}
}

// A refusing SMTP server: temporary refusals are retried with backoff (on
// the injected clock), then reported failed through the API and the audit
// log; a permanent refusal fails at once; nothing is sent twice.
func TestDeliveryRetryAndFailure(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		name     string
		refusals []int // the server's answer to each attempt; 0 accepts
		want     []string
		attempts int
		messages int
	}{
		{"temporary then accepted", []int{451, 0}, []string{"queued", "sent"}, 2, 1},
		{"temporary until given up", []int{451, 451, 451}, []string{"queued", "queued", "failed"}, 3, 0},
		{"permanent", []int{550}, []string{"failed"}, 1, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			me := newMailEnv(t, nil)
			me.put("f.txt", "f")
			s := me.createShare(me.admin, `{"key":"f.txt","recipients":["dana@x.org"]}`)
			for i, code := range tc.refusals {
				if err := me.mp.Refuse(ctx, code); err != nil {
					t.Fatal(err)
				}
				if n := me.runMail(); n != 1 {
					t.Fatalf("attempt %d: RunOnce tried %d; want 1", i+1, n)
				}
				d := me.getShare(s.ID).Deliveries[0]
				if d.State != tc.want[i] || d.Attempts != i+1 {
					t.Fatalf("after attempt %d: %s, %d attempts; want %s, %d", i+1, d.State, d.Attempts, tc.want[i], i+1)
				}
				if code != 0 && !strings.Contains(d.LastError, "451") && !strings.Contains(d.LastError, "550") {
					t.Fatalf("last_error %q does not carry the server's answer", d.LastError)
				}
				// Not due again until the backoff has passed.
				if n := me.runMail(); n != 0 {
					t.Fatalf("RunOnce right after attempt %d tried %d; want 0", i+1, n)
				}
				me.clock.Advance(time.Minute)
			}
			if err := me.mp.Refuse(ctx, 0); err != nil {
				t.Fatal(err)
			}
			if n := me.runMail(); n != 0 {
				t.Fatalf("RunOnce after the outcome tried %d; want 0", n)
			}
			if n := len(me.messages()); n != tc.messages {
				t.Fatalf("%d messages received; want %d", n, tc.messages)
			}
			// Every attempt is counted by its result.
			results := map[string]float64{}
			for _, want := range tc.want {
				results[map[string]string{"queued": "deferred", "sent": "sent", "failed": "failed"}[want]]++
			}
			for _, r := range []string{"sent", "deferred", "failed"} {
				if got := me.value("sharesvc_mail_attempts_total", "kind", "share", "result", r); got != results[r] {
					t.Errorf("sharesvc_mail_attempts_total{result=%q} = %v; want %v", r, got, results[r])
				}
			}
			if q := me.value("sharesvc_mail_queue_depth"); q != 0 {
				t.Errorf("sharesvc_mail_queue_depth = %v after the final outcome; want 0", q)
			}
			d := me.getShare(s.ID).Deliveries[0]
			if d.Attempts != tc.attempts {
				t.Fatalf("attempts = %d; want %d", d.Attempts, tc.attempts)
			}
			var sealed int
			me.db.Read.QueryRow(`SELECT COUNT(*) FROM deliveries WHERE sealed_code IS NOT NULL`).Scan(&sealed)
			if sealed != 0 {
				t.Errorf("sealed code kept after the final outcome")
			}
			evs := me.events(s.Links[0].ID)
			final := audit.ActionMailSent
			if tc.messages == 0 {
				final = audit.ActionMailFailed
				if d.LastError == "" {
					t.Error("failed delivery shows no last_error")
				}
			}
			ev := lastEvent(t, evs, final)
			if !strings.Contains(ev.Detail, `"recipient":"dana@x.org"`) {
				t.Errorf("%s row detail = %s; want the recipient", final, ev.Detail)
			}
			deferred := 0
			for _, ev := range evs {
				if ev.Action == audit.ActionMailDeferred {
					deferred++
				}
			}
			if want := tc.attempts - 1; tc.messages == 0 && tc.refusals[0] == 451 && deferred != want || tc.messages == 1 && deferred != 1 {
				t.Errorf("%d mail.deferred rows; want one per retried attempt", deferred)
			}
		})
	}
}

// stopAfter cancels the worker's context after the first message it sends,
// as a graceful shutdown in the middle of a pass would.
type stopAfter struct {
	mail.Sender
	cancel context.CancelFunc
}

func (s stopAfter) Send(ctx context.Context, m *mail.Message) error {
	err := s.Sender.Send(ctx, m)
	s.cancel()
	return err
}

// Across restarts nothing is lost or sent twice: a stop between messages
// leaves the rest queued for the next process; a process that died in the
// middle of a send leaves a 'sending' row, which is tried again (once) only
// after the send timeout.
func TestDeliveryAcrossRestart(t *testing.T) {
	me := newMailEnv(t, nil)
	me.put("r.txt", "r")
	s := me.createShare(me.admin, `{"key":"r.txt","recipients":["a@x.org","b@x.org","c@x.org","d@x.org"]}`)

	// First process: stopped after one message.
	ctx, cancel := context.WithCancel(context.Background())
	o := me.opts
	sender, _ := mail.NewSMTP(mail.SMTPConfig{Host: me.mp.SMTPHost, Port: me.mp.SMTPPort, TLS: mail.TLSNone})
	o.Sender = stopAfter{Sender: sender, cancel: cancel}
	first, err := mail.New(o)
	if err != nil {
		t.Fatal(err)
	}
	if n, err := first.RunOnce(ctx); err != nil || n != 1 {
		t.Fatalf("first process: RunOnce = %d, %v; want 1 message then stop", n, err)
	}
	// A second process dies in the middle of a send: its row stays 'sending'.
	if _, err := me.db.Read.Exec(`UPDATE deliveries SET state = 'sending', attempts = attempts + 1, next_attempt_at = ?
		WHERE id = (SELECT id FROM deliveries WHERE state = 'queued' ORDER BY id LIMIT 1)`,
		me.clock.Now().Add(me.opts.SendTimeout+2*time.Minute).UnixMilli()); err != nil {
		t.Fatal(err)
	}

	// The next process sends what is queued, not the row that may be in flight.
	second, err := mail.New(me.opts)
	if err != nil {
		t.Fatal(err)
	}
	if n, err := second.RunOnce(context.Background()); err != nil || n != 2 {
		t.Fatalf("after restart: RunOnce = %d, %v; want the 2 queued", n, err)
	}
	if n := len(me.messages()); n != 3 {
		t.Fatalf("%d messages; want 3 so far", n)
	}
	me.clock.Advance(5 * time.Minute) // past the dead send's deadline
	if n, _ := second.RunOnce(context.Background()); n != 1 {
		t.Fatalf("after the send timeout: RunOnce = %d; want the stale one", n)
	}
	if n, _ := second.RunOnce(context.Background()); n != 0 {
		t.Fatalf("then RunOnce = %d; want 0", n)
	}
	msgs := me.messages()
	seen := map[string]bool{}
	for _, m := range msgs {
		if seen[m.MessageID] || seen[m.To[0].Address] {
			t.Fatalf("message %s to %s received twice", m.MessageID, m.To[0].Address)
		}
		seen[m.MessageID], seen[m.To[0].Address] = true, true
	}
	if len(msgs) != 4 {
		t.Fatalf("%d messages; want exactly 4, one per recipient", len(msgs))
	}
	for _, d := range me.getShare(s.ID).Deliveries {
		if d.State != mail.StateSent || !seen[d.MessageID] {
			t.Errorf("delivery to %s: %s, Message-ID %s", d.Recipient, d.State, d.MessageID)
		}
	}
}

// The confirmation page: a browser GET mints and spends nothing; its POST
// mints and 303s to a URL that downloads; HEAD, preview agents and
// non-browser GETs on a link that does not allow direct redirects mint
// nothing, and each is audited as such.
func TestConfirmPage(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.put("report.pdf", "pdf bytes")
	const html = "text/html,application/xhtml+xml"
	l := e.createLink(e.sharer, `{"key":"report.pdf","filename":"report.pdf","confirm":true,"direct":false,"expires_in":259300}`)
	path := sharePath(t, l.URL)
	cases := []struct {
		name, method string
		hdr          []string
		status       int
		reason       string // audit reason of a nothing_minted row; "" for a mint
	}{
		{"browser GET", "GET", []string{"Accept", html}, 200, "confirm_page"},
		{"non-browser GET, no direct", "GET", []string{"Accept", "*/*"}, 200, "confirm_page"},
		{"HEAD", "HEAD", []string{"Accept", html}, 200, "head"}, // the status a GET would get
		{"Slack unfurl", "GET", []string{"Accept", html, "User-Agent", "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)"}, 200, "preview"},
		{"Outlook scanner", "GET", []string{"Accept", html, "User-Agent", "Mozilla/4.0 (compatible; ms-office; MSOffice 16)"}, 200, "preview"},
		{"scanner POST", "POST", []string{"User-Agent", "facebookexternalhit/1.1"}, 200, "preview"},
		{"button POST", "POST", []string{"Accept", html}, 303, ""},
	}
	uses := 0
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := e.do(tc.method, path, "", "", tc.hdr...)
			body := readAll(t, r.Body)
			if r.StatusCode != tc.status {
				t.Fatalf("%s = %s; want %d", tc.name, fmtResp(r, body), tc.status)
			}
			for _, h := range []string{"Cache-Control", "Referrer-Policy", "X-Robots-Tag"} {
				if r.Header.Get(h) == "" {
					t.Errorf("missing %s", h)
				}
			}
			ev := e.byRequest(r.Header.Get("X-Request-Id"))
			if len(ev) != 1 {
				t.Fatalf("%d audit rows for the request; want 1", len(ev))
			}
			if tc.reason != "" {
				if ev[0].Outcome != audit.OutcomeNothingMinted || ev[0].Reason != tc.reason || r.Header.Get("Location") != "" {
					t.Fatalf("audit %s/%s, Location %q; want nothing_minted/%s and none", ev[0].Outcome, ev[0].Reason, r.Header.Get("Location"), tc.reason)
				}
			} else {
				uses++
				if ev[0].Outcome != audit.OutcomeMinted {
					t.Fatalf("audit %s; want minted", ev[0].Outcome)
				}
				got, err := http.Get(r.Header.Get("Location"))
				if err != nil {
					t.Fatal(err)
				}
				if b := readAll(t, got.Body); b != "pdf bytes" {
					t.Fatalf("the 303's URL gave %d %q; want the object", got.StatusCode, b)
				}
			}
			if tc.reason == "confirm_page" {
				csp := r.Header.Get("Content-Security-Policy")
				if !strings.Contains(csp, "default-src 'none'") || strings.Contains(csp, "script-src") {
					t.Errorf("CSP %q; want default-src 'none' and no script", csp)
				}
				for _, want := range []string{"Download report.pdf from sharer-", "expires in 3 days", `<form method="post">`} {
					if !strings.Contains(body, want) {
						t.Errorf("page lacks %q:\n%s", want, body)
					}
				}
				if strings.Contains(body, strings.TrimPrefix(path, "/s/")) || strings.Contains(body, "<script") {
					t.Error("page holds the code or a script")
				}
			}
			var got struct{ Uses int }
			got = decode[struct{ Uses int }](t, e.do("GET", "/api/v1/links/"+l.ID, e.admin, ""))
			if got.Uses != uses {
				t.Fatalf("uses = %d; want %d", got.Uses, uses)
			}
		})
	}

	// Links allow direct redirects for non-browsers unless told otherwise.
	d := e.createLink(e.sharer, `{"key":"report.pdf","confirm":true}`)
	if r := e.do("GET", sharePath(t, d.URL), "", "", "Accept", "*/*"); r.StatusCode != http.StatusFound {
		t.Errorf("non-browser GET of a confirm link with direct = %d; want 302", r.StatusCode)
	}
	if r := e.do("GET", sharePath(t, d.URL), "", "", "Accept", html); r.StatusCode != http.StatusOK {
		t.Errorf("browser GET of a confirm link = %d; want the page", r.StatusCode)
	}
}

// Digest mode: first opens within the interval become one message.
func TestNotifyDigest(t *testing.T) {
	me := newMailEnv(t, nil)
	me.put("d.txt", "d")
	me.createShare(me.sharer, `{"key":"d.txt","recipients":["a@x.org","b@x.org","c@x.org"],
		"notify":"sharer@x.org","notify_mode":"digest"}`)
	me.runMail()
	urls := me.linksByRecipient()
	for _, rcpt := range []string{"a@x.org", "b@x.org", "a@x.org"} {
		if r := me.do("POST", sharePath(t, urls[rcpt]), "", ""); r.StatusCode != http.StatusSeeOther {
			t.Fatalf("open %s = %d", rcpt, r.StatusCode)
		}
	}
	if n := me.runMail(); n != 0 || len(me.notices()) != 0 {
		t.Fatalf("a digest went out before its interval (%d tried)", n)
	}
	me.clock.Advance(me.opts.DigestInterval)
	if n := me.runMail(); n != 1 {
		t.Fatalf("RunOnce after the interval tried %d; want one digest", n)
	}
	ns := me.notices()
	if len(ns) != 1 || !strings.HasPrefix(ns[0].Subject, "2 new opens") {
		t.Fatalf("notices = %+v; want one digest of 2 opens", ns)
	}
	full, _ := me.mp.Get(context.Background(), ns[0].ID)
	if !strings.Contains(full.Text, "a@x.org") || !strings.Contains(full.Text, "b@x.org") {
		t.Fatalf("digest text lacks the recipients:\n%s", full.Text)
	}
	// A later first open starts the next digest.
	me.do("POST", sharePath(t, urls["c@x.org"]), "", "")
	me.clock.Advance(me.opts.DigestInterval)
	me.runMail()
	if ns := me.notices(); len(ns) != 2 {
		t.Fatalf("%d notices; want 2 digests", len(ns))
	}
}

// A recipient revoked while the message waits is not sent a dead link.
func TestRevokedBeforeSending(t *testing.T) {
	me := newMailEnv(t, nil)
	me.put("g.txt", "g")
	s := me.createShare(me.admin, `{"key":"g.txt","recipients":["a@x.org","b@x.org"]}`)
	var bob string
	for _, l := range s.Links {
		if l.Recipient == "b@x.org" {
			bob = l.ID
		}
	}
	if r := me.do("POST", "/api/v1/links/"+bob+"/revoke", me.admin, ""); r.StatusCode != 200 {
		t.Fatalf("revoke = %d", r.StatusCode)
	}
	me.runMail()
	msgs := me.messages()
	if len(msgs) != 1 || msgs[0].To[0].Address != "a@x.org" {
		t.Fatalf("messages = %+v; want only a@x.org's", msgs)
	}
	for _, d := range me.getShare(s.ID).Deliveries {
		if d.Recipient == "b@x.org" && (d.State != mail.StateFailed || !strings.Contains(d.LastError, "revoked")) {
			t.Fatalf("bob's delivery = %+v; want failed, saying why", d)
		}
	}
	if ev := lastEvent(t, me.events(bob), audit.ActionMailFailed); ev.Reason != "link_not_live" {
		t.Fatalf("mail.failed reason = %q; want link_not_live", ev.Reason)
	}
}

// The kill switch holds outgoing mail: while it is on, queued messages
// stay queued with their attempts untouched and nothing reaches the SMTP
// server; once it is off they go out.
func TestKillSwitchHoldsMail(t *testing.T) {
	me := newMailEnv(t, nil)
	me.put("k.txt", "k")
	s := me.createShare(me.admin, `{"key":"k.txt","recipients":["a@x.org"]}`)
	if r := me.do("POST", "/api/v1/killswitch", me.admin, `{"on":true,"reason":"incident"}`); r.StatusCode != 200 {
		t.Fatalf("kill switch on = %d", r.StatusCode)
	}
	me.clock.Advance(time.Hour) // long past due
	if n := me.runMail(); n != 0 {
		t.Fatalf("RunOnce tried %d messages with the kill switch on; want 0", n)
	}
	if msgs := me.messages(); len(msgs) != 0 {
		t.Fatalf("%d messages sent with the kill switch on", len(msgs))
	}
	for _, d := range me.getShare(s.ID).Deliveries {
		if d.State != mail.StateQueued || d.Attempts != 0 {
			t.Fatalf("delivery while held = %+v; want queued, no attempt", d)
		}
	}
	if q := me.value("sharesvc_mail_queue_depth"); q != 1 {
		t.Fatalf("sharesvc_mail_queue_depth = %v while held; want 1", q)
	}
	if r := me.do("POST", "/api/v1/killswitch", me.admin, `{"on":false}`); r.StatusCode != 200 {
		t.Fatalf("kill switch off = %d", r.StatusCode)
	}
	if n := me.runMail(); n != 1 {
		t.Fatalf("RunOnce tried %d messages after the kill switch went off; want 1", n)
	}
	if msgs := me.messages(); len(msgs) != 1 || msgs[0].To[0].Address != "a@x.org" {
		t.Fatalf("messages = %+v; want a@x.org's", msgs)
	}
}

// sendThen runs then after each message it sends.
type sendThen struct {
	mail.Sender
	then func()
}

func (s sendThen) Send(ctx context.Context, m *mail.Message) error {
	err := s.Sender.Send(ctx, m)
	s.then()
	return err
}

// A pass in progress stops at the next message once the kill switch is
// turned on.
func TestKillSwitchStopsAPass(t *testing.T) {
	var me *mailEnv
	me = newMailEnv(t, func(o *mail.Options) {
		o.Sender = sendThen{Sender: o.Sender, then: func() {
			if r := me.do("POST", "/api/v1/killswitch", me.admin, `{"on":true,"reason":"mid-pass"}`); r.StatusCode != 200 {
				t.Errorf("kill switch on = %d", r.StatusCode)
			}
		}}
	})
	me.put("p.txt", "p")
	s := me.createShare(me.admin, `{"key":"p.txt","recipients":["a@x.org","b@x.org","c@x.org"]}`)
	if n := me.runMail(); n != 1 {
		t.Fatalf("RunOnce tried %d messages; want 1 (the switch went on after the first)", n)
	}
	queued := 0
	for _, d := range me.getShare(s.ID).Deliveries {
		if d.State == mail.StateQueued && d.Attempts == 0 {
			queued++
		}
	}
	if got := len(me.messages()); got != 1 || queued != 2 {
		t.Fatalf("%d messages sent and %d still queued untouched; want 1 and 2", got, queued)
	}
}

// Bad share requests are refused, naming the field, and create nothing.
func TestCreateShareRefused(t *testing.T) {
	me := newMailEnv(t, nil)
	me.put("h.txt", "h")
	many := make([]string, 51)
	for i := range many {
		many[i] = fmt.Sprintf("%q", fmt.Sprintf("r%d@x.org", i))
	}
	cases := []struct{ name, body, field string }{
		{"empty list", `{"key":"h.txt","recipients":[]}`, "recipients"},
		{"bad address", `{"key":"h.txt","recipients":["alice"]}`, "recipients"},
		{"header injection", `{"key":"h.txt","recipients":["a@x.org\r\nBcc: e@evil.org"]}`, "recipients"},
		{"duplicate", `{"key":"h.txt","recipients":["a@x.org","A <a@X.org>"]}`, "twice"},
		{"too many", `{"key":"h.txt","recipients":[` + strings.Join(many, ",") + `]}`, "at most 50"},
		{"upload", `{"kind":"upload","key":"up/","recipients":["a@x.org"]}`, "download"},
		{"notify without recipients", `{"key":"h.txt","notify":"s@x.org"}`, "notify"},
		{"bad notify", `{"key":"h.txt","recipients":["a@x.org"],"notify":"nope"}`, "notify"},
		{"bad notify_mode", `{"key":"h.txt","recipients":["a@x.org"],"notify":"s@x.org","notify_mode":"weekly"}`, "notify_mode"},
		{"notify_mode alone", `{"key":"h.txt","recipients":["a@x.org"],"notify_mode":"digest"}`, "notify_mode"},
		{"direct without confirm", `{"key":"h.txt","recipients":["a@x.org"],"confirm":false,"direct":true}`, "direct"},
		{"recipients not a list", `{"key":"h.txt","recipients":"a@x.org"}`, "recipients"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := me.countRows("links") + me.countRows("deliveries")
			r := me.do("POST", "/api/v1/links", me.sharer, tc.body)
			b := readAll(t, r.Body)
			if r.StatusCode != http.StatusBadRequest || !strings.Contains(b, tc.field) {
				t.Fatalf("POST %s = %s; want 400 naming %s", tc.body, fmtResp(r, b), tc.field)
			}
			if after := me.countRows("links") + me.countRows("deliveries"); after != before {
				t.Fatal("a refused request created rows")
			}
		})
	}
	t.Run("mail off", func(t *testing.T) {
		e := newEnv(t, envOptions{})
		e.put("h.txt", "h")
		r := e.do("POST", "/api/v1/links", e.sharer, `{"key":"h.txt","recipients":["a@x.org"]}`)
		if b := readAll(t, r.Body); r.StatusCode != http.StatusBadRequest || !strings.Contains(b, "SHARESVC_SMTP_HOST") {
			t.Fatalf("recipients without mail = %s; want 400 naming the setting", fmtResp(r, b))
		}
	})
}
