package app_test

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/sharesvc/sharesvc/internal/app"
	"github.com/sharesvc/sharesvc/internal/audit"
	"github.com/sharesvc/sharesvc/internal/auth"
	"github.com/sharesvc/sharesvc/internal/db"
	"github.com/sharesvc/sharesvc/internal/grants"
	"github.com/sharesvc/sharesvc/internal/links"
	"github.com/sharesvc/sharesvc/internal/people"
	"github.com/sharesvc/sharesvc/internal/sts"
	"github.com/sharesvc/sharesvc/internal/testrig/testdb"
)

// Each test's database is on the run's engine (SHARESVC_TEST_DB).
func TestMain(m *testing.M) { os.Exit(testdb.Main(m)) }

// noSession is the signer's source in these tests: none of the verbs
// tested here signs.
type noSession struct{}

func (noSession) Retrieve(context.Context) (sts.Credentials, error) {
	return sts.Credentials{}, errors.New("these tests sign nothing")
}

// fixture is an App over a real SQLite database.
type fixture struct {
	t     *testing.T
	app   *app.App
	db    *db.DB
	store *links.Store
	now   time.Time
	kills []bool // what OnKillSwitch was told, in order
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	ctx := context.Background()
	f := &fixture{t: t, now: time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)}
	clock := func() time.Time { return f.now }
	d, err := db.Open(ctx, testdb.DSN(t))
	if err != nil {
		t.Fatal(err)
	}
	log, err := audit.Open(ctx, d.Write, audit.Options{Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		log.Close()
		d.Close()
	})
	f.db, f.store = d, links.NewStore(d.Read)
	f.app, err = app.New(app.Config{}, app.Deps{
		Links: f.store, Tokens: auth.NewStore(d.Read), Audit: log, Grants: grants.NewStore(d.Read),
		People: people.NewStore(d.Read), Signer: sts.NewSigner(noSession{}, nil, sts.SignerOptions{Clock: clock}), Clock: clock,
		OnKillSwitch: func(on bool) { f.kills = append(f.kills, on) },
	})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// Who acts in these tests.
var (
	admin   = app.Actor{Name: "root", Role: auth.RoleAdmin, RequestID: "req-1", ClientIP: "192.0.2.7", UserAgent: "test/1"}
	alice   = app.Actor{Name: "alice", Role: auth.RoleSharer}
	bob     = app.Actor{Name: "bob", Role: auth.RoleSharer}
	auditor = app.Actor{Name: "audrey", Role: auth.RoleAuditor}
)

// link stores a live download link created by creator, in share shareID
// when that is not "".
func (f *fixture) link(creator, shareID, recipient string) *links.Link {
	f.t.Helper()
	l := &links.Link{ID: links.NewID(), Kind: links.KindDownload, Bucket: "bucket", Key: "doc.txt",
		CreatedAt: f.now, CreatedBy: creator, ExpiresAt: f.now.Add(time.Hour), PresignTTL: time.Minute,
		ShareID: shareID, Recipient: recipient, Direct: true}
	_, hash := links.NewCode()
	if err := links.Insert(context.Background(), f.db.Read, l, hash); err != nil {
		f.t.Fatal(err)
	}
	return l
}

// linkWithCode stores a live link created by creator and returns its code.
func (f *fixture) linkWithCode(creator string) (*links.Link, string) {
	f.t.Helper()
	l := &links.Link{ID: links.NewID(), Kind: links.KindDownload, Bucket: "bucket", Key: "doc.txt",
		CreatedAt: f.now, CreatedBy: creator, ExpiresAt: f.now.Add(time.Hour), PresignTTL: time.Minute, Direct: true}
	code, hash := links.NewCode()
	if err := links.Insert(context.Background(), f.db.Read, l, hash); err != nil {
		f.t.Fatal(err)
	}
	return l, code
}

func (f *fixture) token(name string, role auth.Role) *auth.Token {
	f.t.Helper()
	t := &auth.Token{ID: auth.NewID(), Name: name, Role: role, CreatedAt: f.now, CreatedBy: "test"}
	_, hash := auth.NewSecret()
	if err := auth.Insert(context.Background(), f.db.Read, t, hash); err != nil {
		f.t.Fatal(err)
	}
	return t
}

