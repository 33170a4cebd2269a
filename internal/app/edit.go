package app

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/sharesvc/sharesvc/internal/audit"
	"github.com/sharesvc/sharesvc/internal/auth"
	"github.com/sharesvc/sharesvc/internal/grants"
	"github.com/sharesvc/sharesvc/internal/links"
)

// ErrRevokedLink means a change was asked of a revoked link, which no
// change can bring back.
var ErrRevokedLink = errors.New("a revoked link cannot be changed")

// EditLink is a change to a link. A nil field (and NoMaxUses false) leaves
// that setting as it is; at least one must be set.
type EditLink struct {
	ExpiresIn *int64     // seconds from now
	ExpiresAt *time.Time // instead of ExpiresIn
	MaxUses   *int64     // the new use cap, at least the uses already spent
	NoMaxUses bool       // instead of MaxUses: remove the cap, if no ceiling sets one
	Note      *string
}

// Empty reports whether e changes nothing.
func (e *EditLink) Empty() bool {
	return e.ExpiresIn == nil && e.ExpiresAt == nil && e.MaxUses == nil && !e.NoMaxUses && e.Note == nil
}

// change is one setting's old and new value in a link.update row.
type change struct {
	Old any `json:"old"`
	New any `json:"new"`
}

// EditLink changes link id's expiry, use cap or note and returns the link
// as changed, with an audit row (link.update) holding each setting changed,
// old and new. A sharer may change only their own links, an admin any. The
// link's whole lifetime, counted from its creation so that repeated edits
// cannot outlast it, and its use cap stay within the server's limits and
// those of the grant it was made under; a sharer's grant must still be
// live. Errors: links.ErrInvalid naming the field, links.ErrNotFound,
// auth.ErrForbidden, grants.ErrNoGrant, ErrRevokedLink.
func (a *App) EditLink(ctx context.Context, actor Actor, id string, req *EditLink) (*links.Link, error) {
	if err := allow(actor, "changing a link", auth.RoleAdmin, auth.RoleSharer); err != nil {
		return nil, err
	}
	if req.Empty() {
		return nil, fmt.Errorf("%w: nothing to change (give expires_in, expires_at, max_uses or note)", links.ErrInvalid)
	}
	l, err := a.Link(ctx, actor, id)
	if err != nil {
		return nil, err
	}
	if !l.RevokedAt.IsZero() {
		return nil, fmt.Errorf("%w: link %s was revoked", ErrRevokedLink, id)
	}
	lim, err := a.editLimits(ctx, actor, l)
	if err != nil {
		return nil, err
	}
	now := a.now().UTC().Truncate(time.Millisecond)
	expiresAt, maxUses, note, err := req.apply(l, lim, now)
	if err != nil {
		return nil, err
	}

	ev := a.event(actor, audit.ActionLinkUpdate, "")
	ev.LinkID = id
	var changed *links.Link
	if _, err := a.audit.Append(ctx, ev, func(ctx context.Context, tx *sql.Tx, ev *audit.Event) error {
		// The row as the transaction sees it: the old values recorded are
		// those the change replaced.
		old, err := links.Get(ctx, tx, id)
		if err != nil {
			return err
		}
		if changed, err = links.Amend(ctx, tx, id, expiresAt, maxUses, note); err != nil {
			if errors.Is(err, links.ErrRevoked) {
				return fmt.Errorf("%w: link %s was revoked", ErrRevokedLink, id)
			}
			return err
		}
		ev.Detail = editDetail(old, changed)
		return nil
	}); err != nil {
		return nil, err
	}
	return changed, nil
}

// editLimits are the bounds a change to l keeps: the server's, narrowed by
// the grant l was made under. A sharer's change needs that grant to be
// live and still theirs. Errors: grants.ErrNoGrant.
func (a *App) editLimits(ctx context.Context, actor Actor, l *links.Link) (links.Limits, error) {
	lim := a.cfg.Links
	if l.GrantID == "" {
		return lim, nil
	}
	g, err := a.grants.Get(ctx, l.GrantID)
	if err != nil {
		return lim, err
	}
	if !actor.IsAdmin() && (!g.Live() || !g.AppliesTo(actor.Name, actor.Role, actor.Groups)) {
		return lim, fmt.Errorf("%w: grant %s, under which link %s was made, no longer applies to you", grants.ErrNoGrant, g.ID, l.ID)
	}
	return g.Limits(lim), nil
}

