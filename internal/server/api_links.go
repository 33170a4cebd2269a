package server

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
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
// seconds.
type createLinkRequest struct {
	Bucket     string `json:"bucket"`
	Key        string `json:"key"`
	ExpiresIn  *int64 `json:"expires_in"`
	MaxUses    *int64 `json:"max_uses"`
	PresignTTL *int64 `json:"presign_ttl"`
	Note       string `json:"note"`
	Filename   string `json:"filename"`
}

// linkResponse is a link as the API shows it. URL is set only in the answer
// to its creation: the code is never shown again.
type linkResponse struct {
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
}

func toLinkResponse(l *links.Link, now time.Time) linkResponse {
	opt := func(t time.Time) *time.Time {
		if t.IsZero() {
			return nil
		}
		return &t
	}
	return linkResponse{
		ID: l.ID, Kind: string(l.Kind), State: string(l.StateAt(now)), Bucket: l.Bucket, Key: l.Key,
		CreatedAt: l.CreatedAt, CreatedBy: l.CreatedBy, NotBefore: opt(l.NotBefore), ExpiresAt: l.ExpiresAt,
		MaxUses: l.MaxUses, Uses: l.Uses, PresignTTL: int64(l.PresignTTL / time.Second), Note: l.Note,
		Filename: l.Filename, LastAccessAt: opt(l.LastAccessAt), RevokedAt: opt(l.RevokedAt),
		RevokedBy: l.RevokedBy, RevokeReason: l.RevokeReason,
	}
}

// maxNote bounds the free-text fields.
const maxNote = 1000

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

func (s *Server) createLink(w http.ResponseWriter, r *http.Request) error {
	var req createLinkRequest
	if err := decodeJSON(w, r, &req, false); err != nil {
		return err
	}
	if req.Bucket == "" {
		req.Bucket = s.cfg.DefaultBucket
		if req.Bucket == "" {
			return fmt.Errorf("%w: bucket is required (the server has no default bucket)", links.ErrInvalid)
		}
	}
	if err := validBucket(req.Bucket); err != nil {
		return err
	}
	if err := validKey(req.Key); err != nil {
		return err
	}
	lifetime, err := seconds("expires_in", req.ExpiresIn, s.cfg.DefaultLifetime, s.cfg.MaxLifetime)
	if err != nil {
		return err
	}
	ttl, err := seconds("presign_ttl", req.PresignTTL, s.cfg.DefaultPresignTTL, s.cfg.MaxPresignTTL)
	if err != nil {
		return err
	}
	maxUses := 0
	if req.MaxUses != nil {
		switch {
		case *req.MaxUses < 1:
			return fmt.Errorf("%w: max_uses must be at least 1 (omit it for no cap)", links.ErrInvalid)
		case s.cfg.MaxUses > 0 && *req.MaxUses > int64(s.cfg.MaxUses):
			return fmt.Errorf("%w: max_uses %d exceeds the server maximum of %d", links.ErrInvalid, *req.MaxUses, s.cfg.MaxUses)
		case *req.MaxUses > 1<<31:
			return fmt.Errorf("%w: max_uses %d is too large", links.ErrInvalid, *req.MaxUses)
		}
		maxUses = int(*req.MaxUses)
	}
	if len(req.Note) > maxNote || len(req.Filename) > 255 {
		return fmt.Errorf("%w: note is limited to %d bytes and filename to 255", links.ErrInvalid, maxNote)
	}
	for _, f := range []string{req.Note, req.Filename} {
		if strings.ContainsFunc(f, func(r rune) bool { return r < 0x20 && r != '\n' || r == 0x7f }) {
			return fmt.Errorf("%w: note and filename must not contain control characters", links.ErrInvalid)
		}
	}
	if strings.ContainsAny(req.Filename, "/\\\n") {
		return fmt.Errorf("%w: filename must be a bare file name", links.ErrInvalid)
	}

	tok := info(r).token
	now := s.now().UTC().Truncate(time.Millisecond)
	code, hash := links.NewCode()
	l := &links.Link{
		ID: links.NewID(), Kind: links.KindDownload, Bucket: req.Bucket, Key: req.Key,
		CreatedAt: now, CreatedBy: tok.Name, ExpiresAt: now.Add(lifetime), MaxUses: maxUses,
		PresignTTL: ttl, Note: req.Note, Filename: req.Filename,
	}
	detail, _ := json.Marshal(map[string]any{
		"kind": l.Kind, "bucket": l.Bucket, "key": l.Key, "expires_at": l.ExpiresAt,
		"max_uses": l.MaxUses, "presign_ttl": int64(ttl / time.Second),
	})
	ev := audit.Event{
		Action: audit.ActionLinkCreate, Actor: tok.Name, LinkID: l.ID, Outcome: audit.OutcomeOK,
		ClientIP: clientIP(r), UserAgent: r.UserAgent(), RequestID: info(r).id, Detail: string(detail),
	}
	if _, err := s.audit.Append(r.Context(), ev, func(ctx context.Context, tx *sql.Tx, _ *audit.Event) error {
		return links.Insert(ctx, tx, l, hash)
	}); err != nil {
		return err
	}
	resp := toLinkResponse(l, now)
	resp.URL = s.ShortURL(l.Kind, code)
	w.Header().Set("Location", "/api/v1/links/"+l.ID)
	info(r).outcome = "created"
	return writeJSON(w, http.StatusCreated, resp)
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
	if len(req.Reason) > maxNote {
		return fmt.Errorf("%w: reason is limited to %d bytes", links.ErrInvalid, maxNote)
	}
	tok := info(r).token
	id := mux.Vars(r)["id"]
	if _, err := s.visible(r.Context(), tok, id); err != nil {
		return err
	}
	now := s.now().UTC()
	detail, _ := json.Marshal(map[string]string{"reason": req.Reason})
	ev := audit.Event{
		Action: audit.ActionLinkRevoke, Actor: tok.Name, LinkID: id, Outcome: audit.OutcomeOK,
		ClientIP: clientIP(r), UserAgent: r.UserAgent(), RequestID: info(r).id, Detail: string(detail),
	}
	var revoked *links.Link
	if _, err := s.audit.Append(r.Context(), ev, func(ctx context.Context, tx *sql.Tx, ev *audit.Event) error {
		l, err := links.Revoke(ctx, tx, id, tok.Name, req.Reason, now)
		if errors.Is(err, links.ErrRevoked) {
			ev.Reason = "already_revoked"
			err = nil
		}
		revoked = l
		return err
	}); err != nil {
		return err
	}
	info(r).outcome = "revoked"
	return writeJSON(w, http.StatusOK, toLinkResponse(revoked, now))
}
