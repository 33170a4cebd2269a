package sts

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// fixedClockPresigner is the SDK's own default S3 presigner (a v4.Signer with
// DisableURIPathEscaping, as s3.newDefaultV4Signer builds it) with the signing
// time pinned, so golden comparisons are deterministic.
type fixedClockPresigner struct {
	signer *v4.Signer
	at     time.Time
}

func (f fixedClockPresigner) PresignHTTP(ctx context.Context, creds aws.Credentials, r *http.Request,
	payloadHash, service, region string, _ time.Time, optFns ...func(*v4.SignerOptions),
) (string, http.Header, error) {
	return f.signer.PresignHTTP(ctx, creds, r, payloadHash, service, region, f.at, optFns...)
}

type target struct {
	endpoint  string
	region    string
	pathStyle bool
}

func (tg target) String() string {
	ep := tg.endpoint
	if ep == "" {
		ep = "aws"
	}
	return fmt.Sprintf("%s/%s/path=%v", ep, tg.region, tg.pathStyle)
}

// s3Options sets on an S3 client what tg configures.
func (tg target) s3Options(o *s3.Options) {
	if tg.endpoint != "" {
		o.BaseEndpoint = aws.String(tg.endpoint)
	}
	o.UsePathStyle = tg.pathStyle
}

// sdkPresignClient builds an s3.PresignClient as the service would, except
// for the pinned clock (nil at means the SDK's real clock).
func sdkPresignClient(tg target, c Credentials, expires time.Duration, at *time.Time) *s3.PresignClient {
	return sdkPresignClientFor(aws.Config{Region: tg.region}, c, expires, at, tg.s3Options)
}

// sdkPresignClientFor builds an s3.PresignClient from cfg and optFns, signing
// with c, with the clock pinned to at (nil means the SDK's real clock).
func sdkPresignClientFor(cfg aws.Config, c Credentials, expires time.Duration, at *time.Time, optFns ...func(*s3.Options)) *s3.PresignClient {
	cfg.Credentials = credentials.NewStaticCredentialsProvider(c.AccessKeyID, c.SecretAccessKey, c.SessionToken)
	client := s3.NewFromConfig(cfg, optFns...)
	return s3.NewPresignClient(client, func(o *s3.PresignOptions) {
		o.Expires = expires
		if at != nil {
			o.Presigner = fixedClockPresigner{
				signer: v4.NewSigner(func(so *v4.SignerOptions) { so.DisableURIPathEscaping = true }),
				at:     *at,
			}
		}
	})
}

func sdkPresignWith(pc *s3.PresignClient, r Request) (string, error) {
	ctx := context.Background()
	var res *v4.PresignedHTTPRequest
	var err error
	switch r.Method {
	case http.MethodGet:
		in := &s3.GetObjectInput{Bucket: aws.String(r.Bucket), Key: aws.String(r.Key)}
		if r.ResponseContentDisposition != "" {
			in.ResponseContentDisposition = aws.String(r.ResponseContentDisposition)
		}
		res, err = pc.PresignGetObject(ctx, in)
	case http.MethodPut:
		in := &s3.PutObjectInput{Bucket: aws.String(r.Bucket), Key: aws.String(r.Key)}
		if r.ContentType != "" {
			in.ContentType = aws.String(r.ContentType)
		}
		if r.ContentLength > 0 {
			in.ContentLength = aws.Int64(r.ContentLength)
		}
		if r.NoOverwrite {
			in.IfNoneMatch = aws.String("*")
		}
		if r.ContentDisposition != "" {
			in.ContentDisposition = aws.String(r.ContentDisposition)
		}
		if r.Metadata != nil {
			in.Metadata = r.Metadata
		}
		res, err = pc.PresignPutObject(ctx, in)
	case http.MethodHead:
		res, err = pc.PresignHeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(r.Bucket), Key: aws.String(r.Key)})
	default:
		return "", fmt.Errorf("test helper: unsupported method %q", r.Method)
	}
	if err != nil {
		return "", err
	}
	return res.URL, nil
}

func sdkPresign(tg target, c Credentials, r Request) (string, error) {
	at := r.Now
	return sdkPresignWith(sdkPresignClient(tg, c, r.Expires, &at), r)
}

