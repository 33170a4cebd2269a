package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gorilla/mux"

	"github.com/sharesvc/sharesvc/internal/app"
	"github.com/sharesvc/sharesvc/internal/audit"
	"github.com/sharesvc/sharesvc/internal/auth"
	"github.com/sharesvc/sharesvc/internal/duration"
	"github.com/sharesvc/sharesvc/internal/links"
	"github.com/sharesvc/sharesvc/internal/ratelimit"
	"github.com/sharesvc/sharesvc/internal/web"
)

// The web console (/ui/): server-rendered pages over the same functions
// the API handlers use. Signing in exchanges an API token for a session
// cookie; the session remembers the token's id only, and the token is
// re-read on every request, so revoking it (or offboarding its owner) ends
// the session at once. Every POST carries the session's CSRF token and must
// come from this service's own origin.

// Console errors.
var (
	errCSRF      = errors.New("the form is stale or was not sent from this console; reload the page and try again")
	errNoSession = errors.New("not signed in")
)

const (
	sessionCookie     = "sharesvc_session"
	signinCookie      = "sharesvc_signin" // the sign-in form's CSRF value, before a session exists
	defaultSessionTTL = 12 * time.Hour
	maxSessions       = 10000
)

// consoleCSP allows the console's own style sheet and scripts and nothing
// else: no inline script, no other origin.
const consoleCSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// setConsoleHeaders marks console pages private and uncacheable: they show
// short URLs and token secrets once, and per-person data always.
func setConsoleHeaders(h http.Header) {
	h.Set("Cache-Control", "no-store")
	// same-origin, not no-referrer: under no-referrer browsers send
	// "Origin: null" with form posts, and the origin check needs the real
	// one. Console URLs hold ids, never codes or tokens.
	h.Set("Referrer-Policy", "same-origin")
	h.Set("X-Robots-Tag", "noindex")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Content-Security-Policy", consoleCSP)
}

// secureCookies reports whether cookies get the Secure attribute: when the
// service is served over TLS.
func (s *Server) secureCookies() bool { return strings.HasPrefix(s.cfg.PublicURL, "https:") }

func (s *Server) setCookie(w http.ResponseWriter, name, value string, maxAge int) {
	http.SetCookie(w, &http.Cookie{Name: name, Value: value, Path: "/ui", MaxAge: maxAge,
		HttpOnly: true, Secure: s.secureCookies(), SameSite: http.SameSiteStrictMode})
}

// sameOrigin checks that a POST comes from a page of this service: Origin
// (sent by browsers on every POST) must be the public URL's origin, or,
// without Origin, Referer must be under it.
func (s *Server) sameOrigin(r *http.Request) bool {
	if o := r.Header.Get("Origin"); o != "" {
		return o == s.cfg.PublicURL || o == originOf(s.cfg.PublicURL)
	}
	if ref := r.Header.Get("Referer"); ref != "" {
		return strings.HasPrefix(ref, originOf(s.cfg.PublicURL)+"/")
	}
	return false
}

// originOf is scheme://host of an absolute URL.
func originOf(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return raw
	}
	return u.Scheme + "://" + u.Host
}

// consoleUser returns the signed-in user's session and live token (for a
// person the provider signed in, a principal built from the person).
func (s *Server) consoleUser(r *http.Request) (web.Session, *auth.Token, error) {
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		return web.Session{}, nil, errNoSession
	}
	sess, ok, err := s.sessions.Get(r.Context(), c.Value)
	if err != nil {
		return web.Session{}, nil, err
	}
	if !ok {
		return web.Session{}, nil, errNoSession
	}
	if sess.PersonID != "" {
		return s.personUser(r, c.Value, sess)
	}
	if s.cfg.NoTokenSignIn {
		// Made before token sign-in was turned off: the deployment now
		// requires its identity provider.
		if err := s.sessions.Delete(r.Context(), c.Value); err != nil {
			return web.Session{}, nil, err
		}
		return web.Session{}, nil, errNoSession
	}
	t, err := s.tokens.ByID(r.Context(), sess.TokenID)
	if errors.Is(err, auth.ErrNotFound) {
		return web.Session{}, nil, errNoSession
	}
	if err != nil {
		return web.Session{}, nil, err
	}
	now := s.now()
	// An owned token acts with its owner's role of the moment, as on the
	// API; an owner who may no longer act ends the session.
	ownerGone := false
	if err := s.tokens.ResolveOwner(r.Context(), t, now); errors.Is(err, auth.ErrUnauthenticated) {
		ownerGone = true
	} else if err != nil {
		return web.Session{}, nil, err
	}
	if ownerGone || !t.RevokedAt.IsZero() || !t.ExpiresAt.IsZero() && !now.Before(t.ExpiresAt) {
		if err := s.sessions.Delete(r.Context(), c.Value); err != nil {
			return web.Session{}, nil, err
		}
		return web.Session{}, nil, errNoSession
	}
	return sess, t, nil
}

