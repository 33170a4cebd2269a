package app

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base32"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/sharesvc/sharesvc/internal/auth"
	"github.com/sharesvc/sharesvc/internal/grants"
	"github.com/sharesvc/sharesvc/internal/links"
	"github.com/sharesvc/sharesvc/internal/sts"
)

// Audit actions of sharing a file from one's own computer.
const (
	ActionFileUploadStart    = "file.upload.start"
	ActionFileUploadComplete = "file.upload.complete"
)

// ErrFileTooLarge means a file to upload is larger than the server allows
// in one upload.
var ErrFileTooLarge = errors.New("file too large")

// Sizes of file uploads. A file up to MaxFilePut bytes goes in one PUT;
// a larger one (or one whose client asks for parts) as an S3 multipart
// upload of parts of DefaultPartSize bytes (the last one smaller).
const (
	MaxFilePut      = 64 << 20
	DefaultPartSize = 16 << 20
	MinPartSize     = 5 << 20 // S3's least, but for the last part
	MaxParts        = 10000   // S3's most
	maxPartSize     = 5 << 30 // S3's most
)

// maxFilename bounds the name of a file to share, in bytes.
const maxFilename = 255

// fileURLLife is how long a file's upload URL stays valid: enough to start
// sending a large file over a slow line; S3 checks it when the PUT starts.
const fileURLLife = 15 * time.Minute

// StartUpload asks to upload a file from one's own computer, so as to share
// it: the server names the object under the sharer's grant.
type StartUpload struct {
	Filename    string // the file's own name; it ends the object's key
	Size        int64  // bytes, exactly
	ContentType string // "" for none
	Bucket      string // "" for the server's default
	// KeyPrefix, when set, must lie inside a grant of the sharer's; ""
	// takes the prefix of their first grant in the bucket that allows both
	// uploading and downloading.
	KeyPrefix string
	// PartSize > 0 asks for a multipart upload in parts of that many bytes
	// (MinPartSize at least); 0 lets the server choose by the size.
	PartSize int64
}

// FileUpload is where and how to send the file's bytes: one PUT of URL,
// or, for a multipart upload (UploadID set), one PUT per part. URLs are
// secrets.
type FileUpload struct {
	Bucket    string
	Key       string
	Size      int64
	GrantID   string            // "" for an admin's
	Method    string            // http.MethodPut
	URL       string            // single PUT only
	Headers   map[string]string // to send with the PUT, exactly (single PUT only)
	ExpiresAt time.Time         // the URLs' end
	UploadID  string            // multipart only: S3's id of the upload
	PartSize  int64             // multipart only
	Parts     []FilePart        // multipart only, in order
}

// FilePart is one part of a multipart upload: bytes
// [(Number-1)*PartSize, +Size) of the file, sent by PUT to URL.
type FilePart struct {
	Number int
	Size   int64
	URL    string
}

// CompleteUpload says that a file's bytes have been sent.
type CompleteUpload struct {
	Bucket string // "" for the server's default
	Key    string
	Size   int64 // what was sent; checked against the object
	// Multipart only: S3's upload id, and each part's number and the ETag
	// S3 answered its PUT with, in order.
	UploadID string
	PartSize int64 // as StartFileUpload answered
	Parts    []CompletedPart
}

// CompletedPart is a part S3 stored.
type CompletedPart struct {
	Number int
	ETag   string
}

