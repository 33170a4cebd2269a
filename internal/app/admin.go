package app

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/sharesvc/sharesvc/internal/audit"
	"github.com/sharesvc/sharesvc/internal/auth"
	"github.com/sharesvc/sharesvc/internal/grants"
	"github.com/sharesvc/sharesvc/internal/links"
	"github.com/sharesvc/sharesvc/internal/people"
)

// OffboardRequest names the person to offboard. Its JSON form is the API's
// request body.
type OffboardRequest struct {
	Name   string `json:"name"`
	Reason string `json:"reason"`
}

// ErrUnknownPerson means no token was ever issued to a name and no link
// was ever created by it: offboarding it would be a typo that ends nothing.
var ErrUnknownPerson = errors.New("unknown person")

// OffboardPlan is what offboarding a person would end right now.
type OffboardPlan struct {
	Name      string
	LiveLinks int           // unrevoked links they created
	Tokens    []*auth.Token // their tokens not yet disabled, the ones they minted for themselves too
	// SignIn reports that they may sign in through the identity provider
	// now: offboarding disables that.
	SignIn bool
}

// checkOffboard applies Offboard's rules to req. Errors as Offboard's.
func (a *App) checkOffboard(ctx context.Context, actor Actor, req OffboardRequest) error {
	if err := allow(actor, "offboarding", auth.RoleAdmin); err != nil {
		return err
	}
	if err := auth.ValidateName(req.Name); err != nil {
		return err
	}
	if err := checkReason(req.Reason); err != nil {
		return err
	}
	if req.Name == actor.Name {
		return fmt.Errorf("%w: an admin cannot offboard themselves", auth.ErrInvalid)
	}
	ts, err := a.tokens.List(ctx)
	if err != nil {
		return err
	}
	for _, t := range ts {
		if t.Name == req.Name || t.Owner == req.Name {
			return nil
		}
	}
	if a.people != nil {
		_, err := a.people.ByName(ctx, req.Name)
		if err == nil {
			return nil
		}
		if !errors.Is(err, people.ErrNotFound) {
			return err
		}
	}
	p, err := a.links.List(ctx, links.Filter{CreatedBy: req.Name}, 1, "", a.now().UTC())
	if err != nil {
		return err
	}
	if len(p.Links) > 0 {
		return nil
	}
	// A grant naming the person makes them known too: offboarding must be
	// able to end it before they ever get a token.
	gs, err := a.grants.List(ctx, grants.Filter{Person: req.Name, IncludeDead: true})
	if err != nil {
		return err
	}
	if len(gs) == 0 {
		return fmt.Errorf("%w: no person named %s (no token, no sign-in, no link created, no grant)", ErrUnknownPerson, req.Name)
	}
	return nil
}

// OffboardPreview reports what Offboard would end for req, changing
// nothing, for a form that asks for confirmation first. Errors as
// Offboard's.
func (a *App) OffboardPreview(ctx context.Context, actor Actor, req OffboardRequest) (OffboardPlan, error) {
	if err := a.checkOffboard(ctx, actor, req); err != nil {
		return OffboardPlan{}, err
	}
	plan := OffboardPlan{Name: req.Name}
	n, err := a.links.Count(ctx, links.Filter{CreatedBy: req.Name}, a.now().UTC())
	if err != nil {
		return OffboardPlan{}, err
	}
	plan.LiveLinks = n
	ts, err := a.tokens.List(ctx)
	if err != nil {
		return OffboardPlan{}, err
	}
	for _, t := range ts {
		if (t.Name == req.Name || t.Owner == req.Name) && t.RevokedAt.IsZero() {
			plan.Tokens = append(plan.Tokens, t)
		}
	}
	if a.people != nil {
		p, err := a.people.ByName(ctx, req.Name)
		if err != nil && !errors.Is(err, people.ErrNotFound) {
			return OffboardPlan{}, err
		}
		plan.SignIn = err == nil && p.Active()
	}
	return plan, nil
}