// revoked reports whether link id is revoked, and by whom.
func (f *fixture) revoked(id string) (bool, string) {
	f.t.Helper()
	l, err := f.store.Get(context.Background(), id)
	if err != nil {
		f.t.Fatal(err)
	}
	return !l.RevokedAt.IsZero(), l.RevokedBy
}

// events returns the audit rows with action, oldest first.
func (f *fixture) events(action string) []audit.Event {
	f.t.Helper()
	evs, err := audit.List(context.Background(), f.db.Read, audit.Filter{Action: action})
	if err != nil {
		f.t.Fatal(err)
	}
	for i, j := 0, len(evs)-1; i < j; i, j = i+1, j-1 {
		evs[i], evs[j] = evs[j], evs[i]
	}
	return evs
}

func TestRevokeLinkOwnership(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name    string
		actor   app.Actor
		creator string
		want    error // nil: revoked
	}{
		{"sharer, own link", alice, "alice", nil},
		{"sharer, another's link", alice, "bob", auth.ErrForbidden},
		{"admin, anyone's link", admin, "bob", nil},
		{"auditor", auditor, "bob", auth.ErrForbidden},
		{"no role", app.Actor{Name: "alice"}, "alice", auth.ErrForbidden},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			l := f.link(tc.creator, "", "")
			got, err := f.app.RevokeLink(ctx, tc.actor, l.ID, "done")
			isRevoked, by := f.revoked(l.ID)
			if tc.want != nil {
				if !errors.Is(err, tc.want) || isRevoked {
					t.Fatalf("RevokeLink by %s of %s's link = %v (revoked %v); want %v and the link live", tc.actor.Name, tc.creator, err, isRevoked, tc.want)
				}
				if evs := f.events(audit.ActionLinkRevoke); len(evs) != 0 {
					t.Errorf("refused revocation wrote %d audit rows; want none", len(evs))
				}
				return
			}
			if err != nil || got.RevokedAt.IsZero() || !isRevoked || by != tc.actor.Name {
				t.Fatalf("RevokeLink by %s of %s's link = %v, %v (revoked %v by %q); want it revoked by %s", tc.actor.Name, tc.creator, got, err, isRevoked, by, tc.actor.Name)
			}
		})
	}
}

func TestRevokeLinkAuditRow(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	l := f.link("bob", "", "")
	for range 2 {
		if _, err := f.app.RevokeLink(ctx, admin, l.ID, "leaked"); err != nil {
			t.Fatal(err)
		}
	}
	evs := f.events(audit.ActionLinkRevoke)
	if len(evs) != 2 {
		t.Fatalf("%d link.revoke rows; want 2", len(evs))
	}
	ev := evs[0]
	if ev.Actor != admin.Name || ev.RequestID != admin.RequestID || ev.ClientIP != admin.ClientIP ||
		ev.UserAgent != admin.UserAgent || ev.LinkID != l.ID || ev.Detail != `{"reason":"leaked"}` || ev.Reason != "" {
		t.Errorf("first revocation's row = %+v; want the actor, request, address, agent, link and reason", ev)
	}
	if evs[1].Reason != "already_revoked" {
		t.Errorf("second revocation's row reason = %q; want already_revoked", evs[1].Reason)
	}
}

func TestRevokeLinkRefusals(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	l := f.link("alice", "", "")
	if _, err := f.app.RevokeLink(ctx, alice, l.ID, strings.Repeat("x", 1001)); !errors.Is(err, links.ErrInvalid) {
		t.Errorf("RevokeLink with a 1001-byte reason = %v; want links.ErrInvalid", err)
	}
	if _, err := f.app.RevokeLink(ctx, alice, "lnk_nosuchlink", ""); !errors.Is(err, links.ErrNotFound) {
		t.Errorf("RevokeLink of an unknown id = %v; want links.ErrNotFound", err)
	}
	if ok, _ := f.revoked(l.ID); ok {
		t.Error("a refused revocation revoked the link")
	}
}

