package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/sharesvc/sharesvc/internal/audit"
	"github.com/sharesvc/sharesvc/internal/db"
	"github.com/sharesvc/sharesvc/internal/people"
)

// person list and person role, against a running server with an admin's
// token and offline with --db; both or neither is refused, and a sharer's
// token is.
func TestPersonCLI(t *testing.T) {
	const bucket = "person-cli"
	s3 := startS3(t, bucket)
	env := s3env(s3, bucket, "")
	dsn := serveDB(t, env)
	admin := strings.TrimSpace(runCLI(t, env, "token", "create", "--role", "admin", "--name", "root"))
	_, base, stop := startService(t, env)
	t.Cleanup(stop)

	d, err := db.Open(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	p, _, err := people.NewStore(d.Read).SignIn(context.Background(), people.Claims{Issuer: "https://op.example", Subject: "kim",
		Email: "kim@corp.example", EmailVerified: true, Groups: []string{"staff"}}, people.RoleMap{}, time.Now())
	if err != nil {
		t.Fatal(err)
	}

	both := withEnv(env, map[string]string{"SHARESVC_URL": base, "SHARESVC_TOKEN": admin})
	if _, _, err := runCLIErr(both, "person", "list"); err == nil || !strings.Contains(err.Error(), "not both") {
		t.Fatalf("person list with a database and a server = %v; want refused", err)
	}
	if _, _, err := runCLIErr(withEnv(env, map[string]string{"SHARESVC_DB": ""}), "person", "list"); err == nil || !strings.Contains(err.Error(), "say where") {
		t.Fatalf("person list with neither = %v; want refused", err)
	}
	remote := withEnv(both, map[string]string{"SHARESVC_DB": ""})
	if out := runCLI(t, remote, "person", "list"); !strings.Contains(out, p.Name) || !strings.Contains(out, "staff") || !strings.Contains(out, "sharer") {
		t.Fatalf("person list = %q; want kim, her group and role", out)
	}
	if _, _, err := runCLIErr(remote, "person", "role", p.Name); err == nil {
		t.Fatal("person role without ROLE or --clear succeeded")
	}
	if _, _, err := runCLIErr(remote, "person", "role", p.Name, "owner"); err == nil {
		t.Fatal("person role owner succeeded")
	}
	if out := runCLI(t, remote, "person", "role", p.Name, "auditor"); !strings.Contains(out, "is now auditor by override") {
		t.Fatalf("person role auditor = %q", out)
	}
	if out := runCLI(t, remote, "person", "list"); !strings.Contains(out, "auditor (override; groups: sharer)") {
		t.Fatalf("person list after the override = %q", out)
	}
	sharer := strings.TrimSpace(runCLI(t, remote, "token", "create", "--role", "sharer", "--name", "sam"))
	if _, _, err := runCLIErr(withEnv(remote, map[string]string{"SHARESVC_TOKEN": sharer}), "person", "role", p.Name, "admin"); err == nil || !strings.Contains(err.Error(), "403") {
		t.Fatalf("a sharer's person role = %v; want 403", err)
	}

	offline := withEnv(env, map[string]string{"SHARESVC_URL": ""})
	if out := runCLI(t, offline, "person", "role", p.Name, "--clear"); !strings.Contains(out, "now follows their groups: sharer") {
		t.Fatalf("person role --clear offline = %q", out)
	}
	if out := runCLI(t, offline, "person", "list", "--json"); !strings.Contains(out, `"role": "sharer"`) || strings.Contains(out, "role_override") {
		t.Fatalf("person list --json offline = %q; want sharer without override", out)
	}
	evs, err := audit.List(context.Background(), d.Read, audit.Filter{Action: audit.ActionPersonRole})
	if err != nil || len(evs) != 2 || evs[0].Actor != "cli" || evs[1].Actor != "root" {
		t.Fatalf("person.role rows = %+v, %v; want root's then the CLI's", evs, err)
	}

	// Offboarded, then let back in: remotely and offline, each audited.
	if _, err := people.Disable(context.Background(), d.Read, p.Name, time.Now()); err != nil {
		t.Fatal(err)
	}
	if out := runCLI(t, remote, "person", "list"); !strings.Contains(out, "disabled") {
		t.Fatalf("person list after offboarding = %q; want disabled", out)
	}
	if out := runCLI(t, remote, "person", "enable", p.Name); !strings.Contains(out, p.Name+" may sign in again, as sharer") {
		t.Fatalf("person enable = %q", out)
	}
	if _, err := people.Disable(context.Background(), d.Read, p.Name, time.Now()); err != nil {
		t.Fatal(err)
	}
	if out := runCLI(t, offline, "person", "enable", p.Name); !strings.Contains(out, "may sign in again") {
		t.Fatalf("person enable offline = %q", out)
	}
	if got, err := people.ByName(context.Background(), d.Read, p.Name); err != nil || !got.Active() {
		t.Fatalf("after person enable: %+v, %v; want active", got, err)
	}
	if _, _, err := runCLIErr(remote, "person", "enable", "nobody@example.org"); err == nil || !strings.Contains(err.Error(), "person not found") {
		t.Fatalf("person enable of an unknown name = %v; want not found", err)
	}
	if evs, err := audit.List(context.Background(), d.Read, audit.Filter{Action: audit.ActionPersonEnable}); err != nil || len(evs) != 2 {
		t.Fatalf("person.enable rows = %d, %v; want 2", len(evs), err)
	}
}