// compareWithSDK presigns r with both implementations and reports a mismatch with both URLs.
func compareWithSDK(t *testing.T, p *Presigner, tg target, c Credentials, r Request) {
	t.Helper()
	compareWithSDKClient(t, p, tg.String(), func(at time.Time) *s3.PresignClient {
		return sdkPresignClient(tg, c, r.Expires, &at)
	}, c, r)
}

// compareWithSDKClient is compareWithSDK with the SDK's client built by
// sdk(signing time). Both refusing the request (a bucket the endpoint
// resolver refuses) counts as agreement.
func compareWithSDKClient(t *testing.T, p *Presigner, name string, sdk func(at time.Time) *s3.PresignClient, c Credentials, r Request) {
	t.Helper()
	ours, oursErr := p.Presign(c, r)
	want, sdkErr := sdkPresignWith(sdk(r.Now), r)
	switch {
	case oursErr != nil && sdkErr != nil:
		if !errors.Is(oursErr, ErrInvalidRequest) {
			t.Errorf("%s %s %q (bucket %q): both refuse, ours with %v; want ErrInvalidRequest", name, r.Method, r.Key, r.Bucket, oursErr)
		}
	case oursErr != nil:
		t.Errorf("%s %s %q (bucket %q): ours failed: %v", name, r.Method, r.Key, r.Bucket, oursErr)
	case sdkErr != nil:
		t.Errorf("%s %s %q (bucket %q): SDK failed: %v", name, r.Method, r.Key, r.Bucket, sdkErr)
	case ours != want:
		t.Errorf("%s %s %q (bucket %q): URL mismatch\n ours: %s\n sdk:  %s", name, r.Method, r.Key, r.Bucket, ours, want)
	}
}

func mustPresigner(t testing.TB, tg target) *Presigner {
	t.Helper()
	p, err := NewPresigner(tg.endpoint, tg.region, tg.pathStyle)
	if err != nil {
		t.Fatalf("NewPresigner(%q, %q, %v): %v", tg.endpoint, tg.region, tg.pathStyle, err)
	}
	return p
}

var (
	testNow = time.Date(2025, 3, 4, 5, 6, 7, 890, time.UTC)

	// A token shaped like a real STS session token (base64, ~760 bytes).
	testToken = func() string {
		var raw []byte
		seed := sha256.Sum256([]byte("session"))
		for len(raw) < 570 {
			raw = append(raw, seed[:]...)
			seed = sha256.Sum256(seed[:])
		}
		return "IQoJb3JpZ2luX2VjE" + base64.StdEncoding.EncodeToString(raw[:558])
	}()

	sessionCreds = Credentials{
		AccessKeyID:     "ASIAQEXAMPLEEXAMPLE7",
		SecretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
		SessionToken:    testToken,
		Expires:         testNow.Add(time.Hour),
		SessionName:     "sharesvc-test",
	}
	longTermCreds = Credentials{
		AccessKeyID:     "AKIAIOSFODNN7EXAMPLE",
		SecretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
	}
)

// trickyKeys are object keys whose encoding is easy to get wrong.
var trickyKeys = []string{
	"plain.txt",
	"dir/sub/file.txt",
	"with spaces/report final.pdf",
	"résumé.pdf",             // NFC
	"re\u0301sume\u0301.pdf", // NFD, combining acute accents
	"emoji-😀/🚀 launch.png",   // 4-byte UTF-8
	"日本語/ファイル.txt",           // CJK
	"a+b+c",
	"100%",
	"100%25",
	"a%2Fb",
	"a//b",
	"/leading-slash",
	"//double-leading",
	"trailing/",
	"/",
	"../a",
	"a/../../b",
	"a/./b",
	".",
	"..",
	"a#b",
	"a?b=c&d",
	"a*b",
	"${aws:username}/x",
	"~user/.profile",
	"ctl\x01x",
	"tab\tx",
	"newline\nx\r",
	"del\x7fx",
	"nbsp\u00a0ls\u2028ps\ufeff",
	`quotes"'and<>[]{}|\^` + "`",
	"sub-delims!$&'()*+,;=:@",
	"all ascii " + allASCII(),
	strings.Repeat("k", 1024),
	strings.Repeat("é", 512), // 1024 bytes, all escaped
	strings.Repeat("a/", 512),
}

