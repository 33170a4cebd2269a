// Package grants owns the rules that say who may share what: a grant lets a
// person, every holder of a role, or everyone the identity provider puts in
// a group create links to the objects of one bucket under one key prefix,
// for the actions it names and within its ceilings. Admins manage grants;
// sharers create links only inside one.
package grants

import (
	"crypto/rand"
	"encoding/base32"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sharesvc/sharesvc/internal/auth"
	"github.com/sharesvc/sharesvc/internal/links"
)

// Errors returned by this package.
var (
	// ErrNoGrant means no grant in force lets the person do what they
	// asked; the wrapped message says what was missing.
	ErrNoGrant = errors.New("no grant allows this")
	// ErrNotFound means no grant has that id.
	ErrNotFound = errors.New("grant not found")
	// ErrInvalid means a grant to be created breaks a rule; the wrapped
	// message names the field.
	ErrInvalid = errors.New("invalid grant")
)

// Action is something a grant allows.
type Action string

// Actions.
const (
	ActionDownload Action = "download" // create download links
	ActionUpload   Action = "upload"   // create upload links
	ActionEmail    Action = "email"    // share download links by email
)

// ParseActions parses a list such as "download,upload" (',' or '+'
// separated); each action at most once. Errors: ErrInvalid.
func ParseActions(s string) ([]Action, error) {
	var out []Action
	for _, f := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == '+' || r == ' ' }) {
		a := Action(f)
		switch a {
		case ActionDownload, ActionUpload, ActionEmail:
		default:
			return nil, fmt.Errorf("%w: action %q is not one of download, upload, email", ErrInvalid, f)
		}
		if !slices.Contains(out, a) {
			out = append(out, a)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: actions: name at least one of download, upload, email", ErrInvalid)
	}
	slices.Sort(out)
	return out, nil
}

// PersonPlaceholder in a key prefix stands for the name of the person
// creating the link: "home/{person}/" gives each person a folder.
const PersonPlaceholder = "{person}"

// Grant is one rule. Exactly one of Person, Role and Group is set.
type Grant struct {
	ID        string
	Person    string    // a token's name
	Role      auth.Role // every token of this role
	Group     string    // everyone the identity provider puts in this group
	Bucket    string
	KeyPrefix string // "" is the whole bucket; may hold PersonPlaceholder
	Actions   []Action
	// Ceilings; zero means the server's own maximum.
	MaxLifetime   time.Duration
	MaxUses       int
	MaxPresignTTL time.Duration
	// RecipientDomains, when set, are the only mail domains an email share
	// under this grant may be sent to ("example.com" also allows its
	// subdomains).
	RecipientDomains []string

	CreatedAt    time.Time
	CreatedBy    string
	Reason       string
	RevokedAt    time.Time // zero: in force
	RevokedBy    string
	RevokeReason string
}

// Subject names who the grant is for: "person alice", "role sharer" or
// "group share-finance".
func (g *Grant) Subject() string {
	switch {
	case g.Person != "":
		return "person " + g.Person
	case g.Group != "":
		return "group " + g.Group
	}
	return "role " + string(g.Role)
}

// Live reports whether the grant is in force.
func (g *Grant) Live() bool { return g.RevokedAt.IsZero() }

// Has reports whether the grant allows action.
func (g *Grant) Has(a Action) bool { return slices.Contains(g.Actions, a) }

// AppliesTo reports whether the grant is for person, for their role, or
// for one of their provider groups (nil for a token user).
func (g *Grant) AppliesTo(person string, role auth.Role, groups []string) bool {
	switch {
	case g.Person != "":
		return g.Person == person
	case g.Group != "":
		return slices.Contains(groups, g.Group)
	}
	return g.Role == role
}

// PrefixFor returns the key prefix the grant gives person.
func (g *Grant) PrefixFor(person string) string {
	return strings.ReplaceAll(g.KeyPrefix, PersonPlaceholder, person)
}

// maxReason bounds a grant's free-text reason.
const maxReason = 1000

// MaxGroupLen bounds a group's name, in bytes.
const MaxGroupLen = 256

