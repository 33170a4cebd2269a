package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/sharesvc/sharesvc/internal/server"
)

// sharesvc share FILE uploads the file under the sharer's grant and prints
// a short URL that downloads the same bytes; a file the server refuses
// leaves nothing behind.
func TestShareFileCLI(t *testing.T) {
	const bucket = "share-file-test"
	s3 := startS3(t, bucket)
	env := s3env(s3, bucket, filepath.Join(t.TempDir(), "s.db"))
	admin := strings.TrimSpace(runCLI(t, env, "token", "create", "--role", "admin", "--name", "root"))
	_, base, stop := startService(t, env)
	t.Cleanup(stop)
	env["SHARESVC_URL"], env["SHARESVC_TOKEN"] = base, admin
	alice := strings.TrimSpace(runCLI(t, env, "token", "create", "--role", "sharer", "--name", "alice"))
	aliceEnv := map[string]string{"SHARESVC_URL": base, "SHARESVC_TOKEN": alice}

	dir := t.TempDir()
	data := make([]byte, 5<<20+123)
	rand.Read(data)
	file := filepath.Join(dir, "site plan.bin")
	if err := os.WriteFile(file, data, 0o600); err != nil {
		t.Fatal(err)
	}
	out, errOut, err := runCLIErr(aliceEnv, "share", file, "--expires", "3d", "--max-uses", "2", "--note", "the plan")
	if err != nil {
		t.Fatalf("sharesvc share: %v\n%s", err, errOut)
	}
	short := strings.TrimSpace(out)
	if !strings.Contains(short, "/s/") || strings.Contains(errOut, "X-Amz") {
		t.Fatalf("share printed %q (stderr %q); want the short URL alone, no presigned URL", short, errOut)
	}
	resp, err := http.Get(short)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || sha256.Sum256(got) != sha256.Sum256(data) {
		t.Fatalf("the printed URL gave %d, %d bytes; want the %d shared", resp.StatusCode, len(got), len(data))
	}
	var listed []server.LinkResponse
	if err := jsonUnmarshal(runCLI(t, env, "link", "list", "--json"), &listed); err != nil || len(listed) != 1 ||
		listed[0].MaxUses != 2 || listed[0].Note != "the plan" || listed[0].Filename != "site plan.bin" || listed[0].CreatedBy != "alice" {
		t.Fatalf("links = %+v, %v; want alice's one link with the flags' settings", listed, err)
	}
	if out := runCLI(t, map[string]string{"SHARESVC_URL": base, "SHARESVC_TOKEN": admin}, "audit", "list", "--actor", "alice"); !strings.Contains(out, "file.upload.start") ||
		!strings.Contains(out, "file.upload.complete") {
		t.Fatalf("audit of alice = %q; want the upload's start and completion", out)
	}

	bad := filepath.Join(dir, "bell\a.txt")
	if err := os.WriteFile(bad, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := runCLIErr(aliceEnv, "share", bad); err == nil || !strings.Contains(err.Error(), "control character") {
		t.Fatalf("share of a file named with a control character = %v; want the server's refusal", err)
	}
	if err := jsonUnmarshal(runCLI(t, env, "link", "list", "--json"), &listed); err != nil || len(listed) != 1 {
		t.Fatalf("links after a refused share = %d, %v; want still 1", len(listed), err)
	}
}

// The PUT is sent again after a failure of object storage, and the whole
// file each time.
func TestSharePutRetries(t *testing.T) {
	var calls atomic.Int32
	var last []byte
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if calls.Add(1) < 3 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		last = b
	}))
	defer srv.Close()
	f := filepath.Join(t.TempDir(), "f")
	os.WriteFile(f, []byte("retried bytes"), 0o600)
	fh, _ := os.Open(f)
	defer fh.Close()
	c := &shareCmd{putRetries: 3}
	up := &server.FileUploadResponse{Method: "PUT", URL: srv.URL, Headers: map[string]string{"If-None-Match": "*"}}
	if err := c.put(context.Background(), fh, 13, up); err != nil || calls.Load() != 3 || !bytes.Equal(last, []byte("retried bytes")) {
		t.Fatalf("put = %v after %d calls, stored %q", err, calls.Load(), last)
	}
	calls.Store(-10)
	if err := c.put(context.Background(), fh, 13, up); err == nil || strings.Contains(err.Error(), srv.URL) {
		t.Fatalf("put against a failing store = %v; want an error without the URL", err)
	}
}

func jsonUnmarshal(s string, v any) error { return json.Unmarshal([]byte(s), v) }
