package app

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

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

// MaxFilePut is the most one presigned PUT may carry: S3's limit for a
// single PUT of an object.
const MaxFilePut = 5 << 30

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
}

// FileUpload is where and how to send the file's bytes. URL is a secret.
type FileUpload struct {
	Bucket    string
	Key       string
	Size      int64
	GrantID   string // "" for an admin's
	Method    string // http.MethodPut
	URL       string
	Headers   map[string]string // to send with the PUT, exactly
	ExpiresAt time.Time         // the URL's end
}

// CompleteUpload says that a file's bytes have been sent.
type CompleteUpload struct {
	Bucket string // "" for the server's default
	Key    string
	Size   int64 // what was sent; checked against the object
}

// ValidFilename checks the name of a file to share: 1–255 bytes of UTF-8
// text without control or bidirectional-formatting characters, without a
// path separator, and not "." or "..". Errors: links.ErrInvalid.
func ValidFilename(name string) error {
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
	all, err := a.grants.For(ctx, actor.Name, actor.Role)
	if err != nil {
		return nil, err
	}
	if key == "" {
		for _, g := range all {
			if g.Live() && g.AppliesTo(actor.Name, actor.Role) && g.Bucket == bucket && g.Has(grants.ActionUpload) && g.Has(grants.ActionDownload) {
				return g, nil
			}
		}
		return nil, fmt.Errorf("%w: no grant of yours in bucket %q allows both upload and download, which sharing a file needs (ask an admin)", grants.ErrNoGrant, bucket)
	}
	cands, err := grants.Match(all, grants.Ask{Person: actor.Name, Role: actor.Role, Action: grants.ActionUpload, Bucket: bucket, Key: key})
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
// (file.upload.start). Errors: links.ErrInvalid naming the field,
// ErrFileTooLarge, grants.ErrNoGrant, links.ErrSuspended while the kill
// switch is on, sts.ErrUnavailable.
func (a *App) StartFileUpload(ctx context.Context, actor Actor, req *StartUpload) (*FileUpload, error) {
	if err := ValidFilename(req.Filename); err != nil {
		return nil, err
	}
	limit := int64(MaxFilePut)
	if a.cfg.Links.MaxUploadBytes > 0 {
		limit = min(limit, a.cfg.Links.MaxUploadBytes)
	}
	switch {
	case req.Size < 0:
		return nil, fmt.Errorf("%w: size must be the file's size in bytes", links.ErrInvalid)
	case req.Size > limit:
		return nil, fmt.Errorf("%w: %d bytes; this server takes at most %d in one file", ErrFileTooLarge, req.Size, limit)
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
	put := sts.Request{Method: http.MethodPut, Bucket: bucket, Key: key, ContentType: req.ContentType,
		ContentLength: req.Size, ExactLength: true, NoOverwrite: true}
	var sg sts.Grant
	var u string
	var err error
	if g != nil && a.scoped != nil {
		sc := sts.Scope{Bucket: bucket, Prefix: g.PrefixFor(actor.Name), Actions: sts.Upload | sts.Download}
		if sg, err = a.scoped.Grant(ctx, sc, g.ID, life); err != nil {
			return nil, err
		}
		u, err = a.scoped.Presign(sg, put)
	} else {
		if sg, err = a.signer.Grant(ctx, life); err != nil {
			return nil, err
		}
		u, err = a.signer.Presign(sg, put)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %v", links.ErrInvalid, err)
	}
	fu := &FileUpload{Bucket: bucket, Key: key, Size: req.Size, Method: http.MethodPut, URL: u, ExpiresAt: sg.Expires,
		Headers: map[string]string{"If-None-Match": "*"}}
	if req.ContentType != "" {
		fu.Headers["Content-Type"] = req.ContentType
	}
	detail := map[string]any{"bucket": bucket, "key": key, "bytes": req.Size, "filename": req.Filename}
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
// size), grants.ErrNoGrant, sts.ErrUnavailable, ErrS3.
func (a *App) CompleteFileUpload(ctx context.Context, actor Actor, req *CompleteUpload) error {
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
	head := sts.Request{Method: http.MethodHead, Bucket: bucket, Key: req.Key}
	var sg sts.Grant
	var u string
	var err error
	if g != nil && a.scoped != nil {
		sc := sts.Scope{Bucket: bucket, Prefix: g.PrefixFor(actor.Name), Actions: sts.Upload | sts.Download}
		if sg, err = a.scoped.Grant(ctx, sc, g.ID, 30*time.Second); err != nil {
			return err
		}
		u, err = a.scoped.Presign(sg, head)
	} else {
		if sg, err = a.signer.Grant(ctx, 30*time.Second); err != nil {
			return err
		}
		u, err = a.signer.Presign(sg, head)
	}
	if err != nil {
		return fmt.Errorf("%w: %v", links.ErrInvalid, err)
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
	if g != nil {
		detail["grant_id"] = g.ID
	}
	b, _ := json.Marshal(detail)
	ev := a.event(actor, ActionFileUploadComplete, string(b))
	_, err = a.audit.Append(ctx, ev, nil)
	return err
}
