package server

import (
	"encoding/json"
	"net/http"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/sharesvc/sharesvc/internal/health"
)

// MetricsHandler serves the Prometheus metrics, for mounting on a separate
// listener when Config.HideMetrics keeps them off the public one.
func (s *Server) MetricsHandler() http.Handler {
	return promhttp.HandlerFor(s.gatherer, promhttp.HandlerOpts{ErrorLog: slogPrinter{s}})
}

type slogPrinter struct{ s *Server }

func (p slogPrinter) Println(v ...any) { p.s.log.Warn("metrics", "err", v) }

// readyz answers 200 when this instance should get traffic and 503 when not,
// with each check's result (fixed words only; causes go to the log).
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) error {
	rep := health.Report{Ready: true, Checks: []health.Result{}}
	if s.health != nil {
		rep = s.health.Check(r.Context())
	}
	status := http.StatusOK
	info(r).outcome = "ready"
	if !rep.Ready {
		status = http.StatusServiceUnavailable
		info(r).outcome = "unready"
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	if r.Method == http.MethodHead {
		return nil
	}
	return json.NewEncoder(w).Encode(rep)
}
