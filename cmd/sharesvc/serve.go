package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	awssts "github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/sharesvc/sharesvc/internal/app"
	"github.com/sharesvc/sharesvc/internal/audit"
	"github.com/sharesvc/sharesvc/internal/auth"
	"github.com/sharesvc/sharesvc/internal/db"
	"github.com/sharesvc/sharesvc/internal/duration"
	"github.com/sharesvc/sharesvc/internal/grants"
	"github.com/sharesvc/sharesvc/internal/health"
	"github.com/sharesvc/sharesvc/internal/janitor"
	"github.com/sharesvc/sharesvc/internal/links"
	"github.com/sharesvc/sharesvc/internal/logbuf"
	"github.com/sharesvc/sharesvc/internal/mail"
	"github.com/sharesvc/sharesvc/internal/metrics"
	"github.com/sharesvc/sharesvc/internal/ratelimit"
	"github.com/sharesvc/sharesvc/internal/server"
	"github.com/sharesvc/sharesvc/internal/sts"
)

// serveSettings are the serve command's settings. Each flag defaults from
// the environment variable named in its envvar tag.
type serveSettings struct {
	Listen          string          `name:"listen" envvar:"SHARESVC_LISTEN" default:"127.0.0.1:8080" help:"Address to listen on."`
	DB              string          `name:"db" envvar:"SHARESVC_DB" default:"sharesvc.db" help:"SQLite database file, or a postgres:// URL for several instances on one database."`
	PublicURL       string          `name:"public-url" envvar:"SHARESVC_PUBLIC_URL" placeholder:"URL" help:"Base of short URLs (default http://LISTEN)."`
	RoleARN         string          `name:"role-arn" envvar:"SHARESVC_ROLE_ARN" placeholder:"ARN" help:"IAM role assumed to sign URLs (required)."`
	Bucket          string          `name:"bucket" envvar:"SHARESVC_BUCKET" placeholder:"BUCKET" help:"Default bucket for new links."`
	PresignTTL      time.Duration   `name:"presign-ttl" envvar:"SHARESVC_PRESIGN_TTL" default:"60s" help:"Default lifetime of each presigned URL (e.g. 60s, 15m, 24h, 3d, 1w; a bare number is seconds)."`
	MaxPresignTTL   time.Duration   `name:"max-presign-ttl" envvar:"SHARESVC_MAX_PRESIGN_TTL" default:"5m" help:"Maximum presign TTL a link may ask for."`
	Lifetime        time.Duration   `name:"link-lifetime" envvar:"SHARESVC_LINK_LIFETIME" default:"168h" help:"Default lifetime of a link."`
	MaxLifetime     time.Duration   `name:"max-link-lifetime" envvar:"SHARESVC_MAX_LINK_LIFETIME" default:"2160h" help:"Maximum lifetime of a link."`
	MaxOwnTokenLife time.Duration   `name:"personal-token-max-lifetime" envvar:"SHARESVC_PERSONAL_TOKEN_MAX_LIFETIME" default:"90d" help:"Longest lifetime of the API tokens people mint for their own scripts (console \"Your API tokens\", /api/v1/me/tokens)."`
	MaxUses         int             `name:"max-uses" envvar:"SHARESVC_MAX_USES" default:"0" help:"Maximum use cap a link may ask for (0: no maximum)."`
	PathStyle       bool            `name:"s3-path-style" envvar:"SHARESVC_S3_PATH_STYLE" help:"Address buckets as http://endpoint/bucket/key."`
	SessionDuration time.Duration   `name:"session-duration" envvar:"SHARESVC_SESSION_DURATION" default:"15m" help:"AssumeRole DurationSeconds (900s to the role's maximum)."`
	SessionName     string          `name:"session-name" envvar:"SHARESVC_SESSION_NAME" default:"${session_name}" help:"AssumeRole RoleSessionName, shown in CloudTrail."`
	LogFormat       string          `name:"log-format" envvar:"SHARESVC_LOG_FORMAT" default:"text" help:"Log format: text or json."`
	LogLevel        string          `name:"log-level" envvar:"SHARESVC_LOG_LEVEL" default:"info" help:"Log level: debug, info, warn or error."`
	RateIP          ratelimit.Limit `name:"rate-ip" envvar:"SHARESVC_RATE_IP" default:"10/s burst 50" help:"Requests per client address (IPv6: per /64) on the public routes (e.g. \"10/s burst 20\", \"600/m\" or \"off\")."`
	RateMiss        ratelimit.Limit `name:"rate-miss" envvar:"SHARESVC_RATE_MISS" default:"20/m burst 20" help:"Unknown codes looked up per client address."`
	RateLink        ratelimit.Limit `name:"rate-link" envvar:"SHARESVC_RATE_LINK" default:"2/s burst 60" help:"URLs minted per link."`
	RateToken       ratelimit.Limit `name:"rate-token" envvar:"SHARESVC_RATE_TOKEN" default:"20/s burst 100" help:"API requests per token."`
	Instances       int             `name:"instances" envvar:"SHARESVC_INSTANCES" default:"1" help:"How many instances serve behind one balancer: each applies 1/N of every --rate-* limit (rate, and burst rounded up), so that together they stay within it."`
	TrustedProxies  []netip.Prefix  `name:"trusted-proxies" envvar:"SHARESVC_TRUSTED_PROXIES" placeholder:"PREFIXES" help:"Proxies whose X-Forwarded-For is believed, e.g. 10.0.0.0/8,192.0.2.7 (default none)."`
	MetricsListen   string          `name:"metrics-listen" envvar:"SHARESVC_METRICS_LISTEN" default:"127.0.0.1:9464" placeholder:"ADDR" help:"Private address for /metrics and the readiness report (/readyz), never the public one; off for none."`
	DebugListen     string          `name:"debug-listen" envvar:"SHARESVC_DEBUG_LISTEN" placeholder:"ADDR" help:"Serve Go's profiler (/debug/pprof/) on this private address; off by default."`
	CanaryBucket    string          `name:"canary-bucket" envvar:"SHARESVC_CANARY_BUCKET" placeholder:"BUCKET" help:"Bucket of the canary object (with --canary-key)."`
	CanaryKey       string          `name:"canary-key" envvar:"SHARESVC_CANARY_KEY" placeholder:"KEY" help:"Key of a small object the role may read; enables the canary."`
	CanaryInterval  time.Duration   `name:"canary-interval" envvar:"SHARESVC_CANARY_INTERVAL" default:"1m" help:"Time between canary runs."`
	DefaultGrant    string          `name:"default-grant" envvar:"SHARESVC_DEFAULT_GRANT" placeholder:"SPEC" help:"A grant for every sharer, created once (audited) at start unless it exists, e.g. \"prefix=home/{person}/ actions=download,upload,email\" (keys: bucket, prefix, actions, max_lifetime, max_uses, max_presign_ttl, domains). Without any grant sharers can create no link."`
	ShutdownDrain   time.Duration   `name:"shutdown-drain" envvar:"SHARESVC_SHUTDOWN_DRAIN" default:"5s" help:"On SIGTERM or Ctrl-C, how long /readyz answers 503 while requests are still served, so that load balancers stop sending any, before the server stops (0: stop at once)."`
	MailQuota       int             `name:"mail-quota" envvar:"SHARESVC_MAIL_QUOTA" default:"200" help:"Share messages one person may queue in 24 hours (0: no quota)."`
	Audit           auditSettings   `embed:"" group:"Audit"`
	Anchor          anchorSettings  `embed:"" group:"Audit anchor"`
	Mail            mailSettings    `embed:"" group:"Mail"`
	OIDC            oidcSettings    `embed:"" group:"Console sign-in"`

	defaultGrant *grants.Grant // DefaultGrant, parsed by validate
}

