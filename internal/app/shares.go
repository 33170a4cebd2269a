package app

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"

	"github.com/sharesvc/sharesvc/internal/audit"
	"github.com/sharesvc/sharesvc/internal/auth"
	"github.com/sharesvc/sharesvc/internal/links"
)

// Share returns the links of share id (one per recipient) if actor may see
// them: admins and auditors see every share, sharers their own. Errors:
// links.ErrNotFound, auth.ErrForbidden.
func (a *App) Share(ctx context.Context, actor Actor, id string) ([]*links.Link, error) {
	if err := allow(actor, "reading a share", auth.RoleAdmin, auth.RoleSharer, auth.RoleAuditor); err != nil {
		return nil, err
	}
	ls, err := a.links.ByShare(ctx, id)
	if err != nil {
		return nil, err
	}
	if actor.Role == auth.RoleSharer && ls[0].CreatedBy != actor.Name {
		return nil, fmt.Errorf("%w: share %s belongs to another sharer", auth.ErrForbidden, id)
	}
	return ls, nil
}

// RevokeShare revokes every link of share id at once, which a sharer must
// have created, and returns the share's links as they are now; a share
// already revoked is not an error (its audit row says already_revoked).
// One recipient alone is revoked with RevokeLink. Errors: links.ErrInvalid
// (reason too long), links.ErrNotFound, auth.ErrForbidden.
func (a *App) RevokeShare(ctx context.Context, actor Actor, id, reason string) ([]*links.Link, error) {
	if err := allow(actor, "revoking a share", auth.RoleAdmin, auth.RoleSharer); err != nil {
		return nil, err
	}
	if err := checkReason(reason); err != nil {
		return nil, err
	}
	if _, err := a.Share(ctx, actor, id); err != nil {
		return nil, err
	}
	now := a.now().UTC()
	ev := a.event(actor, audit.ActionShareRevoke, "")
	if _, err := a.audit.Append(ctx, ev, func(ctx context.Context, tx *sql.Tx, ev *audit.Event) error {
		n, err := links.RevokeShare(ctx, tx, id, actor.Name, reason, now)
		if err != nil {
			return err
		}
		b, _ := json.Marshal(map[string]any{"share_id": id, "revoked": n, "reason": reason})
		ev.Detail = string(b)
		if n == 0 {
			ev.Reason = "already_revoked"
		}
		return nil
	}); err != nil {
		return nil, err
	}
	return a.links.ByShare(ctx, id)
}