func webUser(t *auth.Token) *web.User {
	return &web.User{Name: t.Person(), Role: string(t.Role),
		CanShare: t.Role == auth.RoleSharer || t.Role == auth.RoleAdmin,
		CanAdmin: t.Role == auth.RoleAdmin,
		CanAudit: t.Role == auth.RoleAdmin || t.Role == auth.RoleAuditor}
}

// consoleCtx is what a console handler gets besides the request.
type consoleCtx struct {
	sess web.Session
	tok  *auth.Token
}

func (c *consoleCtx) page(title, nav string, data any) *web.Page {
	return &web.Page{Title: title, User: webUser(c.tok), CSRF: c.sess.CSRF, Nav: nav, Data: data}
}

type consoleFunc func(w http.ResponseWriter, r *http.Request, c *consoleCtx) error

// console wraps a console page: a session whose token has one of roles,
// CSRF and origin checks on POST, the token's rate limit, and refusals
// rendered as a page. Without a session a GET is sent to the sign-in page.
func (s *Server) console(h consoleFunc, roles ...auth.Role) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		setConsoleHeaders(w.Header())
		sess, tok, err := s.consoleUser(r)
		if errors.Is(err, errNoSession) && r.Method == http.MethodGet {
			// Back to this page after signing in, whichever way.
			to := "/ui/signin"
			if ret := safeReturn(r.URL.RequestURI()); ret != "" && ret != "/ui/" {
				to += "?return=" + url.QueryEscape(ret)
			}
			http.Redirect(w, r, to, http.StatusSeeOther)
			return nil
		}
		if err != nil {
			return s.consoleError(w, r, nil, err)
		}
		c := &consoleCtx{sess: sess, tok: tok}
		if r.Method == http.MethodPost {
			if err := r.ParseForm(); err != nil {
				return s.consoleError(w, r, c, fmt.Errorf("%w: %v", links.ErrInvalid, err))
			}
			if !s.sameOrigin(r) || !web.Equal(r.PostForm.Get("csrf"), sess.CSRF) {
				return s.consoleError(w, r, c, errCSRF)
			}
		}
		if !hasRole(tok, roles) {
			return s.consoleError(w, r, c, auth.ErrForbidden)
		}
		info(r).token = tok
		if err := s.take(s.limits.token, scopeToken, tok.ID); err != nil {
			return s.consoleError(w, r, c, s.limitedAPI(r, err))
		}
		if err := h(w, r, c); err != nil {
			return s.consoleError(w, r, c, err)
		}
		return nil
	}
}

func hasRole(t *auth.Token, roles []auth.Role) bool {
	for _, role := range roles {
		if t.Role == role {
			return true
		}
	}
	return false
}

// signinLimited puts the per-address limit in front of a sign-in route:
// anyone may call them, and each one reads or writes the database (a
// token lookup, a pending sign-in stored, a code redeemed), so that one
// address cannot flood the store of pending sign-ins and push out other
// people's. A refusal is a 429 page with Retry-After.
func (s *Server) signinLimited(h handlerFunc) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		if err := s.take(s.limits.ip, scopeIP, ratelimit.IPKey(info(r).ip)); err != nil {
			setConsoleHeaders(w.Header())
			return s.consoleError(w, r, nil, err)
		}
		return h(w, r)
	}
}

// consoleError renders err as a page with the status the API would answer,
// and returns it so that adapt logs and counts it (and writes nothing more).
func (s *Server) consoleError(w http.ResponseWriter, r *http.Request, c *consoleCtx, err error) error {
	p := toProblem(err)
	if errors.Is(err, errCSRF) {
		p.Status, p.Title, p.Detail = http.StatusForbidden, "Form refused", errCSRF.Error()
	}
	if errors.Is(err, errNoSession) {
		p.Status, p.Title, p.Detail = http.StatusUnauthorized, "Signed out", "Sign in again: /ui/signin"
	}
	page := &web.Page{Title: p.Title, Data: p.Detail}
	if c != nil {
		page = c.page(p.Title, "", p.Detail)
	}
	if p.retryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int((p.retryAfter+time.Second-1)/time.Second)))
	}
	if rerr := web.Render(w, p.Status, "error", page); rerr != nil {
		return rerr
	}
	if p.Status < 500 {
		info(r).outcome = "refused"
		return nil
	}
	return err
}

