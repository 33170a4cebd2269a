// Package oidc is sharesvc's side of OpenID Connect sign-in (the relying
// party): the authorization code flow with PKCE, state and nonce, the
// checks on the ID token (signature from the provider's published keys,
// issuer, audience, authorized party, expiry, nonce), refreshes that
// re-check a signed-in person with the provider, and the sealing of refresh
// tokens at rest.
//
// It uses github.com/coreos/go-oidc/v3 for discovery, key sets and ID token
// verification, and golang.org/x/oauth2 for the code and refresh
// exchanges. Discovery is lazy: a provider that is down when sharesvc
// starts delays sign-ins, not the start.
package oidc

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/sharesvc/sharesvc/internal/people"
)

// Errors returned by this package. Messages never hold a code, a token or
// a secret.
var (
	// ErrUnavailable means the provider could not be reached, or answered
	// with a server error, at discovery, the token endpoint, its keys or
	// userinfo.
	ErrUnavailable = errors.New("identity provider unavailable")
	// ErrRefused means the provider or sharesvc's checks refused the
	// sign-in: a bad or replayed code, a wrong issuer, audience or nonce,
	// an expired token, a bad signature.
	ErrRefused = errors.New("sign-in refused")
	// ErrGone means the provider refused a refresh (invalid_grant): it no
	// longer vouches for the person, or the grant was revoked.
	ErrGone = errors.New("identity provider no longer vouches for this sign-in")
	// ErrConfig means a setting is wrong; the wrapped message names it.
	ErrConfig = errors.New("invalid OpenID Connect setting")
)

// DefaultScopes are asked when Config.Scopes is empty: the ID token's
// subject, the person's address and name, and a refresh token for the
// session checks. Providers that put groups behind a scope of their own
// (Okta's "groups") need it added.
var DefaultScopes = []string{gooidc.ScopeOpenID, "email", "profile", gooidc.ScopeOfflineAccess}

// Config says which provider to use and how to read its claims.
type Config struct {
	Issuer       string // https URL; http only on a loopback host
	ClientID     string
	ClientSecret string
	RedirectURL  string   // sharesvc's callback, registered at the provider
	Scopes       []string // nil: DefaultScopes
	EmailClaim   string   // "": "email"
	NameClaim    string   // "": "name"
	GroupsClaim  string   // "": "groups"
	// TrustEmail takes the email claim as verified when the ID token has
	// no email_verified claim at all (Entra ID sends none). Only for a
	// provider whose addresses only its admins set: a multi-tenant issuer
	// lets anyone claim any address. An explicit false is never trusted.
	TrustEmail bool
}

func (c *Config) defaults() {
	if len(c.Scopes) == 0 {
		c.Scopes = DefaultScopes
	}
	if c.EmailClaim == "" {
		c.EmailClaim = "email"
	}
	if c.NameClaim == "" {
		c.NameClaim = "name"
	}
	if c.GroupsClaim == "" {
		c.GroupsClaim = "groups"
	}
}

// Validate reports the first wrong setting. Errors: ErrConfig.
func (c Config) Validate() error {
	c.defaults()
	if err := checkURL("issuer", c.Issuer); err != nil {
		return err
	}
	if err := checkURL("redirect URL", c.RedirectURL); err != nil {
		return err
	}
	if c.ClientID == "" || len(c.ClientID) > 1024 || hasControl(c.ClientID) {
		return fmt.Errorf("%w: client id must be 1-1024 bytes without control characters", ErrConfig)
	}
	if c.ClientSecret == "" || len(c.ClientSecret) > 4096 {
		return fmt.Errorf("%w: client secret must be 1-4096 bytes (sharesvc is a confidential client)", ErrConfig)
	}
	if !slices.Contains(c.Scopes, gooidc.ScopeOpenID) {
		return fmt.Errorf("%w: scopes %q lack %q", ErrConfig, strings.Join(c.Scopes, " "), gooidc.ScopeOpenID)
	}
	for _, s := range c.Scopes {
		if s == "" || strings.ContainsAny(s, " \"\\") || hasControl(s) {
			return fmt.Errorf("%w: scope %q", ErrConfig, s)
		}
	}
	for name, v := range map[string]string{"email claim": c.EmailClaim, "name claim": c.NameClaim, "groups claim": c.GroupsClaim} {
		if len(v) > 256 || hasControl(v) {
			return fmt.Errorf("%w: %s %q", ErrConfig, name, v)
		}
	}
	return nil
}

func hasControl(s string) bool {
	return strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f })
}

