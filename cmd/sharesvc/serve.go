package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	awssts "github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/sharesvc/sharesvc/internal/audit"
	"github.com/sharesvc/sharesvc/internal/auth"
	"github.com/sharesvc/sharesvc/internal/clientip"
	"github.com/sharesvc/sharesvc/internal/db"
	"github.com/sharesvc/sharesvc/internal/health"
	"github.com/sharesvc/sharesvc/internal/links"
	"github.com/sharesvc/sharesvc/internal/logbuf"
	"github.com/sharesvc/sharesvc/internal/mail"
	"github.com/sharesvc/sharesvc/internal/metrics"
	"github.com/sharesvc/sharesvc/internal/ratelimit"
	"github.com/sharesvc/sharesvc/internal/server"
	"github.com/sharesvc/sharesvc/internal/sts"
)

// serveSettings are the serve command's settings. Each flag defaults from
// the environment variable named in its usage.
type serveSettings struct {
	Listen          string
	DB              string
	PublicURL       string
	RoleARN         string
	Bucket          string
	PresignTTL      time.Duration
	MaxPresignTTL   time.Duration
	Lifetime        time.Duration
	MaxLifetime     time.Duration
	MaxUses         int
	PathStyle       bool
	SessionDuration time.Duration
	SessionName     string
	LogFormat       string
	LogLevel        string
	RateIP          ratelimit.Limit
	RateMiss        ratelimit.Limit
	RateLink        ratelimit.Limit
	RateToken       ratelimit.Limit
	TrustedProxies  []netip.Prefix
	MetricsListen   string
	DebugListen     string
	CanaryBucket    string
	CanaryKey       string
	CanaryInterval  time.Duration
	Audit           auditSettings
	Mail            mailSettings
}

// flagSource registers flags whose defaults come from the environment and
// remembers which environment values failed to parse.
type flagSource struct {
	fs     *flag.FlagSet
	getenv func(string) string
	errs   []error
}

func (f *flagSource) str(p *string, name, env, def, usage string) {
	if v := f.getenv(env); v != "" {
		def = v
	}
	f.fs.StringVar(p, name, def, usage+" ($"+env+")")
}

func (f *flagSource) dur(p *time.Duration, name, env string, def time.Duration, usage string) {
	if v := f.getenv(env); v != "" {
		d, err := parseDuration(v)
		if err != nil {
			f.errs = append(f.errs, fmt.Errorf("$%s: %w", env, err))
		} else {
			def = d
		}
	}
	f.fs.Var((*durationFlag)(p), name, usage+" ($"+env+", e.g. 60s, 15m, 24h; a bare number is seconds)")
	*p = def
}

func (f *flagSource) int(p *int, name, env string, def int, usage string) {
	if v := f.getenv(env); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			f.errs = append(f.errs, fmt.Errorf("$%s: %q is not an integer", env, v))
		} else {
			def = n
		}
	}
	f.fs.IntVar(p, name, def, usage+" ($"+env+")")
}

func (f *flagSource) bool(p *bool, name, env string, def bool, usage string) {
	if v := f.getenv(env); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			f.errs = append(f.errs, fmt.Errorf("$%s: %q is not true or false", env, v))
		} else {
			def = b
		}
	}
	f.fs.BoolVar(p, name, def, usage+" ($"+env+")")
}

func (f *flagSource) limit(p *ratelimit.Limit, name, env, def, usage string) {
	if v := f.getenv(env); v != "" {
		def = v
	}
	l, err := ratelimit.ParseLimit(def)
	if err != nil {
		f.errs = append(f.errs, fmt.Errorf("$%s: %w", env, err))
	}
	*p = l
	f.fs.Var((*limitFlag)(p), name, usage+" ($"+env+`, e.g. "10/s burst 20", "600/m" or "off")`)
}

func (f *flagSource) prefixes(p *[]netip.Prefix, name, env, usage string) {
	if v := f.getenv(env); v != "" {
		ps, err := clientip.ParsePrefixes(v)
		if err != nil {
			f.errs = append(f.errs, fmt.Errorf("$%s: %w", env, err))
		}
		*p = ps
	}
	f.fs.Var((*prefixesFlag)(p), name, usage+" ($"+env+", e.g. 10.0.0.0/8,192.0.2.7)")
}

// limitFlag reads a rate limit (see ratelimit.ParseLimit).
type limitFlag ratelimit.Limit

func (l *limitFlag) String() string { return ratelimit.Limit(*l).String() }
func (l *limitFlag) Set(s string) error {
	v, err := ratelimit.ParseLimit(s)
	if err != nil {
		return err
	}
	*l = limitFlag(v)
	return nil
}

// prefixesFlag reads a list of CIDR prefixes.
type prefixesFlag []netip.Prefix