func TestRevokeByURL(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	bobs, code := f.linkWithCode("bob")
	if _, err := f.app.RevokeByURL(ctx, alice, "https://share.example/s/"+code, ""); !errors.Is(err, auth.ErrForbidden) {
		t.Errorf("RevokeByURL by alice of bob's link = %v; want auth.ErrForbidden", err)
	}
	for _, u := range []string{"https://share.example/x/" + code, "https://share.example/s/short", "%zz"} {
		if _, err := f.app.RevokeByURL(ctx, admin, u, ""); !errors.Is(err, links.ErrInvalid) {
			t.Errorf("RevokeByURL(%q) = %v; want links.ErrInvalid", u, err)
		}
	}
	if ok, _ := f.revoked(bobs.ID); ok {
		t.Fatal("a refused revocation by URL revoked the link")
	}
	l, err := f.app.RevokeByURL(ctx, bob, " https://share.example/s/"+code+" ", "")
	if err != nil || l.ID != bobs.ID || l.RevokedBy != "bob" {
		t.Fatalf("RevokeByURL by bob of his link = %v, %v; want it revoked by bob", l, err)
	}
}

func TestReadOwnership(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	l := f.link("bob", "shr_test1", "x@example.org")
	for _, tc := range []struct {
		actor app.Actor
		ok    bool
	}{{alice, false}, {bob, true}, {admin, true}, {auditor, true}} {
		_, err := f.app.Link(ctx, tc.actor, l.ID)
		_, serr := f.app.Share(ctx, tc.actor, "shr_test1")
		if tc.ok && (err != nil || serr != nil) || !tc.ok && (!errors.Is(err, auth.ErrForbidden) || !errors.Is(serr, auth.ErrForbidden)) {
			t.Errorf("Link, Share by %s of bob's = %v, %v; want allowed %v (else auth.ErrForbidden)", tc.actor.Name, err, serr, tc.ok)
		}
	}
	if _, err := f.app.Share(ctx, admin, "shr_none"); !errors.Is(err, links.ErrNotFound) {
		t.Errorf("Share of an unknown id = %v; want links.ErrNotFound", err)
	}
}

func TestRevokeShareOwnership(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	a := f.link("bob", "shr_bob", "a@example.org")
	b := f.link("bob", "shr_bob", "b@example.org")
	for _, actor := range []app.Actor{alice, auditor} {
		if _, err := f.app.RevokeShare(ctx, actor, "shr_bob", ""); !errors.Is(err, auth.ErrForbidden) {
			t.Errorf("RevokeShare by %s of bob's share = %v; want auth.ErrForbidden", actor.Name, err)
		}
	}
	if ra, _ := f.revoked(a.ID); ra {
		t.Fatal("a refused share revocation revoked its links")
	}
	if evs := f.events(audit.ActionShareRevoke); len(evs) != 0 {
		t.Fatalf("refused share revocations wrote %d rows; want none", len(evs))
	}
	ls, err := f.app.RevokeShare(ctx, bob, "shr_bob", "sent to the wrong people")
	if err != nil || len(ls) != 2 || ls[0].RevokedAt.IsZero() || ls[1].RevokedAt.IsZero() {
		t.Fatalf("RevokeShare by bob = %v, %v; want both links revoked", ls, err)
	}
	if rb, by := f.revoked(b.ID); !rb || by != "bob" {
		t.Errorf("second link revoked %v by %q; want by bob", rb, by)
	}
	if _, err := f.app.RevokeShare(ctx, admin, "shr_bob", ""); err != nil {
		t.Fatal(err)
	}
	evs := f.events(audit.ActionShareRevoke)
	if len(evs) != 2 || evs[0].Actor != "bob" || !strings.Contains(evs[0].Detail, `"revoked":2`) || evs[1].Reason != "already_revoked" {
		t.Errorf("share.revoke rows = %+v; want bob's revoking 2, then admin's already_revoked", evs)
	}
}

