package sts

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awssts "github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/sharesvc/sharesvc/internal/seaweed"
)

// The package's tests share one real SeaweedFS, started on first use. If it
// cannot start (binary missing, ports), every test that needs it fails.
var sharedS3 = &seaweed.Shared{Buckets: []string{testBucket, otherBucket}}

const (
	testBucket  = "sharesvc-sts-test"
	otherBucket = "sharesvc-sts-other"
)

func TestMain(m *testing.M) {
	code := m.Run()
	sharedS3.Stop()
	os.Exit(code)
}

func s3server(t testing.TB) *seaweed.Server {
	t.Helper()
	return sharedS3.Get(t)
}

// countingSTS counts AssumeRole calls to the real STS.
type countingSTS struct {
	AssumeRoleAPI
	calls atomic.Int64
}

func (c *countingSTS) AssumeRole(ctx context.Context, in *awssts.AssumeRoleInput, optFns ...func(*awssts.Options)) (*awssts.AssumeRoleOutput, error) {
	c.calls.Add(1)
	return c.AssumeRoleAPI.AssumeRole(ctx, in, optFns...)
}

// realAssume is the production AssumeRole source against srv, counted.
func realAssume(srv *seaweed.Server) (AssumeRole, *countingSTS) {
	c := &countingSTS{AssumeRoleAPI: awssts.New(awssts.Options{
		Region:       srv.Region,
		BaseEndpoint: aws.String(srv.Endpoint),
		Credentials:  credentials.NewStaticCredentialsProvider(srv.AccessKey, srv.SecretKey, ""),
	})}
	return AssumeRole{Client: c, RoleARN: srv.RoleARN, SessionName: "sharesvc-test", Duration: 15 * time.Minute}, c
}

func realScoped(t *testing.T, o ScopedOptions) (*seaweed.Server, *ScopedSigner, *countingSTS) {
	t.Helper()
	srv := s3server(t)
	p, err := NewPresigner(srv.Endpoint, srv.Region, true)
	if err != nil {
		t.Fatal(err)
	}
	base, c := realAssume(srv)
	return srv, NewScopedSigner(base, p, o), c
}

// do sends method to u with body (nil: none) and extra headers, and returns
// the status and response body.
func do(t *testing.T, method, u string, body []byte, hdr ...string) (int, string) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, u, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.ContentLength = int64(len(body))
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// s3Code returns the <Code> of an S3 error body, or "".
func s3Code(body string) string {
	_, after, ok := strings.Cut(body, "<Code>")
	if !ok {
		return ""
	}
	code, _, _ := strings.Cut(after, "</Code>")
	return code
}

