package server_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/sharesvc/sharesvc/internal/app"
	"github.com/sharesvc/sharesvc/internal/audit"
	"github.com/sharesvc/sharesvc/internal/server"
)

// fileEvents returns the audit rows of action by actor.
func (e *env) fileEvents(action, actor string) []audit.Event {
	e.t.Helper()
	evs, err := audit.List(context.Background(), e.db.Read, audit.Filter{Action: action, Actor: actor, Limit: 1000})
	if err != nil {
		e.t.Fatal(err)
	}
	return evs
}

// A sharer shares a file from their computer: the server names the object
// under their grant and signs a PUT with the grant's session; the bytes go
// to S3, the upload is confirmed, and a link on the key serves them.
func TestShareFileFromComputer(t *testing.T) {
	e := newEnv(t, envOptions{noGrants: true})
	sharer := "sharer-" + strings.ReplaceAll(t.Name(), "/", "-")
	for _, g := range []string{
		`{"person":"` + sharer + `","bucket":"` + testBucket + `","key_prefix":"home/{person}/","actions":["download","upload"]}`,
	} {
		if resp := e.do("POST", "/api/v1/grants", e.admin, g); resp.StatusCode != http.StatusCreated {
			t.Fatalf("grant: %s", fmtResp(resp, readAll(t, resp.Body)))
		}
	}
	data := make([]byte, 3<<20)
	rand.Read(data)
	resp := e.do("POST", "/api/v1/files", e.sharer, `{"filename":"Q3 report (final).pdf","size":3145728,"content_type":"application/pdf"}`)
	up := decode[server.FileUploadResponse](t, resp)
	if !strings.HasPrefix(up.Key, "home/"+sharer+"/") || !strings.HasSuffix(up.Key, "-Q3_report_final_.pdf") || up.Method != "PUT" || up.GrantID == "" {
		t.Fatalf("upload = %+v; want a key under the grant's prefix ending in the file's name", up)
	}
	put := func(body []byte) int {
		req, _ := http.NewRequest(up.Method, up.URL, bytes.NewReader(body))
		for k, v := range up.Headers {
			req.Header.Set(k, v)
		}
		r, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, r.Body)
		r.Body.Close()
		return r.StatusCode
	}
	// Not yet uploaded: complete is refused.
	if r := e.do("POST", "/api/v1/files/complete", e.sharer, `{"key":"`+up.Key+`","size":3145728}`); r.StatusCode != http.StatusBadRequest {
		t.Fatalf("complete before the upload = %d; want 400", r.StatusCode)
	}
	// S3 holds the PUT to the signed size.
	if code := put(data[:100]); code == http.StatusOK {
		t.Fatal("a PUT of another size was stored")
	}
	if code := put(data); code != http.StatusOK {
		t.Fatalf("PUT = %d", code)
	}
	// Never replaces the object.
	if code := put(data); code == http.StatusOK {
		t.Fatal("a second PUT replaced the object")
	}
	if r := e.do("POST", "/api/v1/files/complete", e.sharer, `{"key":"`+up.Key+`","size":3145720}`); r.StatusCode != http.StatusBadRequest {
		t.Fatalf("complete with the wrong size = %d; want 400", r.StatusCode)
	}
	if r := e.do("POST", "/api/v1/files/complete", e.sharer, `{"key":"`+up.Key+`","size":3145728}`); r.StatusCode != http.StatusOK {
		t.Fatalf("complete = %s", fmtResp(r, readAll(t, r.Body)))
	}
	b, _ := json.Marshal(map[string]any{"key": up.Key, "filename": "Q3 report (final).pdf"})
	l := e.createLink(e.sharer, string(b))
	r := e.do("GET", sharePath(t, l.URL), "", "")
	got, err := http.Get(r.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(got.Body)
	got.Body.Close()
	if got.StatusCode != http.StatusOK || !bytes.Equal(body, data) {
		t.Fatalf("download = %d, %d bytes; want the %d uploaded", got.StatusCode, len(body), len(data))
	}
	starts, dones := e.fileEvents(app.ActionFileUploadStart, sharer), e.fileEvents(app.ActionFileUploadComplete, sharer)
	if len(starts) != 1 || len(dones) != 1 || !strings.Contains(starts[0].Detail, up.Key) || !strings.HasSuffix(starts[0].STSSession, "-"+up.GrantID) {
		t.Fatalf("audit: starts %+v, completes %+v; want one each, signed by the grant's session", starts, dones)
	}
	if strings.Contains(starts[0].Detail, "X-Amz-Signature") {
		t.Fatal("the audit row holds the presigned URL")
	}
}