// consoleRoutes mounts the console under /ui/.
func (s *Server) consoleRoutes(r *mux.Router) {
	const (
		admin   = auth.RoleAdmin
		sharer  = auth.RoleSharer
		auditor = auth.RoleAuditor
	)
	page := func(method, path string, h consoleFunc, roles ...auth.Role) {
		r.Handle(path, s.adapt(path, s.console(h, roles...))).Methods(method)
	}
	// The bare address is where people type first: send them to the
	// console (it asks a stranger to sign in).
	r.Handle("/", s.adapt("/", func(w http.ResponseWriter, r *http.Request) error {
		w.Header().Set("Location", "/ui/")
		w.WriteHeader(http.StatusFound)
		return nil
	})).Methods(http.MethodGet, http.MethodHead)
	r.Handle("/ui/signin", s.adapt("/ui/signin", s.signinPage)).Methods(http.MethodGet)
	r.Handle("/ui/signin", s.adapt("/ui/signin", s.signinLimited(s.signin))).Methods(http.MethodPost)
	// Sign-in through the identity provider (console_oidc.go); 404 when
	// none is configured.
	r.Handle("/ui/oidc/login", s.adapt("/ui/oidc/login", s.signinLimited(s.oidcLogin))).Methods(http.MethodGet)
	r.Handle(oidcCallbackPath, s.adapt(oidcCallbackPath, s.signinLimited(s.oidcCallback))).Methods(http.MethodGet)
	r.Handle("/ui/static/{file}", s.adapt("/ui/static/{file}", s.consoleStatic)).Methods(http.MethodGet, http.MethodHead)
	page(http.MethodPost, "/ui/signout", s.signout, admin, sharer, auditor)
	page(http.MethodGet, "/ui/", s.consoleHome, admin, sharer, auditor)
	page(http.MethodGet, "/ui/links", s.linksPage, admin, sharer, auditor)
	page(http.MethodPost, "/ui/links", s.createLinkForm, admin, sharer)
	page(http.MethodPost, "/ui/files", s.consoleStartFile, admin, sharer)
	page(http.MethodPost, "/ui/files/complete", s.consoleCompleteFile, admin, sharer)
	page(http.MethodGet, "/ui/links/{id}", s.linkPage, admin, sharer, auditor)
	page(http.MethodPost, "/ui/links/{id}/revoke", s.revokeLinkForm, admin, sharer)
	page(http.MethodPost, "/ui/links/{id}/edit", s.editLinkForm, admin, sharer)
	page(http.MethodGet, "/ui/links/{id}/arrivals/{arrival}/download", func(w http.ResponseWriter, r *http.Request, _ *consoleCtx) error {
		return s.downloadArrival(w, r)
	}, admin, sharer)
	page(http.MethodPost, "/ui/links/revoke-by-url", s.revokeByURLForm, admin, sharer)
	page(http.MethodGet, "/ui/grants", s.grantsPage, admin, sharer, auditor)
	page(http.MethodPost, "/ui/grants", s.createGrantForm, admin)
	page(http.MethodPost, "/ui/grants/{id}/revoke", s.revokeGrantForm, admin)
	page(http.MethodGet, "/ui/admin", s.adminPage, admin)
	page(http.MethodPost, "/ui/admin/bulk-revoke", s.bulkRevokeForm, admin)
	page(http.MethodPost, "/ui/admin/offboard", s.offboardForm, admin)
	page(http.MethodPost, "/ui/admin/killswitch", s.killSwitchForm, admin)
	page(http.MethodPost, "/ui/admin/tokens", s.createTokenForm, admin)
	page(http.MethodPost, "/ui/admin/tokens/{id}/revoke", s.revokeTokenForm, admin)
	page(http.MethodGet, "/ui/tokens", s.ownTokensPage, admin, sharer, auditor)
	page(http.MethodPost, "/ui/tokens", s.mintOwnTokenForm, admin, sharer, auditor)
	page(http.MethodPost, "/ui/tokens/{id}/revoke", s.revokeOwnTokenForm, admin, sharer, auditor)
	page(http.MethodGet, "/ui/people", s.peoplePage, admin, auditor)
	page(http.MethodPost, "/ui/people/{id}/role", s.setPersonRoleForm, admin)
	page(http.MethodPost, "/ui/people/{id}/enable", s.enablePersonForm, admin)
	page(http.MethodGet, "/ui/audit", s.auditPage, admin, auditor)
	page(http.MethodGet, "/ui/audit/export", func(w http.ResponseWriter, r *http.Request, _ *consoleCtx) error {
		return s.exportAudit(w, r)
	}, admin, auditor)
	page(http.MethodGet, "/ui/audit/verify", s.verifyPage, admin, auditor)
}

func (s *Server) consoleStatic(w http.ResponseWriter, r *http.Request) error {
	if !web.HasStatic(mux.Vars(r)["file"]) {
		return errNoRoute
	}
	web.Static("/ui/static/").ServeHTTP(w, r)
	return nil
}

