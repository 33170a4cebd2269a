package server

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"errors"
	"html/template"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/sharesvc/sharesvc/internal/app"
	"github.com/sharesvc/sharesvc/internal/audit"
	"github.com/sharesvc/sharesvc/internal/links"
	"github.com/sharesvc/sharesvc/internal/mail"
)

// Recipient verification (links.VerifyRecipient). The confirmation page's
// button POSTs as for any confirm link; a browser that has not verified
// this link gets, instead of a URL, the page that offers to mail a code to
// the link's recipient and takes the code. The right code sets a cookie
// bound to this link (its path is the link's path, its value a random id
// whose SHA-256 the database keeps with the link id) and the same request
// mints. A forwarded link opened elsewhere has no cookie: it needs a code
// of its own, which goes to the original address.

// verifyCookie names the cookie of a verified browser.
const verifyCookie = "sharesvc_verified"

// maxVerifyForm bounds the verification form's body.
const maxVerifyForm = 4 << 10

// recipientVerified reports whether r carries a cookie that vouches for l.
func (s *Server) recipientVerified(r *http.Request, l *links.Link, now time.Time) (bool, error) {
	c, err := r.Cookie(verifyCookie)
	if err != nil || c.Value == "" || len(c.Value) > 64 {
		return false, nil
	}
	h := sha256.Sum256([]byte(c.Value))
	return s.links.IsVerified(r.Context(), h[:], l.ID, now)
}

// verifyRecipient answers a POST on a link with VerifyRecipient from a
// browser without a verification: "send" mails a code, "code" checks one
// (and on success mints, as mint does), anything else gets the page.
// Nothing is minted without the right code. Each step is audited.
func (s *Server) verifyRecipient(w http.ResponseWriter, r *http.Request, l *links.Link, ev audit.Event, now time.Time) error {
	setConfirmHeaders(w.Header(), s.confirmCSP())
	var action, code string
	r.Body = http.MaxBytesReader(w, r.Body, maxVerifyForm)
	if err := r.ParseForm(); err == nil {
		action, code = r.PostForm.Get("action"), strings.TrimSpace(r.PostForm.Get("code"))
	}
	page := verifyData{Filename: app.DisplayName(l), To: maskAddress(l.Recipient)}
	switch {
	case action == "send":
		return s.sendRecipientCode(w, r, l, ev, now, page)
	case code != "":
		return s.checkRecipientCode(w, r, l, ev, now, code, page)
	}
	if err := s.nothingMinted(r, ev, "unverified"); err != nil {
		return err
	}
	return writeVerifyPage(w, http.StatusOK, page)
}

func (s *Server) sendRecipientCode(w http.ResponseWriter, r *http.Request, l *links.Link, ev audit.Event, now time.Time, page verifyData) error {
	if s.mail == nil {
		return errors.New("verify recipient: the link asks for a code but this server sends no mail")
	}
	code := links.NewVerifyCode()
	sharer := s.sharerName(r.Context(), l)
	ev.Action, ev.Outcome = audit.ActionRecipientCodeSent, audit.OutcomeOK
	var refused error
	if _, err := s.audit.Append(r.Context(), ev, func(ctx context.Context, tx *sql.Tx, ev *audit.Event) error {
		if err := links.SetCode(ctx, tx, s.mail.CodeKey(), l.ID, code, links.DefaultCodePolicy, now); err != nil {
			if errors.Is(err, links.ErrCodeTooSoon) || errors.Is(err, links.ErrCodeLocked) {
				refused = err
				ev.Outcome, ev.Reason = audit.OutcomeDenied, codeReason(err)
				return nil
			}
			return err
		}
		return s.mail.QueueCode(ctx, tx, mail.CodeMessage{LinkID: l.ID, ShareID: l.ShareID, To: l.Recipient,
			Sharer: sharer, Filename: app.DisplayName(l), ValidFor: links.DefaultCodePolicy.TTL}, code)
	}); err != nil {
		return err
	}
	if refused != nil {
		info(r).outcome = codeReason(refused)
		page.Message = "A code was sent a moment ago, or too many were asked for. Please wait a few minutes, then try again."
		w.Header().Set("Retry-After", retryAfter(refused))
		if errors.Is(refused, links.ErrCodeLocked) {
			page.Message = "Too many wrong codes were entered. Please try again in an hour."
		}
		return writeVerifyPage(w, http.StatusTooManyRequests, page)
	}
	s.mail.Kick()
	info(r).outcome = "code_sent"
	page.Sent = true
	page.Message = "A code is on its way to " + page.To + ". It is valid for " + mail.Humanize(links.DefaultCodePolicy.TTL) + "."
	return writeVerifyPage(w, http.StatusOK, page)
}