// serveCmd is "sharesvc serve".
type serveCmd struct {
	serveSettings
}

func (c *serveCmd) Run(e *runEnv) error {
	if err := c.prepare(e.getenv); err != nil {
		return err
	}
	return runServe(e.ctx, &c.serveSettings, e.getenv, e.stderr)
}

// serveFlags parses serve's command line with its variables from getenv and
// checks the settings.
func serveFlags(args []string, getenv func(string) string, stderr io.Writer) (*serveSettings, error) {
	var c cli
	p, err := newParser(&c, getenv, io.Discard, stderr)
	if err != nil {
		return nil, err
	}
	if _, _, err := parse(p, append([]string{"serve"}, args...)); err != nil {
		return nil, err
	}
	s := &c.Serve.serveSettings
	return s, s.prepare(getenv)
}

// prepare reads the settings that are never flags and checks them all.
func (s *serveSettings) prepare(getenv func(string) string) error {
	s.Mail.password = getenv("SHARESVC_SMTP_PASSWORD")
	s.Anchor.readEnv(getenv)
	return s.validate()
}

// parseDuration reads every time.Duration flag: a Go duration, whole days
// and weeks (3d, 1w, 1d12h), or a bare number of seconds.
func parseDuration(s string) (time.Duration, error) {
	d, err := duration.Parse(s)
	if err != nil {
		return 0, err
	}
	if d > 100*365*duration.Day {
		return 0, fmt.Errorf("%q is out of range (at most 100 years)", s)
	}
	return d, nil
}

