package server

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gorilla/mux"

	"github.com/sharesvc/sharesvc/internal/audit"
	"github.com/sharesvc/sharesvc/internal/auth"
	"github.com/sharesvc/sharesvc/internal/links"
)

// createLinkRequest is the body of POST /api/v1/links. Durations are whole
// seconds; times are RFC 3339.
type createLinkRequest struct {
	Kind        string     `json:"kind"` // "download" (default) or "upload"
	Bucket      string     `json:"bucket"`
	Key         string     `json:"key"`
	KeyPrefix   string     `json:"key_prefix"` // upload only, instead of key: each upload gets a generated name under it
	ExpiresIn   *int64     `json:"expires_in"`
	ExpiresAt   *time.Time `json:"expires_at"`
	NotBefore   *time.Time `json:"not_before"`
	MaxUses     *int64     `json:"max_uses"`
	PresignTTL  *int64     `json:"presign_ttl"`
	Note        string     `json:"note"`
	Filename    string     `json:"filename"`     // download only: served as Content-Disposition
	MaxBytes    *int64     `json:"max_bytes"`    // upload only: size cap, enforced by S3
	ContentType string     `json:"content_type"` // upload only: required Content-Type, enforced by S3
	// Sharing by email (see api_shares.go): one link per recipient, sent
	// by mail; the codes are never returned.
	Recipients []string `json:"recipients"`
	Confirm    *bool    `json:"confirm"`     // browsers get a confirmation page; default true with recipients
	Direct     *bool    `json:"direct"`      // with confirm: non-browsers redirected at once; default false with recipients
	Notify     string   `json:"notify"`      // recipients only: address told about first opens
	NotifyMode string   `json:"notify_mode"` // "first" (default) or "digest"
}

// LinkResponse is a link as the API shows it. URL is set only in the answer
// to its creation: the code is never shown again.
type LinkResponse struct {
	ID           string     `json:"id"`
	URL          string     `json:"url,omitempty"`
	Kind         string     `json:"kind"`
	State        string     `json:"state"`
	Bucket       string     `json:"bucket"`
	Key          string     `json:"key"`
	CreatedAt    time.Time  `json:"created_at"`
	CreatedBy    string     `json:"created_by"`
	NotBefore    *time.Time `json:"not_before,omitempty"`
	ExpiresAt    time.Time  `json:"expires_at"`
	MaxUses      int        `json:"max_uses,omitempty"`
	Uses         int        `json:"uses"`
	PresignTTL   int64      `json:"presign_ttl"`
	Note         string     `json:"note,omitempty"`
	Filename     string     `json:"filename,omitempty"`
	LastAccessAt *time.Time `json:"last_access_at,omitempty"`
	RevokedAt    *time.Time `json:"revoked_at,omitempty"`
	RevokedBy    string     `json:"revoked_by,omitempty"`
	RevokeReason string     `json:"revoke_reason,omitempty"`
	KeyIsPrefix  bool       `json:"key_is_prefix,omitempty"`
	MaxBytes     int64      `json:"max_bytes,omitempty"`
	ContentType  string     `json:"content_type,omitempty"`
	ShareID      string     `json:"share_id,omitempty"`
	Recipient    string     `json:"recipient,omitempty"`
	Confirm      bool       `json:"confirm,omitempty"`
	Direct       *bool      `json:"direct,omitempty"` // set when confirm is
	FirstOpenAt  *time.Time `json:"first_open_at,omitempty"`
}

func toLinkResponse(l *links.Link, now time.Time) LinkResponse {
	return LinkResponse{
		ID: l.ID, Kind: string(l.Kind), State: string(l.StateAt(now)), Bucket: l.Bucket, Key: l.Key,
		CreatedAt: l.CreatedAt, CreatedBy: l.CreatedBy, NotBefore: optTime(l.NotBefore), ExpiresAt: l.ExpiresAt,
		MaxUses: l.MaxUses, Uses: l.Uses, PresignTTL: int64(l.PresignTTL / time.Second), Note: l.Note,
		Filename: l.Filename, LastAccessAt: optTime(l.LastAccessAt), RevokedAt: optTime(l.RevokedAt),
		RevokedBy: l.RevokedBy, RevokeReason: l.RevokeReason,
		KeyIsPrefix: l.KeyIsPrefix, MaxBytes: l.MaxBytes, ContentType: l.ContentType,
		ShareID: l.ShareID, Recipient: l.Recipient, Confirm: l.Confirm, Direct: optBool(l.Confirm, l.Direct),
		FirstOpenAt: optTime(l.FirstOpenAt),
	}
}

// maxNote bounds the free-text fields.
const maxNote = 1000

