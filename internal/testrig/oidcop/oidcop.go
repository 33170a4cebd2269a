// Package oidcop runs a real OpenID Provider on 127.0.0.1 for tests and local
// demos of sharesvc's OIDC sign-in. It is a test rig, not for production: the
// users, their plain-text passwords and every token live in memory, the issuer
// is plain http, and there is no sign-in session (every authorization shows
// the login form).
//
// The protocol is github.com/zitadel/oidc's op package: discovery at
// {Issuer}/.well-known/openid-configuration, /authorize, /oauth/token
// (client_secret_basic and client_secret_post), /userinfo, /keys (JWKS),
// /revoke, /oauth/introspect and /end_session (RP-initiated logout). The
// package adds the storage, the login form at /login and knobs for tests:
// SetGroups, RemoveUser, SetDown, AddClient and RotateKey.
//
// What a client must send:
//   - scope "openid" plus "profile" for name and preferred_username, "email"
//     for email and email_verified, "groups" for the groups claim, and
//     "offline_access" for a refresh token. No prompt or consent is needed.
//     The claims go into the ID token as well as the userinfo answer.
//   - PKCE is optional for a client with a secret, enforced (S256 or plain, as
//     the client asked) once a code_challenge was sent, and required for a
//     client without a secret.
//
// Codes are single use, refresh tokens are rotated (the old one is refused
// once used), and a refresh returns an ID token with the user's current
// claims. The ID token has no nonce after a refresh.
package oidcop

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"sync/atomic"
	"time"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
)

// User is an account the provider signs in.
type User struct {
	Subject       string // stable id ("sub")
	Username      string // what the login form takes; also "preferred_username"
	Password      string
	Email         string
	EmailVerified bool
	Name          string   // display name ("name" claim)
	Groups        []string // "groups" claim, when scope "groups" is asked
}

// Client is a relying party registered with the provider. With a Secret it is
// a confidential client authenticating with client_secret_basic or
// client_secret_post; without one it is a public client that must use PKCE.
type Client struct {
	ID, Secret   string
	RedirectURIs []string
	// PostLogoutRedirectURIs are the allowed post_logout_redirect_uri values
	// of end_session.
	PostLogoutRedirectURIs []string
}

// Option changes a default of Start.
type Option func(*options)

type options struct {
	addr                string
	idTokenLifetime     time.Duration
	accessTokenLifetime time.Duration
}

// WithAddr makes the provider listen on addr (such as "127.0.0.1:9998", for a
// demo whose issuer must not change between runs) instead of 127.0.0.1:0.
func WithAddr(addr string) Option {
	return func(o *options) { o.addr = addr }
}

// WithIDTokenLifetime sets how long ID tokens are valid (default 5 minutes).
func WithIDTokenLifetime(d time.Duration) Option {
	return func(o *options) { o.idTokenLifetime = d }
}

// WithAccessTokenLifetime sets how long access tokens are valid (default 5
// minutes).
func WithAccessTokenLifetime(d time.Duration) Option {
	return func(o *options) { o.accessTokenLifetime = d }
}

// Provider is a running OpenID Provider. Its methods are safe for concurrent
// use.
type Provider struct {
	// Issuer is http://127.0.0.1:PORT, without a trailing slash.
	Issuer string

	store *storage
	srv   *http.Server
	down  atomic.Bool
	done  chan struct{}
	stop  func() bool
}

const (
	pathLogin       = "/login"
	pathLoggedOut   = "/logged-out"
	pathAuthorize   = "/authorize"
	pathAuthCallbck = "/authorize/callback"
	pathToken       = "/oauth/token"
)

