package auth

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/sharesvc/sharesvc/internal/db"
	"github.com/sharesvc/sharesvc/internal/testrig/testdb"
)

// An owned token acts with its owner's standing at each request: a person's
// current role (override, else groups) and groups, refused once they are
// disabled; a token-signed-in owner's token's role, refused once that token
// is revoked.
func TestAuthenticateOwnedToken(t *testing.T) {
	ctx := context.Background()
	d, err := db.Open(ctx, testdb.DSN(t))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	now := time.UnixMilli(1_700_000_000_000).UTC()
	st := NewStore(d.Read)
	exec := func(q string, args ...any) {
		t.Helper()
		if _, err := d.Read.ExecContext(ctx, q, args...); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	mint := func(name, owner string, role Role) string {
		t.Helper()
		secret, hash := NewSecret()
		if err := Insert(ctx, d.Read, &Token{ID: NewID(), Name: name, Role: role, CreatedAt: now, CreatedBy: owner, Owner: owner}, hash); err != nil {
			t.Fatal(err)
		}
		return secret
	}
	exec(`INSERT INTO people (id, issuer, subject, name, groups, role, created_at, seen_at) VALUES ('psn_a', 'https://op', 'a', 'alice', '["staff"]', 'sharer', 1, 1)`)
	alice := mint("alice/ci/1", "alice", RoleSharer)

	check := func(secret string, wantRole Role, wantErr error) *Token {
		t.Helper()
		got, err := st.Authenticate(ctx, secret, now)
		if !errors.Is(err, wantErr) || wantErr == nil && err != nil {
			t.Fatalf("Authenticate = %v; want %v", err, wantErr)
		}
		if err == nil && got.Role != wantRole {
			t.Fatalf("Authenticate role = %s; want %s", got.Role, wantRole)
		}
		return got
	}
	got := check(alice, RoleSharer, nil)
	if got.Person() != "alice" || len(got.Groups) != 1 || got.Groups[0] != "staff" {
		t.Fatalf("Authenticate = person %q groups %v; want alice [staff]", got.Person(), got.Groups)
	}
	exec(`UPDATE people SET role_override = 'admin' WHERE id = 'psn_a'`)
	check(alice, RoleAdmin, nil)
	exec(`UPDATE people SET role_override = NULL, role = 'auditor' WHERE id = 'psn_a'`)
	check(alice, RoleAuditor, nil)
	exec(`UPDATE people SET disabled_at = 5 WHERE id = 'psn_a'`)
	check(alice, "", ErrUnauthenticated)

	// A token-signed-in owner: their own token's role.
	_, hash := NewSecret()
	if err := Insert(ctx, d.Read, &Token{ID: "tok_bob", Name: "bob", Role: RoleAdmin, CreatedAt: now, CreatedBy: "cli"}, hash); err != nil {
		t.Fatal(err)
	}
	bob := mint("bob/ci/1", "bob", RoleSharer)
	check(bob, RoleAdmin, nil)
	if _, err := Revoke(ctx, d.Read, "tok_bob", now); err != nil {
		t.Fatal(err)
	}
	check(bob, "", ErrUnauthenticated)

	// An owner nobody knows.
	check(mint("carol/ci/1", "carol", RoleAdmin), "", ErrUnauthenticated)

	// Only the owner revokes; RevokeOwner ends all of an owner's.
	ts, err := st.Owned(ctx, "bob")
	if err != nil || len(ts) != 1 || ts[0].Owner != "bob" {
		t.Fatalf("Owned(bob) = %v, %v; want bob's one token", ts, err)
	}
	if _, err := RevokeOwned(ctx, d.Read, ts[0].ID, "alice", now); !errors.Is(err, ErrNotFound) {
		t.Fatalf("RevokeOwned(bob's token, alice) = %v; want ErrNotFound", err)
	}
	if n, err := RevokeOwner(ctx, d.Read, "bob", now); err != nil || n != 1 {
		t.Fatalf("RevokeOwner(bob) = %d, %v; want 1", n, err)
	}
}

// A token a person minted for themselves is never given a new secret by
// Rotate: whoever rotated it could then act as them. Its secret still
// works; a token an admin made rotates.
func TestRotateRefusesOwnedToken(t *testing.T) {
	ctx := context.Background()
	d, err := db.Open(ctx, testdb.DSN(t))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	now := time.UnixMilli(1_700_000_000_000).UTC()
	owned := &Token{ID: NewID(), Name: "bob/ci/1", Role: RoleAdmin, CreatedAt: now, CreatedBy: "bob", Owner: "bob"}
	plain := &Token{ID: NewID(), Name: "bob", Role: RoleAdmin, CreatedAt: now, CreatedBy: "root"}
	secret, hash := NewSecret()
	if err := Insert(ctx, d.Read, owned, hash); err != nil {
		t.Fatal(err)
	}
	if err := Insert(ctx, d.Read, plain, []byte("plain-hash-0123456789012345678901")); err != nil {
		t.Fatal(err)
	}
	_, newHash := NewSecret()
	if _, err := Rotate(ctx, d.Read, owned.ID, newHash); !errors.Is(err, ErrNotFound) {
		t.Errorf("Rotate of an owned token = %v; want ErrNotFound", err)
	}
	if _, err := NewStore(d.Read).Authenticate(ctx, secret, now); err != nil {
		t.Errorf("Authenticate with the owned token's secret after a refused Rotate = %v; want it to work", err)
	}
	_, plainHash := NewSecret()
	if _, err := Rotate(ctx, d.Read, plain.ID, plainHash); err != nil {
		t.Errorf("Rotate of an admin-made token = %v; want it rotated", err)
	}
}
