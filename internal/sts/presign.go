package sts

// A minimal AWS Signature Version 4 query-string presigner for S3.
//
// The URLs it produces are byte-identical to those of aws-sdk-go-v2's
// s3.PresignClient (PresignGetObject / PresignPutObject / PresignHeadObject,
// default client options) for the same credentials, signing time, region,
// endpoint, bucket and key; presign_test.go checks this against the SDK.
// It exists because the SDK presigner runs a whole middleware stack per URL
// (30-60µs and ~340 allocations), while this one needs about two microseconds
// and a single allocation (the returned string) with a ~760-byte session token.
//
// What the SDK does, and therefore what this code reproduces:
//
//   - Endpoint and addressing: whatever the S3 client's endpoint resolver
//     (EndpointResolverV2, the SDK's endpoint rules) gives for the bucket,
//     region, custom endpoint, path style, FIPS and dual-stack settings,
//     resolved once per bucket (endpoint.go). With the defaults that is the
//     regional endpoint, virtual-hosted (https://<bucket>.s3.<region>.<DNS
//     suffix>, including for us-east-1) unless path style is requested, the
//     endpoint host is an IP address, or the bucket name contains a dot.
//     (Over http the rules virtual-host a dotted name whose labels are all
//     3+ characters long, even on an IP host, and refuse it on an IPv6
//     host.) The key is joined to the endpoint's path as smithyhttp.JoinPath
//     does.
//   - Path: each key byte outside A-Z a-z 0-9 - . _ ~ is percent-encoded
//     (upper-case hex), '/' is kept, and the canonical URI is that same
//     string (S3 signs the path without the second round of encoding other
//     services use). Empty segments and "." / ".." segments are kept as is.
//   - Query: the canonical (sorted, RFC 3986 encoded, space as %20) query
//     string is the URL's query string, followed by &X-Amz-Signature=...;
//     the SDK adds x-id=GetObject / x-id=PutObject (nothing for HEAD), and
//     X-Amz-Checksum-Mode=ENABLED to GET when response checksum validation
//     is "when_supported".
//   - Signed headers: host, plus content-length when > 0, content-type when
//     set and if-none-match ("*") with NoOverwrite (PUT), content-disposition
//     and x-amz-meta-* when set (the SDK signs those rather than hoisting
//     them into the query); the host is signed without a default port (:80
//     for http, :443 for https), while the URL keeps the port as configured.
//
// One deliberate departure: Request.ExactLength signs content-length even
// when it is 0, which the SDK never does (it signs only a positive length).
// The result is still a valid SigV4 URL; it binds an empty upload to an empty
// body.

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// ErrInvalidRequest is returned (wrapped, with the offending field named) when a presign request or Presigner configuration is invalid.
var ErrInvalidRequest = errors.New("invalid presign request")

// Credentials are the session credentials a URL is signed with.
type Credentials struct {
	AccessKeyID     string
	SecretAccessKey string
	SessionToken    string    // empty only in tests of long-term keys
	Expires         time.Time // when the session ends
	SessionName     string    // RoleSessionName, recorded in the audit log
	// Issued is when STS issued the session by STS's clock (Expires minus
	// the duration asked for); zero when unknown. The signer compares it
	// with its own clock to catch clock skew.
	Issued time.Time
}

// Request says what to presign.
type Request struct {
	Method  string        // http.MethodGet or http.MethodPut (http.MethodHead is also supported)
	Bucket  string        // general purpose bucket name (3-63 chars, S3 naming rules)
	Key     string        // the exact object key; must be non-empty, valid UTF-8, <= 1024 bytes
	Expires time.Duration // whole seconds, 1s .. 7 days (604800s); anything else is an error
	Now     time.Time     // signing time (UTC is applied); must not be zero
	// GET only: value for response-content-disposition (S3 response override), "" for none.
	ResponseContentDisposition string
	// PUT only: when non-empty, Content-Type becomes a signed header the client must send exactly.
	ContentType string
	// PUT only: when > 0, Content-Length becomes a signed header (exact size).
	ContentLength int64
	// PUT only: sign Content-Length even when ContentLength is 0, so that S3
	// refuses a body of any other size. Set it whenever a size cap applies;
	// without it a declared size of 0 would leave the size unsigned.
	ExactLength bool
	// PUT only: sign "If-None-Match: *", so that S3 refuses the upload (412
	// Precondition Failed) when the key already exists. The client must send
	// that header. Also allowed on a POST that completes a multipart upload.
	NoOverwrite bool
	// Multipart uploads. A PUT with UploadID and PartNumber (1..10000)
	// uploads one part (UploadPart); a POST without UploadID starts a
	// multipart upload (CreateMultipartUpload, ?uploads); a POST with
	// UploadID completes one (CompleteMultipartUpload).
	UploadID   string
	PartNumber int
	// PUT of a whole object, and POST starting a multipart upload: when
	// non-empty, Content-Disposition becomes a signed header the client
	// must send exactly; S3 keeps it with the object and answers it on GET.
	ContentDisposition string
	// PUT of a whole object, and POST starting a multipart upload: user
	// metadata, each entry signed as the header x-amz-meta-<name> that the
	// client must send exactly. Names are lower-case letters, digits and
	// '-'; values printable ASCII (S3 keeps metadata as US-ASCII).
	Metadata map[string]string
}