func allASCII() string {
	var b strings.Builder
	for c := 1; c < 0x80; c++ {
		b.WriteByte(byte(c))
	}
	return b.String()
}

func TestGoldenKeys(t *testing.T) {
	targets := []target{
		{"http://127.0.0.1:18333", "us-east-1", true},
		{"", "us-east-1", false},
		{"", "eu-west-1", false},
		{"", "eu-west-1", true},
	}
	for _, tg := range targets {
		p := mustPresigner(t, tg)
		for _, creds := range []Credentials{sessionCreds, longTermCreds} {
			for _, key := range trickyKeys {
				for _, m := range []string{http.MethodGet, http.MethodPut} {
					compareWithSDK(t, p, tg, creds, Request{
						Method: m, Bucket: "share-bucket-01", Key: key, Expires: 15 * time.Minute, Now: testNow,
					})
				}
			}
		}
	}
}

func TestGoldenRequestVariants(t *testing.T) {
	const disposition = `attachment; filename="report final.pdf"; filename*=UTF-8''r%C3%A9sum%C3%A9.pdf`
	targets := []target{
		{"http://127.0.0.1:18333", "us-east-1", true},
		{"", "us-east-1", false},
		{"", "eu-west-1", false},
	}
	reqs := []Request{
		{Method: http.MethodGet, ResponseContentDisposition: disposition},
		{Method: http.MethodGet, ResponseContentDisposition: "inline"},
		{Method: http.MethodGet, Expires: time.Second},
		{Method: http.MethodGet, Expires: 7 * 24 * time.Hour},
		{Method: http.MethodHead},
		{Method: http.MethodPut, ContentType: "application/pdf", ContentLength: 1 << 20},
		{Method: http.MethodPut, ContentType: "text/plain; charset=utf-8"},
		{Method: http.MethodPut, ContentType: "  text/plain;   charset=utf-8  "},
		{Method: http.MethodPut, ContentType: "\ttext/plain \t"},
		{Method: http.MethodPut, ContentLength: 1},
		{Method: http.MethodPut, ContentLength: 5 << 40},
		{Method: http.MethodPut, ContentType: "application/octet-stream", ContentLength: 123456789},
		{Method: http.MethodPut, NoOverwrite: true},
		{Method: http.MethodPut, NoOverwrite: true, ContentLength: 42},
		{Method: http.MethodPut, NoOverwrite: true, ContentType: "image/png"},
		{Method: http.MethodPut, NoOverwrite: true, ContentType: "application/pdf", ContentLength: 1 << 20, ExactLength: true},
		{Method: http.MethodPut, ContentLength: 7, ExactLength: true},
		{Method: http.MethodPut, Expires: 3600 * time.Second, Now: time.Date(2024, 12, 31, 23, 59, 59, 999999999, time.UTC)},
		{Method: http.MethodGet, Now: time.Date(2025, 1, 1, 1, 2, 3, 0, time.FixedZone("CET", 3600))}, // previous UTC day
		{Method: http.MethodGet, Bucket: "my.dotted.bucket"},
		{Method: http.MethodPut, Bucket: "my.dotted.bucket", ContentType: "image/png"},
		{Method: http.MethodGet, Bucket: "abc"},
		{Method: http.MethodGet, Bucket: strings.Repeat("b", 63)},
		{Method: http.MethodPut, ContentDisposition: `attachment; filename="Gr__e _Q3_  report.pdf"; filename*=UTF-8''Gr%C3%BC%C3%9Fe%20%22Q3%22%20report.pdf`},
		{Method: http.MethodPut, Metadata: map[string]string{"filename": "Gr%C3%BC%C3%9Fe%20%22Q3%22.pdf"}},
		{Method: http.MethodPut, NoOverwrite: true, ContentType: "application/pdf", ContentLength: 1 << 20, ExactLength: true,
			ContentDisposition: disposition, Metadata: map[string]string{"filename": "a b", "z-last": "1", "a-first": " spaced  out "}},
	}
	for _, tg := range targets {
		p := mustPresigner(t, tg)
		for _, creds := range []Credentials{sessionCreds, longTermCreds} {
			for _, r := range reqs {
				if r.Bucket == "" {
					r.Bucket = "share-bucket-01"
				}
				if r.Expires == 0 {
					r.Expires = 10 * time.Minute
				}
				if r.Now.IsZero() {
					r.Now = testNow
				}
				for _, key := range []string{"reports/Q3 résumé.pdf", "a+b/%2F?#"} {
					r.Key = key
					compareWithSDK(t, p, tg, creds, r)
				}
			}
		}
	}
}