// checkReason bounds the free-text reason of a revocation or an admin act.
func checkReason(reason string) error {
	if len(reason) > maxNote {
		return fmt.Errorf("%w: reason is limited to %d bytes", links.ErrInvalid, maxNote)
	}
	return nil
}

// validKey checks an object key the way S3 does: 1–1024 bytes of UTF-8.
// Control characters are refused too: they break logs, headers and e-mail.
func validKey(k string) error {
	switch {
	case k == "":
		return fmt.Errorf("%w: key is required", links.ErrInvalid)
	case len(k) > 1024:
		return fmt.Errorf("%w: key is %d bytes; S3 allows at most 1024", links.ErrInvalid, len(k))
	case !utf8.ValidString(k):
		return fmt.Errorf("%w: key is not valid UTF-8", links.ErrInvalid)
	}
	for _, r := range k {
		if r < 0x20 || r == 0x7f {
			return fmt.Errorf("%w: key contains a control character", links.ErrInvalid)
		}
	}
	// Browsers and HTTP clients remove "." and ".." path segments before
	// sending, so a presigned URL for such a key would reach another key
	// and fail its signature check.
	for _, seg := range strings.Split(k, "/") {
		if seg == "." || seg == ".." {
			return fmt.Errorf("%w: key has a %q path segment, which browsers rewrite; such an object cannot be shared by URL", links.ErrInvalid, seg)
		}
	}
	return nil
}

// validBucket checks S3's bucket naming rules (3–63 lower-case letters,
// digits, dots and hyphens, starting and ending with a letter or digit).
func validBucket(b string) error {
	if len(b) < 3 || len(b) > 63 {
		return fmt.Errorf("%w: bucket %q must be 3-63 characters", links.ErrInvalid, b)
	}
	for i := 0; i < len(b); i++ {
		c := b[i]
		ok := 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '.'
		if !ok || (i == 0 || i == len(b)-1) && (c == '-' || c == '.') {
			return fmt.Errorf("%w: bucket %q must be lower-case letters, digits, '.' and '-', starting and ending with a letter or digit", links.ErrInvalid, b)
		}
	}
	if strings.Contains(b, "..") {
		return fmt.Errorf("%w: bucket %q must not contain '..'", links.ErrInvalid, b)
	}
	return nil
}

// seconds turns an optional whole-seconds field into a duration, applying a
// default and a maximum, and names the field in errors.
func seconds(field string, v *int64, def, max time.Duration) (time.Duration, error) {
	if v == nil {
		return def, nil
	}
	if *v < 1 {
		return 0, fmt.Errorf("%w: %s must be at least 1 second", links.ErrInvalid, field)
	}
	if *v > int64(max/time.Second) {
		return 0, fmt.Errorf("%w: %s %d exceeds the server maximum of %d seconds", links.ErrInvalid, field, *v, int64(max/time.Second))
	}
	return time.Duration(*v) * time.Second, nil
}

