package server

import (
	"fmt"
	"net/http"
	"time"

	"github.com/gorilla/mux"

	"github.com/sharesvc/sharesvc/internal/auth"
	"github.com/sharesvc/sharesvc/internal/grants"
)

// GrantRequest is the body of POST /api/v1/grants. Durations are whole
// seconds (in JSON also strings such as "1w", see jsonduration.go);
// omitted ceilings are the server's. Exactly one of Person, Role and Group
// names who the grant is for.
type GrantRequest struct {
	Person           string   `json:"person,omitempty"`
	Role             string   `json:"role,omitempty"`
	Group            string   `json:"group,omitempty"` // a provider group
	Bucket           string   `json:"bucket"`
	KeyPrefix        string   `json:"key_prefix"`
	Actions          []string `json:"actions"`
	MaxLifetime      *int64   `json:"max_lifetime,omitempty"`
	MaxUses          *int64   `json:"max_uses,omitempty"`
	MaxPresignTTL    *int64   `json:"max_presign_ttl,omitempty"`
	RecipientDomains []string `json:"recipient_domains,omitempty"`
	Reason           string   `json:"reason"`
}

// GrantResponse is a grant as the API shows it.
type GrantResponse struct {
	ID               string     `json:"id"`
	Person           string     `json:"person,omitempty"`
	Role             string     `json:"role,omitempty"`
	Group            string     `json:"group,omitempty"`
	Bucket           string     `json:"bucket"`
	KeyPrefix        string     `json:"key_prefix"`
	Actions          []string   `json:"actions"`
	MaxLifetime      int64      `json:"max_lifetime,omitempty"`
	MaxUses          int        `json:"max_uses,omitempty"`
	MaxPresignTTL    int64      `json:"max_presign_ttl,omitempty"`
	RecipientDomains []string   `json:"recipient_domains,omitempty"`
	State            string     `json:"state"` // "active" or "revoked"
	CreatedAt        time.Time  `json:"created_at"`
	CreatedBy        string     `json:"created_by"`
	Reason           string     `json:"reason,omitempty"`
	RevokedAt        *time.Time `json:"revoked_at,omitempty"`
	RevokedBy        string     `json:"revoked_by,omitempty"`
	RevokeReason     string     `json:"revoke_reason,omitempty"`
}

// GrantListResponse is the answer to GET /api/v1/grants.
type GrantListResponse struct {
	Grants []GrantResponse `json:"grants"`
}

// GrantRevokeResponse is the answer to POST /api/v1/grants/{id}/revoke.
type GrantRevokeResponse struct {
	Grant        GrantResponse `json:"grant"`
	LinksRevoked int           `json:"links_revoked"`
}

type grantRevokeRequest struct {
	Reason      string `json:"reason"`
	RevokeLinks bool   `json:"revoke_links"` // also revoke every live link made under the grant
}

// ToGrantResponse shows g.
func ToGrantResponse(g *grants.Grant) GrantResponse {
	acts := make([]string, len(g.Actions))
	for i, a := range g.Actions {
		acts[i] = string(a)
	}
	state := "active"
	if !g.Live() {
		state = "revoked"
	}
	return GrantResponse{
		ID: g.ID, Person: g.Person, Role: string(g.Role), Group: g.Group, Bucket: g.Bucket, KeyPrefix: g.KeyPrefix, Actions: acts,
		MaxLifetime: int64(g.MaxLifetime / time.Second), MaxUses: g.MaxUses, MaxPresignTTL: int64(g.MaxPresignTTL / time.Second),
		RecipientDomains: g.RecipientDomains, State: state, CreatedAt: g.CreatedAt, CreatedBy: g.CreatedBy, Reason: g.Reason,
		RevokedAt: optTime(g.RevokedAt), RevokedBy: g.RevokedBy, RevokeReason: g.RevokeReason,
	}
}