func TestOffboard(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	bobs := f.link("bob", "", "")
	bobTok := f.token("bob", auth.RoleSharer)

	for _, tc := range []struct {
		name  string
		actor app.Actor
		req   app.OffboardRequest
		want  error
	}{
		{"by a sharer", alice, app.OffboardRequest{Name: "bob"}, auth.ErrForbidden},
		{"oneself", admin, app.OffboardRequest{Name: "root"}, auth.ErrInvalid},
		{"a bad name", admin, app.OffboardRequest{Name: "bob smith"}, auth.ErrInvalid},
		{"a long reason", admin, app.OffboardRequest{Name: "bob", Reason: strings.Repeat("x", 1001)}, links.ErrInvalid},
	} {
		if _, _, err := f.app.Offboard(ctx, tc.actor, tc.req); !errors.Is(err, tc.want) {
			t.Errorf("Offboard %s = %v; want %v", tc.name, err, tc.want)
		}
	}
	if ok, _ := f.revoked(bobs.ID); ok {
		t.Fatal("a refused offboarding revoked bob's link")
	}

	// An unknown name (a typo) is refused rather than ending nothing.
	if _, err := f.app.OffboardPreview(ctx, admin, app.OffboardRequest{Name: "nobody"}); !errors.Is(err, app.ErrUnknownPerson) {
		t.Errorf("OffboardPreview(nobody) = %v; want app.ErrUnknownPerson", err)
	}
	if _, _, err := f.app.Offboard(ctx, admin, app.OffboardRequest{Name: "nobody"}); !errors.Is(err, app.ErrUnknownPerson) || !strings.Contains(err.Error(), "no person named nobody") {
		t.Fatalf("Offboard(nobody) = %v; want app.ErrUnknownPerson naming nobody", err)
	}
	if ok, _ := f.revoked(bobs.ID); ok {
		t.Fatal("offboarding nobody revoked bob's link")
	}
	// Someone who only ever created links (their token long deleted) is
	// known.
	f.link("carol", "", "")
	if plan, err := f.app.OffboardPreview(ctx, admin, app.OffboardRequest{Name: "carol"}); err != nil || plan.LiveLinks != 1 || len(plan.Tokens) != 0 {
		t.Errorf("OffboardPreview(carol) = %+v, %v; want 1 link, no token", plan, err)
	}

	plan, err := f.app.OffboardPreview(ctx, admin, app.OffboardRequest{Name: "bob"})
	if err != nil || plan.LiveLinks != 1 || len(plan.Tokens) != 1 || plan.Tokens[0].ID != bobTok.ID {
		t.Fatalf("OffboardPreview(bob) = %+v, %v; want 1 link and bob's token", plan, err)
	}
	if ok, _ := f.revoked(bobs.ID); ok {
		t.Fatal("previewing bob's offboarding revoked his link")
	}

	nl, nt, err := f.app.Offboard(ctx, admin, app.OffboardRequest{Name: "bob", Reason: "left"})
	if err != nil || nl != 1 || nt != 1 {
		t.Fatalf("Offboard(bob) = %d, %d, %v; want 1, 1, nil", nl, nt, err)
	}
	if ok, by := f.revoked(bobs.ID); !ok || by != "root" {
		t.Errorf("bob's link revoked %v by %q; want by root", ok, by)
	}
	evs := f.events(audit.ActionOffboard)
	if len(evs) != 1 || evs[0].Actor != "root" || evs[0].Detail != `{"links_revoked":1,"name":"bob","reason":"left","tokens_revoked":1}` {
		t.Errorf("offboard rows = %+v; want bob's alone, with the counts", evs)
	}
	// Offboarded, bob is still known: a second offboarding ends nothing.
	if nl, nt, err := f.app.Offboard(ctx, admin, app.OffboardRequest{Name: "bob"}); err != nil || nl != 0 || nt != 0 {
		t.Errorf("Offboard(bob) again = %d, %d, %v; want 0, 0, nil", nl, nt, err)
	}
}

