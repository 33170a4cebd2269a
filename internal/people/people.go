// Package people keeps the people who sign in through the organisation's
// OpenID Connect provider. A person is keyed by the provider's issuer and
// subject. Their name in sharesvc — the audit log's actor, the owner of
// their links, the person a grant names — is chosen at the first sign-in
// and never changes; email, display name and groups are refreshed at every
// sign-in and session check, and the role follows the configured group
// mappings unless an admin has overridden it.
//
// The package knows no HTTP and no OIDC library: it takes the claims the
// sign-in verified.
package people

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/base32"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/sharesvc/sharesvc/internal/auth"
	"github.com/sharesvc/sharesvc/internal/db"
)

// Errors returned by this package.
var (
	// ErrNotFound means no person has that id or name.
	ErrNotFound = errors.New("person not found")
	// ErrDisabled means the person was offboarded: they may not sign in
	// until an admin enables them again.
	ErrDisabled = errors.New("person is offboarded")
	// ErrInvalid means claims or a setting break a rule; the wrapped
	// message says which.
	ErrInvalid = errors.New("invalid person")
)

// Bounds on what a provider may hand us. Entra ID, for one, can put
// hundreds of groups in a token; sharesvc keeps the first MaxGroups after
// sorting, which the README documents.
const (
	MaxGroups    = 200
	maxGroupLen  = 256
	maxClaimLen  = 320 // an email address's practical maximum
	maxIssuerLen = 1024
)

// Person is someone who signed in through the provider.
type Person struct {
	ID          string
	Issuer      string
	Subject     string
	Name        string // sharesvc name; never changes
	Email       string // verified address; "" when the provider gave none
	DisplayName string
	Groups      []string  // the provider's groups at the last check, sorted
	GroupRole   auth.Role // the role the group mappings gave at the last check
	Override    auth.Role // the role an admin set; "" follows the groups
	CreatedAt   time.Time
	SeenAt      time.Time // last sign-in or successful check
	DisabledAt  time.Time // zero while active
}

// Role is what the person may do: the admin's override, else what their
// groups give.
func (p *Person) Role() auth.Role {
	if p.Override != "" {
		return p.Override
	}
	return p.GroupRole
}

// Active reports whether the person may sign in and act.
func (p *Person) Active() bool { return p.DisabledAt.IsZero() }

// Claims are what a verified ID token (or userinfo answer) says about
// someone.
type Claims struct {
	Issuer        string
	Subject       string
	Email         string
	EmailVerified bool
	Name          string
	Groups        []string
}

// Clean validates c and returns it with its text cleaned: control
// characters are refused in the issuer and subject, dropped elsewhere;
// groups are trimmed, deduplicated, sorted and cut to MaxGroups; an
// unverified email is dropped. Errors: ErrInvalid.
func (c Claims) Clean() (Claims, error) {
	if c.Issuer == "" || len(c.Issuer) > maxIssuerLen || hasControl(c.Issuer) {
		return Claims{}, fmt.Errorf("%w: issuer must be 1-%d bytes without control characters", ErrInvalid, maxIssuerLen)
	}
	// OIDC Core caps sub at 255 ASCII characters.
	if c.Subject == "" || len(c.Subject) > 255 || hasControl(c.Subject) || !utf8.ValidString(c.Subject) {
		return Claims{}, fmt.Errorf("%w: subject must be 1-255 bytes without control characters", ErrInvalid)
	}
	out := Claims{Issuer: c.Issuer, Subject: c.Subject, EmailVerified: c.EmailVerified}
	if c.EmailVerified {
		out.Email = strings.ToLower(clipText(c.Email, maxClaimLen))
		if !strings.Contains(out.Email, "@") {
			out.Email = ""
		}
	}
	out.Name = clipText(c.Name, maxClaimLen)
	// Sort then compact: a provider's userinfo answer has no size bound,
	// and a search of the kept groups for each one is quadratic in it.
	for _, g := range c.Groups {
		if g = clip(g, maxGroupLen); g != "" {
			out.Groups = append(out.Groups, g)
		}
	}
	slices.Sort(out.Groups)
	out.Groups = slices.Compact(out.Groups)
	if len(out.Groups) > MaxGroups {
		out.Groups = out.Groups[:MaxGroups]
	}
	return out, nil
}

func hasControl(s string) bool { return strings.IndexFunc(s, unicode.IsControl) >= 0 }