// apply checks e against l and lim at now and returns the link's new
// expiry, cap and note. Errors: links.ErrInvalid naming the field.
func (e *EditLink) apply(l *links.Link, lim links.Limits, now time.Time) (time.Time, int, string, error) {
	expiresAt, maxUses, note := l.ExpiresAt, l.MaxUses, l.Note
	switch {
	case e.ExpiresIn != nil && e.ExpiresAt != nil:
		return expiresAt, maxUses, note, fmt.Errorf("%w: give expires_in or expires_at, not both", links.ErrInvalid)
	case e.ExpiresIn != nil:
		n := *e.ExpiresIn
		if n < 1 {
			return expiresAt, maxUses, note, fmt.Errorf("%w: expires_in must be at least 1 second", links.ErrInvalid)
		}
		if n > int64(lim.MaxLifetime/time.Second) {
			return expiresAt, maxUses, note, fmt.Errorf("%w: expires_in %d exceeds the maximum lifetime of %d seconds", links.ErrInvalid, n, int64(lim.MaxLifetime/time.Second))
		}
		expiresAt = now.Add(time.Duration(n) * time.Second)
	case e.ExpiresAt != nil:
		expiresAt = e.ExpiresAt.UTC().Truncate(time.Millisecond)
		if expiresAt.Sub(now) < time.Second {
			return expiresAt, maxUses, note, fmt.Errorf("%w: expires_at %s is not in the future (revoke the link to end it now)", links.ErrInvalid, expiresAt.Format(time.RFC3339))
		}
	}
	// Shortening is always allowed, even of a link made under looser limits.
	if life := expiresAt.Sub(l.CreatedAt); expiresAt.After(l.ExpiresAt) && life > lim.MaxLifetime {
		return expiresAt, maxUses, note, fmt.Errorf("%w: the link would live %s from its creation; the maximum lifetime is %s (it may end by %s)",
			links.ErrInvalid, life.Round(time.Second), lim.MaxLifetime, l.CreatedAt.Add(lim.MaxLifetime).Format(time.RFC3339))
	}
	switch {
	case e.MaxUses != nil && e.NoMaxUses:
		return expiresAt, maxUses, note, fmt.Errorf("%w: give max_uses or remove it, not both", links.ErrInvalid)
	case e.MaxUses != nil:
		n := *e.MaxUses
		switch {
		case n < 1:
			return expiresAt, maxUses, note, fmt.Errorf("%w: max_uses must be at least 1 (null removes the cap)", links.ErrInvalid)
		case lim.MaxUses > 0 && n > int64(lim.MaxUses) && (l.MaxUses == 0 || n > int64(l.MaxUses)):
			return expiresAt, maxUses, note, fmt.Errorf("%w: max_uses %d exceeds the maximum of %d", links.ErrInvalid, n, lim.MaxUses)
		case n > 1<<31:
			return expiresAt, maxUses, note, fmt.Errorf("%w: max_uses %d is too large", links.ErrInvalid, n)
		case n < int64(l.Uses):
			return expiresAt, maxUses, note, fmt.Errorf("%w: max_uses %d is below the %d uses the link has already spent", links.ErrInvalid, n, l.Uses)
		}
		maxUses = int(n)
	case e.NoMaxUses:
		if lim.MaxUses > 0 {
			return expiresAt, maxUses, note, fmt.Errorf("%w: max_uses cannot be removed: links may have at most %d uses", links.ErrInvalid, lim.MaxUses)
		}
		maxUses = 0
	}
	if e.Note != nil {
		if len(*e.Note) > links.MaxNote {
			return expiresAt, maxUses, note, fmt.Errorf("%w: note is limited to %d bytes", links.ErrInvalid, links.MaxNote)
		}
		if err := links.ValidText("note", *e.Note, true); err != nil {
			return expiresAt, maxUses, note, err
		}
		note = *e.Note
	}
	return expiresAt, maxUses, note, nil
}

// editDetail is a link.update row's detail: each setting that changed from
// old to l, with both values; a cap of null means none.
func editDetail(old, l *links.Link) string {
	ch := map[string]change{}
	if !old.ExpiresAt.Equal(l.ExpiresAt) {
		ch["expires_at"] = change{old.ExpiresAt, l.ExpiresAt}
	}
	if old.MaxUses != l.MaxUses {
		ch["max_uses"] = change{optCap(old.MaxUses), optCap(l.MaxUses)}
	}
	if old.Note != l.Note {
		ch["note"] = change{old.Note, l.Note}
	}
	b, _ := json.Marshal(map[string]any{"changed": ch})
	return string(b)
}

// optCap is a use cap as JSON shows it: null for none.
func optCap(n int) any {
	if n == 0 {
		return nil
	}
	return n
}