// Grant turns the request into a grant to validate and store. Errors:
// grants.ErrInvalid naming the field.
func (req *GrantRequest) Grant() (*grants.Grant, error) {
	g := &grants.Grant{Person: req.Person, Role: auth.Role(req.Role), Group: req.Group, Bucket: req.Bucket, KeyPrefix: req.KeyPrefix,
		RecipientDomains: req.RecipientDomains, Reason: req.Reason}
	for _, a := range req.Actions {
		g.Actions = append(g.Actions, grants.Action(a))
	}
	secs := func(field string, v *int64) (time.Duration, error) {
		if v == nil {
			return 0, nil
		}
		if *v < 1 || *v > 100*365*24*3600 {
			return 0, fmt.Errorf("%w: %s must be a positive number of seconds (omit it for the server's)", grants.ErrInvalid, field)
		}
		return time.Duration(*v) * time.Second, nil
	}
	var err error
	if g.MaxLifetime, err = secs("max_lifetime", req.MaxLifetime); err != nil {
		return nil, err
	}
	if g.MaxPresignTTL, err = secs("max_presign_ttl", req.MaxPresignTTL); err != nil {
		return nil, err
	}
	if req.MaxUses != nil {
		if *req.MaxUses < 1 || *req.MaxUses > 1<<31 {
			return nil, fmt.Errorf("%w: max_uses must be between 1 and 2^31 (omit it for the server's)", grants.ErrInvalid)
		}
		g.MaxUses = int(*req.MaxUses)
	}
	return g, nil
}

func (s *Server) createGrant(w http.ResponseWriter, r *http.Request) error {
	var req GrantRequest
	if err := decodeJSON(w, r, &req, false); err != nil {
		return err
	}
	g, err := req.Grant()
	if err != nil {
		return err
	}
	if g, err = s.app.CreateGrant(r.Context(), s.actor(r), g); err != nil {
		return err
	}
	info(r).outcome = "created"
	w.Header().Set("Location", "/api/v1/grants/"+g.ID)
	return writeJSON(w, http.StatusCreated, ToGrantResponse(g))
}

func (s *Server) listGrants(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	f := grants.Filter{Person: q.Get("person"), Role: auth.Role(q.Get("role")), Group: q.Get("group")}
	switch q.Get("state") {
	case "", "active":
	case "all":
		f.IncludeDead = true
	default:
		return fmt.Errorf("%w: state %q must be active or all", grants.ErrInvalid, q.Get("state"))
	}
	if f.Role != "" {
		if _, err := auth.ParseRole(string(f.Role)); err != nil {
			return fmt.Errorf("%w: %w", grants.ErrInvalid, err)
		}
	}
	if q.Has("group") {
		if err := grants.ValidGroup(f.Group); err != nil {
			return err
		}
	}
	gs, err := s.app.Grants(r.Context(), s.actor(r), f)
	if err != nil {
		return err
	}
	resp := GrantListResponse{Grants: []GrantResponse{}}
	for _, g := range gs {
		resp.Grants = append(resp.Grants, ToGrantResponse(g))
	}
	return writeJSON(w, http.StatusOK, resp)
}

func (s *Server) getGrant(w http.ResponseWriter, r *http.Request) error {
	g, err := s.app.Grant(r.Context(), s.actor(r), mux.Vars(r)["id"])
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, ToGrantResponse(g))
}

func (s *Server) revokeGrant(w http.ResponseWriter, r *http.Request) error {
	var req grantRevokeRequest
	if err := decodeJSON(w, r, &req, true); err != nil {
		return err
	}
	g, n, err := s.app.RevokeGrant(r.Context(), s.actor(r), mux.Vars(r)["id"], req.Reason, req.RevokeLinks)
	if err != nil {
		return err
	}
	info(r).outcome = "revoked"
	return writeJSON(w, http.StatusOK, GrantRevokeResponse{Grant: ToGrantResponse(g), LinksRevoked: n})
}
