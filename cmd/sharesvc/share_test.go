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

	// In parts: the same bytes come back.
	out, errOut, err = runCLIErr(aliceEnv, "share", file, "--part-size", "2097152")
	if err == nil {
		t.Fatalf("share --part-size 2 MiB succeeded; want the server's refusal (parts are 5 MiB at least)")
	}
	out, errOut, err = runCLIErr(aliceEnv, "share", file, "--part-size", "5242880")
	if err != nil {
		t.Fatalf("sharesvc share --part-size: %v\n%s", err, errOut)
	}
	resp, err = http.Get(strings.TrimSpace(out))
	if err != nil {
		t.Fatal(err)
	}
	got, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || sha256.Sum256(got) != sha256.Sum256(data) {
		t.Fatalf("the URL of the file sent in parts gave %d, %d bytes; want the %d shared", resp.StatusCode, len(got), len(data))
	}

	bad := filepath.Join(dir, "bell\a.txt")
	if err := os.WriteFile(bad, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := runCLIErr(aliceEnv, "share", bad); err == nil || !strings.Contains(err.Error(), "control character") {
		t.Fatalf("share of a file named with a control character = %v; want the server's refusal", err)
	}
	if err := jsonUnmarshal(runCLI(t, env, "link", "list", "--json"), &listed); err != nil || len(listed) != 2 {
		t.Fatalf("links after a refused share = %d, %v; want still 2", len(listed), err)
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
	c := &shareCmd{putRetries: 3}
	body := io.NewSectionReader(strings.NewReader("xxretried bytesyy"), 2, 13)
	if _, err := c.put(context.Background(), srv.URL, map[string]string{"If-None-Match": "*"}, body, false); err != nil || calls.Load() != 3 || !bytes.Equal(last, []byte("retried bytes")) {
		t.Fatalf("put = %v after %d calls, stored %q", err, calls.Load(), last)
	}
	calls.Store(-10)
	if _, err := c.put(context.Background(), srv.URL, nil, body, false); err == nil || strings.Contains(err.Error(), srv.URL) {
		t.Fatalf("put against a failing store = %v; want an error without the URL", err)
	}
}

func jsonUnmarshal(s string, v any) error { return json.Unmarshal([]byte(s), v) }
