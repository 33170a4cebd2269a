package sts

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	smithyendpoints "github.com/aws/smithy-go/endpoints"
)

// variant is an S3 client setting beyond target's.
type variant struct{ fips, dualStack bool }

func (v variant) String() string { return fmt.Sprintf("fips=%v/dualstack=%v", v.fips, v.dualStack) }

func (v variant) s3Options(o *s3.Options) {
	if v.fips {
		o.EndpointOptions.UseFIPSEndpoint = aws.FIPSEndpointStateEnabled
	}
	if v.dualStack {
		o.EndpointOptions.UseDualStackEndpoint = aws.DualStackEndpointStateEnabled
	}
}

// goldenRequests are what each endpoint configuration is checked with.
func goldenRequests() []Request {
	var rs []Request
	for _, bucket := range []string{"share-bucket-01", "my.dotted.bucket", "reports.example.org"} {
		for _, key := range []string{"x/y z", "/lead/résumé.pdf"} {
			rs = append(rs,
				Request{Method: http.MethodGet, Bucket: bucket, Key: key, ResponseContentDisposition: `attachment; filename="y z"`},
				Request{Method: http.MethodPut, Bucket: bucket, Key: key, ContentType: "application/pdf", ContentLength: 42, NoOverwrite: true},
				Request{Method: http.MethodHead, Bucket: bucket, Key: key},
			)
		}
	}
	for i := range rs {
		rs[i].Expires, rs[i].Now = time.Hour, testNow
	}
	return rs
}

// TestGoldenFIPSDualStack checks FIPS, dual-stack and both endpoints in every
// partition, virtual-hosted and path style, against the SDK's presigner
// configured alike. Where the SDK's resolver refuses the combination,
// NewPresignerFromConfig must refuse it (at start, not per URL).
func TestGoldenFIPSDualStack(t *testing.T) {
	regions := []string{
		"us-east-1", "us-west-2", "eu-west-1", "ca-west-1", "ap-southeast-7", "mx-central-1", "ap-future-9",
		"cn-north-1", "cn-northwest-1",
		"us-gov-west-1", "us-gov-east-1",
		"us-iso-east-1", "us-isob-east-1", "eu-isoe-west-1", "us-isof-south-1",
		"eusc-de-east-1",
	}
	refused := 0
	for _, region := range regions {
		for _, v := range []variant{{false, false}, {true, false}, {false, true}, {true, true}} {
			for _, ps := range []bool{false, true} {
				tg := target{"", region, ps}
				name := tg.String() + "/" + v.String()
				cfg := aws.Config{Region: region}
				p, err := NewPresignerFromConfig(cfg, tg.s3Options, v.s3Options)
				probe := Request{Method: http.MethodGet, Bucket: "share-bucket-01", Key: "k", Expires: time.Hour, Now: testNow}
				if _, sdkErr := sdkPresignWith(sdkPresignClientFor(cfg, sessionCreds, time.Hour, &testNow, tg.s3Options, v.s3Options), probe); sdkErr != nil {
					refused++
					if !errors.Is(err, ErrInvalidRequest) {
						t.Errorf("%s: the SDK refuses (%v); NewPresignerFromConfig = %v, want ErrInvalidRequest", name, sdkErr, err)
					}
					continue
				}
				if err != nil {
					t.Errorf("%s: NewPresignerFromConfig: %v", name, err)
					continue
				}
				for _, r := range goldenRequests() {
					compareWithSDKClient(t, p, name, func(at time.Time) *s3.PresignClient {
						return sdkPresignClientFor(cfg, sessionCreds, r.Expires, &at, tg.s3Options, v.s3Options)
					}, sessionCreds, r)
				}
				// The settings took effect (the SDK could be ignoring them too).
				u, err := p.Presign(sessionCreds, probe)
				if err != nil {
					t.Fatal(err)
				}
				if host := urlHost(t, u); strings.Contains(host, "-fips.") != v.fips || strings.Contains(host, ".dualstack.") != v.dualStack {
					t.Errorf("%s: URL host %q", name, host)
				}
			}
		}
	}
	// S3 has no FIPS endpoints in China: the one refusal in these partitions.
	if refused != 2*2*2 {
		t.Errorf("%d configurations refused; want 8 (FIPS in the two China regions)", refused)
	}
}

