package main

import (
	"bytes"
	"context"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/sharesvc/sharesvc/internal/db"
	"github.com/sharesvc/sharesvc/internal/grants"
)

// demo -oidc -check signs sam in through its own identity provider; the
// passwords show on the one line meant for them, the client secret only in
// its private file, and a second run on the same directory grants the group
// staff no second time.
func TestDemoSignsInThroughProvider(t *testing.T) {
	dir := t.TempDir()
	signIn := regexp.MustCompile(`^Sign in with the demo identity provider as ada \(admin\) or sam \(sharer\): password (\S+) for ada, (\S+) for sam\.$`)
	// Both runs on one address, as the demo's default is: the provider's
	// issuer, and so its people, stay the same.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	opAddr := ln.Addr().String()
	ln.Close()
	for n := 1; n <= 2; n++ {
		var out, errb bytes.Buffer
		err := run(context.Background(), []string{"demo", "-dir", dir, "-listen", "127.0.0.1:0", "--oidc", "-oidc-listen", opAddr, "-check"}, os.Getenv, &out, &errb)
		if err != nil {
			t.Fatalf("demo --oidc -check (run %d): %v\n%s", n, err, errb.String())
		}
		if !strings.Contains(errb.String(), "\ncheck: sam signed in through the identity provider\n") {
			t.Fatalf("run %d: no sign-in check in:\n%s", n, errb.String())
		}
		secretFile := filepath.Join(dir, demoOIDCSecretFile)
		fi, err := os.Stat(secretFile)
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Fatalf("client secret file: %v %v; want mode 0600", fi, err)
		}
		b, _ := os.ReadFile(secretFile)
		secret := strings.TrimSpace(string(b))
		lines := strings.Split(out.String()+errb.String(), "\n")
		var passwords []string
		for _, l := range lines {
			if m := signIn.FindStringSubmatch(l); m != nil {
				passwords = append(passwords, m[1], m[2])
			}
		}
		if len(passwords) != 2 || passwords[0] == passwords[1] || len(secret) < 16 {
			t.Fatalf("run %d: passwords %q, secret of %d bytes; want one sign-in line with two passwords:\n%s", n, passwords, len(secret), errb.String())
		}
		for _, l := range lines {
			if strings.Contains(l, secret) {
				t.Errorf("run %d: the client secret is printed: %q", n, l)
			}
			for _, pw := range passwords {
				if strings.Contains(l, pw) && !signIn.MatchString(l) {
					t.Errorf("run %d: a password is printed outside the sign-in line: %q", n, l)
				}
			}
		}
		if !strings.Contains(errb.String(), secretFile) {
			t.Errorf("run %d: the secret file's path is not shown", n)
		}
	}

	d, err := db.Open(context.Background(), filepath.Join(dir, "sharesvc.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	gs, err := grants.NewStore(d.Read).List(context.Background(), grants.Filter{Group: demoOIDCStaffGroup})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	rows, err := d.Read.QueryContext(context.Background(), `SELECT name FROM people`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var name string
		rows.Scan(&name)
		names = append(names, name)
	}
	if err := rows.Err(); err != nil || len(names) != 1 || names[0] != "sam@example.org" {
		t.Fatalf("people after sam signed in twice: %q %v; want sam once, named by email", names, err)
	}
	if len(gs) != 1 || gs[0].Bucket != demoBucket || !strings.HasPrefix(demoKey, gs[0].KeyPrefix) {
		t.Fatalf("grants for staff after two runs: %+v; want one, covering the sample object", gs)
	}
}
