package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"maps"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sharesvc/sharesvc/internal/db"
	"github.com/sharesvc/sharesvc/internal/seaweed"
	"github.com/sharesvc/sharesvc/internal/server"
	"github.com/sharesvc/sharesvc/internal/testrig/testdb"
)

// The behaviour tests' databases are on the run's engine (SHARESVC_TEST_DB).
func TestMain(m *testing.M) { os.Exit(testdb.Main(m)) }

// startS3 starts a private SeaweedFS for one test; it fails the test if the
// server cannot run.
func startS3(t *testing.T, buckets ...string) *seaweed.Server {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	s, err := seaweed.Start(ctx, seaweed.Options{Dir: t.TempDir(), Buckets: buckets})
	if err != nil {
		t.Fatalf("the real S3+STS server is required (run scripts/seaweedfs.sh to build it): %v", err)
	}
	t.Cleanup(func() { s.Stop() })
	return s
}

// s3env returns the variables that point sharesvc at s.
func s3env(s *seaweed.Server, bucket, db string) map[string]string {
	return map[string]string{
		"AWS_REGION": s.Region, "AWS_ACCESS_KEY_ID": s.AccessKey, "AWS_SECRET_ACCESS_KEY": s.SecretKey,
		"AWS_ENDPOINT_URL_S3": s.Endpoint, "AWS_ENDPOINT_URL_STS": s.Endpoint,
		"SHARESVC_ROLE_ARN": s.RoleARN, "SHARESVC_BUCKET": bucket, "SHARESVC_S3_PATH_STYLE": "true",
		"SHARESVC_DB": db,
		// Sharers keep the reach they had before grants: the whole bucket.
		"SHARESVC_DEFAULT_GRANT": "actions=download,upload,email",
		// A free port for the private listener: the default (9464) may be
		// taken on the machine running the tests.
		"SHARESVC_METRICS_LISTEN": "127.0.0.1:0",
		// No load balancer waits for /readyz in tests: stop at once
		// (TestShutdownDrains tests the drain).
		"SHARESVC_SHUTDOWN_DRAIN": "0",
	}
}

// serveDB points env's SHARESVC_DB at a new database for t on the run's
// engine (see testdb) and returns what db.Open takes for it. On PostgreSQL
// it also sets the checkpoint key and directory, which serve requires there
// (it makes them beside the database file only on SQLite).
func serveDB(t *testing.T, env map[string]string) string {
	t.Helper()
	dsn := testdb.DSN(t)
	env["SHARESVC_DB"] = dsn
	if db.IsPostgres(dsn) {
		dir := t.TempDir()
		key := filepath.Join(dir, "checkpoint.key")
		if _, errOut, err := runErr("audit", "keygen", "--out", key); err != nil {
			t.Fatalf("audit keygen: %v\n%s", err, errOut)
		}
		env["SHARESVC_CHECKPOINT_KEY"] = key
		env["SHARESVC_CHECKPOINT_DIR"] = filepath.Join(dir, "checkpoints")
	}
	return dsn
}

func getenvFrom(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

// withEnv returns a new environment: base, with extra's settings on top.
func withEnv(base, extra map[string]string) map[string]string {
	env := maps.Clone(base)
	maps.Copy(env, extra)
	return env
}

// startService wires the service configured by env, serves it on a free
// port (recorded in env as SHARESVC_LISTEN) and returns it with its base
// URL and a stop that shuts it down, failing t if serving failed.
func startService(t *testing.T, env map[string]string) (svc *service, base string, stop func()) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	env["SHARESVC_LISTEN"] = ln.Addr().String()
	settings, err := serveFlags(nil, getenvFrom(env), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	svc, err = newService(context.Background(), settings, getenvFrom(env), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- svc.serve(ctx, ln) }()
	return svc, "http://" + ln.Addr().String(), func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	}
}

