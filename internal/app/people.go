package app

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/sharesvc/sharesvc/internal/audit"
	"github.com/sharesvc/sharesvc/internal/auth"
	"github.com/sharesvc/sharesvc/internal/people"
)

// errNoPeople means the App was built without a people store.
var errNoPeople = errors.New("app: no people store")

// People returns everyone who signed in through the identity provider, by
// name. Admins and auditors. Errors: auth.ErrForbidden.
func (a *App) People(ctx context.Context, actor Actor) ([]*people.Person, error) {
	if err := allow(actor, "listing people", auth.RoleAdmin, auth.RoleAuditor); err != nil {
		return nil, err
	}
	if a.people == nil {
		return nil, nil
	}
	return a.people.List(ctx)
}

// SetPersonRole overrides the role of person id with role, or with role ""
// lets their groups decide again, and returns the person after. The change
// is audited (person.role: from, to, because "override") even when the
// role they act with stays the same. Admins only, and never their own
// role. Errors: people.ErrNotFound, people.ErrInvalid (not a role),
// auth.ErrInvalid (one's own role), auth.ErrForbidden.
func (a *App) SetPersonRole(ctx context.Context, actor Actor, id string, role auth.Role) (*people.Person, error) {
	if err := allow(actor, "changing a person's role", auth.RoleAdmin); err != nil {
		return nil, err
	}
	if role != "" {
		if _, err := auth.ParseRole(string(role)); err != nil {
			return nil, fmt.Errorf("%w: %v", people.ErrInvalid, err)
		}
	}
	if a.people == nil {
		return nil, errNoPeople
	}
	p, err := a.people.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	if p.Name == actor.Name {
		return nil, fmt.Errorf("%w: you cannot change your own role; ask another admin", auth.ErrInvalid)
	}
	var after *people.Person
	ev := a.event(actor, audit.ActionPersonRole, "")
	if _, err := a.audit.Append(ctx, ev, func(ctx context.Context, tx *sql.Tx, ev *audit.Event) error {
		before, aft, err := people.SetOverride(ctx, tx, id, role)
		if err != nil {
			return err
		}
		after = aft
		detail, _ := json.Marshal(map[string]any{"person": before.Name, "person_id": before.ID,
			"from": before.Role(), "to": after.Role(), "override": string(role), "because": "override"})
		ev.Detail = string(detail)
		return nil
	}); err != nil {
		return nil, err
	}
	return after, nil
}

// EnablePerson lets offboarded person id sign in again (their links and
// tokens stay revoked) and returns them. Admins only. Errors:
// people.ErrNotFound, auth.ErrForbidden.
func (a *App) EnablePerson(ctx context.Context, actor Actor, id string) (*people.Person, error) {
	if err := allow(actor, "enabling a person", auth.RoleAdmin); err != nil {
		return nil, err
	}
	if a.people == nil {
		return nil, errNoPeople
	}
	var p *people.Person
	ev := a.event(actor, audit.ActionPersonEnable, "")
	if _, err := a.audit.Append(ctx, ev, func(ctx context.Context, tx *sql.Tx, ev *audit.Event) error {
		before, err := people.Get(ctx, tx, id)
		if err != nil {
			return err
		}
		if p, err = people.Enable(ctx, tx, id); err != nil {
			return err
		}
		detail, _ := json.Marshal(map[string]any{"person": p.Name, "person_id": p.ID, "was_disabled": !before.Active()})
		ev.Detail = string(detail)
		return nil
	}); err != nil {
		return nil, err
	}
	return p, nil
}
