package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"path"
	"strings"
	"time"

	"github.com/sharesvc/sharesvc/internal/audit"
	"github.com/sharesvc/sharesvc/internal/auth"
	"github.com/sharesvc/sharesvc/internal/db"
	"github.com/sharesvc/sharesvc/internal/oidc"
	"github.com/sharesvc/sharesvc/internal/people"
	"github.com/sharesvc/sharesvc/internal/web"
)

// Sign-in through the organisation's identity provider (OpenID Connect,
// the authorization code flow with PKCE). GET /ui/oidc/login records the
// sign-in's nonce and PKCE verifier under the SHA-256 of a fresh state,
// puts the state in a short-lived cookie and sends the browser to the
// provider; GET /ui/oidc/callback takes the state back once (it must match
// the cookie), exchanges the code, and signs the person in: people are
// keyed by issuer and subject, and their email, name, groups and role are
// refreshed at each sign-in. A person's session is checked with the
// provider again (a refresh) once it is CheckInterval old: a person the
// provider no longer knows loses the session, one who left a mapped group
// loses that role. While the provider cannot be reached the last known
// role holds for OfflineGrace more, then the session ends.

// RelyingParty is what the console needs of the identity provider's
// client, internal/oidc's Provider.
type RelyingParty interface {
	// AuthURL is where to send the browser for l. Errors: oidc.ErrUnavailable.
	AuthURL(ctx context.Context, l oidc.Login) (string, error)
	// Exchange redeems code for l's verified claims. Errors:
	// oidc.ErrRefused, oidc.ErrUnavailable.
	Exchange(ctx context.Context, code string, l oidc.Login) (*oidc.Result, error)
	// Refresh asks the provider about the person with subject again.
	// Errors: oidc.ErrGone, oidc.ErrRefused, oidc.ErrUnavailable.
	Refresh(ctx context.Context, refreshToken, subject string) (*oidc.Result, error)
	// EndSessionURL is the provider's sign-out page; "" when none.
	EndSessionURL(ctx context.Context) string
	Issuer() string
	// Seal and Open protect a refresh token kept in the database.
	Seal(refreshToken string) string
	Open(sealed string) (string, error)
}

// OIDCConfig says how people signed in through the identity provider get
// their role and how often their sessions are checked.
type OIDCConfig struct {
	// Roles maps provider groups to roles; everyone else is a sharer.
	Roles people.RoleMap
	// CheckInterval is how old a person's session may get before the
	// provider is asked about them again; 0 means 5 minutes.
	CheckInterval time.Duration
	// OfflineGrace is how much longer a session keeps its last checked
	// role while the provider cannot be reached; then it ends.
	OfflineGrace time.Duration
	// Name is the provider's name on the sign-in button; "" shows the
	// issuer's host.
	Name string
}

const (
	defaultCheckInterval = 5 * time.Minute
	oidcStateCookie      = "sharesvc_oidc_state"
	oidcCallbackPath     = "/ui/oidc/callback"
	oidcLoginTTL         = 10 * time.Minute
	maxReturnPath        = 512
	// providerRetry is how long after a failed check the console keeps
	// the last checked roles without asking the provider again, so that
	// during an outage not every request waits for its timeout.
	providerRetry = 30 * time.Second
)

func (c *OIDCConfig) validate(sessionTTL time.Duration) error {
	if c.CheckInterval == 0 {
		c.CheckInterval = defaultCheckInterval
	}
	if c.CheckInterval < time.Second || c.CheckInterval > sessionTTL {
		return fmt.Errorf("OIDC check interval %s must be between 1s and the console session's %s", c.CheckInterval, sessionTTL)
	}
	if c.OfflineGrace < 0 || c.OfflineGrace > sessionTTL {
		return fmt.Errorf("OIDC offline grace %s must be between 0 and %s", c.OfflineGrace, sessionTTL)
	}
	return nil
}

