package server_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/sharesvc/sharesvc/internal/auth"
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
