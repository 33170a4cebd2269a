package app

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/sharesvc/sharesvc/internal/audit"
	"github.com/sharesvc/sharesvc/internal/auth"
	"github.com/sharesvc/sharesvc/internal/links"
)

// allow returns auth.ErrForbidden unless actor has one of roles. The routes
// check the same roles first; this keeps every transport to them.
func allow(actor Actor, verb string, roles ...auth.Role) error {
	for _, r := range roles {
		if actor.Role == r {
			return nil
		}
	}
	names := make([]string, len(roles))
	for i, r := range roles {
		names[i] = string(r)
	}
	return fmt.Errorf("%w: %s needs the %s role", auth.ErrForbidden, verb, strings.Join(names, " or "))
}

// checkReason bounds the free-text reason of a revocation or an admin act.
func checkReason(reason string) error {
	if len(reason) > maxReason {
		return fmt.Errorf("%w: reason is limited to %d bytes", links.ErrInvalid, maxReason)
	}
	return nil
}

// Link returns link id if actor may see it: admins and auditors see every
// link, sharers their own. Errors: links.ErrNotFound, auth.ErrForbidden.
func (a *App) Link(ctx context.Context, actor Actor, id string) (*links.Link, error) {
	if err := allow(actor, "reading a link", auth.RoleAdmin, auth.RoleSharer, auth.RoleAuditor); err != nil {
		return nil, err
	}
	l, err := a.links.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	if actor.Role == auth.RoleSharer && l.CreatedBy != actor.Name {
		return nil, fmt.Errorf("%w: link %s belongs to another sharer", auth.ErrForbidden, id)
	}
	return l, nil
}

// RevokeLink revokes link id, which a sharer must have created, and returns
// it as revoked; revoking a revoked link is not an error and changes
// nothing (its audit row says already_revoked). Errors: links.ErrInvalid
// (reason too long), links.ErrNotFound, auth.ErrForbidden.
func (a *App) RevokeLink(ctx context.Context, actor Actor, id, reason string) (*links.Link, error) {
	if err := allow(actor, "revoking a link", auth.RoleAdmin, auth.RoleSharer); err != nil {
		return nil, err
	}
	if err := checkReason(reason); err != nil {
		return nil, err
	}
	if _, err := a.Link(ctx, actor, id); err != nil {
		return nil, err
	}
	now := a.now().UTC()
	detail, _ := json.Marshal(map[string]string{"reason": reason})
	ev := a.event(actor, audit.ActionLinkRevoke, string(detail))
	ev.LinkID = id
	var revoked *links.Link
	if _, err := a.audit.Append(ctx, ev, func(ctx context.Context, tx *sql.Tx, ev *audit.Event) error {
		l, err := links.Revoke(ctx, tx, id, actor.Name, reason, now)
		if errors.Is(err, links.ErrRevoked) {
			ev.Reason = "already_revoked"
			err = nil
		}
		revoked = l
		return err
	}); err != nil {
		return nil, err
	}
	return revoked, nil
}

// RevokeByURL revokes the link a short URL (…/s/CODE or …/u/CODE) opens,
// for someone handed the URL rather than the id, by the rules of
// RevokeLink. Errors: links.ErrInvalid (not a short URL), links.ErrNotFound,
// auth.ErrForbidden.
func (a *App) RevokeByURL(ctx context.Context, actor Actor, shortURL, reason string) (*links.Link, error) {
	l, err := a.LinkByURL(ctx, actor, shortURL)
	if err != nil {
		return nil, err
	}
	return a.RevokeLink(ctx, actor, l.ID, reason)
}

// LinkByURL returns the link a short URL opens if actor may revoke it (by
// the rules of RevokeByURL), changing nothing, for a form that shows the
// link before revoking it. Errors: links.ErrInvalid (not a short URL),
// links.ErrNotFound, auth.ErrForbidden.
func (a *App) LinkByURL(ctx context.Context, actor Actor, shortURL string) (*links.Link, error) {
	if err := allow(actor, "revoking a link", auth.RoleAdmin, auth.RoleSharer); err != nil {
		return nil, err
	}
	code, err := codeFromURL(shortURL)
	if err != nil {
		return nil, err
	}
	l, err := a.links.ByCode(ctx, code)
	if err != nil {
		return nil, err
	}
	return a.Link(ctx, actor, l.ID)
}