// signinPage shows the ways to sign in: the identity provider's button,
// the API token form, or both. After a person signed out (?out=1) it
// offers the provider's own sign-out page.
func (s *Server) signinPage(w http.ResponseWriter, r *http.Request) error {
	var d signinData
	if s.rp != nil && r.URL.Query().Get("out") == "1" {
		d.EndSession = s.rp.EndSessionURL(r.Context())
	}
	return s.renderSignin(w, r, http.StatusOK, "", d)
}

// signin exchanges an API token (in the form body, never the URL) for a
// session cookie.
func (s *Server) signin(w http.ResponseWriter, r *http.Request) error {
	fail := func(reason string, status int, msg string) error {
		s.metrics.ObserveSignIn("token", reason)
		return s.renderSignin(w, r, status, msg, signinData{})
	}
	if s.cfg.NoTokenSignIn {
		return fail("disabled", http.StatusForbidden, "Sign-in with an API token is turned off here: sign in with your organisation's account.")
	}
	if err := r.ParseForm(); err != nil {
		return fail("bad_form", http.StatusBadRequest, "The form could not be read.")
	}
	c, err := r.Cookie(signinCookie)
	if err != nil || !s.sameOrigin(r) || !web.Equal(r.PostForm.Get("csrf"), c.Value) {
		return fail("stale_form", http.StatusForbidden, "The form is stale; try again.")
	}
	tok, err := s.tokens.Authenticate(r.Context(), strings.TrimSpace(r.PostForm.Get("token")), s.now())
	if errors.Is(err, auth.ErrUnauthenticated) {
		return fail("bad_token", http.StatusUnauthorized, "That token is not valid.")
	}
	if err != nil {
		return err
	}
	id, _, err := s.sessions.Create(r.Context(), tok.ID)
	if err != nil {
		return err
	}
	s.setCookie(w, sessionCookie, id, int(s.cfg.ConsoleSessionTTL/time.Second))
	s.setCookie(w, signinCookie, "", -1)
	info(r).outcome = "signed_in"
	s.metrics.ObserveSignIn("token", "ok")
	to := safeReturn(r.PostForm.Get("return"))
	if to == "" {
		to = "/ui/"
	}
	http.Redirect(w, r, to, http.StatusSeeOther)
	return nil
}

// signout ends the session; a person's sign-out is audited, and the
// sign-in page then offers the provider's own sign-out.
func (s *Server) signout(w http.ResponseWriter, r *http.Request, c *consoleCtx) error {
	if ck, err := r.Cookie(sessionCookie); err == nil {
		if err := s.sessions.Delete(r.Context(), ck.Value); err != nil {
			return err
		}
	}
	s.setCookie(w, sessionCookie, "", -1)
	to := "/ui/signin"
	if c.sess.PersonID != "" {
		b, _ := json.Marshal(map[string]any{"person_id": c.sess.PersonID, "email": c.tok.Email})
		if _, err := s.audit.Append(r.Context(), s.personEvent(r, c.tok.Name, audit.ActionSignOut, string(b)), nil); err != nil {
			return err
		}
		to = "/ui/signin?out=1"
	}
	w.Header().Set("Location", to)
	w.WriteHeader(http.StatusSeeOther)
	return nil
}

func (s *Server) consoleHome(w http.ResponseWriter, r *http.Request, c *consoleCtx) error {
	to := "/ui/links"
	if c.tok.Role == auth.RoleAuditor {
		to = "/ui/audit"
	}
	http.Redirect(w, r, to, http.StatusSeeOther)
	return nil
}

type linksPageData struct {
	Links         []LinkResponse
	Filter        links.Filter
	States, Kinds []string
	ShowCreator   bool
	// NextPage is the next page's address; built here from encoded
	// values, so the template must not escape its "=" and "&" again.
	NextPage      template.URL
	DefaultBucket string
}

// linksPage lists links with the API's filters; sharers see their own.
func (s *Server) linksPage(w http.ResponseWriter, r *http.Request, c *consoleCtx) error {
	if c.tok.Role != auth.RoleAuditor {
		// The page's file sharing PUTs straight to the object store.
		w.Header().Set("Content-Security-Policy", s.uploadCSP())
	}
	q := r.URL.Query()
	f := linkFilter(q)
	if c.tok.Role == auth.RoleSharer {
		f.CreatedBy = c.tok.Person()
	}
	now := s.now()
	p, err := s.links.List(r.Context(), f, 50, q.Get("cursor"), now)
	if err != nil {
		return err
	}
	d := linksPageData{Filter: f, ShowCreator: c.tok.Role != auth.RoleSharer, DefaultBucket: s.cfg.DefaultBucket,
		States: []string{"live", "revoked", "expired", "used_up", "not_yet_valid"}, Kinds: []string{"download", "upload"}}
	for _, l := range p.Links {
		d.Links = append(d.Links, toLinkResponse(l, now))
	}
	if p.Next != "" {
		q.Set("cursor", p.Next)
		d.NextPage = template.URL("/ui/links?" + q.Encode())
	}
	return web.Render(w, http.StatusOK, "links", c.page("Links", "links", d))
}

