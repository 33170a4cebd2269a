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

	"github.com/gorilla/mux"

	"github.com/sharesvc/sharesvc/internal/audit"
	"github.com/sharesvc/sharesvc/internal/links"
	"github.com/sharesvc/sharesvc/internal/sts"
)

// Errors of upload requests.
var (
	errLengthRequired = errors.New("Content-Length required")
	errTooBig         = errors.New("upload larger than this link allows")
	errWrongType      = errors.New("upload has the wrong Content-Type")
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
	loc, err := s.mintUpload(w, r, r.ContentLength, r.Header.Get("Content-Type"))
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
func (s *Server) mintUpload(w http.ResponseWriter, r *http.Request, size int64, ctype string) (string, error) {
	ri := info(r)
	ri.public = true
	setShareHeaders(w.Header())
	code := mux.Vars(r)["code"]
	ev := audit.Event{
		Action:    audit.ActionAccess,
		Actor:     audit.ActorClient,
		ClientIP:  clientIP(r),
		UserAgent: r.UserAgent(),
		RequestID: ri.id,
	}
	deny := func(reason string, err error) (string, error) {
		ri.outcome = reason
		s.metrics.Denials.WithLabelValues(reason).Inc()
		ev.Outcome, ev.Reason = audit.OutcomeDenied, reason
		if aerr := s.appendDenial(r.Context(), ev); aerr != nil { // flood budget: see api_audit.go
			return "", aerr
		}
		return "", err
	}
	l, err := s.links.ByCode(r.Context(), code)
	if errors.Is(err, links.ErrNotFound) {
		return deny("not_found", links.ErrNotFound)
	}
	if err != nil {
		return "", err
	}
	ev.LinkID = l.ID
	if l.Kind != links.KindUpload {
		return deny("wrong_kind", links.ErrNotFound)
	}
	now := s.now()
	if st := l.StateAt(now); st != links.StateLive {
		return deny(string(st), st.Err())
	}
	if s.suspended(r.Context()) {
		return deny(string(links.StateSuspended), links.ErrSuspended)
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
	}
	if err := s.limitMint(l.ID); err != nil {
		ev.Detail = limitDetail(err)
		return deny("rate_limited", err)
	}

	g, err := s.signer.Grant(r.Context(), min(l.PresignTTL, l.ExpiresAt.Sub(now)))
	if err != nil {
		if errors.Is(err, sts.ErrUnavailable) {
			ri.outcome = "signer_unavailable"
			s.metrics.Denials.WithLabelValues("signer_unavailable").Inc()
			ev.Outcome, ev.Reason = audit.OutcomeUnavailable, "signer_unavailable"
			if _, aerr := s.audit.Append(r.Context(), ev, nil); aerr != nil {
				return "", aerr
			}
		}
		return "", err
	}
	preq := sts.Request{Method: http.MethodPut, Bucket: l.Bucket, Key: key, ContentType: l.ContentType}
	if l.MaxBytes > 0 {
		// Signing the exact length makes S3 refuse any other size; an empty
		// upload cannot be signed this way, and needs no cap.
		preq.ContentLength = size
	}
	loc, err := s.signer.Presign(g, preq)
	if err != nil {
		return "", err
	}
	detail, _ := json.Marshal(map[string]any{"key": key, "bytes": size})
	ev.Outcome, ev.URLExpiresAt, ev.STSSession, ev.Detail = audit.OutcomeMinted, g.Expires, g.Session, string(detail)
	id := l.ID
	ev, err = s.audit.Append(r.Context(), ev, func(ctx context.Context, tx *sql.Tx, ev *audit.Event) error {
		st, err := links.ClaimUse(ctx, s.audit.Querier(tx), id, now)
		if err != nil {
			return err
		}
		if st != links.StateLive {
			ev.Outcome, ev.Reason = audit.OutcomeDenied, string(st)
			ev.URLExpiresAt, ev.STSSession, ev.Detail = time.Time{}, "", ""
		}
		return nil
	})
	if err != nil {
		return "", err
	}
	if ev.Outcome != audit.OutcomeMinted {
		ri.outcome = ev.Reason
		s.metrics.Denials.WithLabelValues(ev.Reason).Inc()
		return "", links.State(ev.Reason).Err()
	}
	ri.outcome = "minted"
	s.metrics.Mints.WithLabelValues(string(l.Kind)).Inc()
	return loc, nil
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
