package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/sharesvc/sharesvc/internal/server"
)

// The file name of an upload with a known name, as S3 must keep it.
const (
	uploadName        = `Grüße "Q3" report.pdf`
	uploadDisposition = `attachment; filename="Gr__e _Q3_ report.pdf"; filename*=UTF-8''Gr%C3%BC%C3%9Fe%20%22Q3%22%20report.pdf`
	uploadMeta        = "Gr%C3%BC%C3%9Fe%20%22Q3%22%20report.pdf"
)

// putStatus PUTs body to url with hdrs and returns S3's status; a 403
// must be S3's signature mismatch.
func putStatus(t *testing.T, method, url string, hdrs map[string]string, body []byte) int {
	t.Helper()
	req, _ := http.NewRequest(method, url, bytes.NewReader(body))
	for k, v := range hdrs {
		req.Header.Set(k, v)
	}
	r, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(r.Body)
	r.Body.Close()
	if r.StatusCode == http.StatusForbidden && !bytes.Contains(b, []byte("<Code>SignatureDoesNotMatch</Code>")) {
		t.Errorf("403 = %s; want SignatureDoesNotMatch", b)
	}
	return r.StatusCode
}

// without returns hdrs without name, or with name set to v when v != "".
func without(hdrs map[string]string, name, v string) map[string]string {
	out := map[string]string{}
	for k, x := range hdrs {
		if !strings.EqualFold(k, name) {
			out[k] = x
		}
	}
	if v != "" {
		out[name] = v
	}
	return out
}

// assertNamed checks, with the admin's S3 client, that the object at key
// keeps the uploader's file name.
func assertNamed(t *testing.T, e *env, key string) {
	t.Helper()
	h, err := e.s3.HeadObject(context.Background(), testBucket, key)
	if err != nil {
		t.Fatal(err)
	}
	if got := aws.ToString(h.ContentDisposition); got != uploadDisposition {
		t.Errorf("object's Content-Disposition = %q; want %q", got, uploadDisposition)
	}
	if got := h.Metadata["filename"]; got != uploadMeta {
		t.Errorf("object's x-amz-meta-filename = %q (metadata %v); want %q", got, h.Metadata, uploadMeta)
	}
}