// runCLI runs the program with env and returns stdout; it fails t on error.
func runCLI(t *testing.T, env map[string]string, args ...string) string {
	t.Helper()
	var out, errb bytes.Buffer
	if err := run(context.Background(), args, getenvFrom(env), &out, &errb); err != nil {
		t.Fatalf("sharesvc %s: %v\nstderr: %s", strings.Join(args, " "), err, errb.String())
	}
	return out.String()
}

// The admin CLI end to end: bootstrap a token offline, serve on :0, and
// drive links, tokens, offboarding and the kill switch through the API.
func TestAdminCLI(t *testing.T) {
	const bucket = "cli-test"
	s3 := startS3(t, bucket)
	if err := s3.PutObject(context.Background(), bucket, "doc.txt", []byte("cli bytes")); err != nil {
		t.Fatal(err)
	}
	env := s3env(s3, bucket, "")
	serveDB(t, env)
	admin := strings.TrimSpace(runCLI(t, env, "token", "create", "--role", "admin", "--name", "root"))
	if !strings.HasPrefix(admin, "sst_") {
		t.Fatalf("offline token create printed %q", admin)
	}

	_, base, stop := startService(t, env)
	t.Cleanup(stop)
	env["SHARESVC_URL"] = base
	env["SHARESVC_TOKEN"] = admin

	alice := strings.TrimSpace(runCLI(t, env, "token", "create", "--role", "sharer", "--name", "alice"))
	if !strings.HasPrefix(alice, "sst_") {
		t.Fatalf("token create via the API printed %q", alice)
	}
	if out := runCLI(t, env, "token", "list"); !strings.Contains(out, "alice") || !strings.Contains(out, "ROLE") {
		t.Fatalf("token list = %q", out)
	}

	aliceEnv := map[string]string{"SHARESVC_URL": env["SHARESVC_URL"], "SHARESVC_TOKEN": alice}
	short := strings.TrimSpace(runCLI(t, aliceEnv, "link", "create", "--key", "doc.txt", "--max-uses", "3", "--expires-in", "1h"))
	resp, err := http.Get(short)
	if err != nil {
		t.Fatal(err)
	}
	body := new(bytes.Buffer)
	body.ReadFrom(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || body.String() != "cli bytes" {
		t.Fatalf("following the CLI's link = %d %q", resp.StatusCode, body)
	}

	var listed []struct{ ID, State string }
	if err := json.Unmarshal([]byte(runCLI(t, env, "link", "list", "--json")), &listed); err != nil || len(listed) != 1 {
		t.Fatalf("link list --json = %v, %v", listed, err)
	}
	if out := runCLI(t, env, "link", "show", listed[0].ID); !strings.Contains(out, "1 of 3") || !strings.Contains(out, "9 bytes") {
		t.Fatalf("link show = %q; want uses 1 of 3 and the size, 9 bytes", out)
	}
	if out := runCLI(t, env, "link", "revoke", short, "--reason", "wrong file"); !strings.Contains(out, "revoked "+listed[0].ID) {
		t.Fatalf("link revoke by URL = %q", out)
	}
	if r, _ := http.Get(short); r.StatusCode != http.StatusGone {
		t.Fatalf("revoked link = %d; want 410", r.StatusCode)
	}

	runCLI(t, aliceEnv, "link", "create", "--key", "doc.txt", "--expires-in", "2d", "--presign-ttl", "90s")
	var made []server.LinkResponse
	if err := json.Unmarshal([]byte(runCLI(t, env, "link", "list", "--json")), &made); err != nil {
		t.Fatal(err)
	}
	if l := made[0]; len(made) != 2 || l.PresignTTL != 90 || l.ExpiresAt.Sub(l.CreatedAt) != 48*time.Hour {
		t.Fatalf("link create --expires-in 2d --presign-ttl 90s made %+v; want a 48h lifetime and 90s URLs first", made)
	}
	if out := runCLI(t, env, "offboard", "alice", "--reason", "left"); !strings.Contains(out, "1 links revoked, 1 tokens revoked") {
		t.Fatalf("offboard = %q", out)
	}
	var errb bytes.Buffer
	if err := run(context.Background(), []string{"link", "list"}, getenvFrom(aliceEnv), &bytes.Buffer{}, &errb); err == nil || !strings.Contains(err.Error(), "401") {
		t.Fatalf("alice after offboarding: %v; want a 401 error", err)
	}

	if out := runCLI(t, env, "killswitch", "on", "--reason", "drill"); !strings.Contains(out, "ON") {
		t.Fatalf("killswitch on = %q", out)
	}
	if out := runCLI(t, env, "killswitch", "status"); !strings.Contains(out, "drill") {
		t.Fatalf("killswitch status = %q", out)
	}
	// --json prints the API's answer whole, the time it went on included.
	var ks server.KillSwitchResponse
	if out := runCLI(t, env, "killswitch", "status", "--json"); json.Unmarshal([]byte(out), &ks) != nil || !ks.On || ks.Since == nil || ks.By != "root" {
		t.Fatalf("killswitch status --json = %q; want on, since and by", out)
	}
	if out := runCLI(t, env, "killswitch", "off"); !strings.Contains(out, "off") {
		t.Fatalf("killswitch off = %q", out)
	}
}

// Bad settings stop the service at start with a message naming the setting.
func TestServeRejectsBadConfiguration(t *testing.T) {
	base := map[string]string{"SHARESVC_ROLE_ARN": "arn:aws:iam::123456789012:role/x"}
	for _, tc := range []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"SHARESVC_ROLE_ARN": ""}, "SHARESVC_ROLE_ARN"},
		{map[string]string{"SHARESVC_ROLE_ARN": "not-an-arn"}, "SHARESVC_ROLE_ARN"},
		{map[string]string{"SHARESVC_PRESIGN_TTL": "soon"}, "SHARESVC_PRESIGN_TTL"},
		{map[string]string{"SHARESVC_SESSION_DURATION": "5m"}, "SHARESVC_SESSION_DURATION"},
		{map[string]string{"SHARESVC_MAX_PRESIGN_TTL": "10m"}, "SHARESVC_MAX_PRESIGN_TTL"},
		{map[string]string{"SHARESVC_PERSONAL_TOKEN_MAX_LIFETIME": "30m"}, "SHARESVC_PERSONAL_TOKEN_MAX_LIFETIME"},
		{map[string]string{"SHARESVC_S3_PATH_STYLE": "sometimes"}, "SHARESVC_S3_PATH_STYLE"},
		{map[string]string{"SHARESVC_LISTEN": "nowhere"}, "SHARESVC_LISTEN"},
		{map[string]string{"SHARESVC_LOG_FORMAT": "xml"}, "SHARESVC_LOG_FORMAT"},
		{map[string]string{"SHARESVC_MAX_USES": "many"}, "SHARESVC_MAX_USES"},
		{map[string]string{"SHARESVC_INSTANCES": "0"}, "SHARESVC_INSTANCES"},
		{map[string]string{"SHARESVC_INSTANCES": "three"}, "SHARESVC_INSTANCES"},
		{map[string]string{"SHARESVC_INSTANCES": "100000"}, "SHARESVC_INSTANCES"},
	} {
		var errb bytes.Buffer
		err := run(context.Background(), []string{"serve"}, getenvFrom(withEnv(base, tc.env)), &bytes.Buffer{}, &errb)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("serve with %v = %v; want an error naming %s", tc.env, err, tc.want)
		}
	}
}

// The README's first command: the demo starts everything and its link works.
func TestDemoPrintsWorkingLink(t *testing.T) {
	var out, errb bytes.Buffer
	err := run(context.Background(), []string{"demo", "-dir", t.TempDir(), "-listen", "127.0.0.1:0", "-check"}, os.Getenv, &out, &errb)
	if err != nil {
		t.Fatalf("demo -check: %v\n%s", err, errb.String())
	}
	if !strings.Contains(out.String(), "/s/") || !strings.Contains(errb.String(), "check: the link redirected to S3") {
		t.Fatalf("demo printed %q / %q", out.String(), errb.String())
	}
}