// createLinkForm creates a link from the console's form through the same
// validation and storage as POST /api/v1/links.
func (s *Server) createLinkForm(w http.ResponseWriter, r *http.Request, c *consoleCtx) error {
	f := r.PostForm
	req := createLinkRequest{Kind: f.Get("kind"), Bucket: strings.TrimSpace(f.Get("bucket")), Note: f.Get("note"),
		Filename: strings.TrimSpace(f.Get("filename")), Notify: strings.TrimSpace(f.Get("notify"))}
	req.NotifyArrivals = f.Get("notify_arrivals") != ""
	key := strings.TrimSpace(f.Get("key"))
	if req.Kind == string(links.KindUpload) && f.Get("key_is_prefix") != "" {
		req.KeyPrefix = key
	} else {
		req.Key = key
	}
	num := func(name string, scale int64) (*int64, error) { return formNumber(f, name, scale, links.ErrInvalid) }
	var err error
	if req.ExpiresIn, err = formLifetime(f); err != nil {
		return err
	}
	if req.MaxUses, err = num("max_uses", 1); err != nil {
		return err
	}
	for _, line := range strings.FieldsFunc(f.Get("recipients"), func(r rune) bool { return r == '\n' || r == '\r' || r == ',' }) {
		if line = strings.TrimSpace(line); line != "" {
			req.Recipients = append(req.Recipients, line)
		}
	}
	cr, err := s.create(r, &req)
	if err != nil {
		return err
	}
	d := struct {
		URL   string
		Link  LinkResponse
		Share *ShareResponse
	}{Share: cr.share}
	if cr.link != nil {
		d.URL = s.ShortURL(cr.link.Kind, cr.code)
		d.Link = toLinkResponse(cr.link, cr.link.CreatedAt)
	}
	return web.Render(w, http.StatusCreated, "created", c.page("Link created", "links", d))
}

