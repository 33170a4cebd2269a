package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/sharesvc/sharesvc/internal/db"
	"github.com/sharesvc/sharesvc/internal/seaweed"
	"github.com/sharesvc/sharesvc/internal/testrig/syncbuf"
)

// s3As is an S3 client for the local server signed with the given key.
func s3As(s *seaweed.Server, access, secret string) *s3.Client {
	return s3.New(s3.Options{Region: s.Region, BaseEndpoint: aws.String(s.Endpoint), UsePathStyle: true,
		Credentials: credentials.NewStaticCredentialsProvider(access, secret, "")})
}

func apiCode(err error) string {
	var ae interface{ ErrorCode() string }
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	if err != nil {
		return err.Error()
	}
	return "no error"
}

// Checkpoints anchored in a bucket with Object Lock, written with the
// anchor's own key: the bucket refuses to delete or overwrite them within
// retention, and they still catch a cut tail after the host has deleted
// every local checkpoint file.
func TestAnchoredCheckpoints(t *testing.T) {
	const bucket, locked = "anchor-data", "audit-anchors"
	ctx := context.Background()
	cctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	s3srv, err := seaweed.Start(cctx, seaweed.Options{Dir: t.TempDir(), Buckets: []string{bucket}, LockedBuckets: []string{locked}})
	if err != nil {
		t.Fatalf("the real S3+STS server is required (run scripts/seaweedfs.sh to build it): %v", err)
	}
	t.Cleanup(func() { s3srv.Stop() })
	if err := s3srv.PutObject(ctx, bucket, "doc.txt", []byte("doc")); err != nil {
		t.Fatal(err)
	}
	env := s3env(s3srv, bucket, "")
	dbPath := serveDB(t, env)
	// Where serve keeps the checkpoints and their key: given on PostgreSQL,
	// beside the database file by default on SQLite.
	cpDir, pubKey := env["SHARESVC_CHECKPOINT_DIR"], env["SHARESVC_CHECKPOINT_KEY"]+".pub"
	if cpDir == "" {
		cpDir, pubKey = dbPath+"-checkpoints", dbPath+"-checkpoint.key.pub"
	}

	t.Run("settings", func(t *testing.T) {
		for _, tc := range []struct {
			env  map[string]string
			want string
		}{
			{map[string]string{"SHARESVC_ANCHOR_BUCKET": locked}, "credentials of its own"},
			{map[string]string{"SHARESVC_ANCHOR_ROLE_ARN": "arn:aws:iam::1:role/a"}, "SHARESVC_ANCHOR_BUCKET"},
			{map[string]string{"SHARESVC_ANCHOR_BUCKET": locked, "SHARESVC_ANCHOR_ACCESS_KEY_ID": "AKIA"}, "must be set together"},
			{map[string]string{"SHARESVC_ANCHOR_BUCKET": locked, "SHARESVC_ANCHOR_PROFILE": "p", "SHARESVC_ANCHOR_ROLE_ARN": "arn:aws:iam::1:role/a"}, "give one of"},
			{map[string]string{"SHARESVC_ANCHOR_BUCKET": locked, "SHARESVC_ANCHOR_PROFILE": "p", "SHARESVC_ANCHOR_RETENTION": "1m"}, "SHARESVC_ANCHOR_RETENTION"},
		} {
			if _, err := serveFlags(nil, getenvFrom(withEnv(env, tc.env)), io.Discard); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("serve with %v = %v; want an error saying %q", tc.env, err, tc.want)
			}
		}
		// A bucket without Object Lock protects nothing: refused at start,
		// before any file is made.
		dir := t.TempDir()
		e := withEnv(env, map[string]string{"SHARESVC_DB": filepath.Join(dir, "x.db"), "SHARESVC_ANCHOR_BUCKET": bucket,
			"SHARESVC_ANCHOR_ACCESS_KEY_ID": s3srv.AccessKey, "SHARESVC_ANCHOR_SECRET_ACCESS_KEY": s3srv.SecretKey})
		st, err := serveFlags(nil, getenvFrom(e), io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := newService(ctx, st, getenvFrom(e), io.Discard); err == nil || !strings.Contains(err.Error(), "Object Lock") {
			t.Fatalf("serve with an unlocked anchor bucket = %v; want a refusal naming Object Lock", err)
		}
		if ents, _ := os.ReadDir(dir); len(ents) != 0 {
			t.Fatalf("a refused start left %d files", len(ents))
		}
	})

	for k, v := range map[string]string{"SHARESVC_ANCHOR_BUCKET": locked, "SHARESVC_ANCHOR_RETENTION": "1h",
		"SHARESVC_ANCHOR_ACCESS_KEY_ID": s3srv.AnchorAccessKey, "SHARESVC_ANCHOR_SECRET_ACCESS_KEY": s3srv.AnchorSecretKey} {
		env[k] = v
	}
	var logw syncbuf.Buffer
	base, _, stop := serveWithLog(t, env, &logw)
	admin, err := createToken(ctx, dbPath, "root", "admin", 0, "test", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	link := createLinkAPI(t, base, admin, `{"key":"doc.txt"}`)
	for range 3 {
		r, err := noFollow.Get(link)
		if err != nil {
			t.Fatal(err)
		}
		r.Body.Close()
	}
	code, body := call(t, "POST", base+"/api/v1/audit/checkpoint", admin)
	if code != http.StatusCreated {
		t.Fatalf("checkpoint = %d %s\nlog: %s", code, body, logw.String())
	}
	stop()
	if strings.Contains(logw.String(), "level=ERROR") {
		t.Fatalf("log has errors: %s", logw.String())
	}

	// The anchored objects: one per checkpoint, under COMPLIANCE retention.
	root := s3As(s3srv, s3srv.AccessKey, s3srv.SecretKey)
	vs, err := root.ListObjectVersions(ctx, &s3.ListObjectVersionsInput{Bucket: aws.String(locked), Prefix: aws.String("checkpoints/")})
	if err != nil || len(vs.Versions) != 2 {
		t.Fatalf("anchored versions = %d, %v; want 2 (on demand, at stop)", len(vs.Versions), err)
	}
	v := vs.Versions[0]
	key, vid := aws.ToString(v.Key), aws.ToString(v.VersionId)
	head, err := root.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(locked), Key: v.Key, VersionId: v.VersionId})
	if err != nil || head.ObjectLockMode != s3types.ObjectLockModeCompliance || head.ObjectLockRetainUntilDate == nil ||
		time.Until(*head.ObjectLockRetainUntilDate) < 50*time.Minute {
		t.Fatalf("HEAD %s = %+v, %v; want COMPLIANCE retention for about an hour", key, head, err)
	}
	orig, _ := getVersion(ctx, root, locked, key, vid)

	// What the bucket enforces within retention, for the admin key and the
	// anchor's own key alike.
	anchorKey := s3As(s3srv, s3srv.AnchorAccessKey, s3srv.AnchorSecretKey)
	for name, c := range map[string]*s3.Client{"admin": root, "anchor": anchorKey} {
		_, err := c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(locked), Key: aws.String(key), VersionId: aws.String(vid)})
		if err == nil {
			t.Errorf("%s deleted locked version %s of %s", name, vid, key)
		}
		t.Logf("%s: delete of the locked version: %s", name, apiCode(err))
		_, err = c.PutObjectRetention(ctx, &s3.PutObjectRetentionInput{Bucket: aws.String(locked), Key: aws.String(key), VersionId: aws.String(vid),
			Retention: &s3types.ObjectLockRetention{Mode: s3types.ObjectLockRetentionModeCompliance, RetainUntilDate: aws.Time(time.Now().Add(2 * time.Minute))}})
		if err == nil {
			t.Errorf("%s shortened the COMPLIANCE retention of %s", name, key)
		}
		t.Logf("%s: shortening the retention: %s", name, apiCode(err))
		_, err = c.PutObjectRetention(ctx, &s3.PutObjectRetentionInput{Bucket: aws.String(locked), Key: aws.String(key), VersionId: aws.String(vid),
			Retention: &s3types.ObjectLockRetention{Mode: s3types.ObjectLockRetentionModeGovernance, RetainUntilDate: head.ObjectLockRetainUntilDate}})
		if err == nil {
			t.Errorf("%s turned COMPLIANCE into GOVERNANCE on %s", name, key)
		}
		t.Logf("%s: COMPLIANCE to GOVERNANCE: %s", name, apiCode(err))
		// A PUT to the same key, or a DELETE without a version, adds a
		// version or a delete marker (as on AWS); the locked version stays.
		_, err = c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(locked), Key: aws.String(key), Body: bytes.NewReader([]byte("{}"))})
		t.Logf("%s: PUT over the key: %s", name, apiCode(err))
		_, err = c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(locked), Key: aws.String(key)})
		t.Logf("%s: DELETE without a version: %s", name, apiCode(err))
		if got, err := getVersion(ctx, root, locked, key, vid); err != nil || !bytes.Equal(got, orig) {
			t.Fatalf("after %s's attempts, version %s of %s = %q, %v; want it unchanged", name, vid, key, got, err)
		}
	}
	// The anchor key may not touch the ordinary bucket.
	if _, err := anchorKey.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String("x"), Body: bytes.NewReader(nil)}); err == nil {
		t.Error("the anchor key wrote to the data bucket")
	}

	// The host strikes: rows cut off the end, every local checkpoint file
	// deleted. The files alone no longer tell; the anchor does.
	raw, err := db.Open(ctx, dbPath)
	if err != nil {
		t.Fatal(err)
	}
	drop := `DROP TRIGGER audit_events_no_delete`
	if raw.Engine() == db.PostgreSQL {
		drop += ` ON audit_events`
	}
	for _, q := range []string{drop, `DELETE FROM audit_events WHERE seq > (SELECT MAX(seq) - 3 FROM audit_events)`} {
		if _, err := raw.Write.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	raw.Close()
	if err := os.RemoveAll(cpDir); err != nil {
		t.Fatal(err)
	}
	if out, _, err := runErr("audit", "verify", "--db", dbPath); err != nil {
		t.Fatalf("verify without the anchor = %q, %v; nothing local is left to catch it", out, err)
	}
	verifyArgs := []string{"audit", "verify", "--db", dbPath, "--public-key", pubKey, "--anchor-bucket", locked}
	var out, errb bytes.Buffer
	err = run(ctx, verifyArgs, getenvFrom(env), &out, &errb)
	if err == nil || !strings.Contains(out.String(), "FAILED") {
		t.Fatalf("verify with the anchor = %q %q, %v; want FAILED", out.String(), errb.String(), err)
	}
	base, ops, stop := serveWithLog(t, env, &logw)
	defer stop()
	if code, body := call(t, "GET", ops+"/readyz", ""); code != http.StatusServiceUnavailable || !strings.Contains(body, "chain_broken") {
		t.Fatalf("readiness report after the cut = %d %s; want 503 chain_broken", code, body)
	}
	if code, body := call(t, "POST", base+"/api/v1/audit/checkpoint", admin); code != http.StatusConflict {
		t.Fatalf("checkpoint after the cut = %d %s; want 409", code, body)
	}
	_, body = call(t, "GET", base+"/api/v1/audit/verify", admin)
	var vr struct {
		OK          bool
		Checkpoints int
	}
	if err := json.Unmarshal([]byte(body), &vr); err != nil || vr.OK || vr.Checkpoints < 2 {
		t.Fatalf("verify after the cut = %s; want not ok, against the anchored checkpoints", body)
	}
}

func getVersion(ctx context.Context, c *s3.Client, bucket, key, vid string) ([]byte, error) {
	o, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), VersionId: aws.String(vid)})
	if err != nil {
		return nil, fmt.Errorf("get %s@%s: %w", key, vid, err)
	}
	defer o.Body.Close()
	return io.ReadAll(o.Body)
}