func urlHost(t *testing.T, s string) string {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u.Host
}

// TestPresignerRefusesAtStart checks that settings the SDK's resolver
// refuses, or that this signer cannot reproduce, fail in
// NewPresignerFromConfig with a message saying why.
func TestPresignerRefusesAtStart(t *testing.T) {
	custom := func(ep string) func(*s3.Options) { return func(o *s3.Options) { o.BaseEndpoint = aws.String(ep) } }
	fips, dual := variant{fips: true}.s3Options, variant{dualStack: true}.s3Options
	cases := []struct {
		name   string
		region string
		opts   []func(*s3.Options)
		want   string // in the error message
		sdk    bool   // the SDK refuses it too
	}{
		{"FIPS with a custom endpoint", "us-east-1", []func(*s3.Options){custom("http://127.0.0.1:18333"), fips}, "cannot be combined with FIPS", true},
		{"dual-stack with a custom endpoint", "us-east-1", []func(*s3.Options){custom("https://minio.example.com"), dual}, "dual-stack in combination with a custom endpoint", true},
		{"FIPS and dual-stack with a custom endpoint", "eu-west-1", []func(*s3.Options){custom("http://minio:9000/base"), fips, dual}, "custom endpoint", true},
		{"FIPS in China", "cn-north-1", []func(*s3.Options){fips}, "does not support FIPS", true},
		{"FIPS and dual-stack in China", "cn-northwest-1", []func(*s3.Options){fips, dual}, "does not support FIPS", true},
		{"global pseudo region", "aws-global", nil, `signing region "us-east-1"`, false},
		{"FIPS pseudo region", "fips-us-east-1", nil, "AWS_USE_FIPS_ENDPOINT", false},
		{"no region", "", nil, "region", true},
		{"Transfer Acceleration", "us-east-1", []func(*s3.Options){func(o *s3.Options) { o.UseAccelerate = true }}, "Acceleration", false},
		{"user info", "us-east-1", []func(*s3.Options){custom("http://admin:hunter2@127.0.0.1:18333")}, "user info", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := aws.Config{Region: tc.region}
			p, err := NewPresignerFromConfig(cfg, tc.opts...)
			if !errors.Is(err, ErrInvalidRequest) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("NewPresignerFromConfig = %v, %v; want ErrInvalidRequest saying %q", p, err, tc.want)
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("error shows the endpoint's password: %v", err)
			}
			if tc.sdk {
				r := Request{Method: http.MethodGet, Bucket: "share-bucket-01", Key: "k", Expires: time.Hour, Now: testNow}
				if u, err := sdkPresignWith(sdkPresignClientFor(cfg, sessionCreds, time.Hour, &testNow, tc.opts...), r); err == nil {
					t.Errorf("the SDK presigns %s; the refusal is ours alone", u)
				}
			}
		})
	}
}

