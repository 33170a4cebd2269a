package app

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/sharesvc/sharesvc/internal/audit"
	"github.com/sharesvc/sharesvc/internal/auth"
	"github.com/sharesvc/sharesvc/internal/duration"
)

// Lifetimes of the tokens people mint for themselves.
const (
	// DefaultPersonalTokenMaxLifetime is Config.PersonalTokenMaxLifetime's
	// default.
	DefaultPersonalTokenMaxLifetime = 90 * duration.Day
	// DefaultPersonalTokenLifetime is a personal token's lifetime when the
	// request names none (or the maximum, when that is shorter).
	DefaultPersonalTokenLifetime = 30 * duration.Day
)

// OwnTokenRequest describes a token a person mints for their own scripts.
type OwnTokenRequest struct {
	Name     string        // the owner's label for it, such as "ci"; auth.ValidateName's rules
	Lifetime time.Duration // 0: DefaultPersonalTokenLifetime
}

// PersonalTokenMaxLifetime is the longest lifetime a personal token may have.
func (a *App) PersonalTokenMaxLifetime() time.Duration { return a.cfg.PersonalTokenMaxLifetime }

// OwnTokenLabel is the label its owner gave token t ("" for a token
// nobody owns). The stored name is owner/label/id-suffix, unique, and
// never a valid name for a token an admin makes, so the two cannot clash.
func OwnTokenLabel(t *auth.Token) string {
	rest, ok := strings.CutPrefix(t.Name, t.Owner+"/")
	if t.Owner == "" || !ok {
		return ""
	}
	if i := strings.LastIndexByte(rest, '/'); i >= 0 {
		rest = rest[:i]
	}
	return rest
}

// MintOwnToken stores a token that actor owns and returns it with its
// secret, which is never shown again. The token acts as actor, with their
// role at each use (auth.ResolveOwner), and is revoked when they are
// offboarded. Every role may mint one. Errors: auth.ErrInvalid (label, or
// a lifetime beyond the maximum), auth.ErrExists (a live token of theirs
// has that label).
func (a *App) MintOwnToken(ctx context.Context, actor Actor, req OwnTokenRequest) (*auth.Token, string, error) {
	if err := allow(actor, "minting your own token", auth.RoleAdmin, auth.RoleSharer, auth.RoleAuditor); err != nil {
		return nil, "", err
	}
	if err := auth.ValidateName(req.Name); err != nil {
		return nil, "", err
	}
	most := a.cfg.PersonalTokenMaxLifetime
	if req.Lifetime == 0 {
		req.Lifetime = min(DefaultPersonalTokenLifetime, most)
	}
	if req.Lifetime < time.Minute || req.Lifetime > most {
		return nil, "", fmt.Errorf("%w: lifetime must be between 1m and %s (this server's maximum for personal tokens)", auth.ErrInvalid, lifetimeText(most))
	}
	now := a.now().UTC().Truncate(time.Millisecond)
	own, err := a.tokens.Owned(ctx, actor.Name)
	if err != nil {
		return nil, "", err
	}
	for _, t := range own {
		if OwnTokenLabel(t) == req.Name && t.RevokedAt.IsZero() && (t.ExpiresAt.IsZero() || now.Before(t.ExpiresAt)) {
			return nil, "", fmt.Errorf("%w: you have a live token called %q; revoke it or choose another name", auth.ErrExists, req.Name)
		}
	}
	id := auth.NewID()
	t := &auth.Token{ID: id, Name: actor.Name + "/" + req.Name + "/" + strings.TrimPrefix(id, "tok_"), Role: actor.Role,
		CreatedAt: now, CreatedBy: actor.Name, ExpiresAt: now.Add(req.Lifetime), Owner: actor.Name}
	secret, hash := auth.NewSecret()
	detail, _ := json.Marshal(map[string]any{"token_id": t.ID, "name": req.Name, "owner": actor.Name,
		"lifetime": lifetimeText(req.Lifetime), "expires_at": t.ExpiresAt})
	if _, err := a.audit.Append(ctx, a.event(actor, audit.ActionTokenCreate, string(detail)),
		func(ctx context.Context, tx *sql.Tx, _ *audit.Event) error { return auth.Insert(ctx, tx, t, hash) }); err != nil {
		return nil, "", err
	}
	return t, secret, nil
}

// ListOwnTokens returns the tokens actor minted for themselves, newest
// first, revoked and expired ones too.
func (a *App) ListOwnTokens(ctx context.Context, actor Actor) ([]*auth.Token, error) {
	if err := allow(actor, "listing your own tokens", auth.RoleAdmin, auth.RoleSharer, auth.RoleAuditor); err != nil {
		return nil, err
	}
	return a.tokens.Owned(ctx, actor.Name)
}

// RevokeOwnToken disables token id, which actor must have minted, and
// returns it; revoking a revoked token changes nothing. Errors:
// auth.ErrNotFound (also for anyone else's token).
func (a *App) RevokeOwnToken(ctx context.Context, actor Actor, id string) (*auth.Token, error) {
	if err := allow(actor, "revoking your own token", auth.RoleAdmin, auth.RoleSharer, auth.RoleAuditor); err != nil {
		return nil, err
	}
	// Refused before any row is written: an attempt on someone else's id
	// leaves no trace that would tell the id exists.
	if t, err := a.tokens.ByID(ctx, id); err != nil {
		return nil, err
	} else if t.Owner != actor.Name {
		return nil, fmt.Errorf("%w: %s", auth.ErrNotFound, id)
	}
	detail, _ := json.Marshal(map[string]any{"token_id": id, "owner": actor.Name})
	var t *auth.Token
	if _, err := a.audit.Append(ctx, a.event(actor, audit.ActionTokenRevoke, string(detail)),
		func(ctx context.Context, tx *sql.Tx, _ *audit.Event) error {
			var err error
			t, err = auth.RevokeOwned(ctx, tx, id, actor.Name, a.now().UTC())
			return err
		}); err != nil {
		return nil, err
	}
	return t, nil
}

// lifetimeText writes d as people write it: "30d" for whole days.
func lifetimeText(d time.Duration) string {
	if d > 0 && d%duration.Day == 0 {
		return fmt.Sprintf("%dd", d/duration.Day)
	}
	return d.String()
}
