package server

import (
	"encoding/json"
	"errors"
	"html/template"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/sharesvc/sharesvc/internal/app"
	"github.com/sharesvc/sharesvc/internal/audit"
	"github.com/sharesvc/sharesvc/internal/auth"
	"github.com/sharesvc/sharesvc/internal/db"
	"github.com/sharesvc/sharesvc/internal/grants"
	"github.com/sharesvc/sharesvc/internal/links"
	"github.com/sharesvc/sharesvc/internal/mail"
	"github.com/sharesvc/sharesvc/internal/people"
	"github.com/sharesvc/sharesvc/internal/ratelimit"
	"github.com/sharesvc/sharesvc/internal/sts"
)

// Errors of the HTTP layer itself.
var (
	errNoRoute  = errors.New("no such route")
	errMethod   = errors.New("method not allowed")
	errBadJSON  = errors.New("malformed JSON body")
	errTooLarge = errors.New("request body too large")
	errMedia    = errors.New("unsupported media type")
)

// problem is an RFC 9457 problem details object.
type problem struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail,omitempty"`
	// Reason repeats the machine-readable reason for link denials.
	Reason    string `json:"reason,omitempty"`
	RequestID string `json:"request_id,omitempty"`

	retryAfter time.Duration
	cause      error // logged for 5xx, never sent
}

// problemBase prefixes every problem type; the suffix is stable.
const problemBase = "urn:sharesvc:problem:"

// errorTable maps sentinel errors to responses. The first match wins. The
// detail sent is the error's own text only for client errors (4xx), whose
// messages are written for clients; 5xx send the title alone.
var errorTable = []struct {
	err    error
	status int
	slug   string
	title  string
	reason string
}{
	// First: a grant's refusal may wrap the link rule its ceiling broke.
	{grants.ErrNoGrant, http.StatusForbidden, "missing-grant", "No grant allows this", ""},
	{grants.ErrInvalid, http.StatusBadRequest, "invalid-grant", "Invalid grant request", ""},
	{grants.ErrNotFound, http.StatusNotFound, "grant-not-found", "No such grant", ""},
	{mail.ErrQuota, http.StatusTooManyRequests, "mail-quota", "Mail quota reached; retry later", ""},
	{links.ErrNotFound, http.StatusNotFound, "link-not-found", "No such link", "not_found"},
	{links.ErrRevoked, http.StatusGone, "link-revoked", "This link was revoked", "revoked"},
	{links.ErrExpired, http.StatusGone, "link-expired", "This link has expired", "expired"},
	{links.ErrUsedUp, http.StatusGone, "link-used-up", "This link has been used up", "used_up"},
	{links.ErrNotYetValid, http.StatusForbidden, "link-not-yet-valid", "This link is not valid yet", "not_yet_valid"},
	{links.ErrInvalid, http.StatusBadRequest, "invalid-link", "Invalid link request", ""},
	{app.ErrRevokedLink, http.StatusConflict, "link-revoked-conflict", "A revoked link cannot be changed", ""},
	{links.ErrSuspended, http.StatusServiceUnavailable, "sharing-suspended", "Sharing is suspended by an administrator", "kill_switch"},
	{links.ErrBadCursor, http.StatusBadRequest, "invalid-cursor", "Invalid pagination cursor", ""},
	{links.ErrNoArrival, http.StatusNotFound, "upload-not-found", "No such upload", ""},
	{errNotArrived, http.StatusConflict, "upload-not-arrived", "The file has not reached the store", ""},
	{errLengthRequired, http.StatusLengthRequired, "length-required", "Content-Length required", ""},
	{errTooBig, http.StatusRequestEntityTooLarge, "upload-too-large", "Upload larger than this link allows", "too_large"},
	{errNoOverwrite, http.StatusPreconditionRequired, "upload-no-overwrite", "Send If-None-Match: * (this upload never replaces an object)", "no_overwrite_header"},
	{errWrongType, http.StatusUnsupportedMediaType, "upload-wrong-type", "Upload has the wrong Content-Type", "wrong_content_type"},
	{app.ErrFileTooLarge, http.StatusRequestEntityTooLarge, "file-too-large", "File larger than this server takes", ""},
	{app.ErrS3, http.StatusBadGateway, "storage-unreachable", "Object storage could not be reached; retry shortly", ""},
	{auth.ErrNotFound, http.StatusNotFound, "token-not-found", "No such token", ""},
	{app.ErrUnknownPerson, http.StatusNotFound, "person-not-found", "No such person", ""},
	{people.ErrNotFound, http.StatusNotFound, "person-not-found", "No such person", ""},
	{people.ErrInvalid, http.StatusBadRequest, "invalid-person-request", "Invalid person request", ""},
	{auth.ErrUnauthenticated, http.StatusUnauthorized, "unauthenticated", "Missing or invalid API token", ""},
	{auth.ErrForbidden, http.StatusForbidden, "forbidden", "Not allowed for this token's role", ""},
	{auth.ErrInvalid, http.StatusBadRequest, "invalid-token-request", "Invalid token request", ""},
	{auth.ErrExists, http.StatusConflict, "token-exists", "A token with that name exists", ""},
	{errBadJSON, http.StatusBadRequest, "malformed-json", "Malformed JSON body", ""},
	{errTooLarge, http.StatusRequestEntityTooLarge, "body-too-large", "Request body too large", ""},
	{errMedia, http.StatusUnsupportedMediaType, "unsupported-media-type", "Send application/json", ""},
	{ratelimit.ErrLimited, http.StatusTooManyRequests, "rate-limited", "Too many requests; retry later", "rate_limited"},
	{audit.ErrInvalidFilter, http.StatusBadRequest, "invalid-audit-query", "Invalid audit query", ""},
	{audit.ErrNotConfigured, http.StatusConflict, "checkpoints-not-configured", "Audit checkpoints are not configured on this server", ""},
	{audit.ErrChainBroken, http.StatusConflict, "audit-chain-broken", "The audit log contradicts its latest signed checkpoint; nothing was signed", ""},
	{audit.ErrNoCheckpoint, http.StatusConflict, "audit-log-empty", "The audit log is empty; nothing to checkpoint", ""},
	{errNoRoute, http.StatusNotFound, "no-route", "Not found", ""},
	{errMethod, http.StatusMethodNotAllowed, "method-not-allowed", "Method not allowed", ""},
	{sts.ErrUnavailable, http.StatusServiceUnavailable, "signer-unavailable", "Temporarily unable to sign; retry shortly", "signer_unavailable"},
	{audit.ErrUnavailable, http.StatusServiceUnavailable, "audit-unavailable", "Temporarily unable to record access; retry shortly", "audit_unavailable"},
}