// providerName is what the sign-in button calls the provider.
func (s *Server) providerName() string {
	if s.cfg.OIDC.Name != "" {
		return s.cfg.OIDC.Name
	}
	if u, err := url.Parse(s.rp.Issuer()); err == nil && u.Host != "" {
		return u.Host
	}
	return "your organisation's account"
}

// signinData is what the sign-in page shows besides its form.
type signinData struct {
	Provider   string // "" when no identity provider is configured
	LoginURL   string // GET /ui/oidc/login, with the page to return to
	Token      bool   // the API token form is offered
	EndSession string // after a person signed out: the provider's sign-out page
	Return     string // the console page to go back to after signing in; "" the home page
}

// renderSignin shows the sign-in page with status and a message ("" none),
// and a fresh CSRF value for the token form, also set in a short-lived
// cookie (double submit: no session exists yet).
func (s *Server) renderSignin(w http.ResponseWriter, r *http.Request, status int, msg string, d signinData) error {
	setConsoleHeaders(w.Header())
	d.Token = !s.cfg.NoTokenSignIn
	// The page to return to comes in the query (GET) or, after a refused
	// token, in the form (POST).
	d.Return = safeReturn(r.URL.Query().Get("return"))
	if d.Return == "" && r.PostForm != nil {
		d.Return = safeReturn(r.PostForm.Get("return"))
	}
	if s.rp != nil {
		d.Provider, d.LoginURL = s.providerName(), "/ui/oidc/login"
		if d.Return != "" {
			d.LoginURL += "?return=" + url.QueryEscape(d.Return)
		}
	}
	p := &web.Page{Title: "Sign in", Error: msg, Data: d}
	if d.Token {
		p.CSRF = web.RandomToken()
		s.setCookie(w, signinCookie, p.CSRF, 3600)
	}
	if status >= 400 {
		info(r).outcome = "refused"
	}
	return web.Render(w, status, "signin", p)
}

// safeReturn returns raw if it is a console path on this site, else "".
func safeReturn(raw string) string {
	if raw == "" || len(raw) > maxReturnPath || !strings.HasPrefix(raw, "/ui/") ||
		strings.ContainsAny(raw, "\\\r\n\t") {
		return ""
	}
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil ||
		strings.Contains(u.Path, "/../") || strings.Contains(u.Path, "/./") {
		return ""
	}
	// The path as the router and the browser will take it: decoded
	// (/ui/%6fidc/login is the sign-in), its dots resolved (/ui/.. is /).
	clean := path.Clean(u.Path) + "/"
	if !strings.HasPrefix(clean, "/ui/") || strings.HasPrefix(clean, "/ui/oidc/") {
		return ""
	}
	return raw
}

// oidcLogin answers GET /ui/oidc/login: it starts a sign-in at the
// provider.
func (s *Server) oidcLogin(w http.ResponseWriter, r *http.Request) error {
	setConsoleHeaders(w.Header())
	if s.rp == nil {
		return errNoRoute
	}
	l := oidc.NewLogin()
	to, err := s.rp.AuthURL(r.Context(), l)
	if errors.Is(err, oidc.ErrUnavailable) {
		s.metrics.ObserveProvider(false)
		s.metrics.ObserveSignIn("oidc", refusedUnavailable.reason)
		s.log.Warn("identity provider unavailable", "component", "oidc", "err", err)
		return s.renderSignin(w, r, refusedUnavailable.status, refusedUnavailable.msg, signinData{})
	}
	if err != nil {
		return err
	}
	if err := s.sessions.BeginLogin(r.Context(), l.State, web.PendingLogin{Nonce: l.Nonce, Verifier: l.Verifier,
		ReturnTo: safeReturn(r.URL.Query().Get("return"))}, oidcLoginTTL); err != nil {
		return err
	}
	// Lax, not Strict: the provider sends the browser back from its own
	// site, and the state cookie must come along on that navigation.
	http.SetCookie(w, &http.Cookie{Name: oidcStateCookie, Value: l.State, Path: oidcCallbackPath, MaxAge: int(oidcLoginTTL / time.Second),
		HttpOnly: true, Secure: s.secureCookies(), SameSite: http.SameSiteLaxMode})
	info(r).outcome = "redirected"
	w.Header().Set("Location", to)
	w.WriteHeader(http.StatusFound)
	return nil
}