// codeFromURL extracts the code from a short URL.
func codeFromURL(raw string) (string, error) {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil {
		return "", fmt.Errorf("%w: url is not a URL", links.ErrInvalid)
	}
	for _, prefix := range []string{"/s/", "/u/"} {
		if code, ok := strings.CutPrefix(u.Path, prefix); ok && links.ValidCode(code) {
			return code, nil
		}
	}
	return "", fmt.Errorf("%w: url is not a sharesvc short URL (…/s/CODE or …/u/CODE)", links.ErrInvalid)
}

// BulkRevokeRequest selects the live links a bulk revocation ends. Its JSON
// form is the API's request body, and is recorded as the audit row's filter.
type BulkRevokeRequest struct {
	CreatedBy     string     `json:"created_by"`
	Bucket        string     `json:"bucket"`
	KeyPrefix     string     `json:"key_prefix"`
	Kind          string     `json:"kind"`
	CreatedAfter  *time.Time `json:"created_after"`
	CreatedBefore *time.Time `json:"created_before"`
	All           bool       `json:"all"`     // required to revoke with an empty filter
	DryRun        bool       `json:"dry_run"` // count only
	Reason        string     `json:"reason"`
}

// MaxPreview bounds the links BulkRevokePreview lists.
const MaxPreview = 100

// BulkRevokePreview reports how many links BulkRevoke would revoke for req
// and lists the newest of them, at most MaxPreview; it writes nothing.
// Errors as BulkRevoke's.
func (a *App) BulkRevokePreview(ctx context.Context, actor Actor, req BulkRevokeRequest) (int, []*links.Link, error) {
	f, err := a.bulkFilter(actor, req)
	if err != nil {
		return 0, nil, err
	}
	now := a.now().UTC()
	n, err := a.links.Count(ctx, f, now)
	if err != nil {
		return 0, nil, err
	}
	ls, err := a.links.Unrevoked(ctx, f, MaxPreview, now)
	if err != nil {
		return 0, nil, err
	}
	return n, ls, nil
}

// bulkFilter checks req by BulkRevoke's rules and returns its filter.
func (a *App) bulkFilter(actor Actor, req BulkRevokeRequest) (links.Filter, error) {
	if err := allow(actor, "bulk revocation", auth.RoleAdmin); err != nil {
		return links.Filter{}, err
	}
	if err := checkReason(req.Reason); err != nil {
		return links.Filter{}, err
	}
	f := links.Filter{CreatedBy: req.CreatedBy, Bucket: req.Bucket, KeyPrefix: req.KeyPrefix, Kind: links.Kind(req.Kind)}
	if req.CreatedAfter != nil {
		f.CreatedAfter = *req.CreatedAfter
	}
	if req.CreatedBefore != nil {
		f.CreatedBefore = *req.CreatedBefore
	}
	if f.Empty() && !req.All {
		return links.Filter{}, fmt.Errorf("%w: an empty filter would revoke every link; send \"all\": true to mean that", links.ErrInvalid)
	}
	return f, nil
}

// BulkRevoke revokes every live link req matches and returns how many it
// revoked; with req.DryRun it only counts them and writes nothing. Admins
// only. Errors: links.ErrInvalid (an empty filter without All, a bad
// filter, reason too long), auth.ErrForbidden.
func (a *App) BulkRevoke(ctx context.Context, actor Actor, req BulkRevokeRequest) (int, error) {
	f, err := a.bulkFilter(actor, req)
	if err != nil {
		return 0, err
	}
	now := a.now().UTC()
	if req.DryRun {
		return a.links.Count(ctx, f, now)
	}
	detail, _ := json.Marshal(map[string]any{"filter": req, "reason": req.Reason})
	ev := a.event(actor, audit.ActionBulkRevoke, string(detail))
	var n int
	if _, err := a.audit.Append(ctx, ev, func(ctx context.Context, tx *sql.Tx, ev *audit.Event) error {
		var err error
		n, err = links.BulkRevoke(ctx, tx, f, req.All, actor.Name, req.Reason, now)
		if err != nil {
			return err
		}
		ev.Detail = withCount(ev.Detail, "revoked", n)
		return nil
	}); err != nil {
		return 0, err
	}
	return n, nil
}

// withCount adds a count to a JSON object detail.
func withCount(detail, name string, n int) string {
	m := map[string]any{}
	json.Unmarshal([]byte(detail), &m)
	m[name] = n
	out, _ := json.Marshal(m)
	return string(out)
}
