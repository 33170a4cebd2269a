package server

import (
	"context"
	"database/sql"
	"net/http"
	"time"

	"github.com/sharesvc/sharesvc/internal/audit"
	"github.com/sharesvc/sharesvc/internal/links"
	"github.com/sharesvc/sharesvc/internal/sts"
)

// setShareHeaders marks every answer on a share route as private and
// uncacheable: browsers must come back to us (and our audit) every time.
func setShareHeaders(h http.Header) {
	// Assigned from slices shared by every response rather than Set (which
	// makes a slice per header per request); each has len == cap, so an
	// Add elsewhere copies rather than writes into it.
	h["Cache-Control"] = noStore
	h["Referrer-Policy"] = noReferrer
	h["X-Robots-Tag"] = noIndex
	h["X-Content-Type-Options"] = noSniff
}

var (
	noStore    = []string{"no-store"}
	noReferrer = []string{"no-referrer"}
	noIndex    = []string{"noindex"}
	noSniff    = []string{"nosniff"}
)

// openDownload answers GET, HEAD and POST /s/{code}: a live download link
// gets a 302 (303 to a POST) to a presigned GET minted now, or, for a link
// that asks browsers to confirm and for preview agents, a confirmation page
// that mints nothing (see confirm.go); anything else gets 404, 410 or 503
// and no Location. Every request, whatever its outcome, is audited; the
// URL leaves only after its audit row is committed.
func (s *Server) openDownload(w http.ResponseWriter, r *http.Request) error {
	l, ev, now, err := s.openLink(w, r, links.KindDownload, r.Method == http.MethodGet)
	if err != nil {
		return err
	}
	ev.Detail = recipientDetail(l)
	if r.Method == http.MethodGet && isPreviewBot(r.UserAgent()) {
		return s.answerPreview(w, r, ev) // preview.go: a page, nothing minted
	}
	if r.Method == http.MethodHead {
		// Same status as a GET would get, but nothing is minted or spent.
		if err := s.nothingMinted(r, ev, "head"); err != nil {
			return err
		}
		if l.Confirm && (wantsHTML(r) || !l.Direct) {
			w.WriteHeader(http.StatusOK) // a GET would get the confirmation page
			return nil
		}
		w.WriteHeader(http.StatusFound)
		return nil
	}
	reason := s.confirmReason(r, l)
	if l.VerifyRecipient && reason != "preview" && r.Method == http.MethodPost {
		// verify.go: the button's POST mints only in a verified browser.
		ok, err := s.recipientVerified(r, l, now)
		if err != nil {
			return err
		}
		if !ok {
			return s.verifyRecipient(w, r, l, ev, now)
		}
	}
	if reason != "" {
		return s.confirmPage(w, r, l, ev, reason)
	}
	return s.mint(w, r, l, ev, now)
}

// mint spends one use of the live link l and answers with a URL minted
// now: 302 to a GET, 303 to the confirmation page's POST. It is the only
// path that mints a download URL; the URL leaves only after its audit row
// (and the use it spends) is committed.
func (s *Server) mint(w http.ResponseWriter, r *http.Request, l *links.Link, ev audit.Event, now time.Time) error {
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

	g, err := s.grant(r, ev, l, min(l.PresignTTL, l.ExpiresAt.Sub(now)))
	if err != nil {
		return err
	}
	loc, err := s.presign(g, sts.Request{
		Method:                     http.MethodGet,
		Bucket:                     l.Bucket,
		Key:                        l.Key,
		ResponseContentDisposition: contentDisposition(l.Filename),
	})
	if err != nil {
		return err
	}
	ev.URLExpiresAt, ev.STSSession = g.Expires, g.Session
	notified := false
	var also audit.ApplyFunc
	if l.ShareID != "" {
		// A recipient's link: its first open is recorded, and the sharer
		// may be told, in the same transaction.
		also = func(ctx context.Context, tx *sql.Tx, _ *audit.Event) (err error) {
			notified, err = s.firstOpen(ctx, tx, l, now)
			return err
		}
	}
	if err := s.spend(r, ev, ev.Detail, l, now, also); err != nil {
		return err
	}
	if notified {
		s.mail.Kick()
	}
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
