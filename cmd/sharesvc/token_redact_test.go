package main

import (
	"strings"
	"testing"

	"github.com/sharesvc/sharesvc/internal/testrig/postgres"
)

// token create offline on a PostgreSQL URL that carries a password says
// where it wrote without the password.
func TestTokenCreateHidesDatabasePassword(t *testing.T) {
	const password = "pg-secret-4711"
	dsn := postgres.Database(t) + "&password=" + password // the test cluster trusts local connections
	out, errOut, err := runCLIErr(map[string]string{}, "token", "create", "--db", dsn, "--role", "admin", "--name", "root")
	if err != nil {
		t.Fatalf("token create: %v\n%s", err, errOut)
	}
	if strings.TrimSpace(out) == "" {
		t.Fatal("token create printed no token")
	}
	if strings.Contains(errOut, password) {
		t.Errorf("token create printed the database password: %q", errOut)
	}
	if !strings.Contains(errOut, "password=xxxxx") {
		t.Errorf("token create output = %q; want the database named with its password redacted", errOut)
	}
}
