// Package server is sharesvc's HTTP layer: the public share routes, the
// admin API, and the middleware around them. It depends on the domain
// packages (links, audit, auth, sts); they never depend on it.
package server

import (
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sharesvc/sharesvc/internal/app"
	"github.com/sharesvc/sharesvc/internal/audit"
	"github.com/sharesvc/sharesvc/internal/auth"
	"github.com/sharesvc/sharesvc/internal/clientip"
	"github.com/sharesvc/sharesvc/internal/grants"
	"github.com/sharesvc/sharesvc/internal/health"
	"github.com/sharesvc/sharesvc/internal/links"
	"github.com/sharesvc/sharesvc/internal/mail"
	"github.com/sharesvc/sharesvc/internal/metrics"
	"github.com/sharesvc/sharesvc/internal/people"
	"github.com/sharesvc/sharesvc/internal/ratelimit"
	"github.com/sharesvc/sharesvc/internal/sts"
	"github.com/sharesvc/sharesvc/internal/web"
)

// Config holds the settings the HTTP layer applies to links.
type Config struct {
	// PublicURL is the base of short URLs, e.g. https://share.example.
	PublicURL string
	// DefaultBucket is used when a create request names none.
	DefaultBucket string
	// DefaultLifetime and MaxLifetime bound a link's lifetime.
	DefaultLifetime, MaxLifetime time.Duration
	// DefaultPresignTTL and MaxPresignTTL bound the lifetime of each minted URL.
	DefaultPresignTTL, MaxPresignTTL time.Duration
	// MaxUses bounds a link's use cap; 0 means no server maximum.
	MaxUses int
	// MaxUploadBytes bounds an upload link's size cap; 0 means 5 GiB, the
	// largest single PUT S3 accepts.
	MaxUploadBytes int64

	// TrustedProxies are the peers whose X-Forwarded-For is believed when
	// deciding a request's client address; empty trusts none.
	TrustedProxies []netip.Prefix
	// RateIP limits public requests per client address (IPv6 per /64),
	// RateMiss lookups of unknown codes per client address, RateLink mints
	// per link, RateToken API calls per token. A zero Limit is off.
	RateIP, RateMiss, RateLink, RateToken ratelimit.Limit
	// RateTableSize bounds the keys each limiter remembers; 0 means
	// ratelimit.DefaultCapacity.
	RateTableSize int
	// MaxRecipients bounds the recipients of one share sent by email; 0
	// means 50.
	MaxRecipients int
	// PersonalTokenMaxLifetime bounds the tokens people mint for their own
	// scripts; 0 means app.DefaultPersonalTokenMaxLifetime.
	PersonalTokenMaxLifetime time.Duration

	// OIDC is how the console signs people in through the identity
	// provider of Deps.OIDC.
	OIDC OIDCConfig
	// NoTokenSignIn refuses console sign-in with an API token, so that a
	// deployment can require its identity provider. API calls with a
	// bearer token are unaffected.
	NoTokenSignIn bool
}

// Validate reports the first setting that is unusable, naming it.
func (c *Config) Validate() error {
	u, err := url.Parse(c.PublicURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("public URL %q must be an absolute http(s) URL without query or fragment", c.PublicURL)
	}
	c.PublicURL = strings.TrimRight(c.PublicURL, "/")
	switch {
	case c.DefaultLifetime <= 0 || c.MaxLifetime <= 0 || c.DefaultLifetime > c.MaxLifetime:
		return fmt.Errorf("link lifetime: default %s must be positive and at most the maximum %s", c.DefaultLifetime, c.MaxLifetime)
	case c.DefaultPresignTTL < time.Second || c.MaxPresignTTL < time.Second || c.DefaultPresignTTL > c.MaxPresignTTL:
		return fmt.Errorf("presign TTL: default %s must be at least 1s and at most the maximum %s", c.DefaultPresignTTL, c.MaxPresignTTL)
	case c.MaxPresignTTL > sts.MaxURLLifetime:
		return fmt.Errorf("presign TTL: maximum %s exceeds S3's 7 days", c.MaxPresignTTL)
	case c.PersonalTokenMaxLifetime < 0 || c.PersonalTokenMaxLifetime > 0 && c.PersonalTokenMaxLifetime < time.Hour:
		return fmt.Errorf("personal token max lifetime %s must be at least 1h", c.PersonalTokenMaxLifetime)
	case c.MaxUses < 0:
		return fmt.Errorf("max uses %d must not be negative", c.MaxUses)
	case c.MaxUploadBytes < 0 || c.MaxUploadBytes > maxPutBytes:
		return fmt.Errorf("max upload bytes %d must be between 1 and %d (S3's single PUT limit)", c.MaxUploadBytes, int64(maxPutBytes))
	}
	if c.MaxUploadBytes == 0 {
		c.MaxUploadBytes = maxPutBytes
	}
	return nil
}

