package server

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/sharesvc/sharesvc/internal/app"
	"github.com/sharesvc/sharesvc/internal/audit"
	"github.com/sharesvc/sharesvc/internal/auth"
	"github.com/sharesvc/sharesvc/internal/links"
)

// parseTime reads an RFC 3339 query parameter, naming it in errors.
func parseTime(q url.Values, name string) (time.Time, error) {
	v := q.Get(name)
	if v == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return time.Time{}, fmt.Errorf("%w: %s %q is not an RFC 3339 time (e.g. 2026-11-27T12:00:00Z)", links.ErrInvalid, name, v)
	}
	return t, nil
}

// listQuery are the query parameters of GET /api/v1/links.
var listQuery = map[string]bool{"state": true, "created_by": true, "bucket": true, "key_prefix": true, "kind": true,
	"created_after": true, "created_before": true, "limit": true, "cursor": true}

// LinkListResponse is the answer of GET /api/v1/links: a page of links and,
// when more match, the cursor of the next page.
type LinkListResponse struct {
	Links      []LinkResponse `json:"links"`
	NextCursor string         `json:"next_cursor,omitempty"`
}

// listLinks answers GET /api/v1/links. Sharers see only their own links.
func (s *Server) listLinks(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	for k := range q {
		if !listQuery[k] {
			return fmt.Errorf("%w: unknown query parameter %q", links.ErrInvalid, k)
		}
	}
	f := linkFilter(q)
	var err error
	if f.CreatedAfter, err = parseTime(q, "created_after"); err != nil {
		return err
	}
	if f.CreatedBefore, err = parseTime(q, "created_before"); err != nil {
		return err
	}
	limit := 100
	if v := q.Get("limit"); v != "" {
		if limit, err = strconv.Atoi(v); err != nil || limit < 1 || limit > 500 {
			return fmt.Errorf("%w: limit must be 1-500", links.ErrInvalid)
		}
	}
	tok := info(r).token
	if tok.Role == auth.RoleSharer {
		if f.CreatedBy != "" && f.CreatedBy != tok.Name {
			return fmt.Errorf("%w: sharers list only their own links", auth.ErrForbidden)
		}
		f.CreatedBy = tok.Name
	}
	now := s.now()
	p, err := s.links.List(r.Context(), f, limit, q.Get("cursor"), now)
	if err != nil {
		return err
	}
	out := LinkListResponse{Links: make([]LinkResponse, 0, len(p.Links)), NextCursor: p.Next}
	for _, l := range p.Links {
		out.Links = append(out.Links, toLinkResponse(l, now))
	}
	return writeJSON(w, http.StatusOK, out)
}

// linkFilter reads the filters of a link listing that are plain strings.
func linkFilter(q url.Values) links.Filter {
	return links.Filter{State: links.State(q.Get("state")), CreatedBy: q.Get("created_by"), Bucket: q.Get("bucket"),
		KeyPrefix: q.Get("key_prefix"), Kind: links.Kind(q.Get("kind"))}
}

// codeFromURL extracts the code from a short URL an admin was handed.
func (s *Server) codeFromURL(raw string) (string, error) {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil {
		return "", fmt.Errorf("%w: url is not a URL", links.ErrInvalid)
	}
	for _, prefix := range []string{"/s/", "/u/"} {
		if code, ok := strings.CutPrefix(u.Path, prefix); ok && links.ValidCode(code) {
			return code, nil
		}
	}
	return "", fmt.Errorf("%w: url is not a sharesvc short URL (…/s/CODE or …/u/CODE)", links.ErrInvalid)
}

type revokeByURLRequest struct {
	URL    string `json:"url"`
	Reason string `json:"reason"`
}

// revokeByURL answers POST /api/v1/links/revoke-by-url: revoke the link a
// short URL opens, for an admin handed the URL rather than the id.
func (s *Server) revokeByURL(w http.ResponseWriter, r *http.Request) error {
	var req revokeByURLRequest
	if err := decodeJSON(w, r, &req, false); err != nil {
		return err
	}
	code, err := s.codeFromURL(req.URL)
	if err != nil {
		return err
	}
	l, err := s.links.ByCode(r.Context(), code)
	if err != nil {
		return err
	}
	return s.revoke(w, r, l.ID, req.Reason)
}

