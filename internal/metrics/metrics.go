// Package metrics defines sharesvc's Prometheus collectors. Labels are
// bounded: route templates, methods, status classes, outcomes and reasons —
// never a link code, object key, e-mail address or client IP.
package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Namespace prefixes every sharesvc metric.
const Namespace = "sharesvc"

// Metrics holds the collectors the service updates.
type Metrics struct {
	Requests        *prometheus.CounterVec   // route, method, code_class, outcome
	RequestDuration *prometheus.HistogramVec // route, outcome
	Mints           *prometheus.CounterVec   // kind
	Denials         *prometheus.CounterVec   // reason
	STSRefreshes    *prometheus.CounterVec   // result
	STSDuration     prometheus.Histogram
	STSSessionLeft  prometheus.GaugeFunc
	AuditCommits    *prometheus.CounterVec // result
	AuditBatchRows  prometheus.Histogram
	AuditCommitTime prometheus.Histogram
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
		Mints: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "mints_total",
			Help: "Presigned URLs handed out, by link kind.",
		}, []string{"kind"}),
		Denials: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "denials_total",
			Help: "Link requests that minted nothing, by reason.",
		}, []string{"reason"}),
		STSRefreshes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "sts_refreshes_total",
			Help: "AssumeRole calls by result (ok, error).",
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
			Help: "Audit log group commits by result (ok, error).",
		}, []string{"result"}),
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
	}
	reg.MustRegister(m.Requests, m.RequestDuration, m.Mints, m.Denials, m.STSRefreshes, m.STSDuration,
		m.STSSessionLeft, m.AuditCommits, m.AuditBatchRows, m.AuditCommitTime,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		collectors.NewBuildInfoCollector())
	return m
}

// ObserveAuditCommit records one audit group commit.
func (m *Metrics) ObserveAuditCommit(rows int, d time.Duration, err error) {
	if err != nil {
		m.AuditCommits.WithLabelValues("error").Inc()
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
