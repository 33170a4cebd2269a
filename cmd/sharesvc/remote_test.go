package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sharesvc/sharesvc/internal/server"
)

// runCLIErr runs the program with env and returns stdout, stderr and the
// error.
func runCLIErr(env map[string]string, args ...string) (string, string, error) {
	var out, errb bytes.Buffer
	err := run(context.Background(), args, getenvFrom(env), &out, &errb)
	return out.String(), errb.String(), err
}

// Against a running server: link edit changes a link, link create
// --key-prefix makes an upload link with generated names, and audit
// list, export and verify answer with an auditor's token as they do
// offline with --db; giving both or neither is refused.
func TestLinkEditAndRemoteAuditCLI(t *testing.T) {
	const bucket = "remote-test"
	s3 := startS3(t, bucket)
	if err := s3.PutObject(context.Background(), bucket, "doc.txt", []byte("remote bytes")); err != nil {
		t.Fatal(err)
	}
	dbPath := filepath.Join(t.TempDir(), "s.db")
	env := s3env(s3, bucket, dbPath)
	admin := strings.TrimSpace(runCLI(t, env, "token", "create", "--role", "admin", "--name", "root"))
	_, base, stop := startService(t, env)
	t.Cleanup(stop)
	env["SHARESVC_URL"], env["SHARESVC_TOKEN"] = base, admin
	auditor := strings.TrimSpace(runCLI(t, env, "token", "create", "--role", "auditor", "--name", "aud"))

	// link edit
	runCLI(t, env, "link", "create", "--key", "doc.txt", "--expires-in", "1h", "--max-uses", "2")
	var listed []server.LinkResponse
	if err := json.Unmarshal([]byte(runCLI(t, env, "link", "list", "--json")), &listed); err != nil || len(listed) != 1 {
		t.Fatalf("link list --json = %v, %v", listed, err)
	}
	id := listed[0].ID
	var edited server.LinkResponse
	out := runCLI(t, env, "link", "edit", id, "--expires-in", "3d", "--max-uses", "5", "--note", "moved to friday", "--json")
	if err := json.Unmarshal([]byte(out), &edited); err != nil {
		t.Fatalf("link edit --json printed %q: %v", out, err)
	}
	if d := time.Until(edited.ExpiresAt); d < 71*time.Hour || d > 73*time.Hour || edited.MaxUses != 5 || edited.Note != "moved to friday" {
		t.Fatalf("link edit --expires-in 3d --max-uses 5 --note … = %+v", edited)
	}
	if out := runCLI(t, env, "link", "edit", id, "--note", ""); !strings.Contains(out, "0 of 5") || strings.Contains(out, "friday") {
		t.Fatalf("link edit --note \"\" = %q; want the link without its note", out)
	}
	for _, args := range [][]string{
		{"link", "edit", id},
		{"link", "edit", id, "--max-uses", "0"},
		{"link", "edit", id, "--max-uses", "3", "--no-max-uses"},
		{"link", "edit", id, "--expires-in", "90d"},
	} {
		if _, _, err := runCLIErr(env, args...); err == nil {
			t.Fatalf("sharesvc %s succeeded; want an error", strings.Join(args, " "))
		}
	}

	// link create --key-prefix
	short := strings.TrimSpace(runCLI(t, env, "link", "create", "--kind", "upload", "--key-prefix", "inbox/"))
	if !strings.Contains(short, "/u/") {
		t.Fatalf("link create --kind upload --key-prefix printed %q; want an upload URL", short)
	}
	var uploads []server.LinkResponse
	if err := json.Unmarshal([]byte(runCLI(t, env, "link", "list", "--kind", "upload", "--json")), &uploads); err != nil ||
		len(uploads) != 1 || uploads[0].Key != "inbox/" || !uploads[0].KeyIsPrefix {
		t.Fatalf("upload links = %+v, %v; want one on the prefix inbox/", uploads, err)
	}

	// audit, remotely with the auditor's token
	remote := map[string]string{"SHARESVC_URL": base, "SHARESVC_TOKEN": auditor}
	out = runCLI(t, remote, "audit", "list", "--action", "link.update", "--link-id", id, "--json")
	if lines := strings.Split(strings.TrimSpace(out), "\n"); len(lines) != 2 || !strings.Contains(lines[0], `\"changed\"`) ||
		!strings.Contains(lines[1], `\"max_uses\":{\"old\":2,\"new\":5}`) {
		t.Fatalf("remote audit list --action link.update = %q; want 2 JSON lines, newest first, with the changes", out)
	}
	if r, o := runCLI(t, remote, "audit", "list", "--action", "link.create", "--json"),
		runCLI(t, map[string]string{}, "audit", "list", "--db", dbPath, "--action", "link.create", "--json"); r != o {
		t.Fatalf("remote and offline audit list --json differ:\n%s\n%s", r, o)
	}
	// The object filters reach the server too.
	for _, c := range []struct {
		bucket string
		want   bool
	}{{bucket, true}, {"other-bucket", false}} {
		out := runCLI(t, remote, "audit", "list", "--action", "link.create", "--bucket", c.bucket, "--json")
		if got := strings.Contains(out, "link.create"); got != c.want {
			t.Fatalf("remote audit list --bucket %s = %q; want rows %v", c.bucket, out, c.want)
		}
	}
	if out := runCLI(t, remote, "audit", "list", "--since", "1h", "--actor", "root"); !strings.Contains(out, "link.create") ||
		!strings.Contains(out, "link.update") || strings.Contains(out, "aud ") {
		t.Fatalf("remote audit list --since 1h --actor root = %q", out)
	}
	out, errOut, err := runCLIErr(remote, "audit", "export", "--format", "csv", "--action", "link.create")
	if err != nil || !strings.Contains(errOut, "exported 2 events") || strings.Count(out, "link.create") != 2 {
		t.Fatalf("remote audit export = %v, %q, %q; want the 2 link.create rows", err, out, errOut)
	}
	// A checkpoint first, so that the offline verification has one to read.
	if err := (&apiClient{base: base, token: admin}).do(context.Background(), "POST", "/api/v1/audit/checkpoint", nil, nil); err != nil {
		t.Fatal(err)
	}
	out = runCLI(t, remote, "audit", "verify")
	if !strings.HasPrefix(out, "OK: rows 1..") || !strings.Contains(out, "matches") {
		t.Fatalf("remote audit verify = %q", out)
	}
	offline := runCLI(t, map[string]string{}, "audit", "verify", "--db", dbPath)
	if strings.SplitN(offline, "\n", 2)[0] != strings.SplitN(out, "\n", 2)[0] {
		t.Fatalf("remote and offline verify disagree:\n%s\n%s", out, offline)
	}

	// A row rewritten behind the service's back: remote verify fails as
	// offline verify does, naming the row.
	runCLI(t, env, "link", "edit", id, "--note", "one more row")
	raw, err := sql.Open("sqlite", "file:"+dbPath)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{`DROP TRIGGER audit_events_no_update`,
		`UPDATE audit_events SET detail = '{"changed":{}}' WHERE seq = (SELECT MAX(seq) FROM audit_events)`} {
		if _, err := raw.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	raw.Close()
	out, _, err = runCLIErr(remote, "audit", "verify")
	offline, _, oerr := runCLIErr(map[string]string{}, "audit", "verify", "--db", dbPath)
	if err == nil || oerr == nil || !strings.HasPrefix(out, "FAILED after ") || !strings.HasPrefix(offline, "FAILED after ") ||
		!strings.Contains(err.Error(), "first bad row") {
		t.Fatalf("verify of a rewritten row: remote %q, %v; offline %q, %v; want both to fail", out, err, offline, oerr)
	}

	for _, tc := range []struct {
		name string
		env  map[string]string
		args []string
		want string
	}{
		{"both", remote, []string{"audit", "list", "--db", dbPath}, "not both"},
		{"both by variables", withEnv(remote, map[string]string{"SHARESVC_DB": dbPath}), []string{"audit", "verify"}, "not both"},
		{"neither", map[string]string{}, []string{"audit", "export"}, "say where to read"},
		{"a sharer's token", withEnv(remote, map[string]string{"SHARESVC_TOKEN": strings.TrimSpace(runCLI(t, env, "token", "create", "--role", "sharer", "--name", "sam"))}),
			[]string{"audit", "list"}, "403"},
		{"a bad filter", remote, []string{"audit", "list", "--since", "yesterday"}, "400"},
		{"offline flags remotely", remote, []string{"audit", "verify", "--public-key", "k.pub"}, "offline"},
	} {
		if _, _, err := runCLIErr(tc.env, tc.args...); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Fatalf("%s: sharesvc %s = %v; want an error saying %q", tc.name, strings.Join(tc.args, " "), err, tc.want)
		}
	}
}
