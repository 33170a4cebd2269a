package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/sharesvc/sharesvc/internal/server"
)

// Grants through the CLI: a configured default grant gives every sharer a
// home folder at start (created once, audited); an admin grants a person
// more; the sharer sees both, shares inside them and is refused outside;
// revoking with --revoke-links ends the links made under the grant.
func TestGrantCLI(t *testing.T) {
	const bucket = "grant-cli"
	s3 := startS3(t, bucket)
	for _, k := range []string{"home/alice/notes.txt", "reports/q3.txt", "hr/salaries.csv"} {
		if err := s3.PutObject(context.Background(), bucket, k, []byte("bytes of "+k)); err != nil {
			t.Fatal(err)
		}
	}
	env := s3env(s3, bucket, "")
	serveDB(t, env)
	env["SHARESVC_DEFAULT_GRANT"] = "prefix=home/{person}/ actions=download,upload"
	admin := strings.TrimSpace(runCLI(t, env, "token", "create", "--role", "admin", "--name", "root"))
	_, base, stop := startService(t, env)
	env["SHARESVC_URL"], env["SHARESVC_TOKEN"] = base, admin
	alice := strings.TrimSpace(runCLI(t, env, "token", "create", "--role", "sharer", "--name", "alice"))
	aliceEnv := map[string]string{"SHARESVC_URL": base, "SHARESVC_TOKEN": alice}

	out := runCLI(t, env, "grant", "create", "--person", "alice", "--bucket", bucket, "--prefix", "reports/",
		"--actions", "download", "--max-uses", "2", "--max-lifetime", "1w", "--reason", "quarterly reports", "--json")
	var g server.GrantResponse
	if err := json.Unmarshal([]byte(out), &g); err != nil || g.Person != "alice" || g.MaxUses != 2 || g.MaxLifetime != 7*24*3600 {
		t.Fatalf("grant create --json = %q (%v)", out, err)
	}
	// A provider group's grant: listed with its group, and not among the
	// grants of alice, whose token has no provider groups.
	out = runCLI(t, env, "grant", "create", "--group", "share-finance", "--bucket", bucket, "--prefix", "finance/{person}/",
		"--actions", "download", "--reason", "finance team", "--json")
	var fg server.GrantResponse
	if err := json.Unmarshal([]byte(out), &fg); err != nil || fg.Group != "share-finance" || fg.Person != "" || fg.Role != "" {
		t.Fatalf("grant create --group --json = %q (%v)", out, err)
	}
	if out := runCLI(t, env, "grant", "list", "--group", "share-finance"); !strings.Contains(out, fg.ID) || !strings.Contains(out, "group share-finance") || strings.Contains(out, g.ID) {
		t.Fatalf("grant list --group share-finance =\n%s", out)
	}
	if out := runCLI(t, env, "grant", "show", fg.ID); !strings.Contains(out, "group share-finance") {
		t.Fatalf("grant show of the group's grant =\n%s", out)
	}
	if out := runCLI(t, aliceEnv, "grant", "list"); !strings.Contains(out, "home/{person}/") || !strings.Contains(out, "reports/") || !strings.Contains(out, "uses≤2") || strings.Contains(out, "share-finance") {
		t.Fatalf("alice's grant list =\n%s", out)
	}
	runCLI(t, aliceEnv, "link", "create", "--key", "home/alice/notes.txt")
	runCLI(t, aliceEnv, "link", "create", "--key", "reports/q3.txt")
	var errb bytes.Buffer
	err := run(context.Background(), []string{"link", "create", "--key", "hr/salaries.csv"}, getenvFrom(aliceEnv), &bytes.Buffer{}, &errb)
	if err == nil || !strings.Contains(err.Error(), "403") || !strings.Contains(err.Error(), "no grant") {
		t.Fatalf("a link outside alice's grants: %v; want a 403 naming the missing grant", err)
	}
	// Flags after the argument, as everywhere.
	if out := runCLI(t, env, "grant", "revoke", g.ID, "--revoke-links", "--reason", "project over"); !strings.Contains(out, "1 links revoked") {
		t.Fatalf("grant revoke = %q", out)
	}
	if out := runCLI(t, env, "grant", "show", g.ID); !strings.Contains(out, "revoked") || !strings.Contains(out, "project over") {
		t.Fatalf("grant show after revoke =\n%s", out)
	}
	// A second start does not make a second default grant.
	stop()
	_, base, stop = startService(t, env)
	t.Cleanup(stop)
	env["SHARESVC_URL"] = base
	if out := runCLI(t, env, "grant", "list", "--role", "sharer"); strings.Count(out, "home/{person}/") != 1 {
		t.Fatalf("default grants after a restart =\n%s", out)
	}
}

// grant create takes exactly one of --person, --role and --group, and says
// which two clash before it asks the server anything.
func TestGrantCreateSubjectFlags(t *testing.T) {
	env := map[string]string{"SHARESVC_URL": "http://127.0.0.1:1", "SHARESVC_TOKEN": "unused"}
	for _, tc := range []struct {
		flags []string
		want  string
	}{
		{[]string{"--person", "alice", "--group", "share-finance"}, "--person and --group can't be used together"},
		{[]string{"--role", "sharer", "--group", "share-finance"}, "--role and --group can't be used together"},
		{[]string{"--group", "share-finance", "--person", "alice", "--role", "sharer"}, "can't be used together"},
		{nil, "missing flags: --person=NAME or --role=ROLE or --group=NAME"},
	} {
		args := append([]string{"grant", "create", "--bucket", "b", "--actions", "download"}, tc.flags...)
		out, _, err := runCLIErr(env, args...)
		if err == nil || !strings.Contains(err.Error(), tc.want) || out != "" {
			t.Errorf("sharesvc %s = %v (stdout %q); want an error saying %q", strings.Join(args, " "), err, out, tc.want)
		}
	}
}
