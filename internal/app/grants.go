package app

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/sharesvc/sharesvc/internal/audit"
	"github.com/sharesvc/sharesvc/internal/auth"
	"github.com/sharesvc/sharesvc/internal/grants"
	"github.com/sharesvc/sharesvc/internal/links"
)

// CreateGrant stores g, made by an admin for reason, with its audit row.
// Errors: auth.ErrForbidden for anyone but an admin, grants.ErrInvalid
// naming the field.
func (a *App) CreateGrant(ctx context.Context, actor Actor, g *grants.Grant) (*grants.Grant, error) {
	if !actor.IsAdmin() {
		return nil, fmt.Errorf("%w: only admins change grants", auth.ErrForbidden)
	}
	if err := g.Validate(); err != nil {
		return nil, err
	}
	g.ID, g.CreatedAt, g.CreatedBy = grants.NewID(), a.now().UTC().Truncate(time.Millisecond), actor.Name
	g.RevokedAt, g.RevokedBy, g.RevokeReason = time.Time{}, "", ""
	b, _ := json.Marshal(grantDetail(g))
	ev := a.event(actor, audit.ActionGrantCreate, string(b))
	if _, err := a.audit.Append(ctx, ev, func(ctx context.Context, tx *sql.Tx, _ *audit.Event) error {
		return grants.Insert(ctx, tx, g)
	}); err != nil {
		return nil, err
	}
	return g, nil
}

// RevokeGrant ends grant id for reason and, when revokeLinks is set, revokes
// every live link created under it, in one audited transaction. Links
// created under a revoked grant otherwise keep working until they expire or
// are revoked; no new link can be made under it. Revoking a revoked grant
// changes nothing. Errors: auth.ErrForbidden, grants.ErrNotFound,
// links.ErrInvalid for an overlong reason.
func (a *App) RevokeGrant(ctx context.Context, actor Actor, id, reason string, revokeLinks bool) (*grants.Grant, int, error) {
	if !actor.IsAdmin() {
		return nil, 0, fmt.Errorf("%w: only admins change grants", auth.ErrForbidden)
	}
	if err := checkReason(reason); err != nil {
		return nil, 0, err
	}
	now := a.now().UTC().Truncate(time.Millisecond)
	var (
		out *grants.Grant
		n   int
	)
	ev := a.event(actor, audit.ActionGrantRevoke, "")
	if _, err := a.audit.Append(ctx, ev, func(ctx context.Context, tx *sql.Tx, ev *audit.Event) error {
		g, changed, err := grants.Revoke(ctx, tx, id, actor.Name, reason, now)
		if err != nil {
			return err
		}
		if !changed {
			ev.Reason = "already_revoked"
		}
		if revokeLinks {
			if n, err = links.RevokeByGrant(ctx, tx, id, actor.Name, reason, now); err != nil {
				return err
			}
		}
		out = g
		b, _ := json.Marshal(map[string]any{"grant_id": id, "reason": reason, "links_revoked": n})
		ev.Detail = string(b)
		return nil
	}); err != nil {
		return nil, 0, err
	}
	return out, n, nil
}

// Grants lists grants: admins and auditors may list any; a sharer sees the
// grants that apply to them (their own, their role's and their groups'),
// or those of one of their groups. Errors: auth.ErrForbidden when a sharer
// asks for another person's grants or a group's they are not in.
func (a *App) Grants(ctx context.Context, actor Actor, f grants.Filter) ([]*grants.Grant, error) {
	if actor.Role == auth.RoleSharer {
		if f.Person != "" && f.Person != actor.Name {
			return nil, fmt.Errorf("%w: sharers see only their own grants", auth.ErrForbidden)
		}
		if f.Group != "" {
			if !slices.Contains(actor.Groups, f.Group) {
				return nil, fmt.Errorf("%w: sharers see only the grants of their own groups", auth.ErrForbidden)
			}
			f.Person, f.Role = "", ""
		} else {
			f.Person, f.Role = actor.Name, actor.Role
		}
		f.Groups = actor.Groups
	}
	return a.grants.List(ctx, f)
}

// Grant returns grant id if the actor may see it. Errors:
// grants.ErrNotFound (also for a sharer's view of a grant not theirs).
func (a *App) Grant(ctx context.Context, actor Actor, id string) (*grants.Grant, error) {
	g, err := a.grants.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	if actor.Role == auth.RoleSharer && !g.AppliesTo(actor.Name, actor.Role, actor.Groups) {
		return nil, fmt.Errorf("get grant %s: %w", id, grants.ErrNotFound)
	}
	return g, nil
}

// EnsureGrant creates g unless a grant in force already has the same
// subject, bucket, prefix, actions and ceilings; it is how a configured
// default grant reaches the database at start, audited as made by actor.
// It reports whether it created one.
func (a *App) EnsureGrant(ctx context.Context, actor Actor, g *grants.Grant) (*grants.Grant, bool, error) {
	if err := g.Validate(); err != nil {
		return nil, false, err
	}
	all, err := a.grants.List(ctx, grants.Filter{Person: g.Person, Role: g.Role, Group: g.Group})
	if err != nil {
		return nil, false, err
	}
	want, _ := json.Marshal(grantScope(g))
	for _, h := range all {
		if have, _ := json.Marshal(grantScope(h)); string(have) == string(want) {
			return h, false, nil
		}
	}
	actor.Role = auth.RoleAdmin
	out, err := a.CreateGrant(ctx, actor, g)
	return out, err == nil, err
}

// grantScope is what makes two grants the same rule.
func grantScope(g *grants.Grant) map[string]any {
	return map[string]any{
		"person": g.Person, "role": g.Role, "group": g.Group, "bucket": g.Bucket, "key_prefix": g.KeyPrefix, "actions": g.Actions,
		"max_lifetime": int64(g.MaxLifetime / time.Second), "max_uses": g.MaxUses,
		"max_presign_ttl": int64(g.MaxPresignTTL / time.Second), "recipient_domains": g.RecipientDomains,
	}
}

func grantDetail(g *grants.Grant) map[string]any {
	d := grantScope(g)
	d["grant_id"], d["reason"] = g.ID, g.Reason
	return d
}
