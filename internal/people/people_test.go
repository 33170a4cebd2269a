package people_test

import (
	"context"
	"errors"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sharesvc/sharesvc/internal/auth"
	"github.com/sharesvc/sharesvc/internal/db"
	"github.com/sharesvc/sharesvc/internal/people"
	"github.com/sharesvc/sharesvc/internal/testrig/testdb"
)

// Each test's database is on the run's engine (SHARESVC_TEST_DB).
func TestMain(m *testing.M) { os.Exit(testdb.Main(m)) }

func open(t *testing.T) *people.Store {
	t.Helper()
	d, err := db.Open(context.Background(), testdb.DSN(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return people.NewStore(d.Read)
}

const issuer = "https://idp.example.org"

var roles = people.RoleMap{Admin: []string{"share-admins"}, Auditor: []string{"auditors"}}

func TestParseRoleMap(t *testing.T) {
	m, err := people.ParseRoleMap(" admin=share-admins, auditor=auditors,admin=ops ,")
	if err != nil || !slices.Equal(m.Admin, []string{"share-admins", "ops"}) || !slices.Equal(m.Auditor, []string{"auditors"}) {
		t.Fatalf("ParseRoleMap = %+v, %v", m, err)
	}
	for _, bad := range []string{"admin", "admin=", "root=x", "sharer=staff", "admin=a\nb"} {
		if _, err := people.ParseRoleMap(bad); !errors.Is(err, people.ErrInvalid) {
			t.Errorf("ParseRoleMap(%q) = %v; want ErrInvalid", bad, err)
		}
	}
	for _, tc := range []struct {
		groups []string
		want   auth.Role
	}{
		{nil, auth.RoleSharer},
		{[]string{"staff"}, auth.RoleSharer},
		{[]string{"auditors"}, auth.RoleAuditor},
		{[]string{"auditors", "ops"}, auth.RoleAdmin},
	} {
		if got := m.RoleFor(tc.groups); got != tc.want {
			t.Errorf("RoleFor(%q) = %s; want %s", tc.groups, got, tc.want)
		}
	}
}

func TestSignInCreatesThenRefreshes(t *testing.T) {
	ctx := context.Background()
	s := open(t)
	now := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	c := people.Claims{Issuer: issuer, Subject: "00u1", Email: "Carol@Example.org", EmailVerified: true, Name: "Carol\x00 Ü",
		Groups: []string{"staff", "share-admins", "staff", " "}}
	p, ch, err := s.SignIn(ctx, c, roles, now)
	if err != nil || !ch.Created {
		t.Fatalf("first SignIn = %+v, %+v, %v", p, ch, err)
	}
	if p.Name != "carol@example.org" || p.Email != "carol@example.org" || p.DisplayName != "Carol Ü" ||
		!slices.Equal(p.Groups, []string{"share-admins", "staff"}) || p.Role() != auth.RoleAdmin {
		t.Fatalf("first SignIn = %+v", p)
	}
	// Left the admin group at the provider: the role follows.
	c.Groups = []string{"staff"}
	c.Email = "carol.new@example.org"
	p2, ch, err := s.SignIn(ctx, c, roles, now.Add(time.Hour))
	if err != nil || ch.Created || !ch.RoleChanged(p2) || ch.PrevRole != auth.RoleAdmin || p2.Role() != auth.RoleSharer {
		t.Fatalf("second SignIn = %+v, %+v, %v", p2, ch, err)
	}
	if p2.ID != p.ID || p2.Name != "carol@example.org" || p2.Email != "carol.new@example.org" {
		t.Fatalf("second SignIn changed the identity: %+v", p2)
	}
	got, err := s.Get(ctx, p.ID)
	if err != nil || got.Email != "carol.new@example.org" || !got.SeenAt.Equal(now.Add(time.Hour)) || got.Role() != auth.RoleSharer {
		t.Fatalf("Get = %+v, %v", got, err)
	}
}

func TestNames(t *testing.T) {
	ctx := context.Background()
	s := open(t)
	now := time.Now()
	a, _, err := s.SignIn(ctx, people.Claims{Issuer: issuer, Subject: "a", Email: "dup@example.org", EmailVerified: true}, roles, now)
	if err != nil || a.Name != "dup@example.org" {
		t.Fatalf("SignIn a = %+v, %v", a, err)
	}
	// Another subject with the same address does not take over a's name.
	b, _, err := s.SignIn(ctx, people.Claims{Issuer: issuer, Subject: "b", Email: "dup@example.org", EmailVerified: true}, roles, now)
	if err != nil || !strings.HasPrefix(b.Name, "person-") || b.Name == a.Name {
		t.Fatalf("SignIn b = %+v, %v", b, err)
	}
	// An unverified address is neither kept nor used as the name.
	u, _, err := s.SignIn(ctx, people.Claims{Issuer: issuer, Subject: "u", Email: "boss@example.org"}, roles, now)
	if err != nil || u.Email != "" || !strings.HasPrefix(u.Name, "person-") {
		t.Fatalf("SignIn unverified = %+v, %v", u, err)
	}
	// The same subject at another issuer is another person.
	o, ch, err := s.SignIn(ctx, people.Claims{Issuer: "https://other.example", Subject: "a"}, roles, now)
	if err != nil || !ch.Created || o.ID == a.ID {
		t.Fatalf("SignIn other issuer = %+v, %+v, %v", o, ch, err)
	}
}

func TestBadClaimsChangeNothing(t *testing.T) {
	ctx := context.Background()
	s := open(t)
	for _, c := range []people.Claims{
		{Issuer: "", Subject: "x"},
		{Issuer: issuer, Subject: ""},
		{Issuer: issuer, Subject: "a\nb"},
		{Issuer: issuer, Subject: strings.Repeat("s", 256)},
	} {
		if _, _, err := s.SignIn(ctx, c, roles, time.Now()); !errors.Is(err, people.ErrInvalid) {
			t.Errorf("SignIn(%+v) = %v; want ErrInvalid", c, err)
		}
	}
	if ps, err := s.List(ctx); err != nil || len(ps) != 0 {
		t.Fatalf("List = %d people, %v; want none", len(ps), err)
	}
	many := make([]string, 500)
	for i := range many {
		many[i] = strings.Repeat("g", i%300+1)
	}
	p, _, err := s.SignIn(ctx, people.Claims{Issuer: issuer, Subject: "m", Groups: many}, roles, time.Now())
	if err != nil || len(p.Groups) > people.MaxGroups {
		t.Fatalf("SignIn with 500 groups = %d groups, %v", len(p.Groups), err)
	}
}

func TestOverrideAndDisable(t *testing.T) {
	ctx := context.Background()
	d, err := db.Open(ctx, testdb.DSN(t))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	s := people.NewStore(d.Read)
	c := people.Claims{Issuer: issuer, Subject: "d", Email: "dan@example.org", EmailVerified: true, Groups: []string{"staff"}}
	p, _, err := s.SignIn(ctx, c, roles, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := people.SetOverride(ctx, d.Read, p.ID, "root"); !errors.Is(err, people.ErrInvalid) {
		t.Fatalf("SetOverride(root) = %v; want ErrInvalid", err)
	}
	before, after, err := people.SetOverride(ctx, d.Read, p.ID, auth.RoleAuditor)
	if err != nil || before.Role() != auth.RoleSharer || after.Role() != auth.RoleAuditor {
		t.Fatalf("SetOverride = %+v, %+v, %v", before, after, err)
	}
	// The override holds whatever the groups say at the next sign-in.
	p, ch, err := s.SignIn(ctx, c, roles, time.Now())
	if err != nil || p.Role() != auth.RoleAuditor || ch.RoleChanged(p) {
		t.Fatalf("SignIn after override = %+v, %+v, %v", p, ch, err)
	}
	if _, _, err := people.SetOverride(ctx, d.Read, "psn_nobody", auth.RoleAdmin); !errors.Is(err, people.ErrNotFound) {
		t.Fatalf("SetOverride(unknown) = %v; want ErrNotFound", err)
	}
	if ok, err := people.Disable(ctx, d.Read, "dan@example.org", time.Now()); err != nil || !ok {
		t.Fatalf("Disable = %v, %v", ok, err)
	}
	if ok, err := people.Disable(ctx, d.Read, "dan@example.org", time.Now()); err != nil || ok {
		t.Fatalf("second Disable = %v, %v; want false", ok, err)
	}
	if _, _, err := s.SignIn(ctx, c, roles, time.Now()); !errors.Is(err, people.ErrDisabled) {
		t.Fatalf("SignIn after Disable = %v; want ErrDisabled", err)
	}
	if p, err := people.Enable(ctx, d.Read, p.ID); err != nil || !p.Active() {
		t.Fatalf("Enable = %+v, %v", p, err)
	}
	if _, _, err := s.SignIn(ctx, c, roles, time.Now()); err != nil {
		t.Fatalf("SignIn after Enable = %v", err)
	}
}

// A provider's userinfo answer is unbounded: a flood of groups is cut in
// time linear-ish in its size, and duplicates that differ only in spaces
// or control characters collapse to one.
func TestCleanManyGroups(t *testing.T) {
	many := make([]string, 0, 120000)
	for i := range 60000 {
		g := "group-" + strings.Repeat("x", i%7) + string(rune('a'+i%26)) + strings.Repeat("y", i/26%50)
		many = append(many, g, " "+g+"\t")
	}
	start := time.Now()
	c, err := people.Claims{Issuer: issuer, Subject: "flood", Groups: many}.Clean()
	if took := time.Since(start); took > 1500*time.Millisecond {
		t.Errorf("Clean of %d groups took %s", len(many), took)
	}
	if err != nil || len(c.Groups) != people.MaxGroups || !slices.IsSorted(c.Groups) ||
		len(slices.Compact(slices.Clone(c.Groups))) != people.MaxGroups {
		t.Fatalf("Clean = %d groups (sorted %v), %v; want %d distinct sorted", len(c.Groups), slices.IsSorted(c.Groups), err, people.MaxGroups)
	}
}

// A display name or address from the provider loses format characters
// (a right-to-left override would disguise the sharer in mail), while a
// group keeps them: "share\u200b-admins" is not share-admins.
func TestCleanDropsFormatCharactersFromText(t *testing.T) {
	c, err := people.Claims{Issuer: issuer, Subject: "f", Email: "eve\u202e@example.org", EmailVerified: true,
		Name: "Eve \u202egnp.exe", Groups: []string{"share\u200b-admins"}}.Clean()
	if err != nil {
		t.Fatal(err)
	}
	if c.Name != "Eve gnp.exe" || c.Email != "eve@example.org" {
		t.Fatalf("Clean = name %q, email %q; want the format characters gone", c.Name, c.Email)
	}
	if len(c.Groups) != 1 || c.Groups[0] != "share\u200b-admins" || roles.RoleFor(c.Groups) != auth.RoleSharer {
		t.Fatalf("Clean groups = %q (role %s); want the group unchanged and no admin", c.Groups, roles.RoleFor(c.Groups))
	}
}
