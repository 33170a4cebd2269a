package server

import (
	"net/http"
	"time"

	"github.com/gorilla/mux"

	"github.com/sharesvc/sharesvc/internal/app"
	"github.com/sharesvc/sharesvc/internal/links"
)

// createLinkRequest is the body of POST /api/v1/links. Durations are whole
// seconds (in JSON also strings such as "3d", see jsonduration.go); times
// are RFC 3339.
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
	// Upload links: mail notify about each arrival (GET /links/{id}/arrivals).
	NotifyArrivals bool `json:"notify_arrivals"`
	// VerifyRecipient: the recipient enters a code mailed to them before
	// the first mint (verify.go). Default false.
	VerifyRecipient bool `json:"verify_recipient"`
}

// LinkResponse is a link as the API shows it. URL is set only in the answer
// to its creation: the code is never shown again.
type LinkResponse struct {
	ID              string     `json:"id"`
	URL             string     `json:"url,omitempty"`
	Kind            string     `json:"kind"`
	State           string     `json:"state"`
	Bucket          string     `json:"bucket"`
	Key             string     `json:"key"`
	CreatedAt       time.Time  `json:"created_at"`
	CreatedBy       string     `json:"created_by"`
	NotBefore       *time.Time `json:"not_before,omitempty"`
	ExpiresAt       time.Time  `json:"expires_at"`
	MaxUses         int        `json:"max_uses,omitempty"`
	Uses            int        `json:"uses"`
	PresignTTL      int64      `json:"presign_ttl"`
	Note            string     `json:"note,omitempty"`
	Filename        string     `json:"filename,omitempty"`
	LastAccessAt    *time.Time `json:"last_access_at,omitempty"`
	RevokedAt       *time.Time `json:"revoked_at,omitempty"`
	RevokedBy       string     `json:"revoked_by,omitempty"`
	RevokeReason    string     `json:"revoke_reason,omitempty"`
	KeyIsPrefix     bool       `json:"key_is_prefix,omitempty"`
	MaxBytes        int64      `json:"max_bytes,omitempty"`
	ContentType     string     `json:"content_type,omitempty"`
	ShareID         string     `json:"share_id,omitempty"`
	Recipient       string     `json:"recipient,omitempty"`
	Confirm         bool       `json:"confirm,omitempty"`
	Direct          *bool      `json:"direct,omitempty"` // set when confirm is
	FirstOpenAt     *time.Time `json:"first_open_at,omitempty"`
	GrantID         string     `json:"grant_id,omitempty"` // the grant the link was made under; "" for an admin's
	VerifyRecipient bool       `json:"verify_recipient,omitempty"`
	ObjectBytes     *int64     `json:"object_bytes,omitempty"` // download links: the object's size at creation; absent when unknown
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
		FirstOpenAt: optTime(l.FirstOpenAt), GrantID: l.GrantID, VerifyRecipient: l.VerifyRecipient,
		ObjectBytes: l.ObjectBytes,
	}
}

// toApp is the link a create request asks for, as the application layer
// takes it.
func (req *createLinkRequest) toApp() *app.CreateLink {
	return &app.CreateLink{
		Spec: links.Spec{
			Kind: links.Kind(req.Kind), Bucket: req.Bucket, Key: req.Key, KeyPrefix: req.KeyPrefix,
			ExpiresIn: req.ExpiresIn, ExpiresAt: req.ExpiresAt, NotBefore: req.NotBefore, MaxUses: req.MaxUses,
			PresignTTL: req.PresignTTL, Note: req.Note, Filename: req.Filename, MaxBytes: req.MaxBytes,
			ContentType: req.ContentType,
		},
		Recipients: req.Recipients, Confirm: req.Confirm, Direct: req.Direct, Notify: req.Notify, NotifyMode: req.NotifyMode,
		NotifyArrivals:  req.NotifyArrivals,
		VerifyRecipient: req.VerifyRecipient,
	}
}

// limits are the server's bounds on links, as the link rules take them.
func (c *Config) limits() links.Limits {
	return links.Limits{
		DefaultBucket: c.DefaultBucket, DefaultLifetime: c.DefaultLifetime, MaxLifetime: c.MaxLifetime,
		DefaultPresignTTL: c.DefaultPresignTTL, MaxPresignTTL: c.MaxPresignTTL, MaxUses: c.MaxUses,
		MaxUploadBytes: c.MaxUploadBytes,
	}
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

// create asks the application layer for the link (or the share) req
// describes: the API and the console both create through it.
func (s *Server) create(r *http.Request, req *createLinkRequest) (*created, error) {
	c, err := s.app.CreateLink(r.Context(), s.actor(r), req.toApp())
	if err != nil {
		return nil, err
	}
	if c.Share == nil {
		return &created{link: c.Link, code: c.Code}, nil
	}
	sh := c.Share
	resp := ShareResponse{ID: sh.ID, CreatedBy: sh.CreatedBy, CreatedAt: sh.CreatedAt, Deliveries: []*DeliveryResponse{}}
	for _, m := range sh.Members {
		d := toDelivery(m.Delivery)
		resp.Links = append(resp.Links, ShareLink{LinkResponse: toLinkResponse(m.Link, sh.CreatedAt), Delivery: d})
		resp.Deliveries = append(resp.Deliveries, d)
	}
	return &created{share: &resp}, nil
}

func (s *Server) getLink(w http.ResponseWriter, r *http.Request) error {
	l, err := s.app.Link(r.Context(), s.actor(r), mux.Vars(r)["id"])
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
	l, err := s.app.RevokeLink(r.Context(), s.actor(r), mux.Vars(r)["id"], req.Reason)
	return s.revoked(w, r, l, err)
}

// revoked answers a revocation of one link.
func (s *Server) revoked(w http.ResponseWriter, r *http.Request, l *links.Link, err error) error {
	if err != nil {
		return err
	}
	info(r).outcome = "revoked"
	return writeJSON(w, http.StatusOK, toLinkResponse(l, s.now().UTC()))
}
