package grants_test

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/sharesvc/sharesvc/internal/auth"
	"github.com/sharesvc/sharesvc/internal/db"
	"github.com/sharesvc/sharesvc/internal/grants"
	"github.com/sharesvc/sharesvc/internal/links"
	"github.com/sharesvc/sharesvc/internal/testrig/testdb"
)

// Each test's database is on the run's engine (SHARESVC_TEST_DB).
func TestMain(m *testing.M) { os.Exit(testdb.Main(m)) }

func grant(edit func(*grants.Grant)) *grants.Grant {
	g := &grants.Grant{Role: auth.RoleSharer, Bucket: "team-files", KeyPrefix: "home/{person}/",
		Actions: []grants.Action{grants.ActionDownload, grants.ActionUpload}}
	if edit != nil {
		edit(g)
	}
	return g
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(*grants.Grant)
		ok   bool
	}{
		{"role grant", nil, true},
		{"person grant", func(g *grants.Grant) { g.Role, g.Person = "", "alice" }, true},
		{"whole bucket", func(g *grants.Grant) { g.KeyPrefix = "" }, true},
		{"both subjects", func(g *grants.Grant) { g.Person = "alice" }, false},
		{"group grant", func(g *grants.Grant) { g.Role, g.Group = "", "share-finance" }, true},
		{"group with spaces and slashes", func(g *grants.Grant) { g.Role, g.Group = "", "/Finance Team/Share" }, true},
		{"group of 256 bytes", func(g *grants.Grant) { g.Role, g.Group = "", strings.Repeat("g", 256) }, true},
		{"group of 257 bytes", func(g *grants.Grant) { g.Role, g.Group = "", strings.Repeat("g", 257) }, false},
		{"group and role", func(g *grants.Grant) { g.Group = "share-finance" }, false},
		{"group and person", func(g *grants.Grant) { g.Role, g.Person, g.Group = "", "alice", "share-finance" }, false},
		{"blank group", func(g *grants.Grant) { g.Role, g.Group = "", "   " }, false},
		{"control in group", func(g *grants.Grant) { g.Role, g.Group = "", "share\x00finance" }, false},
		{"newline in group", func(g *grants.Grant) { g.Role, g.Group = "", "share\nfinance" }, false},
		{"bidi in group", func(g *grants.Grant) { g.Role, g.Group = "", "share\u202efinance" }, false},
		{"invalid UTF-8 group", func(g *grants.Grant) { g.Role, g.Group = "", "share\xfffinance" }, false},
		{"no subject", func(g *grants.Grant) { g.Role = "" }, false},
		{"unknown role", func(g *grants.Grant) { g.Role = "root" }, false},
		{"bad person", func(g *grants.Grant) { g.Role, g.Person = "", "a b" }, false},
		{"reserved bucket", func(g *grants.Grant) { g.Bucket = "foo-s3alias" }, false},
		{"IP bucket", func(g *grants.Grant) { g.Bucket = "192.168.1.1" }, false},
		{"wildcard prefix", func(g *grants.Grant) { g.KeyPrefix = "home/*" }, false},
		{"IAM variable", func(g *grants.Grant) { g.KeyPrefix = "home/${aws:username}/" }, false},
		{"dot-dot prefix", func(g *grants.Grant) { g.KeyPrefix = "home/.." }, false},
		{"bidi prefix", func(g *grants.Grant) { g.KeyPrefix = "home/\u202e/" }, false},
		{"no actions", func(g *grants.Grant) { g.Actions = nil }, false},
		{"unknown action", func(g *grants.Grant) { g.Actions = []grants.Action{"delete"} }, false},
		{"email without download", func(g *grants.Grant) { g.Actions = []grants.Action{grants.ActionEmail} }, false},
		{"domains without email", func(g *grants.Grant) { g.RecipientDomains = []string{"example.com"} }, false},
		{"bad domain", func(g *grants.Grant) {
			g.Actions = append(g.Actions, grants.ActionEmail)
			g.RecipientDomains = []string{"exa mple.com"}
		}, false},
		{"domains", func(g *grants.Grant) {
			g.Actions = append(g.Actions, grants.ActionEmail)
			g.RecipientDomains = []string{"@Example.COM"}
		}, true},
		{"negative uses", func(g *grants.Grant) { g.MaxUses = -1 }, false},
		{"sub-second lifetime", func(g *grants.Grant) { g.MaxLifetime = time.Millisecond }, false},
		{"control in reason", func(g *grants.Grant) { g.Reason = "a\x1bb" }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := grant(tc.edit).Validate()
			if tc.ok && err != nil {
				t.Fatalf("Validate() = %v; want nil", err)
			}
			if !tc.ok && !errors.Is(err, grants.ErrInvalid) {
				t.Fatalf("Validate() = %v; want ErrInvalid", err)
			}
		})
	}
}