// checkURL accepts https URLs, and http on a loopback host (a provider or
// sharesvc on the same machine, as in the demo and tests).
func checkURL(what, s string) error {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || u.User != nil || u.Fragment != "" || hasControl(s) {
		return fmt.Errorf("%w: %s %q is not an absolute URL", ErrConfig, what, s)
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		host := u.Hostname()
		if ip := net.ParseIP(host); host == "localhost" || ip != nil && ip.IsLoopback() {
			return nil
		}
	}
	return fmt.Errorf("%w: %s %q must use https (http only on a loopback host)", ErrConfig, what, s)
}

// Provider signs people in through one OpenID Connect provider. It is safe
// for concurrent use.
type Provider struct {
	cfg    Config
	client *http.Client
	now    func() time.Time
	seal   cipher.AEAD

	mu       sync.Mutex
	disc     *gooidc.Provider // nil until discovery succeeds
	endSess  string
	lastFail time.Time
}

// discoveryRetry bounds how often a failed discovery is retried: a
// provider that is down is not asked on every page view.
const discoveryRetry = 5 * time.Second

// New returns a Provider for cfg. client makes every request to the
// provider (nil: one with a 10 s timeout); now is the clock the ID token's
// expiry is checked against (nil: time.Now). Errors: ErrConfig.
func New(cfg Config, client *http.Client, now func() time.Time) (*Provider, error) {
	cfg.defaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.Issuer = strings.TrimSuffix(cfg.Issuer, "/")
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Second}
	}
	if now == nil {
		now = time.Now
	}
	// The sealing key is derived from the client secret: a new secret
	// makes sealed refresh tokens unreadable, and the sessions they belong
	// to end at their next check, as they should.
	mac := hmac.New(sha256.New, []byte(cfg.ClientSecret))
	mac.Write([]byte("sharesvc refresh token seal v1"))
	block, err := aes.NewCipher(mac.Sum(nil))
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &Provider{cfg: cfg, client: client, now: now, seal: aead}, nil
}

// Issuer returns the provider's issuer URL.
func (p *Provider) Issuer() string { return p.cfg.Issuer }

func (p *Provider) ctx(ctx context.Context) context.Context {
	return gooidc.ClientContext(ctx, p.client)
}

// discover returns the provider's metadata, fetching it on first use.
func (p *Provider) discover(ctx context.Context) (*gooidc.Provider, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.disc != nil {
		return p.disc, nil
	}
	if !p.lastFail.IsZero() && time.Since(p.lastFail) < discoveryRetry {
		return nil, fmt.Errorf("%w: discovery failed moments ago", ErrUnavailable)
	}
	d, err := gooidc.NewProvider(p.ctx(ctx), p.cfg.Issuer)
	if err != nil {
		p.lastFail = time.Now()
		// go-oidc reports an issuer mismatch like an outage; it is a
		// setting to fix, and says so.
		if strings.Contains(err.Error(), "issuer did not match") {
			return nil, fmt.Errorf("%w: the provider's discovery document names another issuer than %s", ErrConfig, p.cfg.Issuer)
		}
		return nil, fmt.Errorf("%w: discovery at %s: %v", ErrUnavailable, p.cfg.Issuer, err)
	}
	var meta struct {
		EndSession string `json:"end_session_endpoint"`
	}
	if err := d.Claims(&meta); err == nil {
		p.endSess = meta.EndSession
	}
	p.disc = d
	return d, nil
}

func (p *Provider) oauth(d *gooidc.Provider) *oauth2.Config {
	return &oauth2.Config{ClientID: p.cfg.ClientID, ClientSecret: p.cfg.ClientSecret, Endpoint: d.Endpoint(),
		RedirectURL: p.cfg.RedirectURL, Scopes: p.cfg.Scopes}
}

// Login is what one sign-in sends and must find again: the state that ties
// the callback to the browser, the nonce the ID token must carry, and the
// PKCE code verifier.
type Login struct{ State, Nonce, Verifier string }

// NewLogin returns fresh random values (256 bits each).
func NewLogin() Login {
	r := func() string {
		var b [32]byte
		rand.Read(b[:])
		return base64.RawURLEncoding.EncodeToString(b[:])
	}
	return Login{State: r(), Nonce: r(), Verifier: oauth2.GenerateVerifier()}
}

// AuthURL returns the provider address to send the browser to. Errors:
// ErrUnavailable.
func (p *Provider) AuthURL(ctx context.Context, l Login) (string, error) {
	d, err := p.discover(ctx)
	if err != nil {
		return "", err
	}
	return p.oauth(d).AuthCodeURL(l.State, oauth2.S256ChallengeOption(l.Verifier), gooidc.Nonce(l.Nonce)), nil
}

// Result is a verified sign-in or refresh.
type Result struct {
	Claims       people.Claims
	RefreshToken string    // "" when the provider issued none
	Expiry       time.Time // the ID token's expiry
}

