package server

import (
	"fmt"
	"net/http"
	"time"

	"github.com/gorilla/mux"

	"github.com/sharesvc/sharesvc/internal/app"
	"github.com/sharesvc/sharesvc/internal/auth"
)

// OwnTokenResponse is a token a person minted for themselves, as the API
// shows it to them.
type OwnTokenResponse struct {
	ID         string     `json:"id"`
	Name       string     `json:"name"`            // the owner's label
	Token      string     `json:"token,omitempty"` // only in the answer to its creation
	Role       string     `json:"role"`            // the owner's role now: the token acts with it
	CreatedAt  time.Time  `json:"created_at"`
	ExpiresAt  time.Time  `json:"expires_at"`
	RevokedAt  *time.Time `json:"revoked_at,omitempty"`
	LastUsedAt *time.Time `json:"last_used_at,omitempty"`
}

func toOwnTokenResponse(t *auth.Token, role auth.Role) OwnTokenResponse {
	return OwnTokenResponse{ID: t.ID, Name: app.OwnTokenLabel(t), Role: string(role), CreatedAt: t.CreatedAt, ExpiresAt: t.ExpiresAt,
		RevokedAt: optTime(t.RevokedAt), LastUsedAt: optTime(t.LastUsedAt)}
}

// ownTokenRequest is the body of POST /api/v1/me/tokens.
type ownTokenRequest struct {
	Name     string       `json:"name"`
	Lifetime *jsonSeconds `json:"lifetime"` // seconds or "30d"; absent: 30 days
}

// request is the verb's request, or errBadJSON naming a bad lifetime.
func (req ownTokenRequest) request() (app.OwnTokenRequest, error) {
	out := app.OwnTokenRequest{Name: req.Name}
	n, err := req.Lifetime.seconds("lifetime")
	if err != nil {
		return out, err
	}
	if n != nil {
		if *n < 1 || *n > int64(app.MaxTokenLifetime/time.Second) {
			return out, fmt.Errorf("%w: lifetime must be positive and at most the server's maximum", auth.ErrInvalid)
		}
		out.Lifetime = time.Duration(*n) * time.Second
	}
	return out, nil
}

// errOwnedMints refuses a personal token minting more: a leaked script
// token must not be able to outlive its own revocation.
var errOwnedMints = fmt.Errorf("%w: a personal token cannot mint tokens; sign in to the console to make one", auth.ErrForbidden)

func (s *Server) listOwnTokens(w http.ResponseWriter, r *http.Request) error {
	a := s.actor(r)
	ts, err := s.app.ListOwnTokens(r.Context(), a)
	if err != nil {
		return err
	}
	out := make([]OwnTokenResponse, 0, len(ts))
	for _, t := range ts {
		out = append(out, toOwnTokenResponse(t, a.Role))
	}
	return writeJSON(w, http.StatusOK, map[string]any{"tokens": out})
}

// mintOwnToken answers with the token and its secret, shown this once.
func (s *Server) mintOwnToken(w http.ResponseWriter, r *http.Request) error {
	if info(r).token.Owner != "" {
		return errOwnedMints // before reading the body
	}
	var body ownTokenRequest
	if err := decodeJSON(w, r, &body, false); err != nil {
		return err
	}
	req, err := body.request()
	if err != nil {
		return err
	}
	resp, err := s.mintOwn(r, req)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, resp)
}

// mintOwn mints a token for the caller, for the API and the console
// alike: errOwnedMints to a personal token, else the token with its
// secret, shown this once.
func (s *Server) mintOwn(r *http.Request, req app.OwnTokenRequest) (*OwnTokenResponse, error) {
	if info(r).token.Owner != "" {
		return nil, errOwnedMints
	}
	a := s.actor(r)
	t, secret, err := s.app.MintOwnToken(r.Context(), a, req)
	if err != nil {
		return nil, err
	}
	info(r).outcome = "created"
	resp := toOwnTokenResponse(t, a.Role)
	resp.Token = secret
	return &resp, nil
}

func (s *Server) revokeOwnToken(w http.ResponseWriter, r *http.Request) error {
	a := s.actor(r)
	t, err := s.app.RevokeOwnToken(r.Context(), a, mux.Vars(r)["id"])
	if err != nil {
		return err
	}
	info(r).outcome = "revoked"
	return writeJSON(w, http.StatusOK, toOwnTokenResponse(t, a.Role))
}