// Presigner builds SigV4 query-presigned S3 URLs.
//
// A Presigner is safe for concurrent use. It caches the derived signing key
// of the last (secret key, date) it signed with, together with the encoded
// credential and session token; the region is fixed per Presigner, so the
// cache is effectively keyed by (secret, date, region) (plus access key ID
// and token, which change together with the secret). Each bucket's endpoint
// is resolved once and kept (see endpoints).
type Presigner struct {
	region    string
	endpoints *endpoints // shared by clones
	// checksumMode adds X-Amz-Checksum-Mode=ENABLED to GET URLs, as the SDK
	// does when response checksum validation is "when_supported" (the
	// default of config.LoadDefaultConfig; AWS_RESPONSE_CHECKSUM_VALIDATION).
	checksumMode bool

	scope    string // "/<region>/s3/aws4_request"
	scopeEnc string // query-encoded scope: "%2F<region>%2Fs3%2Faws4_request"
	regionB  []byte // region, for key derivation

	cache atomic.Pointer[signingState]
}

// signingState is a derived SigV4 signing key (kSigning), what it was
// derived from, and the query-encoded values that depend on the same inputs.
// It is immutable once published.
type signingState struct {
	secret       string
	date         [8]byte // yyyymmdd
	accessKeyID  string
	sessionToken string

	key        [32]byte
	credential string // query-encoded X-Amz-Credential value
	tokenEnc   string // query-encoded X-Amz-Security-Token value
}

// NewPresigner returns a Presigner for an S3 endpoint, without FIPS or
// dual-stack endpoints. endpoint "" means AWS's endpoint for region as the
// SDK's endpoint resolver gives it (https://<bucket>.s3.<region>.<partition
// suffix>, or path style); a custom endpoint like "http://127.0.0.1:18333" is
// used as given (scheme+host[:port], optional base path).
//
// Errors are as NewPresignerFromConfig's.
func NewPresigner(endpoint, region string, pathStyle bool) (*Presigner, error) {
	o := s3.Options{Region: region, UsePathStyle: pathStyle}
	if endpoint != "" {
		o.BaseEndpoint = &endpoint
	}
	return newPresigner(o)
}

// NewPresignerFromConfig returns a Presigner for the S3 endpoints that
// s3.NewFromConfig(cfg, optFns...) would address: the same region, custom
// endpoint (AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL, or BaseEndpoint set by
// optFns), path style, FIPS (AWS_USE_FIPS_ENDPOINT) and dual-stack
// (AWS_USE_DUALSTACK_ENDPOINT) settings, resolved by the client's
// EndpointResolverV2 once per bucket. It resolves a sample bucket at once,
// so that settings the resolver refuses fail here rather than at the first
// URL. A region the SDK does not know is resolved as the SDK does (in the
// aws partition). GET URLs carry X-Amz-Checksum-Mode=ENABLED when the
// options' ResponseChecksumValidation is "when_supported", as the SDK's do.
//
// Errors (each an ErrInvalidRequest): region must be a valid DNS label and
// not a legacy FIPS pseudo region (fips-…, …-fips); the resolver's refusals
// (FIPS or dual-stack with a custom endpoint, FIPS where the partition's S3
// has none, an invalid region); an endpoint whose signing region differs from
// region (global pseudo regions such as aws-global) or that is not plain
// SigV4 for "s3"; S3 Transfer Acceleration or a legacy EndpointResolver; a
// custom endpoint that is not http or https, has user info, a query or
// fragment, a host with '%' (IPv6 zones), or a base path with characters
// other than A-Z a-z 0-9 - . _ ~ and '/'.
func NewPresignerFromConfig(cfg aws.Config, optFns ...func(*s3.Options)) (*Presigner, error) {
	return newPresigner(s3.NewFromConfig(cfg, optFns...).Options())
}