// TestPresignerFromEnvironment loads the configuration as sharesvc does
// (config.LoadDefaultConfig) with the endpoint variables set, and checks
// that the presigner and the SDK's client built from it sign alike, for the
// endpoint the variables ask for.
func TestPresignerFromEnvironment(t *testing.T) {
	dir := t.TempDir()
	vars := []string{"AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3",
		"AWS_USE_FIPS_ENDPOINT", "AWS_USE_DUALSTACK_ENDPOINT", "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS",
		"AWS_RESPONSE_CHECKSUM_VALIDATION", "AWS_REQUEST_CHECKSUM_CALCULATION",
		"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"}
	cases := []struct {
		env       map[string]string
		pathStyle bool
		host      string // of the URL for share-bucket-01
		refuse    string // when set, the error must say this
	}{
		{env: map[string]string{"AWS_REGION": "us-gov-west-1", "AWS_USE_FIPS_ENDPOINT": "true"}, host: "share-bucket-01.s3-fips.us-gov-west-1.amazonaws.com"},
		{env: map[string]string{"AWS_REGION": "eu-west-1", "AWS_USE_DUALSTACK_ENDPOINT": "true"}, host: "share-bucket-01.s3.dualstack.eu-west-1.amazonaws.com"},
		{env: map[string]string{"AWS_REGION": "us-east-1", "AWS_USE_FIPS_ENDPOINT": "TRUE", "AWS_USE_DUALSTACK_ENDPOINT": "true"}, pathStyle: true, host: "s3-fips.dualstack.us-east-1.amazonaws.com"},
		{env: map[string]string{"AWS_REGION": "cn-north-1", "AWS_USE_DUALSTACK_ENDPOINT": "true"}, host: "share-bucket-01.s3.dualstack.cn-north-1.amazonaws.com.cn"},
		{env: map[string]string{"AWS_REGION": "eu-west-1", "AWS_USE_FIPS_ENDPOINT": "false"}, host: "share-bucket-01.s3.eu-west-1.amazonaws.com"},
		{env: map[string]string{"AWS_REGION": "eu-west-1", "AWS_RESPONSE_CHECKSUM_VALIDATION": "when_required", "AWS_REQUEST_CHECKSUM_CALCULATION": "when_required"}, host: "share-bucket-01.s3.eu-west-1.amazonaws.com"},
		{env: map[string]string{"AWS_REGION": "us-east-1", "AWS_ENDPOINT_URL_S3": "http://127.0.0.1:18333"}, pathStyle: true, host: "127.0.0.1:18333"},
		{env: map[string]string{"AWS_REGION": "us-east-1", "AWS_ENDPOINT_URL": "http://minio:9000"}, host: "share-bucket-01.minio:9000"},
		{env: map[string]string{"AWS_REGION": "us-east-1", "AWS_ENDPOINT_URL": "http://other:1", "AWS_ENDPOINT_URL_S3": "https://s3.example.com/base"}, host: "share-bucket-01.s3.example.com"},
		{env: map[string]string{"AWS_REGION": "us-east-1", "AWS_ENDPOINT_URL_S3": "http://minio:9000", "AWS_USE_DUALSTACK_ENDPOINT": "true"}, refuse: "dual-stack"},
		{env: map[string]string{"AWS_REGION": "us-east-1", "AWS_ENDPOINT_URL_S3": "http://minio:9000", "AWS_USE_FIPS_ENDPOINT": "true"}, refuse: "FIPS"},
		{env: map[string]string{"AWS_REGION": "cn-northwest-1", "AWS_USE_FIPS_ENDPOINT": "true"}, refuse: "FIPS"},
	}
	for _, tc := range cases {
		t.Run(fmt.Sprint(tc.env), func(t *testing.T) {
			t.Setenv("AWS_CONFIG_FILE", filepath.Join(dir, "no-config"))
			t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(dir, "no-credentials"))
			t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
			for _, k := range vars {
				t.Setenv(k, "") // restored after the test
				os.Unsetenv(k)
			}
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			cfg, err := config.LoadDefaultConfig(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			pathStyle := func(o *s3.Options) { o.UsePathStyle = tc.pathStyle }
			p, err := NewPresignerFromConfig(cfg, pathStyle)
			if tc.refuse != "" {
				if !errors.Is(err, ErrInvalidRequest) || !strings.Contains(err.Error(), tc.refuse) {
					t.Fatalf("NewPresignerFromConfig = %v, %v; want ErrInvalidRequest saying %q", p, err, tc.refuse)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range goldenRequests() {
				compareWithSDKClient(t, p, fmt.Sprint(tc.env), func(at time.Time) *s3.PresignClient {
					return sdkPresignClientFor(cfg, sessionCreds, r.Expires, &at, pathStyle)
				}, sessionCreds, r)
			}
			u, err := p.Presign(sessionCreds, Request{Method: http.MethodGet, Bucket: "share-bucket-01", Key: "k", Expires: time.Hour, Now: testNow})
			if err != nil {
				t.Fatal(err)
			}
			if got := urlHost(t, u); got != tc.host {
				t.Errorf("URL host %q; want %q", got, tc.host)
			}
			// The SDK's default since 2025: ask S3 for the object's checksum.
			if got, want := strings.Contains(u, "&X-Amz-Checksum-Mode=ENABLED&"), tc.env["AWS_RESPONSE_CHECKSUM_VALIDATION"] != "when_required"; got != want {
				t.Errorf("X-Amz-Checksum-Mode=ENABLED in the GET URL: %v; want %v", got, want)
			}
		})
	}
}

// countingResolver counts the endpoint resolutions it is asked for.
type countingResolver struct {
	s3.EndpointResolverV2
	n atomic.Int64
}

func (c *countingResolver) ResolveEndpoint(ctx context.Context, p s3.EndpointParameters) (smithyendpoints.Endpoint, error) {
	c.n.Add(1)
	return c.EndpointResolverV2.ResolveEndpoint(ctx, p)
}

// TestEndpointsResolvedOncePerBucket checks that the S3 client's resolver is
// the one used, once per bucket (plus the sample at start) however many
// URLs are signed and by however many clones, and that the buckets kept are
// bounded.
func TestEndpointsResolvedOncePerBucket(t *testing.T) {
	res := &countingResolver{EndpointResolverV2: s3.NewDefaultEndpointResolverV2()}
	p, err := NewPresignerFromConfig(aws.Config{Region: "eu-west-1"}, func(o *s3.Options) { o.EndpointResolverV2 = res })
	if err != nil {
		t.Fatal(err)
	}
	if n := res.n.Load(); n != 1 {
		t.Fatalf("%d resolutions at start; want 1 (the sample bucket)", n)
	}
	clone := p.clone()
	buckets := []string{"share-bucket-01", "my.dotted.bucket", "b12"}
	for i := range 300 {
		q := p
		if i%2 == 1 {
			q = clone
		}
		r := Request{Method: http.MethodGet, Bucket: buckets[i%len(buckets)], Key: "k", Expires: time.Hour, Now: testNow}
		if _, err := q.Presign(sessionCreds, r); err != nil {
			t.Fatal(err)
		}
	}
	if n := res.n.Load(); n != 1+int64(len(buckets)) {
		t.Errorf("%d resolutions for 300 URLs in %d buckets; want %d", n, len(buckets), 1+len(buckets))
	}

	first := Request{Method: http.MethodGet, Bucket: "bucket-0000", Key: "k", Expires: time.Hour, Now: testNow}
	want, err := p.Presign(sessionCreds, first)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 * maxBucketEndpoints {
		r := first
		r.Bucket = fmt.Sprintf("bucket-%04d", i)
		if _, err := p.Presign(sessionCreds, r); err != nil {
			t.Fatal(err)
		}
		if n := len(*p.endpoints.byBucket.Load()); n > maxBucketEndpoints {
			t.Fatalf("%d buckets kept; want at most %d", n, maxBucketEndpoints)
		}
	}
	if got, err := p.Presign(sessionCreds, first); err != nil || got != want {
		t.Errorf("after eviction: %s, %v; want %s", got, err, want)
	}
}

// BenchmarkPresignGetManyBuckets signs across 200 buckets with the options
// config.LoadDefaultConfig gives (X-Amz-Checksum-Mode on GET): every URL
// looks its bucket's endpoint up, none resolves it.
func BenchmarkPresignGetManyBuckets(b *testing.B) {
	p, err := NewPresignerFromConfig(aws.Config{Region: "eu-west-1", ResponseChecksumValidation: aws.ResponseChecksumValidationWhenSupported})
	if err != nil {
		b.Fatal(err)
	}
	reqs := make([]Request, 200)
	for i := range reqs {
		reqs[i] = benchRequest()
		reqs[i].Bucket = fmt.Sprintf("share-bucket-%03d", i)
		if _, err := p.Presign(sessionCreds, reqs[i]); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		if _, err := p.Presign(sessionCreds, reqs[i%len(reqs)]); err != nil {
			b.Fatal(err)
		}
	}
}
