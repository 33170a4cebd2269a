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

// openDownload answers GET and HEAD /s/{code}: a live download link gets a
// 302 to a presigned GET minted now; anything else gets 404, 410 or 503 and
// no Location. Every request, whatever its outcome, is audited; the URL
// leaves only after its audit row is committed.
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
	deny := func(reason string, err error) error {
		ri.outcome = reason
		s.metrics.Denials.WithLabelValues(reason).Inc()
		ev.Outcome, ev.Reason = audit.OutcomeDenied, reason
		if _, aerr := s.audit.Append(r.Context(), ev, nil); aerr != nil {
			return aerr
		}
		return err
	}

	l, err := s.links.ByCode(r.Context(), code)
	if errors.Is(err, links.ErrNotFound) {
		return deny("not_found", links.ErrNotFound)
	}
	if err != nil {
		return err
	}
	ev.LinkID = l.ID
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
	if r.Method == http.MethodHead {
		// Same status as a GET would get, but nothing is minted or spent.
		ri.outcome = "head"
		s.metrics.Denials.WithLabelValues("head").Inc()
		ev.Outcome, ev.Reason = audit.OutcomeNothingMinted, "head"
		if _, err := s.audit.Append(r.Context(), ev, nil); err != nil {
			return err
		}
		w.WriteHeader(http.StatusFound)
		return nil
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
	ev, err = s.audit.Append(r.Context(), ev, func(ctx context.Context, tx *sql.Tx, ev *audit.Event) error {
		st, err := links.ClaimUse(ctx, tx, id, now)
		if err != nil {
			return err
		}
		if st != links.StateLive {
			// Revoked, expired or used up since the lookup: the row records
			// the denial and no URL leaves.
			ev.Outcome, ev.Reason = audit.OutcomeDenied, string(st)
			ev.URLExpiresAt, ev.STSSession = time.Time{}, ""
		}
		return nil
	})
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
	w.Header().Set("Location", loc)
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