func newPresigner(o s3.Options) (*Presigner, error) {
	region := o.Region
	if !validHostLabel(region) {
		return nil, fmt.Errorf("%w: region %q is not a valid DNS label", ErrInvalidRequest, region)
	}
	e, err := newEndpoints(o)
	if err != nil {
		return nil, err
	}
	return &Presigner{
		region:       region,
		endpoints:    e,
		checksumMode: o.ResponseChecksumValidation == aws.ResponseChecksumValidationWhenSupported,
		scope:        "/" + region + "/s3/aws4_request",
		scopeEnc:     "%2F" + string(appendEscaped(nil, region, false)) + "%2Fs3%2Faws4_request",
		regionB:      []byte(region),
	}, nil
}

// clone returns a Presigner for the same endpoints with an empty key cache.
func (p *Presigner) clone() *Presigner {
	return &Presigner{
		region: p.region, endpoints: p.endpoints, checksumMode: p.checksumMode,
		scope: p.scope, scopeEnc: p.scopeEnc, regionB: p.regionB,
	}
}

// validHostLabel reports whether s is a valid RFC 1123 host label, as the SDK's endpoint rules check the region.
func validHostLabel(s string) bool {
	if len(s) == 0 || len(s) > 63 || s[0] == '-' || s[len(s)-1] == '-' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// portOnly and stripPort mirror aws-sdk-go-v2/aws/signer/internal/v4/host.go,
// which decides the signed host header.
func portOnly(hostport string) string {
	colon := strings.IndexByte(hostport, ':')
	if colon == -1 {
		return ""
	}
	if i := strings.Index(hostport, "]:"); i != -1 {
		return hostport[i+len("]:"):]
	}
	if strings.Contains(hostport, "]") {
		return ""
	}
	return hostport[colon+len(":"):]
}

func stripPort(hostport string) string {
	colon := strings.IndexByte(hostport, ':')
	if colon == -1 {
		return hostport
	}
	if i := strings.IndexByte(hostport, ']'); i != -1 {
		return strings.TrimPrefix(hostport[:i], "[")
	}
	return hostport[:colon]
}

// invalid wraps ErrInvalidRequest with a message naming the field.
func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalidRequest}, args...)...)
}

// validBucket checks S3's general purpose bucket naming rules.
func validBucket(b string) error {
	if len(b) < 3 || len(b) > 63 {
		return invalid("bucket %q: must be 3 to 63 characters long", b)
	}
	for i := 0; i < len(b); i++ {
		c := b[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '.') {
			return invalid("bucket %q: only lower-case letters, digits, '.' and '-' are allowed", b)
		}
	}
	if !isAlnum(b[0]) || !isAlnum(b[len(b)-1]) {
		return invalid("bucket %q: must begin and end with a letter or digit", b)
	}
	if strings.Contains(b, "..") {
		return invalid("bucket %q: must not contain adjacent periods", b)
	}
	if strings.Trim(b, "0123456789.") == "" && net.ParseIP(b) != nil { // (ParseIP allocates on failure)
		return invalid("bucket %q: must not be formatted as an IP address", b)
	}
	for _, pre := range [...]string{"xn--", "sthree-", "amzn-s3-demo-"} {
		if strings.HasPrefix(b, pre) {
			return invalid("bucket %q: reserved prefix %q", b, pre)
		}
	}
	// --x-s3 (directory buckets) would make the SDK use S3 Express session
	// auth; the others are access point / table bucket aliases.
	for _, suf := range [...]string{"-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3"} {
		if strings.HasSuffix(b, suf) {
			return invalid("bucket %q: reserved suffix %q", b, suf)
		}
	}
	return nil
}

func isAlnum(c byte) bool { return 'a' <= c && c <= 'z' || '0' <= c && c <= '9' }

const (
	maxKeyLen     = 1024
	maxExpires    = 7 * 24 * time.Hour
	algorithm     = "AWS4-HMAC-SHA256"
	unsignedHash  = "UNSIGNED-PAYLOAD"
	signatureName = "&X-Amz-Signature="
	maxHMACMsg    = 320
)

