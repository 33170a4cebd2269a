package sharesvc

import (
	"regexp"
	"slices"
	"testing"
)

var migrationHeader = regexp.MustCompile(`(?m)^-- migration: (.*)$`)

// The PostgreSQL schema has the SQLite schema's steps: the same numbers and
// descriptions, in the same order, so that a database on either engine at
// version N has the same tables.
func TestSchemaPostgresHasTheSameSteps(t *testing.T) {
	headers := func(s string) []string {
		var hs []string
		for _, m := range migrationHeader.FindAllStringSubmatch(s, -1) {
			hs = append(hs, m[1])
		}
		return hs
	}
	sqlite, postgres := headers(Schema), headers(SchemaPostgres)
	if len(sqlite) == 0 {
		t.Fatal("schema.sql has no migration steps")
	}
	if !slices.Equal(sqlite, postgres) {
		t.Fatalf("schema_postgres.sql's steps = %q; want schema.sql's %q", postgres, sqlite)
	}
}
