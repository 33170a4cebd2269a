package app_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/sharesvc/sharesvc/internal/app"
	"github.com/sharesvc/sharesvc/internal/audit"
	"github.com/sharesvc/sharesvc/internal/auth"
	"github.com/sharesvc/sharesvc/internal/people"
)

// person signs someone in through the provider as a sharer (auditor when
// in group "auditors").
func (f *fixture) person(subject, email string, groups ...string) *people.Person {
	f.t.Helper()
	m, _ := people.ParseRoleMap("auditor=auditors")
	p, _, err := people.NewStore(f.db.Read).SignIn(context.Background(),
		people.Claims{Issuer: "https://op.example", Subject: subject, Email: email, EmailVerified: true, Groups: groups}, m, f.now)
	if err != nil {
		f.t.Fatal(err)
	}
	return p
}

// A person's own token acts as them with their role of the moment: an
// admin's override changes it at the next request, offboarding ends it.
func TestOwnTokens(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	dana := f.person("dana", "dana@corp.example", "staff")
	actor := app.Actor{Name: dana.Name, Role: dana.Role(), Groups: dana.Groups}
	tokens := auth.NewStore(f.db.Read)

	// Bad requests store nothing.
	for _, req := range []app.OwnTokenRequest{
		{Name: "ci", Lifetime: app.DefaultPersonalTokenMaxLifetime + time.Second},
		{Name: "bad name", Lifetime: time.Hour},
		{Name: "ci", Lifetime: time.Second},
	} {
		if _, _, err := f.app.MintOwnToken(ctx, actor, req); !errors.Is(err, auth.ErrInvalid) {
			t.Errorf("MintOwnToken(%+v) = %v; want auth.ErrInvalid", req, err)
		}
	}
	if ts, _ := f.app.ListOwnTokens(ctx, actor); len(ts) != 0 {
		t.Fatalf("refused mints stored %d tokens", len(ts))
	}

	tok, secret, err := f.app.MintOwnToken(ctx, actor, app.OwnTokenRequest{Name: "ci"})
	if err != nil {
		t.Fatal(err)
	}
	if tok.Owner != dana.Name || app.OwnTokenLabel(tok) != "ci" || !tok.ExpiresAt.Equal(f.now.Add(app.DefaultPersonalTokenLifetime)) {
		t.Fatalf("MintOwnToken = %+v; want dana's token ci for 30 days", tok)
	}
	if _, _, err := f.app.MintOwnToken(ctx, actor, app.OwnTokenRequest{Name: "ci", Lifetime: time.Hour}); !errors.Is(err, auth.ErrExists) {
		t.Fatalf("a second live ci = %v; want auth.ErrExists", err)
	}
	evs := f.events(audit.ActionTokenCreate)
	var d map[string]any
	if len(evs) != 1 || evs[0].Actor != dana.Name || json.Unmarshal([]byte(evs[0].Detail), &d) != nil || d["owner"] != dana.Name || d["lifetime"] != "30d" {
		t.Fatalf("token.create rows = %+v; want one by dana with owner and lifetime", evs)
	}

	authn := func() (app.Actor, error) {
		t.Helper()
		got, err := tokens.Authenticate(ctx, secret, f.now)
		if err != nil {
			return app.Actor{}, err
		}
		return app.ActorOf(got), nil
	}
	if a, err := authn(); err != nil || a.Name != dana.Name || a.Role != auth.RoleSharer || len(a.Groups) != 1 || a.Groups[0] != "staff" {
		t.Fatalf("ActorOf(dana's token) = %+v, %v; want dana, sharer, [staff]", a, err)
	}
	if _, err := f.app.SetPersonRole(ctx, admin, dana.ID, auth.RoleAuditor); err != nil {
		t.Fatal(err)
	}
	if a, err := authn(); err != nil || a.Role != auth.RoleAuditor {
		t.Fatalf("after the override, dana's token = %+v, %v; want auditor", a, err)
	}

	// Nobody else sees or revokes it; the answer is the same as for an id
	// that does not exist.
	if _, err := f.app.RevokeOwnToken(ctx, alice, tok.ID); !errors.Is(err, auth.ErrNotFound) {
		t.Fatalf("alice revoking dana's token = %v; want auth.ErrNotFound", err)
	}
	if ts, _ := f.app.ListOwnTokens(ctx, alice); len(ts) != 0 {
		t.Fatalf("alice's own tokens = %d; want none", len(ts))
	}
	if len(f.events(audit.ActionTokenRevoke)) != 0 {
		t.Fatal("a refused revocation was audited")
	}

	// Offboarding dana revokes it and disables her.
	plan, err := f.app.OffboardPreview(ctx, admin, app.OffboardRequest{Name: dana.Name})
	if err != nil || len(plan.Tokens) != 1 || plan.Tokens[0].ID != tok.ID || !plan.SignIn {
		t.Fatalf("OffboardPreview(dana) = %+v, %v; want her token and her sign-in", plan, err)
	}
	if _, nt, err := f.app.Offboard(ctx, admin, app.OffboardRequest{Name: dana.Name}); err != nil || nt != 1 {
		t.Fatalf("Offboard(dana) = %d tokens, %v; want 1", nt, err)
	}
	if _, err := authn(); !errors.Is(err, auth.ErrUnauthenticated) {
		t.Fatalf("dana's token after offboarding = %v; want auth.ErrUnauthenticated", err)
	}
	if p, err := people.NewStore(f.db.Read).Get(ctx, dana.ID); err != nil || p.Active() {
		t.Fatalf("dana after offboarding = %+v, %v; want disabled", p, err)
	}
	off := f.events(audit.ActionOffboard)
	if len(off) != 1 || json.Unmarshal([]byte(off[0].Detail), &d) != nil || d["owned_tokens_revoked"] != 1.0 || d["people_disabled"] != 1.0 {
		t.Fatalf("offboard rows = %+v; want the owned token and the person counted", off)
	}
}