func (p *prefixesFlag) String() string {
	var ss []string
	for _, x := range *p {
		ss = append(ss, x.String())
	}
	return strings.Join(ss, ",")
}
func (p *prefixesFlag) Set(s string) error {
	v, err := clientip.ParsePrefixes(s)
	if err != nil {
		return err
	}
	*p = v
	return nil
}

// durationFlag accepts Go durations and bare seconds.
type durationFlag time.Duration

func (d *durationFlag) String() string { return time.Duration(*d).String() }
func (d *durationFlag) Set(s string) error {
	v, err := parseDuration(s)
	if err != nil {
		return err
	}
	*d = durationFlag(v)
	return nil
}

func parseDuration(s string) (time.Duration, error) {
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		if n < 0 || n > int64(100*365*24*time.Hour/time.Second) {
			return 0, fmt.Errorf("%q is out of range", s)
		}
		return time.Duration(n) * time.Second, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("%q is not a duration (try 60s, 15m or 24h)", s)
	}
	return d, nil
}

func serveFlags(args []string, getenv func(string) string, stderr io.Writer) (*serveSettings, error) {
	var s serveSettings
	f := newFlags("serve", getenv, stderr)
	f.str(&s.Listen, "listen", "SHARESVC_LISTEN", "127.0.0.1:8080", "address to listen on")
	f.str(&s.DB, "db", "SHARESVC_DB", "sharesvc.db", "SQLite database file")
	f.str(&s.PublicURL, "public-url", "SHARESVC_PUBLIC_URL", "", "base of short URLs (default http://LISTEN)")
	f.str(&s.RoleARN, "role-arn", "SHARESVC_ROLE_ARN", "", "IAM role assumed to sign URLs (required)")
	f.str(&s.Bucket, "bucket", "SHARESVC_BUCKET", "", "default bucket for new links")
	f.dur(&s.PresignTTL, "presign-ttl", "SHARESVC_PRESIGN_TTL", 60*time.Second, "default lifetime of each presigned URL")
	f.dur(&s.MaxPresignTTL, "max-presign-ttl", "SHARESVC_MAX_PRESIGN_TTL", 5*time.Minute, "maximum presign TTL a link may ask for")
	f.dur(&s.Lifetime, "link-lifetime", "SHARESVC_LINK_LIFETIME", 7*24*time.Hour, "default lifetime of a link")
	f.dur(&s.MaxLifetime, "max-link-lifetime", "SHARESVC_MAX_LINK_LIFETIME", 90*24*time.Hour, "maximum lifetime of a link")
	f.int(&s.MaxUses, "max-uses", "SHARESVC_MAX_USES", 0, "maximum use cap a link may ask for (0: no maximum)")
	f.bool(&s.PathStyle, "s3-path-style", "SHARESVC_S3_PATH_STYLE", false, "address buckets as http://endpoint/bucket/key")
	f.dur(&s.SessionDuration, "session-duration", "SHARESVC_SESSION_DURATION", 15*time.Minute, "AssumeRole DurationSeconds (900s to the role's maximum)")
	f.str(&s.SessionName, "session-name", "SHARESVC_SESSION_NAME", sts.DefaultSessionName(), "AssumeRole RoleSessionName, shown in CloudTrail")
	f.str(&s.LogFormat, "log-format", "SHARESVC_LOG_FORMAT", "text", "log format: text or json")
	f.str(&s.LogLevel, "log-level", "SHARESVC_LOG_LEVEL", "info", "log level: debug, info, warn or error")
	f.limit(&s.RateIP, "rate-ip", "SHARESVC_RATE_IP", "10/s burst 50", "requests per client address (IPv6: per /64) on the public routes")
	f.limit(&s.RateMiss, "rate-miss", "SHARESVC_RATE_MISS", "20/m burst 20", "unknown codes looked up per client address")
	f.limit(&s.RateLink, "rate-link", "SHARESVC_RATE_LINK", "2/s burst 60", "URLs minted per link")
	f.limit(&s.RateToken, "rate-token", "SHARESVC_RATE_TOKEN", "20/s burst 100", "API requests per token")
	f.prefixes(&s.TrustedProxies, "trusted-proxies", "SHARESVC_TRUSTED_PROXIES", "proxies whose X-Forwarded-For is believed (default none)")
	f.str(&s.MetricsListen, "metrics-listen", "SHARESVC_METRICS_LISTEN", defaultMetricsListen, "private address for /metrics and the readiness report (/readyz), never the public one; off for none")
	f.str(&s.DebugListen, "debug-listen", "SHARESVC_DEBUG_LISTEN", "", "serve Go's profiler (/debug/pprof/) on this private address; off by default")
	f.str(&s.CanaryBucket, "canary-bucket", "SHARESVC_CANARY_BUCKET", "", "bucket of the canary object (with -canary-key)")
	f.str(&s.CanaryKey, "canary-key", "SHARESVC_CANARY_KEY", "", "key of a small object the role may read; enables the canary")
	f.dur(&s.CanaryInterval, "canary-interval", "SHARESVC_CANARY_INTERVAL", time.Minute, "time between canary runs")
	s.Audit.register(f)
	s.Mail.register(f)
	if err := f.fs.Parse(args); err != nil {
		return nil, err
	}
	if f.fs.NArg() > 0 {
		return nil, fmt.Errorf("serve: unexpected argument %q", f.fs.Arg(0))
	}
	if len(f.errs) > 0 {
		return nil, errors.Join(f.errs...)
	}
	return &s, s.validate()
}

