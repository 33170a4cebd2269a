package server

import (
	"context"
	"database/sql"
	"errors"
	"net/http"
	"time"

	"github.com/gorilla/mux"

	"github.com/sharesvc/sharesvc/internal/audit"
	"github.com/sharesvc/sharesvc/internal/links"
	"github.com/sharesvc/sharesvc/internal/sts"
)

// setShareHeaders marks every answer on a share route as private and
// uncacheable: browsers must come back to us (and our audit) every time.
func setShareHeaders(h http.Header) {
	h.Set("Cache-Control", "no-store")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Robots-Tag", "noindex")
	h.Set("X-Content-Type-Options", "nosniff")
}

// openDownload answers GET, HEAD and POST /s/{code}: a live download link
// gets a 302 (303 to a POST) to a presigned GET minted now, or, for a link
// that asks browsers to confirm and for preview agents, a confirmation page
// that mints nothing (see confirm.go); anything else gets 404, 410 or 503
// and no Location. Every request, whatever its outcome, is audited; the
// URL leaves only after its audit row is committed.
func (s *Server) openDownload(w http.ResponseWriter, r *http.Request) error {
	ri := info(r)
	ri.public = true
	setShareHeaders(w.Header())
	code := mux.Vars(r)["code"]
	ev := audit.Event{
		Action:    audit.ActionAccess,
		Actor:     audit.ActorClient,
		ClientIP:  clientIP(r),
		UserAgent: r.UserAgent(),
		RequestID: ri.id,
	}
	deny := func(reason string, err error) error { return s.denyOpen(r, ev, reason, err) }

	// The plain GET that mints may read the link from the cache: the mint
	// re-checks liveness in its transaction. Every other answer (HEAD,
	// confirmation and preview pages) reads the database, so that it shows
	// the link's current state.
	l, err := s.links.ByCodeForMint(r.Context(), code)
	if err == nil && (r.Method != http.MethodGet || l.Confirm) {
		l, err = s.links.ByCode(r.Context(), code)
	}
	if errors.Is(err, links.ErrNotFound) {
		return deny("not_found", links.ErrNotFound)
	}
	if err != nil {
		return err
	}
	ev.LinkID = l.ID
	ev.Detail = recipientDetail(l)
	if l.Kind != links.KindDownload {
		return deny("wrong_kind", links.ErrNotFound)
	}
	now := s.now()
	if st := l.StateAt(now); st != links.StateLive {
		return deny(string(st), st.Err())
	}
	if s.suspended(r.Context()) {
		return deny(string(links.StateSuspended), links.ErrSuspended)
	}
	if r.Method == http.MethodGet && isPreviewBot(r.UserAgent()) {
		return s.answerPreview(w, r, ev) // preview.go: a page, nothing minted
	}
	if r.Method == http.MethodHead {
		// Same status as a GET would get, but nothing is minted or spent.
		ri.outcome = "head"
		s.metrics.Denials.WithLabelValues("head").Inc()
		ev.Outcome, ev.Reason = audit.OutcomeNothingMinted, "head"
		if _, err := s.audit.Append(r.Context(), ev, nil); err != nil {
			return err
		}
		if l.Confirm && (wantsHTML(r) || !l.Direct) {
			w.WriteHeader(http.StatusOK) // a GET would get the confirmation page
			return nil
		}
		w.WriteHeader(http.StatusFound)
		return nil
	}
	if reason := s.confirmReason(r, l); reason != "" {
		return s.confirmPage(w, r, l, ev, reason)
	}
	return s.mint(w, r, l, ev, now)
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

// mint spends one use of the live link l and answers with a URL minted
// now: 302 to a GET, 303 to the confirmation page's POST. It is the only
// path that mints a download URL; the URL leaves only after its audit row
// (and the use it spends) is committed.
func (s *Server) mint(w http.ResponseWriter, r *http.Request, l *links.Link, ev audit.Event, now time.Time) error {
	ri := info(r)
	deny := func(reason string, err error) error { return s.denyOpen(r, ev, reason, err) }
	if err := s.limitMint(l.ID); err != nil {
		// l may come from the cache and have stopped being live: a link
		// that is revoked or used up says so rather than "slow down".
		if fresh, ferr := s.links.Get(r.Context(), l.ID); ferr == nil {
			if st := fresh.StateAt(now); st != links.StateLive {
				return deny(string(st), st.Err())
			}
		}
		ev.Detail = joinDetail(ev.Detail, limitDetail(err))
		return deny("rate_limited", err)
	}

	want := min(l.PresignTTL, l.ExpiresAt.Sub(now))
	g, err := s.signer.Grant(r.Context(), want)
	if err != nil {
		if errors.Is(err, sts.ErrUnavailable) {
			ri.outcome = "signer_unavailable"
			s.metrics.Denials.WithLabelValues("signer_unavailable").Inc()
			ev.Outcome, ev.Reason = audit.OutcomeUnavailable, "signer_unavailable"
			if _, aerr := s.audit.Append(r.Context(), ev, nil); aerr != nil {
				return aerr
			}
		}
		return err
	}
	loc, err := s.signer.Presign(g, sts.Request{
		Method:                     http.MethodGet,
		Bucket:                     l.Bucket,
		Key:                        l.Key,
		ResponseContentDisposition: contentDisposition(l.Filename),
	})
	if err != nil {
		return err
	}
	ev.Outcome = audit.OutcomeMinted
	ev.URLExpiresAt = g.Expires
	ev.STSSession = g.Session
	id := l.ID
	notified := false
	ev, err = s.audit.Append(r.Context(), ev, func(ctx context.Context, tx *sql.Tx, ev *audit.Event) error {
		notified = false // the writer may run this again alone
		st, err := links.ClaimUse(ctx, s.audit.Querier(tx), id, now)
		if err != nil {
			return err
		}
		if st != links.StateLive {
			// Revoked, expired or used up since the lookup: the row records
			// the denial and no URL leaves.
			ev.Outcome, ev.Reason = audit.OutcomeDenied, string(st)
			ev.URLExpiresAt, ev.STSSession = time.Time{}, ""
			return nil
		}
		notified, err = s.firstOpen(ctx, tx, l, now)
		return err
	})
	if err != nil {
		return err
	}
	if ev.Outcome != audit.OutcomeMinted {
		ri.outcome = ev.Reason
		s.metrics.Denials.WithLabelValues(ev.Reason).Inc()
		return links.State(ev.Reason).Err()
	}
	if notified {
		s.mail.Kick()
	}
	ri.outcome = "minted"
	s.metrics.Mints.WithLabelValues(string(l.Kind)).Inc()
	w.Header().Set("Location", loc)
	if r.Method == http.MethodPost {
		// See Other: the browser follows with a GET, never re-POSTs.
		w.WriteHeader(http.StatusSeeOther)
		return nil
	}
	w.WriteHeader(http.StatusFound)
	return nil
}

// contentDisposition returns the response-content-disposition for a
// download name, or "" for none.
func contentDisposition(name string) string {
	if name == "" {
		return ""
	}
	return mimeAttachment(name)
}