// Validate checks the grant's fields and normalises its lists (and trims
// its group). Errors: ErrInvalid naming the field.
func (g *Grant) Validate() error {
	g.Group = strings.TrimSpace(g.Group)
	n := 0
	for _, set := range []bool{g.Person != "", g.Role != "", g.Group != ""} {
		if set {
			n++
		}
	}
	switch {
	case n > 1:
		return fmt.Errorf("%w: give exactly one of a person, a role or a group, not several", ErrInvalid)
	case n == 0:
		return fmt.Errorf("%w: say who the grant is for: a person (a token's name), a role or a group", ErrInvalid)
	case g.Person != "":
		if err := auth.ValidateName(g.Person); err != nil {
			return fmt.Errorf("%w: person: %w", ErrInvalid, err)
		}
	case g.Group != "":
		if err := ValidGroup(g.Group); err != nil {
			return err
		}
	default:
		if _, err := auth.ParseRole(string(g.Role)); err != nil {
			return fmt.Errorf("%w: role: %w", ErrInvalid, err)
		}
	}
	if err := links.ValidBucket(g.Bucket); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if g.KeyPrefix != "" {
		// Checked with a sample name in place of the placeholder: the
		// expanded prefix must follow the key rules.
		if err := links.ValidKeyPrefix(g.PrefixFor("person")); err != nil {
			return fmt.Errorf("%w: %w", ErrInvalid, err)
		}
		// IAM reads these as wildcards and variables in the S3 session
		// policy that enforces the grant; a prefix holding them would grant
		// more than it says.
		if strings.ContainsAny(strings.ReplaceAll(g.KeyPrefix, PersonPlaceholder, ""), "*?${}") {
			return fmt.Errorf("%w: key_prefix must not contain *, ?, $, { or } (other than %s)", ErrInvalid, PersonPlaceholder)
		}
		if len(g.KeyPrefix) > 512 {
			return fmt.Errorf("%w: key_prefix is limited to 512 bytes", ErrInvalid)
		}
	}
	if len(g.Actions) == 0 {
		return fmt.Errorf("%w: actions: name at least one of download, upload, email", ErrInvalid)
	}
	for _, a := range g.Actions {
		if a != ActionDownload && a != ActionUpload && a != ActionEmail {
			return fmt.Errorf("%w: action %q is not one of download, upload, email", ErrInvalid, a)
		}
	}
	if g.Has(ActionEmail) && !g.Has(ActionDownload) {
		return fmt.Errorf("%w: actions: email shares are download links, so email needs download too", ErrInvalid)
	}
	switch {
	case g.MaxLifetime < 0 || g.MaxLifetime != 0 && g.MaxLifetime < time.Second:
		return fmt.Errorf("%w: max_lifetime must be at least 1 second (omit it for the server's)", ErrInvalid)
	case g.MaxUses < 0:
		return fmt.Errorf("%w: max_uses must be at least 1 (omit it for the server's)", ErrInvalid)
	case g.MaxPresignTTL < 0 || g.MaxPresignTTL != 0 && g.MaxPresignTTL < time.Second:
		return fmt.Errorf("%w: max_presign_ttl must be at least 1 second (omit it for the server's)", ErrInvalid)
	case len(g.RecipientDomains) > 100:
		return fmt.Errorf("%w: recipient_domains is limited to 100 domains", ErrInvalid)
	case len(g.Reason) > maxReason:
		return fmt.Errorf("%w: reason is limited to %d bytes", ErrInvalid, maxReason)
	}
	if err := links.ValidText("reason", g.Reason, false); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	for i, d := range g.RecipientDomains {
		d = strings.ToLower(strings.TrimPrefix(strings.TrimSpace(d), "@"))
		if !validDomain(d) {
			return fmt.Errorf("%w: recipient domain %q is not a domain name", ErrInvalid, g.RecipientDomains[i])
		}
		g.RecipientDomains[i] = d
	}
	if len(g.RecipientDomains) > 0 && !g.Has(ActionEmail) {
		return fmt.Errorf("%w: recipient_domains only apply to grants with the email action", ErrInvalid)
	}
	slices.Sort(g.Actions)
	g.Actions = slices.Compact(g.Actions)
	return nil
}

// ValidGroup checks a provider group's name as a grant holds it: 1 to
// MaxGroupLen bytes of UTF-8 without control or bidirectional formatting
// characters, and no surrounding space. Errors: ErrInvalid.
func ValidGroup(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("%w: group: name the provider group", ErrInvalid)
	case len(name) > MaxGroupLen:
		return fmt.Errorf("%w: group is limited to %d bytes", ErrInvalid, MaxGroupLen)
	case strings.TrimSpace(name) != name:
		return fmt.Errorf("%w: group %q has surrounding space", ErrInvalid, name)
	}
	if err := links.ValidText("group", name, false); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	return nil
}