// maxLongReads is how many requests at once may hold a read connection for
// as long as the audit log is long (a verify), so that however many are
// asked for, most of the read pool is left to opens, auth and readiness.
// Exports hold no connection while they write (audit.Export).
const maxLongReads = 2

// maxPutBytes is the largest object a single presigned PUT can upload.
const maxPutBytes = 5 << 30

// Server serves sharesvc's HTTP routes.
type Server struct {
	cfg      Config
	links    *links.Store
	tokens   *auth.Store
	audit    *audit.Log
	signer   *sts.Signer
	scoped   *sts.ScopedSigner // signs links made under grants; nil: the role's session signs them
	metrics  *metrics.Metrics
	gatherer prometheus.Gatherer
	log      *slog.Logger
	now      func() time.Time
	handler  http.Handler
	client   *http.Client // for checks against S3 made with the signer's session
	kill     killCache
	limits   limiters
	ipSource *clientip.Resolver
	health   *health.Checker

	auditDB      *sql.DB
	longReads    chan struct{} // slots for reads that take as long as the log is long (verifyChain)
	checkpointer *audit.Checkpointer
	verifier     *audit.Verifier // verifies the audit log when there is no checkpointer
	flood        *audit.Flood

	mail       *mail.Mailer     // nil: sharing by email is off
	deliveries *mail.Deliveries // the mail queue, for the shares API

	sessions *web.Sessions // the web console's sign-ins, in the database (console.go)
	rp       RelyingParty  // the identity provider's sign-in; nil: none (console_oidc.go)
	// rpFailedAt is when a session check last found the provider
	// unreachable (Unix ms of the injected clock); 0 after a success.
	rpFailedAt atomic.Int64
	people     *people.Store

	app *app.App // the verbs; handlers decode, call it, and encode
}

// Deps are what a Server is built from; main owns them all.
type Deps struct {
	Links    *links.Store
	Tokens   *auth.Store
	Audit    *audit.Log
	Signer   *sts.Signer
	Metrics  *metrics.Metrics
	Gatherer prometheus.Gatherer
	Logger   *slog.Logger
	Clock    func() time.Time
	// HTTPClient makes the object checks at link creation; nil means a
	// client with a 10 s timeout.
	HTTPClient *http.Client
	// Health answers /readyz; nil means always ready.
	Health *health.Checker
	// AuditDB is the read pool the audit routes query (list, export,
	// verify) and the console keeps its sign-ins in; nil disables both
	// (500).
	AuditDB *sql.DB
	// Checkpointer signs audit checkpoints on demand and anchors verify;
	// nil when no checkpoint key is configured.
	Checkpointer *audit.Checkpointer
	// Flood is the per-client budget for the rows of public requests that
	// mint nothing (denials, HEAD, previews, confirmation pages); nil logs
	// every one.
	Flood *audit.Flood
	// Mail queues messages for shares sent by email and first-open
	// notices; nil turns sharing by email off (recipients are refused).
	Mail *mail.Mailer
	// Deliveries reads the mail queue for the shares API; nil with Mail.
	Deliveries *mail.Deliveries
	// Scoped signs the URLs of links made under a grant, each with a
	// session whose policy allows only that grant's bucket and prefix; nil
	// leaves them to Signer (tests whose STS is a fake).
	Scoped *sts.ScopedSigner
	// Grants reads the grants that decide what sharers may share; nil
	// means a store on AuditDB.
	Grants *grants.Store
	// MailQuota bounds the share messages one person may queue in 24
	// hours; 0 means no quota.
	MailQuota int
	// People reads the people who sign in through the identity provider;
	// nil means a store on AuditDB.
	People *people.Store
	// OIDC signs people in to the console through the organisation's
	// identity provider (an *oidc.Provider); nil offers no such sign-in.
	OIDC RelyingParty
}

