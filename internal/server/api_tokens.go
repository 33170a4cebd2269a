package server

import (
	"net/http"
	"time"

	"github.com/gorilla/mux"

	"github.com/sharesvc/sharesvc/internal/app"
	"github.com/sharesvc/sharesvc/internal/auth"
)

// TokenResponse is a token as the API shows it.
type TokenResponse struct {
	ID          string     `json:"id"`
	Name        string     `json:"name"`
	Role        string     `json:"role"`
	Token       string     `json:"token,omitempty"` // only in the answer to its creation
	CreatedAt   time.Time  `json:"created_at"`
	CreatedBy   string     `json:"created_by"`
	ExpiresAt   *time.Time `json:"expires_at,omitempty"`
	RevokedAt   *time.Time `json:"revoked_at,omitempty"`
	LastUsedAt  *time.Time `json:"last_used_at,omitempty"`
	DisplayName string     `json:"display_name,omitempty"`
	Email       string     `json:"email,omitempty"`
	Owner       string     `json:"owner,omitempty"` // the person who minted it for their own scripts
}

func toTokenResponse(t *auth.Token) TokenResponse {
	return TokenResponse{ID: t.ID, Name: t.Name, Role: string(t.Role), CreatedAt: t.CreatedAt, CreatedBy: t.CreatedBy,
		ExpiresAt: optTime(t.ExpiresAt), RevokedAt: optTime(t.RevokedAt), LastUsedAt: optTime(t.LastUsedAt),
		DisplayName: t.DisplayName, Email: t.Email, Owner: t.Owner}
}

func (s *Server) createToken(w http.ResponseWriter, r *http.Request) error {
	var req app.TokenRequest
	if err := decodeJSON(w, r, &req, false); err != nil {
		return err
	}
	t, secret, err := s.app.CreateToken(r.Context(), s.actor(r), req)
	if err != nil {
		return err
	}
	info(r).outcome = "created"
	resp := toTokenResponse(t)
	resp.Token = secret
	return writeJSON(w, http.StatusCreated, resp)
}

func (s *Server) listTokens(w http.ResponseWriter, r *http.Request) error {
	ts, err := s.tokens.List(r.Context())
	if err != nil {
		return err
	}
	out := make([]TokenResponse, 0, len(ts))
	for _, t := range ts {
		out = append(out, toTokenResponse(t))
	}
	return writeJSON(w, http.StatusOK, map[string]any{"tokens": out})
}

func (s *Server) revokeToken(w http.ResponseWriter, r *http.Request) error {
	var req revokeRequest
	if err := decodeJSON(w, r, &req, true); err != nil {
		return err
	}
	t, err := s.app.RevokeToken(r.Context(), s.actor(r), mux.Vars(r)["id"], req.Reason)
	if err != nil {
		return err
	}
	info(r).outcome = "revoked"
	return writeJSON(w, http.StatusOK, toTokenResponse(t))
}

// rotateToken answers with the token and its new secret, shown this once.
func (s *Server) rotateToken(w http.ResponseWriter, r *http.Request) error {
	var req revokeRequest
	if err := decodeJSON(w, r, &req, true); err != nil {
		return err
	}
	t, secret, err := s.app.RotateToken(r.Context(), s.actor(r), mux.Vars(r)["id"], req.Reason)
	if err != nil {
		return err
	}
	info(r).outcome = "rotated"
	resp := toTokenResponse(t)
	resp.Token = secret
	return writeJSON(w, http.StatusOK, resp)
}

// updatePerson sets a token's display name and address.
func (s *Server) updatePerson(w http.ResponseWriter, r *http.Request) error {
	var req app.PersonRequest
	if err := decodeJSON(w, r, &req, false); err != nil {
		return err
	}
	t, err := s.app.UpdatePerson(r.Context(), s.actor(r), mux.Vars(r)["id"], req)
	if err != nil {
		return err
	}
	info(r).outcome = "updated"
	return writeJSON(w, http.StatusOK, toTokenResponse(t))
}