// TestGoldenEndpoints covers addressing: virtual-hosted vs path style,
// dotted buckets, IP hosts, ports, base paths.
func TestGoldenEndpoints(t *testing.T) {
	endpoints := []string{
		"",
		"http://127.0.0.1:18333",
		"http://127.0.0.1:18333/",
		"http://[::1]:9000",
		"http://minio.local:9000",
		"http://minio:9000",
		"http://MinIO.Local:9000",
		"https://minio.example.com",
		"https://minio.example.com:443",
		"http://minio.example.com:80",
		"http://minio.example.com:80/base",
		"https://s3.example.com/base/",
		"https://s3.example.com/a/b-c_d.e~f",
		"http://192.168.1.10",
	}
	for _, ep := range endpoints {
		for _, region := range []string{"us-east-1", "eu-west-1"} {
			for _, ps := range []bool{false, true} {
				tg := target{ep, region, ps}
				p := mustPresigner(t, tg)
				// Over http the SDK virtual-hosts a dotted name whose labels
				// are all 3+ characters long (even on an IP host), and
				// refuses it with an IPv6 host; both must do the same.
				for _, bucket := range []string{"share-bucket-01", "my.dotted.bucket", "reports.example.org", "b12"} {
					for _, key := range []string{"a b/c", "/lead", "trail/"} {
						for _, m := range []string{http.MethodGet, http.MethodPut} {
							compareWithSDK(t, p, tg, sessionCreds, Request{
								Method: m, Bucket: bucket, Key: key, Expires: time.Hour, Now: testNow,
							})
						}
					}
				}
			}
		}
	}
	// Regions that only make sense with a custom endpoint.
	for _, region := range []string{"garage", "local", "us-east-1x", "Region-1"} {
		tg := target{"http://127.0.0.1:18333", region, true}
		compareWithSDK(t, mustPresigner(t, tg), tg, sessionCreds, Request{
			Method: http.MethodGet, Bucket: "share-bucket-01", Key: "k", Expires: time.Hour, Now: testNow,
		})
	}
}

// TestGoldenPartitions checks the default endpoint in every AWS partition.
func TestGoldenPartitions(t *testing.T) {
	regions := []string{
		"us-east-1", "us-east-2", "us-west-2", "eu-central-1", "ap-southeast-5", "sa-east-1", "mx-central-1",
		"ap-east-2", "ap-southeast-6", "ap-southeast-7", "ca-west-1", "il-central-1", // the latest regions
		"ap-future-9",   // unlisted, matches the aws partition regex
		"garage",        // matches no partition: the SDK takes the aws partition, and so do we
		"aws-cn-global", // S3's rules treat only aws-global as global
		"cn-north-1", "cn-northwest-1",
		"us-gov-west-1", "us-gov-east-1",
		"us-iso-east-1", "us-isob-east-1", "eu-isoe-west-1", "us-isof-south-1",
		"eusc-de-east-1",
	}
	for _, region := range regions {
		for _, ps := range []bool{false, true} {
			tg := target{"", region, ps}
			p := mustPresigner(t, tg)
			for _, bucket := range []string{"share-bucket-01", "my.dotted.bucket"} {
				compareWithSDK(t, p, tg, sessionCreds, Request{
					Method: http.MethodGet, Bucket: bucket, Key: "x/y z", Expires: time.Hour, Now: testNow,
				})
			}
		}
	}
}