// New returns a Server. It returns an error naming the first bad setting.
func New(cfg Config, d Deps) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if d.Links == nil || d.Tokens == nil || d.Audit == nil || d.Signer == nil || d.Metrics == nil || d.Gatherer == nil {
		return nil, errors.New("server: missing dependency")
	}
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	if d.Clock == nil {
		d.Clock = time.Now
	}
	if d.HTTPClient == nil {
		d.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	s := &Server{cfg: cfg, links: d.Links, tokens: d.Tokens, audit: d.Audit, signer: d.Signer,
		metrics: d.Metrics, gatherer: d.Gatherer, log: d.Logger, now: d.Clock, client: d.HTTPClient}
	s.limits = newLimiters(cfg, d.Clock)
	s.ipSource = clientip.NewResolver(cfg.TrustedProxies)
	s.health = d.Health
	s.auditDB, s.checkpointer, s.flood = d.AuditDB, d.Checkpointer, d.Flood
	if d.AuditDB != nil {
		s.verifier = audit.NewVerifier(d.AuditDB)
	}
	s.scoped = d.Scoped
	s.longReads = make(chan struct{}, maxLongReads)
	s.mail, s.deliveries = d.Mail, d.Deliveries
	if s.cfg.MaxRecipients <= 0 {
		s.cfg.MaxRecipients = 50
	}
	s.sessions = web.NewSessions(d.AuditDB, maxSessions, sessionTTL, d.Clock)
	if d.OIDC != nil {
		if d.AuditDB == nil {
			return nil, errors.New("server: sign-in through the identity provider needs the database")
		}
		if err := s.cfg.OIDC.validate(); err != nil {
			return nil, err
		}
		s.rp = d.OIDC
	}
	if d.Grants == nil && d.AuditDB != nil {
		d.Grants = grants.NewStore(d.AuditDB)
	}
	if d.People == nil && d.AuditDB != nil {
		d.People = people.NewStore(d.AuditDB)
	}
	s.people = d.People
	a, err := app.New(app.Config{Links: cfg.limits(), MaxRecipients: s.cfg.MaxRecipients, MailQuota: d.MailQuota,
		PersonalTokenMaxLifetime: cfg.PersonalTokenMaxLifetime}, app.Deps{
		Links: d.Links, Tokens: d.Tokens, Audit: d.Audit, Signer: d.Signer, Scoped: d.Scoped, Grants: d.Grants, People: d.People,
		Mail: d.Mail, Deliveries: d.Deliveries,
		HTTPClient: d.HTTPClient, Clock: d.Clock, OnKillSwitch: s.setSuspended,
	})
	if err != nil {
		return nil, err
	}
	s.app = a
	s.handler = s.routes()
	return s, nil
}

// App returns the verbs the server serves, for callers outside HTTP (the
// configured default grant at start).
func (s *Server) App() *app.App { return s.app }

// Router returns the route table, for tests that check it against the
// OpenAPI document.
func (s *Server) Router() http.Handler { return s.handler }

// ServeHTTP serves a request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }

// ShortURL returns the public URL that opens a link with code.
func (s *Server) ShortURL(kind links.Kind, code string) string {
	if kind == links.KindUpload {
		return s.cfg.PublicURL + "/u/" + code
	}
	return s.cfg.PublicURL + "/s/" + code
}