// defaultMetricsListen is where the metrics and the readiness report are
// served unless told otherwise: loopback only, and not 9090, which a
// Prometheus on the same host listens on itself.
const defaultMetricsListen = "127.0.0.1:9464"

// signMargin is how long before its session every URL expires.
const signMargin = 15 * time.Second

func (s *serveSettings) validate() error {
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
	if s.PublicURL == "" {
		s.PublicURL = "http://" + s.Listen
	}
	return nil
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
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return cfg, fmt.Errorf("load AWS configuration: %w", err)
	}
	if cfg.Region == "" {
		return cfg, errors.New("AWS region is not set: set AWS_REGION (or a region in the shared AWS config)")
	}
	return cfg, nil
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
	// metricsLn, when set, serves the operators' routes (/metrics, the
	// readiness report) apart from the public listener.
	metricsLn net.Listener
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
	presigner, err := sts.NewPresigner(endpoint(getenv, "S3"), awsCfg.Region, s.PathStyle)
	if err != nil {
		return nil, fmt.Errorf("AWS_ENDPOINT_URL_S3: %w", err)
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
	signer = sts.NewSigner(&sts.AssumeRole{
		Client: stsClient, RoleARN: s.RoleARN, SessionName: s.SessionName, Duration: s.SessionDuration,
	}, presigner, sts.SignerOptions{
		Margin:       signMargin,
		RefreshAhead: s.MaxPresignTTL + signMargin + time.Minute,
		OnRefresh:    m.ObserveSTSRefresh,
	})

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
	hc, err = health.New(health.Options{
		DB: d.Read, Signer: signer, Audit: log, Canary: canary, MinSessionLeft: s.MaxPresignTTL + signMargin,
		CacheFor: time.Second, Metrics: m, Logger: logger.With("component", "health"),
	})
	if err != nil {
		return nil, err
	}
	srv, err := server.New(server.Config{
		PublicURL: s.PublicURL, DefaultBucket: s.Bucket,
		DefaultLifetime: s.Lifetime, MaxLifetime: s.MaxLifetime,
		DefaultPresignTTL: s.PresignTTL, MaxPresignTTL: s.MaxPresignTTL, MaxUses: s.MaxUses,
		TrustedProxies: s.TrustedProxies, RateIP: s.RateIP, RateMiss: s.RateMiss, RateLink: s.RateLink,
		RateToken: s.RateToken, MaxRecipients: s.Mail.MaxRecipients,
	}, server.Deps{
		Links: store, Tokens: auth.NewStore(d.Read), Audit: log, Signer: signer,
		Metrics: m, Gatherer: reg, Logger: logger, Health: hc,
		AuditDB: d.Read, Checkpointer: aud.checkpointer, Flood: aud.flood,
		Mail: mailer, Deliveries: mail.NewDeliveries(d.Read),
	})
	if err != nil {
		return nil, fmt.Errorf("configuration: %w", err)
	}
	pctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if err := signer.Prime(pctx); err != nil {
		return nil, fmt.Errorf("get a first STS session for %s: %w", s.RoleARN, err)
	}
	return &service{db: d, audit: log, handler: srv, log: logger, canary: canary, auditJobs: aud, mailer: mailer}, nil
}

// close flushes the audit writer and closes the database.
func (svc *service) close() error {
	return errors.Join(svc.audit.Close(), svc.db.Close())
}

// serve answers on ln (and on svc.metricsLn, if set) until ctx ends, then
// drains in-flight requests, stops the canary, flushes the audit writer and
// closes the database.
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
	wg.Go(func() { svc.auditJobs.run(bg, svc.audit, svc.db.Read, svc.log) })
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
		sctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		err = hs.Shutdown(sctx)
		cancel()
	}
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	stopBG() // the background jobs and the metrics listener
	wg.Wait()
	return errors.Join(err, svc.close())
}

func runServe(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	s, err := serveFlags(args, getenv, stderr)
	if err != nil {
		return err
	}
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
	svc.log.Info("listening", "addr", ln.Addr().String(), "public_url", s.PublicURL, "db", s.DB, "role_arn", s.RoleARN)
	return svc.serve(ctx, ln)
}