type bulkRevokeRequest struct {
	CreatedBy     string     `json:"created_by"`
	Bucket        string     `json:"bucket"`
	KeyPrefix     string     `json:"key_prefix"`
	Kind          string     `json:"kind"`
	CreatedAfter  *time.Time `json:"created_after"`
	CreatedBefore *time.Time `json:"created_before"`
	All           bool       `json:"all"`     // required to revoke with an empty filter
	DryRun        bool       `json:"dry_run"` // count only
	Reason        string     `json:"reason"`
}

// bulkRevoke answers POST /api/v1/links/bulk-revoke: revoke every live link
// matching a filter and say how many; dry_run only counts.
func (s *Server) bulkRevoke(w http.ResponseWriter, r *http.Request) error {
	var req bulkRevokeRequest
	if err := decodeJSON(w, r, &req, false); err != nil {
		return err
	}
	n, err := s.bulkRevokeLinks(r, &req)
	if err != nil {
		return err
	}
	if req.DryRun {
		return writeJSON(w, http.StatusOK, map[string]any{"dry_run": true, "count": n})
	}
	return writeJSON(w, http.StatusOK, map[string]any{"revoked": n})
}

// bulkRevokeLinks revokes (or, with DryRun, counts) the live links req
// matches, for the API and the console alike.
func (s *Server) bulkRevokeLinks(r *http.Request, req *bulkRevokeRequest) (int, error) {
	if err := checkReason(req.Reason); err != nil {
		return 0, err
	}
	f := links.Filter{CreatedBy: req.CreatedBy, Bucket: req.Bucket, KeyPrefix: req.KeyPrefix, Kind: links.Kind(req.Kind)}
	if req.CreatedAfter != nil {
		f.CreatedAfter = *req.CreatedAfter
	}
	if req.CreatedBefore != nil {
		f.CreatedBefore = *req.CreatedBefore
	}
	if f.Empty() && !req.All {
		return 0, fmt.Errorf("%w: an empty filter would revoke every link; send \"all\": true to mean that", links.ErrInvalid)
	}
	tok := info(r).token
	now := s.now().UTC()
	if req.DryRun {
		return s.links.Count(r.Context(), f, now)
	}
	detail, _ := json.Marshal(map[string]any{"filter": req, "reason": req.Reason})
	ev := s.apiEvent(r, audit.ActionBulkRevoke, string(detail))
	var n int
	if _, err := s.audit.Append(r.Context(), ev, func(ctx context.Context, tx *sql.Tx, ev *audit.Event) error {
		var err error
		n, err = links.BulkRevoke(ctx, tx, f, req.All, tok.Name, req.Reason, now)
		if err != nil {
			return err
		}
		ev.Detail = withCount(ev.Detail, "revoked", n)
		return nil
	}); err != nil {
		return 0, err
	}
	info(r).outcome = "revoked"
	return n, nil
}

// withCount adds a count to a JSON object detail.
func withCount(detail, name string, n int) string {
	b, _ := json.Marshal(map[string]int{name: n})
	return joinDetail(detail, string(b))
}

// actor is who performs the verbs of request r: its token's person and
// role, and where the request came from.
func (s *Server) actor(r *http.Request) app.Actor {
	a := app.ActorOf(info(r).token)
	a.RequestID, a.ClientIP, a.UserAgent = info(r).id, clientIP(r), r.UserAgent()
	return a
}

// apiEvent starts the audit row of an act by the caller's token, through
// the API or the console.
func (s *Server) apiEvent(r *http.Request, action, detail string) audit.Event {
	return audit.Event{
		Action: action, Actor: info(r).token.Name, Outcome: audit.OutcomeOK,
		ClientIP: clientIP(r), UserAgent: r.UserAgent(), RequestID: info(r).id, Detail: detail,
	}
}

type offboardRequest struct {
	Name   string `json:"name"`
	Reason string `json:"reason"`
}

// offboard answers POST /api/v1/offboard: in one transaction, revoke every
// link the person created and disable their token.
func (s *Server) offboard(w http.ResponseWriter, r *http.Request) error {
	var req offboardRequest
	if err := decodeJSON(w, r, &req, false); err != nil {
		return err
	}
	nLinks, nTokens, err := s.offboardPerson(r, &req)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, OffboardResponse{Name: req.Name, LinksRevoked: nLinks, TokensRevoked: nTokens})
}

// OffboardResponse is the answer to POST /api/v1/offboard.
type OffboardResponse struct {
	Name          string `json:"name"`
	LinksRevoked  int    `json:"links_revoked"`
	TokensRevoked int    `json:"tokens_revoked"`
}