// formNumber reads the optional positive whole number of field name,
// times scale (a unit: 3600 for hours); nil when the field is empty.
// Errors: invalid, naming the field.
func formNumber(f url.Values, name string, scale int64, invalid error) (*int64, error) {
	v := strings.TrimSpace(f.Get(name))
	if v == "" {
		return nil, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 1 || n > 1<<40/scale {
		return nil, fmt.Errorf("%w: %s must be a positive whole number", invalid, name)
	}
	n *= scale
	return &n, nil
}

// formLifetime reads the create form's "Expires in": a duration such as
// 12h, 3d or 1w, or a bare number of hours as the field always took (and
// as expires_in_hours, from a form rendered before it was renamed, still
// does). Errors wrap links.ErrInvalid.
func formLifetime(f url.Values) (*int64, error) {
	v := strings.TrimSpace(f.Get("expires_in"))
	if v == "" {
		return formNumber(f, "expires_in_hours", 3600, links.ErrInvalid)
	}
	if strings.Trim(v, "0123456789") == "" {
		return formNumber(url.Values{"expires_in": {v}}, "expires_in", 3600, links.ErrInvalid)
	}
	d, err := duration.Parse(v)
	if err != nil {
		return nil, fmt.Errorf("%w: expires in: %v", links.ErrInvalid, err)
	}
	if d < time.Second || d%time.Second != 0 {
		return nil, fmt.Errorf("%w: expires in %q must be whole seconds, at least 1s", links.ErrInvalid, v)
	}
	n := int64(d / time.Second)
	return &n, nil
}

// linkPage shows one link and, to those who may read the audit log, its
// timeline.
func (s *Server) linkPage(w http.ResponseWriter, r *http.Request, c *consoleCtx) error {
	l, err := s.app.Link(r.Context(), s.actor(r), mux.Vars(r)["id"])
	if err != nil {
		return err
	}
	u := webUser(c.tok)
	d := struct {
		Link      LinkResponse
		CanRevoke bool
		Timeline  bool
		Events    []audit.Event
		Inbox     bool // an upload link its reader may list the arrivals of
		Arrivals  []arrivalRow
		Activity  *activityView // nil without an audit database
		Size      string        // the object's size when the link was made; "" unknown
	}{Link: toLinkResponse(l, s.now()), Timeline: u.CanAudit && s.auditDB != nil}
	if l.ObjectBytes != nil {
		d.Size = humanBytes(*l.ObjectBytes) + " (" + groupDigits(*l.ObjectBytes) + " bytes)"
	}
	d.CanRevoke = d.Link.State != string(links.StateRevoked) && (u.CanAdmin || u.CanShare && l.CreatedBy == c.tok.Person())
	if d.Arrivals, d.Inbox, err = s.arrivalRows(r, l); err != nil {
		return err
	}
	if s.auditDB != nil {
		rows, err := s.linkActivity(r.Context(), l.ID, maxActivityLimit)
		if err != nil {
			return err
		}
		v := newActivityView(rows, l.CreatedAt, s.now(), len(rows) == maxActivityLimit)
		d.Activity = &v
	}
	if d.Timeline {
		if d.Events, err = audit.List(r.Context(), s.auditDB, audit.Filter{LinkID: l.ID, Limit: 200}); err != nil {
			return err
		}
	}
	return web.Render(w, http.StatusOK, "link", c.page("Link "+l.ID, "links", d))
}

// editLinkForm changes a link from the form on its page, through the same
// rules as PATCH /api/v1/links/{id}: a blank field leaves its setting as
// it is, and the note is changed only if it was edited.
func (s *Server) editLinkForm(w http.ResponseWriter, r *http.Request, c *consoleCtx) error {
	id := mux.Vars(r)["id"]
	l, err := s.app.Link(r.Context(), s.actor(r), id)
	if err != nil {
		return err
	}
	f := r.PostForm
	var e app.EditLink
	if strings.TrimSpace(f.Get("expires_in")) != "" {
		if e.ExpiresIn, err = formLifetime(f); err != nil {
			return err
		}
	}
	if e.MaxUses, err = formNumber(f, "max_uses", 1, links.ErrInvalid); err != nil {
		return err
	}
	e.NoMaxUses = f.Get("no_max_uses") != ""
	// Browsers send a textarea's line breaks as CR LF.
	if note := strings.ReplaceAll(f.Get("note"), "\r\n", "\n"); f.Has("note") && note != l.Note {
		e.Note = &note
	}
	if _, err := s.app.EditLink(r.Context(), s.actor(r), id, &e); err != nil {
		return err
	}
	info(r).outcome = "updated"
	w.Header().Set("Location", "/ui/links/"+url.PathEscape(id))
	w.WriteHeader(http.StatusSeeOther)
	return nil
}

func (s *Server) revokeLinkForm(w http.ResponseWriter, r *http.Request, c *consoleCtx) error {
	if _, err := s.app.RevokeLink(r.Context(), s.actor(r), mux.Vars(r)["id"], r.PostForm.Get("reason")); err != nil {
		return err
	}
	info(r).outcome = "revoked"
	http.Redirect(w, r, "/ui/links", http.StatusSeeOther)
	return nil
}

func (s *Server) adminPage(w http.ResponseWriter, r *http.Request, c *consoleCtx) error {
	return s.renderAdmin(w, r, c, http.StatusOK, "")
}

func (s *Server) renderAdmin(w http.ResponseWriter, r *http.Request, c *consoleCtx, status int, notice string) error {
	ts, err := s.tokens.List(r.Context())
	if err != nil {
		return err
	}
	k, err := s.links.GetKillSwitch(r.Context())
	if err != nil {
		return err
	}
	d := struct {
		Tokens []TokenResponse
		Kill   KillSwitchResponse
	}{Kill: toKillSwitchResponse(k)}
	for _, t := range ts {
		d.Tokens = append(d.Tokens, toTokenResponse(t))
	}
	p := c.page("Administration", "admin", d)
	p.Notice = notice
	return web.Render(w, status, "admin", p)
}

// confirmField is a hidden field of a confirmation step.
type confirmField struct{ Name, Value string }

type confirmStep struct {
	Heading, Message, Action, Button string
	Fields                           []confirmField
	Links                            []confirmLink // what the step will end
	More                             int           // how many more than Links
	Cancel                           string        // "" is /ui/admin
}

// confirmLink is a link a confirmation step names: never its code.
type confirmLink struct{ ID, Object, CreatedBy, State string }

func toConfirmLinks(ls []*links.Link, now time.Time) []confirmLink {
	out := make([]confirmLink, len(ls))
	for i, l := range ls {
		out[i] = confirmLink{ID: l.ID, Object: l.Bucket + "/" + l.Key, CreatedBy: l.CreatedBy, State: string(l.StateAt(now))}
	}
	return out
}

// revokeByURLForm shows the link a pasted short URL opens (id, object,
// creator, state; never the code) with a button that revokes it by id, so
// the code is not sent back into a page. A sharer may name only their own
// links, as with the API.
func (s *Server) revokeByURLForm(w http.ResponseWriter, r *http.Request, c *consoleCtx) error {
	l, err := s.app.LinkByURL(r.Context(), s.actor(r), r.PostForm.Get("url"))
	if err != nil {
		return err
	}
	step := confirmStep{Heading: "Revoke a link", Action: "/ui/links/" + l.ID + "/revoke", Cancel: "/ui/links",
		Message: "The short URL opens this link.", Links: toConfirmLinks([]*links.Link{l}, s.now())}
	if l.RevokedAt.IsZero() {
		step.Message += " Revoking it stops it at once."
		step.Button = "Revoke this link"
		step.Fields = []confirmField{{"reason", r.PostForm.Get("reason")}}
	} else {
		step.Message += " It is already revoked."
	}
	return web.Render(w, http.StatusOK, "confirm", c.page("Revoke a link", "links", step))
}

// bulkRevokeForm first previews (the API's dry run: how many live links the
// filter matches) and revokes only when the preview's button is pressed.
func (s *Server) bulkRevokeForm(w http.ResponseWriter, r *http.Request, c *consoleCtx) error {
	f := r.PostForm
	req := app.BulkRevokeRequest{CreatedBy: strings.TrimSpace(f.Get("created_by")), Bucket: strings.TrimSpace(f.Get("bucket")),
		KeyPrefix: f.Get("key_prefix"), Kind: f.Get("kind"), All: f.Get("all") != "", Reason: f.Get("reason")}
	for _, t := range []struct {
		name string
		dst  **time.Time
	}{{"created_after", &req.CreatedAfter}, {"created_before", &req.CreatedBefore}} {
		v, err := parseTime(f, t.name)
		if err != nil {
			return err
		}
		if !v.IsZero() {
			*t.dst = &v
		}
	}
	if f.Get("step") == "revoke" {
		n, err := s.app.BulkRevoke(r.Context(), s.actor(r), req)
		if err != nil {
			return err
		}
		info(r).outcome = "revoked"
		return s.renderAdmin(w, r, c, http.StatusOK, fmt.Sprintf("Revoked %d links.", n))
	}
	n, ls, err := s.app.BulkRevokePreview(r.Context(), s.actor(r), req)
	if err != nil {
		return err
	}
	step := confirmStep{Heading: "Bulk revoke", Action: "/ui/admin/bulk-revoke",
		Message: fmt.Sprintf("This will revoke %d live links.", n), Links: toConfirmLinks(ls, s.now()), More: n - len(ls)}
	if n > 0 {
		step.Button = fmt.Sprintf("Revoke %d links", n)
	}
	for _, k := range []string{"created_by", "bucket", "key_prefix", "kind", "created_after", "created_before", "all", "reason"} {
		step.Fields = append(step.Fields, confirmField{k, f.Get(k)})
	}
	step.Fields = append(step.Fields, confirmField{"step", "revoke"})
	return web.Render(w, http.StatusOK, "confirm", c.page("Bulk revoke", "admin", step))
}

// offboardForm first previews (how many links, which tokens) and offboards
// only when the preview's button is pressed.
func (s *Server) offboardForm(w http.ResponseWriter, r *http.Request, c *consoleCtx) error {
	req := app.OffboardRequest{Name: strings.TrimSpace(r.PostForm.Get("name")), Reason: r.PostForm.Get("reason")}
	if r.PostForm.Get("step") != "offboard" {
		plan, err := s.app.OffboardPreview(r.Context(), s.actor(r), req)
		if err != nil {
			return err
		}
		tokens := "no active token"
		if len(plan.Tokens) > 0 {
			ids := make([]string, len(plan.Tokens))
			for i, t := range plan.Tokens {
				ids[i] = fmt.Sprintf("%s (%s)", t.ID, t.Role)
				if t.Owner != "" {
					ids[i] = fmt.Sprintf("%s (their own, %s)", t.ID, app.OwnTokenLabel(t))
				}
			}
			tokens = "token " + strings.Join(ids, ", ")
		}
		if plan.SignIn {
			tokens += ", stop their sign-in through the identity provider"
		}
		step := confirmStep{Heading: "Offboard " + req.Name, Action: "/ui/admin/offboard", Button: "Offboard " + req.Name,
			Message: fmt.Sprintf("This will revoke %d live links created by %s, disable %s, and revoke their grants.", plan.LiveLinks, req.Name, tokens),
			Fields:  []confirmField{{"name", req.Name}, {"reason", req.Reason}, {"step", "offboard"}}}
		return web.Render(w, http.StatusOK, "confirm", c.page("Offboard", "admin", step))
	}
	nl, nt, err := s.app.Offboard(r.Context(), s.actor(r), req)
	if err != nil {
		return err
	}
	info(r).outcome = "offboarded"
	return s.renderAdmin(w, r, c, http.StatusOK, fmt.Sprintf("Offboarded %s: %d links revoked, %d tokens disabled.", req.Name, nl, nt))
}

// killSwitchForm asks for confirmation, then turns the switch.
func (s *Server) killSwitchForm(w http.ResponseWriter, r *http.Request, c *consoleCtx) error {
	f := r.PostForm
	on := f.Get("on") == "1"
	reason := f.Get("reason")
	if f.Get("confirmed") != "1" {
		if err := app.CheckKillSwitch(on, reason); err != nil {
			return err
		}
		step := confirmStep{Heading: "Kill switch", Action: "/ui/admin/killswitch",
			Message: "Lift the kill switch: links mint URLs again.", Button: "Lift the kill switch",
			Fields: []confirmField{{"on", f.Get("on")}, {"reason", reason}, {"confirmed", "1"}}}
		if on {
			step.Message = "Every link on every instance stops minting URLs until the switch is lifted, and the cached STS session is dropped."
			step.Button = "Stop every link"
		}
		return web.Render(w, http.StatusOK, "confirm", c.page("Kill switch", "admin", step))
	}
	if err := s.app.SetKillSwitch(r.Context(), s.actor(r), on, reason); err != nil {
		return err
	}
	info(r).outcome = killSwitchOutcome(on)
	return s.renderAdmin(w, r, c, http.StatusOK, "The kill switch is "+map[bool]string{true: "on", false: "off"}[on]+".")
}

func (s *Server) createTokenForm(w http.ResponseWriter, r *http.Request, c *consoleCtx) error {
	f := r.PostForm
	req := app.TokenRequest{Name: strings.TrimSpace(f.Get("name")), Role: f.Get("role")}
	if v := strings.TrimSpace(f.Get("expires_in_days")); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 1 || n > 10000 {
			return fmt.Errorf("%w: expires in must be a whole number of days", auth.ErrInvalid)
		}
		n *= 86400
		req.ExpiresIn = &n
	}
	t, secret, err := s.app.CreateToken(r.Context(), s.actor(r), req)
	if err != nil {
		return err
	}
	info(r).outcome = "created"
	resp := toTokenResponse(t)
	resp.Token = secret
	return web.Render(w, http.StatusCreated, "token_created", c.page("Token created", "admin", resp))
}