// maxInstances bounds --instances: far beyond any deployment, and small
// enough that a mistyped count is refused rather than turning every
// limit into a burst of 1.
const maxInstances = 1000

// signMargin is how long before its session every URL expires.
const signMargin = 15 * time.Second

func (s *serveSettings) validate() error {
	if s.DefaultGrant != "" {
		g, err := grants.ParseDefault(s.DefaultGrant, s.Bucket)
		if err != nil {
			return fmt.Errorf("-default-grant ($SHARESVC_DEFAULT_GRANT): %w", err)
		}
		s.defaultGrant = g
	}
	if s.ShutdownDrain < 0 || s.ShutdownDrain > 5*time.Minute {
		return fmt.Errorf("-shutdown-drain ($SHARESVC_SHUTDOWN_DRAIN) %s must be between 0 and 5m", s.ShutdownDrain)
	}
	if s.Instances < 1 || s.Instances > maxInstances {
		return fmt.Errorf("-instances ($SHARESVC_INSTANCES) %d must be between 1 and %d", s.Instances, maxInstances)
	}
	if s.MaxOwnTokenLife < time.Hour {
		return fmt.Errorf("-personal-token-max-lifetime ($SHARESVC_PERSONAL_TOKEN_MAX_LIFETIME) %s must be at least 1h", s.MaxOwnTokenLife)
	}
	if s.MailQuota < 0 {
		return fmt.Errorf("-mail-quota ($SHARESVC_MAIL_QUOTA) %d must not be negative (0 turns the quota off)", s.MailQuota)
	}
	switch {
	case s.RoleARN == "":
		return errors.New("-role-arn ($SHARESVC_ROLE_ARN) is required: the IAM role sharesvc assumes to sign URLs")
	case !strings.HasPrefix(s.RoleARN, "arn:"):
		return fmt.Errorf("-role-arn ($SHARESVC_ROLE_ARN) %q is not an ARN", s.RoleARN)
	case s.SessionDuration < 15*time.Minute || s.SessionDuration > 12*time.Hour:
		return fmt.Errorf("-session-duration ($SHARESVC_SESSION_DURATION) %s must be between 15m and 12h (AssumeRole's bounds)", s.SessionDuration)
	case s.SessionDuration%time.Second != 0:
		return fmt.Errorf("-session-duration ($SHARESVC_SESSION_DURATION) %s must be whole seconds", s.SessionDuration)
	case s.MaxPresignTTL > s.SessionDuration/2:
		return fmt.Errorf("-max-presign-ttl ($SHARESVC_MAX_PRESIGN_TTL) %s must be at most half of -session-duration %s, so that a refreshed session always covers a URL", s.MaxPresignTTL, s.SessionDuration)
	case s.LogFormat != "text" && s.LogFormat != "json":
		return fmt.Errorf("-log-format ($SHARESVC_LOG_FORMAT) %q must be text or json", s.LogFormat)
	case sts.SanitizeSessionName(s.SessionName) != s.SessionName:
		return fmt.Errorf("-session-name ($SHARESVC_SESSION_NAME) %q must be 2-64 characters of [A-Za-z0-9_+=,.@-]", s.SessionName)
	}
	if _, _, err := net.SplitHostPort(s.Listen); err != nil {
		return fmt.Errorf("-listen ($SHARESVC_LISTEN) %q must be host:port", s.Listen)
	}
	if s.MetricsListen != "off" {
		_, port, err := net.SplitHostPort(s.MetricsListen)
		if err != nil {
			return fmt.Errorf("-metrics-listen ($SHARESVC_METRICS_LISTEN) %q must be host:port or off", s.MetricsListen)
		}
		if s.MetricsListen == s.Listen && port != "0" {
			return fmt.Errorf("-metrics-listen ($SHARESVC_METRICS_LISTEN) %q must differ from -listen", s.MetricsListen)
		}
	}
	if (s.CanaryBucket == "") != (s.CanaryKey == "") {
		return errors.New("-canary-bucket ($SHARESVC_CANARY_BUCKET) and -canary-key ($SHARESVC_CANARY_KEY) must be set together")
	}
	if s.CanaryKey != "" && s.CanaryInterval < time.Second {
		return fmt.Errorf("-canary-interval ($SHARESVC_CANARY_INTERVAL) %s must be at least 1s", s.CanaryInterval)
	}
	if err := s.Mail.validate(); err != nil {
		return err
	}
	if err := s.Anchor.validate(); err != nil {
		return err
	}
	if s.PublicURL == "" {
		s.PublicURL = "http://" + s.Listen
	}
	return s.OIDC.validate(s.PublicURL)
}