// Exchange redeems the code the callback received, with the login's PKCE
// verifier, and verifies the ID token (nonce included). Errors:
// ErrRefused, ErrUnavailable.
func (p *Provider) Exchange(ctx context.Context, code string, l Login) (*Result, error) {
	if code == "" || len(code) > 4096 {
		return nil, fmt.Errorf("%w: no usable code", ErrRefused)
	}
	d, err := p.discover(ctx)
	if err != nil {
		return nil, err
	}
	tok, err := p.oauth(d).Exchange(p.ctx(ctx), code, oauth2.VerifierOption(l.Verifier))
	if err != nil {
		return nil, tokenError("code exchange", err, ErrRefused)
	}
	return p.result(ctx, d, tok, l.Nonce, "")
}

// Refresh re-checks a signed-in person with the provider through their
// refresh token and returns their current claims and the refresh token to
// keep (the provider may rotate it). subject is the person's: an answer
// about anyone else is refused. Errors: ErrGone, ErrUnavailable,
// ErrRefused.
func (p *Provider) Refresh(ctx context.Context, refreshToken, subject string) (*Result, error) {
	if refreshToken == "" {
		return nil, fmt.Errorf("%w: no refresh token", ErrGone)
	}
	d, err := p.discover(ctx)
	if err != nil {
		return nil, err
	}
	tok, err := p.oauth(d).TokenSource(p.ctx(ctx), &oauth2.Token{RefreshToken: refreshToken}).Token()
	if err != nil {
		return nil, tokenError("refresh", err, ErrGone)
	}
	if tok.RefreshToken == "" {
		tok.RefreshToken = refreshToken
	}
	return p.result(ctx, d, tok, "", subject)
}

// tokenError sorts an error of the token endpoint: a refusal (4xx) is
// refused, anything else — a 5xx, a timeout, a reset — is an outage. An
// answer's body is never kept (a proxy or debug page may echo the request,
// code, refresh token and client secret included): only its error code or
// status.
func tokenError(what string, err error, refused error) error {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) && re.Response != nil {
		code := re.ErrorCode
		if code == "" {
			code = re.Response.Status
		}
		if re.Response.StatusCode >= 400 && re.Response.StatusCode < 500 {
			return fmt.Errorf("%w: %s: the provider answered %s", refused, what, clip(code))
		}
		return fmt.Errorf("%w: %s: the provider answered %s", ErrUnavailable, what, clip(code))
	}
	return fmt.Errorf("%w: %s: %v", ErrUnavailable, what, err)
}

// clip keeps a provider's error code printable and short for messages.
func clip(s string) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return -1
		}
		return r
	}, s)
	if len(s) > 80 {
		s = s[:80]
	}
	return s
}

// result verifies the ID token of a token response and reads its claims,
// completing them from userinfo when the groups claim is absent. A
// refresh answer may lack an ID token (OIDC Core 12.2): then userinfo
// alone speaks, for the subject already known.
func (p *Provider) result(ctx context.Context, d *gooidc.Provider, tok *oauth2.Token, nonce, subject string) (*Result, error) {
	raw, _ := tok.Extra("id_token").(string)
	res := &Result{RefreshToken: tok.RefreshToken}
	var claims map[string]any
	if raw != "" {
		idt, err := p.verify(ctx, d, raw, nonce, subject == "")
		if err != nil {
			return nil, err
		}
		if subject != "" && idt.Subject != subject {
			return nil, fmt.Errorf("%w: the refreshed ID token is about another subject", ErrRefused)
		}
		if err := idt.Claims(&claims); err != nil {
			return nil, fmt.Errorf("%w: ID token claims: %v", ErrRefused, err)
		}
		res.Expiry = idt.Expiry
		subject = idt.Subject
	} else if nonce != "" {
		return nil, fmt.Errorf("%w: the provider returned no ID token", ErrRefused)
	}
	if _, ok := claims[p.cfg.GroupsClaim]; !ok || raw == "" {
		info, err := d.UserInfo(p.ctx(ctx), oauth2.StaticTokenSource(tok))
		switch {
		case err != nil && raw == "":
			return nil, fmt.Errorf("%w: userinfo: %v", ErrUnavailable, err)
		case err == nil && info.Subject != subject:
			return nil, fmt.Errorf("%w: userinfo is about another subject", ErrRefused)
		case err == nil:
			var more map[string]any
			if err := info.Claims(&more); err == nil {
				if claims == nil {
					claims = map[string]any{}
				}
				for k, v := range more {
					if _, ok := claims[k]; !ok {
						claims[k] = v
					}
				}
			}
		}
	}
	res.Claims = p.claims(claims, subject)
	return res, nil
}