// toProblem maps err to the response the client gets.
func toProblem(err error) *problem {
	for _, e := range errorTable {
		if errors.Is(err, e.err) {
			p := &problem{Type: problemBase + e.slug, Title: e.title, Status: e.status, Reason: e.reason, cause: err}
			if e.status < 500 && err.Error() != e.err.Error() {
				p.Detail = err.Error()
			}
			var le *ratelimit.LimitedError
			if errors.As(err, &le) {
				p.retryAfter = max(le.RetryAfter, time.Nanosecond) // rounded up to whole seconds
			}
			if e.status == http.StatusServiceUnavailable {
				p.retryAfter = time.Second
				if e.err == links.ErrSuspended {
					p.retryAfter = time.Minute
				}
				var ue *sts.UnavailableError
				if errors.As(err, &ue) && ue.RetryAfter > 0 {
					p.retryAfter = ue.RetryAfter
				}
			}
			return p
		}
	}
	if dbUnavailable(err) {
		return &problem{Type: problemBase + "database-unavailable", Title: "Temporarily unable to reach the database; retry shortly",
			Status: http.StatusServiceUnavailable, Reason: "database_unavailable", retryAfter: time.Second, cause: err}
	}
	return &problem{Type: problemBase + "internal", Title: "Internal error", Status: http.StatusInternalServerError, cause: err}
}

// dbUnavailable reports whether err is the database failing for a while
// rather than for good: its lock held past the busy timeout, or, with a
// database server (PostgreSQL), the server unreachable (stopped,
// restarting, or the network cut). Such a failure is answered 503 with
// Retry-After, as a failed audit write is, so that clients and load
// balancers retry; a broken schema or a bad statement stays a 500.
func dbUnavailable(err error) bool {
	if !db.IsEngineError(err) {
		return false
	}
	return db.IsBusy(err) || db.IsUnavailable(err)
}

// writeProblem sends p as problem+json, or as a small HTML page to browsers
// on the public routes.
func writeProblem(w http.ResponseWriter, r *http.Request, p *problem, html bool) {
	h := w.Header()
	if p.retryAfter > 0 {
		secs := int((p.retryAfter + time.Second - 1) / time.Second)
		h.Set("Retry-After", strconv.Itoa(secs))
	}
	if p.Status == http.StatusUnauthorized {
		h.Set("WWW-Authenticate", `Bearer realm="sharesvc"`)
	}
	if html && wantsHTML(r) {
		h.Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(p.Status)
		if r.Method != http.MethodHead {
			problemPage.Execute(w, p)
		}
		return
	}
	h.Set("Content-Type", "application/problem+json")
	w.WriteHeader(p.Status)
	if r.Method != http.MethodHead {
		json.NewEncoder(w).Encode(p)
	}
}

func wantsHTML(r *http.Request) bool {
	return strings.Contains(r.Header.Get("Accept"), "text/html")
}

var problemPage = template.Must(template.New("problem").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<meta name="robots" content="noindex"><title>{{.Title}}</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:32rem;margin:4rem auto;padding:0 1rem;color:#222}
h1{font-size:1.4rem}small{color:#777}</style></head>
<body><h1>{{.Title}}</h1>{{if eq .Status 410}}<p>Ask the person who shared it for a new link.</p>{{end}}
<p><small>Error {{.Status}}{{if .RequestID}} · request {{.RequestID}}{{end}}</small></p></body></html>
`))
