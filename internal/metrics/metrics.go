// Package metrics defines sharesvc's Prometheus collectors. Labels are
// bounded: route templates, methods, status classes, outcomes and reasons —
// never a link code, object key, e-mail address or client IP.
package metrics

import (
	"math"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/sharesvc/sharesvc/internal/audit"
	"github.com/sharesvc/sharesvc/internal/buildinfo"
)

// Namespace prefixes every sharesvc metric.
const Namespace = "sharesvc"

// Metrics holds the collectors the service updates.
type Metrics struct {
	Requests        *prometheus.CounterVec   // route, method, code_class, outcome
	RequestDuration *prometheus.HistogramVec // route, outcome
	InFlight        prometheus.Gauge         // requests being handled
	Mints           *prometheus.CounterVec   // kind
	Denials         *prometheus.CounterVec   // reason: share requests refused
	Pages           *prometheus.CounterVec   // page: share requests answered with a page or HEAD, minting nothing
	AuditSummarised *prometheus.CounterVec   // reason: denials past a client's audit budget, in summary rows
	STSRefreshes    *prometheus.CounterVec   // result
	STSDuration     prometheus.Histogram
	STSSessionLeft  prometheus.GaugeFunc
	// Grants' own sessions (scoped by a session policy to the grant).
	ScopedRefreshes *prometheus.CounterVec // result
	ScopedSessions  prometheus.GaugeFunc
	AuditCommits    *prometheus.CounterVec // result: ok, db_error
	AuditRefused    prometheus.Counter     // appends an ApplyFunc refused (nothing written; not a failure)
	AuditBatchRows  prometheus.Histogram
	AuditCommitTime prometheus.Histogram
	AuditQueueDepth prometheus.GaugeFunc   // reads the function given to WatchAuditQueue
	RateLimited     *prometheus.CounterVec // scope: ip, miss, link, token
	DBErrors        *prometheus.CounterVec // op: read, audit_write, ready_check
	CanaryRuns      *prometheus.CounterVec // result: ok, sign_error, fetch_error, bad_status
	CanaryDuration  prometheus.Histogram
	CanaryLastOK    prometheus.Gauge       // Unix seconds of the last successful canary
	Ready           prometheus.Gauge       // 1 when /readyz answers ready
	ReadyChecks     *prometheus.GaugeVec   // check: db, signer, audit, canary; 1 ok, 0 failing
	MailAttempts    *prometheus.CounterVec // kind: share, notify; result: sent, deferred, failed
	MailQueue       prometheus.GaugeFunc   // reads the function given to WatchMailQueue
	AuditChain      prometheus.GaugeFunc   // 1 while the audit log contradicts its latest checkpoint
	BuildInfo       prometheus.Gauge       // always 1; version, revision, modified, goversion of the running build
	// Rows the janitor removed (expired sign-ins, codes, abandoned uploads).
	JanitorDeleted *prometheus.CounterVec // table
	// Console sign-ins and the identity provider they depend on.
	SignIns        *prometheus.CounterVec // method: oidc, token; result: ok or the refusal's reason
	OIDCChecks     *prometheus.CounterVec // result: ok, role_changed, ended, unavailable, no_refresh_token, unreadable
	OIDCProviderUp prometheus.Gauge       // 1 after the provider answered, 0 after it could not be reached; NaN before either

	auditQueue atomic.Pointer[func() int]
	auditChain atomic.Pointer[func() bool]
	scoped     atomic.Pointer[func() int]
	mailQueue  atomic.Pointer[func() (int, error)]
}

