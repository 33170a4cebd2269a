package app

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/sharesvc/sharesvc/internal/audit"
	"github.com/sharesvc/sharesvc/internal/auth"
)

// TokenRequest describes a token to create. Its JSON form is the API's
// request body.
type TokenRequest struct {
	Name      string `json:"name"`
	Role      string `json:"role"`
	ExpiresIn *int64 `json:"expires_in"` // seconds; nil: never expires
}

// MaxTokenLifetime bounds TokenRequest.ExpiresIn.
const MaxTokenLifetime = 5 * 365 * 24 * time.Hour

// Validate checks req by the rules CreateToken applies, without storing
// anything. Errors: auth.ErrInvalid naming the field.
func (req TokenRequest) Validate() error {
	if _, err := auth.ParseRole(req.Role); err != nil {
		return err
	}
	if err := auth.ValidateName(req.Name); err != nil {
		return err
	}
	if most := int64(MaxTokenLifetime / time.Second); req.ExpiresIn != nil && (*req.ExpiresIn < 1 || *req.ExpiresIn > most) {
		return fmt.Errorf("%w: expires_in must be 1 to %d seconds (omit it for a token that never expires)", auth.ErrInvalid, most)
	}
	return nil
}

// CreateToken stores a new token created by actor and returns it with its
// secret, which is never shown again. Admins only. Errors: auth.ErrInvalid
// (see Validate), auth.ErrExists, auth.ErrForbidden.
func (a *App) CreateToken(ctx context.Context, actor Actor, req TokenRequest) (*auth.Token, string, error) {
	if err := allow(actor, "creating a token", auth.RoleAdmin); err != nil {
		return nil, "", err
	}
	if err := req.Validate(); err != nil {
		return nil, "", err
	}
	now := a.now().UTC().Truncate(time.Millisecond)
	t := &auth.Token{ID: auth.NewID(), Name: req.Name, Role: auth.Role(req.Role), CreatedAt: now, CreatedBy: actor.Name}
	if req.ExpiresIn != nil {
		t.ExpiresAt = now.Add(time.Duration(*req.ExpiresIn) * time.Second)
	}
	secret, hash := auth.NewSecret()
	detail, _ := json.Marshal(map[string]any{"token_id": t.ID, "name": t.Name, "role": t.Role})
	if _, err := a.audit.Append(ctx, a.event(actor, audit.ActionTokenCreate, string(detail)),
		func(ctx context.Context, tx *sql.Tx, _ *audit.Event) error { return auth.Insert(ctx, tx, t, hash) }); err != nil {
		return nil, "", err
	}
	return t, secret, nil
}

// RevokeToken disables token id and returns it; revoking a revoked token
// changes nothing. Admins only. Errors: auth.ErrNotFound, links.ErrInvalid
// (reason too long), auth.ErrForbidden.
func (a *App) RevokeToken(ctx context.Context, actor Actor, id, reason string) (*auth.Token, error) {
	if err := allow(actor, "revoking a token", auth.RoleAdmin); err != nil {
		return nil, err
	}
	if err := checkReason(reason); err != nil {
		return nil, err
	}
	detail, _ := json.Marshal(map[string]any{"token_id": id, "reason": reason})
	var t *auth.Token
	if _, err := a.audit.Append(ctx, a.event(actor, audit.ActionTokenRevoke, string(detail)),
		func(ctx context.Context, tx *sql.Tx, _ *audit.Event) error {
			var err error
			t, err = auth.Revoke(ctx, tx, id, a.now().UTC())
			return err
		}); err != nil {
		return nil, err
	}
	return t, nil
}
