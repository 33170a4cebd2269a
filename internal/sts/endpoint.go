package sts

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	smithyauth "github.com/aws/smithy-go/auth"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// maxBucketEndpoints bounds the buckets whose endpoint a Presigner keeps.
// Past it, half the entries are dropped (and resolved again on next use).
const maxBucketEndpoints = 1024

// endpoints resolves and keeps each bucket's S3 endpoint with the S3
// client's own endpoint resolver, so the partition table, FIPS and
// dual-stack rules are the SDK's and follow it on upgrade. Reads take no
// lock and do not allocate: the map is replaced, never changed, on a miss.
type endpoints struct {
	region   string
	resolver s3.EndpointResolverV2
	params   s3.EndpointParameters // as the S3 client binds them, without Bucket
	settings string                // the settings, for error messages

	byBucket atomic.Pointer[map[string]*bucketEndpoint]
	mu       sync.Mutex // serializes replacing byBucket
}

// bucketEndpoint is where one bucket's objects are addressed.
type bucketEndpoint struct {
	origin   string // "https://<host>[:port]", as in the URL
	path     string // path before the escaped key: starts and ends with '/'
	signHost string // host as the SDK signs it (no default port)
}

// newEndpoints checks o's endpoint settings and resolves a sample bucket, so
// that a combination the resolver refuses (FIPS or dual-stack with a custom
// endpoint, FIPS in a partition without it, a bad region) is an error now,
// not at the first URL.
func newEndpoints(o s3.Options) (*endpoints, error) {
	fips := o.EndpointOptions.UseFIPSEndpoint == aws.FIPSEndpointStateEnabled
	dual := o.EndpointOptions.UseDualStackEndpoint == aws.DualStackEndpointStateEnabled
	custom := o.BaseEndpoint != nil && *o.BaseEndpoint != ""
	e := &endpoints{
		region:   o.Region,
		resolver: o.EndpointResolverV2,
		params: s3.EndpointParameters{
			Region:                         aws.String(o.Region),
			UseFIPS:                        aws.Bool(fips),
			UseDualStack:                   aws.Bool(dual),
			ForcePathStyle:                 aws.Bool(o.UsePathStyle),
			Accelerate:                     aws.Bool(false),
			DisableMultiRegionAccessPoints: aws.Bool(o.DisableMultiRegionAccessPoints),
			UseArnRegion:                   aws.Bool(o.UseARNRegion),
			DisableS3ExpressSessionAuth:    o.DisableS3ExpressSessionAuth,
		},
	}
	endpoint := "AWS"
	if custom {
		u, err := checkCustomEndpoint(*o.BaseEndpoint)
		if err != nil {
			return nil, err
		}
		endpoint = u.Redacted()
		e.params.Endpoint = o.BaseEndpoint
	}
	e.settings = fmt.Sprintf("region %q, endpoint %s, FIPS %s, dual-stack %s, path style %s",
		o.Region, endpoint, onOff(fips), onOff(dual), onOff(o.UsePathStyle))

	switch {
	case o.UseAccelerate:
		return nil, fmt.Errorf("%w: S3 endpoint (%s): Transfer Acceleration is not supported", ErrInvalidRequest, e.settings)
	case o.EndpointResolver != nil:
		return nil, fmt.Errorf("%w: S3 endpoint (%s): a legacy EndpointResolver is not supported; use EndpointResolverV2", ErrInvalidRequest, e.settings)
	case !custom && (strings.HasPrefix(o.Region, "fips-") || strings.HasSuffix(o.Region, "-fips")):
		return nil, fmt.Errorf("%w: S3 endpoint (%s): %q is a pseudo region; set the region and AWS_USE_FIPS_ENDPOINT=true", ErrInvalidRequest, e.settings, o.Region)
	}
	if e.resolver == nil {
		e.resolver = s3.NewDefaultEndpointResolverV2()
	}
	// Not one with a dot: the resolver refuses some of those for reasons of
	// their own (virtual-hosted over http with an IPv6 host), not the
	// settings'.
	if _, err := e.resolve("sharesvc-sample-bucket"); err != nil {
		return nil, fmt.Errorf("%w: S3 endpoint (%s): %v", ErrInvalidRequest, e.settings, err)
	}
	return e, nil
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}

// get returns bucket's endpoint, resolving it on first use. Errors:
// ErrInvalidRequest (wrapped) when the resolver refuses the bucket or gives
// an endpoint this signer cannot reproduce.
func (e *endpoints) get(bucket string) (*bucketEndpoint, error) {
	if m := e.byBucket.Load(); m != nil {
		if ep, ok := (*m)[bucket]; ok {
			return ep, nil
		}
	}
	ep, err := e.resolve(bucket)
	if err != nil {
		return nil, fmt.Errorf("%w: bucket %q: S3 endpoint (%s): %v", ErrInvalidRequest, bucket, e.settings, err)
	}
	bucket = strings.Clone(bucket) // not a slice of a larger request string
	e.mu.Lock()
	defer e.mu.Unlock()
	var old map[string]*bucketEndpoint
	if m := e.byBucket.Load(); m != nil {
		old = *m
	}
	keep := len(old)
	if keep >= maxBucketEndpoints {
		keep = maxBucketEndpoints / 2 // map order is random: a random half stays
	}
	m := make(map[string]*bucketEndpoint, keep+1)
	for b, v := range old {
		if len(m) >= keep {
			break
		}
		m[b] = v
	}
	m[bucket] = ep
	e.byBucket.Store(&m)
	return ep, nil
}