// Bad requests are refused with a clear 4xx and change nothing.
func TestShareFileRefusals(t *testing.T) {
	e := newEnv(t, envOptions{noGrants: true, cfg: func(c *server.Config) { c.MaxUploadBytes = 1 << 20 }})
	sharer := "sharer-" + strings.ReplaceAll(t.Name(), "/", "-")
	// Before any grant: 403.
	if r := e.do("POST", "/api/v1/files", e.sharer, `{"filename":"a.txt","size":5}`); r.StatusCode != http.StatusForbidden {
		t.Fatalf("no grant = %d; want 403", r.StatusCode)
	}
	// A download-only grant is not enough: sharing a file needs upload too.
	e.grant(sharer, "dl/")
	if r := e.do("POST", "/api/v1/files", e.sharer, `{"filename":"a.txt","size":5}`); r.StatusCode != http.StatusForbidden {
		t.Fatalf("download-only grant = %d; want 403", r.StatusCode)
	}
	if r := e.do("POST", "/api/v1/grants", e.admin, `{"person":"`+sharer+`","bucket":"`+testBucket+`","key_prefix":"up/","actions":["upload"]}`); r.StatusCode != http.StatusCreated {
		t.Fatal(r.StatusCode)
	}
	if r := e.do("POST", "/api/v1/files", e.sharer, `{"filename":"a.txt","size":5,"key_prefix":"up/x/"}`); r.StatusCode != http.StatusForbidden {
		t.Fatalf("upload-only grant = %d; want 403", r.StatusCode)
	}
	if r := e.do("POST", "/api/v1/grants", e.admin, `{"person":"`+sharer+`","bucket":"`+testBucket+`","key_prefix":"both/","actions":["upload","download"]}`); r.StatusCode != http.StatusCreated {
		t.Fatal(r.StatusCode)
	}
	for _, tc := range []struct {
		name, body string
		want       int
	}{
		{"path separator", `{"filename":"../etc/passwd","size":5}`, 400},
		{"backslash", `{"filename":"a\\b.txt","size":5}`, 400},
		{"control character", `{"filename":"a\u0007.txt","size":5}`, 400},
		{"bidi override", `{"filename":"invoice\u202efdp.exe","size":5}`, 400},
		{"dot dot", `{"filename":"..","size":5}`, 400},
		{"no name", `{"size":5}`, 400},
		{"negative size", `{"filename":"a.txt","size":-1}`, 400},
		{"over the server's cap", `{"filename":"a.txt","size":1048577}`, 413},
		{"bad content type", `{"filename":"a.txt","size":5,"content_type":"text/"}`, 400},
		{"prefix outside the grants", `{"filename":"a.txt","size":5,"key_prefix":"other/"}`, 403},
		{"unknown field", `{"filename":"a.txt","size":5,"path":"x"}`, 400},
	} {
		r := e.do("POST", "/api/v1/files", e.sharer, tc.body)
		if b := readAll(t, r.Body); r.StatusCode != tc.want || strings.Contains(b, "X-Amz") {
			t.Errorf("%s: %s; want %d", tc.name, fmtResp(r, b), tc.want)
		}
	}
	if n := len(e.fileEvents(app.ActionFileUploadStart, sharer)); n != 0 {
		t.Fatalf("%d file.upload.start rows after refusals; want none", n)
	}
	// Within the grant with an explicit prefix: made there.
	up := decode[server.FileUploadResponse](t, e.do("POST", "/api/v1/files", e.sharer, `{"filename":"ok.txt","size":5,"key_prefix":"both/in/"}`))
	if !strings.HasPrefix(up.Key, "both/in/"+time.Now().UTC().Format("2006-01-02")+"/") {
		t.Fatalf("key = %q; want under both/in/<date>/", up.Key)
	}
	// Only the grant's own keys can be completed.
	if r := e.do("POST", "/api/v1/files/complete", e.sharer, `{"key":"other/x.txt","size":5}`); r.StatusCode != http.StatusForbidden {
		t.Fatalf("complete outside the grants = %d; want 403", r.StatusCode)
	}
	// While the kill switch is on nothing is signed.
	if r := e.do("POST", "/api/v1/killswitch", e.admin, `{"on":true,"reason":"incident"}`); r.StatusCode != http.StatusOK {
		t.Fatal(r.StatusCode)
	}
	if r := e.do("POST", "/api/v1/files", e.sharer, `{"filename":"ok.txt","size":5,"key_prefix":"both/"}`); r.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("start with the kill switch on = %d; want 503", r.StatusCode)
	}
	if r := e.do("POST", "/api/v1/files/complete", e.sharer, `{"key":"`+up.Key+`","size":5}`); r.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("complete with the kill switch on = %d; want 503", r.StatusCode)
	}
}