// newLink validates a create request against the server's limits and
// returns the link it describes. Errors: links.ErrInvalid naming the field.
func (s *Server) newLink(req *createLinkRequest, creator string, now time.Time) (*links.Link, error) {
	kind := links.Kind(req.Kind)
	switch kind {
	case "":
		kind = links.KindDownload
	case links.KindDownload, links.KindUpload:
	default:
		return nil, fmt.Errorf("%w: kind %q must be download or upload", links.ErrInvalid, req.Kind)
	}
	if req.Bucket == "" {
		req.Bucket = s.cfg.DefaultBucket
		if req.Bucket == "" {
			return nil, fmt.Errorf("%w: bucket is required (the server has no default bucket)", links.ErrInvalid)
		}
	}
	if err := validBucket(req.Bucket); err != nil {
		return nil, err
	}
	l := &links.Link{ID: links.NewID(), Kind: kind, Bucket: req.Bucket, CreatedAt: now, CreatedBy: creator,
		Note: req.Note, Filename: req.Filename}
	switch {
	case req.KeyPrefix != "" && req.Key != "":
		return nil, fmt.Errorf("%w: give key or key_prefix, not both", links.ErrInvalid)
	case req.KeyPrefix != "":
		if kind != links.KindUpload {
			return nil, fmt.Errorf("%w: key_prefix is for upload links; a download link names one key", links.ErrInvalid)
		}
		if err := validKey(req.KeyPrefix + "x"); err != nil {
			return nil, fmt.Errorf("key_prefix: %w", err)
		}
		l.Key, l.KeyIsPrefix = req.KeyPrefix, true
	default:
		if err := validKey(req.Key); err != nil {
			return nil, err
		}
		l.Key = req.Key
	}

	// Lifetime: expires_in or expires_at, never both; within the maximum.
	switch {
	case req.ExpiresIn != nil && req.ExpiresAt != nil:
		return nil, fmt.Errorf("%w: give expires_in or expires_at, not both", links.ErrInvalid)
	case req.ExpiresAt != nil:
		d := req.ExpiresAt.Sub(now)
		if d < time.Second {
			return nil, fmt.Errorf("%w: expires_at %s is not in the future", links.ErrInvalid, req.ExpiresAt.Format(time.RFC3339))
		}
		if d > s.cfg.MaxLifetime {
			return nil, fmt.Errorf("%w: expires_at is %s away; the server maximum lifetime is %s", links.ErrInvalid, d.Round(time.Second), s.cfg.MaxLifetime)
		}
		l.ExpiresAt = req.ExpiresAt.UTC().Truncate(time.Millisecond)
	default:
		lifetime, err := seconds("expires_in", req.ExpiresIn, s.cfg.DefaultLifetime, s.cfg.MaxLifetime)
		if err != nil {
			return nil, err
		}
		l.ExpiresAt = now.Add(lifetime)
	}
	if req.NotBefore != nil {
		nb := req.NotBefore.UTC().Truncate(time.Millisecond)
		if !nb.Before(l.ExpiresAt) {
			return nil, fmt.Errorf("%w: not_before must be before the link expires", links.ErrInvalid)
		}
		if nb.After(now) {
			l.NotBefore = nb
		}
	}
	ttl, err := seconds("presign_ttl", req.PresignTTL, s.cfg.DefaultPresignTTL, s.cfg.MaxPresignTTL)
	if err != nil {
		return nil, err
	}
	l.PresignTTL = ttl
	if req.MaxUses != nil {
		switch {
		case *req.MaxUses < 1:
			return nil, fmt.Errorf("%w: max_uses must be at least 1 (omit it for no cap)", links.ErrInvalid)
		case s.cfg.MaxUses > 0 && *req.MaxUses > int64(s.cfg.MaxUses):
			return nil, fmt.Errorf("%w: max_uses %d exceeds the server maximum of %d", links.ErrInvalid, *req.MaxUses, s.cfg.MaxUses)
		case *req.MaxUses > 1<<31:
			return nil, fmt.Errorf("%w: max_uses %d is too large", links.ErrInvalid, *req.MaxUses)
		}
		l.MaxUses = int(*req.MaxUses)
	} else if s.cfg.MaxUses > 0 {
		// A server maximum also caps links that ask for none.
		l.MaxUses = s.cfg.MaxUses
	}
	if len(req.Note) > maxNote || len(req.Filename) > 255 {
		return nil, fmt.Errorf("%w: note is limited to %d bytes and filename to 255", links.ErrInvalid, maxNote)
	}
	for _, f := range []string{req.Note, req.Filename, req.ContentType} {
		if !utf8.ValidString(f) || strings.ContainsFunc(f, func(r rune) bool { return r < 0x20 && r != '\n' || r == 0x7f }) {
			return nil, fmt.Errorf("%w: note, filename and content_type must be UTF-8 without control characters", links.ErrInvalid)
		}
	}
	if strings.ContainsAny(req.Filename, "/\\\n") {
		return nil, fmt.Errorf("%w: filename must be a bare file name", links.ErrInvalid)
	}
	if err := s.confirmSettings(req, l); err != nil {
		return nil, err
	}
	if kind == links.KindDownload {
		if req.MaxBytes != nil || req.ContentType != "" {
			return nil, fmt.Errorf("%w: max_bytes and content_type are for upload links", links.ErrInvalid)
		}
		return l, nil
	}
	if req.Filename != "" {
		return nil, fmt.Errorf("%w: filename is for download links", links.ErrInvalid)
	}
	if req.MaxBytes != nil {
		switch {
		case *req.MaxBytes < 1:
			return nil, fmt.Errorf("%w: max_bytes must be at least 1 (omit it for the server maximum)", links.ErrInvalid)
		case *req.MaxBytes > s.cfg.MaxUploadBytes:
			return nil, fmt.Errorf("%w: max_bytes %d exceeds the server maximum of %d", links.ErrInvalid, *req.MaxBytes, s.cfg.MaxUploadBytes)
		}
		l.MaxBytes = *req.MaxBytes
	} else {
		l.MaxBytes = s.cfg.MaxUploadBytes
	}
	if req.ContentType != "" {
		if _, _, err := mime.ParseMediaType(req.ContentType); err != nil || len(req.ContentType) > 255 {
			return nil, fmt.Errorf("%w: content_type %q is not a media type", links.ErrInvalid, req.ContentType)
		}
		l.ContentType = req.ContentType
	}
	return l, nil
}