// New registers sharesvc's collectors, plus Go runtime, process and build
// info collectors, on reg. sessionLeft reports the seconds left on the
// current STS session (negative or zero when there is none).
func New(reg prometheus.Registerer, sessionLeft func() float64) *Metrics {
	m := &Metrics{
		Requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "http_requests_total",
			Help: "HTTP requests by route template, method, status class and outcome.",
		}, []string{"route", "method", "code_class", "outcome"}),
		RequestDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: Namespace, Name: "http_request_duration_seconds",
			Help:    "HTTP request latency by route template and outcome.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}, []string{"route", "outcome"}),
		InFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: Namespace, Name: "http_requests_in_flight",
			Help: "HTTP requests being handled (e.g. waiting for their audit row's commit).",
		}),
		Mints: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "mints_total",
			Help: "Presigned URLs handed out, by link kind.",
		}, []string{"kind"}),
		Denials: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "denials_total",
			Help: "Share link requests refused (not found, expired, used up, rate limited, wrong upload, signer unavailable…), by reason.",
		}, []string{"reason"}),
		Pages: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "pages_total",
			Help: "Share link requests answered with a page (confirm_page, upload_page, preview) or a HEAD, minting nothing, by page.",
		}, []string{"page"}),
		AuditSummarised: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "audit_summarised_total",
			Help: "Link requests past their client's audit budget, counted in a summary row instead of a row each, by reason.",
		}, []string{"reason"}),
		STSRefreshes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "sts_refreshes_total",
			Help: "AssumeRole calls by result (ok, error).",
		}, []string{"result"}),
		ScopedRefreshes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "sts_scoped_refreshes_total",
			Help: "AssumeRole calls for grants' scoped sessions, by result (ok, error).",
		}, []string{"result"}),
		STSDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: Namespace, Name: "sts_refresh_duration_seconds",
			Help:    "AssumeRole latency.",
			Buckets: prometheus.ExponentialBuckets(0.005, 2, 12),
		}),
		STSSessionLeft: prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Namespace: Namespace, Name: "sts_session_seconds_left",
			Help: "Seconds until the current STS session expires (0 when there is none).",
		}, sessionLeft),
		AuditCommits: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "audit_commits_total",
			Help: "Audit log group commits by result: ok, or db_error (the database refused the write).",
		}, []string{"result"}),
		AuditRefused: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: Namespace, Name: "audit_refused_total",
			Help: "Audit appends whose own checks refused the request (a link not found, a key taken): nothing written, not a database failure.",
		}),
		AuditBatchRows: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: Namespace, Name: "audit_batch_rows",
			Help:    "Rows per audit group commit.",
			Buckets: []float64{1, 2, 4, 8, 16, 32, 64, 128, 256},
		}),
		AuditCommitTime: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: Namespace, Name: "audit_commit_duration_seconds",
			Help:    "Audit group commit latency, including the flush to disk.",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25},
		}),
		RateLimited: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "ratelimit_rejections_total",
			Help: "Requests answered 429, by the limit that refused them (ip, miss, link, token).",
		}, []string{"scope"}),
		DBErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "db_errors_total",
			Help: "Database operations that failed, by operation (read, audit_write, ready_check).",
		}, []string{"op"}),
		CanaryRuns: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "canary_runs_total",
			Help: "Canary mint-and-fetch runs by result (ok, sign_error, fetch_error, bad_status).",
		}, []string{"result"}),
		CanaryDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: Namespace, Name: "canary_duration_seconds",
			Help:    "Canary latency: grant, presign and fetch of the canary object.",
			Buckets: prometheus.ExponentialBuckets(0.005, 2, 12),
		}),
		CanaryLastOK: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: Namespace, Name: "canary_last_success_timestamp_seconds",
			Help: "Unix time of the last successful canary run (0: none yet).",
		}),
		Ready: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: Namespace, Name: "ready",
			Help: "1 when the last readiness check passed, 0 when it failed.",
		}),
		ReadyChecks: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: Namespace, Name: "readiness_check_ok",
			Help: "Result of each readiness check at its last run: 1 ok, 0 failing.",
		}, []string{"check"}),
	}
	m.AuditQueueDepth = prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: Namespace, Name: "audit_queue_depth",
		Help: "Audit rows waiting for the writer.",
	}, func() float64 {
		if f := m.auditQueue.Load(); f != nil {
			return float64((*f)())
		}
		return 0
	})
	m.MailAttempts = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: Namespace, Name: "mail_attempts_total",
		Help: "Attempts to send a message by kind (share, notify) and result: sent, deferred (will retry) or failed (given up).",
	}, []string{"kind", "result"})
	m.MailQueue = prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: Namespace, Name: "mail_queue_depth",
		Help: "Messages not yet sent or given up (queued, or being sent); -1 when the queue cannot be read.",
	}, func() float64 {
		f := m.mailQueue.Load()
		if f == nil {
			return 0
		}
		n, err := (*f)()
		if err != nil {
			return -1
		}
		return float64(n)
	})
	m.AuditChain = prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: Namespace, Name: "audit_chain_broken",
		Help: "1 while the audit log contradicts its latest signed checkpoint (rows cut off or rewritten; no checkpoint is signed then), else 0.",
	}, func() float64 {
		if f := m.auditChain.Load(); f != nil {
			return b2f((*f)())
		}
		return 0
	})
	m.ScopedSessions = prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: Namespace, Name: "sts_scoped_sessions",
		Help: "Grants' scoped STS sessions held in the cache.",
	}, func() float64 {
		if f := m.scoped.Load(); f != nil {
			return float64((*f)())
		}
		return 0
	})
	for _, r := range []string{"ok", "db_error"} { // both series from the start, so increase() sees the first failure
		m.AuditCommits.WithLabelValues(r)
	}
	reg.MustRegister(m.ScopedRefreshes, m.ScopedSessions)
	m.JanitorDeleted = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: Namespace, Name: "janitor_rows_deleted_total",
		Help: "Expired rows the janitor deleted, by table (console_sessions, oidc_logins, recipient_codes, recipient_verifications, arrivals).",
	}, []string{"table"})
	reg.MustRegister(m.JanitorDeleted)
	m.SignIns = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: Namespace, Name: "console_signins_total",
		Help: "Console sign-ins by method (oidc, token) and result: ok, or why it was refused (state_mismatch, provider_unavailable, bad_token, …).",
	}, []string{"method", "result"})
	for _, r := range append([]string{"ok"}, oidcSignInRefusals...) {
		m.SignIns.WithLabelValues("oidc", r)
	}
	for _, r := range append([]string{"ok"}, tokenSignInRefusals...) {
		m.SignIns.WithLabelValues("token", r)
	}
	m.OIDCChecks = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: Namespace, Name: "oidc_checks_total",
		Help: "Checks of signed-in people with the identity provider (refreshes), by result: ok, role_changed, ended (the provider no longer vouches), unavailable, no_refresh_token, unreadable (sealed refresh token no longer opens).",
	}, []string{"result"})
	for _, r := range []string{"ok", "role_changed", "ended", "unavailable", "no_refresh_token", "unreadable"} {
		m.OIDCChecks.WithLabelValues(r)
	}
	m.OIDCProviderUp = prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: Namespace, Name: "oidc_provider_up",
		Help: "1 when the identity provider last answered sharesvc (a code exchange or refresh, refused or not), 0 when it last could not be reached (discovery, exchange or refresh); NaN until either happened.",
	})
	m.OIDCProviderUp.Set(math.NaN())
	reg.MustRegister(m.SignIns, m.OIDCChecks, m.OIDCProviderUp)
	m.BuildInfo = newBuildInfo(buildinfo.Read())
	reg.MustRegister(m.BuildInfo)
	reg.MustRegister(m.Requests, m.RequestDuration, m.InFlight, m.Mints, m.Denials, m.Pages, m.AuditSummarised, m.STSRefreshes, m.STSDuration,
		m.STSSessionLeft, m.AuditCommits, m.AuditRefused, m.AuditBatchRows, m.AuditCommitTime,
		m.AuditQueueDepth, m.RateLimited, m.DBErrors, m.CanaryRuns, m.CanaryDuration, m.CanaryLastOK,
		m.Ready, m.ReadyChecks, m.MailAttempts, m.MailQueue, m.AuditChain,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		collectors.NewBuildInfoCollector())
	return m
}