// clipText is clip for text shown to people (a display name in mail From,
// an address): format characters go too, so that a right-to-left override
// cannot disguise who shared a file. Groups keep them (clip): they are
// compared with the configured mappings exactly, and a group that only
// looked like share-admins once its invisible characters were dropped must
// not count as share-admins.
func clipText(s string, n int) string {
	return clip(strings.Map(func(r rune) rune {
		if unicode.Is(unicode.Cf, r) {
			return -1
		}
		return r
	}, s), n)
}

// clip drops control characters and invalid UTF-8, trims spaces and cuts
// s to at most n bytes on a character boundary.
func clip(s string, n int) string {
	s = strings.TrimSpace(strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == utf8.RuneError {
			return -1
		}
		return r
	}, s))
	for len(s) > n {
		_, size := utf8.DecodeLastRuneInString(s)
		s = s[:len(s)-size]
	}
	return s
}

// RoleMap says which provider groups give which role; everyone else is a
// sharer. Admin wins over auditor when a person is in both.
type RoleMap struct {
	Admin   []string
	Auditor []string
}

// ParseRoleMap parses "admin=share-admins,auditor=auditors" (a role may be
// named more than once: "admin=a,admin=b"). "" maps nobody. Errors:
// ErrInvalid naming the bad entry.
func ParseRoleMap(s string) (RoleMap, error) {
	var m RoleMap
	for _, f := range strings.Split(s, ",") {
		if strings.TrimSpace(f) == "" {
			continue
		}
		role, group, ok := strings.Cut(f, "=")
		role, group = strings.TrimSpace(role), strings.TrimSpace(group)
		if !ok || group == "" || len(group) > maxGroupLen || hasControl(group) {
			return RoleMap{}, fmt.Errorf("%w: role mapping %q: want ROLE=GROUP, such as admin=share-admins", ErrInvalid, f)
		}
		switch auth.Role(role) {
		case auth.RoleAdmin:
			m.Admin = append(m.Admin, group)
		case auth.RoleAuditor:
			m.Auditor = append(m.Auditor, group)
		case auth.RoleSharer:
			return RoleMap{}, fmt.Errorf("%w: role mapping %q: everyone not mapped is a sharer already; map admin or auditor", ErrInvalid, f)
		default:
			return RoleMap{}, fmt.Errorf("%w: role mapping %q: role must be admin or auditor", ErrInvalid, f)
		}
	}
	return m, nil
}

// RoleFor returns the role groups give.
func (m RoleMap) RoleFor(groups []string) auth.Role {
	in := func(mapped []string) bool {
		return slices.ContainsFunc(mapped, func(g string) bool { return slices.Contains(groups, g) })
	}
	switch {
	case in(m.Admin):
		return auth.RoleAdmin
	case in(m.Auditor):
		return auth.RoleAuditor
	}
	return auth.RoleSharer
}

// Querier is what the store needs from *sql.DB or *sql.Tx.
type Querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

const columns = `id, issuer, subject, name, email, display_name, groups, role, role_override, created_at, seen_at, disabled_at`

func scan(row interface{ Scan(...any) error }) (*Person, error) {
	var (
		p                 Person
		groups, groupRole string
		override          sql.NullString
		created, seen     int64
		disabled          sql.NullInt64
	)
	if err := row.Scan(&p.ID, &p.Issuer, &p.Subject, &p.Name, &p.Email, &p.DisplayName, &groups, &groupRole, &override,
		&created, &seen, &disabled); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(groups), &p.Groups); err != nil {
		return nil, fmt.Errorf("person %s: groups: %w", p.ID, err)
	}
	p.GroupRole = auth.Role(groupRole)
	p.Override = auth.Role(override.String)
	p.CreatedAt = time.UnixMilli(created).UTC()
	p.SeenAt = time.UnixMilli(seen).UTC()
	if disabled.Valid {
		p.DisabledAt = time.UnixMilli(disabled.Int64).UTC()
	}
	return &p, nil
}

func one(ctx context.Context, q Querier, where string, arg any) (*Person, error) {
	p, err := scan(q.QueryRowContext(ctx, `SELECT `+columns+` FROM people WHERE `+where+` = ?`, arg))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("%w: %v", ErrNotFound, arg)
	}
	if err != nil {
		return nil, fmt.Errorf("read person: %w", err)
	}
	return p, nil
}

// Get returns the person with this id. Errors: ErrNotFound.
func Get(ctx context.Context, q Querier, id string) (*Person, error) { return one(ctx, q, "id", id) }

// ByName returns the person with this sharesvc name. Errors: ErrNotFound.
func ByName(ctx context.Context, q Querier, name string) (*Person, error) {
	return one(ctx, q, "name", name)
}

