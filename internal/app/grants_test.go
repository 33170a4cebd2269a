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
	"github.com/sharesvc/sharesvc/internal/grants"
	"github.com/sharesvc/sharesvc/internal/links"
	"github.com/sharesvc/sharesvc/internal/sts"
)

// financeGrant has the admin grant the provider group share-finance
// download links under finance/{person}/, and returns it.
func (f *fixture) financeGrant() *grants.Grant {
	f.t.Helper()
	g, err := f.app.CreateGrant(context.Background(), admin, &grants.Grant{Group: " share-finance ", Bucket: "bucket",
		KeyPrefix: "finance/{person}/", Actions: []grants.Action{grants.ActionDownload}, MaxUses: 5, Reason: "finance team"})
	if err != nil {
		f.t.Fatal(err)
	}
	return g
}

// A grant naming a group is stored trimmed and audited with its group; a
// grant naming two subjects is refused and changes nothing.
func TestCreateGroupGrant(t *testing.T) {
	f := newFixture(t)
	g := f.financeGrant()
	if g.Group != "share-finance" || g.Person != "" || g.Role != "" || g.Subject() != "group share-finance" {
		t.Fatalf("CreateGrant(group) = %+v", g)
	}
	evs := f.events(audit.ActionGrantCreate)
	var detail map[string]any
	if len(evs) != 1 || json.Unmarshal([]byte(evs[0].Detail), &detail) != nil || detail["group"] != "share-finance" || detail["grant_id"] != g.ID {
		t.Fatalf("grant.create rows = %+v; want one whose detail names the group", evs)
	}
	for _, two := range []*grants.Grant{
		{Group: "share-finance", Role: auth.RoleSharer, Bucket: "bucket", Actions: []grants.Action{grants.ActionDownload}},
		{Group: "share-finance", Person: "alice", Bucket: "bucket", Actions: []grants.Action{grants.ActionDownload}},
	} {
		if _, err := f.app.CreateGrant(context.Background(), admin, two); !errors.Is(err, grants.ErrInvalid) {
			t.Fatalf("CreateGrant(%s and another subject) = %v; want ErrInvalid", two.Group, err)
		}
	}
	if n := len(f.events(audit.ActionGrantCreate)); n != 1 {
		t.Fatalf("%d grant.create rows after the refusals; want 1", n)
	}
}

// A sharer in the group passes the grant check for a link inside the
// group's grant (and goes on to S3, which these tests do not have); the
// same sharer without the group, or as a token user, is refused before
// any session is asked for.
func TestGroupGrantLetsMembersCreateLinks(t *testing.T) {
	f := newFixture(t)
	f.financeGrant()
	member := app.Actor{Name: "carol", Role: auth.RoleSharer, Groups: []string{"staff", "share-finance"}}
	req := func(key string) *app.CreateLink {
		return &app.CreateLink{Spec: links.Spec{Kind: links.KindDownload, Bucket: "bucket", Key: key}}
	}
	_, err := f.app.CreateLink(context.Background(), member, req("finance/carol/q3.xlsx"))
	if errors.Is(err, grants.ErrNoGrant) || !errors.Is(err, sts.ErrUnavailable) {
		t.Fatalf("CreateLink by a member of share-finance = %v; want past the grant check, at the signer", err)
	}
	for _, tc := range []struct {
		name  string
		actor app.Actor
		key   string
	}{
		{"not in the group", app.Actor{Name: "carol", Role: auth.RoleSharer, Groups: []string{"staff"}}, "finance/carol/q3.xlsx"},
		{"token user", app.Actor{Name: "carol", Role: auth.RoleSharer}, "finance/carol/q3.xlsx"},
		{"another member's folder", member, "finance/dave/q3.xlsx"},
	} {
		if _, err := f.app.CreateLink(context.Background(), tc.actor, req(tc.key)); !errors.Is(err, grants.ErrNoGrant) {
			t.Errorf("%s: CreateLink(%s) = %v; want ErrNoGrant", tc.name, tc.key, err)
		}
	}
}

// A sharer's list of grants includes those of their groups, and a grant
// of a group they are in is theirs to see; a group they are not in is not.
func TestSharerSeesGroupGrants(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	g := f.financeGrant()
	member := app.Actor{Name: "carol", Role: auth.RoleSharer, Groups: []string{"share-finance"}}
	if gs, err := f.app.Grants(ctx, member, grants.Filter{}); err != nil || len(gs) != 1 || gs[0].ID != g.ID {
		t.Fatalf("Grants(member) = %v, %v; want the group's grant", gs, err)
	}
	if gs, err := f.app.Grants(ctx, member, grants.Filter{Group: "share-finance"}); err != nil || len(gs) != 1 || gs[0].ID != g.ID {
		t.Fatalf("Grants(member, group share-finance) = %v, %v; want the group's grant", gs, err)
	}
	if got, err := f.app.Grant(ctx, member, g.ID); err != nil || got.ID != g.ID {
		t.Fatalf("Grant(member) = %v, %v", got, err)
	}
	if gs, err := f.app.Grants(ctx, alice, grants.Filter{}); err != nil || len(gs) != 0 {
		t.Fatalf("Grants(token user) = %v, %v; want none", gs, err)
	}
	if _, err := f.app.Grants(ctx, alice, grants.Filter{Group: "share-finance"}); !errors.Is(err, auth.ErrForbidden) {
		t.Fatalf("Grants(non-member, group share-finance) = %v; want ErrForbidden", err)
	}
	if _, err := f.app.Grant(ctx, alice, g.ID); !errors.Is(err, grants.ErrNotFound) {
		t.Fatalf("Grant(non-member) = %v; want ErrNotFound", err)
	}
	if gs, err := f.app.Grants(ctx, auditor, grants.Filter{Group: "share-finance"}); err != nil || len(gs) != 1 {
		t.Fatalf("Grants(auditor, group share-finance) = %v, %v; want the group's grant", gs, err)
	}
}