// newBuildInfo is sharesvc_build_info: 1, labelled with what `sharesvc
// version` prints, so that a dashboard shows which build each instance runs.
func newBuildInfo(in buildinfo.Info) prometheus.Gauge {
	rev := in.Revision
	if rev == "" {
		rev = "unknown"
	}
	g := prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: Namespace, Name: "build_info",
		Help: "Always 1; the labels say which build runs (the same as `sharesvc version`; revision \"unknown\" for a build without VCS stamping).",
		ConstLabels: prometheus.Labels{
			"version": in.Version, "revision": rev, "modified": strconv.FormatBool(in.Modified), "goversion": in.GoVersion,
		},
	})
	g.Set(1)
	return g
}

// WatchScopedSessions makes sharesvc_sts_scoped_sessions report n(), e.g.
// a sts.ScopedSigner's Len.
func (m *Metrics) WatchScopedSessions(n func() int) { m.scoped.Store(&n) }

// ObserveScopedRefresh records one AssumeRole call of a grant's session.
func (m *Metrics) ObserveScopedRefresh(d time.Duration, err error) {
	if err != nil {
		m.ScopedRefreshes.WithLabelValues("error").Inc()
	} else {
		m.ScopedRefreshes.WithLabelValues("ok").Inc()
	}
	m.STSDuration.Observe(d.Seconds())
}