func (s *Server) createLink(w http.ResponseWriter, r *http.Request) error {
	var req createLinkRequest
	if err := decodeJSON(w, r, &req, false); err != nil {
		return err
	}
	c, err := s.create(r, &req)
	if err != nil {
		return err
	}
	info(r).outcome = "created"
	if c.share != nil {
		w.Header().Set("Location", "/api/v1/shares/"+c.share.ID)
		return writeJSON(w, http.StatusCreated, c.share)
	}
	resp := toLinkResponse(c.link, c.link.CreatedAt)
	resp.URL = s.ShortURL(c.link.Kind, c.code)
	w.Header().Set("Location", "/api/v1/links/"+c.link.ID)
	return writeJSON(w, http.StatusCreated, resp)
}

// created is what a create request made: one link and its code, or, with
// recipients, a share (whose codes only the recipients get).
type created struct {
	link  *links.Link
	code  string
	share *ShareResponse
}

// create validates req, checks the object, and stores the link (or the
// share) with its audit row: the API and the console both create through it.
func (s *Server) create(r *http.Request, req *createLinkRequest) (*created, error) {
	tok := info(r).token
	now := s.now().UTC().Truncate(time.Millisecond)
	l, err := s.newLink(req, tok.Name, now)
	if err != nil {
		return nil, err
	}
	if l.Kind == links.KindDownload {
		// Checked with the signer's own session: what it cannot read, no
		// link of ours could ever hand out.
		if err := s.checkObject(r.Context(), l.Bucket, l.Key); err != nil {
			return nil, err
		}
	}
	if req.Recipients != nil {
		sh, err := s.insertShare(r, req, l)
		if err != nil {
			return nil, err
		}
		return &created{share: &sh}, nil
	}
	code, hash := links.NewCode()
	detail, _ := json.Marshal(map[string]any{
		"kind": l.Kind, "bucket": l.Bucket, "key": l.Key, "key_is_prefix": l.KeyIsPrefix, "expires_at": l.ExpiresAt,
		"max_uses": l.MaxUses, "presign_ttl": int64(l.PresignTTL / time.Second), "max_bytes": l.MaxBytes,
	})
	ev := s.apiEvent(r, audit.ActionLinkCreate, string(detail))
	ev.LinkID = l.ID
	if _, err := s.audit.Append(r.Context(), ev, func(ctx context.Context, tx *sql.Tx, _ *audit.Event) error {
		return links.Insert(ctx, tx, l, hash)
	}); err != nil {
		return nil, err
	}
	return &created{link: l, code: code}, nil
}

// visible returns the link if tok may see it: admins and auditors see all
// links, sharers their own. Errors: links.ErrNotFound, auth.ErrForbidden.
func (s *Server) visible(ctx context.Context, tok *auth.Token, id string) (*links.Link, error) {
	l, err := s.links.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	if tok.Role == auth.RoleSharer && l.CreatedBy != tok.Name {
		return nil, fmt.Errorf("%w: link %s belongs to another sharer", auth.ErrForbidden, id)
	}
	return l, nil
}

func (s *Server) getLink(w http.ResponseWriter, r *http.Request) error {
	l, err := s.visible(r.Context(), info(r).token, mux.Vars(r)["id"])
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, toLinkResponse(l, s.now()))
}

type revokeRequest struct {
	Reason string `json:"reason"`
}

func (s *Server) revokeLink(w http.ResponseWriter, r *http.Request) error {
	var req revokeRequest
	if err := decodeJSON(w, r, &req, true); err != nil {
		return err
	}
	return s.revoke(w, r, mux.Vars(r)["id"], req.Reason)
}

// revoke revokes link id if the caller may see it; revoking a revoked link
// is not an error and changes nothing.
func (s *Server) revoke(w http.ResponseWriter, r *http.Request, id, reason string) error {
	revoked, err := s.revokeOne(r, id, reason)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, toLinkResponse(revoked, s.now().UTC()))
}

// revokeOne revokes link id for the API and the console alike.
func (s *Server) revokeOne(r *http.Request, id, reason string) (*links.Link, error) {
	if err := checkReason(reason); err != nil {
		return nil, err
	}
	tok := info(r).token
	if _, err := s.visible(r.Context(), tok, id); err != nil {
		return nil, err
	}
	now := s.now().UTC()
	detail, _ := json.Marshal(map[string]string{"reason": reason})
	ev := s.apiEvent(r, audit.ActionLinkRevoke, string(detail))
	ev.LinkID = id
	var revoked *links.Link
	if _, err := s.audit.Append(r.Context(), ev, func(ctx context.Context, tx *sql.Tx, ev *audit.Event) error {
		l, err := links.Revoke(ctx, tx, id, tok.Name, reason, now)
		if errors.Is(err, links.ErrRevoked) {
			ev.Reason = "already_revoked"
			err = nil
		}
		revoked = l
		return err
	}); err != nil {
		return nil, err
	}
	info(r).outcome = "revoked"
	return revoked, nil
}
