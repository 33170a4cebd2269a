package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/sharesvc/sharesvc/internal/audit"
	"github.com/sharesvc/sharesvc/internal/auth"
	"github.com/sharesvc/sharesvc/internal/server"
)

// grant gives person a download grant on prefix of the test bucket, through
// the API, and returns its id.
func (e *env) grant(person, prefix string) string {
	e.t.Helper()
	resp := e.do("POST", "/api/v1/grants", e.admin, `{"person":"`+person+`","bucket":"`+testBucket+`","key_prefix":"`+prefix+`","actions":["download"]}`)
	b := readAll(e.t, resp.Body)
	if resp.StatusCode != http.StatusCreated {
		e.t.Fatalf("create grant: %s", fmtResp(resp, b))
	}
	var g struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal([]byte(b), &g); err != nil {
		e.t.Fatal(err)
	}
	return g.ID
}

func (e *env) countRows(table string) int {
	e.t.Helper()
	var n int
	if err := e.db.Read.QueryRow(`SELECT COUNT(*) FROM ` + table).Scan(&n); err != nil {
		e.t.Fatal(err)
	}
	return n
}

func decode[T any](t testing.TB, resp *http.Response) T {
	t.Helper()
	var v T
	b := readAll(t, resp.Body)
	if err := json.Unmarshal([]byte(b), &v); err != nil {
		t.Fatalf("decode %s: %v", b, err)
	}
	return v
}