// Start listens on 127.0.0.1:0 (or the address of WithAddr) and serves a provider that knows users and
// clients, until Close is called or ctx is done. It returns an error for a
// user without Subject or Username, a repeated Subject or Username, a client
// without ID, or a repeated client ID.
func Start(ctx context.Context, users []User, clients []Client, opts ...Option) (*Provider, error) {
	o := options{addr: "127.0.0.1:0", idTokenLifetime: 5 * time.Minute, accessTokenLifetime: 5 * time.Minute}
	for _, opt := range opts {
		opt(&o)
	}
	if o.idTokenLifetime <= 0 || o.accessTokenLifetime <= 0 {
		return nil, errors.New("oidcop: token lifetimes must be positive")
	}
	s := &storage{
		users:               map[string]User{},
		clients:             map[string]Client{},
		authRequests:        map[string]*authRequest{},
		codes:               map[string]string{},
		accessTokens:        map[string]*accessToken{},
		refreshTokens:       map[string]*refreshToken{},
		idTokenLifetime:     o.idTokenLifetime,
		accessTokenLifetime: o.accessTokenLifetime,
	}
	usernames := map[string]bool{}
	for _, u := range users {
		if u.Subject == "" || u.Username == "" {
			return nil, fmt.Errorf("oidcop: user %q: Subject and Username are required", u.Username)
		}
		if _, dup := s.users[u.Subject]; dup || usernames[u.Username] {
			return nil, fmt.Errorf("oidcop: user %q: repeated Subject or Username", u.Username)
		}
		usernames[u.Username] = true
		s.users[u.Subject] = cloneUser(u)
	}
	for _, c := range clients {
		if c.ID == "" {
			return nil, errors.New("oidcop: a client has no ID")
		}
		if _, dup := s.clients[c.ID]; dup {
			return nil, fmt.Errorf("oidcop: client %q is repeated", c.ID)
		}
		s.clients[c.ID] = cloneClient(c)
	}
	key, err := newSigningKey()
	if err != nil {
		return nil, fmt.Errorf("oidcop: %w", err)
	}
	s.keys = []*signingKey{key}

	ln, err := net.Listen("tcp", o.addr)
	if err != nil {
		return nil, fmt.Errorf("oidcop: listen: %w", err)
	}
	p := &Provider{
		Issuer: "http://" + ln.Addr().String(),
		store:  s,
		done:   make(chan struct{}),
	}
	var cryptoKey [32]byte
	rand.Read(cryptoKey[:])
	config := &op.Config{
		CryptoKey:                cryptoKey,
		CryptoKeyId:              "access",
		DefaultLogoutRedirectURI: pathLoggedOut,
		CodeMethodS256:           true,
		AuthMethodPost:           true,
		GrantTypeRefreshToken:    true,
		SupportedScopes: []string{
			oidc.ScopeOpenID, oidc.ScopeProfile, oidc.ScopeEmail, ScopeGroups, oidc.ScopeOfflineAccess,
		},
		SupportedClaims: []string{
			"sub", "aud", "exp", "iat", "iss", "auth_time", "nonce", "azp", "at_hash", "c_hash", "amr",
			"name", "preferred_username", "email", "email_verified", "groups",
		},
	}
	provider, err := op.NewProvider(config, s, op.StaticIssuer(p.Issuer),
		op.WithAllowInsecure(), // http issuer on 127.0.0.1, for this rig only
		op.WithLogger(slog.New(slog.DiscardHandler)),
	)
	if err != nil {
		ln.Close()
		return nil, fmt.Errorf("oidcop: %w", err)
	}

	mux := http.NewServeMux()
	mux.HandleFunc("GET "+pathLogin, p.loginPage)
	mux.HandleFunc("POST "+pathLogin, p.loginSubmit)
	mux.HandleFunc("GET "+pathLoggedOut, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		io.WriteString(w, loggedOutPage)
	})
	mux.Handle("/", provider)

	p.srv = &http.Server{
		Handler:           p.serveUnlessDown(mux),
		ReadHeaderTimeout: 10 * time.Second,
	}
	go func() {
		defer close(p.done)
		p.srv.Serve(ln)
	}()
	p.stop = context.AfterFunc(ctx, func() { p.Close() })
	return p, nil
}

// Close stops the provider and waits for requests in flight, for at most 5
// seconds. It returns the error of http.Server.Shutdown.
func (p *Provider) Close() error {
	p.stop()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := p.srv.Shutdown(ctx)
	<-p.done
	return err
}

func (p *Provider) serveUnlessDown(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p.down.Load() {
			http.Error(w, "provider is down", http.StatusServiceUnavailable)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// SetDown makes every endpoint answer 503 Service Unavailable while down is
// true.
func (p *Provider) SetDown(down bool) { p.down.Store(down) }

// SetGroups replaces the groups of the user with subject; the next token,
// refresh or userinfo answer carries them. An unknown subject is ignored.
func (p *Provider) SetGroups(subject string, groups ...string) {
	s := p.store
	s.mu.Lock()
	defer s.mu.Unlock()
	if u, ok := s.users[subject]; ok {
		u.Groups = slices.Clone(groups)
		s.users[subject] = u
	}
}

// SetUser adds a user, or replaces the one with the same Subject (a changed
// email or name shows in the next token, refresh or userinfo answer).
func (p *Provider) SetUser(u User) {
	s := p.store
	s.mu.Lock()
	defer s.mu.Unlock()
	s.users[u.Subject] = cloneUser(u)
}

// RemoveUser forgets the user with subject: they can no longer sign in, their
// refresh tokens are refused with invalid_grant and userinfo refuses their
// access tokens.
func (p *Provider) RemoveUser(subject string) {
	s := p.store
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.users, subject)
}

// AddClient registers c, replacing a client with the same ID.
func (p *Provider) AddClient(c Client) {
	s := p.store
	s.mu.Lock()
	defer s.mu.Unlock()
	s.clients[c.ID] = cloneClient(c)
}

// RotateKey generates a new RS256 key, signs every later token with it and
// publishes it in the JWKS next to the earlier keys, which stay published so
// earlier tokens still verify. It returns the new key's ID ("kid").
func (p *Provider) RotateKey() (string, error) {
	k, err := newSigningKey()
	if err != nil {
		return "", fmt.Errorf("oidcop: %w", err)
	}
	s := p.store
	s.mu.Lock()
	defer s.mu.Unlock()
	s.keys = append(s.keys, k)
	return k.id, nil
}

func cloneUser(u User) User {
	u.Groups = slices.Clone(u.Groups)
	return u
}

func cloneClient(c Client) Client {
	c.RedirectURIs = slices.Clone(c.RedirectURIs)
	c.PostLogoutRedirectURIs = slices.Clone(c.PostLogoutRedirectURIs)
	return c
}