// validFilename checks the name of a file to share: 1–255 bytes of UTF-8
// text without control or bidirectional-formatting characters, without a
// path separator, and not "." or "..". Errors: links.ErrInvalid.
func validFilename(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("%w: filename is required", links.ErrInvalid)
	case len(name) > maxFilename:
		return fmt.Errorf("%w: filename is %d bytes; at most %d allowed", links.ErrInvalid, len(name), maxFilename)
	case strings.ContainsAny(name, `/\`):
		return fmt.Errorf("%w: filename must be a name, without a path separator ('/' or '\\')", links.ErrInvalid)
	case name == "." || name == "..":
		return fmt.Errorf("%w: filename %q is not a file's name", links.ErrInvalid, name)
	}
	return links.ValidText("filename", name, false)
}

// keyName is name made safe to end an object key with: letters, digits,
// '.', '-' and '_' kept, runs of anything else one '_', at most 100 bytes.
func keyName(name string) string {
	var b strings.Builder
	under := false
	for _, r := range name {
		if r < utf8.RuneSelf && (unicode.IsLetter(r) || unicode.IsDigit(r)) || r == '.' || r == '-' || r == '_' {
			if b.Len()+1 > 100 {
				break
			}
			b.WriteRune(r)
			under = false
		} else if !under {
			b.WriteByte('_')
			under = true
		}
	}
	s := strings.Trim(b.String(), ".")
	if s == "" {
		s = "file"
	}
	return s
}

var fileNameEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// fileKey names the object of a file under prefix:
// <prefix>/<yyyy-mm-dd>/<random>-<name>.
func fileKey(prefix, name string, now time.Time) string {
	var b [8]byte
	rand.Read(b[:])
	if prefix != "" && !strings.HasSuffix(prefix, "/") {
		prefix += "/"
	}
	return prefix + now.UTC().Format("2006-01-02") + "/" + fileNameEncoding.EncodeToString(b[:]) + "-" + keyName(name)
}

// fileGrant finds the first grant of the actor that lets them both upload
// and download key in bucket (with key "" any key: the grant's own prefix
// is then used). Errors: grants.ErrNoGrant saying what is missing.
func (a *App) fileGrant(ctx context.Context, actor Actor, bucket, key string) (*grants.Grant, error) {
	if key == "" {
		all, err := a.grants.For(ctx, actor.Name, actor.Role, actor.Groups)
		if err != nil {
			return nil, err
		}
		for _, g := range all {
			if g.Bucket == bucket && g.Has(grants.ActionUpload) && g.Has(grants.ActionDownload) {
				return g, nil
			}
		}
		return nil, fmt.Errorf("%w: no grant of yours in bucket %q allows both upload and download, which sharing a file needs (ask an admin)", grants.ErrNoGrant, bucket)
	}
	cands, err := a.matchGrants(ctx, actor, grants.ActionUpload, bucket, key)
	if err != nil {
		return nil, err
	}
	for _, g := range cands {
		if g.Has(grants.ActionDownload) {
			return g, nil
		}
	}
	return nil, fmt.Errorf("%w: your grants let you upload to %q in bucket %q but not share it by download link", grants.ErrNoGrant, key, bucket)
}

// StartFileUpload checks req and the actor's grants, names the object, and
// returns a presigned PUT for the file's bytes, signed with the session of
// the grant (which S3 holds to the grant's prefix); the PUT signs the exact
// size, the content type and If-None-Match: *, so it makes that one object
// and never replaces one. Nothing is stored but the audit row
// (file.upload.start). The object keeps the file's name as its
// Content-Disposition and x-amz-meta-filename, signed too. Errors: links.ErrInvalid naming the field,
// ErrFileTooLarge, grants.ErrNoGrant, links.ErrSuspended while the kill
// switch is on, sts.ErrUnavailable, auth.ErrForbidden for an auditor.
func (a *App) StartFileUpload(ctx context.Context, actor Actor, req *StartUpload) (*FileUpload, error) {
	if err := allow(actor, "sharing a file", auth.RoleAdmin, auth.RoleSharer); err != nil {
		return nil, err
	}
	if err := validFilename(req.Filename); err != nil {
		return nil, err
	}
	partSize := req.PartSize
	switch {
	case partSize == 0 && req.Size > MaxFilePut:
		partSize = max(DefaultPartSize, (req.Size+MaxParts-1)/MaxParts)
	case partSize != 0 && (partSize < MinPartSize || partSize > maxPartSize):
		return nil, fmt.Errorf("%w: part_size must be between %d and %d bytes", links.ErrInvalid, MinPartSize, int64(maxPartSize))
	}
	limit := int64(MaxFilePut)
	if partSize > 0 {
		limit = partSize * MaxParts
	}
	if a.cfg.Links.MaxUploadBytes > 0 {
		limit = min(limit, a.cfg.Links.MaxUploadBytes)
	}
	switch {
	case req.Size < 0:
		return nil, fmt.Errorf("%w: size must be the file's size in bytes", links.ErrInvalid)
	case req.Size > limit:
		return nil, fmt.Errorf("%w: %d bytes; this server takes at most %d in one file", ErrFileTooLarge, req.Size, limit)
	case partSize > 0 && req.Size == 0:
		return nil, fmt.Errorf("%w: an empty file is sent in one PUT, not in parts", links.ErrInvalid)
	}
	if req.ContentType != "" {
		if len(req.ContentType) > 255 {
			return nil, fmt.Errorf("%w: content_type is limited to 255 bytes", links.ErrInvalid)
		}
		if err := links.ValidText("content_type", req.ContentType, false); err != nil {
			return nil, err
		}
		if _, _, err := mime.ParseMediaType(req.ContentType); err != nil {
			return nil, fmt.Errorf("%w: content_type %q is not a media type", links.ErrInvalid, req.ContentType)
		}
	}
	bucket := req.Bucket
	if bucket == "" {
		bucket = a.cfg.Links.DefaultBucket
	}
	if err := links.ValidBucket(bucket); err != nil {
		return nil, err
	}
	if req.KeyPrefix != "" {
		if err := links.ValidKeyPrefix(req.KeyPrefix); err != nil {
			return nil, err
		}
	}
	now := a.now().UTC()
	var g *grants.Grant
	prefix := req.KeyPrefix
	if !actor.IsAdmin() {
		var err error
		if g, err = a.fileGrant(ctx, actor, bucket, req.KeyPrefix); err != nil {
			return nil, err
		}
		if prefix == "" {
			prefix = g.PrefixFor(actor.Name)
		}
	}
	key := fileKey(prefix, req.Filename, now)
	if err := links.ValidKey(key); err != nil {
		return nil, err
	}
	if on, err := a.links.KillSwitchOn(ctx); err != nil {
		return nil, err
	} else if on {
		return nil, fmt.Errorf("%w: files cannot be shared until an admin turns the kill switch off", links.ErrSuspended)
	}
	life := fileURLLife
	if a.cfg.Links.MaxPresignTTL > 0 {
		life = min(life, a.cfg.Links.MaxPresignTTL)
	}
	sg, sign, err := a.fileSession(ctx, actor, g, bucket, life)
	if err != nil {
		return nil, err
	}
	fu := &FileUpload{Bucket: bucket, Key: key, Size: req.Size, Method: http.MethodPut, ExpiresAt: sg.Expires}
	detail := map[string]any{"bucket": bucket, "key": key, "bytes": req.Size, "filename": req.Filename}
	// The object keeps the file's own name: S3 answers it as the
	// Content-Disposition of every GET, and as x-amz-meta-filename.
	disposition, meta := links.NameHeaders(req.Filename)
	nameHeaders := map[string]string{"Content-Disposition": disposition, links.MetaFilenameHeader: meta}
	if partSize == 0 {
		put := sts.Request{Method: http.MethodPut, Bucket: bucket, Key: key, ContentType: req.ContentType,
			ContentLength: req.Size, ExactLength: true, NoOverwrite: true,
			ContentDisposition: disposition, Metadata: map[string]string{links.MetaFilename: meta}}
		if fu.URL, err = sign(put); err != nil {
			return nil, err
		}
		fu.Headers = nameHeaders
		fu.Headers["If-None-Match"] = "*"
		if req.ContentType != "" {
			fu.Headers["Content-Type"] = req.ContentType
		}
	} else {
		if fu.UploadID, err = a.startMultipart(ctx, sign, bucket, key, req.ContentType, nameHeaders); err != nil {
			return nil, err
		}
		fu.PartSize = partSize
		for n, off := 1, int64(0); off < req.Size; n, off = n+1, off+partSize {
			p := FilePart{Number: n, Size: min(partSize, req.Size-off)}
			if p.URL, err = sign(sts.Request{Method: http.MethodPut, Bucket: bucket, Key: key, UploadID: fu.UploadID, PartNumber: n,
				ContentLength: p.Size, ExactLength: true}); err != nil {
				return nil, err
			}
			fu.Parts = append(fu.Parts, p)
		}
		detail["parts"], detail["part_size"] = len(fu.Parts), partSize
	}
	if g != nil {
		fu.GrantID, detail["grant_id"] = g.ID, g.ID
	}
	b, _ := json.Marshal(detail)
	ev := a.event(actor, ActionFileUploadStart, string(b))
	ev.URLExpiresAt, ev.STSSession = sg.Expires, sg.Session
	if _, err := a.audit.Append(ctx, ev, nil); err != nil {
		return nil, err
	}
	return fu, nil
}

// CompleteFileUpload checks, with the grant's session, that the object a
// file was uploaded to exists and holds req.Size bytes, and records
// file.upload.complete. Errors: links.ErrInvalid (not there, or another
// size), grants.ErrNoGrant, links.ErrSuspended while the kill switch is
// on, sts.ErrUnavailable, ErrS3, auth.ErrForbidden for an auditor.
func (a *App) CompleteFileUpload(ctx context.Context, actor Actor, req *CompleteUpload) error {
	if err := allow(actor, "sharing a file", auth.RoleAdmin, auth.RoleSharer); err != nil {
		return err
	}
	bucket := req.Bucket
	if bucket == "" {
		bucket = a.cfg.Links.DefaultBucket
	}
	if err := links.ValidBucket(bucket); err != nil {
		return err
	}
	if err := links.ValidKey(req.Key); err != nil {
		return err
	}
	if req.Size < 0 {
		return fmt.Errorf("%w: size must be the file's size in bytes", links.ErrInvalid)
	}
	var g *grants.Grant
	if !actor.IsAdmin() {
		var err error
		if g, err = a.fileGrant(ctx, actor, bucket, req.Key); err != nil {
			return err
		}
	}
	if req.UploadID == "" && req.Parts != nil {
		return fmt.Errorf("%w: parts need the upload_id of a multipart upload", links.ErrInvalid)
	}
	if req.UploadID != "" {
		if err := validParts(req.Parts, req.Size, req.PartSize); err != nil {
			return err
		}
	}
	if on, err := a.links.KillSwitchOn(ctx); err != nil {
		return err
	} else if on {
		return fmt.Errorf("%w: uploads cannot be completed until an admin turns the kill switch off", links.ErrSuspended)
	}
	_, sign, err := a.fileSession(ctx, actor, g, bucket, time.Minute)
	if err != nil {
		return err
	}
	if req.UploadID != "" {
		if err := a.completeMultipart(ctx, sign, bucket, req.Key, req.UploadID, req.Parts); err != nil {
			return err
		}
	}
	u, err := sign(sts.Request{Method: http.MethodHead, Bucket: bucket, Key: req.Key})
	if err != nil {
		return err
	}
	hreq, err := http.NewRequestWithContext(ctx, http.MethodHead, u, nil)
	if err != nil {
		return err
	}
	resp, err := a.client.Do(hreq)
	if err != nil {
		return fmt.Errorf("%w: HEAD %s/%s failed", ErrS3, bucket, req.Key)
	}
	resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusForbidden:
		return fmt.Errorf("%w: object %q in bucket %q has not been uploaded", links.ErrInvalid, req.Key, bucket)
	case resp.StatusCode != http.StatusOK:
		return fmt.Errorf("%w: HEAD %s/%s answered %d", ErrS3, bucket, req.Key, resp.StatusCode)
	case resp.ContentLength != req.Size:
		return fmt.Errorf("%w: object %q holds %d bytes, not the %d sent", links.ErrInvalid, req.Key, resp.ContentLength, req.Size)
	}
	detail := map[string]any{"bucket": bucket, "key": req.Key, "bytes": req.Size}
	if req.UploadID != "" {
		detail["parts"] = len(req.Parts)
	}
	if g != nil {
		detail["grant_id"] = g.ID
	}
	b, _ := json.Marshal(detail)
	ev := a.event(actor, ActionFileUploadComplete, string(b))
	_, err = a.audit.Append(ctx, ev, nil)
	return err
}

// fileSession returns the session that signs a file's requests, for life:
// the grant's own, which S3 holds to the grant's prefix (Upload and
// Download), or the role's for an admin; and a function that signs with it.
// Errors: sts.ErrUnavailable.
func (a *App) fileSession(ctx context.Context, actor Actor, g *grants.Grant, bucket string, life time.Duration) (sts.Grant, func(sts.Request) (string, error), error) {
	if g != nil && a.scoped != nil {
		sc := sts.Scope{Bucket: bucket, Prefix: g.PrefixFor(actor.Name), Actions: sts.Upload | sts.Download}
		sg, err := a.scoped.Grant(ctx, sc, g.ID, life)
		if err != nil {
			return sts.Grant{}, nil, err
		}
		return sg, func(r sts.Request) (string, error) {
			u, err := a.scoped.Presign(sg, r)
			if err != nil {
				return "", fmt.Errorf("%w: %v", links.ErrInvalid, err)
			}
			return u, nil
		}, nil
	}
	sg, err := a.signer.Grant(ctx, life)
	if err != nil {
		return sts.Grant{}, nil, err
	}
	return sg, func(r sts.Request) (string, error) {
		u, err := a.signer.Presign(sg, r)
		if err != nil {
			return "", fmt.Errorf("%w: %v", links.ErrInvalid, err)
		}
		return u, nil
	}, nil
}

// s3Call sends a signed request to S3 and returns its status and (up to
// 1 MiB of) its body. Errors: ErrS3 (never quoting the URL, a secret).
func (a *App) s3Call(ctx context.Context, method, u, ctype string, body []byte, what string, hdrs map[string]string) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, u, bytes.NewReader(body))
	if err != nil {
		return 0, nil, fmt.Errorf("%w: %s", ErrS3, what)
	}
	req.ContentLength = int64(len(body))
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	for k, v := range hdrs {
		req.Header.Set(k, v)
	}
	resp, err := a.client.Do(req)
	if err != nil {
		return 0, nil, fmt.Errorf("%w: %s failed", ErrS3, what)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return 0, nil, fmt.Errorf("%w: %s: reading the answer failed", ErrS3, what)
	}
	return resp.StatusCode, b, nil
}

// s3Error is the error document S3 answers with.
type s3Error struct {
	Code    string `xml:"Code"`
	Message string `xml:"Message"`
}

// startMultipart starts a multipart upload of bucket/key and returns its id.
// The object gets the name headers (Content-Disposition and
// X-Amz-Meta-Filename, see links.NameHeaders), which are signed.
// Errors: ErrS3.
func (a *App) startMultipart(ctx context.Context, sign func(sts.Request) (string, error), bucket, key, ctype string, name map[string]string) (string, error) {
	u, err := sign(sts.Request{Method: http.MethodPost, Bucket: bucket, Key: key,
		ContentDisposition: name["Content-Disposition"], Metadata: map[string]string{links.MetaFilename: name[links.MetaFilenameHeader]}})
	if err != nil {
		return "", err
	}
	// The Content-Type of a multipart object is the one given at its start;
	// it is not signed, so it is sent as a plain header.
	code, b, err := a.s3Call(ctx, http.MethodPost, u, ctype, nil, "starting the multipart upload of "+bucket+"/"+key, name)
	if err != nil {
		return "", err
	}
	var out struct {
		UploadID string `xml:"UploadId"`
	}
	if code != http.StatusOK || xml.Unmarshal(b, &out) != nil || out.UploadID == "" {
		return "", fmt.Errorf("%w: starting the multipart upload of %s/%s: S3 answered %d", ErrS3, bucket, key, code)
	}
	return out.UploadID, nil
}

// validParts checks the parts of a multipart completion of size bytes in
// parts of partSize: every part, numbered 1, 2, … in order, each with an
// ETag. S3 would join fewer parts into a shorter object. Errors:
// links.ErrInvalid.
func validParts(parts []CompletedPart, size, partSize int64) error {
	if partSize < MinPartSize || partSize > maxPartSize || size < 1 {
		return fmt.Errorf("%w: part_size and size: give the part size the upload was started with, and the file's size", links.ErrInvalid)
	}
	n := (size + partSize - 1) / partSize
	if n > MaxParts || int64(len(parts)) != n {
		return fmt.Errorf("%w: parts: %d bytes in parts of %d are %d parts; %d given", links.ErrInvalid, size, partSize, n, len(parts))
	}
	for i, p := range parts {
		if p.Number != i+1 {
			return fmt.Errorf("%w: parts: part %d is numbered %d; give every part, in order", links.ErrInvalid, i+1, p.Number)
		}
		if p.ETag == "" || len(p.ETag) > 128 || strings.ContainsFunc(p.ETag, func(r rune) bool { return r < ' ' || r > '~' }) {
			return fmt.Errorf("%w: parts: part %d has no valid etag", links.ErrInvalid, p.Number)
		}
	}
	return nil
}

// completeMultipart asks S3 to join the parts of upload id into
// bucket/key. Errors: links.ErrInvalid when S3 refuses the parts, ErrS3.
func (a *App) completeMultipart(ctx context.Context, sign func(sts.Request) (string, error), bucket, key, id string, parts []CompletedPart) error {
	u, err := sign(sts.Request{Method: http.MethodPost, Bucket: bucket, Key: key, UploadID: id})
	if err != nil {
		return err
	}
	var x bytes.Buffer
	x.WriteString("<CompleteMultipartUpload>")
	for _, p := range parts {
		fmt.Fprintf(&x, "<Part><PartNumber>%d</PartNumber><ETag>", p.Number)
		xml.EscapeText(&x, []byte(p.ETag))
		x.WriteString("</ETag></Part>")
	}
	x.WriteString("</CompleteMultipartUpload>")
	code, b, err := a.s3Call(ctx, http.MethodPost, u, "application/xml", x.Bytes(), "completing the multipart upload of "+bucket+"/"+key, nil)
	if err != nil {
		return err
	}
	// S3 may answer 200 and then an error document.
	var se s3Error
	if xml.Unmarshal(b, &se) == nil && se.Code != "" || code != http.StatusOK {
		if code >= 500 {
			return fmt.Errorf("%w: completing the multipart upload of %s/%s: S3 answered %d", ErrS3, bucket, key, code)
		}
		return fmt.Errorf("%w: S3 refused to complete the upload of %q: %s %s", links.ErrInvalid, key, se.Code, se.Message)
	}
	return nil
}