// signInRefusal is a refused sign-in: the reason recorded in the audit
// log, and the page's status and message. Neither holds a code, a token or
// a state.
type signInRefusal struct {
	reason string
	status int
	msg    string
}

var (
	refusedState = signInRefusal{"state_mismatch", http.StatusBadRequest,
		"This sign-in did not start in this browser, or it took too long. Sign in again."}
	refusedStateUnknown = signInRefusal{"state_unknown", http.StatusBadRequest,
		"This sign-in was already used or has expired. Sign in again."}
	refusedByProvider = signInRefusal{"provider_error", http.StatusForbidden,
		"The identity provider did not sign you in."}
	refusedNoCode = signInRefusal{"no_code", http.StatusBadRequest,
		"The identity provider's answer carried no sign-in. Sign in again."}
	refusedChecks = signInRefusal{"refused", http.StatusForbidden,
		"The identity provider's answer did not pass sharesvc's checks, so you are not signed in. Sign in again; if it happens again, tell your administrator."}
	refusedUnavailable = signInRefusal{"provider_unavailable", http.StatusServiceUnavailable,
		"The identity provider cannot be reached just now, so nobody can sign in through it. Try again in a few minutes."}
	refusedOffboarded = signInRefusal{"offboarded", http.StatusForbidden,
		"Your access to sharesvc was ended by an administrator. Ask them if you think this is wrong."}
	refusedClaims = signInRefusal{"invalid_claims", http.StatusForbidden,
		"The identity provider did not say who you are in a way sharesvc can use. Tell your administrator."}
)

// refuseSignIn records a refused sign-in (through the flood budget: anyone
// can make these) and shows the sign-in page with the refusal's message.
func (s *Server) refuseSignIn(w http.ResponseWriter, r *http.Request, f signInRefusal, actor string, detail map[string]any) error {
	if actor == "" {
		actor = audit.ActorClient
	}
	if detail == nil {
		detail = map[string]any{}
	}
	detail["reason"], detail["issuer"] = f.reason, s.rp.Issuer()
	s.metrics.ObserveSignIn("oidc", f.reason)
	b, _ := json.Marshal(detail)
	if err := s.appendDenial(r.Context(), audit.Event{Action: audit.ActionSignInRefused, Actor: actor, Outcome: audit.OutcomeDenied,
		Reason: f.reason, ClientIP: clientIP(r), UserAgent: r.UserAgent(), RequestID: info(r).id, Detail: string(b)}); err != nil {
		return err
	}
	return s.renderSignin(w, r, f.status, f.msg, signinData{})
}

