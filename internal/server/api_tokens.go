package server

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/gorilla/mux"

	"github.com/sharesvc/sharesvc/internal/audit"
	"github.com/sharesvc/sharesvc/internal/auth"
)

type createTokenRequest struct {
	Name      string `json:"name"`
	Role      string `json:"role"`
	ExpiresIn *int64 `json:"expires_in"` // seconds; omitted: never expires
}

// TokenResponse is a token as the API shows it.
type TokenResponse struct {
	ID         string     `json:"id"`
	Name       string     `json:"name"`
	Role       string     `json:"role"`
	Token      string     `json:"token,omitempty"` // only in the answer to its creation
	CreatedAt  time.Time  `json:"created_at"`
	CreatedBy  string     `json:"created_by"`
	ExpiresAt  *time.Time `json:"expires_at,omitempty"`
	RevokedAt  *time.Time `json:"revoked_at,omitempty"`
	LastUsedAt *time.Time `json:"last_used_at,omitempty"`
}

func toTokenResponse(t *auth.Token) TokenResponse {
	return TokenResponse{ID: t.ID, Name: t.Name, Role: string(t.Role), CreatedAt: t.CreatedAt, CreatedBy: t.CreatedBy,
		ExpiresAt: optTime(t.ExpiresAt), RevokedAt: optTime(t.RevokedAt), LastUsedAt: optTime(t.LastUsedAt)}
}

// maxTokenLifetime bounds expires_in for tokens.
const maxTokenLifetime = 5 * 365 * 24 * time.Hour

func (s *Server) createToken(w http.ResponseWriter, r *http.Request) error {
	var req createTokenRequest
	if err := decodeJSON(w, r, &req, false); err != nil {
		return err
	}
	t, secret, err := s.newToken(r, &req)
	if err != nil {
		return err
	}
	resp := toTokenResponse(t)
	resp.Token = secret
	return writeJSON(w, http.StatusCreated, resp)
}

// newToken creates and stores a token, returning its secret once, for the
// API and the console alike.
func (s *Server) newToken(r *http.Request, req *createTokenRequest) (*auth.Token, string, error) {
	role, err := auth.ParseRole(req.Role)
	if err != nil {
		return nil, "", err
	}
	if err := auth.ValidateName(req.Name); err != nil {
		return nil, "", err
	}
	now := s.now().UTC().Truncate(time.Millisecond)
	t := &auth.Token{ID: auth.NewID(), Name: req.Name, Role: role, CreatedAt: now, CreatedBy: info(r).token.Name}
	if req.ExpiresIn != nil {
		if *req.ExpiresIn < 1 || *req.ExpiresIn > int64(maxTokenLifetime/time.Second) {
			return nil, "", fmt.Errorf("%w: expires_in must be 1 to %d seconds (omit it for a token that never expires)", auth.ErrInvalid, int64(maxTokenLifetime/time.Second))
		}
		t.ExpiresAt = now.Add(time.Duration(*req.ExpiresIn) * time.Second)
	}
	secret, hash := auth.NewSecret()
	detail, _ := json.Marshal(map[string]any{"token_id": t.ID, "name": t.Name, "role": t.Role})
	if _, err := s.audit.Append(r.Context(), s.apiEvent(r, audit.ActionTokenCreate, string(detail)),
		func(ctx context.Context, tx *sql.Tx, _ *audit.Event) error { return auth.Insert(ctx, tx, t, hash) }); err != nil {
		return nil, "", err
	}
	info(r).outcome = "created"
	return t, secret, nil
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
	t, err := s.revokeTokenID(r, mux.Vars(r)["id"], req.Reason)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, toTokenResponse(t))
}

// revokeTokenID disables token id, for the API and the console alike.
func (s *Server) revokeTokenID(r *http.Request, id, reason string) (*auth.Token, error) {
	if err := checkReason(reason); err != nil {
		return nil, err
	}
	detail, _ := json.Marshal(map[string]any{"token_id": id, "reason": reason})
	var t *auth.Token
	if _, err := s.audit.Append(r.Context(), s.apiEvent(r, audit.ActionTokenRevoke, string(detail)),
		func(ctx context.Context, tx *sql.Tx, _ *audit.Event) error {
			var err error
			t, err = auth.Revoke(ctx, tx, id, s.now().UTC())
			return err
		}); err != nil {
		return nil, err
	}
	info(r).outcome = "revoked"
	return t, nil
}
