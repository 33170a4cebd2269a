package sts

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// send sends method to u with body and hdr, and returns the response's
// status, ETag and body.
func send(t *testing.T, method, u string, body []byte, hdr ...string) (int, string, string) {
	t.Helper()
	req, err := http.NewRequest(method, u, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.ContentLength = int64(len(body))
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("ETag"), string(b)
}

// A multipart upload runs on presigned URLs of a scoped session alone: the
// POST that starts it, a PUT per part (its size signed) and the POST that
// completes it; the object then holds the parts in order. A part of
// another size is refused by S3.
func TestPresignedMultipartOnS3(t *testing.T) {
	srv, s, _ := realScoped(t, ScopedOptions{})
	_ = srv
	ctx := context.Background()
	g, err := s.Grant(ctx, Scope{Bucket: testBucket, Prefix: "mp/", Actions: Upload | Download}, "grant-mp", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	key := "mp/big file.bin"
	u, err := s.Presign(g, Request{Method: http.MethodPost, Bucket: testBucket, Key: key})
	if err != nil {
		t.Fatal(err)
	}
	code, _, body := send(t, http.MethodPost, u, nil)
	var created struct {
		UploadID string `xml:"UploadId"`
	}
	if err := xml.Unmarshal([]byte(body), &created); code != http.StatusOK || err != nil || created.UploadID == "" {
		t.Fatalf("CreateMultipartUpload = %d %.300q", code, body)
	}
	data := make([]byte, 5<<20+1000)
	rand.Read(data)
	parts := [][]byte{data[:5<<20], data[5<<20:]}
	etags := make([]string, len(parts))
	for i, p := range parts {
		r := Request{Method: http.MethodPut, Bucket: testBucket, Key: key, UploadID: created.UploadID, PartNumber: i + 1,
			ContentLength: int64(len(p)), ExactLength: true}
		pu, err := s.Presign(g, r)
		if err != nil {
			t.Fatal(err)
		}
		if i == 1 {
			if code, _, _ := send(t, http.MethodPut, pu, p[:10]); code == http.StatusOK {
				t.Fatal("a part of another size than signed was stored")
			}
		}
		code, etag, body := send(t, http.MethodPut, pu, p)
		if code != http.StatusOK || etag == "" {
			t.Fatalf("UploadPart %d = %d %q %.300q", i+1, code, etag, body)
		}
		etags[i] = etag
	}
	var x strings.Builder
	x.WriteString("<CompleteMultipartUpload>")
	for i, e := range etags {
		fmt.Fprintf(&x, "<Part><PartNumber>%d</PartNumber><ETag>%s</ETag></Part>", i+1, e)
	}
	x.WriteString("</CompleteMultipartUpload>")
	cu, err := s.Presign(g, Request{Method: http.MethodPost, Bucket: testBucket, Key: key, UploadID: created.UploadID})
	if err != nil {
		t.Fatal(err)
	}
	if code, _, body := send(t, http.MethodPost, cu, []byte(x.String())); code != http.StatusOK || strings.Contains(body, "<Error>") {
		t.Fatalf("CompleteMultipartUpload = %d %.300q", code, body)
	}
	gu, err := s.Presign(g, Request{Method: http.MethodGet, Bucket: testBucket, Key: key})
	if err != nil {
		t.Fatal(err)
	}
	if code, _, body := send(t, http.MethodGet, gu, nil); code != http.StatusOK || body != string(data) {
		t.Fatalf("GET the completed object = %d, %d bytes; want the %d sent", code, len(body), len(data))
	}
	// Outside the scope nothing is signed, and S3 refuses the session.
	out := Request{Method: http.MethodPost, Bucket: testBucket, Key: "elsewhere/x"}
	if _, err := s.Presign(g, out); err == nil {
		t.Fatal("a multipart start outside the scope was signed")
	}
	if code, _, _ := send(t, http.MethodPost, signRaw(t, s, g, out), nil); code != http.StatusForbidden {
		t.Fatalf("CreateMultipartUpload outside the session's prefix = %d; want 403", code)
	}
}
