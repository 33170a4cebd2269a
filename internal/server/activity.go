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

// Chart geometry, in the SVG's own units (the viewBox); the page scales it
// to its width.
const (
	chartWidth  = 600
	chartHeight = 120
	chartBars   = 60 // at most
)

// activityBar is one bar of the opens chart; numbers only, so nothing a
// client sent reaches the SVG's attributes.
type activityBar struct {
	X, Y, W, H float64
	Opens      int
	From       time.Time
}

// activityView is the Activity section of a link's page.
type activityView struct {
	Width, Height int
	Bars          []activityBar
	Unit          string // "hour" or "day", or "2 days" etc.
	Opens         int    // accesses that minted a URL
	Refused       int    // accesses the link refused
	Last          string // how long ago the newest access was, or ""
	Partial       bool   // more accesses than were read; the counts cover the newest
	Recent        []ActivityRow
}

// newActivityView charts rows (newest first, as linkActivity returns them)
// over the life of a link created at created, as of now: one bar per hour
// for a link younger than two days, else per day, widened so that there
// are at most chartBars bars.
func newActivityView(rows []ActivityRow, created, now time.Time, partial bool) activityView {
	v := activityView{Width: chartWidth, Height: chartHeight, Partial: partial}
	age := max(now.Sub(created), 0)
	step, unit := time.Hour, "hour"
	if age >= 48*time.Hour {
		step, unit = 24*time.Hour, "day"
	}
	n := int(age/step) + 1
	if n > chartBars {
		k := (n + chartBars - 1) / chartBars
		step *= time.Duration(k)
		unit = fmt.Sprintf("%d %ss", k, unit)
		n = int(age/step) + 1
	}
	v.Unit = unit
	counts := make([]int, n)
	for _, r := range rows {
		switch r.Outcome {
		case audit.OutcomeMinted:
			v.Opens++
			if i := int(r.At.Sub(created) / step); i >= 0 && i < n {
				counts[i]++
			}
		case audit.OutcomeDenied:
			v.Refused++
		}
	}
	top := 1
	for _, c := range counts {
		top = max(top, c)
	}
	w := float64(chartWidth) / float64(n)
	gap := min(w*0.15, 2)
	for i, c := range counts {
		h := float64(chartHeight) * float64(c) / float64(top)
		v.Bars = append(v.Bars, activityBar{X: float64(i)*w + gap/2, W: w - gap, Y: chartHeight - h, H: h,
			Opens: c, From: created.Add(time.Duration(i) * step)})
	}
	if len(rows) > 0 {
		v.Last = ago(now.Sub(rows[0].At))
	}
	v.Recent = rows[:min(len(rows), 20)]
	return v
}

// ago says how long ago a moment d before now was, roughly.
func ago(d time.Duration) string {
	switch {
	case d < time.Minute:
		return "just now"
	case d < time.Hour:
		return fmt.Sprintf("%dm ago", int(d/time.Minute))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh ago", int(d/time.Hour))
	}
	return fmt.Sprintf("%dd ago", int(d/(24*time.Hour)))
}
