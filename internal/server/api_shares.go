package server

import (
	"context"
	"net/http"
	"time"

	"github.com/gorilla/mux"

	"github.com/sharesvc/sharesvc/internal/links"
	"github.com/sharesvc/sharesvc/internal/mail"
)

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
