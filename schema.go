// Package sharesvc holds what the whole service shares: the embedded database
// schema. The service itself lives in cmd/sharesvc and internal/.
package sharesvc

import _ "embed"

// Schema is schema.sql: the ordered migration steps of the database.
//
//go:embed schema.sql
var Schema string

// SchemaPostgres is schema_postgres.sql: the same steps, with the same
// numbers and descriptions, written for PostgreSQL.
//
//go:embed schema_postgres.sql
var SchemaPostgres string