// Disabling a person ends their token even before it is revoked.
func TestOwnTokenOfDisabledPerson(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	erin := f.person("erin", "erin@corp.example")
	_, secret, err := f.app.MintOwnToken(ctx, app.Actor{Name: erin.Name, Role: erin.Role()}, app.OwnTokenRequest{Name: "ci", Lifetime: 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := people.Disable(ctx, f.db.Read, erin.Name, f.now); err != nil {
		t.Fatal(err)
	}
	if _, err := auth.NewStore(f.db.Read).Authenticate(ctx, secret, f.now); !errors.Is(err, auth.ErrUnauthenticated) {
		t.Fatalf("a disabled person's token = %v; want auth.ErrUnauthenticated", err)
	}
}

func TestSetPersonRole(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	gil := f.person("gil", "gil@corp.example", "auditors")
	root := f.person("root", "root@corp.example")
	rootActor := app.Actor{Name: root.Name, Role: auth.RoleAdmin}

	for _, tc := range []struct {
		name  string
		actor app.Actor
		id    string
		role  auth.Role
		want  error
	}{
		{"by a sharer", alice, gil.ID, auth.RoleAdmin, auth.ErrForbidden},
		{"by an auditor", auditor, gil.ID, auth.RoleAdmin, auth.ErrForbidden},
		{"not a role", rootActor, gil.ID, "owner", people.ErrInvalid},
		{"nobody", rootActor, "psn_none", auth.RoleAdmin, people.ErrNotFound},
		{"oneself", rootActor, root.ID, auth.RoleSharer, auth.ErrInvalid},
	} {
		if _, err := f.app.SetPersonRole(ctx, tc.actor, tc.id, tc.role); !errors.Is(err, tc.want) {
			t.Errorf("SetPersonRole %s = %v; want %v", tc.name, err, tc.want)
		}
	}
	if len(f.events(audit.ActionPersonRole)) != 0 {
		t.Fatal("refused role changes were audited")
	}
	p, err := f.app.SetPersonRole(ctx, rootActor, gil.ID, auth.RoleAdmin)
	if err != nil || p.Role() != auth.RoleAdmin || p.Override != auth.RoleAdmin {
		t.Fatalf("SetPersonRole(gil, admin) = %+v, %v; want admin by override", p, err)
	}
	if p, err = f.app.SetPersonRole(ctx, rootActor, gil.ID, ""); err != nil || p.Role() != auth.RoleAuditor || p.Override != "" {
		t.Fatalf("SetPersonRole(gil, clear) = %+v, %v; want auditor from groups", p, err)
	}
	evs := f.events(audit.ActionPersonRole)
	want := []string{
		`{"because":"override","from":"auditor","override":"admin","person":"gil@corp.example","person_id":"` + gil.ID + `","to":"admin"}`,
		`{"because":"override","from":"admin","override":"","person":"gil@corp.example","person_id":"` + gil.ID + `","to":"auditor"}`,
	}
	if len(evs) != 2 || evs[0].Detail != want[0] || evs[1].Detail != want[1] || evs[0].Actor != root.Name {
		t.Fatalf("person.role rows = %+v; want %v", evs, want)
	}
	if ps, err := f.app.People(ctx, auditor); err != nil || len(ps) != 2 {
		t.Fatalf("People(auditor) = %d, %v; want 2", len(ps), err)
	}
	if _, err := f.app.People(ctx, alice); !errors.Is(err, auth.ErrForbidden) {
		t.Fatalf("People(sharer) = %v; want auth.ErrForbidden", err)
	}
	if _, err := f.app.EnablePerson(ctx, rootActor, gil.ID); err != nil || len(f.events(audit.ActionPersonEnable)) != 1 {
		t.Fatalf("EnablePerson = %v; want one person.enable row", err)
	}
}
