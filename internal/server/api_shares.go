package server

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"net/http"
	"path"
	"time"

	"github.com/gorilla/mux"

	"github.com/sharesvc/sharesvc/internal/audit"
	"github.com/sharesvc/sharesvc/internal/links"
	"github.com/sharesvc/sharesvc/internal/mail"
)

// confirmSettings applies the sharing-by-email fields of a create request
// to l: recipients (normalised in place), confirm, direct and notify.
// Errors: links.ErrInvalid naming the field (wrapping
// mail.ErrInvalidAddress for addresses).
func (s *Server) confirmSettings(req *createLinkRequest, l *links.Link) error {
	share := req.Recipients != nil
	l.Confirm, l.Direct = share, !share
	if req.Confirm != nil {
		l.Confirm = *req.Confirm
	}
	if req.Direct != nil {
		if !l.Confirm {
			return fmt.Errorf("%w: direct only applies with confirm", links.ErrInvalid)
		}
		l.Direct = *req.Direct
	}
	if l.Confirm && l.Kind != links.KindDownload {
		return fmt.Errorf("%w: confirm is for download links", links.ErrInvalid)
	}
	if !share {
		if req.Notify != "" || req.NotifyMode != "" {
			return fmt.Errorf("%w: notify and notify_mode need recipients", links.ErrInvalid)
		}
		return nil
	}
	if l.Kind != links.KindDownload {
		return fmt.Errorf("%w: recipients is for download links", links.ErrInvalid)
	}
	if s.mail == nil {
		return fmt.Errorf("%w: recipients: this server does not send mail (SHARESVC_SMTP_HOST is not set)", links.ErrInvalid)
	}
	rcpts, err := mail.NormalizeRecipients(req.Recipients, s.cfg.MaxRecipients)
	if err != nil {
		return fmt.Errorf("%w: recipients: %w", links.ErrInvalid, err)
	}
	req.Recipients = rcpts
	switch req.NotifyMode {
	case "":
		if req.Notify != "" {
			req.NotifyMode = links.NotifyFirst
		}
	case links.NotifyFirst, links.NotifyDigest:
		if req.Notify == "" {
			return fmt.Errorf("%w: notify_mode needs notify (the address to tell)", links.ErrInvalid)
		}
	default:
		return fmt.Errorf("%w: notify_mode %q must be first or digest", links.ErrInvalid, req.NotifyMode)
	}
	if req.Notify != "" {
		a, err := mail.NormalizeAddress(req.Notify)
		if err != nil {
			return fmt.Errorf("%w: notify: %w", links.ErrInvalid, err)
		}
		l.Notify, l.NotifyMode = a, req.NotifyMode
	}
	return nil
}

// optTime is t for a JSON field that is omitted when t is zero.
func optTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

func optBool(set, v bool) *bool {
	if !set {
		return nil
	}
	return &v
}

// displayName is what mail and the confirmation page call the object: the
// download name, else the key's last segment.
func displayName(l *links.Link) string {
	if l.Filename != "" {
		return l.Filename
	}
	return path.Base(l.Key)
}

// ShareLink is one recipient's link in a share answer.
type ShareLink struct {
	LinkResponse
	Delivery *DeliveryResponse `json:"delivery,omitempty"` // the share message to this recipient
}

// DeliveryResponse is a queued message as the API shows it.
type DeliveryResponse struct {
	ID            string     `json:"id"`
	Kind          string     `json:"kind"`
	LinkID        string     `json:"link_id,omitempty"`
	Recipient     string     `json:"recipient"`
	State         string     `json:"state"`
	Attempts      int        `json:"attempts"`
	NextAttemptAt *time.Time `json:"next_attempt_at,omitempty"`
	LastError     string     `json:"last_error,omitempty"`
	MessageID     string     `json:"message_id"`
	CreatedAt     time.Time  `json:"created_at"`
	SentAt        *time.Time `json:"sent_at,omitempty"`
}

func toDelivery(d *mail.Delivery) *DeliveryResponse {
	return &DeliveryResponse{ID: d.ID, Kind: d.Kind, LinkID: d.LinkID, Recipient: d.Recipient, State: d.State,
		Attempts: d.Attempts, NextAttemptAt: optTime(d.NextAttemptAt), LastError: d.LastError, MessageID: d.MessageID,
		CreatedAt: d.CreatedAt, SentAt: optTime(d.SentAt)}
}

// ShareResponse is a share as the API shows it: its links (one per
// recipient, never with a code) and every message queued for it.
type ShareResponse struct {
	ID         string              `json:"id"`
	CreatedBy  string              `json:"created_by"`
	CreatedAt  time.Time           `json:"created_at"`
	Links      []ShareLink         `json:"links"`
	Deliveries []*DeliveryResponse `json:"deliveries"`
}

