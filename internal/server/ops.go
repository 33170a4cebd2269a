package server

import (
	"encoding/json"
	"io"
	"net/http"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/sharesvc/sharesvc/internal/health"
)

// MetricsHandler serves the Prometheus metrics alone.
func (s *Server) MetricsHandler() http.Handler {
	return promhttp.HandlerFor(s.gatherer, promhttp.HandlerOpts{ErrorLog: slogPrinter{s}})
}

type slogPrinter struct{ s *Server }

func (p slogPrinter) Println(v ...any) { p.s.log.Warn("metrics", "err", v) }

// ready runs the readiness checks (cached by the checker) and records the
// request's outcome.
func (s *Server) ready(r *http.Request) health.Report {
	rep := health.Report{Ready: true, Checks: []health.Result{}}
	if s.health != nil {
		rep = s.health.Check(r.Context())
	}
	info(r).outcome = "ready"
	if !rep.Ready {
		info(r).outcome = "unready"
	}
	return rep
}

// readyz answers the public /readyz: 200 "ready" when this instance should
// get traffic, 503 "unready" when not, and nothing else: which check fails
// tells an outsider what to attack, so that is for readyzReport.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) error {
	status, body := http.StatusOK, "ready\n"
	if !s.ready(r).Ready {
		status, body = http.StatusServiceUnavailable, "unready\n"
	}
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	if r.Method == http.MethodHead {
		return nil
	}
	_, err := io.WriteString(w, body)
	return err
}

// readyzReport answers /readyz on the private listener (OpsHandler): the
// same status, with each check's result (fixed words only; causes go to
// the log).
func (s *Server) readyzReport(w http.ResponseWriter, r *http.Request) error {
	rep := s.ready(r)
	status := http.StatusOK
	if !rep.Ready {
		status = http.StatusServiceUnavailable
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