// signRaw signs r with g's session without the scope check, to ask S3
// itself about a request the ScopedSigner would refuse.
func signRaw(t *testing.T, s *ScopedSigner, g Grant, r Request) string {
	t.Helper()
	r.Now, r.Expires = g.Now, g.TTL
	u, err := s.presigner.Presign(*g.creds, r)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// A scoped session reads inside its prefix; the real S3 refuses (403) what
// the session policy does not allow even when the URL is validly signed with
// that session, while the unscoped role session reads the same objects.
func TestScopedSessionEnforcedByS3(t *testing.T) {
	srv, s, _ := realScoped(t, ScopedOptions{})
	ctx := context.Background()
	for _, o := range []struct{ bucket, key string }{{testBucket, "in/a.txt"}, {testBucket, "out/b.txt"}, {otherBucket, "in/a.txt"}, {testBucket, "inside.txt"}} {
		if err := srv.PutObject(ctx, o.bucket, o.key, []byte("body of "+o.bucket+"/"+o.key)); err != nil {
			t.Fatal(err)
		}
	}
	sc := Scope{Bucket: testBucket, Prefix: "in/", Actions: Download}
	g, err := s.Grant(ctx, sc, "grant-1", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if g.Session != "sharesvc-test-grant-1" {
		t.Errorf("Session = %q; want sharesvc-test-grant-1", g.Session)
	}
	for _, m := range []string{http.MethodGet, http.MethodHead} {
		u, err := s.Presign(g, Request{Method: m, Bucket: testBucket, Key: "in/a.txt"})
		if err != nil {
			t.Fatal(err)
		}
		if code, body := do(t, m, u, nil); code != http.StatusOK || (m == http.MethodGet && body != "body of "+testBucket+"/in/a.txt") {
			t.Errorf("%s in scope = %d %q; want 200 and the object", m, code, body)
		}
	}

	// The unscoped session of the same role reads everything: the 403s
	// below come from the session policy.
	base, _ := realAssume(srv)
	unscoped := NewSigner(&base, s.presigner, SignerOptions{})
	ug, err := unscoped.Grant(ctx, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	outside := []Request{
		{Method: http.MethodGet, Bucket: testBucket, Key: "out/b.txt"},
		{Method: http.MethodGet, Bucket: otherBucket, Key: "in/a.txt"},
		{Method: http.MethodGet, Bucket: testBucket, Key: "inside.txt"}, // "in" without the slash
		{Method: http.MethodHead, Bucket: testBucket, Key: "out/b.txt"},
	}
	for _, r := range outside {
		if _, err := s.Presign(g, r); !errors.Is(err, ErrOutOfScope) {
			t.Errorf("Presign(%s %s/%s) = %v; want ErrOutOfScope", r.Method, r.Bucket, r.Key, err)
		}
		code, body := do(t, r.Method, signRaw(t, s, g, r), nil)
		if code != http.StatusForbidden {
			t.Errorf("%s %s/%s with the scoped session = %d %.200q; want 403", r.Method, r.Bucket, r.Key, code, body)
		}
		t.Logf("%s %s/%s with the scoped session: %d %s", r.Method, r.Bucket, r.Key, code, s3Code(body))
		uu, err := unscoped.Presign(ug, r)
		if err != nil {
			t.Fatal(err)
		}
		if code, _ := do(t, r.Method, uu, nil); code != http.StatusOK {
			t.Errorf("%s %s/%s with the unscoped session = %d; want 200", r.Method, r.Bucket, r.Key, code)
		}
	}

	// A download-only scope cannot upload, even inside its prefix.
	put := Request{Method: http.MethodPut, Bucket: testBucket, Key: "in/new.txt"}
	if _, err := s.Presign(g, put); !errors.Is(err, ErrOutOfScope) {
		t.Errorf("Presign(PUT) with a download scope = %v; want ErrOutOfScope", err)
	}
	if code, body := do(t, http.MethodPut, signRaw(t, s, g, put), []byte("x")); code != http.StatusForbidden {
		t.Errorf("PUT with a download-only session = %d %.200q; want 403", code, body)
	}
	if _, err := srv.GetObject(ctx, testBucket, "in/new.txt"); err == nil {
		t.Error("in/new.txt exists after a refused PUT")
	}

	// An upload scope may PUT under its prefix and nowhere else, nor read.
	ug2, err := s.Grant(ctx, Scope{Bucket: testBucket, Prefix: "up/", Actions: Upload}, "grant-2", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	u, err := s.Presign(ug2, Request{Method: http.MethodPut, Bucket: testBucket, Key: "up/x.txt"})
	if err != nil {
		t.Fatal(err)
	}
	if code, body := do(t, http.MethodPut, u, []byte("up")); code != http.StatusOK {
		t.Errorf("PUT in an upload scope = %d %.200q; want 200", code, body)
	}
	for _, r := range []Request{
		{Method: http.MethodPut, Bucket: testBucket, Key: "in/x.txt"},
		{Method: http.MethodGet, Bucket: testBucket, Key: "up/x.txt"},
	} {
		var body []byte
		if r.Method == http.MethodPut {
			body = []byte("x")
		}
		if code, _ := do(t, r.Method, signRaw(t, s, ug2, r), body); code != http.StatusForbidden {
			t.Errorf("%s %s with an upload session for up/ = %d; want 403", r.Method, r.Key, code)
		}
	}
}

// With NoOverwrite the real S3 refuses a PUT onto an existing key (412) and
// keeps the original; a new key is written. The client must send the header.
func TestNoOverwriteEnforcedByS3(t *testing.T) {
	srv, s, _ := realScoped(t, ScopedOptions{})
	ctx := context.Background()
	if err := srv.PutObject(ctx, testBucket, "drop/exists.txt", []byte("original")); err != nil {
		t.Fatal(err)
	}
	g, err := s.Grant(ctx, Scope{Bucket: testBucket, Prefix: "drop/", Actions: Upload | Download}, "grant-3", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	sign := func(key string, noOverwrite bool) string {
		u, err := s.Presign(g, Request{Method: http.MethodPut, Bucket: testBucket, Key: key, NoOverwrite: noOverwrite})
		if err != nil {
			t.Fatal(err)
		}
		return u
	}
	code, body := do(t, http.MethodPut, sign("drop/exists.txt", true), []byte("replaced"), "If-None-Match", "*")
	if code != http.StatusPreconditionFailed {
		t.Errorf("If-None-Match PUT onto an existing key = %d %.300q; want 412", code, body)
	}
	t.Logf("If-None-Match PUT onto an existing key: %d %s", code, s3Code(body))
	// Leaving the signed header out breaks the signature.
	if code, _ := do(t, http.MethodPut, sign("drop/exists.txt", true), []byte("replaced")); code != http.StatusForbidden {
		t.Errorf("NoOverwrite URL sent without If-None-Match = %d; want 403", code)
	}
	if got, err := srv.GetObject(ctx, testBucket, "drop/exists.txt"); err != nil || string(got) != "original" {
		t.Fatalf("after refused PUTs the object is %q, %v; want %q", got, err, "original")
	}
	if code, body := do(t, http.MethodPut, sign("drop/new.txt", true), []byte("fresh"), "If-None-Match", "*"); code != http.StatusOK {
		t.Errorf("If-None-Match PUT onto a new key = %d %.300q; want 200", code, body)
	}
	if got, err := srv.GetObject(ctx, testBucket, "drop/new.txt"); err != nil || string(got) != "fresh" {
		t.Fatalf("new key holds %q, %v; want %q", got, err, "fresh")
	}
	// Racing uploads to one new key: exactly one wins, and its bytes stay.
	const racers = 8
	codes := make([]int, racers)
	var wg sync.WaitGroup
	for i := range racers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			codes[i], _ = do(t, http.MethodPut, sign("drop/race.txt", true), []byte{'0' + byte(i)}, "If-None-Match", "*")
		}()
	}
	wg.Wait()
	winner := -1
	for i, c := range codes {
		switch c {
		case http.StatusOK:
			if winner >= 0 {
				t.Errorf("racing If-None-Match PUTs: racers %d and %d both got 200 (%v)", winner, i, codes)
			}
			winner = i
		case http.StatusPreconditionFailed, http.StatusConflict:
		default:
			t.Errorf("racing If-None-Match PUT %d = %d; want 200, 412 or 409", i, c)
		}
	}
	t.Logf("racing If-None-Match PUTs to one new key: %v", codes)
	if got, err := srv.GetObject(ctx, testBucket, "drop/race.txt"); err != nil || winner < 0 || string(got) != string(rune('0'+winner)) {
		t.Errorf("after the race the object is %q, %v; want the winner's %d", got, err, winner)
	}

	// Without NoOverwrite the same PUT replaces the object.
	if code, _ := do(t, http.MethodPut, sign("drop/exists.txt", false), []byte("replaced")); code != http.StatusOK {
		t.Errorf("plain PUT onto an existing key = %d; want 200", code)
	}
	if got, _ := srv.GetObject(ctx, testBucket, "drop/exists.txt"); string(got) != "replaced" {
		t.Errorf("plain PUT: object is %q; want %q", got, "replaced")
	}
}

// A URL for a declared empty upload under a size cap (ExactLength) signs
// content-length: 0, so the real S3 refuses a 1 MiB body; without
// ExactLength nothing about the size is signed and the 1 MiB body is stored.
func TestExactLengthZeroEnforcedByS3(t *testing.T) {
	srv, s, _ := realScoped(t, ScopedOptions{})
	ctx := context.Background()
	g, err := s.Grant(ctx, Scope{Bucket: testBucket, Prefix: "cap/", Actions: Upload}, "grant-4", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	big := bytes.Repeat([]byte("x"), 1<<20)
	u, err := s.Presign(g, Request{Method: http.MethodPut, Bucket: testBucket, Key: "cap/empty", ExactLength: true})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(u, "X-Amz-SignedHeaders=content-length%3Bhost") {
		t.Fatalf("ExactLength with ContentLength 0 does not sign content-length: %s", u[strings.Index(u, "X-Amz-SignedHeaders"):])
	}
	code, body := do(t, http.MethodPut, u, big)
	if code != http.StatusForbidden {
		t.Errorf("1 MiB body on a content-length 0 URL = %d %.300q; want 403", code, body)
	}
	t.Logf("1 MiB body on a content-length 0 URL: %d %s", code, s3Code(body))
	if _, err := srv.GetObject(ctx, testBucket, "cap/empty"); err == nil {
		t.Error("cap/empty exists after the refused 1 MiB PUT")
	}
	if code, body := do(t, http.MethodPut, u, []byte{}); code != http.StatusOK {
		t.Errorf("empty body on a content-length 0 URL = %d %.300q; want 200", code, body)
	}
	// The old behaviour: a declared 0 signed nothing about the size.
	loose, err := s.Presign(g, Request{Method: http.MethodPut, Bucket: testBucket, Key: "cap/loose"})
	if err != nil {
		t.Fatal(err)
	}
	if code, _ := do(t, http.MethodPut, loose, big); code != http.StatusOK {
		t.Errorf("1 MiB body on a URL without a signed length = %d; want 200 (nothing to refuse it)", code)
	}
}

// Concurrent first use of one scope makes one AssumeRole call; the cache of
// scopes stays within MaxScopes and an evicted scope assumes again.
func TestScopedSessionsReal(t *testing.T) {
	_, s, c := realScoped(t, ScopedOptions{MaxScopes: 3})
	ctx := context.Background()
	sc := Scope{Bucket: testBucket, Prefix: "conc/", Actions: Download}
	var wg sync.WaitGroup
	for range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := s.Grant(ctx, sc, "grant-c", time.Minute); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if n := c.calls.Load(); n != 1 {
		t.Fatalf("AssumeRole calls for 64 concurrent first grants of one scope = %d; want 1", n)
	}
	for i := range 5 {
		if _, err := s.Grant(ctx, Scope{Bucket: testBucket, Prefix: "p" + string(rune('0'+i)) + "/", Actions: Download}, "grant-l", time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	if s.Len() != 3 || c.calls.Load() != 6 {
		t.Fatalf("after 6 scopes with MaxScopes 3: Len %d, AssumeRole calls %d; want 3, 6", s.Len(), c.calls.Load())
	}
	if _, err := s.Grant(ctx, sc, "grant-c", time.Minute); err != nil || c.calls.Load() != 7 {
		t.Fatalf("evicted scope: AssumeRole calls %d, %v; want 7", c.calls.Load(), err)
	}
	s.Drop()
	if _, err := s.Grant(ctx, sc, "grant-c", time.Minute); err != nil || c.calls.Load() != 8 || s.Len() != 1 {
		t.Fatalf("after Drop: calls %d, Len %d, %v; want 8, 1", c.calls.Load(), s.Len(), err)
	}
}