// TestGoldenSDKDefaultPresigner compares with the SDK's unmodified presign
// client (real clock), reading the signing time back from its URL.
func TestGoldenSDKDefaultPresigner(t *testing.T) {
	for _, tg := range []target{{"http://127.0.0.1:18333", "us-east-1", true}, {"", "eu-west-1", false}} {
		p := mustPresigner(t, tg)
		for _, r := range []Request{
			{Method: http.MethodGet, Key: "a b/ü+%2F", ResponseContentDisposition: `attachment; filename="x y.pdf"`},
			{Method: http.MethodPut, Key: "up/load.bin", ContentType: "application/pdf", ContentLength: 42},
			{Method: http.MethodPut, Key: "up/load.bin", ContentType: "application/pdf", ContentLength: 42, NoOverwrite: true},
		} {
			r.Bucket, r.Expires = "share-bucket-01", 5*time.Minute
			want, err := sdkPresignWith(sdkPresignClient(tg, sessionCreds, r.Expires, nil), r)
			if err != nil {
				t.Fatal(err)
			}
			u, err := url.Parse(want)
			if err != nil {
				t.Fatal(err)
			}
			r.Now, err = time.Parse("20060102T150405Z", u.Query().Get("X-Amz-Date"))
			if err != nil {
				t.Fatal(err)
			}
			got, err := p.Presign(sessionCreds, r)
			if err != nil {
				t.Fatal(err)
			}
			if got != want {
				t.Errorf("%v %s: URL mismatch\n ours: %s\n sdk:  %s", tg, r.Method, got, want)
			}
		}
	}
}

// TestPresignPathDecodesToKey checks that decoding our URL's path once (as
// S3 does) yields exactly the key.
func TestPresignPathDecodesToKey(t *testing.T) {
	for _, tg := range []target{{"http://127.0.0.1:18333", "us-east-1", true}, {"", "eu-west-1", false}} {
		p := mustPresigner(t, tg)
		prefix := "/"
		if tg.pathStyle {
			prefix = "/share-bucket-01/"
		}
		for _, key := range trickyKeys {
			s, err := p.Presign(sessionCreds, Request{Method: http.MethodGet, Bucket: "share-bucket-01", Key: key, Expires: time.Minute, Now: testNow})
			if err != nil {
				t.Fatalf("%q: %v", key, err)
			}
			u, err := url.Parse(s)
			if err != nil {
				t.Fatalf("%q: url.Parse: %v", key, err)
			}
			if got, ok := strings.CutPrefix(u.Path, prefix); !ok || got != key {
				t.Errorf("%v: key %q: url.Path = %q, want prefix %q + key", tg, key, u.Path, prefix)
			}
			dec, err := url.PathUnescape(u.EscapedPath())
			if err != nil {
				t.Fatalf("%q: PathUnescape: %v", key, err)
			}
			if got, ok := strings.CutPrefix(dec, prefix); !ok || got != key {
				t.Errorf("%v: key %q: decoded escaped path %q, want prefix %q + key", tg, key, dec, prefix)
			}
			q := u.Query()
			if q.Get("X-Amz-Security-Token") != sessionCreds.SessionToken || q.Get("X-Amz-Expires") != "60" || len(q.Get("X-Amz-Signature")) != 64 {
				t.Errorf("%q: query does not round-trip: %v", key, q)
			}
		}
	}
}