// A group is trimmed, and then says who the grant is for.
func TestValidateTrimsGroup(t *testing.T) {
	g := grant(func(g *grants.Grant) { g.Role, g.Group = "", "  share-finance\t" })
	if err := g.Validate(); err != nil || g.Group != "share-finance" || g.Subject() != "group share-finance" {
		t.Fatalf("Validate = %v, group %q, subject %q; want share-finance", err, g.Group, g.Subject())
	}
}

func TestValidateNormalisesActions(t *testing.T) {
	g := grant(func(g *grants.Grant) {
		g.Actions = []grants.Action{grants.ActionUpload, grants.ActionDownload, grants.ActionUpload, grants.ActionDownload}
	})
	if err := g.Validate(); err != nil || len(g.Actions) != 2 || g.Actions[0] != grants.ActionDownload {
		t.Fatalf("Validate = %v, actions %v; want [download upload]", err, g.Actions)
	}
}

func TestMatch(t *testing.T) {
	home := grant(nil)
	home.ID = "grt_home"
	shared := grant(func(g *grants.Grant) {
		g.Role, g.Person, g.KeyPrefix, g.Actions = "", "bob", "shared/", []grants.Action{grants.ActionDownload}
	})
	shared.ID = "grt_shared"
	revoked := grant(func(g *grants.Grant) { g.KeyPrefix, g.RevokedAt = "", time.Now() })
	finance := grant(func(g *grants.Grant) {
		g.Role, g.Group, g.KeyPrefix, g.Actions = "", "share-finance", "finance/{person}/", []grants.Action{grants.ActionDownload}
	})
	finance.ID = "grt_finance"
	all := []*grants.Grant{home, shared, revoked, finance}
	inFinance := []string{"staff", "share-finance"}
	for _, tc := range []struct {
		name string
		ask  grants.Ask
		want string // grant id, or "" for ErrNoGrant
	}{
		{"own home", grants.Ask{Person: "alice", Role: auth.RoleSharer, Action: grants.ActionDownload, Bucket: "team-files", Key: "home/alice/a.pdf"}, "grt_home"},
		{"other's home", grants.Ask{Person: "alice", Role: auth.RoleSharer, Action: grants.ActionDownload, Bucket: "team-files", Key: "home/bob/a.pdf"}, ""},
		{"prefix is not a path", grants.Ask{Person: "al", Role: auth.RoleSharer, Action: grants.ActionDownload, Bucket: "team-files", Key: "home/alice/a.pdf"}, ""},
		{"other bucket", grants.Ask{Person: "alice", Role: auth.RoleSharer, Action: grants.ActionDownload, Bucket: "hr-private", Key: "home/alice/a"}, ""},
		{"action missing", grants.Ask{Person: "alice", Role: auth.RoleSharer, Action: grants.ActionEmail, Bucket: "team-files", Key: "home/alice/a"}, ""},
		{"person grant", grants.Ask{Person: "bob", Role: auth.RoleSharer, Action: grants.ActionDownload, Bucket: "team-files", Key: "shared/x"}, "grt_shared"},
		{"person grant, other person", grants.Ask{Person: "carol", Role: auth.RoleSharer, Action: grants.ActionDownload, Bucket: "team-files", Key: "shared/x"}, ""},
		{"revoked grant", grants.Ask{Person: "carol", Role: auth.RoleSharer, Action: grants.ActionDownload, Bucket: "team-files", Key: "other"}, ""},
		{"auditor role", grants.Ask{Person: "alice", Role: auth.RoleAuditor, Action: grants.ActionDownload, Bucket: "team-files", Key: "home/alice/a"}, ""},
		{"group grant", grants.Ask{Person: "carol", Role: auth.RoleAuditor, Groups: inFinance, Action: grants.ActionDownload, Bucket: "team-files", Key: "finance/carol/q3.xlsx"}, "grt_finance"},
		{"group grant, {person} is the creator", grants.Ask{Person: "carol", Role: auth.RoleAuditor, Groups: inFinance, Action: grants.ActionDownload, Bucket: "team-files", Key: "finance/dave/q3.xlsx"}, ""},
		{"group grant, not in the group", grants.Ask{Person: "carol", Role: auth.RoleAuditor, Groups: []string{"staff"}, Action: grants.ActionDownload, Bucket: "team-files", Key: "finance/carol/q3.xlsx"}, ""},
		{"group grant, token user", grants.Ask{Person: "carol", Role: auth.RoleAuditor, Action: grants.ActionDownload, Bucket: "team-files", Key: "finance/carol/q3.xlsx"}, ""},
		{"group grant, a person named like the group", grants.Ask{Person: "share-finance", Role: auth.RoleAuditor, Action: grants.ActionDownload, Bucket: "team-files", Key: "finance/share-finance/q3.xlsx"}, ""},
		{"group grant, action missing", grants.Ask{Person: "carol", Role: auth.RoleAuditor, Groups: inFinance, Action: grants.ActionUpload, Bucket: "team-files", Key: "finance/carol/q3.xlsx"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := grants.Match(all, tc.ask)
			if tc.want == "" {
				if !errors.Is(err, grants.ErrNoGrant) {
					t.Fatalf("Match(%+v) = %v, %v; want ErrNoGrant", tc.ask, got, err)
				}
				return
			}
			if err != nil || len(got) == 0 || got[0].ID != tc.want {
				t.Fatalf("Match(%+v) = %v, %v; want %s", tc.ask, got, err, tc.want)
			}
		})
	}
}