func newLogger(s *serveSettings, w io.Writer) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(s.LogLevel)); err != nil {
		return nil, fmt.Errorf("-log-level ($SHARESVC_LOG_LEVEL) %q must be debug, info, warn or error", s.LogLevel)
	}
	o := &slog.HandlerOptions{Level: level}
	if s.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, o)), nil
	}
	return slog.New(slog.NewTextHandler(w, o)), nil
}

// awsConfig loads the default credential chain, taking AWS_* settings from
// getenv so that they can be given without touching the process environment.
func awsConfig(ctx context.Context, getenv func(string) string) (aws.Config, error) {
	var opts []func(*config.LoadOptions) error
	if r := getenv("AWS_REGION"); r != "" {
		opts = append(opts, config.WithRegion(r))
	}
	if ak, sk := getenv("AWS_ACCESS_KEY_ID"), getenv("AWS_SECRET_ACCESS_KEY"); ak != "" && sk != "" {
		opts = append(opts, config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider(ak, sk, getenv("AWS_SESSION_TOKEN"))))
	}
	// FIPS and dual-stack endpoints, for every client made from the
	// configuration alike (S3, STS, the presigner).
	if set, on, err := envSwitch(getenv, "AWS_USE_FIPS_ENDPOINT"); err != nil {
		return aws.Config{}, err
	} else if set {
		state := aws.FIPSEndpointStateDisabled
		if on {
			state = aws.FIPSEndpointStateEnabled
		}
		opts = append(opts, config.WithUseFIPSEndpoint(state))
	}
	if set, on, err := envSwitch(getenv, "AWS_USE_DUALSTACK_ENDPOINT"); err != nil {
		return aws.Config{}, err
	} else if set {
		state := aws.DualStackEndpointStateDisabled
		if on {
			state = aws.DualStackEndpointStateEnabled
		}
		opts = append(opts, config.WithUseDualStackEndpoint(state))
	}
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return cfg, fmt.Errorf("load AWS configuration: %w", err)
	}
	if cfg.Region == "" {
		return cfg, errors.New("AWS region is not set: set AWS_REGION (or a region in the shared AWS config)")
	}
	return cfg, nil
}