// A link made under a group grant can be changed by its creator while
// they are in the group, within the grant's ceilings, and not once they
// have left it.
func TestEditUnderGroupGrant(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	g := f.financeGrant()
	l := &links.Link{ID: links.NewID(), Kind: links.KindDownload, Bucket: "bucket", Key: "finance/carol/q3.xlsx",
		CreatedAt: f.now, CreatedBy: "carol", ExpiresAt: f.now.Add(time.Hour), PresignTTL: time.Minute, MaxUses: 2,
		Direct: true, GrantID: g.ID, GrantPrefix: g.PrefixFor("carol")}
	_, hash := links.NewCode()
	if err := links.Insert(ctx, f.db.Read, l, hash); err != nil {
		t.Fatal(err)
	}
	member := app.Actor{Name: "carol", Role: auth.RoleSharer, Groups: []string{"share-finance"}}
	three, six := int64(3), int64(6)
	if got, err := f.app.EditLink(ctx, member, l.ID, &app.EditLink{MaxUses: &three}); err != nil || got.MaxUses != 3 {
		t.Fatalf("EditLink(member, max_uses 3) = %v, %v", got, err)
	}
	if _, err := f.app.EditLink(ctx, member, l.ID, &app.EditLink{MaxUses: &six}); !errors.Is(err, links.ErrInvalid) {
		t.Fatalf("EditLink(member, max_uses 6 over the grant's 5) = %v; want ErrInvalid", err)
	}
	left := app.Actor{Name: "carol", Role: auth.RoleSharer}
	if _, err := f.app.EditLink(ctx, left, l.ID, &app.EditLink{MaxUses: &three}); !errors.Is(err, grants.ErrNoGrant) {
		t.Fatalf("EditLink(carol out of the group) = %v; want ErrNoGrant", err)
	}
}

// A grant naming a group applies to each member, whatever their role; an
// auditor in the group still may not share a file nor create a link, on
// any transport.
func TestAuditorInGroupCannotShare(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	if _, err := f.app.CreateGrant(ctx, admin, &grants.Grant{Group: "share-finance", Bucket: "bucket", KeyPrefix: "finance/{person}/",
		Actions: []grants.Action{grants.ActionDownload, grants.ActionUpload}}); err != nil {
		t.Fatal(err)
	}
	start := &app.StartUpload{Filename: "q3.xlsx", Size: 10, Bucket: "bucket"}
	member := app.Actor{Name: "carol", Role: auth.RoleSharer, Groups: []string{"share-finance"}}
	if _, err := f.app.StartFileUpload(ctx, member, start); !errors.Is(err, sts.ErrUnavailable) {
		t.Fatalf("StartFileUpload by a sharer in the group = %v; want past the grant check, at the signer", err)
	}
	aud := app.Actor{Name: "audrey", Role: auth.RoleAuditor, Groups: []string{"share-finance"}}
	if _, err := f.app.StartFileUpload(ctx, aud, start); !errors.Is(err, auth.ErrForbidden) {
		t.Errorf("StartFileUpload by an auditor in the group = %v; want auth.ErrForbidden", err)
	}
	done := &app.CompleteUpload{Bucket: "bucket", Key: "finance/audrey/2026-11-30/x-q3.xlsx", Size: 10}
	if err := f.app.CompleteFileUpload(ctx, aud, done); !errors.Is(err, auth.ErrForbidden) {
		t.Errorf("CompleteFileUpload by an auditor in the group = %v; want auth.ErrForbidden", err)
	}
	link := &app.CreateLink{Spec: links.Spec{Kind: links.KindDownload, Bucket: "bucket", Key: "finance/audrey/q3.xlsx"}}
	if _, err := f.app.CreateLink(ctx, aud, link); !errors.Is(err, auth.ErrForbidden) {
		t.Errorf("CreateLink by an auditor in the group = %v; want auth.ErrForbidden", err)
	}
	if evs := f.events(app.ActionFileUploadStart); len(evs) != 0 {
		t.Errorf("file.upload.start rows = %+v; want none", evs)
	}
}