func TestCeilingsAndDomains(t *testing.T) {
	g := grant(func(g *grants.Grant) {
		g.MaxLifetime, g.MaxUses, g.MaxPresignTTL = time.Hour, 3, 10*time.Second
		g.Actions = append(g.Actions, grants.ActionEmail)
		g.RecipientDomains = []string{"example.com"}
	})
	if err := g.Validate(); err != nil {
		t.Fatal(err)
	}
	lim := g.Limits(links.Limits{DefaultLifetime: 24 * time.Hour, MaxLifetime: 90 * 24 * time.Hour,
		DefaultPresignTTL: time.Minute, MaxPresignTTL: 5 * time.Minute, MaxUploadBytes: 1 << 20})
	if lim.MaxLifetime != time.Hour || lim.DefaultLifetime != time.Hour || lim.MaxUses != 3 ||
		lim.MaxPresignTTL != 10*time.Second || lim.DefaultPresignTTL != 10*time.Second {
		t.Fatalf("Limits = %+v; want the grant's ceilings", lim)
	}
	for addr, want := range map[string]bool{
		"a@example.com": true, "a@mail.example.com": true, "a@badexample.com": false, "a@example.com.evil": false,
	} {
		if got := g.DomainAllowed(addr); got != want {
			t.Errorf("DomainAllowed(%q) = %v; want %v", addr, got, want)
		}
	}
}

