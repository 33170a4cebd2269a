package server

import (
	"net/http"

	"github.com/gorilla/mux"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/sharesvc/sharesvc/internal/auth"
)

// routes lists every route sharesvc serves, with its methods and who may
// call it. Anything not listed is 404 (405 for a known path).
func (s *Server) routes() http.Handler {
	r := mux.NewRouter()
	// Never clean or redirect paths: /s//CODE, /s/./CODE and /s/CODE/ must
	// be plain 404s, never a cacheable 301 to something else.
	r.SkipClean(true)
	r.StrictSlash(false)
	r.NotFoundHandler = s.adapt("notfound", func(w http.ResponseWriter, r *http.Request) error { return errNoRoute })
	r.MethodNotAllowedHandler = s.adapt("notallowed", func(w http.ResponseWriter, r *http.Request) error { return errMethod })

	// Public: opening a link. The code is the credential.
	r.Handle("/s/{code}", s.adapt("/s/{code}", s.openDownload)).Methods(http.MethodGet, http.MethodHead)

	// Admin API: bearer token; role rules per route.
	api := r.PathPrefix("/api/v1").Subrouter()
	api.Handle("/links", s.adapt("/api/v1/links", s.authed(s.createLink, auth.RoleAdmin, auth.RoleSharer))).Methods(http.MethodPost)
	api.Handle("/links/{id}", s.adapt("/api/v1/links/{id}", s.authed(s.getLink, auth.RoleAdmin, auth.RoleSharer, auth.RoleAuditor))).Methods(http.MethodGet)
	api.Handle("/links/{id}/revoke", s.adapt("/api/v1/links/{id}/revoke", s.authed(s.revokeLink, auth.RoleAdmin, auth.RoleSharer))).Methods(http.MethodPost)

	// Operations.
	r.Handle("/healthz", s.adapt("/healthz", s.healthz)).Methods(http.MethodGet, http.MethodHead)
	r.Handle("/metrics", promhttp.HandlerFor(s.gatherer, promhttp.HandlerOpts{})).Methods(http.MethodGet)
	return r
}