// List returns every person, by name.
func List(ctx context.Context, q Querier) ([]*Person, error) {
	rows, err := q.QueryContext(ctx, `SELECT `+columns+` FROM people ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("list people: %w", err)
	}
	defer rows.Close()
	var out []*Person
	for rows.Next() {
		p, err := scan(rows)
		if err != nil {
			return nil, fmt.Errorf("list people: %w", err)
		}
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list people: %w", err)
	}
	return out, nil
}

// Change is what a sign-in or check did to a person, for the audit log.
type Change struct {
	Created  bool      // first sign-in: the person is new
	PrevRole auth.Role // the role before; "" when Created
}

// RoleChanged reports whether the person's role differs from before.
func (c Change) RoleChanged(p *Person) bool { return !c.Created && c.PrevRole != p.Role() }

// Upsert records a sign-in or a successful check of the person the claims
// describe: it creates them on their first sign-in (choosing their name),
// or refreshes email, display name, groups, group role and seen time.
// An offboarded person is left unchanged and ErrDisabled returned. q
// should be a write transaction (db.BeginWrite) so that two first sign-ins
// of one person cannot both insert. Errors: ErrInvalid, ErrDisabled.
func Upsert(ctx context.Context, q Querier, c Claims, m RoleMap, now time.Time) (*Person, Change, error) {
	c, err := c.Clean()
	if err != nil {
		return nil, Change{}, err
	}
	groups, err := json.Marshal(nonNil(c.Groups))
	if err != nil {
		return nil, Change{}, err
	}
	role := m.RoleFor(c.Groups)
	p, err := scan(q.QueryRowContext(ctx, `SELECT `+columns+` FROM people WHERE issuer = ? AND subject = ?`, c.Issuer, c.Subject))
	switch {
	case errors.Is(err, sql.ErrNoRows):
		name, err := chooseName(ctx, q, c)
		if err != nil {
			return nil, Change{}, err
		}
		p = &Person{ID: NewID(), Issuer: c.Issuer, Subject: c.Subject, Name: name, Email: c.Email, DisplayName: c.Name,
			Groups: nonNil(c.Groups), GroupRole: role, CreatedAt: now.UTC().Truncate(time.Millisecond), SeenAt: now.UTC().Truncate(time.Millisecond)}
		_, err = q.ExecContext(ctx, `INSERT INTO people (`+columns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, NULL, ?, ?, NULL)`,
			p.ID, p.Issuer, p.Subject, p.Name, p.Email, p.DisplayName, string(groups), string(role), now.UnixMilli(), now.UnixMilli())
		if err != nil {
			return nil, Change{}, fmt.Errorf("add person: %w", err)
		}
		return p, Change{Created: true}, nil
	case err != nil:
		return nil, Change{}, fmt.Errorf("read person: %w", err)
	}
	if !p.Active() {
		return p, Change{PrevRole: p.Role()}, fmt.Errorf("%w: %s since %s", ErrDisabled, p.Name, p.DisabledAt.Format(time.RFC3339))
	}
	ch := Change{PrevRole: p.Role()}
	if _, err := q.ExecContext(ctx, `UPDATE people SET email = ?, display_name = ?, groups = ?, role = ?, seen_at = ? WHERE id = ?`,
		c.Email, c.Name, string(groups), string(role), now.UnixMilli(), p.ID); err != nil {
		return nil, Change{}, fmt.Errorf("update person %s: %w", p.Name, err)
	}
	p.Email, p.DisplayName, p.Groups, p.GroupRole = c.Email, c.Name, nonNil(c.Groups), role
	p.SeenAt = now.UTC().Truncate(time.Millisecond)
	return p, ch, nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// chooseName picks a new person's sharesvc name: their verified email when
// it is a valid name no other person holds, else "person-" and 12
// characters derived from issuer and subject. An API token of the same
// name is not a clash: a person signing in with the address an admin used
// for their token keeps that token's links (the README says so).
func chooseName(ctx context.Context, q Querier, c Claims) (string, error) {
	taken := func(name string) (bool, error) {
		var n int
		err := q.QueryRowContext(ctx, `SELECT COUNT(*) FROM people WHERE name = ?`, name).Scan(&n)
		return n > 0, err
	}
	if c.Email != "" && auth.ValidateName(c.Email) == nil {
		t, err := taken(c.Email)
		if err != nil {
			return "", fmt.Errorf("add person: %w", err)
		}
		if !t {
			return c.Email, nil
		}
	}
	h := sha256.Sum256([]byte(c.Issuer + "\x00" + c.Subject))
	return "person-" + strings.ToLower(base32.StdEncoding.EncodeToString(h[:])[:12]), nil
}

// NewID returns a fresh public person id.
func NewID() string {
	var b [10]byte
	rand.Read(b[:])
	return "psn_" + strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b[:]))
}