// oidcCallback answers GET /ui/oidc/callback, where the provider sends the
// browser back with a code (or an error) and the state.
func (s *Server) oidcCallback(w http.ResponseWriter, r *http.Request) error {
	setConsoleHeaders(w.Header())
	if s.rp == nil {
		return errNoRoute
	}
	ctx := r.Context()
	q := r.URL.Query()
	state := q.Get("state")
	http.SetCookie(w, &http.Cookie{Name: oidcStateCookie, Value: "", Path: oidcCallbackPath, MaxAge: -1,
		HttpOnly: true, Secure: s.secureCookies(), SameSite: http.SameSiteLaxMode})
	ck, err := r.Cookie(oidcStateCookie)
	if err != nil || !web.Equal(state, ck.Value) {
		return s.refuseSignIn(w, r, refusedState, "", nil)
	}
	pending, ok, err := s.sessions.TakeLogin(ctx, state)
	if err != nil {
		return err
	}
	if !ok {
		return s.refuseSignIn(w, r, refusedStateUnknown, "", nil)
	}
	if e := q.Get("error"); e != "" {
		return s.refuseSignIn(w, r, refusedByProvider, "", map[string]any{"error": errorCode(e)})
	}
	code := q.Get("code")
	if code == "" {
		return s.refuseSignIn(w, r, refusedNoCode, "", nil)
	}
	res, err := s.rp.Exchange(ctx, code, oidc.Login{State: state, Nonce: pending.Nonce, Verifier: pending.Verifier})
	observeProvider(s, err)
	switch {
	case errors.Is(err, oidc.ErrUnavailable):
		s.log.Warn("identity provider unavailable", "component", "oidc", "err", err)
		return s.refuseSignIn(w, r, refusedUnavailable, "", nil)
	case errors.Is(err, oidc.ErrRefused):
		s.log.Info("sign-in refused", "component", "oidc", "err", err)
		return s.refuseSignIn(w, r, refusedChecks, "", nil)
	case err != nil:
		return err
	}
	now := s.now()
	p, ch, err := s.people.SignIn(ctx, res.Claims, s.cfg.OIDC.Roles, now)
	switch {
	case errors.Is(err, people.ErrDisabled) && p != nil:
		return s.refuseSignIn(w, r, refusedOffboarded, p.Name, map[string]any{"subject": p.Subject})
	case errors.Is(err, people.ErrInvalid):
		return s.refuseSignIn(w, r, refusedClaims, "", map[string]any{"error": err.Error()})
	case err != nil:
		return err
	}
	sealed := ""
	if res.RefreshToken != "" {
		sealed = s.rp.Seal(res.RefreshToken)
	}
	b, _ := json.Marshal(map[string]any{"issuer": p.Issuer, "subject": p.Subject, "email": p.Email, "name": p.DisplayName,
		"role": p.Role(), "groups": p.Groups, "first": ch.Created})
	if _, err := s.audit.Append(ctx, s.personEvent(r, p.Name, audit.ActionSignIn, string(b)), nil); err != nil {
		return err
	}
	if ch.RoleChanged(p) {
		if err := s.auditRoleChange(ctx, r, p, ch.PrevRole); err != nil {
			return err
		}
	}
	id, _, err := s.sessions.CreatePerson(ctx, p.ID, sealed)
	if err != nil {
		return err
	}
	// Lax, not Strict as for a token's sign-in: this response and the
	// redirect it starts are part of a navigation that began at the
	// provider's site, and browsers withhold Strict cookies from all of
	// it, so the console would not see the new session and ask to sign
	// in again. Lax is sent on top-level GETs only; every POST still
	// needs the session's CSRF token and this origin.
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: id, Path: "/ui", MaxAge: int(s.cfg.ConsoleSessionTTL / time.Second),
		HttpOnly: true, Secure: s.secureCookies(), SameSite: http.SameSiteLaxMode})
	s.setCookie(w, signinCookie, "", -1)
	info(r).outcome = "signed_in"
	s.metrics.ObserveSignIn("oidc", "ok")
	to := pending.ReturnTo
	if safeReturn(to) == "" {
		to = "/ui/"
	}
	w.Header().Set("Location", to)
	w.WriteHeader(http.StatusSeeOther)
	return nil
}

// observeProvider records what an exchange or refresh says of the
// provider's health: it answered (no error), or it could not be reached.
// A refusal says nothing either way (sharesvc's own checks may refuse
// without asking the provider), so it leaves the gauge as it was.
func observeProvider(s *Server, err error) {
	switch {
	case err == nil:
		s.metrics.ObserveProvider(true)
	case errors.Is(err, oidc.ErrUnavailable):
		s.metrics.ObserveProvider(false)
	}
}

// errorCode keeps an OAuth error code (access_denied, …) for the audit
// log: letters, digits and underscores, at most 64.
func errorCode(e string) string {
	if len(e) > 64 || strings.Trim(e, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_") != "" {
		return "other"
	}
	return e
}

