package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sharesvc/sharesvc/internal/server"
)

// postJSON sends body as JSON to url and decodes the 200 answer into v.
func postJSON(t *testing.T, url, body string, v any) {
	t.Helper()
	resp, err := http.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST %s: %s", url[strings.LastIndex(url, "/"):], resp.Status)
	}
	if v != nil {
		if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
			t.Fatal(err)
		}
	}
}

// sharesvc link arrivals lists what came through an upload link under the
// uploader's file name.
func TestLinkArrivalsCLI(t *testing.T) {
	const bucket = "arrivals-test"
	s3 := startS3(t, bucket)
	env := s3env(s3, bucket, filepath.Join(t.TempDir(), "s.db"))
	admin := strings.TrimSpace(runCLI(t, env, "token", "create", "--role", "admin", "--name", "root"))
	_, base, stop := startService(t, env)
	t.Cleanup(stop)
	env["SHARESVC_URL"], env["SHARESVC_TOKEN"] = base, admin

	short := strings.TrimSpace(runCLI(t, env, "link", "create", "--kind", "upload", "--key-prefix", "inbox/"))
	var listed []server.LinkResponse
	if err := json.Unmarshal([]byte(runCLI(t, env, "link", "list", "--json")), &listed); err != nil || len(listed) != 1 {
		t.Fatalf("link list --json = %v, %v", listed, err)
	}
	if out := runCLI(t, env, "link", "arrivals", listed[0].ID); strings.Contains(out, "arr_") {
		t.Fatalf("arrivals before any upload: %q", out)
	}
	var signed struct {
		URL, Upload string
		Headers     map[string]string // signed: the PUT must send them
	}
	postJSON(t, short+"/presign", `{"size":4,"filename":"minutes 3.txt"}`, &signed)
	req, _ := http.NewRequest("PUT", signed.URL, bytes.NewReader([]byte("note")))
	for k, v := range signed.Headers {
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
	postJSON(t, short+"/done", `{"upload":"`+signed.Upload+`"}`, nil)

	out := runCLI(t, env, "link", "arrivals", listed[0].ID)
	if !strings.Contains(out, "minutes 3.txt") || !strings.Contains(out, signed.Upload) || !strings.Contains(out, "inbox/") {
		t.Fatalf("link arrivals = %q", out)
	}
	var got []server.ArrivalResponse
	if err := json.Unmarshal([]byte(runCLI(t, env, "link", "arrivals", listed[0].ID, "--json")), &got); err != nil ||
		len(got) != 1 || got[0].Filename != "minutes 3.txt" || got[0].Bytes != 4 {
		t.Fatalf("link arrivals --json = %+v, %v", got, err)
	}
	if obj, err := s3.GetObject(context.Background(), bucket, got[0].Key); err != nil || string(obj) != "note" {
		t.Fatalf("object %q = %q, %v", got[0].Key, obj, err)
	}
	if _, _, err := runCLIErr(env, "link", "arrivals", "lnk_nosuchlink"); err == nil || !strings.Contains(err.Error(), "404") {
		t.Fatalf("link arrivals of an unknown link: %v", err)
	}
}