// Offboard revokes every link req.Name created and disables their token
// and the tokens they minted for themselves, and stops them signing in
// through the identity provider, in one transaction, and reports how many
// links and tokens it ended. A name that
// never had a token nor created a link is refused with ErrUnknownPerson;
// a known person with nothing left to end is not an error. Admins only,
// and never their own name. Errors: ErrUnknownPerson, auth.ErrInvalid
// (bad name, self), links.ErrInvalid (reason too long), auth.ErrForbidden.
func (a *App) Offboard(ctx context.Context, actor Actor, req OffboardRequest) (linksRevoked, tokensRevoked int, err error) {
	if err := a.checkOffboard(ctx, actor, req); err != nil {
		return 0, 0, err
	}
	now := a.now().UTC()
	detail, _ := json.Marshal(map[string]any{"name": req.Name, "reason": req.Reason})
	ev := a.event(actor, audit.ActionOffboard, string(detail))
	if _, err := a.audit.Append(ctx, ev, func(ctx context.Context, tx *sql.Tx, ev *audit.Event) error {
		var err error
		reason := req.Reason
		if reason == "" {
			reason = "offboarding " + req.Name
		}
		if linksRevoked, err = links.BulkRevoke(ctx, tx, links.Filter{CreatedBy: req.Name}, false, actor.Name, reason, now); err != nil {
			return err
		}
		if tokensRevoked, err = auth.RevokeByName(ctx, tx, req.Name, now); err != nil {
			return err
		}
		owned, err := auth.RevokeOwner(ctx, tx, req.Name, now)
		if err != nil {
			return err
		}
		tokensRevoked += owned
		disabled, err := people.Disable(ctx, tx, req.Name, now)
		if err != nil {
			return err
		}
		// A later token of the same name must not inherit the person's
		// grants.
		grantsRevoked, err := grants.RevokePerson(ctx, tx, req.Name, actor.Name, reason, now)
		if err != nil {
			return err
		}
		ev.Detail = withCount(withCount(ev.Detail, "links_revoked", linksRevoked), "tokens_revoked", tokensRevoked)
		if grantsRevoked > 0 {
			ev.Detail = withCount(ev.Detail, "grants_revoked", grantsRevoked)
		}
		if owned > 0 {
			ev.Detail = withCount(ev.Detail, "owned_tokens_revoked", owned)
		}
		if disabled {
			ev.Detail = withCount(ev.Detail, "people_disabled", 1)
		}
		return nil
	}); err != nil {
		return 0, 0, err
	}
	return linksRevoked, tokensRevoked, nil
}

// CheckKillSwitch checks a change of the kill switch by the rules
// SetKillSwitch applies, for a form that asks for confirmation first.
// Errors: links.ErrInvalid (no reason to turn it on, reason too long).
func CheckKillSwitch(on bool, reason string) error {
	if on && strings.TrimSpace(reason) == "" {
		return fmt.Errorf("%w: a reason is required to turn the kill switch on", links.ErrInvalid)
	}
	return checkReason(reason)
}

// SetKillSwitch turns the kill switch on (every link on every instance
// stops minting URLs; a reason is required) or off. Once committed it tells
// Deps.OnKillSwitch, and on turning off sends the mail held meanwhile.
// Setting it to what it already is records the act (already_on or
// already_off) and changes nothing. Admins only. Errors: links.ErrInvalid
// (no reason to turn it on, reason too long), auth.ErrForbidden.
func (a *App) SetKillSwitch(ctx context.Context, actor Actor, on bool, reason string) error {
	if err := allow(actor, "the kill switch", auth.RoleAdmin); err != nil {
		return err
	}
	if err := CheckKillSwitch(on, reason); err != nil {
		return err
	}
	now := a.now().UTC()
	state := "off"
	if on {
		state = "on"
	}
	detail, _ := json.Marshal(map[string]any{"state": state, "reason": reason})
	ev := a.event(actor, audit.ActionKillSwitch, string(detail))
	if _, err := a.audit.Append(ctx, ev, func(ctx context.Context, tx *sql.Tx, ev *audit.Event) error {
		changed, err := links.SetKillSwitch(ctx, tx, on, reason, actor.Name, now)
		if err == nil && !changed {
			ev.Reason = "already_" + state
		}
		return err
	}); err != nil {
		return err
	}
	a.onKill(on)
	if !on && a.mail != nil {
		a.mail.Kick() // mail held while it was on goes out now
	}
	return nil
}