// claims reads the person's claims, with the configured claim names, about
// subject.
func (p *Provider) claims(claims map[string]any, subject string) people.Claims {
	return people.Claims{
		Issuer:        p.cfg.Issuer,
		Subject:       subject,
		Email:         str(claims[p.cfg.EmailClaim]),
		EmailVerified: p.verified(claims),
		Name:          str(claims[p.cfg.NameClaim]),
		Groups:        strs(claims[p.cfg.GroupsClaim]),
	}
}

// Verify checks an ID token as the callback does: signature against the
// provider's published keys, issuer, audience (and the authorized party
// when there are several audiences), expiry by the Provider's clock, and
// nonce. It returns the claims and the token's expiry. Errors: ErrRefused,
// ErrUnavailable.
func (p *Provider) Verify(ctx context.Context, rawIDToken, nonce string) (people.Claims, time.Time, error) {
	d, err := p.discover(ctx)
	if err != nil {
		return people.Claims{}, time.Time{}, err
	}
	idt, err := p.verify(ctx, d, rawIDToken, nonce, true)
	if err != nil {
		return people.Claims{}, time.Time{}, err
	}
	var claims map[string]any
	if err := idt.Claims(&claims); err != nil {
		return people.Claims{}, time.Time{}, fmt.Errorf("%w: ID token claims: %v", ErrRefused, err)
	}
	return p.claims(claims, idt.Subject), idt.Expiry, nil
}

func (p *Provider) verify(ctx context.Context, d *gooidc.Provider, raw, nonce string, checkNonce bool) (*gooidc.IDToken, error) {
	if len(raw) > 64<<10 {
		return nil, fmt.Errorf("%w: ID token of %d bytes", ErrRefused, len(raw))
	}
	idt, err := d.Verifier(&gooidc.Config{ClientID: p.cfg.ClientID, Now: p.now}).Verify(p.ctx(ctx), raw)
	if err != nil {
		// Fetching the keys is the only network step of Verify.
		if strings.Contains(err.Error(), "fetching keys") {
			return nil, fmt.Errorf("%w: the provider's keys: %v", ErrUnavailable, err)
		}
		return nil, fmt.Errorf("%w: ID token: %v", ErrRefused, err)
	}
	// OIDC Core 3.1.3.7: with several audiences, azp must be this client.
	if len(idt.Audience) > 1 {
		var azp struct {
			AZP string `json:"azp"`
		}
		if err := idt.Claims(&azp); err != nil || azp.AZP != p.cfg.ClientID {
			return nil, fmt.Errorf("%w: ID token for several audiences names another authorized party", ErrRefused)
		}
	}
	if checkNonce && (nonce == "" || !hmac.Equal([]byte(idt.Nonce), []byte(nonce))) {
		return nil, fmt.Errorf("%w: ID token nonce does not match this sign-in", ErrRefused)
	}
	return idt, nil
}

func str(v any) string {
	s, _ := v.(string)
	return s
}

// verified reads email_verified, which some providers send as a string.
// Without the claim the address counts as verified only with TrustEmail.
func (p *Provider) verified(claims map[string]any) bool {
	v, ok := claims["email_verified"]
	if !ok {
		return p.cfg.TrustEmail
	}
	switch v := v.(type) {
	case bool:
		return v
	case string:
		return v == "true"
	}
	return false
}

// strs reads a groups claim: a list of strings, or one string.
func strs(v any) []string {
	switch v := v.(type) {
	case string:
		return []string{v}
	case []any:
		out := make([]string, 0, len(v))
		for _, e := range v {
			if s, ok := e.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

// EndSessionURL returns the provider's end-session endpoint (RP-initiated
// logout), or "" when it offers none or is not discovered yet.
func (p *Provider) EndSessionURL(ctx context.Context) string {
	if _, err := p.discover(ctx); err != nil {
		return ""
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.endSess
}

// Seal encrypts a refresh token for storage (AES-256-GCM; base64url).
func (p *Provider) Seal(refreshToken string) string {
	nonce := make([]byte, p.seal.NonceSize(), p.seal.NonceSize()+len(refreshToken)+p.seal.Overhead())
	rand.Read(nonce)
	return base64.RawURLEncoding.EncodeToString(p.seal.Seal(nonce, nonce, []byte(refreshToken), nil))
}

// Open decrypts what Seal returned. Errors: ErrGone when it cannot be
// opened (another client secret, or tampered).
func (p *Provider) Open(sealed string) (string, error) {
	b, err := base64.RawURLEncoding.DecodeString(sealed)
	if err != nil || len(b) < p.seal.NonceSize() {
		return "", fmt.Errorf("%w: stored refresh token unreadable", ErrGone)
	}
	plain, err := p.seal.Open(nil, b[:p.seal.NonceSize()], b[p.seal.NonceSize():], nil)
	if err != nil {
		return "", fmt.Errorf("%w: stored refresh token unreadable", ErrGone)
	}
	return string(plain), nil
}
