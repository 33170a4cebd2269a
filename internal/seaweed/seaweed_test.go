package seaweed

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sts"
)

// testLog sends weed's output to the test log.
type testLog struct{ t *testing.T }

func (l testLog) Write(p []byte) (int, error) {
	l.t.Helper()
	l.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// TestServer runs the real server: it fails, never skips, when the weed
// binary is missing (run scripts/seaweedfs.sh).
func TestServer(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	var logw io.Writer
	if testing.Verbose() {
		logw = testLog{t}
	}
	began := time.Now()
	srv, err := Start(ctx, Options{Dir: t.TempDir(), Log: logw})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("Start took %v; endpoint %s, role %s", time.Since(began).Round(time.Millisecond), srv.Endpoint, srv.RoleARN)
	t.Cleanup(func() {
		began := time.Now()
		if err := srv.Stop(); err != nil {
			t.Error(err)
		}
		t.Logf("Stop took %v", time.Since(began).Round(time.Millisecond))
	})

	const key = "dir/hello world.txt"
	body := []byte("hello from a real S3 server\n")
	if err := srv.PutObject(ctx, DefaultBucket, key, body); err != nil {
		t.Fatal(err)
	}
	if got, err := srv.GetObject(ctx, DefaultBucket, key); err != nil || !bytes.Equal(got, body) {
		t.Fatalf("GetObject = %q, %v; want %q", got, err, body)
	}

	// Session credentials from STS, signed with the long-term key.
	stsc := sts.New(sts.Options{
		Region:       srv.Region,
		BaseEndpoint: aws.String(srv.Endpoint),
		Credentials:  credentials.NewStaticCredentialsProvider(srv.AccessKey, srv.SecretKey, ""),
	})
	out, err := stsc.AssumeRole(ctx, &sts.AssumeRoleInput{
		RoleArn:         aws.String(srv.RoleARN),
		RoleSessionName: aws.String("seaweed-test"),
		DurationSeconds: aws.Int32(900),
	})
	if err != nil {
		t.Fatalf("AssumeRole: %v", err)
	}
	c := out.Credentials
	if aws.ToString(c.AccessKeyId) == srv.AccessKey || aws.ToString(c.SessionToken) == "" {
		t.Fatalf("AssumeRole returned no session credentials: %+v", c)
	}
	if left := time.Until(aws.ToTime(c.Expiration)); left < 14*time.Minute || left > 16*time.Minute {
		t.Errorf("session expires in %v, want about 15m", left)
	}

	sessionS3 := s3.New(s3.Options{
		Region:       srv.Region,
		BaseEndpoint: aws.String(srv.Endpoint),
		UsePathStyle: true,
		Credentials: credentials.NewStaticCredentialsProvider(
			aws.ToString(c.AccessKeyId), aws.ToString(c.SecretAccessKey), aws.ToString(c.SessionToken)),
	})
	presigned, err := s3.NewPresignClient(sessionS3).PresignGetObject(ctx, &s3.GetObjectInput{
		Bucket: aws.String(DefaultBucket),
		Key:    aws.String(key),
	}, s3.WithPresignExpires(5*time.Minute))
	if err != nil {
		t.Fatalf("PresignGetObject: %v", err)
	}
	url := presigned.URL
	if !strings.Contains(url, "X-Amz-Security-Token=") {
		t.Fatalf("presigned URL has no session token: %s", url)
	}

	status, got := fetch(t, url, nil)
	if status != http.StatusOK || !bytes.Equal(got, body) {
		t.Fatalf("GET presigned URL = %d %q; want 200 %q", status, got, body)
	}

	tampered := tamperSignature(t, url)
	if status, got := fetch(t, tampered, nil); status != http.StatusForbidden {
		t.Fatalf("GET with altered X-Amz-Signature = %d %q; want 403", status, got)
	} else {
		t.Logf("altered signature: 403 %s", errorCode(got))
	}

	// CORS: a browser's preflight for a PUT from another origin.
	t.Run("CORS", func(t *testing.T) {
		req, err := http.NewRequestWithContext(ctx, http.MethodOptions, srv.Endpoint+"/"+DefaultBucket+"/upload.bin", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Origin", "http://localhost:8080")
		req.Header.Set("Access-Control-Request-Method", "PUT")
		req.Header.Set("Access-Control-Request-Headers", "content-type")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		allow := resp.Header.Get("Access-Control-Allow-Origin")
		if resp.StatusCode != http.StatusOK || (allow != "*" && allow != "http://localhost:8080") {
			t.Fatalf("preflight = %d, Access-Control-Allow-Origin %q; want 200 and the origin allowed", resp.StatusCode, allow)
		}
		t.Logf("preflight: %d, Allow-Origin %q, Allow-Methods %q", resp.StatusCode, allow, resp.Header.Get("Access-Control-Allow-Methods"))
	})

	// Restart: same endpoint, same keys; the URL signed before still works
	// and STS still answers.
	began = time.Now()
	if err := srv.Restart(ctx); err != nil {
		t.Fatalf("Restart: %v", err)
	}
	t.Logf("Restart took %v", time.Since(began).Round(time.Millisecond))
	if status, got := fetch(t, url, nil); status != http.StatusOK || !bytes.Equal(got, body) {
		t.Fatalf("after Restart, GET presigned URL = %d %q; want 200 %q", status, got, body)
	}
	if _, err := stsc.AssumeRole(ctx, &sts.AssumeRoleInput{
		RoleArn:         aws.String(srv.RoleARN),
		RoleSessionName: aws.String("seaweed-test-2"),
		DurationSeconds: aws.Int32(900),
	}); err != nil {
		t.Fatalf("after Restart, AssumeRole: %v", err)
	}
}

// TestStartMissingBinary checks the error names the path and the fix.
func TestStartMissingBinary(t *testing.T) {
	missing := t.TempDir() + "/no-such-weed"
	_, err := Start(context.Background(), Options{Binary: missing, Dir: t.TempDir()})
	if err == nil || !strings.Contains(err.Error(), missing) || !strings.Contains(err.Error(), "scripts/seaweedfs.sh") {
		t.Fatalf("Start with a missing binary: %v", err)
	}
}

func TestParseRequire(t *testing.T) {
	const v = "v0.0.0-20261109003541-7506e5f91cd6"
	for _, gomod := range []string{
		"module x\n\nrequire " + Module + " " + v + "\n",
		"module x\n\nrequire (\n\t" + Module + " " + v + " // indirect\n)\n",
	} {
		if got := parseRequire([]byte(gomod), Module); got != v {
			t.Errorf("parseRequire(%q) = %q, want %q", gomod, got, v)
		}
	}
	if got, err := PinnedVersion(); err != nil || !strings.HasPrefix(got, "v") {
		t.Errorf("PinnedVersion() = %q, %v", got, err)
	}
}

func fetch(t *testing.T, url string, hdr http.Header) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, b
}

// tamperSignature changes one hex digit of X-Amz-Signature.
func tamperSignature(t *testing.T, url string) string {
	t.Helper()
	const p = "X-Amz-Signature="
	i := strings.Index(url, p)
	if i < 0 {
		t.Fatalf("no %s in %s", p, url)
	}
	i += len(p)
	c := byte('0')
	if url[i] == '0' {
		c = '1'
	}
	return url[:i] + string(c) + url[i+1:]
}

// errorCode extracts <Code> from an S3 error body.
func errorCode(b []byte) string {
	s := string(b)
	i, j := strings.Index(s, "<Code>"), strings.Index(s, "</Code>")
	if i < 0 || j < i {
		return strings.TrimSpace(s)
	}
	return s[i+len("<Code>") : j]
}