func TestPresignInvalidRequests(t *testing.T) {
	p := mustPresigner(t, target{"http://127.0.0.1:18333", "us-east-1", true})
	valid := Request{Method: http.MethodGet, Bucket: "share-bucket-01", Key: "k", Expires: time.Hour, Now: testNow}
	if _, err := p.Presign(sessionCreds, valid); err != nil {
		t.Fatalf("valid request rejected: %v", err)
	}
	cases := []struct {
		name  string
		field string // must appear in the error message
		mod   func(*Request)
		creds *Credentials
	}{
		{"empty key", "key", func(r *Request) { r.Key = "" }, nil},
		{"1025-byte key", "key", func(r *Request) { r.Key = strings.Repeat("k", 1025) }, nil},
		{"1025-byte unicode key", "key", func(r *Request) { r.Key = strings.Repeat("é", 512) + "x" }, nil},
		{"invalid UTF-8 key", "key", func(r *Request) { r.Key = "bad\xffkey" }, nil},
		{"truncated UTF-8 key", "key", func(r *Request) { r.Key = "caf\xc3" }, nil},
		{"expires 0", "expires", func(r *Request) { r.Expires = 0 }, nil},
		{"expires 0.5s", "expires", func(r *Request) { r.Expires = 500 * time.Millisecond }, nil},
		{"expires 1.5s", "expires", func(r *Request) { r.Expires = 1500 * time.Millisecond }, nil},
		{"expires negative", "expires", func(r *Request) { r.Expires = -time.Second }, nil},
		{"expires 604801s", "expires", func(r *Request) { r.Expires = 604801 * time.Second }, nil},
		{"bucket empty", "bucket", func(r *Request) { r.Bucket = "" }, nil},
		{"bucket too short", "bucket", func(r *Request) { r.Bucket = "ab" }, nil},
		{"bucket too long", "bucket", func(r *Request) { r.Bucket = strings.Repeat("b", 64) }, nil},
		{"bucket upper case", "bucket", func(r *Request) { r.Bucket = "My-Bucket" }, nil},
		{"bucket underscore", "bucket", func(r *Request) { r.Bucket = "my_bucket" }, nil},
		{"bucket leading hyphen", "bucket", func(r *Request) { r.Bucket = "-bucket" }, nil},
		{"bucket trailing dot", "bucket", func(r *Request) { r.Bucket = "bucket." }, nil},
		{"bucket adjacent dots", "bucket", func(r *Request) { r.Bucket = "my..bucket" }, nil},
		{"bucket IP", "bucket", func(r *Request) { r.Bucket = "192.168.5.4" }, nil},
		{"bucket xn--", "bucket", func(r *Request) { r.Bucket = "xn--bucket" }, nil},
		{"bucket directory", "bucket", func(r *Request) { r.Bucket = "bucket--usw2-az1--x-s3" }, nil},
		{"bucket alias", "bucket", func(r *Request) { r.Bucket = "ap-abc-s3alias" }, nil},
		{"bucket ARN", "bucket", func(r *Request) { r.Bucket = "arn:aws:s3:::bucket" }, nil},
		{"bucket with slash", "bucket", func(r *Request) { r.Bucket = "bucket/x" }, nil},
		{"method lower case", "method", func(r *Request) { r.Method = "get" }, nil},
		{"method PATCH", "method", func(r *Request) { r.Method = http.MethodPatch }, nil},
		{"part on GET", "part", func(r *Request) { r.PartNumber = 1 }, nil},
		{"part without upload id", "part", func(r *Request) { r.Method, r.PartNumber = http.MethodPut, 1 }, nil},
		{"part 10001", "part", func(r *Request) { r.Method, r.PartNumber, r.UploadID = http.MethodPut, 10001, "u" }, nil},
		{"upload id on GET", "upload id", func(r *Request) { r.UploadID = "u" }, nil},
		{"upload id with newline", "upload id", func(r *Request) { r.Method, r.UploadID = http.MethodPost, "u\nx" }, nil},
		{"no overwrite on multipart start", "overwrite", func(r *Request) { r.Method, r.NoOverwrite = http.MethodPost, true }, nil},
		{"method DELETE", "method", func(r *Request) { r.Method = http.MethodDelete }, nil},
		{"method empty", "method", func(r *Request) { r.Method = "" }, nil},
		{"zero time", "now", func(r *Request) { r.Now = time.Time{} }, nil},
		{"disposition on PUT", "disposition", func(r *Request) { r.Method, r.ResponseContentDisposition = http.MethodPut, "inline" }, nil},
		{"content type on GET", "content type", func(r *Request) { r.ContentType = "text/plain" }, nil},
		{"content length on GET", "content", func(r *Request) { r.ContentLength = 1 }, nil},
		{"exact length on GET", "length", func(r *Request) { r.ExactLength = true }, nil},
		{"no overwrite on HEAD", "overwrite", func(r *Request) { r.Method, r.NoOverwrite = http.MethodHead, true }, nil},
		{"negative content length", "content length", func(r *Request) { r.Method, r.ContentLength = http.MethodPut, -1 }, nil},
		{"content type with newline", "content type", func(r *Request) { r.Method, r.ContentType = http.MethodPut, "text/plain\r\nX-Evil: 1" }, nil},
		{"content disposition on GET", "content disposition", func(r *Request) { r.ContentDisposition = "attachment" }, nil},
		{"metadata on a part", "metadata", func(r *Request) {
			r.Method, r.PartNumber, r.UploadID, r.Metadata = http.MethodPut, 1, "u", map[string]string{"filename": "x"}
		}, nil},
		{"metadata on multipart completion", "metadata", func(r *Request) {
			r.Method, r.UploadID, r.Metadata = http.MethodPost, "u", map[string]string{"filename": "x"}
		}, nil},
		{"content disposition with newline", "content disposition", func(r *Request) {
			r.Method, r.ContentDisposition = http.MethodPut, "attachment\r\nX-Evil: 1"
		}, nil},
		{"content disposition not ASCII", "content disposition", func(r *Request) {
			r.Method, r.ContentDisposition = http.MethodPut, `attachment; filename="Grüße"`
		}, nil},
		{"metadata name upper case", "metadata name", func(r *Request) { r.Method, r.Metadata = http.MethodPut, map[string]string{"FileName": "x"} }, nil},
		{"metadata name empty", "metadata name", func(r *Request) { r.Method, r.Metadata = http.MethodPut, map[string]string{"": "x"} }, nil},
		{"metadata name with colon", "metadata name", func(r *Request) { r.Method, r.Metadata = http.MethodPut, map[string]string{"a:b": "x"} }, nil},
		{"metadata value not ASCII", "metadata filename", func(r *Request) { r.Method, r.Metadata = http.MethodPut, map[string]string{"filename": "Grüße"} }, nil},
		{"no access key", "credentials", func(*Request) {}, &Credentials{SecretAccessKey: "s"}},
		{"no secret", "credentials", func(*Request) {}, &Credentials{AccessKeyID: "a"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := valid
			tc.mod(&r)
			c := sessionCreds
			if tc.creds != nil {
				c = *tc.creds
			}
			u, err := p.Presign(c, r)
			if !errors.Is(err, ErrInvalidRequest) {
				t.Fatalf("Presign = %q, %v; want ErrInvalidRequest", u, err)
			}
			if u != "" {
				t.Errorf("URL %q returned with error", u)
			}
			if !strings.Contains(err.Error(), tc.field) {
				t.Errorf("error %q does not name the field %q", err, tc.field)
			}
		})
	}
}

