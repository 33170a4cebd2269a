package server_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/sharesvc/sharesvc/internal/auth"
)

type arrivalResp struct {
	ID, Key, Filename, ClientIP, State string
	Bytes                              int64
}

type arrivalsResp struct {
	Arrivals []struct {
		ID       string `json:"id"`
		Key      string `json:"key"`
		Filename string `json:"filename"`
		Bytes    int64  `json:"bytes"`
		ClientIP string `json:"client_ip"`
		State    string `json:"state"`
	} `json:"arrivals"`
}

// presignPut asks the upload page's presign call for a URL for a file
// named name of size bytes and returns its answer.
func presignPut(t *testing.T, e *env, path string, size int, name string) (url string, hdrs map[string]string, upload string) {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"size": size, "filename": name})
	resp := e.do("POST", path+"/presign", "", string(body))
	b := readAll(t, resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("presign: %s", fmtResp(resp, b))
	}
	var out struct {
		URL     string
		Headers map[string]string
		Upload  string
	}
	if err := json.Unmarshal([]byte(b), &out); err != nil || out.Upload == "" {
		t.Fatalf("presign answer %s: %v", b, err)
	}
	return out.URL, out.Headers, out.Upload
}

func putTo(t *testing.T, url string, hdrs map[string]string, body string) {
	t.Helper()
	req, _ := http.NewRequest("PUT", url, strings.NewReader(body))
	for k, v := range hdrs {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("PUT: %s", resp.Status)
	}
}

func (e *env) arrivals(token, id string) (*http.Response, arrivalsResp) {
	e.t.Helper()
	resp := e.do("GET", "/api/v1/links/"+id+"/arrivals", token, "")
	b := readAll(e.t, resp.Body)
	var out arrivalsResp
	if resp.StatusCode == http.StatusOK {
		if err := json.Unmarshal([]byte(b), &out); err != nil {
			e.t.Fatalf("arrivals %s: %v", b, err)
		}
	}
	return resp, out
}

// An upload through the upload page is listed to its sharer with the
// uploader's file name once the page reports it done and a HEAD finds it;
// forged reports record nothing; other people cannot list it.
func TestUploadArrivals(t *testing.T) {
	e := newEnv(t, envOptions{})
	l := e.createLink(e.sharer, `{"kind":"upload","key_prefix":"inbox/arrivals","max_uses":5}`)
	path := sharePath(t, l.URL)
	done := func(body string, hdr ...string) (*http.Response, string) {
		resp := e.do("POST", path+"/done", "", body, hdr...)
		return resp, readAll(t, resp.Body)
	}

	url, hdrs, upload := presignPut(t, e, path, 5, "C:\\Users\\ann\\report\x07\u202e final.pdf")
	// Reported before the bytes are there: nothing is recorded.
	if resp, b := done(`{"upload":"` + upload + `"}`); resp.StatusCode != http.StatusConflict {
		t.Fatalf("done before the PUT: %s", fmtResp(resp, b))
	}
	// An upload id never signed through this link.
	if resp, b := done(`{"upload":"arr_aaaaaaaaaaaaaaaa"}`); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("forged upload id: %s", fmtResp(resp, b))
	}
	if resp, b := done(`{"upload":"`+upload+`"}`, "Origin", "https://evil.example"); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("cross-origin done: %s", fmtResp(resp, b))
	}
	if _, got := e.arrivals(e.sharer, l.ID); len(got.Arrivals) != 0 {
		t.Fatalf("listed before it arrived: %+v", got)
	}
	putTo(t, url, hdrs, "hello")
	resp, b := done(`{"upload":"` + upload + `"}`)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("done: %s", fmtResp(resp, b))
	}
	// Reporting twice records it once.
	if resp, b := done(`{"upload":"` + upload + `"}`); resp.StatusCode != http.StatusOK {
		t.Fatalf("done again: %s", fmtResp(resp, b))
	}

	resp, got := e.arrivals(e.sharer, l.ID)
	if resp.StatusCode != http.StatusOK || len(got.Arrivals) != 1 {
		t.Fatalf("arrivals: %s %+v", resp.Status, got)
	}
	a := got.Arrivals[0]
	if a.Filename != "report final.pdf" || a.Bytes != 5 || a.State != "arrived" || a.ClientIP == "" ||
		!strings.HasPrefix(a.Key, "inbox/arrivals/") {
		t.Fatalf("arrival: %+v", a)
	}
	if obj, err := e.s3.GetObject(context.Background(), testBucket, a.Key); err != nil || string(obj) != "hello" {
		t.Fatalf("object %q: %q %v", a.Key, obj, err)
	}

	// Its download is a presigned GET saved under the uploader's name.
	dl := e.do("GET", "/api/v1/links/"+l.ID+"/arrivals/"+a.ID+"/download", e.sharer, "")
	dl.Body.Close()
	if dl.StatusCode != http.StatusFound {
		t.Fatalf("download: %s", dl.Status)
	}
	obj, err := http.Get(dl.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	if body := readAll(t, obj.Body); obj.StatusCode != http.StatusOK || body != "hello" ||
		!strings.Contains(obj.Header.Get("Content-Disposition"), "report final.pdf") {
		t.Fatalf("presigned GET: %s %q %q", obj.Status, obj.Header.Get("Content-Disposition"), body)
	}

	// Only the link's creator and admins see them.
	other := e.token("mallory", auth.RoleSharer)
	auditor := e.token("audrey", auth.RoleAuditor)
	for _, c := range []struct {
		who, token string
		want       int
	}{{"another sharer", other, http.StatusForbidden}, {"an auditor", auditor, http.StatusForbidden}, {"an admin", e.admin, http.StatusOK}} {
		if resp, _ := e.arrivals(c.token, l.ID); resp.StatusCode != c.want {
			t.Errorf("%s lists arrivals: %s, want %d", c.who, resp.Status, c.want)
		}
		dl := e.do("GET", "/api/v1/links/"+l.ID+"/arrivals/"+a.ID+"/download", c.token, "")
		dl.Body.Close()
		if want := map[int]int{http.StatusOK: http.StatusFound}[c.want]; want != 0 && dl.StatusCode != want || want == 0 && dl.StatusCode != c.want {
			t.Errorf("%s downloads an arrival: %s", c.who, dl.Status)
		}
	}
	if resp, _ := e.arrivals(e.sharer, "lnk_nosuchlink"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("unknown link: %s", resp.Status)
	}
	dlink := e.createLink(e.sharer, `{"key":"`+a.Key+`"}`)
	if resp, _ := e.arrivals(e.sharer, dlink.ID); resp.StatusCode != http.StatusNotFound {
		t.Errorf("a download link's arrivals: %s", resp.Status)
	}

	// Another link's upload, reported through this link, is not recorded
	// here; a name too long is refused; a long one is cut.
	l2 := e.createLink(other, `{"kind":"upload","key_prefix":"inbox/other"}`)
	url, hdrs, upload = presignPut(t, e, sharePath(t, l2.URL), 3, "theirs.txt")
	putTo(t, url, hdrs, "abc")
	if resp, b := done(`{"upload":"` + upload + `"}`); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("done with another link's upload: %s", fmtResp(resp, b))
	}
	body, _ := json.Marshal(map[string]any{"size": 1, "filename": strings.Repeat("x", 2000)})
	if resp := e.do("POST", path+"/presign", "", string(body)); resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("a 2000-byte name: %s", resp.Status)
	}
	url, hdrs, upload = presignPut(t, e, path, 1, strings.Repeat("é", 500))
	putTo(t, url, hdrs, "x")
	if resp, b := done(`{"upload":"` + upload + `"}`); resp.StatusCode != http.StatusOK {
		t.Fatalf("done: %s", fmtResp(resp, b))
	}
	_, got = e.arrivals(e.sharer, l.ID)
	if len(got.Arrivals) != 2 || got.Arrivals[0].Filename != strings.Repeat("é", 127) {
		t.Fatalf("arrivals after a long name: %+v", got)
	}
}

