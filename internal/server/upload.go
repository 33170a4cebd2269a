package server

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/base32"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"strings"
	"time"

	"github.com/sharesvc/sharesvc/internal/audit"
	"github.com/sharesvc/sharesvc/internal/links"
	"github.com/sharesvc/sharesvc/internal/sts"
)

// Errors of upload requests.
var (
	errLengthRequired = errors.New("Content-Length required")
	errTooBig         = errors.New("upload larger than this link allows")
	errWrongType      = errors.New("upload has the wrong Content-Type")
	errNoOverwrite    = errors.New("If-None-Match: * required")
)

// openUpload answers PUT /u/{code}: a live upload link gets a 307 to a
// presigned PUT minted now, so `curl -L -T file URL` sends the bytes straight
// to S3. The size cap and content type are signed into the URL (the
// Content-Length and Content-Type headers are signed), so S3 itself refuses
// an upload that does not match; sharesvc refuses early what it can see.
// The body is never read.
func (s *Server) openUpload(w http.ResponseWriter, r *http.Request) error {
	// Uploads are answered before the body is read; tell the client not to
	// reuse this connection for a body it may still be sending.
	w.Header().Set("Connection", "close")
	loc, _, _, err := s.mintUpload(w, r, r.ContentLength, r.Header.Get("Content-Type"), r.Header.Get("If-None-Match") == "*", "")
	if err != nil {
		return err
	}
	w.Header().Set("Location", loc)
	w.WriteHeader(http.StatusTemporaryRedirect)
	return nil
}

// mintUpload runs every check of an upload open for a file of size bytes
// sent with Content-Type ctype (-1: size unknown), spends a use, audits,
// and returns the presigned PUT. Both PUT /u/{code} (307) and the upload
// page's POST /u/{code}/presign (JSON) go through it.
//
// An upload link to an exact key signs If-None-Match: *, so that S3 refuses
// the upload once the object exists (412): an upload never replaces an
// object, even one that appeared after the link was made or an earlier
// upload through the same link. The client must send that header;
// noOverwrite says it will.
//
// A known filename, the uploader's file name (cleaned), is signed into the
// URL as the object's Content-Disposition and x-amz-meta-filename
// (links.NameHeaders), so the object keeps its own name in S3 and S3
// refuses a PUT that drops or changes either.
//
// hdrs are the headers the PUT must send exactly, besides Content-Type and
// Content-Length. The mint records a pending arrival (links.Arrival) named
// filename ("" unknown) in the transaction that spends the use; arrival
// is its id, for POST /u/{code}/done.
func (s *Server) mintUpload(w http.ResponseWriter, r *http.Request, size int64, ctype string, noOverwrite bool, filename string) (loc string, hdrs map[string]string, arrival string, err error) {
	l, ev, now, err := s.openLink(w, r, links.KindUpload, false)
	if err != nil {
		return "", nil, "", err
	}
	deny := func(reason string, err error) (string, map[string]string, string, error) {
		return "", nil, "", s.denyOpen(r, ev, reason, err)
	}
	if size < 0 {
		return deny("length_required", fmt.Errorf("%w: send the file with its size (curl -T does)", errLengthRequired))
	}
	if l.MaxBytes > 0 && size > l.MaxBytes {
		return deny("too_large", fmt.Errorf("%w: %d bytes, the limit is %d", errTooBig, size, l.MaxBytes))
	}
	if l.ContentType != "" {
		got, _, _ := mime.ParseMediaType(ctype)
		want, _, _ := mime.ParseMediaType(l.ContentType)
		if got != want || ctype != l.ContentType {
			return deny("wrong_content_type", fmt.Errorf("%w: send Content-Type: %s", errWrongType, l.ContentType))
		}
	}
	key := l.Key
	if l.KeyIsPrefix {
		key = generatedKey(l.Key, now)
	} else if !noOverwrite {
		return deny("no_overwrite_header", fmt.Errorf("%w: this link uploads to one name and never replaces an object there; send the header (curl -H 'If-None-Match: *')", errNoOverwrite))
	}
	if err := s.limitMint(l.ID); err != nil {
		ev.Detail = limitDetail(err)
		return deny("rate_limited", err)
	}

	g, err := s.grant(r, ev, l, min(l.PresignTTL, l.ExpiresAt.Sub(now)))
	if err != nil {
		return "", nil, "", err
	}
	preq := sts.Request{Method: http.MethodPut, Bucket: l.Bucket, Key: key, ContentType: l.ContentType, NoOverwrite: !l.KeyIsPrefix}
	if l.MaxBytes > 0 {
		// Signing the exact length makes S3 refuse any other size; a
		// declared 0 is signed too, or it would leave the size unchecked.
		preq.ContentLength, preq.ExactLength = size, true
	}
	hdrs = map[string]string{}
	if preq.NoOverwrite {
		hdrs["If-None-Match"] = "*"
	}
	name := links.CleanFilename(filename)
	if d, m := links.NameHeaders(name); d != "" {
		preq.ContentDisposition, preq.Metadata = d, map[string]string{links.MetaFilename: m}
		hdrs["Content-Disposition"], hdrs[links.MetaFilenameHeader] = d, m
	}
	loc, err = s.presign(g, preq)
	if err != nil {
		return "", nil, "", err
	}
	a := &links.Arrival{ID: links.NewArrivalID(), LinkID: l.ID, Key: key, Filename: name,
		Bytes: size, ClientIP: s.audit.ClientIP(ev.ClientIP), CreatedAt: now}
	detail, _ := json.Marshal(map[string]any{"key": key, "bytes": size, "upload": a.ID})
	ev.URLExpiresAt, ev.STSSession, ev.Detail = g.Expires, g.Session, string(detail)
	record := func(ctx context.Context, tx *sql.Tx, _ *audit.Event) error { return links.InsertArrival(ctx, tx, a) }
	if err := s.spend(r, ev, "", l, now, record); err != nil {
		return "", nil, "", err
	}
	return loc, hdrs, a.ID, nil
}

var nameEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// generatedKey names one upload under prefix: UTC time then 40 random bits,
// so names sort by arrival and never collide in practice.
func generatedKey(prefix string, now time.Time) string {
	var b [5]byte
	rand.Read(b[:])
	if prefix != "" && !strings.HasSuffix(prefix, "/") {
		prefix += "/"
	}
	return prefix + now.UTC().Format("20060102T150405Z") + "-" + nameEncoding.EncodeToString(b[:])
}