// envSwitch reads an AWS true/false variable as the SDK does (either case;
// empty is unset).
func envSwitch(getenv func(string) string, name string) (set, on bool, err error) {
	switch v := getenv(name); {
	case v == "":
		return false, false, nil
	case strings.EqualFold(v, "true"):
		return true, true, nil
	case strings.EqualFold(v, "false"):
		return true, false, nil
	}
	return false, false, fmt.Errorf("%s must be true or false", name)
}

func endpoint(getenv func(string) string, service string) string {
	if v := getenv("AWS_ENDPOINT_URL_" + service); v != "" {
		return v
	}
	return getenv("AWS_ENDPOINT_URL")
}

// service is a fully wired sharesvc.
type service struct {
	db        *db.DB
	audit     *audit.Log
	handler   *server.Server
	log       *slog.Logger
	canary    *health.Canary // nil when not configured
	auditJobs *auditSetup
	mailer    *mail.Mailer // nil when sharing by email is off
	health    *health.Checker
	drain     time.Duration // --shutdown-drain
	// metricsLn, when set, serves the operators' routes (/metrics, the
	// readiness report) apart from the public listener.
	metricsLn net.Listener

	janitor *janitor.Janitor // expired rows, on the instance that leads
}

func newService(ctx context.Context, s *serveSettings, getenv func(string) string, logw io.Writer) (_ *service, err error) {
	logger, err := newLogger(s, logw)
	if err != nil {
		return nil, err
	}
	awsCfg, err := awsConfig(ctx, getenv)
	if err != nil {
		return nil, err
	}
	// The presigner addresses S3 exactly as an S3 client made from the same
	// configuration would; settings its endpoint rules refuse stop here.
	presigner, err := sts.NewPresignerFromConfig(awsCfg, func(o *s3.Options) {
		if e := endpoint(getenv, "S3"); e != "" {
			o.BaseEndpoint = aws.String(e)
		}
		o.UsePathStyle = s.PathStyle
	})
	if err != nil {
		return nil, fmt.Errorf("AWS_REGION, AWS_ENDPOINT_URL_S3, AWS_USE_FIPS_ENDPOINT, AWS_USE_DUALSTACK_ENDPOINT: %w", err)
	}
	stsClient := awssts.NewFromConfig(awsCfg, func(o *awssts.Options) {
		if e := endpoint(getenv, "STS"); e != "" {
			o.BaseEndpoint = aws.String(e)
		}
	})
	reg := prometheus.NewRegistry()
	var signer *sts.Signer
	m := metrics.New(reg, func() float64 {
		if c, ok := signer.Session(); ok {
			return max(0, time.Until(c.Expires).Seconds())
		}
		return 0
	})
	role := sts.AssumeRole{Client: stsClient, RoleARN: s.RoleARN, SessionName: s.SessionName, Duration: s.SessionDuration}
	signer = sts.NewSigner(&role, presigner, sts.SignerOptions{
		Margin:       signMargin,
		RefreshAhead: s.MaxPresignTTL + signMargin + time.Minute,
		OnRefresh:    m.ObserveSTSRefresh,
	})
	// Links made under a grant are signed with a session of that grant's
	// alone, whose policy allows only its bucket and prefix.
	scoped := sts.NewScopedSigner(role, presigner, sts.ScopedOptions{Signer: sts.SignerOptions{
		Margin:       signMargin,
		RefreshAhead: s.MaxPresignTTL + signMargin + time.Minute,
		OnRefresh:    m.ObserveScopedRefresh,
	}})
	m.WatchScopedSessions(scoped.Len)

	if err := s.Audit.validate(); err != nil {
		return nil, err
	}
	anchor, err := s.Anchor.build(ctx, awsCfg, getenv, s.PathStyle)
	if err != nil {
		return nil, err
	}
	if anchor != nil {
		s.Audit.anchor = anchor
	}
	// Checkpoints are on whatever the settings: without a configured key,
	// one is made next to the database at first start.
	created, err := s.Audit.defaultCheckpointKey(s.DB)
	if err != nil {
		return nil, fmt.Errorf("-checkpoint-key ($SHARESVC_CHECKPOINT_KEY): %w", err)
	}
	if created {
		logger.Info("created an audit checkpoint key; give verifiers the public key, and keep a copy of it off this host",
			"key_file", s.Audit.CheckpointKey, "public_key_file", s.Audit.CheckpointKey+".pub")
	}
	d, err := db.Open(ctx, s.DB)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			d.Close()
		}
	}()
	aud, err := s.Audit.build(d.Read, s.DB, func() (*s3.Client, error) {
		return s3.NewFromConfig(awsCfg, func(o *s3.Options) {
			if e := endpoint(getenv, "S3"); e != "" {
				o.BaseEndpoint = aws.String(e)
			}
			o.UsePathStyle = s.PathStyle
		}), nil
	})
	if err != nil {
		return nil, err
	}
	if cp := aud.checkpointer; cp != nil {
		m.WatchAuditChain(func() bool { return cp.Broken() != nil })
		if anchor != nil {
			// Anchored checkpoints count even if their files are gone.
			n, err := cp.LoadAnchors(ctx)
			if err != nil {
				return nil, fmt.Errorf("-anchor-bucket ($SHARESVC_ANCHOR_BUCKET) %s: %w", s.Anchor.Bucket, err)
			}
			logger.Info("anchoring audit checkpoints", "component", "audit", "bucket", s.Anchor.Bucket, "anchored", n,
				"retention_s", int64(s.Anchor.Retention/time.Second))
		}
		// A log cut or rewritten while the service was down shows at once
		// (not ready, and no checkpoint signed), not at the next checkpoint.
		switch err := cp.Check(ctx); {
		case errors.Is(err, audit.ErrChainBroken):
			logger.Error("audit log contradicts its latest checkpoint: nothing will be signed until it is investigated", "component", "audit", "err", err)
		case err != nil:
			logger.Error("check the audit log against its latest checkpoint", "component", "audit", "err", err)
		}
	}
	var hc *health.Checker
	log, err := audit.Open(ctx, d.Write, audit.Options{IP: aud.ip, Claim: server.ClaimLinkUses, OnCommit: func(rows int, dur time.Duration, err error) {
		m.ObserveAuditCommit(rows, dur, err)
		hc.ObserveAuditCommit(rows, dur, err)
	}})
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			log.Close()
		}
	}()
	m.WatchAuditQueue(log.QueueDepth)
	store := links.NewStore(d.Read)
	mailer, err := s.Mail.build(d.Read, log, s.PublicURL, logger, store.KillSwitchOn, m.ObserveMail)
	if err != nil {
		return nil, err
	}
	if mailer != nil {
		m.WatchMailQueue(func() (int, error) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			return mailer.QueueDepth(ctx)
		})
	}
	var canary *health.Canary
	if s.CanaryKey != "" {
		canary, err = health.NewCanary(health.CanaryOptions{
			Signer: signer, Bucket: s.CanaryBucket, Key: s.CanaryKey, Interval: s.CanaryInterval,
			Metrics: m, Logger: logger.With("component", "canary"),
		})
		if err != nil {
			return nil, err
		}
	}
	// Ready means a full-length URL can still be signed.
	ho := health.Options{
		DB: d.Read, Signer: signer, Audit: log, Canary: canary, MinSessionLeft: s.MaxPresignTTL + signMargin,
		CacheFor: time.Second, Metrics: m, Logger: logger.With("component", "health"),
	}
	if aud.checkpointer != nil {
		ho.Chain = aud.checkpointer
	}
	hc, err = health.New(ho)
	if err != nil {
		return nil, err
	}
	rp, oidcCfg, err := s.OIDC.build()
	if err != nil {
		return nil, err
	}
	srv, err := server.New(server.Config{
		PublicURL: s.PublicURL, DefaultBucket: s.Bucket,
		DefaultLifetime: s.Lifetime, MaxLifetime: s.MaxLifetime,
		DefaultPresignTTL: s.PresignTTL, MaxPresignTTL: s.MaxPresignTTL, MaxUses: s.MaxUses,
		TrustedProxies: s.TrustedProxies, MaxRecipients: s.Mail.MaxRecipients, PersonalTokenMaxLifetime: s.MaxOwnTokenLife,
		// Buckets live in each instance's memory: with N instances each
		// applies 1/N of every limit (see ratelimit.Limit.PerInstance).
		RateIP: s.RateIP.PerInstance(s.Instances), RateMiss: s.RateMiss.PerInstance(s.Instances),
		RateLink: s.RateLink.PerInstance(s.Instances), RateToken: s.RateToken.PerInstance(s.Instances),
		OIDC: oidcCfg, NoTokenSignIn: !s.OIDC.tokenSignIn, ConsoleSessionTTL: s.OIDC.SessionLifetime,
	}, server.Deps{
		Links: store, Tokens: auth.NewStore(d.Read), Audit: log, Signer: signer, Scoped: scoped,
		Metrics: m, Gatherer: reg, Logger: logger, Health: hc,
		AuditDB: d.Read, Checkpointer: aud.checkpointer, Flood: aud.flood,
		Mail: mailer, Deliveries: mail.NewDeliveries(d.Read), MailQuota: s.MailQuota, OIDC: rp,
	})
	if err != nil {
		return nil, fmt.Errorf("configuration: %w", err)
	}
	if s.Instances > 1 {
		logger.Info("rate limits divided among instances", "instances", s.Instances,
			"ip", s.RateIP.PerInstance(s.Instances).String(), "miss", s.RateMiss.PerInstance(s.Instances).String(),
			"link", s.RateLink.PerInstance(s.Instances).String(), "token", s.RateToken.PerInstance(s.Instances).String())
	}
	if s.defaultGrant != nil {
		g, created, err := srv.App().EnsureGrant(ctx, app.Actor{Name: "sharesvc-config"}, s.defaultGrant)
		if err != nil {
			return nil, fmt.Errorf("default grant: %w", err)
		}
		logger.Info("default grant for every sharer", "grant_id", g.ID, "bucket", g.Bucket, "key_prefix", g.KeyPrefix, "created", created)
	}
	pctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if err := signer.Prime(pctx); err != nil {
		return nil, fmt.Errorf("get a first STS session for %s: %w", s.RoleARN, err)
	}
	return &service{db: d, audit: log, handler: srv, log: logger, canary: canary, auditJobs: aud, mailer: mailer,
		health: hc, drain: s.ShutdownDrain, janitor: janitor.New(d, janitor.Options{Logger: logger, OnDelete: m.ObserveJanitor})}, nil
}

