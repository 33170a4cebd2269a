package server_test

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/sharesvc/sharesvc/internal/auth"
	"github.com/sharesvc/sharesvc/internal/links"
)

// Auditors find the rows of one object (bucket and key prefix, matched as
// bytes: % and _ are literal) and of one email recipient, in the list and
// both export formats, and every row of a link names its object.
func TestAuditByObjectAndRecipient(t *testing.T) {
	e := newEnv(t, envOptions{})
	for _, k := range []string{"obj/a%b.txt", "obj/axb.txt", "other/c.txt"} {
		e.put(k, "x")
	}
	auditor := e.token("auditor", auth.RoleAuditor)
	pct := e.createLink(e.sharer, `{"key":"obj/a%b.txt"}`)
	plain := e.createLink(e.sharer, `{"key":"obj/axb.txt"}`)
	other := e.createLink(e.sharer, `{"key":"other/c.txt"}`)
	for _, l := range []created{pct, plain, other} {
		if r := e.do("GET", sharePath(t, l.URL), "", ""); r.StatusCode != 302 {
			t.Fatalf("open %s = %d", l.ID, r.StatusCode)
		}
	}
	// A recipient's link of a share, stored as the share form does.
	code, hash := links.NewCode()
	now := time.Now().UTC().Truncate(time.Millisecond)
	rl := &links.Link{ID: links.NewID(), Kind: links.KindDownload, Bucket: testBucket, Key: "other/c.txt", CreatedAt: now,
		CreatedBy: "someone", ExpiresAt: now.Add(time.Hour), PresignTTL: time.Minute,
		ShareID: links.NewShareID(), Recipient: "rita@example.org"}
	if err := links.Insert(context.Background(), e.db.Read, rl, hash); err != nil {
		t.Fatal(err)
	}
	if r := e.do("GET", "/s/"+code, "", ""); r.StatusCode != 302 {
		t.Fatalf("open the recipient's link = %d", r.StatusCode)
	}
	e.do("GET", "/s/AAAAAAAAAAAAAAAAAAAAAAAA", "", "") // a row without a link

	type event struct {
		Action string `json:"action"`
		LinkID string `json:"link_id"`
		Object *struct {
			Bucket string `json:"bucket"`
			Key    string `json:"key"`
		} `json:"object"`
	}
	list := func(q url.Values) []event {
		t.Helper()
		r := e.do("GET", "/api/v1/audit?"+q.Encode(), auditor, "")
		if r.StatusCode != 200 {
			t.Fatalf("GET /api/v1/audit?%s = %s", q.Encode(), fmtResp(r, readAll(t, r.Body)))
		}
		return decode[struct {
			Events []event `json:"events"`
		}](t, r).Events
	}
	perLink := func(evs []event) map[string]int {
		m := map[string]int{}
		for _, ev := range evs {
			m[ev.LinkID]++
		}
		return m
	}
	for _, c := range []struct {
		name string
		q    url.Values
		want map[string]int // link id: rows
	}{
		{"bucket", url.Values{"bucket": {testBucket}}, map[string]int{pct.ID: 2, plain.ID: 2, other.ID: 2, rl.ID: 1}},
		{"percent is literal", url.Values{"key_prefix": {"obj/a%"}}, map[string]int{pct.ID: 2}},
		{"underscore is literal", url.Values{"bucket": {testBucket}, "key_prefix": {"obj/a_"}}, map[string]int{}},
		{"prefix", url.Values{"bucket": {testBucket}, "key_prefix": {"obj/"}, "action": {"link.access"}}, map[string]int{pct.ID: 1, plain.ID: 1}},
		{"other bucket", url.Values{"bucket": {"no-such-bucket"}}, map[string]int{}},
		{"recipient, domain in any case", url.Values{"recipient": {"rita@EXAMPLE.org"}}, map[string]int{rl.ID: 1}},
		{"recipient and prefix", url.Values{"recipient": {"rita@example.org"}, "key_prefix": {"obj/"}}, map[string]int{}},
		{"another recipient", url.Values{"recipient": {"rob@example.org"}}, map[string]int{}},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := perLink(list(c.q))
			if len(got) != len(c.want) {
				t.Fatalf("?%s: rows per link %v; want %v", c.q.Encode(), got, c.want)
			}
			for id, n := range c.want {
				if got[id] != n {
					t.Fatalf("?%s: rows per link %v; want %v", c.q.Encode(), got, c.want)
				}
			}
		})
	}
	t.Run("object field", func(t *testing.T) {
		for _, ev := range list(url.Values{}) {
			switch {
			case ev.LinkID == "" && ev.Object != nil:
				t.Errorf("%s row without a link has object %+v", ev.Action, ev.Object)
			case ev.LinkID == pct.ID && (ev.Object == nil || ev.Object.Bucket != testBucket || ev.Object.Key != "obj/a%b.txt"):
				t.Errorf("%s row of %s has object %+v; want %s/obj/a%%b.txt", ev.Action, ev.LinkID, ev.Object, testBucket)
			case ev.LinkID == rl.ID && (ev.Object == nil || ev.Object.Key != "other/c.txt"):
				t.Errorf("%s row of the recipient's link has object %+v", ev.Action, ev.Object)
			}
		}
	})
	t.Run("export", func(t *testing.T) {
		q := "bucket=" + testBucket + "&key_prefix=" + url.QueryEscape("obj/a%")
		r := e.do("GET", "/api/v1/audit/export?format=csv&"+q, auditor, "")
		recs, err := csv.NewReader(r.Body).ReadAll()
		if r.StatusCode != 200 || err != nil || len(recs) != 3 {
			t.Fatalf("CSV export = %d %v %v; want a header and 2 rows", r.StatusCode, recs, err)
		}
		h := recs[0]
		if h[len(h)-2] != "bucket" || h[len(h)-1] != "key" {
			t.Fatalf("CSV header %v; want bucket and key last", h)
		}
		for _, rec := range recs[1:] {
			if rec[4] != pct.ID || rec[len(rec)-2] != testBucket || rec[len(rec)-1] != "obj/a%b.txt" {
				t.Fatalf("CSV row %v", rec)
			}
		}
		r = e.do("GET", "/api/v1/audit/export?format=jsonl&recipient=rita@example.org", auditor, "")
		lines := strings.Split(strings.TrimSpace(readAll(t, r.Body)), "\n")
		var ev event
		if r.StatusCode != 200 || len(lines) != 1 || json.Unmarshal([]byte(lines[0]), &ev) != nil ||
			ev.LinkID != rl.ID || ev.Object == nil || ev.Object.Key != "other/c.txt" {
			t.Fatalf("JSONL export = %d %q", r.StatusCode, lines)
		}
	})
	t.Run("console", func(t *testing.T) {
		c := newConsoleClient(t, e)
		c.signIn(auditor)
		resp, body := c.get("/ui/audit?bucket=" + testBucket + "&key_prefix=" + url.QueryEscape("obj/a%") + "&action=link.access")
		if resp.StatusCode != 200 || !strings.Contains(body, `data-label="Object">`+testBucket+`/obj/a%b.txt<`) ||
			!strings.Contains(body, pct.ID) || strings.Contains(body, plain.ID) || !strings.Contains(body, `data-label="User agent">Go-http-client/1.1<`) ||
			!strings.Contains(body, `name="key_prefix" value="obj/a%"`) || !strings.Contains(body, `key_prefix=obj%2Fa%25`) {
			t.Fatalf("/ui/audit by object = %d:\n%s", resp.StatusCode, body)
		}
		resp, body = c.get("/ui/audit?recipient=rita@example.org")
		if resp.StatusCode != 200 || !strings.Contains(body, rl.ID) || strings.Contains(body, pct.ID) {
			t.Fatalf("/ui/audit by recipient = %d:\n%s", resp.StatusCode, body)
		}
		if resp, body := c.get("/ui/audit?bucket=Bad_Bucket"); resp.StatusCode != 400 || !strings.Contains(body, "bucket") {
			t.Fatalf("/ui/audit?bucket=Bad_Bucket = %d:\n%s", resp.StatusCode, body)
		}
	})
	t.Run("bad filters", func(t *testing.T) {
		for _, c := range []struct{ q, detail string }{
			{"bucket=Bad_Bucket", "bucket"},
			{"bucket=ab", "bucket"},
			{"key_prefix=" + url.QueryEscape("a\x01b"), "key_prefix contains a control character"},
			{"key_prefix=" + strings.Repeat("k", 1025), "key_prefix is 1025 bytes"},
			{"recipient=" + url.QueryEscape("r@x.org\n"), "recipient contains a control character"},
			{"recipient=" + strings.Repeat("r", 1100), "recipient is 1100 bytes"},
			{"bucket=a&bucket=b", "more than once"},
		} {
			for _, path := range []string{"/api/v1/audit?", "/api/v1/audit/export?format=csv&"} {
				r := e.do("GET", path+c.q, auditor, "")
				p := decode[map[string]any](t, r)
				if d, _ := p["detail"].(string); r.StatusCode != 400 || p["type"] != "urn:sharesvc:problem:invalid-audit-query" || !strings.Contains(d, c.detail) {
					t.Errorf("GET %s%.40s = %d %v; want 400 invalid-audit-query naming %q", path, c.q, r.StatusCode, p, c.detail)
				}
			}
		}
	})
}