// resolve asks the resolver for bucket's endpoint, as the S3 client does for
// GetObject and PutObject, and checks that the signer can reproduce what the
// SDK would do with it. The caller says which settings and bucket failed.
func (e *endpoints) resolve(bucket string) (*bucketEndpoint, error) {
	params := e.params
	params.Bucket = aws.String(bucket)
	res, err := e.resolver.ResolveEndpoint(context.Background(), params)
	if err != nil {
		return nil, err
	}
	u := res.URI
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return nil, fmt.Errorf("scheme %q: must be http or https", u.Scheme)
	case u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "":
		return nil, fmt.Errorf("resolved to %s: only scheme, host and path are supported", u.Redacted())
	case len(res.Headers) != 0:
		return nil, fmt.Errorf("the endpoint requires extra headers, which presigned URLs cannot carry")
	case u.RawPath != "" && u.RawPath != u.Path:
		return nil, fmt.Errorf("resolved path %q is percent-encoded", u.RawPath)
	}
	for i := 0; i < len(u.Path); i++ {
		if c := u.Path[i]; charClass[c]&(unreservedChar|slashChar) == 0 {
			return nil, fmt.Errorf("resolved path %q: only A-Z a-z 0-9 - . _ ~ / are supported", u.Path)
		}
	}
	if opts, ok := smithyauth.GetAuthOptions(&res.Properties); ok && len(opts) > 0 {
		// The SDK signs with the first scheme the endpoint lists, named as
		// in the endpoint rules ("sigv4", "sigv4a", ...).
		o := opts[0]
		if o.SchemeID != "sigv4" && o.SchemeID != smithyauth.SchemeIDSigV4 {
			return nil, fmt.Errorf("auth scheme %q: only SigV4 is supported", o.SchemeID)
		}
		if name, ok := smithyhttp.GetSigV4SigningName(&o.SignerProperties); ok && name != "s3" {
			return nil, fmt.Errorf("signing name %q: only \"s3\" is supported", name)
		}
		if r, ok := smithyhttp.GetSigV4SigningRegion(&o.SignerProperties); ok && r != e.region {
			return nil, fmt.Errorf("signing region %q differs from the region; set the region to the bucket's own", r)
		}
		if d, ok := smithyhttp.GetDisableDoubleEncoding(&o.SignerProperties); ok && !d {
			return nil, fmt.Errorf("the endpoint asks for double path encoding, which S3 does not use")
		}
	}

	ep := &bucketEndpoint{origin: u.Scheme + "://" + u.Host, signHost: u.Host}
	if port := portOnly(u.Host); (u.Scheme == "http" && port == "80") || (u.Scheme == "https" && port == "443") {
		ep.signHost = stripPort(u.Host)
	}
	// smithyhttp.JoinPath(endpoint path, "/"+key) for a non-empty key.
	ep.path = u.Path
	if !strings.HasPrefix(ep.path, "/") {
		ep.path = "/" + ep.path
	}
	if !strings.HasSuffix(ep.path, "/") {
		ep.path += "/"
	}
	return ep, nil
}

// checkCustomEndpoint refuses a custom endpoint whose URLs this signer would
// not build exactly as the SDK does. Messages never show user info.
func checkCustomEndpoint(endpoint string) (*url.URL, error) {
	u, err := url.Parse(endpoint)
	if err != nil {
		return nil, fmt.Errorf("%w: endpoint is not a URL", ErrInvalidRequest)
	}
	shown := u.Redacted()
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return nil, fmt.Errorf("%w: endpoint %q: scheme must be http or https", ErrInvalidRequest, shown)
	case u.Opaque != "" || u.Host == "":
		return nil, fmt.Errorf("%w: endpoint %q: missing host", ErrInvalidRequest, shown)
	case u.User != nil:
		return nil, fmt.Errorf("%w: endpoint %q: user info is not supported", ErrInvalidRequest, shown)
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || strings.ContainsAny(endpoint, "?#"):
		return nil, fmt.Errorf("%w: endpoint %q: query and fragment are not supported", ErrInvalidRequest, shown)
	case strings.ContainsAny(u.Host, "%"):
		return nil, fmt.Errorf("%w: endpoint %q: host must not contain '%%'", ErrInvalidRequest, shown)
	case u.RawPath != "" && u.RawPath != u.Path:
		return nil, fmt.Errorf("%w: endpoint %q: base path must not be percent-encoded", ErrInvalidRequest, shown)
	}
	for i := 0; i < len(u.Path); i++ {
		if c := u.Path[i]; charClass[c]&(unreservedChar|slashChar) == 0 {
			return nil, fmt.Errorf("%w: endpoint %q: base path may only contain A-Z a-z 0-9 - . _ ~ /", ErrInvalidRequest, shown)
		}
	}
	return u, nil
}