// validDomain checks a DNS name: dot-separated labels of letters, digits
// and '-', 1–63 bytes each, 253 in all, with at least two labels.
func validDomain(d string) bool {
	if len(d) == 0 || len(d) > 253 || !strings.Contains(d, ".") {
		return false
	}
	for _, l := range strings.Split(d, ".") {
		if len(l) == 0 || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return false
		}
		for i := 0; i < len(l); i++ {
			c := l[i]
			if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return true
}

// DomainAllowed reports whether the grant lets an email share go to addr
// (an already normalised address).
func (g *Grant) DomainAllowed(addr string) bool {
	if len(g.RecipientDomains) == 0 {
		return true
	}
	at := strings.LastIndexByte(addr, '@')
	if at < 0 {
		return false
	}
	dom := strings.ToLower(addr[at+1:])
	for _, d := range g.RecipientDomains {
		if dom == d || strings.HasSuffix(dom, "."+d) {
			return true
		}
	}
	return false
}

// Covers reports whether the grant, for person, reaches the object
// bucket/key (or every key under a prefix, for an upload link with a
// generated name).
func (g *Grant) Covers(person, bucket, key string) bool {
	return g.Bucket == bucket && strings.HasPrefix(key, g.PrefixFor(person))
}

// Limits narrows the server's link limits to the grant's ceilings.
func (g *Grant) Limits(lim links.Limits) links.Limits {
	if g.MaxLifetime > 0 && g.MaxLifetime < lim.MaxLifetime {
		lim.MaxLifetime = g.MaxLifetime
		lim.DefaultLifetime = min(lim.DefaultLifetime, g.MaxLifetime)
	}
	if g.MaxPresignTTL > 0 && g.MaxPresignTTL < lim.MaxPresignTTL {
		lim.MaxPresignTTL = g.MaxPresignTTL
		lim.DefaultPresignTTL = min(lim.DefaultPresignTTL, g.MaxPresignTTL)
	}
	if g.MaxUses > 0 && (lim.MaxUses == 0 || g.MaxUses < lim.MaxUses) {
		lim.MaxUses = g.MaxUses
	}
	return lim
}

var idEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// NewID returns a fresh public grant id.
func NewID() string {
	var b [10]byte
	rand.Read(b[:])
	return "grt_" + idEncoding.EncodeToString(b[:])
}

// Ask is what a person asks to do: the action and the object.
type Ask struct {
	Person string
	Role   auth.Role
	Groups []string // the person's provider groups; nil for a token user
	Action Action
	Bucket string
	Key    string // for an upload link with generated names, its prefix
}

// Match returns the grants among gs that allow ask, in the order given, or
// an error wrapping ErrNoGrant that says what is missing.
func Match(gs []*Grant, ask Ask) ([]*Grant, error) {
	var out []*Grant
	var sameBucket, covering bool
	for _, g := range gs {
		if !g.Live() || !g.AppliesTo(ask.Person, ask.Role, ask.Groups) {
			continue
		}
		if g.Bucket == ask.Bucket {
			sameBucket = true
		}
		if !g.Covers(ask.Person, ask.Bucket, ask.Key) {
			continue
		}
		covering = true
		if g.Has(ask.Action) {
			out = append(out, g)
		}
	}
	if len(out) > 0 {
		return out, nil
	}
	switch {
	case covering:
		return nil, fmt.Errorf("%w: your grants reach %q in bucket %q but not for %s links", ErrNoGrant, ask.Key, ask.Bucket, ask.Action)
	case sameBucket:
		return nil, fmt.Errorf("%w: no grant of yours covers key %q in bucket %q (ask an admin for a grant on its prefix)", ErrNoGrant, ask.Key, ask.Bucket)
	default:
		return nil, fmt.Errorf("%w: no grant of yours covers bucket %q (ask an admin for a grant)", ErrNoGrant, ask.Bucket)
	}
}

// ParseDefault parses a configured default grant for every sharer, such as
// "prefix=home/{person}/ actions=download,upload,email max_uses=10": fields
// bucket (default defBucket), prefix, actions (required), max_lifetime and
// max_presign_ttl (Go durations), max_uses and domains (comma-separated),
// separated by spaces. Errors: ErrInvalid naming the field.
func ParseDefault(s, defBucket string) (*Grant, error) {
	g := &Grant{Role: auth.RoleSharer, Bucket: defBucket, Reason: "configured default grant"}
	seenActions := false
	for _, f := range strings.Fields(s) {
		k, v, ok := strings.Cut(f, "=")
		if !ok {
			return nil, fmt.Errorf("%w: %q is not key=value (keys: bucket, prefix, actions, max_lifetime, max_uses, max_presign_ttl, domains)", ErrInvalid, f)
		}
		var err error
		switch k {
		case "bucket":
			g.Bucket = v
		case "prefix":
			g.KeyPrefix = v
		case "actions":
			g.Actions, err = ParseActions(v)
			seenActions = true
		case "max_lifetime":
			g.MaxLifetime, err = time.ParseDuration(v)
		case "max_presign_ttl":
			g.MaxPresignTTL, err = time.ParseDuration(v)
		case "max_uses":
			g.MaxUses, err = strconv.Atoi(v)
		case "domains":
			for _, d := range strings.Split(v, ",") {
				if d != "" {
					g.RecipientDomains = append(g.RecipientDomains, d)
				}
			}
		default:
			return nil, fmt.Errorf("%w: unknown key %q (keys: bucket, prefix, actions, max_lifetime, max_uses, max_presign_ttl, domains)", ErrInvalid, k)
		}
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %v", ErrInvalid, k, err)
		}
	}
	if !seenActions {
		return nil, fmt.Errorf("%w: actions is required (e.g. actions=download,upload,email)", ErrInvalid)
	}
	if g.Bucket == "" {
		return nil, fmt.Errorf("%w: bucket is required (give bucket= or set the default bucket)", ErrInvalid)
	}
	return g, g.Validate()
}