// bufPool holds scratch buffers for the URL and canonical request.
var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

// Presign returns the presigned URL. Errors: ErrInvalidRequest (wrapped, with
// a message saying which field) for a bad method, bucket, key, expiry or
// signing time, empty credentials, a control character in ContentType, a
// method-specific field used with another method, or a bucket the endpoint
// resolver refuses (as the SDK would).
//
// The URL is only usable while the session is valid: S3 rejects it after
// c.Expires even if r.Expires has not elapsed (this is not checked here).
func (p *Presigner) Presign(c Credentials, r Request) (string, error) {
	var xid, method string
	switch r.Method {
	case http.MethodGet:
		method, xid = "GET", "&x-id=GetObject"
	case http.MethodPut:
		method, xid = "PUT", "&x-id=PutObject"
	case http.MethodHead:
		method = "HEAD"
	case http.MethodPost:
		method, xid = "POST", "&uploads=&x-id=CreateMultipartUpload"
		if r.UploadID != "" {
			xid = "&x-id=CompleteMultipartUpload"
		}
	default:
		return "", invalid("method %q: must be GET, PUT, HEAD or POST", r.Method)
	}
	switch {
	case (r.UploadID != "" || r.PartNumber != 0) && method == "PUT":
		if r.UploadID == "" || r.PartNumber < 1 || r.PartNumber > 10000 {
			return "", invalid("part %d of upload %q: a part needs an upload id and a number 1-10000", r.PartNumber, r.UploadID)
		}
		xid = "&x-id=UploadPart"
	case r.PartNumber != 0 && method != "PUT":
		return "", invalid("part number: only allowed for PUT")
	case r.UploadID != "" && method != "POST":
		return "", invalid("upload id: only allowed for PUT and POST")
	}
	for i := 0; i < len(r.UploadID); i++ {
		if c := r.UploadID[i]; c <= ' ' || c >= 0x7f {
			return "", invalid("upload id: must be printable ASCII")
		}
	}
	if err := validBucket(r.Bucket); err != nil {
		return "", err
	}
	ep, err := p.endpoints.get(r.Bucket)
	if err != nil {
		return "", err
	}
	switch {
	case r.Key == "":
		return "", invalid("key: must not be empty")
	case len(r.Key) > maxKeyLen:
		return "", invalid("key: %d bytes, at most %d allowed", len(r.Key), maxKeyLen)
	case !utf8.ValidString(r.Key):
		return "", invalid("key %q: not valid UTF-8", r.Key)
	}
	if r.Expires < time.Second || r.Expires > maxExpires || r.Expires%time.Second != 0 {
		return "", invalid("expires %v: must be whole seconds between 1s and %v", r.Expires, maxExpires)
	}
	if r.Now.IsZero() {
		return "", invalid("now: signing time must be set")
	}
	now := r.Now.UTC()
	if y := now.Year(); y < 1 || y > 9999 {
		return "", invalid("now %v: year out of range", now)
	}
	if r.ResponseContentDisposition != "" && method != "GET" {
		return "", invalid("response content disposition: only allowed for GET")
	}
	if (r.ContentType != "" || r.ContentLength != 0 || r.ExactLength) && method != "PUT" ||
		r.NoOverwrite && method != "PUT" && (method != "POST" || r.UploadID == "") {
		return "", invalid("content type/length/no overwrite: only allowed for PUT")
	}
	if r.ContentLength < 0 {
		return "", invalid("content length %d: must not be negative", r.ContentLength)
	}
	for i := 0; i < len(r.ContentType); i++ {
		if c := r.ContentType[i]; c < ' ' && c != '\t' || c == 0x7f {
			return "", invalid("content type %q: control characters are not allowed", r.ContentType)
		}
	}
	if err := validObjectHeaders(&r, method); err != nil {
		return "", err
	}
	if c.AccessKeyID == "" || c.SecretAccessKey == "" {
		return "", invalid("credentials: access key ID and secret access key are required")
	}

	var amzDate [16]byte // yyyymmddThhmmssZ
	formatAmzDate(&amzDate, now)
	date := (*[8]byte)(amzDate[:8])
	st := p.signingState(&c, date)

	signLength := r.ContentLength > 0 || r.ExactLength
	var hdrs uint8
	if signLength {
		hdrs |= hdrContentLength
	}
	if r.ContentType != "" {
		hdrs |= hdrContentType
	}
	if r.NoOverwrite {
		hdrs |= hdrIfNoneMatch
	}
	signedHeaders, signedHeadersEnc := signedHeaderLists[hdrs][0], signedHeaderLists[hdrs][1]
	var metaNames []string
	if r.ContentDisposition != "" || len(r.Metadata) > 0 {
		metaNames, signedHeaders, signedHeadersEnc = objectHeaderLists(&r, signedHeaders)
	}
	bp := bufPool.Get().(*[]byte)
	buf := (*bp)[:0]
	// Rough upper bound: URL (escaping at most triples a byte) twice (URL
	// and canonical request) plus headers and the string to sign.
	need := 2*(len(ep.origin)+len(ep.path)+
		3*(len(r.Key)+len(r.ResponseContentDisposition)+len(r.UploadID))+len(st.credential)+len(st.tokenEnc)+300) +
		len(r.ContentType) + 512 + 2*len(r.ContentDisposition)
	for k, v := range r.Metadata {
		need += 2 * (len(k) + len(v) + 12)
	}
	if cap(buf) < need {
		buf = make([]byte, 0, need)
	}

	// 1. The URL up to (not including) the signature.
	buf = append(buf, ep.origin...)
	pathStart := len(buf)
	buf = append(buf, ep.path...)
	buf = appendEscaped(buf, r.Key, true)
	pathEnd := len(buf)
	buf = append(buf, '?')
	queryStart := len(buf)
	buf = append(buf, "X-Amz-Algorithm="+algorithm...)
	if p.checksumMode && method == "GET" {
		buf = append(buf, "&X-Amz-Checksum-Mode=ENABLED"...)
	}
	buf = append(buf, "&X-Amz-Credential="...)
	buf = append(buf, st.credential...)
	buf = append(buf, "&X-Amz-Date="...)
	buf = append(buf, amzDate[:]...)
	buf = append(buf, "&X-Amz-Expires="...)
	buf = strconv.AppendInt(buf, int64(r.Expires/time.Second), 10)
	if c.SessionToken != "" {
		buf = append(buf, "&X-Amz-Security-Token="...)
		buf = append(buf, st.tokenEnc...)
	}
	buf = append(buf, "&X-Amz-SignedHeaders="...)
	buf = append(buf, signedHeadersEnc...)
	// The query stays in byte order, as the canonical request needs it.
	if r.PartNumber != 0 {
		buf = append(buf, "&partNumber="...)
		buf = strconv.AppendInt(buf, int64(r.PartNumber), 10)
	}
	if r.ResponseContentDisposition != "" {
		buf = append(buf, "&response-content-disposition="...)
		buf = appendEscaped(buf, r.ResponseContentDisposition, false)
	}
	if r.UploadID != "" {
		buf = append(buf, "&uploadId="...)
		buf = appendEscaped(buf, r.UploadID, false)
	}
	buf = append(buf, xid...)
	urlEnd := len(buf)

	// 2. The canonical request, after the URL in the same buffer.
	buf = append(buf, method...)
	buf = append(buf, '\n')
	buf = append(buf, buf[pathStart:pathEnd]...)
	buf = append(buf, '\n')
	buf = append(buf, buf[queryStart:urlEnd]...)
	buf = append(buf, '\n')
	if r.ContentDisposition != "" {
		buf = append(buf, "content-disposition:"...)
		buf = append(buf, canonicalHeaderValue(r.ContentDisposition)...)
		buf = append(buf, '\n')
	}
	if signLength {
		buf = append(buf, "content-length:"...)
		buf = strconv.AppendInt(buf, r.ContentLength, 10)
		buf = append(buf, '\n')
	}
	if r.ContentType != "" {
		buf = append(buf, "content-type:"...)
		buf = append(buf, canonicalHeaderValue(r.ContentType)...)
		buf = append(buf, '\n')
	}
	buf = append(buf, "host:"...)
	buf = append(buf, ep.signHost...)
	buf = append(buf, '\n')
	if r.NoOverwrite {
		buf = append(buf, "if-none-match:*\n"...)
	}
	for _, k := range metaNames {
		buf = append(buf, "x-amz-meta-"...)
		buf = append(buf, k...)
		buf = append(buf, ':')
		buf = append(buf, canonicalHeaderValue(r.Metadata[k])...)
		buf = append(buf, '\n')
	}
	buf = append(buf, '\n')
	buf = append(buf, signedHeaders...)
	buf = append(buf, "\n"+unsignedHash...)
	crHash := sha256.Sum256(buf[urlEnd:])

	// 3. The string to sign, after the canonical request.
	stsStart := len(buf)
	buf = append(buf, algorithm+"\n"...)
	buf = append(buf, amzDate[:]...)
	buf = append(buf, '\n')
	buf = append(buf, date[:]...)
	buf = append(buf, p.scope...)
	buf = append(buf, '\n')
	buf = hex.AppendEncode(buf, crHash[:])
	sig := hmacSHA256(st.key[:], buf[stsStart:])
	var sigHex [64]byte
	hex.Encode(sigHex[:], sig[:])

	var sb strings.Builder
	sb.Grow(urlEnd + len(signatureName) + len(sigHex))
	sb.Write(buf[:urlEnd])
	sb.WriteString(signatureName)
	sb.Write(sigHex[:])

	if cap(buf) <= 64<<10 {
		*bp = buf[:0]
		bufPool.Put(bp)
	}
	return sb.String(), nil
}