// close flushes the audit writer and closes the database.
func (svc *service) close() error {
	return errors.Join(svc.audit.Close(), svc.db.Close())
}

// shutdownTimeout bounds how long requests in flight may take to finish
// once the server stops accepting.
const shutdownTimeout = 20 * time.Second

// serve answers on ln (and on svc.metricsLn, if set) until ctx ends. Then
// /readyz answers 503 while requests are still served for svc.drain, so
// that load balancers stop sending new ones; the server stops accepting and
// lets those in flight finish (up to shutdownTimeout); the canary, the
// mailer and the metrics listener stop; the audit writer flushes and the
// database closes. Each step is logged.
func (svc *service) serve(ctx context.Context, ln net.Listener) error {
	bg, stopBG := context.WithCancel(context.WithoutCancel(ctx))
	var wg sync.WaitGroup
	if svc.canary != nil {
		wg.Go(func() { svc.canary.Run(bg) })
	}
	if svc.mailer != nil {
		// Stopped with the other background jobs, after the listener has
		// drained and before the audit log closes: a message being sent
		// then is finished and recorded.
		wg.Go(func() { svc.mailer.Run(bg) })
	}
	// Checkpoints, retention, flood summaries.
	wg.Go(func() { svc.auditJobs.run(bg, svc.audit, svc.db, svc.log) })
	wg.Go(func() { svc.janitor.Run(bg) })
	if svc.metricsLn != nil {
		ms := &http.Server{
			Handler: svc.handler.OpsHandler(), ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second,
			WriteTimeout: 30 * time.Second, IdleTimeout: 120 * time.Second, MaxHeaderBytes: 16 << 10,
			ErrorLog: slog.NewLogLogger(svc.log.Handler(), slog.LevelWarn),
		}
		wg.Go(func() {
			if err := ms.Serve(svc.metricsLn); err != nil && !errors.Is(err, http.ErrServerClosed) {
				svc.log.Error("metrics listener failed", "err", err)
			}
		})
		wg.Go(func() {
			<-bg.Done()
			sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			ms.Shutdown(sctx)
			cancel()
		})
	}
	hs := &http.Server{
		Handler:           svc.handler,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          slog.NewLogLogger(svc.log.Handler(), slog.LevelWarn),
	}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	var err error
	select {
	case err = <-errc:
	case <-ctx.Done():
		err = svc.shutdown(hs, errc)
	}
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	start := time.Now()
	stopBG() // the background jobs and the metrics listener
	wg.Wait()
	svc.log.Info("shutdown: background jobs stopped", "duration_ms", time.Since(start).Milliseconds())
	start, queued := time.Now(), svc.audit.QueueDepth()
	aerr := svc.audit.Close()
	svc.log.Info("shutdown: audit flushed", "queued_rows", queued, "duration_ms", time.Since(start).Milliseconds())
	if derr := svc.db.Close(); derr != nil {
		return errors.Join(err, aerr, fmt.Errorf("close the database: %w", derr))
	}
	svc.log.Info("shutdown: done")
	return errors.Join(err, aerr)
}