// insertShare creates one link per recipient of req under a new share id,
// and queues each recipient's message, all in one audited transaction. The
// codes go only into the (sealed) queue: the caller never sees them.
func (s *Server) insertShare(r *http.Request, req *createLinkRequest, tmpl *links.Link) (ShareResponse, error) {
	tok := info(r).token
	shareID := links.NewShareID()
	type member struct {
		l    *links.Link
		code string
		hash []byte
		d    *mail.Delivery
	}
	members := make([]*member, len(req.Recipients))
	summary := make([]map[string]string, len(req.Recipients))
	for i, rcpt := range req.Recipients {
		l := *tmpl
		l.ID, l.ShareID, l.Recipient = links.NewID(), shareID, rcpt
		code, hash := links.NewCode()
		members[i] = &member{l: &l, code: code, hash: hash}
		summary[i] = map[string]string{"link_id": l.ID, "recipient": rcpt}
	}
	detail, _ := json.Marshal(map[string]any{
		"share_id": shareID, "links": summary, "bucket": tmpl.Bucket, "key": tmpl.Key, "expires_at": tmpl.ExpiresAt,
		"max_uses": tmpl.MaxUses, "presign_ttl": int64(tmpl.PresignTTL / time.Second), "confirm": tmpl.Confirm,
		"notify": tmpl.Notify != "", "notify_mode": tmpl.NotifyMode,
	})
	ev := s.apiEvent(r, audit.ActionShareCreate, string(detail))
	if _, err := s.audit.Append(r.Context(), ev, func(ctx context.Context, tx *sql.Tx, _ *audit.Event) error {
		for _, m := range members {
			if err := links.Insert(ctx, tx, m.l, m.hash); err != nil {
				return err
			}
			d, err := s.mail.QueueShare(ctx, tx, mail.ShareMessage{
				LinkID: m.l.ID, ShareID: shareID, To: m.l.Recipient,
				Data: mail.ShareData{Sharer: tok.Name, Filename: displayName(m.l), Note: m.l.Note, ExpiresAt: m.l.ExpiresAt},
			}, m.code)
			if err != nil {
				return err
			}
			m.d = d
		}
		return nil
	}); err != nil {
		return ShareResponse{}, err
	}
	s.mail.Kick()
	now := tmpl.CreatedAt
	resp := ShareResponse{ID: shareID, CreatedBy: tok.Name, CreatedAt: now, Deliveries: []*DeliveryResponse{}}
	for _, m := range members {
		d := toDelivery(m.d)
		resp.Links = append(resp.Links, ShareLink{LinkResponse: toLinkResponse(m.l, now), Delivery: d})
		resp.Deliveries = append(resp.Deliveries, d)
	}
	return resp, nil
}

func (s *Server) ShareResponse(ctx context.Context, id string, ls []*links.Link) (ShareResponse, error) {
	now := s.now()
	resp := ShareResponse{ID: id, CreatedBy: ls[0].CreatedBy, CreatedAt: ls[0].CreatedAt, Deliveries: []*DeliveryResponse{}}
	var ds []*mail.Delivery
	if s.deliveries != nil {
		var err error
		if ds, err = s.deliveries.ByShare(ctx, id); err != nil {
			return resp, err
		}
	}
	byLink := map[string]*DeliveryResponse{}
	for _, d := range ds {
		dr := toDelivery(d)
		resp.Deliveries = append(resp.Deliveries, dr)
		if d.Kind == mail.KindShare {
			byLink[d.LinkID] = dr
		}
	}
	for _, l := range ls {
		resp.Links = append(resp.Links, ShareLink{LinkResponse: toLinkResponse(l, now), Delivery: byLink[l.ID]})
	}
	return resp, nil
}

func (s *Server) getShare(w http.ResponseWriter, r *http.Request) error {
	id := mux.Vars(r)["id"]
	ls, err := s.app.Share(r.Context(), s.actor(r), id)
	if err != nil {
		return err
	}
	resp, err := s.ShareResponse(r.Context(), id, ls)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, resp)
}

// revokeShare revokes every link of a share at once; one recipient alone is
// revoked through POST /api/v1/links/{id}/revoke.
func (s *Server) revokeShare(w http.ResponseWriter, r *http.Request) error {
	var req revokeRequest
	if err := decodeJSON(w, r, &req, true); err != nil {
		return err
	}
	id := mux.Vars(r)["id"]
	ls, err := s.app.RevokeShare(r.Context(), s.actor(r), id, req.Reason)
	if err != nil {
		return err
	}
	resp, err := s.ShareResponse(r.Context(), id, ls)
	if err != nil {
		return err
	}
	info(r).outcome = "revoked"
	return writeJSON(w, http.StatusOK, resp)
}
