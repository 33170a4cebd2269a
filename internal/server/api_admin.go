package server

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
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
		if f.CreatedBy != "" && f.CreatedBy != tok.Person() {
			return fmt.Errorf("%w: sharers list only their own links", auth.ErrForbidden)
		}
		f.CreatedBy = tok.Person()
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
	l, err := s.app.RevokeByURL(r.Context(), s.actor(r), req.URL, req.Reason)
	return s.revoked(w, r, l, err)
}

// bulkRevoke answers POST /api/v1/links/bulk-revoke: revoke every live link
// matching a filter and say how many; dry_run only counts, and lists the
// ids of the newest app.MaxPreview of them.
func (s *Server) bulkRevoke(w http.ResponseWriter, r *http.Request) error {
	var req app.BulkRevokeRequest
	if err := decodeJSON(w, r, &req, false); err != nil {
		return err
	}
	if req.DryRun {
		n, ls, err := s.app.BulkRevokePreview(r.Context(), s.actor(r), req)
		if err != nil {
			return err
		}
		ids := make([]string, len(ls))
		for i, l := range ls {
			ids[i] = l.ID
		}
		return writeJSON(w, http.StatusOK, map[string]any{"dry_run": true, "count": n, "ids": ids})
	}
	n, err := s.app.BulkRevoke(r.Context(), s.actor(r), req)
	if err != nil {
		return err
	}
	info(r).outcome = "revoked"
	return writeJSON(w, http.StatusOK, map[string]any{"revoked": n})
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
		Action: action, Actor: info(r).token.Person(), Outcome: audit.OutcomeOK,
		ClientIP: clientIP(r), UserAgent: r.UserAgent(), RequestID: info(r).id, Detail: detail,
	}
}

// offboard answers POST /api/v1/offboard: in one transaction, revoke every
// link the person created and disable their token.
func (s *Server) offboard(w http.ResponseWriter, r *http.Request) error {
	var req app.OffboardRequest
	if err := decodeJSON(w, r, &req, false); err != nil {
		return err
	}
	nLinks, nTokens, err := s.app.Offboard(r.Context(), s.actor(r), req)
	if err != nil {
		return err
	}
	info(r).outcome = "offboarded"
	return writeJSON(w, http.StatusOK, OffboardResponse{Name: req.Name, LinksRevoked: nLinks, TokensRevoked: nTokens})
}

// OffboardResponse is the answer to POST /api/v1/offboard.
type OffboardResponse struct {
	Name          string `json:"name"`
	LinksRevoked  int    `json:"links_revoked"`
	TokensRevoked int    `json:"tokens_revoked"`
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
	if req.On == nil {
		return fmt.Errorf("%w: \"on\" (true or false) is required", links.ErrInvalid)
	}
	if err := s.app.SetKillSwitch(r.Context(), s.actor(r), *req.On, req.Reason); err != nil {
		return err
	}
	info(r).outcome = killSwitchOutcome(*req.On)
	return s.getKillSwitch(w, r)
}

// killSwitchOutcome is the outcome of a request that turned the switch.
func killSwitchOutcome(on bool) string {
	if on {
		return "killswitch_on"
	}
	return "killswitch_off"
}