func TestPresignNewPresignerErrors(t *testing.T) {
	bad := []struct{ endpoint, region string }{
		{"", ""},
		{"", "aws-global"},     // pseudo region: signed for us-east-1
		{"", "fips-us-east-1"}, // pseudo region
		{"", "us-gov-west-1-fips"},
		{"", "us-east-1."},
		{"", "-us-east-1"},
		{"", strings.Repeat("r", 64)},
		{"http://127.0.0.1:18333", "us east 1"},
		{"ftp://127.0.0.1", "us-east-1"},
		{"127.0.0.1:18333", "us-east-1"},
		{"http://", "us-east-1"},
		{"http:///path", "us-east-1"},
		{"http://user:pw@127.0.0.1", "us-east-1"},
		{"http://127.0.0.1?x=1", "us-east-1"},
		{"http://127.0.0.1?", "us-east-1"},
		{"http://127.0.0.1#frag", "us-east-1"},
		{"http://[fe80::1%25eth0]:9000", "us-east-1"},
		{"http://127.0.0.1/my%20base", "us-east-1"},
		{"http://127.0.0.1/a:b", "us-east-1"},
		{"http://127.0.0.1/%7Ebase", "us-east-1"},
		{"http://127.0.0.1 /", "us-east-1"},
	}
	for _, b := range bad {
		if p, err := NewPresigner(b.endpoint, b.region, false); !errors.Is(err, ErrInvalidRequest) {
			t.Errorf("NewPresigner(%q, %q) = %v, %v; want ErrInvalidRequest", b.endpoint, b.region, p, err)
		}
	}
}