// personEvent starts an audit row about person name, from request r (nil
// outside a request).
func (s *Server) personEvent(r *http.Request, name, action, detail string) audit.Event {
	ev := audit.Event{Action: action, Actor: name, Outcome: audit.OutcomeOK, Detail: detail}
	if r != nil {
		ev.ClientIP, ev.UserAgent, ev.RequestID = clientIP(r), r.UserAgent(), info(r).id
	}
	return ev
}

// auditRoleChange records that p's groups changed their role from prev.
func (s *Server) auditRoleChange(ctx context.Context, r *http.Request, p *people.Person, prev auth.Role) error {
	b, _ := json.Marshal(map[string]any{"person_id": p.ID, "issuer": p.Issuer, "subject": p.Subject,
		"from": prev, "to": p.Role(), "because": "groups", "groups": p.Groups})
	_, err := s.audit.Append(ctx, s.personEvent(r, p.Name, audit.ActionPersonRole, string(b)), nil)
	return err
}

// personToken is the console's principal for a person the provider signed
// in. Every console page takes an *auth.Token for the name it acts under,
// the role it may act with, the groups its grants may name and the
// address its mail is sent from; for a person these come from the person,
// read afresh on every request. It is never stored, and its ID is the
// person's id, which no token has (the per-token rate limit counts the
// person).
func personToken(p *people.Person) *auth.Token {
	return &auth.Token{ID: p.ID, Name: p.Name, Role: p.Role(), CreatedAt: p.CreatedAt, DisplayName: p.DisplayName, Email: p.Email,
		Groups: p.Groups}
}

// personUser returns the principal of the person of session id,
// after checking the person with the provider when the last check is
// CheckInterval old. A session that must end is deleted (and the ending
// audited) and errNoSession returned.
func (s *Server) personUser(r *http.Request, id string, sess web.Session) (web.Session, *auth.Token, error) {
	ctx := r.Context()
	if s.rp == nil { // sign-in through the provider was turned off since
		return sess, nil, s.endSession(r, id, nil, "sign-in through the identity provider is off")
	}
	p, err := s.people.Get(ctx, sess.PersonID)
	if errors.Is(err, people.ErrNotFound) {
		return sess, nil, s.endSession(r, id, nil, "person removed")
	}
	if err != nil {
		return sess, nil, err
	}
	if !p.Active() {
		return sess, nil, s.endSession(r, id, p, "offboarded")
	}
	now := s.now()
	if now.Sub(sess.CheckedAt) >= s.cfg.OIDC.CheckInterval {
		if p, err = s.checkPerson(r, id, sess, p, now); err != nil {
			return sess, nil, err
		}
	}
	return sess, personToken(p), nil
}

