// Package sharesvc holds what the whole service shares: the embedded database
// schema. The service itself lives in cmd/sharesvc and internal/.
package sharesvc

import _ "embed"

// Schema is schema.sql: the ordered migration steps of the database.
//
//go:embed schema.sql
var Schema string
