package server

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/gorilla/mux"

	"github.com/sharesvc/sharesvc/internal/audit"
	"github.com/sharesvc/sharesvc/internal/links"
	"github.com/sharesvc/sharesvc/internal/sts"
)

// accessEvent starts the audit row of a request on a share route.
func accessEvent(r *http.Request) audit.Event {
	return audit.Event{
		Action:    audit.ActionAccess,
		Actor:     audit.ActorClient,
		ClientIP:  clientIP(r),
		UserAgent: r.UserAgent(),
		RequestID: info(r).id,
	}
}

// openLink is what every share route does first: mark the answer private,
// look the code up, and refuse (auditing why) an unknown code, a link of
// another kind, a link that is not live, and every link while the kill
// switch is on. It returns the live link, the request's audit row so far
// and the time the checks used.
//
// cached lets a request that will mint read the link from the cache (the
// mint re-checks liveness in its transaction); confirmation links are always
// read from the database, since their page shows the link's current state.
func (s *Server) openLink(w http.ResponseWriter, r *http.Request, kind links.Kind, cached bool) (*links.Link, audit.Event, time.Time, error) {
	info(r).public = true
	setShareHeaders(w.Header())
	ev := accessEvent(r)
	code := mux.Vars(r)["code"]
	var (
		l   *links.Link
		err error
	)
	now := s.now()
	if cached {
		l, err = s.links.ByCodeForMint(r.Context(), code, now)
	}
	if !cached || err == nil && l.Confirm {
		l, err = s.links.ByCode(r.Context(), code)
	}
	if errors.Is(err, links.ErrNotFound) {
		if lerr := s.chargeMiss(r); lerr != nil {
			return nil, ev, time.Time{}, s.limitedPublic(w, r, "", lerr)
		}
		return nil, ev, time.Time{}, s.denyOpen(r, ev, "not_found", links.ErrNotFound)
	}
	if err != nil {
		return nil, ev, time.Time{}, err
	}
	ev.LinkID = l.ID
	if l.Kind != kind {
		return nil, ev, time.Time{}, s.denyOpen(r, ev, "wrong_kind", links.ErrNotFound)
	}
	if st := l.StateAt(now); st != links.StateLive {
		return nil, ev, now, s.denyOpen(r, ev, string(st), st.Err())
	}
	if s.suspended(r.Context()) {
		return nil, ev, now, s.denyOpen(r, ev, string(links.StateSuspended), links.ErrSuspended)
	}
	return l, ev, now, nil
}

// denyOpen audits a refused open of a share link and returns err for adapt
// to answer.
func (s *Server) denyOpen(r *http.Request, ev audit.Event, reason string, err error) error {
	info(r).outcome = reason
	s.metrics.Denials.WithLabelValues(reason).Inc()
	ev.Outcome, ev.Reason = audit.OutcomeDenied, reason
	if aerr := s.appendDenial(r.Context(), ev); aerr != nil {
		return aerr
	}
	return err
}

// grant asks the signer of l's URLs for a lifetime of want; when it cannot give one
// (no session with enough life), the refusal is audited and returned.
func (s *Server) grant(r *http.Request, ev audit.Event, l *links.Link, want time.Duration) (sts.Grant, error) {
	g, err := s.signerGrant(r.Context(), l, want)
	if err != nil && errors.Is(err, sts.ErrUnavailable) {
		info(r).outcome = "signer_unavailable"
		s.metrics.Denials.WithLabelValues("signer_unavailable").Inc()
		ev.Outcome, ev.Reason = audit.OutcomeUnavailable, "signer_unavailable"
		if _, aerr := s.audit.Append(r.Context(), ev, nil); aerr != nil {
			return g, aerr
		}
	}
	return g, err
}

// spend writes ev, a mint of l, in the transaction that spends one use of
// l (audit.Log.AppendClaim, decided with neighbouring requests by
// ClaimLinkUses) and then runs also, if set. If l stopped being live since
// it was read, the row records that denial instead (its detail set to
// deniedDetail) and the state's error is returned: no URL may leave. On
// nil, the mint is committed and the URL may be sent.
func (s *Server) spend(r *http.Request, ev audit.Event, deniedDetail string, l *links.Link, now time.Time,
	also audit.ApplyFunc) error {
	ri := info(r)
	ev.Outcome = audit.OutcomeMinted
	ev, err := s.audit.AppendClaim(r.Context(), ev, audit.Claim{Key: l.ID, At: now}, deniedDetail, also)
	if err != nil {
		return err
	}
	if ev.Outcome != audit.OutcomeMinted {
		ri.outcome = ev.Reason
		s.metrics.Denials.WithLabelValues(ev.Reason).Inc()
		return links.State(ev.Reason).Err()
	}
	ri.outcome = "minted"
	s.metrics.Mints.WithLabelValues(string(l.Kind)).Inc()
	return nil
}

// ClaimLinkUses is the audit log's Options.Claim for share routes: it
// spends link uses (claim keys are link ids) with links.ClaimUses and
// refuses a claim with the link state that forbids it.
func ClaimLinkUses(ctx context.Context, q audit.Querier, claims []audit.Claim) error {
	uc := make([]links.UseClaim, len(claims))
	for i, c := range claims {
		uc[i] = links.UseClaim{ID: c.Key, At: c.At}
	}
	if err := links.ClaimUses(ctx, q, uc); err != nil {
		return err
	}
	for i := range claims {
		if uc[i].State != links.StateLive {
			claims[i].Refused = string(uc[i].State)
		}
	}
	return nil
}