func TestKillSwitch(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	for _, tc := range []struct {
		name   string
		actor  app.Actor
		reason string
		want   error
	}{
		{"by a sharer", alice, "incident", auth.ErrForbidden},
		{"by an auditor", auditor, "incident", auth.ErrForbidden},
		{"without a reason", admin, "  ", links.ErrInvalid},
		{"with a long reason", admin, strings.Repeat("x", 1001), links.ErrInvalid},
	} {
		if err := f.app.SetKillSwitch(ctx, tc.actor, true, tc.reason); !errors.Is(err, tc.want) {
			t.Errorf("SetKillSwitch on %s = %v; want %v", tc.name, err, tc.want)
		}
	}
	if k, err := f.store.GetKillSwitch(ctx); err != nil || k.On || len(f.kills) != 0 {
		t.Fatalf("after refusals the switch is %+v, %v and OnKillSwitch was told %v; want off and nothing told", k, err, f.kills)
	}
	if err := f.app.SetKillSwitch(ctx, admin, true, "incident"); err != nil {
		t.Fatal(err)
	}
	if k, err := f.store.GetKillSwitch(ctx); err != nil || !k.On || k.By != "root" || k.Reason != "incident" {
		t.Fatalf("switch after turning on = %+v, %v; want on by root for incident", k, err)
	}
	if err := f.app.SetKillSwitch(ctx, admin, false, ""); err != nil {
		t.Fatal(err)
	}
	if err := f.app.SetKillSwitch(ctx, admin, false, ""); err != nil {
		t.Fatal(err)
	}
	if len(f.kills) != 3 || !f.kills[0] || f.kills[1] || f.kills[2] {
		t.Errorf("OnKillSwitch was told %v; want [true false false]", f.kills)
	}
	evs := f.events(audit.ActionKillSwitch)
	if len(evs) != 3 || evs[0].Reason != "" || evs[2].Reason != "already_off" {
		t.Errorf("killswitch rows = %+v; want on, off, already_off", evs)
	}
}

func TestTokens(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	week := int64(7 * 24 * 3600)
	for _, tc := range []struct {
		name  string
		actor app.Actor
		req   app.TokenRequest
		want  error
	}{
		{"by a sharer", alice, app.TokenRequest{Name: "carol", Role: "sharer"}, auth.ErrForbidden},
		{"with an unknown role", admin, app.TokenRequest{Name: "carol", Role: "owner"}, auth.ErrInvalid},
		{"with a bad name", admin, app.TokenRequest{Name: "-carol", Role: "sharer"}, auth.ErrInvalid},
		{"expiring at once", admin, app.TokenRequest{Name: "carol", Role: "sharer", ExpiresIn: new(int64)}, auth.ErrInvalid},
		{"with a line break in its display name", admin, app.TokenRequest{Name: "carol", Role: "sharer", DisplayName: "Carol\r\nBcc: x@example.com"}, auth.ErrInvalid},
		{"with a right-to-left override in its display name", admin, app.TokenRequest{Name: "carol", Role: "sharer", DisplayName: "Carol \u202eecnaniF"}, auth.ErrInvalid},
		{"with a huge display name", admin, app.TokenRequest{Name: "carol", Role: "sharer", DisplayName: strings.Repeat("C", 101)}, auth.ErrInvalid},
	} {
		if _, _, err := f.app.CreateToken(ctx, tc.actor, tc.req); !errors.Is(err, tc.want) {
			t.Errorf("CreateToken %s = %v; want %v", tc.name, err, tc.want)
		}
	}
	tok, secret, err := f.app.CreateToken(ctx, admin, app.TokenRequest{Name: "carol", Role: "sharer", ExpiresIn: &week})
	if err != nil || tok.CreatedBy != "root" || tok.Role != auth.RoleSharer || !tok.ExpiresAt.Equal(f.now.Add(7*24*time.Hour)) || !strings.HasPrefix(secret, "sst_") {
		t.Fatalf("CreateToken = %+v, %v; want carol's sharer token made by root, expiring in a week", tok, err)
	}
	if _, _, err := f.app.CreateToken(ctx, admin, app.TokenRequest{Name: "carol", Role: "admin"}); !errors.Is(err, auth.ErrExists) {
		t.Errorf("CreateToken of a second carol = %v; want auth.ErrExists", err)
	}
	if _, err := f.app.RevokeToken(ctx, alice, tok.ID, ""); !errors.Is(err, auth.ErrForbidden) {
		t.Errorf("RevokeToken by a sharer = %v; want auth.ErrForbidden", err)
	}
	if _, err := f.app.RevokeToken(ctx, admin, "tok_none", ""); !errors.Is(err, auth.ErrNotFound) {
		t.Errorf("RevokeToken of an unknown id = %v; want auth.ErrNotFound", err)
	}
	got, err := f.app.RevokeToken(ctx, admin, tok.ID, "left")
	if err != nil || got.RevokedAt.IsZero() {
		t.Fatalf("RevokeToken = %+v, %v; want it revoked", got, err)
	}
	if evs := f.events(audit.ActionTokenCreate); len(evs) != 1 || evs[0].Actor != "root" {
		t.Errorf("token.create rows = %+v; want one, by root", evs)
	}
}

