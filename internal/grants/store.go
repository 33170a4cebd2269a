package grants

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/sharesvc/sharesvc/internal/auth"
)

// Querier is what the store's writes need from *sql.DB or *sql.Tx.
type Querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// Store reads grants.
type Store struct{ db *sql.DB }

// NewStore returns a Store reading from db.
func NewStore(db *sql.DB) *Store { return &Store{db: db} }

const columns = `id, person, role, group_name, bucket, key_prefix, actions, max_lifetime_ms, max_uses, max_presign_ttl_ms,
    recipient_domains, created_at, created_by, reason, revoked_at, revoked_by, revoke_reason`

// Insert stores a new, validated grant.
func Insert(ctx context.Context, q Querier, g *Grant) error {
	acts := make([]string, len(g.Actions))
	for i, a := range g.Actions {
		acts[i] = string(a)
	}
	_, err := q.ExecContext(ctx, `INSERT INTO grants (id, person, role, group_name, bucket, key_prefix, actions, max_lifetime_ms,
        max_uses, max_presign_ttl_ms, recipient_domains, created_at, created_by, reason)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		g.ID, nullStr(g.Person), nullStr(string(g.Role)), nullStr(g.Group), g.Bucket, g.KeyPrefix, strings.Join(acts, ","),
		nullDur(g.MaxLifetime), nullInt(g.MaxUses), nullDur(g.MaxPresignTTL), strings.Join(g.RecipientDomains, ","),
		g.CreatedAt.UnixMilli(), g.CreatedBy, g.Reason)
	if err != nil {
		return fmt.Errorf("insert grant: %w", err)
	}
	return nil
}

// Revoke ends a grant and returns it; revoking a revoked grant changes
// nothing and reports false. Errors: ErrNotFound.
func Revoke(ctx context.Context, q Querier, id, by, reason string, at time.Time) (*Grant, bool, error) {
	res, err := q.ExecContext(ctx, `UPDATE grants SET revoked_at = ?, revoked_by = ?, revoke_reason = ?
        WHERE id = ? AND revoked_at IS NULL`, at.UnixMilli(), by, reason, id)
	if err != nil {
		return nil, false, fmt.Errorf("revoke grant %s: %w", id, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return nil, false, fmt.Errorf("revoke grant %s: %w", id, err)
	}
	g, err := Get(ctx, q, id)
	if err != nil {
		return nil, false, err
	}
	return g, n == 1, nil
}

// Get returns the grant with id. Errors: ErrNotFound.
func Get(ctx context.Context, q Querier, id string) (*Grant, error) {
	g, err := scan(q.QueryRowContext(ctx, `SELECT `+columns+` FROM grants WHERE id = ?`, id))
	if err != nil {
		return nil, fmt.Errorf("get grant %s: %w", id, err)
	}
	return g, nil
}

// Get returns the grant with id. Errors: ErrNotFound.
func (s *Store) Get(ctx context.Context, id string) (*Grant, error) { return Get(ctx, s.db, id) }

// Filter selects grants to list.
type Filter struct {
	Person string    // grants naming this person
	Role   auth.Role // grants naming this role
	Group  string    // grants naming this provider group
	// Groups, with both Person and Role set, are the person's provider
	// groups: their grants apply to the person too.
	Groups      []string
	IncludeDead bool // revoked grants too
}

// List returns the grants matching f, oldest first. With both Person and
// Role set it returns the grants that apply to that person: theirs, their
// role's and those of their Groups.
func (s *Store) List(ctx context.Context, f Filter) ([]*Grant, error) {
	var (
		where []string
		args  []any
	)
	switch {
	case f.Person != "" && f.Role != "":
		subj, sargs := "person = ? OR role = ?", []any{f.Person, string(f.Role)}
		if gs := groupSet(f.Groups); len(gs) > 0 {
			subj += " OR group_name IN (?" + strings.Repeat(", ?", len(gs)-1) + ")"
			sargs = append(sargs, gs...)
		}
		where, args = append(where, "("+subj+")"), append(args, sargs...)
	case f.Person != "":
		where, args = append(where, "person = ?"), append(args, f.Person)
	case f.Role != "":
		where, args = append(where, "role = ?"), append(args, string(f.Role))
	}
	if f.Group != "" {
		where, args = append(where, "group_name = ?"), append(args, f.Group)
	}
	if !f.IncludeDead {
		where = append(where, "revoked_at IS NULL")
	}
	q := `SELECT ` + columns + ` FROM grants`
	if len(where) > 0 {
		q += ` WHERE ` + strings.Join(where, " AND ")
	}
	rows, err := s.db.QueryContext(ctx, q+` ORDER BY created_at, id LIMIT 10000`, args...)
	if err != nil {
		return nil, fmt.Errorf("list grants: %w", err)
	}
	defer rows.Close()
	var out []*Grant
	for rows.Next() {
		g, err := scan(rows)
		if err != nil {
			return nil, fmt.Errorf("list grants: %w", err)
		}
		out = append(out, g)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list grants: %w", err)
	}
	return out, nil
}

// For returns the grants in force for person with role and provider
// groups (nil for a token user), oldest first, in one query.
func (s *Store) For(ctx context.Context, person string, role auth.Role, groups []string) ([]*Grant, error) {
	return s.List(ctx, Filter{Person: person, Role: role, Groups: groups})
}

// groupSet returns groups without empty names and repeats, as query
// arguments.
func groupSet(groups []string) []any {
	var out []any
	seen := make(map[string]bool, len(groups))
	for _, g := range groups {
		if g != "" && !seen[g] {
			seen[g] = true
			out = append(out, g)
		}
	}
	return out
}

func scan(row interface{ Scan(...any) error }) (*Grant, error) {
	var (
		g                                  Grant
		person, role, revokedBy, revReason sql.NullString
		group                              sql.NullString
		acts, domains                      string
		maxLife, maxUses, maxTTL, revoked  sql.NullInt64
		created                            int64
	)
	err := row.Scan(&g.ID, &person, &role, &group, &g.Bucket, &g.KeyPrefix, &acts, &maxLife, &maxUses, &maxTTL,
		&domains, &created, &g.CreatedBy, &g.Reason, &revoked, &revokedBy, &revReason)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	g.Person, g.Role, g.Group = person.String, auth.Role(role.String), group.String
	for _, a := range strings.Split(acts, ",") {
		if a != "" {
			g.Actions = append(g.Actions, Action(a))
		}
	}
	if domains != "" {
		g.RecipientDomains = strings.Split(domains, ",")
	}
	g.MaxLifetime = time.Duration(maxLife.Int64) * time.Millisecond
	g.MaxUses = int(maxUses.Int64)
	g.MaxPresignTTL = time.Duration(maxTTL.Int64) * time.Millisecond
	g.CreatedAt = time.UnixMilli(created).UTC()
	if revoked.Valid {
		g.RevokedAt = time.UnixMilli(revoked.Int64).UTC()
	}
	g.RevokedBy, g.RevokeReason = revokedBy.String, revReason.String
	return &g, nil
}

func nullStr(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func nullInt(v int) any {
	if v == 0 {
		return nil
	}
	return v
}

func nullDur(d time.Duration) any {
	if d == 0 {
		return nil
	}
	return d.Milliseconds()
}

// RevokePerson ends every grant in force that names person and returns how
// many it ended (offboarding: a new token of the same name inherits none).
func RevokePerson(ctx context.Context, q Querier, person, by, reason string, at time.Time) (int, error) {
	res, err := q.ExecContext(ctx, `UPDATE grants SET revoked_at = ?, revoked_by = ?, revoke_reason = ?
        WHERE person = ? AND revoked_at IS NULL`, at.UnixMilli(), by, reason, person)
	if err != nil {
		return 0, fmt.Errorf("revoke grants of %s: %w", person, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("revoke grants of %s: %w", person, err)
	}
	return int(n), nil
}
