package app

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/sharesvc/sharesvc/internal/audit"
	"github.com/sharesvc/sharesvc/internal/auth"
	"github.com/sharesvc/sharesvc/internal/links"
	"github.com/sharesvc/sharesvc/internal/mail"
)

// TokenRequest describes a token to create. Its JSON form is the API's
// request body.
type TokenRequest struct {
	Name      string `json:"name"`
	Role      string `json:"role"`
	ExpiresIn *int64 `json:"expires_in"` // seconds; nil: never expires
	// DisplayName and Email name the person in the mail sent on their
	// behalf (From's display name, Reply-To). Optional.
	DisplayName string `json:"display_name"`
	Email       string `json:"email"`
}

// maxDisplayName bounds a person's display name, in bytes.
const maxDisplayName = 100

// checkPerson validates a display name and address and returns the
// address normalised. A display name goes into a mail header (encoded by
// the mail library) and names the sharer in the message, so it follows
// links.ValidText: control characters, CR and LF above all, and
// bidirectional formatting characters, which could disguise who shares,
// are refused rather than stripped. Errors: auth.ErrInvalid naming the
// field.
func checkPerson(displayName, email string) (string, error) {
	if len(displayName) > maxDisplayName || links.ValidText("display_name", displayName, false) != nil {
		return "", fmt.Errorf("%w: display_name must be at most %d bytes of UTF-8 text without control characters (CR, LF) or bidirectional formatting characters", auth.ErrInvalid, maxDisplayName)
	}
	if email == "" {
		return "", nil
	}
	addr, err := mail.NormalizeAddress(email)
	if err != nil {
		return "", fmt.Errorf("%w: email: %w", auth.ErrInvalid, err)
	}
	return addr, nil
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
	_, err := checkPerson(req.DisplayName, req.Email)
	return err
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
	email, _ := checkPerson(req.DisplayName, req.Email) // validated above
	t := &auth.Token{ID: auth.NewID(), Name: req.Name, Role: auth.Role(req.Role), CreatedAt: now, CreatedBy: actor.Name,
		DisplayName: req.DisplayName, Email: email}
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

// RotateToken gives token id a new secret under the same name, so the
// person, their links and their grants stay; the old secret stops working
// at once (there is no overlap). It returns the token and the new secret,
// which is never shown again. Admins only. Errors: auth.ErrNotFound (also
// for a revoked token), links.ErrInvalid (reason too long),
// auth.ErrForbidden.
func (a *App) RotateToken(ctx context.Context, actor Actor, id, reason string) (*auth.Token, string, error) {
	if err := allow(actor, "rotating a token", auth.RoleAdmin); err != nil {
		return nil, "", err
	}
	if err := checkReason(reason); err != nil {
		return nil, "", err
	}
	secret, hash := auth.NewSecret()
	var t *auth.Token
	ev := a.event(actor, audit.ActionTokenRotate, "")
	if _, err := a.audit.Append(ctx, ev, func(ctx context.Context, tx *sql.Tx, ev *audit.Event) error {
		var err error
		if t, err = auth.Rotate(ctx, tx, id, hash); err != nil {
			return err
		}
		detail, _ := json.Marshal(map[string]any{"token_id": t.ID, "name": t.Name, "reason": reason})
		ev.Detail = string(detail)
		return nil
	}); err != nil {
		return nil, "", err
	}
	return t, secret, nil
}

// PersonRequest sets the display name and address of a token's person.
type PersonRequest struct {
	DisplayName string `json:"display_name"`
	Email       string `json:"email"`
}

// UpdatePerson sets the display name and address of the person holding
// token id and returns the token. Admins only. Errors: auth.ErrInvalid,
// auth.ErrNotFound, auth.ErrForbidden.
func (a *App) UpdatePerson(ctx context.Context, actor Actor, id string, req PersonRequest) (*auth.Token, error) {
	if err := allow(actor, "editing a person", auth.RoleAdmin); err != nil {
		return nil, err
	}
	email, err := checkPerson(req.DisplayName, req.Email)
	if err != nil {
		return nil, err
	}
	detail, _ := json.Marshal(map[string]any{"token_id": id, "display_name": req.DisplayName, "email": email})
	var t *auth.Token
	if _, err := a.audit.Append(ctx, a.event(actor, audit.ActionTokenUpdate, string(detail)),
		func(ctx context.Context, tx *sql.Tx, _ *audit.Event) error {
			var err error
			t, err = auth.SetPerson(ctx, tx, id, req.DisplayName, email)
			return err
		}); err != nil {
		return nil, err
	}
	return t, nil
}