// Every route × every kind of caller, with the status each must get. An
// auditor never changes anything.
func TestRouteRoles(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.put("roles.txt", "r")
	other := e.token("other-sharer", auth.RoleSharer)
	auditor := e.token("auditor", auth.RoleAuditor)
	sharerName := "sharer-" + strings.ReplaceAll(t.Name(), "/", "-")
	callers := []struct{ name, token string }{
		{"none", ""}, {"bad", "sst_not-a-real-token"}, {"sharer", e.sharer}, {"other sharer", other},
		{"auditor", auditor}, {"admin", e.admin},
	}
	n := 0
	uniq := func() string { n++; return fmt.Sprint(n) }
	// Each case builds its own target so that callers do not affect each other.
	cases := []struct {
		method, path string
		req          func() (path, body string)
		want         [6]int // none, bad, sharer, other sharer, auditor, admin
	}{
		{"POST", "/api/v1/links", func() (string, string) { return "/api/v1/links", `{"key":"roles.txt"}` },
			[6]int{401, 401, 201, 201, 403, 201}},
		{"GET", "/api/v1/links", func() (string, string) { return "/api/v1/links", "" },
			[6]int{401, 401, 200, 200, 200, 200}},
		{"GET", "/api/v1/links/{id}", func() (string, string) {
			return "/api/v1/links/" + e.createLink(e.sharer, `{"key":"roles.txt"}`).ID, ""
		}, [6]int{401, 401, 200, 403, 200, 200}},
		{"POST", "/api/v1/links/{id}/revoke", func() (string, string) {
			return "/api/v1/links/" + e.createLink(e.sharer, `{"key":"roles.txt"}`).ID + "/revoke", ""
		}, [6]int{401, 401, 200, 403, 403, 200}},
		{"PATCH", "/api/v1/links/{id}", func() (string, string) {
			return "/api/v1/links/" + e.createLink(e.sharer, `{"key":"roles.txt"}`).ID, `{"note":"changed"}`
		}, [6]int{401, 401, 200, 403, 403, 200}},
		{"GET", "/api/v1/links/{id}/activity", func() (string, string) {
			return "/api/v1/links/" + e.createLink(e.sharer, `{"key":"roles.txt"}`).ID + "/activity", ""
		}, [6]int{401, 401, 200, 403, 200, 200}},
		{"GET", "/api/v1/links/{id}/arrivals", func() (string, string) {
			return "/api/v1/links/" + e.createLink(e.sharer, `{"kind":"upload","key_prefix":"inbox/roles"}`).ID + "/arrivals", ""
		}, [6]int{401, 401, 200, 403, 403, 200}},
		// An arrival that does not exist: its link's owner and admins learn
		// so, others are refused before.
		{"GET", "/api/v1/links/{id}/arrivals/{arrival}/download", func() (string, string) {
			return "/api/v1/links/" + e.createLink(e.sharer, `{"kind":"upload","key_prefix":"inbox/roles"}`).ID + "/arrivals/arr_none/download", ""
		}, [6]int{401, 401, 404, 403, 403, 404}},
		{"POST", "/api/v1/files", func() (string, string) { return "/api/v1/files", `{"filename":"roles.txt","size":3}` },
			[6]int{401, 401, 201, 201, 403, 201}},
		// Nothing was uploaded under that key.
		{"POST", "/api/v1/files/complete", func() (string, string) {
			return "/api/v1/files/complete", `{"bucket":"` + testBucket + `","key":"never-uploaded-` + uniq() + `.txt","size":3}`
		}, [6]int{401, 401, 400, 400, 403, 400}},
		{"GET", "/api/v1/shares/{id}", func() (string, string) {
			return "/api/v1/shares/" + e.insertShare(e.sharer), ""
		}, [6]int{401, 401, 200, 403, 200, 200}},
		{"POST", "/api/v1/shares/{id}/revoke", func() (string, string) {
			return "/api/v1/shares/" + e.insertShare(e.sharer) + "/revoke", ""
		}, [6]int{401, 401, 200, 403, 403, 200}},
		{"POST", "/api/v1/links/revoke-by-url", func() (string, string) {
			return "/api/v1/links/revoke-by-url", fmt.Sprintf(`{"url":%q}`, e.createLink(e.sharer, `{"key":"roles.txt"}`).URL)
		}, [6]int{401, 401, 200, 403, 403, 200}},
		{"POST", "/api/v1/links/bulk-revoke", func() (string, string) {
			return "/api/v1/links/bulk-revoke", `{"key_prefix":"nothing-matches/"}`
		}, [6]int{401, 401, 403, 403, 403, 200}},
		{"POST", "/api/v1/offboard", func() (string, string) {
			name := "leaver-" + uniq()
			e.token(name, auth.RoleSharer)
			return "/api/v1/offboard", fmt.Sprintf(`{"name":%q}`, name)
		},
			[6]int{401, 401, 403, 403, 403, 200}},
		{"GET", "/api/v1/killswitch", func() (string, string) { return "/api/v1/killswitch", "" },
			[6]int{401, 401, 403, 403, 200, 200}},
		{"POST", "/api/v1/killswitch", func() (string, string) { return "/api/v1/killswitch", `{"on":false}` },
			[6]int{401, 401, 403, 403, 403, 200}},
		{"POST", "/api/v1/tokens", func() (string, string) {
			return "/api/v1/tokens", fmt.Sprintf(`{"name":"new-%s","role":"sharer"}`, uniq())
		}, [6]int{401, 401, 403, 403, 403, 201}},
		{"GET", "/api/v1/tokens", func() (string, string) { return "/api/v1/tokens", "" },
			[6]int{401, 401, 403, 403, 403, 200}},
		{"POST", "/api/v1/tokens/{id}/revoke", func() (string, string) {
			name := "victim-" + uniq()
			e.token(name, auth.RoleSharer)
			return "/api/v1/tokens/" + e.tokenID(name) + "/revoke", ""
		}, [6]int{401, 401, 403, 403, 403, 200}},
		{"PATCH", "/api/v1/tokens/{id}", func() (string, string) {
			name := "person-" + uniq()
			e.token(name, auth.RoleSharer)
			return "/api/v1/tokens/" + e.tokenID(name), `{"display_name":"Pat Person"}`
		}, [6]int{401, 401, 403, 403, 403, 200}},
		{"POST", "/api/v1/tokens/{id}/rotate", func() (string, string) {
			name := "rotated-" + uniq()
			e.token(name, auth.RoleSharer)
			return "/api/v1/tokens/" + e.tokenID(name) + "/rotate", ""
		}, [6]int{401, 401, 403, 403, 403, 200}},
		{"GET", "/api/v1/me/tokens", func() (string, string) { return "/api/v1/me/tokens", "" },
			[6]int{401, 401, 200, 200, 200, 200}},
		{"POST", "/api/v1/me/tokens", func() (string, string) {
			return "/api/v1/me/tokens", `{"name":"mine-` + uniq() + `","lifetime":"1d"}`
		}, [6]int{401, 401, 201, 201, 201, 201}},
		// Someone else's token is not found rather than forbidden.
		{"DELETE", "/api/v1/me/tokens/{id}", func() (string, string) {
			r := e.do("POST", "/api/v1/me/tokens", e.sharer, `{"name":"mine-`+uniq()+`"}`)
			return "/api/v1/me/tokens/" + decode[server.OwnTokenResponse](t, r).ID, ""
		}, [6]int{401, 401, 200, 404, 404, 404}},
		{"GET", "/api/v1/people", func() (string, string) { return "/api/v1/people", "" },
			[6]int{401, 401, 403, 403, 200, 200}},
		{"PUT", "/api/v1/people/{id}/role", func() (string, string) {
			return "/api/v1/people/" + e.signedIn("roled-"+uniq()).ID + "/role", `{"role":"auditor"}`
		}, [6]int{401, 401, 403, 403, 403, 200}},
		{"POST", "/api/v1/people/{id}/enable", func() (string, string) {
			return "/api/v1/people/" + e.signedIn("enabled-"+uniq()).ID + "/enable", ""
		}, [6]int{401, 401, 403, 403, 403, 200}},
		{"POST", "/api/v1/grants", func() (string, string) {
			return "/api/v1/grants", `{"role":"sharer","bucket":"` + testBucket + `","key_prefix":"g` + uniq() + `/","actions":["download"]}`
		}, [6]int{401, 401, 403, 403, 403, 201}},
		{"GET", "/api/v1/grants", func() (string, string) { return "/api/v1/grants", "" },
			[6]int{401, 401, 200, 200, 200, 200}},
		// Another sharer's grant is not found rather than forbidden: grant
		// ids say nothing to those they do not apply to.
		{"GET", "/api/v1/grants/{id}", func() (string, string) { return "/api/v1/grants/" + e.grant(sharerName, "g"+uniq()+"/"), "" },
			[6]int{401, 401, 200, 404, 200, 200}},
		{"POST", "/api/v1/grants/{id}/revoke", func() (string, string) {
			return "/api/v1/grants/" + e.grant(sharerName, "g"+uniq()+"/") + "/revoke", ""
		}, [6]int{401, 401, 403, 403, 403, 200}},
		{"GET", "/api/v1/audit", func() (string, string) { return "/api/v1/audit", "" },
			[6]int{401, 401, 403, 403, 200, 200}},
		{"GET", "/api/v1/audit/export", func() (string, string) { return "/api/v1/audit/export?format=csv", "" },
			[6]int{401, 401, 403, 403, 200, 200}},
		{"GET", "/api/v1/audit/verify", func() (string, string) { return "/api/v1/audit/verify", "" },
			[6]int{401, 401, 403, 403, 200, 200}},
		// 409: this env has no checkpoint key; the role check comes first.
		{"POST", "/api/v1/audit/checkpoint", func() (string, string) { return "/api/v1/audit/checkpoint", "" },
			[6]int{401, 401, 403, 403, 403, 409}},
	}
	covered := map[string]bool{}
	for _, tc := range cases {
		covered[tc.method+" "+tc.path] = true
		for i, c := range callers {
			t.Run(tc.method+" "+tc.path+" as "+c.name, func(t *testing.T) {
				path, body := tc.req()
				if body == "" && tc.method == "POST" {
					body = "{}"
				}
				r := e.do(tc.method, path, c.token, body)
				if r.StatusCode != tc.want[i] {
					t.Errorf("%s %s as %s = %s; want %d", tc.method, path, c.name, fmtResp(r, readAll(t, r.Body)), tc.want[i])
				}
				if r.StatusCode == 401 && r.Header.Get("WWW-Authenticate") == "" {
					t.Error("401 without WWW-Authenticate")
				}
			})
		}
	}
	// The table covers every authenticated route the router serves.
	for _, rt := range apiRoutes(t, e) {
		if !covered[rt] && !publicAPIRoutes[rt] {
			t.Errorf("route %s has no role rule in this test", rt)
		}
	}
	// The auditor wrote nothing.
	evs, err := audit.List(context.Background(), e.db.Read, audit.Filter{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	for _, ev := range evs {
		// Tokens for their own scripts are theirs to mint and revoke.
		if strings.HasPrefix(ev.Action, "token.") && strings.Contains(ev.Detail, `"owner":"auditor"`) {
			continue
		}
		if ev.Actor == "auditor" {
			t.Errorf("auditor changed something: %+v", ev)
		}
	}
}

// publicAPIRoutes are /api/v1 routes that need no token.
var publicAPIRoutes = map[string]bool{"GET /api/v1/openapi.json": true}

func TestUploadWithCurl(t *testing.T) {
	e := newEnv(t, envOptions{})
	curl, err := exec.LookPath("curl")
	if err != nil {
		t.Fatal("curl is required for the upload test: ", err)
	}
	dir := t.TempDir()
	file := filepath.Join(dir, "scan.pdf")
	content := strings.Repeat("PDF-1.7 bytes ", 100)
	os.WriteFile(file, []byte(content), 0o600)

	l := e.createLink(e.sharer, `{"kind":"upload","key":"inbox/scan.pdf","max_bytes":4096,"max_uses":2}`)
	if !strings.HasPrefix(l.URL, "http://share.example/u/") {
		t.Fatalf("upload url = %q; want …/u/CODE", l.URL)
	}
	run := func(args ...string) (string, error) {
		out, err := exec.Command(curl, append([]string{"-sS", "-L", "--fail-with-body"}, args...)...).CombinedOutput()
		return string(out), err
	}
	if out, err := run("-T", file, "-H", "If-None-Match: *", e.http.URL+sharePath(t, l.URL)); err != nil {
		t.Fatalf("curl -L -T: %v: %s", err, out)
	}
	got, err := e.s3.GetObject(context.Background(), testBucket, "inbox/scan.pdf")
	if err != nil || string(got) != content {
		t.Fatalf("object after upload = %q, %v; want the file", got, err)
	}

	t.Run("over the cap, refused by sharesvc", func(t *testing.T) {
		big := filepath.Join(dir, "big.bin")
		os.WriteFile(big, make([]byte, 5000), 0o600)
		r := e.do("PUT", sharePath(t, l.URL), "", strings.Repeat("x", 5000), "If-None-Match", "*")
		if r.StatusCode != http.StatusRequestEntityTooLarge || r.Header.Get("Location") != "" {
			t.Fatalf("PUT 5000 bytes = %s; want 413 without Location", fmtResp(r, readAll(t, r.Body)))
		}
	})
	t.Run("over the cap, refused by S3", func(t *testing.T) {
		// A client that declares 10 bytes to sharesvc and sends 20 to S3.
		r := e.do("PUT", sharePath(t, l.URL), "", strings.Repeat("y", 10), "If-None-Match", "*")
		loc := r.Header.Get("Location")
		if r.StatusCode != http.StatusTemporaryRedirect || loc == "" {
			t.Fatalf("PUT = %s; want 307 with Location", fmtResp(r, readAll(t, r.Body)))
		}
		req, _ := http.NewRequest("PUT", loc, strings.NewReader(strings.Repeat("z", 20)))
		req.Header.Set("If-None-Match", "*")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body := readAll(t, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden {
			t.Fatalf("PUT 20 bytes to a URL signed for 10 = %d %s; want 403 from S3", resp.StatusCode, body)
		}
		if got, _ := e.s3.GetObject(context.Background(), testBucket, "inbox/scan.pdf"); string(got) != content {
			t.Fatal("the refused upload replaced the object")
		}
	})
	t.Run("declared empty, a body refused by S3", func(t *testing.T) {
		// A client that declares 0 bytes to sharesvc and sends 1 MiB to S3.
		z := e.createLink(e.sharer, `{"kind":"upload","key":"inbox/empty.txt","max_bytes":4096}`)
		r := e.do("PUT", sharePath(t, z.URL), "", "", "If-None-Match", "*")
		loc := r.Header.Get("Location")
		if r.StatusCode != http.StatusTemporaryRedirect || loc == "" {
			t.Fatalf("PUT = %s; want 307 with Location", fmtResp(r, readAll(t, r.Body)))
		}
		req, _ := http.NewRequest("PUT", loc, strings.NewReader(strings.Repeat("z", 1<<20)))
		req.Header.Set("If-None-Match", "*")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body := readAll(t, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden {
			t.Fatalf("PUT 1 MiB to a URL signed for 0 bytes = %d %s; want 403 from S3", resp.StatusCode, body)
		}
		if _, err := e.s3.GetObject(context.Background(), testBucket, "inbox/empty.txt"); err == nil {
			t.Fatal("the refused upload was stored")
		}
	})
	t.Run("no overwrite: the header is required, and S3 refuses a second upload", func(t *testing.T) {
		ow := e.createLink(e.sharer, `{"kind":"upload","key":"inbox/once.txt","max_bytes":4096,"max_uses":3}`)
		if r := e.do("PUT", sharePath(t, ow.URL), "", "first"); r.StatusCode != http.StatusPreconditionRequired || r.Header.Get("Location") != "" {
			t.Fatalf("PUT without If-None-Match = %d; want 428 without Location", r.StatusCode)
		}
		put := func(body string) int {
			r := e.do("PUT", sharePath(t, ow.URL), "", body, "If-None-Match", "*")
			req, _ := http.NewRequest("PUT", r.Header.Get("Location"), strings.NewReader(body))
			req.Header.Set("If-None-Match", "*")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			return resp.StatusCode
		}
		if code := put("first"); code != http.StatusOK {
			t.Fatalf("first upload = %d; want 200", code)
		}
		if code := put("second"); code != http.StatusPreconditionFailed {
			t.Fatalf("second upload to the same key = %d; want 412 from S3", code)
		}
		if got, _ := e.s3.GetObject(context.Background(), testBucket, "inbox/once.txt"); string(got) != "first" {
			t.Fatalf("object after the refused second upload = %q; want the first bytes", got)
		}
	})
	t.Run("used up", func(t *testing.T) {
		r := e.do("PUT", sharePath(t, l.URL), "", "late", "If-None-Match", "*")
		if r.StatusCode != http.StatusGone {
			t.Fatalf("third upload = %d; want 410 (max_uses 2)", r.StatusCode)
		}
	})
	t.Run("content type enforced", func(t *testing.T) {
		ct := e.createLink(e.sharer, `{"kind":"upload","key":"inbox/notes.txt","content_type":"text/plain"}`)
		if r := e.do("PUT", sharePath(t, ct.URL), "", "hello", "Content-Type", "application/pdf", "If-None-Match", "*"); r.StatusCode != http.StatusUnsupportedMediaType {
			t.Fatalf("wrong type = %d; want 415", r.StatusCode)
		}
		if out, err := run("-T", file, "-H", "Content-Type: text/plain", "-H", "If-None-Match: *", e.http.URL+sharePath(t, ct.URL)); err != nil {
			t.Fatalf("curl with the right type: %v: %s", err, out)
		}
	})
	t.Run("prefix gets a generated name", func(t *testing.T) {
		p := e.createLink(e.sharer, `{"kind":"upload","key_prefix":"drop"}`)
		if out, err := run("-T", file, e.http.URL+sharePath(t, p.URL)); err != nil {
			t.Fatalf("curl: %v: %s", err, out)
		}
		var key string
		for _, ev := range e.events(p.ID) {
			if ev.Outcome == audit.OutcomeMinted {
				var d struct{ Key string }
				json.Unmarshal([]byte(ev.Detail), &d)
				key = d.Key
			}
		}
		if !strings.HasPrefix(key, "drop/") {
			t.Fatalf("generated key = %q; want drop/…", key)
		}
		if got, err := e.s3.GetObject(context.Background(), testBucket, key); err != nil || string(got) != content {
			t.Fatalf("object at %s = %d bytes, %v", key, len(got), err)
		}
	})
	t.Run("download code on the upload route", func(t *testing.T) {
		e.put("d.txt", "d")
		d := e.createLink(e.sharer, `{"key":"d.txt"}`)
		code := strings.TrimPrefix(sharePath(t, d.URL), "/s/")
		if r := e.do("PUT", "/u/"+code, "", "x"); r.StatusCode != http.StatusNotFound {
			t.Fatalf("PUT /u/<download code> = %d; want 404", r.StatusCode)
		}
		if r := e.do("GET", strings.Replace(sharePath(t, l.URL), "/u/", "/s/", 1), "", ""); r.StatusCode != http.StatusNotFound {
			t.Fatalf("GET /s/<upload code> = %d; want 404", r.StatusCode)
		}
	})
}

func TestDownloadFilenameAndObjectCheck(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.put("reports/q3.bin", "numbers")
	l := e.createLink(e.sharer, `{"key":"reports/q3.bin","filename":"Q3 report é.pdf"}`)
	r := e.do("GET", sharePath(t, l.URL), "", "")
	resp, err := http.Get(r.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	cd := resp.Header.Get("Content-Disposition")
	if resp.StatusCode != 200 || !strings.Contains(cd, "attachment") || !strings.Contains(cd, "Q3%20report%20%C3%A9.pdf") {
		t.Fatalf("S3 answered %d with Content-Disposition %q; want attachment with the file name", resp.StatusCode, cd)
	}

	before := e.countRows("links")
	// An admin, whom no grant limits: a sharer asking outside their grants
	// (another bucket) is refused before S3 is asked (grants_test.go).
	for _, body := range []string{`{"key":"reports/missing.bin"}`, `{"bucket":"no-such-bucket-here","key":"x"}`} {
		r := e.do("POST", "/api/v1/links", e.admin, body)
		b := readAll(t, r.Body)
		if r.StatusCode != http.StatusBadRequest || !strings.Contains(b, "does not exist") && !strings.Contains(b, "cannot be read") {
			t.Errorf("create %s = %s; want 400 saying the object is missing", body, fmtResp(r, b))
		}
	}
	if e.countRows("links") != before {
		t.Fatal("a refused create stored a link")
	}
}

func TestUseCapUnderConcurrency(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.put("hot.txt", "hot")
	l := e.createLink(e.sharer, `{"key":"hot.txt","max_uses":5}`)
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		status = map[int]int{}
	)
	for i := 0; i < 50; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, _ := http.NewRequest("GET", e.http.URL+sharePath(t, l.URL), nil)
			resp, err := noRedirect.Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			resp.Body.Close()
			mu.Lock()
			status[resp.StatusCode]++
			if resp.StatusCode != 302 && resp.Header.Get("Location") != "" {
				t.Errorf("%d with a Location", resp.StatusCode)
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	if status[302] != 5 || status[410] != 45 {
		t.Fatalf("statuses = %v; want exactly 5 × 302 and 45 × 410", status)
	}
	minted := 0
	for _, ev := range e.events(l.ID) {
		if ev.Outcome == audit.OutcomeMinted {
			minted++
		}
	}
	if minted != 5 {
		t.Fatalf("audit has %d mints; want 5", minted)
	}
}

func TestBulkRevokeOffboardAndKillSwitch(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.put("team/a.txt", "a")
	e.put("team/b.txt", "b")
	e.put("solo.txt", "s")
	bob := e.token("bob", auth.RoleSharer)

	team := []created{e.createLink(e.sharer, `{"key":"team/a.txt"}`), e.createLink(e.sharer, `{"key":"team/b.txt"}`), e.createLink(bob, `{"key":"team/a.txt"}`)}
	solo := e.createLink(e.sharer, `{"key":"solo.txt"}`)
	bobSolo := e.createLink(bob, `{"key":"solo.txt"}`)

	t.Run("bulk revoke by prefix", func(t *testing.T) {
		if r := e.do("POST", "/api/v1/links/bulk-revoke", e.admin, `{}`); r.StatusCode != 400 {
			t.Fatalf("empty filter = %d; want 400", r.StatusCode)
		}
		dry := decode[map[string]any](t, e.do("POST", "/api/v1/links/bulk-revoke", e.admin, `{"key_prefix":"team/","dry_run":true}`))
		if dry["count"] != float64(3) {
			t.Fatalf("dry run = %v; want count 3", dry)
		}
		ids, _ := dry["ids"].([]any)
		want := map[any]bool{team[0].ID: true, team[1].ID: true, team[2].ID: true}
		if len(ids) != 3 || !want[ids[0]] || !want[ids[1]] || !want[ids[2]] || ids[0] == ids[1] || ids[1] == ids[2] || ids[0] == ids[2] {
			t.Fatalf("dry run ids = %v; want the 3 team links", dry["ids"])
		}
		res := decode[map[string]any](t, e.do("POST", "/api/v1/links/bulk-revoke", e.admin, `{"key_prefix":"team/","reason":"project over"}`))
		if res["revoked"] != float64(3) {
			t.Fatalf("bulk revoke = %v; want 3", res)
		}
		for _, l := range team {
			if r := e.do("GET", sharePath(t, l.URL), "", ""); r.StatusCode != 410 || r.Header.Get("Location") != "" {
				t.Errorf("revoked team link = %d; want 410", r.StatusCode)
			}
		}
		if r := e.do("GET", sharePath(t, solo.URL), "", ""); r.StatusCode != 302 {
			t.Errorf("unmatched link = %d; want 302", r.StatusCode)
		}
	})
	t.Run("offboarding", func(t *testing.T) {
		r := e.do("POST", "/api/v1/offboard", e.admin, `{"name":"bbo","reason":"typo"}`)
		body := readAll(t, r.Body)
		if r.StatusCode != 404 || !strings.Contains(body, "person-not-found") || !strings.Contains(body, "no person named bbo") {
			t.Fatalf("offboard of an unknown name = %s; want a 404 naming it", fmtResp(r, body))
		}
		res := decode[map[string]any](t, e.do("POST", "/api/v1/offboard", e.admin, `{"name":"bob","reason":"left the company"}`))
		if res["links_revoked"] != float64(1) || res["tokens_revoked"] != float64(1) {
			t.Fatalf("offboard = %v; want 1 link (the other was bulk-revoked) and 1 token", res)
		}
		if r := e.do("GET", sharePath(t, bobSolo.URL), "", ""); r.StatusCode != 410 {
			t.Errorf("bob's link = %d; want 410", r.StatusCode)
		}
		if r := e.do("GET", "/api/v1/links", bob, ""); r.StatusCode != 401 {
			t.Errorf("bob's token = %d; want 401", r.StatusCode)
		}
	})
	t.Run("kill switch", func(t *testing.T) {
		if r := e.do("POST", "/api/v1/killswitch", e.admin, `{"on":true}`); r.StatusCode != 400 {
			t.Fatalf("kill switch without reason = %d; want 400", r.StatusCode)
		}
		if r := e.do("POST", "/api/v1/killswitch", e.admin, `{"on":true,"reason":"suspected leak"}`); r.StatusCode != 200 {
			t.Fatalf("kill switch on = %d", r.StatusCode)
		}
		if _, ok := e.signer.Session(); ok {
			t.Error("the STS session survived the kill switch")
		}
		for i := 0; i < 3; i++ {
			r := e.do("GET", sharePath(t, solo.URL), "", "")
			if r.StatusCode != 503 || r.Header.Get("Location") != "" || r.Header.Get("Retry-After") == "" {
				t.Fatalf("GET while killed = %d Location %q; want 503, Retry-After, no Location", r.StatusCode, r.Header.Get("Location"))
			}
		}
		if r := e.do("POST", "/api/v1/killswitch", e.admin, `{"on":false}`); r.StatusCode != 200 {
			t.Fatalf("kill switch off = %d", r.StatusCode)
		}
		if r := e.do("GET", sharePath(t, solo.URL), "", ""); r.StatusCode != 302 {
			t.Fatalf("GET after lifting = %d; want 302", r.StatusCode)
		}
	})
	t.Run("kill switch set by another instance", func(t *testing.T) {
		// Written straight into the database, as another instance would:
		// the check inside the use transaction stops the mint even before
		// this instance's cache notices.
		if _, err := e.db.Read.Exec(`INSERT INTO settings VALUES ('killswitch', 'elsewhere', 0, 'admin2')`); err != nil {
			t.Fatal(err)
		}
		r := e.do("GET", sharePath(t, solo.URL), "", "")
		if r.StatusCode != 503 || r.Header.Get("Location") != "" {
			t.Fatalf("GET = %d Location %q; want 503 and no Location", r.StatusCode, r.Header.Get("Location"))
		}
		e.db.Read.Exec(`DELETE FROM settings`)
	})
	// Every act is in the audit log.
	acts := map[string]int{}
	evs, _ := audit.List(context.Background(), e.db.Read, audit.Filter{Limit: 1000})
	for _, ev := range evs {
		acts[ev.Action]++
	}
	if acts[audit.ActionBulkRevoke] != 1 || acts[audit.ActionOffboard] != 1 || acts[audit.ActionKillSwitch] != 2 {
		t.Fatalf("audited acts = %v", acts)
	}
}

func TestListFiltersAndPages(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.put("l.txt", "l")
	var ids []string
	for i := 0; i < 7; i++ {
		ids = append(ids, e.createLink(e.sharer, `{"key":"l.txt"}`).ID)
	}
	e.createLink(e.admin, `{"key":"l.txt"}`)
	e.do("POST", "/api/v1/links/"+ids[0]+"/revoke", e.admin, "")

	type page struct {
		Links []struct {
			ID, State string
		}
		NextCursor string `json:"next_cursor"`
	}
	seen := map[string]bool{}
	cursor := ""
	for pages := 0; ; pages++ {
		if pages > 10 {
			t.Fatal("pagination does not end")
		}
		p := decode[page](t, e.do("GET", "/api/v1/links?limit=3&cursor="+cursor, e.sharer, ""))
		for _, l := range p.Links {
			if seen[l.ID] {
				t.Fatalf("link %s on two pages", l.ID)
			}
			seen[l.ID] = true
		}
		if p.NextCursor == "" {
			break
		}
		cursor = p.NextCursor
	}
	if len(seen) != 7 {
		t.Fatalf("sharer listed %d links; want their 7", len(seen))
	}
	revoked := decode[page](t, e.do("GET", "/api/v1/links?state=revoked", e.admin, ""))
	if len(revoked.Links) != 1 || revoked.Links[0].ID != ids[0] || revoked.Links[0].State != "revoked" {
		t.Fatalf("state=revoked = %+v", revoked)
	}
	for _, q := range []string{"state=bogus", "limit=0", "cursor=!!", "created_after=yesterday", "colour=red"} {
		if r := e.do("GET", "/api/v1/links?"+q, e.admin, ""); r.StatusCode != 400 {
			t.Errorf("GET /api/v1/links?%s = %d; want 400", q, r.StatusCode)
		}
	}
}

// Each bad admin body from the field notes is a 4xx and creates nothing.
func TestBadAdminBodies(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.put("ok.txt", "ok")
	deep := strings.Repeat(`{"a":`, 100) + "1" + strings.Repeat("}", 100)
	for _, tc := range []struct{ name, body, ctype string }{
		{"empty", "", "application/json"},
		{"null", "null", "application/json"},
		{"array", "[]", "application/json"},
		{"deep nesting", `{"key":"ok.txt","note":` + deep + `}`, "application/json"},
		{"huge", `{"key":"ok.txt","note":"` + strings.Repeat("a", 2<<20) + `"}`, "application/json"},
		{"two values", `{"key":"ok.txt"}{"key":"ok.txt"}`, "application/json"},
		{"duplicate key", `{"key":"ok.txt","key":"other.txt"}`, "application/json"},
		{"case-variant key", `{"Key":"ok.txt"}`, "application/json"},
		{"unknown field code", `{"key":"ok.txt","code":"AAAAAAAAAAAAAAAAAAAAAAAA"}`, "application/json"},
		{"unknown field revoked_at", `{"key":"ok.txt","revoked_at":null}`, "application/json"},
		{"unknown field created_by", `{"key":"ok.txt","created_by":"mallory"}`, "application/json"},
		{"1e309", `{"key":"ok.txt","expires_in":1e309}`, "application/json"},
		{"fractional", `{"key":"ok.txt","expires_in":1.5}`, "application/json"},
		{"negative lifetime", `{"key":"ok.txt","expires_in":-5}`, "application/json"},
		{"huge lifetime", `{"key":"ok.txt","expires_in":99999999999}`, "application/json"},
		{"presign ttl over max", `{"key":"ok.txt","presign_ttl":86400}`, "application/json"},
		{"invalid UTF-8", "{\"key\":\"ok\xff.txt\"}", "application/json"},
		{"wrong type", `{"key":"ok.txt","expires_in":true}`, "application/json"},
		{"duration text", `{"key":"ok.txt","expires_in":"soon"}`, "application/json"},
		{"fractional days", `{"key":"ok.txt","expires_in":"1.5d"}`, "application/json"},
		{"negative duration", `{"key":"ok.txt","expires_in":"-3d"}`, "application/json"},
		{"sub-second duration", `{"key":"ok.txt","presign_ttl":"1500ms"}`, "application/json"},
		{"duration over max", `{"key":"ok.txt","expires_in":"1000w"}`, "application/json"},
		{"zero duration", `{"key":"ok.txt","presign_ttl":"0s"}`, "application/json"},
		{"control char duration", "{\"key\":\"ok.txt\",\"expires_in\":\"3d\\n\"}", "application/json"},
		{"not JSON content type", `{"key":"ok.txt"}`, "application/x-www-form-urlencoded"},
		{"empty key", `{"key":""}`, "application/json"},
		{"dot segment key", `{"key":"../ok.txt"}`, "application/json"},
		{"control char key", "{\"key\":\"ok\\u0001.txt\"}", "application/json"},
		{"1025-byte key", `{"key":"` + strings.Repeat("k", 1025) + `"}`, "application/json"},
		{"bad bucket", `{"bucket":"Bad_Bucket","key":"ok.txt"}`, "application/json"},
		{"expires twice", `{"key":"ok.txt","expires_in":60,"expires_at":"2030-01-01T00:00:00Z"}`, "application/json"},
		{"max_uses zero", `{"key":"ok.txt","max_uses":0}`, "application/json"},
		{"upload fields on download", `{"key":"ok.txt","max_bytes":10}`, "application/json"},
		{"trailing garbage", `{"key":"ok.txt"} x`, "application/json"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before, beforeAudit := e.countRows("links"), e.countRows("audit_events")
			req, _ := http.NewRequest("POST", e.http.URL+"/api/v1/links", strings.NewReader(tc.body))
			req.Header.Set("Authorization", "Bearer "+e.admin)
			req.Header.Set("Content-Type", tc.ctype)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body := readAll(t, resp.Body)
			resp.Body.Close()
			if resp.StatusCode < 400 || resp.StatusCode > 499 {
				t.Fatalf("status = %d %s; want 4xx", resp.StatusCode, body)
			}
			if ct := resp.Header.Get("Content-Type"); ct != "application/problem+json" {
				t.Errorf("Content-Type = %q; want application/problem+json", ct)
			}
			if e.countRows("links") != before || e.countRows("audit_events") != beforeAudit {
				t.Fatal("a refused request changed the database")
			}
		})
	}
}

// Every admin action that records a reason refuses one over the limit with
// a 400 and changes nothing, the token revocation included.
func TestOverlongReasonRefused(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.put("reason.txt", "r")
	reason := strings.Repeat("r", 1001)
	for _, tc := range []struct {
		name string
		req  func() (path, body string)
	}{
		{"link revoke", func() (string, string) {
			return "/api/v1/links/" + e.createLink(e.admin, `{"key":"reason.txt"}`).ID + "/revoke", fmt.Sprintf(`{"reason":%q}`, reason)
		}},
		{"revoke by url", func() (string, string) {
			return "/api/v1/links/revoke-by-url", fmt.Sprintf(`{"url":%q,"reason":%q}`, e.createLink(e.admin, `{"key":"reason.txt"}`).URL, reason)
		}},
		{"bulk revoke", func() (string, string) {
			return "/api/v1/links/bulk-revoke", fmt.Sprintf(`{"key_prefix":"reason","reason":%q}`, reason)
		}},
		{"share revoke", func() (string, string) {
			return "/api/v1/shares/" + e.insertShare(e.admin) + "/revoke", fmt.Sprintf(`{"reason":%q}`, reason)
		}},
		{"token revoke", func() (string, string) {
			name := "reason-victim"
			e.token(name, auth.RoleSharer)
			return "/api/v1/tokens/" + e.tokenID(name) + "/revoke", fmt.Sprintf(`{"reason":%q}`, reason)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path, body := tc.req()
			revoked := func() int {
				var n int
				e.db.Read.QueryRow(`SELECT (SELECT count(*) FROM links WHERE revoked_at IS NOT NULL) +
                    (SELECT count(*) FROM api_tokens WHERE revoked_at IS NOT NULL)`).Scan(&n)
				return n
			}
			before, beforeAudit := revoked(), e.countRows("audit_events")
			r := e.do("POST", path, e.admin, body)
			b := readAll(t, r.Body)
			if r.StatusCode != http.StatusBadRequest || !strings.Contains(b, "reason is limited to 1000 bytes") {
				t.Fatalf("POST %s = %s; want 400 naming the limit", path, fmtResp(r, b))
			}
			if revoked() != before || e.countRows("audit_events") != beforeAudit {
				t.Fatal("a refused revocation changed the database")
			}
		})
	}
}