func (s *Server) checkRecipientCode(w http.ResponseWriter, r *http.Request, l *links.Link, ev audit.Event, now time.Time, code string, page verifyData) error {
	if s.mail == nil {
		// Codes are hashed under a key derived from the mail key.
		return errors.New("verify recipient: the link asks for a code but this server sends no mail")
	}
	var b [32]byte
	rand.Read(b[:])
	id := base64.RawURLEncoding.EncodeToString(b[:])
	idHash := sha256.Sum256([]byte(id))
	vev := ev
	vev.Action, vev.Outcome = audit.ActionRecipientVerified, audit.OutcomeOK
	var refused error
	if _, err := s.audit.Append(r.Context(), vev, func(ctx context.Context, tx *sql.Tx, ev *audit.Event) error {
		// A refusal commits too: the attempt it counts (and a lock) must stay.
		if err := links.CheckCode(ctx, tx, s.mail.CodeKey(), l.ID, code, links.DefaultCodePolicy, now); err != nil {
			if errors.Is(err, links.ErrCodeWrong) || errors.Is(err, links.ErrCodeLocked) {
				refused = err
				ev.Action, ev.Outcome, ev.Reason = audit.ActionRecipientCodeRefused, audit.OutcomeDenied, codeReason(err)
				return nil
			}
			return err
		}
		return links.AddVerified(ctx, tx, idHash[:], l.ID, l.ExpiresAt)
	}); err != nil {
		return err
	}
	if refused != nil {
		info(r).outcome = codeReason(refused)
		page.Message = "That code is wrong or has expired."
		status := http.StatusForbidden
		if errors.Is(refused, links.ErrCodeLocked) {
			page.Message = "Too many wrong codes were entered. Please try again in an hour."
			status = http.StatusTooManyRequests
			w.Header().Set("Retry-After", retryAfter(refused))
		}
		return writeVerifyPage(w, status, page)
	}
	http.SetCookie(w, &http.Cookie{
		Name: verifyCookie, Value: id, Path: r.URL.EscapedPath(), Expires: l.ExpiresAt,
		HttpOnly: true, Secure: strings.HasPrefix(s.cfg.PublicURL, "https:"), SameSite: http.SameSiteStrictMode,
	})
	return s.mint(w, r, l, ev, now)
}

// retryAfter is the Retry-After, in seconds, of a refused send or check.
func retryAfter(err error) string {
	if errors.Is(err, links.ErrCodeLocked) {
		return strconv.Itoa(int(links.DefaultCodePolicy.Lock / time.Second))
	}
	return strconv.Itoa(int(links.DefaultCodePolicy.MinInterval / time.Second))
}

// codeReason is the audit reason of a refused send or check.
func codeReason(err error) string {
	switch {
	case errors.Is(err, links.ErrCodeLocked):
		return "locked"
	case errors.Is(err, links.ErrCodeTooSoon):
		return "rate_limited"
	}
	return "wrong_code"
}

// sharerName is the name the confirmation pages and mail give the creator
// of l: their display name (from the provider, or the one an admin gave
// their token), or their name.
func (s *Server) sharerName(ctx context.Context, l *links.Link) string {
	if s.people == nil {
		return l.CreatedBy
	}
	if name, _, err := s.people.Contact(ctx, l.CreatedBy); err == nil && name != "" {
		return name
	}
	return l.CreatedBy
}

// maskAddress shows enough of an address for its owner to recognise it:
// "a…@example.org".
func maskAddress(a string) string {
	local, domain, ok := strings.Cut(a, "@")
	if !ok || local == "" {
		return a
	}
	_, n := utf8.DecodeRuneInString(local)
	return local[:n] + "…@" + domain
}

type verifyData struct {
	Filename string
	To       string // the masked recipient address
	Sent     bool
	Message  string
}

func writeVerifyPage(w http.ResponseWriter, status int, d verifyData) error {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	return verifyTemplate.Execute(w, d)
}

var verifyTemplate = template.Must(template.New("verify").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<meta name="robots" content="noindex"><meta name="referrer" content="no-referrer">
<title>Confirm your address</title>
<style>` + confirmStyle + `</style></head>
<body><h1>Confirm your address to download {{.Filename}}</h1>
<p>This link was sent to {{.To}}. To open it here, enter the code we send to that address.</p>
{{if .Message}}<p id="message">{{.Message}}</p>{{end}}
<form method="post"><input type="hidden" name="action" value="send"><button type="submit">{{if .Sent}}Send another code{{else}}Send me a code{{end}}</button></form>
<form method="post"><p><label>Code <input name="code" inputmode="numeric" autocomplete="one-time-code" maxlength="8" required></label>
<button type="submit">Verify and download</button></p></form></body></html>
`))