func TestBulkRevoke(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	a1, a2, b := f.link("alice", "", ""), f.link("alice", "", ""), f.link("bob", "", "")
	if _, err := f.app.BulkRevoke(ctx, alice, app.BulkRevokeRequest{CreatedBy: "bob"}); !errors.Is(err, auth.ErrForbidden) {
		t.Errorf("BulkRevoke by a sharer = %v; want auth.ErrForbidden", err)
	}
	if _, err := f.app.BulkRevoke(ctx, admin, app.BulkRevokeRequest{}); !errors.Is(err, links.ErrInvalid) {
		t.Errorf("BulkRevoke with an empty filter = %v; want links.ErrInvalid", err)
	}
	if n, err := f.app.BulkRevoke(ctx, admin, app.BulkRevokeRequest{CreatedBy: "alice", DryRun: true}); err != nil || n != 2 {
		t.Errorf("BulkRevoke dry run = %d, %v; want 2", n, err)
	}
	n, ls, err := f.app.BulkRevokePreview(ctx, admin, app.BulkRevokeRequest{CreatedBy: "alice"})
	if err != nil || n != 2 || len(ls) != 2 {
		t.Fatalf("BulkRevokePreview = %d, %d links, %v; want 2, 2", n, len(ls), err)
	}
	for _, l := range ls {
		if l.ID != a1.ID && l.ID != a2.ID {
			t.Errorf("BulkRevokePreview lists %s (by %s); want only alice's", l.ID, l.CreatedBy)
		}
	}
	if _, _, err := f.app.BulkRevokePreview(ctx, alice, app.BulkRevokeRequest{CreatedBy: "bob"}); !errors.Is(err, auth.ErrForbidden) {
		t.Errorf("BulkRevokePreview by a sharer = %v; want auth.ErrForbidden", err)
	}
	if _, _, err := f.app.BulkRevokePreview(ctx, admin, app.BulkRevokeRequest{}); !errors.Is(err, links.ErrInvalid) {
		t.Errorf("BulkRevokePreview with an empty filter = %v; want links.ErrInvalid", err)
	}
	if ok, _ := f.revoked(a1.ID); ok {
		t.Fatal("a dry run revoked a link")
	}
	if n, err := f.app.BulkRevoke(ctx, admin, app.BulkRevokeRequest{CreatedBy: "alice", Reason: "audit"}); err != nil || n != 2 {
		t.Fatalf("BulkRevoke = %d, %v; want 2", n, err)
	}
	for _, l := range []*links.Link{a1, a2} {
		if ok, by := f.revoked(l.ID); !ok || by != "root" {
			t.Errorf("alice's link %s revoked %v by %q; want by root", l.ID, ok, by)
		}
	}
	if ok, _ := f.revoked(b.ID); ok {
		t.Error("bulk revocation of alice's links revoked bob's")
	}
	evs := f.events(audit.ActionBulkRevoke)
	if len(evs) != 1 || !strings.Contains(evs[0].Detail, `"revoked":2`) || !strings.Contains(evs[0].Detail, `"created_by":"alice"`) {
		t.Errorf("bulk_revoke rows = %+v; want one with the filter and the count", evs)
	}
}