func (s *Server) revokeTokenForm(w http.ResponseWriter, r *http.Request, c *consoleCtx) error {
	t, err := s.app.RevokeToken(r.Context(), s.actor(r), mux.Vars(r)["id"], "")
	if err != nil {
		return err
	}
	info(r).outcome = "revoked"
	return s.renderAdmin(w, r, c, http.StatusOK, "Revoked the token of "+t.Name+".")
}

// auditPage lists the audit log with the API's filters (the same query
// parameters, parsed by the same function), newest first.
func (s *Server) auditPage(w http.ResponseWriter, r *http.Request, c *consoleCtx) error {
	f, err := s.auditFilter(r, "cursor")
	if err != nil {
		return err
	}
	if f.Before, err = auditCursor(r); err != nil {
		return err
	}
	if s.auditDB == nil {
		return errNoAuditDB
	}
	f.Limit = 100
	evs, err := audit.List(r.Context(), s.auditDB, f)
	if err != nil {
		return err
	}
	d := struct {
		Events []audit.Event
		Filter map[string]string
		// Addresses built here from encoded values: the template must not
		// escape their "=" and "&" again (it did, and the buttons got 400).
		NextPage, ExportCSV, ExportJSONL template.URL
	}{Events: evs, Filter: map[string]string{}}
	q := r.URL.Query()
	exp := url.Values{}
	for k := range auditQueryKeys {
		if v := q.Get(k); v != "" {
			d.Filter[k] = v
			exp.Set(k, v)
		}
	}
	exp.Set("format", "csv")
	d.ExportCSV = template.URL("/ui/audit/export?" + exp.Encode())
	exp.Set("format", "jsonl")
	d.ExportJSONL = template.URL("/ui/audit/export?" + exp.Encode())
	if next := nextAuditCursor(evs, f.Limit); next != "" {
		q.Set("cursor", next)
		d.NextPage = template.URL("/ui/audit?" + q.Encode())
	}
	return web.Render(w, http.StatusOK, "audit", c.page("Audit log", "audit", d))
}

func (s *Server) verifyPage(w http.ResponseWriter, r *http.Request, c *consoleCtx) error {
	out, err := s.verifyChain(r)
	if err != nil {
		return err
	}
	return web.Render(w, http.StatusOK, "verify", c.page("Audit chain", "audit", out))
}
