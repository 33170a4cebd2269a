package server_test

import (
	"encoding/xml"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/sharesvc/sharesvc/internal/auth"
	"github.com/sharesvc/sharesvc/internal/clocktest"
	"github.com/sharesvc/sharesvc/internal/server"
)

type activityResp struct {
	Accesses []server.ActivityRow `json:"accesses"`
}

// A sharer reads the accesses of their own link, newest first, and no
// other sharer's; limit is bounded.
func TestLinkActivityAPI(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.put("act.txt", "a")
	l := e.createLink(e.sharer, `{"key":"act.txt","max_uses":2}`)
	code := strings.TrimPrefix(sharePath(t, l.URL), "/s/")
	for range 3 { // two minted, then used up
		e.do("GET", "/s/"+code, "", "").Body.Close()
	}
	quiet := e.createLink(e.sharer, `{"key":"act.txt"}`)

	path := "/api/v1/links/" + l.ID + "/activity"
	resp := e.do("GET", path, e.sharer, "")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("owner: %s", fmtResp(resp, readAll(t, resp.Body)))
	}
	got := decode[activityResp](t, resp)
	if len(got.Accesses) != 3 {
		t.Fatalf("owner sees %d accesses, want 3: %+v", len(got.Accesses), got.Accesses)
	}
	if a := got.Accesses[0]; a.Outcome != "denied" || a.Reason == "" || a.RequestID == "" {
		t.Errorf("newest access %+v, want the refusal first", a)
	}
	for i, a := range got.Accesses[1:] {
		if a.Outcome != "minted" || a.At.After(got.Accesses[i].At) {
			t.Errorf("access %d: %+v", i+1, a)
		}
	}
	if resp := e.do("GET", "/api/v1/links/"+quiet.ID+"/activity", e.sharer, ""); resp.StatusCode != 200 ||
		len(decode[activityResp](t, resp).Accesses) != 0 {
		t.Errorf("a link never opened has accesses")
	}

	other := e.token("other", auth.RoleSharer)
	for _, c := range []struct {
		token, query string
		want, n      int
	}{
		{other, "", http.StatusForbidden, 0},
		{e.admin, "?limit=1", http.StatusOK, 1},
		{e.sharer, "?limit=500", http.StatusOK, 3},
		{e.sharer, "?limit=0", http.StatusBadRequest, 0},
		{e.sharer, "?limit=501", http.StatusBadRequest, 0},
		{e.sharer, "?limit=ten", http.StatusBadRequest, 0},
	} {
		resp := e.do("GET", path+c.query, c.token, "")
		if resp.StatusCode != c.want {
			t.Errorf("%s: %s, want %d", c.query, fmtResp(resp, readAll(t, resp.Body)), c.want)
			continue
		}
		if c.want == http.StatusOK {
			if n := len(decode[activityResp](t, resp).Accesses); n != c.n {
				t.Errorf("%s: %d accesses, want %d", c.query, n, c.n)
			}
		} else {
			resp.Body.Close()
		}
	}
}

// The link page charts the opens of a link over its life, one bar per hour
// while it is young and per day (or several) later, from the opens alone.
func TestLinkActivityChart(t *testing.T) {
	t0 := time.Now()
	clk := clocktest.New(t0)
	e := newEnv(t, envOptions{clock: clk.Now})
	e.put("chart.txt", "c")
	l := e.createLink(e.sharer, `{"key":"chart.txt","max_uses":2}`)
	code := strings.TrimPrefix(sharePath(t, l.URL), "/s/")
	// The opens happen now: a clock far ahead would outlive the STS session.
	for range 3 {
		e.do("GET", "/s/"+code, "", "").Body.Close()
	}
	type rect struct {
		Class  string  `xml:"class,attr"`
		Height float64 `xml:"height,attr"`
		Opens  int     `xml:"data-opens,attr"`
	}
	chart := func(c *consoleClient) ([]rect, string) {
		t.Helper()
		resp, body := c.get("/ui/links/" + l.ID)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("link page = %d", resp.StatusCode)
		}
		m := regexp.MustCompile(`(?s)<svg class="chart".*?</svg>`).FindString(body)
		if m == "" {
			t.Fatalf("no chart on the link page:\n%.3000s", body)
		}
		var svg struct {
			Rects []rect `xml:"rect"`
		}
		if err := xml.Unmarshal([]byte(m), &svg); err != nil {
			t.Fatalf("chart %s: %v", m, err)
		}
		return svg.Rects, body
	}
	for _, tc := range []struct {
		after time.Duration
		bars  int
	}{
		{5*time.Hour + 30*time.Minute, 6}, // hours 0..5
		{10 * 24 * time.Hour, 11},         // days 0..10
		{150 * 24 * time.Hour, 51},        // 3 days a bar: 0..50
	} {
		clk.Set(t0.Add(tc.after))
		c := newConsoleClient(t, e) // a session lasts less than the clock moves
		c.signIn(e.sharer)
		bars, body := chart(c)
		if len(bars) != tc.bars {
			t.Errorf("after %s: %d bars, want %d", tc.after, len(bars), tc.bars)
			continue
		}
		// Two opens, both in the first bar, which is full height; the
		// refusal is counted in the summary, not charted.
		if bars[0].Opens != 2 || bars[0].Height != 120 {
			t.Errorf("after %s: first bar %+v, want 2 opens at full height", tc.after, bars[0])
		}
		for i, b := range bars[1:] {
			if b.Opens != 0 || b.Height != 0 || b.Class != "bar" {
				t.Errorf("after %s: bar %d = %+v, want empty", tc.after, i+1, b)
			}
		}
		if !strings.Contains(body, "2 opens, 1 refused, last ") {
			t.Errorf("after %s: no summary of 2 opens and 1 refusal", tc.after)
		}
		if n := strings.Count(body, `<td class="when">`); n < 3 {
			t.Errorf("after %s: %d rows in the table of accesses, want 3", tc.after, n)
		}
	}
}
