// Package app holds the verbs people perform on sharesvc — create a link,
// revoke one or many, offboard a person, the kill switch, API tokens, shares
// sent by email and grants — once, for the API, the web console and the CLI
// alike. Each verb takes an explicit Actor, checks what that actor may do,
// and writes its audit row; transports only decode, call and encode.
//
// Errors are the domain packages' sentinels (links.ErrInvalid,
// auth.ErrForbidden, grants.ErrNoGrant, …), which each transport maps to
// its own answer.
package app

import (
	"errors"
	"net/http"
	"time"

	"github.com/sharesvc/sharesvc/internal/audit"
	"github.com/sharesvc/sharesvc/internal/auth"
	"github.com/sharesvc/sharesvc/internal/grants"
	"github.com/sharesvc/sharesvc/internal/links"
	"github.com/sharesvc/sharesvc/internal/mail"
	"github.com/sharesvc/sharesvc/internal/people"
	"github.com/sharesvc/sharesvc/internal/sts"
)

// Actor is who performs a verb, and from where: every audit row a verb
// writes names them.
type Actor struct {
	Name      string    // the token's (person's) name
	Role      auth.Role // what they may do
	RequestID string    // the request that carried the verb; "" outside HTTP
	ClientIP  string    // their address; "" outside HTTP
	UserAgent string
	// Groups are the identity provider's groups of a person signed in
	// through it: grants naming one of them apply to the actor. Nil for
	// token users.
	Groups []string
}

// ActorOf returns the actor of a verb done with token t: its owner when a
// person minted it for themselves (with the role and groups Authenticate
// resolved), else the token's own name.
func ActorOf(t *auth.Token) Actor { return Actor{Name: t.Person(), Role: t.Role, Groups: t.Groups} }

// IsAdmin reports whether the actor is an admin.
func (a Actor) IsAdmin() bool { return a.Role == auth.RoleAdmin }

// Config holds the rules the verbs apply.
type Config struct {
	// Links bounds every link created (lifetime, uses, presign TTL, size).
	Links links.Limits
	// MaxRecipients bounds the recipients of one share sent by email; 0
	// means 50.
	MaxRecipients int
	// MailQuota bounds the share messages one person may queue in 24
	// hours; 0 means no quota.
	MailQuota int
	// PersonalTokenMaxLifetime bounds the lifetime of the tokens people
	// mint for themselves; 0 means DefaultPersonalTokenMaxLifetime.
	PersonalTokenMaxLifetime time.Duration
}

// Deps are what an App is built from; main owns them all.
type Deps struct {
	Links  *links.Store
	Tokens *auth.Store
	Audit  *audit.Log
	Signer *sts.Signer
	// Scoped checks objects for links made under a grant with that grant's
	// own session; nil leaves it to Signer.
	Scoped     *sts.ScopedSigner
	Grants     *grants.Store
	People     *people.Store    // people signing in through the identity provider; nil: none do
	Mail       *mail.Mailer     // nil: sharing by email is off
	Deliveries *mail.Deliveries // the mail queue; nil with Mail
	// HTTPClient makes the object checks at link creation; nil means a
	// client with a 10 s timeout.
	HTTPClient *http.Client
	Clock      func() time.Time
	// OnKillSwitch is told, after the change is committed, that this
	// instance turned the kill switch on or off (the server drops its
	// cached state and sessions with it).
	OnKillSwitch func(on bool)
}

// App performs the verbs. It is safe for concurrent use.
type App struct {
	cfg        Config
	links      *links.Store
	tokens     *auth.Store
	audit      *audit.Log
	signer     *sts.Signer
	scoped     *sts.ScopedSigner
	grants     *grants.Store
	people     *people.Store
	mail       *mail.Mailer
	deliveries *mail.Deliveries
	client     *http.Client
	now        func() time.Time
	onKill     func(bool)
}

// New returns an App. It returns an error naming a missing dependency.
func New(cfg Config, d Deps) (*App, error) {
	if d.Links == nil || d.Tokens == nil || d.Audit == nil || d.Signer == nil || d.Grants == nil {
		return nil, errors.New("app: missing dependency")
	}
	if d.Clock == nil {
		d.Clock = time.Now
	}
	if d.HTTPClient == nil {
		d.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	if d.OnKillSwitch == nil {
		d.OnKillSwitch = func(bool) {}
	}
	if cfg.MaxRecipients <= 0 {
		cfg.MaxRecipients = 50
	}
	if cfg.PersonalTokenMaxLifetime <= 0 {
		cfg.PersonalTokenMaxLifetime = DefaultPersonalTokenMaxLifetime
	}
	return &App{cfg: cfg, links: d.Links, tokens: d.Tokens, audit: d.Audit, signer: d.Signer, scoped: d.Scoped, grants: d.Grants,
		people: d.People, mail: d.Mail, deliveries: d.Deliveries, client: d.HTTPClient, now: d.Clock, onKill: d.OnKillSwitch}, nil
}

// event starts the audit row of a verb done by actor.
func (a *App) event(actor Actor, action, detail string) audit.Event {
	return audit.Event{
		Action: action, Actor: actor.Name, Outcome: audit.OutcomeOK,
		ClientIP: actor.ClientIP, UserAgent: actor.UserAgent, RequestID: actor.RequestID, Detail: detail,
	}
}

// maxReason bounds the free-text reason of a revocation or an admin act.
const maxReason = 1000