// SetOverride sets the role an admin chose for the person with this id,
// or with role "" goes back to following their groups, and returns the
// person before and after. Errors: ErrNotFound, ErrInvalid.
func SetOverride(ctx context.Context, q Querier, id string, role auth.Role) (before, after *Person, err error) {
	if role != "" {
		if _, err := auth.ParseRole(string(role)); err != nil {
			return nil, nil, fmt.Errorf("%w: %v", ErrInvalid, err)
		}
	}
	before, err = Get(ctx, q, id)
	if err != nil {
		return nil, nil, err
	}
	var v any
	if role != "" {
		v = string(role)
	}
	if _, err := q.ExecContext(ctx, `UPDATE people SET role_override = ? WHERE id = ?`, v, id); err != nil {
		return nil, nil, fmt.Errorf("set role of %s: %w", before.Name, err)
	}
	after = new(Person)
	*after = *before
	after.Override = role
	return before, after, nil
}

// Disable offboards the person called name: they may not sign in again
// until Enable. It reports whether an active person was disabled (false
// when no person has that name or they already were).
func Disable(ctx context.Context, q Querier, name string, now time.Time) (bool, error) {
	res, err := q.ExecContext(ctx, `UPDATE people SET disabled_at = ? WHERE name = ? AND disabled_at IS NULL`, now.UnixMilli(), name)
	if err != nil {
		return false, fmt.Errorf("disable %s: %w", name, err)
	}
	n, err := res.RowsAffected()
	return n > 0, err
}

// Enable lets an offboarded person sign in again. Errors: ErrNotFound.
func Enable(ctx context.Context, q Querier, id string) (*Person, error) {
	if _, err := q.ExecContext(ctx, `UPDATE people SET disabled_at = NULL WHERE id = ?`, id); err != nil {
		return nil, fmt.Errorf("enable %s: %w", id, err)
	}
	return Get(ctx, q, id)
}

// Store reads people from a database.
type Store struct{ db *sql.DB }

// NewStore returns a Store on d.
func NewStore(d *sql.DB) *Store { return &Store{db: d} }

// Get returns the person with this id. Errors: ErrNotFound.
func (s *Store) Get(ctx context.Context, id string) (*Person, error) { return Get(ctx, s.db, id) }

// ByName returns the person with this name. Errors: ErrNotFound.
func (s *Store) ByName(ctx context.Context, name string) (*Person, error) {
	return ByName(ctx, s.db, name)
}

// List returns every person, by name.
func (s *Store) List(ctx context.Context) ([]*Person, error) { return List(ctx, s.db) }

// SignIn records a sign-in or a successful check in its own write
// transaction; see Upsert.
func (s *Store) SignIn(ctx context.Context, c Claims, m RoleMap, now time.Time) (*Person, Change, error) {
	tx, err := db.BeginWrite(ctx, s.db)
	if err != nil {
		return nil, Change{}, fmt.Errorf("sign in: %w", err)
	}
	defer tx.Rollback()
	p, ch, err := Upsert(ctx, tx, c, m, now)
	if err != nil {
		return p, ch, err
	}
	if err := tx.Commit(); err != nil {
		return nil, Change{}, fmt.Errorf("sign in: %w", err)
	}
	return p, ch, nil
}

// Contact returns the display name and address to use in mail sent on
// behalf of the person called name: a person from the provider's own, else
// those an admin gave the token of that name; "" for what is unknown.
func Contact(ctx context.Context, q Querier, name string) (displayName, email string, err error) {
	p, err := ByName(ctx, q, name)
	if err == nil {
		return p.DisplayName, p.Email, nil
	}
	if !errors.Is(err, ErrNotFound) {
		return "", "", err
	}
	t, err := auth.ByName(ctx, q, name)
	if errors.Is(err, auth.ErrNotFound) {
		return "", "", nil
	}
	if err != nil {
		return "", "", err
	}
	return t.DisplayName, t.Email, nil
}

// Contact returns the display name and address for mail on behalf of the
// person called name; see Contact.
func (s *Store) Contact(ctx context.Context, name string) (displayName, email string, err error) {
	return Contact(ctx, s.db, name)
}