// A large file goes as an S3 multipart upload: a presigned PUT per part,
// signed with the grant's session, then the server completes it with the
// ETags; a completion with a wrong ETag is refused and makes nothing.
func TestShareFileMultipart(t *testing.T) {
	e := newEnv(t, envOptions{})
	data := make([]byte, 11<<20+17)
	rand.Read(data)
	up := decode[server.FileUploadResponse](t, e.do("POST", "/api/v1/files", e.sharer,
		`{"filename":"video.mp4","size":11534353,"content_type":"video/mp4","part_size":5242880}`))
	if up.UploadID == "" || up.URL != "" || len(up.Parts) != 3 || up.Parts[2].Size != 1<<20+17 {
		t.Fatalf("multipart upload = %+v; want 3 parts, the last of 1 MiB+17", up)
	}
	var parts []map[string]any
	for i, p := range up.Parts {
		off := int64(i) * up.PartSize
		req, _ := http.NewRequest("PUT", p.URL, bytes.NewReader(data[off:off+p.Size]))
		r, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, r.Body)
		r.Body.Close()
		if r.StatusCode != http.StatusOK || r.Header.Get("ETag") == "" {
			t.Fatalf("PUT part %d = %d", p.Number, r.StatusCode)
		}
		parts = append(parts, map[string]any{"number": p.Number, "etag": r.Header.Get("ETag")})
	}
	complete := func(parts any) *http.Response {
		b, _ := json.Marshal(map[string]any{"key": up.Key, "size": len(data), "upload_id": up.UploadID, "part_size": up.PartSize, "parts": parts})
		return e.do("POST", "/api/v1/files/complete", e.sharer, string(b))
	}
	wrong := []map[string]any{parts[0], parts[1], {"number": 3, "etag": `"0123456789abcdef0123456789abcdef"`}}
	if r := complete(wrong); r.StatusCode != http.StatusBadRequest {
		t.Fatalf("complete with a wrong etag = %s; want 400", fmtResp(r, readAll(t, r.Body)))
	}
	if r := complete(parts[:1]); r.StatusCode != http.StatusBadRequest {
		t.Fatalf("complete with a missing part = %s; want 400", fmtResp(r, readAll(t, r.Body)))
	}
	if r := complete(parts); r.StatusCode != http.StatusOK {
		t.Fatalf("complete = %s", fmtResp(r, readAll(t, r.Body)))
	}
	b, _ := json.Marshal(map[string]any{"key": up.Key})
	l := e.createLink(e.sharer, string(b))
	got, err := http.Get(e.do("GET", sharePath(t, l.URL), "", "").Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(got.Body)
	got.Body.Close()
	if got.StatusCode != http.StatusOK || !bytes.Equal(body, data) {
		t.Fatalf("download = %d, %d bytes; want the %d uploaded", got.StatusCode, len(body), len(data))
	}
	// Past 64 MiB the server chooses parts itself.
	big := decode[server.FileUploadResponse](t, e.do("POST", "/api/v1/files", e.sharer, `{"filename":"big.iso","size":100000000}`))
	if big.UploadID == "" || len(big.Parts) != 6 || big.PartSize != app.DefaultPartSize {
		t.Fatalf("100 MB upload = %d parts of %d; want 6 of 16 MiB", len(big.Parts), big.PartSize)
	}
	for _, bad := range []string{`{"filename":"a","size":10,"part_size":1024}`, `{"filename":"a","size":0,"part_size":5242880}`} {
		if r := e.do("POST", "/api/v1/files", e.sharer, bad); r.StatusCode != http.StatusBadRequest {
			t.Fatalf("%s = %d; want 400", bad, r.StatusCode)
		}
	}
}