// shutdown drains hs (serving on errc's Serve) after ctx ended: not ready
// for svc.drain while it still serves, then Shutdown. It returns Serve's or
// Shutdown's error.
func (svc *service) shutdown(hs *http.Server, errc <-chan error) error {
	svc.health.Drain()
	hs.SetKeepAlivesEnabled(false) // clients reconnect, to another instance once the balancer has noticed
	svc.log.Info("shutdown: draining", "drain_ms", svc.drain.Milliseconds())
	t := time.NewTimer(svc.drain)
	defer t.Stop()
	select {
	case err := <-errc:
		return err
	case <-t.C:
	}
	start := time.Now()
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil {
		return fmt.Errorf("requests still in flight after %s: %w", shutdownTimeout, err)
	}
	svc.log.Info("shutdown: server stopped", "duration_ms", time.Since(start).Milliseconds())
	return nil
}

func runServe(ctx context.Context, s *serveSettings, getenv func(string) string, stderr io.Writer) error {
	// With a single P (Go sets GOMAXPROCS from a 1-CPU container limit or
	// affinity mask), the audit writer blocked in fsync holds the only P and
	// every request waits until the runtime takes it back; two Ps on one
	// core measured about 3x the throughput of one.
	if runtime.GOMAXPROCS(0) < 2 {
		runtime.GOMAXPROCS(2)
	}
	// Log lines are written out in batches (see internal/logbuf): one
	// write(2) per request line measured about 5% of the redirect path.
	logw := logbuf.New(stderr)
	defer logw.Close()
	svc, err := newService(ctx, s, getenv, logw)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", s.Listen)
	if err != nil {
		svc.close()
		return fmt.Errorf("-listen ($SHARESVC_LISTEN): %w", err)
	}
	if s.MetricsListen != "off" {
		if svc.metricsLn, err = net.Listen("tcp", s.MetricsListen); err != nil {
			ln.Close()
			svc.close()
			return fmt.Errorf("-metrics-listen ($SHARESVC_METRICS_LISTEN): %w", err)
		}
		svc.log.Info("metrics listening", "addr", svc.metricsLn.Addr().String())
	}
	if s.DebugListen != "" {
		if err := serveDebug(ctx, s.DebugListen, svc.log); err != nil {
			ln.Close()
			svc.close()
			return fmt.Errorf("-debug-listen ($SHARESVC_DEBUG_LISTEN): %w", err)
		}
	}
	svc.log.Info("listening", "addr", ln.Addr().String(), "public_url", s.PublicURL, "db", db.Redact(s.DB), "role_arn", s.RoleARN)
	return svc.serve(ctx, ln)
}