// An upload link made with notify_arrivals mails the address it names
// once per arrival, through the real SMTP server, with the uploader's file
// name; notify_arrivals needs an upload link and an address.
func TestArrivalNotice(t *testing.T) {
	me := newMailEnv(t, nil)
	e := me.env
	for _, bad := range []string{
		`{"kind":"upload","key_prefix":"inbox/n","notify_arrivals":true}`,
		`{"key":"x","notify_arrivals":true,"notify":"ann@example.com"}`,
		`{"kind":"upload","key_prefix":"inbox/n","notify_arrivals":true,"notify":"not an address"}`,
	} {
		if resp := e.do("POST", "/api/v1/links", e.sharer, bad); resp.StatusCode != http.StatusBadRequest {
			t.Errorf("create %s: %s", bad, resp.Status)
		}
	}
	l := e.createLink(e.sharer, `{"kind":"upload","key_prefix":"inbox/n","notify_arrivals":true,"notify":"Ann@Example.com"}`)
	path := sharePath(t, l.URL)
	url, hdrs, upload := presignPut(t, e, path, 7, "budget <2027>.xlsx")
	putTo(t, url, hdrs, "numbers")
	if me.runMail() != 0 {
		t.Fatal("a notice before the upload was reported")
	}
	for range 2 {
		if resp := e.do("POST", path+"/done", "", `{"upload":"`+upload+`"}`); resp.StatusCode != http.StatusOK {
			t.Fatalf("done: %s", resp.Status)
		}
	}
	if n := me.runMail(); n != 1 {
		t.Fatalf("%d messages sent, want one notice", n)
	}
	ms := me.messages()
	if len(ms) != 1 || ms[0].Subject != "New upload: budget <2027>.xlsx" || len(ms[0].To) != 1 || ms[0].To[0].Address != "Ann@example.com" {
		t.Fatalf("messages: %+v", ms)
	}
	m, err := me.mp.Get(context.Background(), ms[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(m.Text, "budget <2027>.xlsx (7 bytes) arrived") || !strings.Contains(m.HTML, "budget &lt;2027&gt;.xlsx") ||
		strings.Contains(m.Text+m.HTML, path) {
		t.Fatalf("notice:\n%s\n%s", m.Text, m.HTML)
	}
}