// checkPerson asks the provider about p again with the session's refresh
// token and records what it says: new claims and role (in one transaction
// with the session's check time), or the end of the session when the
// provider no longer vouches for them, issued no refresh token, or has
// been unreachable for longer than the offline grace.
func (s *Server) checkPerson(r *http.Request, id string, sess web.Session, p *people.Person, now time.Time) (*people.Person, error) {
	ctx := r.Context()
	if sess.RefreshSealed == "" {
		s.metrics.ObserveOIDCCheck("no_refresh_token")
		return nil, s.endSession(r, id, p, "the provider issued no refresh token; sign in again")
	}
	rt, err := s.rp.Open(sess.RefreshSealed)
	if err != nil {
		s.metrics.ObserveOIDCCheck("unreadable")
		return nil, s.endSession(r, id, p, "refresh token unreadable (client secret changed?)")
	}
	var res *oidc.Result
	asked := false
	if last := s.rpFailedAt.Load(); last != 0 && now.Sub(time.UnixMilli(last)) < providerRetry && now.Sub(time.UnixMilli(last)) >= 0 {
		// It failed a moment ago: do not make this request wait for
		// another timeout.
		err = fmt.Errorf("%w: failed %s ago", oidc.ErrUnavailable, now.Sub(time.UnixMilli(last)).Round(time.Millisecond))
	} else {
		res, err = s.rp.Refresh(ctx, rt, p.Subject)
		asked = true
		observeProvider(s, err)
	}
	switch {
	case errors.Is(err, oidc.ErrGone), errors.Is(err, oidc.ErrRefused):
		// A request alongside may have used the refresh token first (the
		// provider rotates them): then the session holds a newer one.
		// That request counts the check.
		if cur, ok, gerr := s.sessions.Get(ctx, id); gerr == nil && ok && cur.RefreshSealed != sess.RefreshSealed {
			return p, nil
		}
		s.metrics.ObserveOIDCCheck("ended")
		return nil, s.endSession(r, id, p, "provider no longer vouches")
	case err != nil:
		// Held off after a failure moments ago or not, the check met an
		// unavailable provider; past the grace it also ends the session.
		s.metrics.ObserveOIDCCheck("unavailable")
		if asked {
			s.rpFailedAt.Store(now.UnixMilli())
		}
		if now.Before(sess.CheckedAt.Add(s.cfg.OIDC.CheckInterval + s.cfg.OIDC.OfflineGrace)) {
			s.log.Warn("identity provider unavailable: keeping the last checked role", "component", "oidc",
				"person_id", p.ID, "checked_at", sess.CheckedAt, "err", err)
			return p, nil
		}
		s.log.Warn("identity provider unavailable past the offline grace: ending the session", "component", "oidc",
			"person_id", p.ID, "err", err)
		return nil, s.endSession(r, id, p, "provider unavailable past the offline grace")
	}
	s.rpFailedAt.Store(0)
	if res.Claims.Issuer != p.Issuer || res.Claims.Subject != p.Subject {
		s.metrics.ObserveOIDCCheck("ended")
		return nil, s.endSession(r, id, p, "provider answered for someone else")
	}
	sealed := sess.RefreshSealed
	if res.RefreshToken != "" {
		sealed = s.rp.Seal(res.RefreshToken)
	}
	tx, err := db.BeginWrite(ctx, s.auditDB)
	if err != nil {
		return nil, fmt.Errorf("check person: %w", err)
	}
	defer tx.Rollback()
	np, ch, err := people.Upsert(ctx, tx, res.Claims, s.cfg.OIDC.Roles, now)
	if errors.Is(err, people.ErrDisabled) {
		tx.Rollback()
		s.metrics.ObserveOIDCCheck("ended")
		return nil, s.endSession(r, id, p, "offboarded")
	}
	if err != nil {
		return nil, fmt.Errorf("check person: %w", err)
	}
	if ok, err := s.sessions.MarkChecked(ctx, tx, id, now, sealed); err != nil {
		return nil, err
	} else if !ok {
		// Signed out, or ended by a request alongside, while the provider
		// answered: the session may not act any more.
		return nil, errNoSession
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("check person: %w", err)
	}
	if ch.RoleChanged(np) {
		s.metrics.ObserveOIDCCheck("role_changed")
		if err := s.auditRoleChange(ctx, r, np, ch.PrevRole); err != nil {
			return nil, err
		}
	} else {
		s.metrics.ObserveOIDCCheck("ok")
	}
	return np, nil
}

// endSession deletes session id, records why (p is nil when the person is
// unknown) and returns errNoSession.
func (s *Server) endSession(r *http.Request, id string, p *people.Person, reason string) error {
	if err := s.sessions.Delete(r.Context(), id); err != nil {
		return err
	}
	actor, detail := audit.ActorClient, map[string]any{"reason": reason}
	if p != nil {
		actor = p.Name
		detail["person_id"], detail["issuer"], detail["subject"], detail["role"] = p.ID, p.Issuer, p.Subject, p.Role()
	}
	b, _ := json.Marshal(detail)
	if _, err := s.audit.Append(r.Context(), s.personEvent(r, actor, audit.ActionSessionEnded, string(b)), nil); err != nil {
		return err
	}
	return errNoSession
}