// offboardPerson revokes req.Name's links and token in one transaction, for
// the API and the console alike.
func (s *Server) offboardPerson(r *http.Request, req *offboardRequest) (nLinks, nTokens int, err error) {
	if err := auth.ValidateName(req.Name); err != nil {
		return 0, 0, err
	}
	if err := checkReason(req.Reason); err != nil {
		return 0, 0, err
	}
	tok := info(r).token
	if req.Name == tok.Name {
		return 0, 0, fmt.Errorf("%w: an admin cannot offboard themselves", auth.ErrInvalid)
	}
	now := s.now().UTC()
	detail, _ := json.Marshal(map[string]any{"name": req.Name, "reason": req.Reason})
	ev := s.apiEvent(r, audit.ActionOffboard, string(detail))
	if _, err := s.audit.Append(r.Context(), ev, func(ctx context.Context, tx *sql.Tx, ev *audit.Event) error {
		var err error
		reason := req.Reason
		if reason == "" {
			reason = "offboarding " + req.Name
		}
		if nLinks, err = links.BulkRevoke(ctx, tx, links.Filter{CreatedBy: req.Name}, false, tok.Name, reason, now); err != nil {
			return err
		}
		if nTokens, err = auth.RevokeByName(ctx, tx, req.Name, now); err != nil {
			return err
		}
		ev.Detail = withCount(withCount(ev.Detail, "links_revoked", nLinks), "tokens_revoked", nTokens)
		return nil
	}); err != nil {
		return 0, 0, err
	}
	info(r).outcome = "offboarded"
	return nLinks, nTokens, nil
}

type killSwitchRequest struct {
	On     *bool  `json:"on"`
	Reason string `json:"reason"`
}

// KillSwitchResponse is the kill switch as the API shows it.
type KillSwitchResponse struct {
	On     bool       `json:"on"`
	Reason string     `json:"reason,omitempty"`
	Since  *time.Time `json:"since,omitempty"`
	By     string     `json:"by,omitempty"`
}

func (s *Server) getKillSwitch(w http.ResponseWriter, r *http.Request) error {
	k, err := s.links.GetKillSwitch(r.Context())
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, toKillSwitchResponse(k))
}

func toKillSwitchResponse(k links.KillSwitch) KillSwitchResponse {
	resp := KillSwitchResponse{On: k.On, Reason: k.Reason, By: k.By}
	if k.On {
		resp.Since = &k.Since
	}
	return resp
}

// setKillSwitch answers POST /api/v1/killswitch: {"on": true, "reason": …}
// stops every link from minting until {"on": false}; turning it on also
// drops the cached STS session.
func (s *Server) setKillSwitch(w http.ResponseWriter, r *http.Request) error {
	var req killSwitchRequest
	if err := decodeJSON(w, r, &req, false); err != nil {
		return err
	}
	if err := s.switchKill(r, &req); err != nil {
		return err
	}
	return s.getKillSwitch(w, r)
}

// switchKill turns the kill switch on or off, for the API and the console
// alike.
func (s *Server) switchKill(r *http.Request, req *killSwitchRequest) error {
	if req.On == nil {
		return fmt.Errorf("%w: \"on\" (true or false) is required", links.ErrInvalid)
	}
	if *req.On && strings.TrimSpace(req.Reason) == "" {
		return fmt.Errorf("%w: a reason is required to turn the kill switch on", links.ErrInvalid)
	}
	if err := checkReason(req.Reason); err != nil {
		return err
	}
	tok := info(r).token
	now := s.now().UTC()
	state := "off"
	if *req.On {
		state = "on"
	}
	detail, _ := json.Marshal(map[string]any{"state": state, "reason": req.Reason})
	ev := s.apiEvent(r, audit.ActionKillSwitch, string(detail))
	if _, err := s.audit.Append(r.Context(), ev, func(ctx context.Context, tx *sql.Tx, ev *audit.Event) error {
		changed, err := links.SetKillSwitch(ctx, tx, *req.On, req.Reason, tok.Name, now)
		if err == nil && !changed {
			ev.Reason = "already_" + state
		}
		return err
	}); err != nil {
		return err
	}
	s.setSuspended(*req.On)
	if !*req.On && s.mail != nil {
		s.mail.Kick() // mail held while it was on goes out now
	}
	info(r).outcome = "killswitch_" + state
	return nil
}