// The headers a URL may sign besides host, as bits indexing signedHeaderLists.
const (
	hdrContentLength = 1 << iota
	hdrContentType
	hdrIfNoneMatch
)

// signedHeaderLists holds, for each combination of hdr* bits, the
// SignedHeaders list (sorted, ';'-separated) and its query encoding.
var signedHeaderLists = func() (t [8][2]string) {
	for bits := range t {
		var names []string
		if bits&hdrContentLength != 0 {
			names = append(names, "content-length")
		}
		if bits&hdrContentType != 0 {
			names = append(names, "content-type")
		}
		names = append(names, "host")
		if bits&hdrIfNoneMatch != 0 {
			names = append(names, "if-none-match")
		}
		list := strings.Join(names, ";")
		t[bits] = [2]string{list, strings.ReplaceAll(list, ";", "%3B")}
	}
	return t
}()

// validObjectHeaders checks the Content-Disposition and metadata of r,
// which only a PUT of a whole object or the POST starting a multipart
// upload may carry. Errors: ErrInvalidRequest naming the field.
func validObjectHeaders(r *Request, method string) error {
	if r.ContentDisposition == "" && len(r.Metadata) == 0 {
		return nil
	}
	if method != "PUT" && method != "POST" || r.UploadID != "" {
		return invalid("content disposition/metadata: only allowed for PUT of an object and POST starting a multipart upload")
	}
	printable := func(v string) bool {
		for i := 0; i < len(v); i++ {
			if c := v[i]; c < ' ' || c > '~' {
				return false
			}
		}
		return true
	}
	if !printable(r.ContentDisposition) {
		return invalid("content disposition %q: only printable ASCII is allowed", r.ContentDisposition)
	}
	for k, v := range r.Metadata {
		if k == "" || strings.ContainsFunc(k, func(c rune) bool { return !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-') }) {
			return invalid("metadata name %q: only lower-case letters, digits and '-' are allowed", k)
		}
		if !printable(v) {
			return invalid("metadata %s value %q: only printable ASCII is allowed", k, v)
		}
	}
	return nil
}

// objectHeaderLists returns the sorted metadata names of r and the
// SignedHeaders list (and its query encoding) of base, the list without
// them, with content-disposition and x-amz-meta-* added.
func objectHeaderLists(r *Request, base string) (metaNames []string, list, enc string) {
	for k := range r.Metadata {
		metaNames = append(metaNames, k)
	}
	sort.Strings(metaNames)
	var b strings.Builder
	if r.ContentDisposition != "" {
		b.WriteString("content-disposition;")
	}
	b.WriteString(base)
	for _, k := range metaNames {
		b.WriteString(";x-amz-meta-")
		b.WriteString(k)
	}
	list = b.String()
	return metaNames, list, strings.ReplaceAll(list, ";", "%3B")
}

// signingState returns the signing key and encoded credential values for c
// on date (and p's region), from the cache when possible. Concurrent misses
// may each derive the key; the last one stored wins, which is harmless.
func (p *Presigner) signingState(c *Credentials, date *[8]byte) *signingState {
	if st := p.cache.Load(); st != nil && st.date == *date && st.secret == c.SecretAccessKey &&
		st.accessKeyID == c.AccessKeyID && st.sessionToken == c.SessionToken {
		return st
	}
	st := &signingState{secret: c.SecretAccessKey, date: *date, accessKeyID: c.AccessKeyID, sessionToken: c.SessionToken}
	var kb [64]byte
	secretKey := append(append(kb[:0], "AWS4"...), c.SecretAccessKey...)
	kDate := hmacSHA256(secretKey, date[:])
	kRegion := hmacSHA256(kDate[:], p.regionB)
	kService := hmacSHA256(kRegion[:], []byte("s3"))
	st.key = hmacSHA256(kService[:], []byte("aws4_request"))

	cred := appendEscaped(make([]byte, 0, 3*len(c.AccessKeyID)+len(p.scopeEnc)+11), c.AccessKeyID, false)
	cred = append(cred, "%2F"...)
	cred = append(cred, date[:]...)
	st.credential = string(append(cred, p.scopeEnc...))
	if c.SessionToken != "" {
		st.tokenEnc = string(appendEscaped(make([]byte, 0, len(c.SessionToken)+len(c.SessionToken)/8), c.SessionToken, false))
	}
	p.cache.Store(st)
	return st
}

// hmacSHA256 computes HMAC-SHA256 of a short message without allocating
// (crypto/hmac allocates two hash states per call). Messages are at most
// maxHMACMsg bytes: the longest SigV4 message is the string to sign, under
// 200 bytes because the region is a DNS label of at most 63 bytes.
func hmacSHA256(key, msg []byte) [32]byte {
	const blockSize = 64
	if len(msg) > maxHMACMsg {
		panic("sts: hmacSHA256 message too long") // unreachable, see above
	}
	var kh [32]byte
	if len(key) > blockSize {
		kh = sha256.Sum256(key)
		key = kh[:]
	}
	var b [blockSize + maxHMACMsg]byte
	copy(b[:], key)
	for i := 0; i < blockSize; i++ {
		b[i] ^= 0x36
	}
	copy(b[blockSize:], msg)
	inner := sha256.Sum256(b[:blockSize+len(msg)])
	for i := 0; i < blockSize; i++ {
		b[i] ^= 0x36 ^ 0x5c
	}
	copy(b[blockSize:], inner[:])
	return sha256.Sum256(b[:blockSize+len(inner)])
}

// formatAmzDate writes t (UTC) as yyyymmddThhmmssZ.
func formatAmzDate(dst *[16]byte, t time.Time) {
	y, mo, d := t.Date()
	h, mi, s := t.Clock()
	put := func(i, v, n int) {
		for j := i + n - 1; j >= i; j-- {
			dst[j] = byte('0' + v%10)
			v /= 10
		}
	}
	put(0, y, 4)
	put(4, int(mo), 2)
	put(6, d, 2)
	dst[8] = 'T'
	put(9, h, 2)
	put(11, mi, 2)
	put(13, s, 2)
	dst[15] = 'Z'
}

// canonicalHeaderValue trims a header value the way the SDK's signer does:
// strip leading/trailing spaces, collapse runs of spaces, then strings.TrimSpace.
func canonicalHeaderValue(v string) string {
	v = strings.Trim(v, " ")
	if strings.Contains(v, "  ") {
		b := make([]byte, 0, len(v))
		for i := 0; i < len(v); i++ {
			if v[i] == ' ' && i > 0 && v[i-1] == ' ' {
				continue
			}
			b = append(b, v[i])
		}
		v = string(b)
	}
	return strings.TrimSpace(v)
}

const (
	unreservedChar = 1 << iota // A-Z a-z 0-9 - . _ ~
	slashChar                  // '/'
)

// charClass classifies bytes for AWS URI encoding.
var charClass = func() (t [256]uint8) {
	for c := 0; c < 256; c++ {
		if 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~' {
			t[c] = unreservedChar
		}
	}
	t['/'] = slashChar
	return t
}()

const upperHex = "0123456789ABCDEF"

// appendEscaped appends s URI-encoded the AWS way: every byte except
// A-Z a-z 0-9 - . _ ~ (and '/' when keepSlash) becomes %XX with upper-case hex.
func appendEscaped(dst []byte, s string, keepSlash bool) []byte {
	keep := uint8(unreservedChar)
	if keepSlash {
		keep |= slashChar
	}
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if charClass[c]&keep != 0 {
			continue
		}
		dst = append(dst, s[start:i]...)
		dst = append(dst, '%', upperHex[c>>4], upperHex[c&15])
		start = i + 1
	}
	return append(dst, s[start:]...)
}
