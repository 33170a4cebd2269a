package server

import (
	"net/http"

	"github.com/gorilla/mux"

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

	// Public: opening a link. The code is the credential. public() applies
	// the per-address limit before any lookup; an unknown code is charged to
	// the address's miss budget after it (openLink).
	// POST is the confirmation page's button (confirm.go): it mints and 303s.
	r.Handle("/s/{code}", s.adapt("/s/{code}", s.public(s.openDownload))).Methods(http.MethodGet, http.MethodHead, http.MethodPost)
	r.Handle("/u/{code}", s.adapt("/u/{code}", s.public(s.openUpload))).Methods(http.MethodPut)
	// The upload page (GET, for browsers) and its script's presign call
	// (uploadpage.go): the same checks, use counting and audit as PUT.
	r.Handle("/u/{code}", s.adapt("/u/{code}", s.public(s.uploadPage))).Methods(http.MethodGet)
	r.Handle("/u/{code}/presign", s.adapt("/u/{code}/presign", s.public(s.presignUpload))).Methods(http.MethodPost)
	// The page's call after its PUT succeeded: records the arrival once a
	// HEAD finds the object (arrivals.go).
	r.Handle("/u/{code}/done", s.adapt("/u/{code}/done", s.public(s.uploadDone))).Methods(http.MethodPost)

	// Admin API: bearer token; each route names the roles it allows, and
	// handlers narrow sharers to their own links. Anything else is 403.
	const (
		admin   = auth.RoleAdmin
		sharer  = auth.RoleSharer
		auditor = auth.RoleAuditor
	)
	api := r.PathPrefix("/api/v1").Subrouter()
	handle := func(method, path string, h handlerFunc, roles ...auth.Role) {
		api.Handle(path, s.adapt("/api/v1"+path, s.authed(h, roles...))).Methods(method)
	}
	handle(http.MethodPost, "/links", s.createLink, admin, sharer)
	handle(http.MethodGet, "/links", s.listLinks, admin, sharer, auditor)
	handle(http.MethodPost, "/links/revoke-by-url", s.revokeByURL, admin, sharer)
	handle(http.MethodPost, "/links/bulk-revoke", s.bulkRevoke, admin)
	handle(http.MethodGet, "/links/{id}", s.getLink, admin, sharer, auditor)
	handle(http.MethodPatch, "/links/{id}", s.editLink, admin, sharer)
	handle(http.MethodPost, "/links/{id}/revoke", s.revokeLink, admin, sharer)
	handle(http.MethodGet, "/links/{id}/activity", s.getLinkActivity, admin, sharer, auditor)
	handle(http.MethodGet, "/links/{id}/arrivals", s.listArrivals, admin, sharer)
	handle(http.MethodGet, "/links/{id}/arrivals/{arrival}/download", s.downloadArrival, admin, sharer)
	handle(http.MethodPost, "/files", s.startFile, admin, sharer)
	handle(http.MethodPost, "/files/complete", s.completeFile, admin, sharer)
	handle(http.MethodGet, "/shares/{id}", s.getShare, admin, sharer, auditor)
	handle(http.MethodPost, "/shares/{id}/revoke", s.revokeShare, admin, sharer)
	handle(http.MethodPost, "/offboard", s.offboard, admin)
	handle(http.MethodGet, "/killswitch", s.getKillSwitch, admin, auditor)
	handle(http.MethodPost, "/killswitch", s.setKillSwitch, admin)
	handle(http.MethodPost, "/tokens", s.createToken, admin)
	handle(http.MethodGet, "/tokens", s.listTokens, admin)
	handle(http.MethodPost, "/tokens/{id}/revoke", s.revokeToken, admin)
	handle(http.MethodPost, "/tokens/{id}/rotate", s.rotateToken, admin)
	handle(http.MethodPatch, "/tokens/{id}", s.updatePerson, admin)
	// Everyone's own tokens, for their scripts (api_owntokens.go).
	handle(http.MethodGet, "/me/tokens", s.listOwnTokens, admin, sharer, auditor)
	handle(http.MethodPost, "/me/tokens", s.mintOwnToken, admin, sharer, auditor)
	handle(http.MethodDelete, "/me/tokens/{id}", s.revokeOwnToken, admin, sharer, auditor)
	// People who sign in through the identity provider (api_people.go).
	handle(http.MethodGet, "/people", s.listPeople, admin, auditor)
	handle(http.MethodPut, "/people/{id}/role", s.setPersonRole, admin)
	handle(http.MethodPost, "/people/{id}/enable", s.enablePerson, admin)
	handle(http.MethodPost, "/grants", s.createGrant, admin)
	handle(http.MethodGet, "/grants", s.listGrants, admin, sharer, auditor)
	handle(http.MethodGet, "/grants/{id}", s.getGrant, admin, sharer, auditor)
	handle(http.MethodPost, "/grants/{id}/revoke", s.revokeGrant, admin)
	handle(http.MethodGet, "/audit", s.listAudit, admin, auditor)
	handle(http.MethodGet, "/audit/export", s.exportAudit, admin, auditor)
	handle(http.MethodGet, "/audit/verify", s.verifyAudit, admin, auditor)
	handle(http.MethodPost, "/audit/checkpoint", s.checkpointAudit, admin)
	api.Handle("/openapi.json", s.adapt("/api/v1/openapi.json", s.openAPI)).Methods(http.MethodGet)
	// The same document as a page for people (openapi.go).
	r.Handle("/api/docs", s.adapt("/api/docs", s.apiDocs)).Methods(http.MethodGet)

	// The web console: pages and forms under /ui/ (console.go).
	s.consoleRoutes(r)

	// Operations. /readyz here says ready or not and nothing more; the
	// metrics and the readiness report are on the private listener
	// (OpsHandler, below).
	r.Handle("/healthz", s.adapt("/healthz", s.healthz)).Methods(http.MethodGet, http.MethodHead)
	r.Handle("/readyz", s.adapt("/readyz", s.readyz)).Methods(http.MethodGet, http.MethodHead)
	return r
}

// OpsHandler serves the operators' routes, for a private listener that only
// the monitoring system can reach: GET /metrics, GET /readyz with each
// check's result, and GET /healthz. The public handler has /healthz and a
// /readyz that says ready or not and nothing else.
func (s *Server) OpsHandler() http.Handler {
	r := mux.NewRouter()
	r.SkipClean(true)
	r.NotFoundHandler = s.adapt("notfound", func(w http.ResponseWriter, r *http.Request) error { return errNoRoute })
	r.MethodNotAllowedHandler = s.adapt("notallowed", func(w http.ResponseWriter, r *http.Request) error { return errMethod })
	r.Handle("/metrics", s.MetricsHandler()).Methods(http.MethodGet)
	r.Handle("/readyz", s.adapt("ops:/readyz", s.readyzReport)).Methods(http.MethodGet, http.MethodHead)
	r.Handle("/healthz", s.adapt("ops:/healthz", s.healthz)).Methods(http.MethodGet, http.MethodHead)
	return r
}