// WatchAuditQueue makes sharesvc_audit_queue_depth report depth(), e.g.
// an audit.Log's QueueDepth.
func (m *Metrics) WatchAuditQueue(depth func() int) { m.auditQueue.Store(&depth) }

// WatchAuditChain makes sharesvc_audit_chain_broken report broken(), e.g.
// whether an audit.Checkpointer's Broken is not nil.
func (m *Metrics) WatchAuditChain(broken func() bool) { m.auditChain.Store(&broken) }

// WatchMailQueue makes sharesvc_mail_queue_depth report depth(), e.g. a
// mail.Mailer's QueueDepth; it runs on each scrape.
func (m *Metrics) WatchMailQueue(depth func() (int, error)) { m.mailQueue.Store(&depth) }

// ObserveJanitor records n rows the janitor deleted from table; n = 0
// only makes the table's series exist.
func (m *Metrics) ObserveJanitor(table string, n int64) {
	m.JanitorDeleted.WithLabelValues(table).Add(float64(n))
}

// oidcSignInRefusals are the reasons a sign-in through the identity
// provider is refused (console.signin_refused rows' reason); with "ok"
// they are the result values of method="oidc".
var oidcSignInRefusals = []string{"state_mismatch", "state_unknown", "provider_error", "no_code", "refused",
	"provider_unavailable", "offboarded", "invalid_claims"}

// tokenSignInRefusals are the reasons a sign-in with an API token is
// refused: the form turned off, unreadable, stale (CSRF) or a token that
// is not valid.
var tokenSignInRefusals = []string{"disabled", "bad_form", "stale_form", "bad_token"}

// ObserveSignIn records one console sign-in by method (oidc or token) and
// result (ok or one of the method's refusal reasons).
func (m *Metrics) ObserveSignIn(method, result string) {
	m.SignIns.WithLabelValues(method, result).Inc()
}

// ObserveOIDCCheck records one check of a signed-in person with the
// identity provider.
func (m *Metrics) ObserveOIDCCheck(result string) {
	m.OIDCChecks.WithLabelValues(result).Inc()
}

// ObserveProvider records whether the identity provider answered (up) or
// could not be reached.
func (m *Metrics) ObserveProvider(up bool) {
	m.OIDCProviderUp.Set(b2f(up))
}

// ObserveMail records one attempt to send a message of kind (share or
// notify) and its result (sent, deferred or failed).
func (m *Metrics) ObserveMail(kind, result string) {
	m.MailAttempts.WithLabelValues(kind, result).Inc()
}

// ObserveAuditCommit records one audit group commit (audit.Options'
// OnCommit): a failure of the database counts as result="db_error" and in
// db_errors_total{op="audit_write"}; an ApplyFunc's refusal of its request
// (e.g. a revoke of an unknown link) only in audit_refused_total.
func (m *Metrics) ObserveAuditCommit(rows int, d time.Duration, err error) {
	switch {
	case audit.IsDatabaseError(err):
		m.AuditCommits.WithLabelValues("db_error").Inc()
		m.DBErrors.WithLabelValues("audit_write").Inc()
		return
	case err != nil:
		m.AuditRefused.Inc()
		return
	}
	m.AuditCommits.WithLabelValues("ok").Inc()
	m.AuditBatchRows.Observe(float64(rows))
	m.AuditCommitTime.Observe(d.Seconds())
}

// ObserveSTSRefresh records one AssumeRole call.
func (m *Metrics) ObserveSTSRefresh(d time.Duration, err error) {
	if err != nil {
		m.STSRefreshes.WithLabelValues("error").Inc()
	} else {
		m.STSRefreshes.WithLabelValues("ok").Inc()
	}
	m.STSDuration.Observe(d.Seconds())
}

// ObserveCanary records one canary run: result is ok or the failure class;
// at is when it ended.
func (m *Metrics) ObserveCanary(result string, d time.Duration, at time.Time) {
	m.CanaryRuns.WithLabelValues(result).Inc()
	m.CanaryDuration.Observe(d.Seconds())
	if result == "ok" {
		m.CanaryLastOK.Set(float64(at.Unix()))
	}
}

// ObserveReadiness records one readiness evaluation.
func (m *Metrics) ObserveReadiness(ready bool, checks map[string]bool) {
	m.Ready.Set(b2f(ready))
	for name, ok := range checks {
		m.ReadyChecks.WithLabelValues(name).Set(b2f(ok))
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