func TestStoreRoundTrip(t *testing.T) {
	ctx := context.Background()
	d, err := db.Open(ctx, testdb.DSN(t))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	g := grant(func(g *grants.Grant) { g.MaxUses, g.MaxLifetime = 5, time.Hour })
	if err := g.Validate(); err != nil {
		t.Fatal(err)
	}
	g.ID, g.CreatedAt, g.CreatedBy, g.Reason = grants.NewID(), time.UnixMilli(1_700_000_000_000).UTC(), "root", "team folders"
	if err := grants.Insert(ctx, d.Write, g); err != nil {
		t.Fatal(err)
	}
	s := grants.NewStore(d.Read)
	got, err := s.Get(ctx, g.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.KeyPrefix != g.KeyPrefix || got.MaxUses != 5 || got.MaxLifetime != time.Hour || len(got.Actions) != 2 ||
		!got.CreatedAt.Equal(g.CreatedAt) || got.Reason != "team folders" || !got.Live() {
		t.Fatalf("Get = %+v; want %+v", got, g)
	}
	for_, err := s.For(ctx, "alice", auth.RoleSharer, nil)
	if err != nil || len(for_) != 1 {
		t.Fatalf("For(alice, sharer) = %v, %v; want the role's grant", for_, err)
	}
	if _, changed, err := grants.Revoke(ctx, d.Write, g.ID, "root", "moved", time.Now()); err != nil || !changed {
		t.Fatalf("Revoke = %v, %v", changed, err)
	}
	if _, changed, err := grants.Revoke(ctx, d.Write, g.ID, "root", "again", time.Now()); err != nil || changed {
		t.Fatalf("second Revoke = %v, %v; want no change", changed, err)
	}
	if live, _ := s.For(ctx, "alice", auth.RoleSharer, nil); len(live) != 0 {
		t.Fatalf("For after revoke = %v; want none", live)
	}
	if _, err := s.Get(ctx, "grt_nope"); !errors.Is(err, grants.ErrNotFound) {
		t.Fatalf("Get(unknown) = %v; want ErrNotFound", err)
	}
}

// For finds, in one query, the grants of a person, of their role and of
// any of their groups; a group grant round-trips; List filters by group.
func TestStoreGroupGrants(t *testing.T) {
	ctx := context.Background()
	d, err := db.Open(ctx, testdb.DSN(t))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	at := time.UnixMilli(1_700_000_000_000).UTC()
	insert := func(edit func(*grants.Grant)) *grants.Grant {
		t.Helper()
		g := grant(edit)
		if err := g.Validate(); err != nil {
			t.Fatal(err)
		}
		g.ID, g.CreatedAt, g.CreatedBy = grants.NewID(), at, "root"
		at = at.Add(time.Second)
		if err := grants.Insert(ctx, d.Write, g); err != nil {
			t.Fatal(err)
		}
		return g
	}
	role := insert(nil)
	alice := insert(func(g *grants.Grant) { g.Role, g.Person = "", "alice" })
	finance := insert(func(g *grants.Grant) { g.Role, g.Group = "", "share-finance" })
	legal := insert(func(g *grants.Grant) { g.Role, g.Group = "", "share-legal" })
	insert(func(g *grants.Grant) { g.Role, g.Group = "", "share-hr" })
	s := grants.NewStore(d.Read)

	got, err := s.Get(ctx, finance.ID)
	if err != nil || got.Group != "share-finance" || got.Person != "" || got.Role != "" || got.Subject() != "group share-finance" {
		t.Fatalf("Get(group grant) = %+v, %v", got, err)
	}
	ids := func(gs []*grants.Grant) string {
		var out []string
		for _, g := range gs {
			out = append(out, g.ID)
		}
		return strings.Join(out, " ")
	}
	for _, tc := range []struct {
		name   string
		groups []string
		want   []*grants.Grant
	}{
		{"token user", nil, []*grants.Grant{role, alice}},
		{"one group", []string{"share-finance"}, []*grants.Grant{role, alice, finance}},
		{"two groups, a repeat, an empty name and an unknown one", []string{"share-legal", "", "staff", "share-finance", "share-legal"}, []*grants.Grant{role, alice, finance, legal}},
	} {
		gs, err := s.For(ctx, "alice", auth.RoleSharer, tc.groups)
		if err != nil || ids(gs) != ids(tc.want) {
			t.Errorf("%s: For(alice, sharer, %q) = %s, %v; want %s", tc.name, tc.groups, ids(gs), err, ids(tc.want))
		}
	}
	if gs, err := s.For(ctx, "bob", auth.RoleAuditor, []string{"share-finance"}); err != nil || ids(gs) != finance.ID {
		t.Errorf("For(bob, auditor, [share-finance]) = %s, %v; want only the group's grant", ids(gs), err)
	}
	if gs, err := s.List(ctx, grants.Filter{Group: "share-legal"}); err != nil || ids(gs) != legal.ID {
		t.Errorf("List(group share-legal) = %s, %v; want %s", ids(gs), err, legal.ID)
	}
	if _, _, err := grants.Revoke(ctx, d.Write, finance.ID, "root", "reorganised", time.Now()); err != nil {
		t.Fatal(err)
	}
	if gs, err := s.For(ctx, "alice", auth.RoleSharer, []string{"share-finance"}); err != nil || ids(gs) != ids([]*grants.Grant{role, alice}) {
		t.Errorf("For after revoking the group's grant = %s, %v", ids(gs), err)
	}
}

// The database itself refuses a grant with two subjects, or none, even
// when Validate is bypassed.
func TestStoreRefusesTwoSubjects(t *testing.T) {
	ctx := context.Background()
	d, err := db.Open(ctx, testdb.DSN(t))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	for _, tc := range []struct {
		name string
		edit func(*grants.Grant)
	}{
		{"person and group", func(g *grants.Grant) { g.Role, g.Person, g.Group = "", "alice", "share-finance" }},
		{"role and group", func(g *grants.Grant) { g.Group = "share-finance" }},
		{"person and role", func(g *grants.Grant) { g.Person = "alice" }},
		{"all three", func(g *grants.Grant) { g.Person, g.Group = "alice", "share-finance" }},
		{"none", func(g *grants.Grant) { g.Role = "" }},
	} {
		g := grant(tc.edit)
		g.ID, g.CreatedAt, g.CreatedBy = grants.NewID(), time.Now(), "root"
		if err := grants.Insert(ctx, d.Write, g); err == nil {
			t.Errorf("%s: Insert = nil; want the database's CHECK to refuse it", tc.name)
		}
		if _, err := grants.Get(ctx, d.Read, g.ID); !errors.Is(err, grants.ErrNotFound) {
			t.Errorf("%s: Get after the refused insert = %v; want ErrNotFound", tc.name, err)
		}
	}
}

func TestParseDefault(t *testing.T) {
	g, err := grants.ParseDefault("prefix=home/{person}/ actions=download+upload max_uses=10 max_lifetime=72h", "team-files")
	if err != nil {
		t.Fatal(err)
	}
	if g.Role != auth.RoleSharer || g.Bucket != "team-files" || g.KeyPrefix != "home/{person}/" || len(g.Actions) != 2 ||
		g.MaxUses != 10 || g.MaxLifetime != 72*time.Hour {
		t.Fatalf("ParseDefault = %+v", g)
	}
	for _, bad := range []string{"", "prefix=x", "actions=delete", "actions=download colour=red", "actions=download max_uses=x", "actions=download bucket=Bad_Bucket", "nokey"} {
		if _, err := grants.ParseDefault(bad, "team-files"); !errors.Is(err, grants.ErrInvalid) {
			t.Errorf("ParseDefault(%q) = %v; want ErrInvalid", bad, err)
		}
	}
	if _, err := grants.ParseDefault("actions=download", ""); !errors.Is(err, grants.ErrInvalid) {
		t.Errorf("ParseDefault without any bucket = %v; want ErrInvalid", err)
	}
}