// An upload through an upload link's page keeps the uploader's file name
// on the object: the presigned PUT signs Content-Disposition and
// x-amz-meta-filename, the presign answer lists them, and S3 refuses a PUT
// that drops or changes either (403, signature mismatch).
func TestUploadLinkNamesObject(t *testing.T) {
	e := newEnv(t, envOptions{})
	for _, tc := range []struct{ name, body string }{
		{"generated names", `{"kind":"upload","key_prefix":"inbox/named"}`},
		{"one name", `{"kind":"upload","key":"inbox/named-one.pdf","max_bytes":1000}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := e.createLink(e.sharer, tc.body)
			path := sharePath(t, l.URL)
			url, hdrs, upload := presignPut(t, e, path, 5, uploadName)
			if hdrs["Content-Disposition"] != uploadDisposition || hdrs["X-Amz-Meta-Filename"] != uploadMeta {
				t.Fatalf("presign headers = %q; want the name's Content-Disposition and X-Amz-Meta-Filename", hdrs)
			}
			body := []byte("hello")
			for _, bad := range []struct {
				what string
				hdrs map[string]string
			}{
				{"no Content-Disposition", without(hdrs, "Content-Disposition", "")},
				{"another Content-Disposition", without(hdrs, "Content-Disposition", `attachment; filename="other.exe"`)},
				{"no x-amz-meta-filename", without(hdrs, "X-Amz-Meta-Filename", "")},
				{"another x-amz-meta-filename", without(hdrs, "X-Amz-Meta-Filename", "other.exe")},
			} {
				if code := putStatus(t, "PUT", url, bad.hdrs, body); code != http.StatusForbidden {
					t.Errorf("PUT with %s = %d; want 403", bad.what, code)
				}
			}
			if code := putStatus(t, "PUT", url, hdrs, body); code != http.StatusOK {
				t.Fatalf("PUT with the signed headers = %d", code)
			}
			resp := e.do("POST", path+"/done", "", `{"upload":"`+upload+`"}`)
			if b := readAll(t, resp.Body); resp.StatusCode != http.StatusOK {
				t.Fatalf("done: %s", fmtResp(resp, b))
			}
			_, got := e.arrivals(e.sharer, l.ID)
			if len(got.Arrivals) != 1 || got.Arrivals[0].Filename != uploadName {
				t.Fatalf("arrivals = %+v", got)
			}
			assertNamed(t, e, got.Arrivals[0].Key)
		})
	}

	// PUT /u/{code} (curl -T) knows no name, and signs none.
	l := e.createLink(e.sharer, `{"kind":"upload","key_prefix":"inbox/curl"}`)
	r := e.do("PUT", sharePath(t, l.URL), "", "", "Content-Length", "0")
	if loc := r.Header.Get("Location"); r.StatusCode != http.StatusTemporaryRedirect || strings.Contains(strings.ToLower(loc), "content-disposition") ||
		strings.Contains(strings.ToLower(loc), "x-amz-meta") {
		t.Fatalf("PUT /u/{code} = %d, signing %q", r.StatusCode, loc[strings.Index(loc, "X-Amz-SignedHeaders"):])
	}
}

// Sharing a file from one's computer keeps its name on the object too: in
// the single PUT (signed, so S3 refuses it without the headers) and at the
// start of a multipart upload.
func TestShareFileNamesObject(t *testing.T) {
	e := newEnv(t, envOptions{})
	data := []byte("hello")
	up := decode[server.FileUploadResponse](t, e.do("POST", "/api/v1/files", e.sharer, `{"filename":"Grüße \"Q3\" report.pdf","size":5}`))
	if up.Headers["Content-Disposition"] != uploadDisposition || up.Headers["X-Amz-Meta-Filename"] != uploadMeta {
		t.Fatalf("headers = %q; want the name's", up.Headers)
	}
	if code := putStatus(t, up.Method, up.URL, without(up.Headers, "Content-Disposition", ""), data); code != http.StatusForbidden {
		t.Errorf("PUT without Content-Disposition = %d; want 403", code)
	}
	if code := putStatus(t, up.Method, up.URL, without(up.Headers, "X-Amz-Meta-Filename", "x"), data); code != http.StatusForbidden {
		t.Errorf("PUT with another x-amz-meta-filename = %d; want 403", code)
	}
	if code := putStatus(t, up.Method, up.URL, up.Headers, data); code != http.StatusOK {
		t.Fatalf("PUT = %d", code)
	}
	assertNamed(t, e, up.Key)

	big := make([]byte, 5<<20+3)
	mp := decode[server.FileUploadResponse](t, e.do("POST", "/api/v1/files", e.sharer,
		`{"filename":"Grüße \"Q3\" report.pdf","size":5242883,"part_size":5242880}`))
	var parts []map[string]any
	for i, p := range mp.Parts {
		off := int64(i) * mp.PartSize
		req, _ := http.NewRequest("PUT", p.URL, bytes.NewReader(big[off:off+p.Size]))
		r, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		r.Body.Close()
		if r.StatusCode != http.StatusOK {
			t.Fatalf("PUT part %d = %d", p.Number, r.StatusCode)
		}
		parts = append(parts, map[string]any{"number": p.Number, "etag": r.Header.Get("ETag")})
	}
	b, _ := json.Marshal(map[string]any{"key": mp.Key, "size": len(big), "upload_id": mp.UploadID, "part_size": mp.PartSize, "parts": parts})
	if r := e.do("POST", "/api/v1/files/complete", e.sharer, string(b)); r.StatusCode != http.StatusOK {
		t.Fatalf("complete = %s", fmtResp(r, readAll(t, r.Body)))
	}
	assertNamed(t, e, mp.Key)
}
