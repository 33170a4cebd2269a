package server

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/gorilla/mux"

	"github.com/sharesvc/sharesvc/internal/audit"
)

// maxActivityLimit bounds one answer of GET /api/v1/links/{id}/activity.
const maxActivityLimit = 500

// ActivityRow is one access of a link as its sharer sees it: the
// link.access audit row without the chain's fields. ClientIP is as stored,
// that is after the audit privacy mode.
type ActivityRow struct {
	At        time.Time `json:"at"`
	Outcome   string    `json:"outcome"`
	Reason    string    `json:"reason"`
	ClientIP  string    `json:"client_ip"`
	UserAgent string    `json:"user_agent"`
	RequestID string    `json:"request_id"`
}

// linkActivity returns the newest limit link.access rows of link id, newest
// first. The caller has checked that the actor may read the link.
func (s *Server) linkActivity(ctx context.Context, id string, limit int) ([]ActivityRow, error) {
	if s.auditDB == nil {
		return nil, errNoAuditDB
	}
	evs, err := audit.List(ctx, s.auditDB, audit.Filter{LinkID: id, Action: audit.ActionAccess, Limit: limit})
	if err != nil {
		return nil, err
	}
	rows := make([]ActivityRow, 0, len(evs))
	for _, e := range evs {
		rows = append(rows, ActivityRow{At: e.At.UTC(), Outcome: e.Outcome, Reason: e.Reason,
			ClientIP: e.ClientIP, UserAgent: e.UserAgent, RequestID: e.RequestID})
	}
	return rows, nil
}

// getLinkActivity answers GET /api/v1/links/{id}/activity?limit=N: the
// link's accesses, newest first, to its owner, admins and auditors.
func (s *Server) getLinkActivity(w http.ResponseWriter, r *http.Request) error {
	limit := 100
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxActivityLimit {
			return fmt.Errorf("%w: limit must be a number from 1 to %d", audit.ErrInvalidFilter, maxActivityLimit)
		}
		limit = n
	}
	l, err := s.app.Link(r.Context(), s.actor(r), mux.Vars(r)["id"])
	if err != nil {
		return err
	}
	rows, err := s.linkActivity(r.Context(), l.ID, limit)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, struct {
		Accesses []ActivityRow `json:"accesses"`
	}{rows})
}