// TestPresignKeyCache alternates secrets and days on one Presigner,
// sequentially and concurrently, and checks every URL against a fresh
// Presigner (whose cache is empty).
func TestPresignKeyCache(t *testing.T) {
	tg := target{"", "eu-west-1", false}
	shared := mustPresigner(t, tg)
	other := sessionCreds
	other.SecretAccessKey = "a-different-secret-that-is-longer-than-sixty-four-bytes-in-total-0123456789"
	type job struct {
		c    Credentials
		r    Request
		want string
	}
	var jobs []job
	for i := range 8 {
		c := sessionCreds
		if i%2 == 1 {
			c = other
		}
		r := Request{Method: http.MethodGet, Bucket: "share-bucket-01", Key: fmt.Sprintf("k%d", i), Expires: time.Hour,
			Now: testNow.Add(time.Duration(i/4) * 24 * time.Hour)}
		want, err := mustPresigner(t, tg).Presign(c, r)
		if err != nil {
			t.Fatal(err)
		}
		jobs = append(jobs, job{c, r, want})
	}
	// The long secret must also match the SDK.
	compareWithSDK(t, shared, tg, other, jobs[1].r)

	for _, j := range jobs {
		if got, _ := shared.Presign(j.c, j.r); got != j.want {
			t.Errorf("sequential %q: got %s, want %s", j.r.Key, got, j.want)
		}
	}
	var wg sync.WaitGroup
	errs := make(chan string, 64)
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 200 {
				j := jobs[(g+i)%len(jobs)]
				if got, err := shared.Presign(j.c, j.r); got != j.want || err != nil {
					select {
					case errs <- fmt.Sprintf("concurrent %q: got %s, %v", j.r.Key, got, err):
					default:
					}
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}

func TestPresignAllocs(t *testing.T) {
	p := mustPresigner(t, target{"", "eu-west-1", false})
	r := benchRequest()
	if _, err := p.Presign(sessionCreds, r); err != nil {
		t.Fatal(err)
	}
	allocs := testing.AllocsPerRun(200, func() { _, _ = p.Presign(sessionCreds, r) })
	if allocs > 2 {
		t.Errorf("Presign: %.1f allocs/op, want <= 2", allocs)
	}
}

func benchRequest() Request {
	return Request{
		Method: http.MethodGet, Bucket: "share-bucket-01", Key: "users/1234/reports/Q3 report (final).pdf",
		Expires: 15 * time.Minute, Now: testNow,
	}
}

func BenchmarkPresignGet(b *testing.B) {
	p := mustPresigner(b, target{"", "eu-west-1", false})
	r := benchRequest()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := p.Presign(sessionCreds, r); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPresignGetKeyMiss alternates two secrets, so every call derives the signing key.
func BenchmarkPresignGetKeyMiss(b *testing.B) {
	p := mustPresigner(b, target{"", "eu-west-1", false})
	r := benchRequest()
	creds := [2]Credentials{sessionCreds, sessionCreds}
	creds[1].SecretAccessKey += "x"
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		if _, err := p.Presign(creds[i&1], r); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkPresignGetParallel(b *testing.B) {
	p := mustPresigner(b, target{"", "eu-west-1", false})
	r := benchRequest()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := p.Presign(sessionCreds, r); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

func BenchmarkPresignGetSDK(b *testing.B) {
	r := benchRequest()
	pc := sdkPresignClient(target{"", "eu-west-1", false}, sessionCreds, r.Expires, nil)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := sdkPresignWith(pc, r); err != nil {
			b.Fatal(err)
		}
	}
}

// TestPresignerClone checks that a clone signs exactly as its original.
func TestPresignerClone(t *testing.T) {
	for _, tg := range []target{{"http://127.0.0.1:18333/base", "us-east-1", true}, {"", "eu-west-1", false}, {"https://s3.example.com", "garage", false}} {
		p := mustPresigner(t, tg)
		r := Request{Method: http.MethodPut, Bucket: "share-bucket-01", Key: "a b/c", Expires: time.Hour, Now: testNow, ContentType: "text/plain", NoOverwrite: true}
		want, err1 := p.Presign(sessionCreds, r)
		got, err2 := p.clone().Presign(sessionCreds, r)
		if err1 != nil || err2 != nil || got != want {
			t.Errorf("%v: clone signs %s (%v); original %s (%v)", tg, got, err2, want, err1)
		}
	}
}
