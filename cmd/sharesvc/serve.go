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
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awssts "github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/sharesvc/sharesvc/internal/audit"
	"github.com/sharesvc/sharesvc/internal/auth"
	"github.com/sharesvc/sharesvc/internal/db"
	"github.com/sharesvc/sharesvc/internal/links"
	"github.com/sharesvc/sharesvc/internal/metrics"
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
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	f := &flagSource{fs: fs, getenv: getenv}
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
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("serve: unexpected argument %q", fs.Arg(0))
	}
	if len(f.errs) > 0 {
		return nil, errors.Join(f.errs...)
	}
	return &s, s.validate()
}

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
	db       *db.DB
	audit    *audit.Log
	signer   *sts.Signer
	handler  *server.Server
	log      *slog.Logger
	settings *serveSettings
}

func newService(ctx context.Context, s *serveSettings, getenv func(string) string, logw io.Writer) (*service, error) {
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
	log, err := audit.Open(ctx, d.Write, audit.Options{OnCommit: m.ObserveAuditCommit})
	if err != nil {
		d.Close()
		return nil, err
	}
	srv, err := server.New(server.Config{
		PublicURL: s.PublicURL, DefaultBucket: s.Bucket,
		DefaultLifetime: s.Lifetime, MaxLifetime: s.MaxLifetime,
		DefaultPresignTTL: s.PresignTTL, MaxPresignTTL: s.MaxPresignTTL, MaxUses: s.MaxUses,
	}, server.Deps{
		Links: links.NewStore(d.Read), Tokens: auth.NewStore(d.Read), Audit: log, Signer: signer,
		Metrics: m, Gatherer: reg, Logger: logger,
	})
	if err != nil {
		log.Close()
		d.Close()
		return nil, fmt.Errorf("configuration: %w", err)
	}
	pctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if err := signer.Prime(pctx); err != nil {
		log.Close()
		d.Close()
		return nil, fmt.Errorf("get a first STS session for %s: %w", s.RoleARN, err)
	}
	return &service{db: d, audit: log, signer: signer, handler: srv, log: logger, settings: s}, nil
}

// serve answers on ln until ctx ends, then drains in-flight requests,
// flushes the audit writer and closes the database.
func (svc *service) serve(ctx context.Context, ln net.Listener) error {
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
	return errors.Join(err, svc.audit.Close(), svc.db.Close())
}

func runServe(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	s, err := serveFlags(args, getenv, stderr)
	if err != nil {
		return err
	}
	svc, err := newService(ctx, s, getenv, stderr)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", s.Listen)
	if err != nil {
		svc.audit.Close()
		svc.db.Close()
		return fmt.Errorf("-listen ($SHARESVC_LISTEN): %w", err)
	}
	svc.log.Info("listening", "addr", ln.Addr().String(), "public_url", s.PublicURL, "db", s.DB, "role_arn", s.RoleARN)
	return svc.serve(ctx, ln)
}
