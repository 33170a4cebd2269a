package oidcop

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/subtle"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
)

// ScopeGroups is the scope that puts the "groups" claim into ID tokens and
// userinfo answers.
const ScopeGroups = "groups"

// storage is the in-memory op.Storage behind one Provider. Every field is
// guarded by mu; values handed to the op package are copies, so the op reads
// them without the lock.
type storage struct {
	mu sync.Mutex

	users         map[string]User // by Subject
	clients       map[string]Client
	authRequests  map[string]*authRequest
	codes         map[string]string // code -> auth request ID
	accessTokens  map[string]*accessToken
	refreshTokens map[string]*refreshToken
	keys          []*signingKey // the last one signs; all are published

	idTokenLifetime     time.Duration
	accessTokenLifetime time.Duration
}

var (
	_ op.Storage                   = (*storage)(nil)
	_ op.CanSetUserinfoFromRequest = (*storage)(nil)
)

func newID() string { return rand.Text() }

// loginURL is where the op sends the browser to sign in for auth request id.
func loginURL(id string) string { return pathLogin + "?authRequestID=" + id }

type authRequest struct {
	ID            string
	ClientID      string
	RedirectURI   string
	State         string
	Nonce         string
	Scopes        []string
	ResponseType  oidc.ResponseType
	ResponseMode  oidc.ResponseMode
	CodeChallenge *oidc.CodeChallenge
	Subject       string
	AuthTime      time.Time
	done          bool
}

func (a *authRequest) GetID() string                         { return a.ID }
func (a *authRequest) GetACR() string                        { return "" }
func (a *authRequest) GetAMR() []string                      { return []string{"pwd"} }
func (a *authRequest) GetAudience() []string                 { return []string{a.ClientID} }
func (a *authRequest) GetAuthTime() time.Time                { return a.AuthTime }
func (a *authRequest) GetClientID() string                   { return a.ClientID }
func (a *authRequest) GetCodeChallenge() *oidc.CodeChallenge { return a.CodeChallenge }
func (a *authRequest) GetNonce() string                      { return a.Nonce }
func (a *authRequest) GetRedirectURI() string                { return a.RedirectURI }
func (a *authRequest) GetResponseType() oidc.ResponseType    { return a.ResponseType }
func (a *authRequest) GetResponseMode() oidc.ResponseMode    { return a.ResponseMode }
func (a *authRequest) GetScopes() []string                   { return a.Scopes }
func (a *authRequest) GetState() string                      { return a.State }
func (a *authRequest) GetSubject() string                    { return a.Subject }
func (a *authRequest) Done() bool                            { return a.done }

func (a *authRequest) clone() *authRequest {
	c := *a
	c.Scopes = slices.Clone(a.Scopes)
	return &c
}

type accessToken struct {
	ID         string
	ClientID   string
	Subject    string
	Scopes     []string
	Expiration time.Time
	RefreshID  string
}

type refreshToken struct {
	Token    string
	ClientID string
	Subject  string
	Scopes   []string
	AuthTime time.Time
	AMR      []string
	AccessID string
}

// refreshRequest is what the op gets back for a refresh token.
type refreshRequest struct{ refreshToken }

func (r *refreshRequest) GetAMR() []string            { return r.AMR }
func (r *refreshRequest) GetAudience() []string       { return []string{r.ClientID} }
func (r *refreshRequest) GetAuthTime() time.Time      { return r.AuthTime }
func (r *refreshRequest) GetClientID() string         { return r.ClientID }
func (r *refreshRequest) GetScopes() []string         { return r.Scopes }
func (r *refreshRequest) GetSubject() string          { return r.Subject }
func (r *refreshRequest) SetCurrentScopes(s []string) { r.Scopes = s }

type signingKey struct {
	id  string
	key *rsa.PrivateKey
}

func (k *signingKey) SignatureAlgorithm() jose.SignatureAlgorithm { return jose.RS256 }
func (k *signingKey) Key() any                                    { return k.key }
func (k *signingKey) ID() string                                  { return k.id }

type publicKey struct{ *signingKey }

func (k publicKey) ID() string                         { return k.id }
func (k publicKey) Algorithm() jose.SignatureAlgorithm { return jose.RS256 }
func (k publicKey) Use() string                        { return "sig" }
func (k publicKey) Key() any                           { return &k.key.PublicKey }

func newSigningKey() (*signingKey, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, fmt.Errorf("generate signing key: %w", err)
	}
	return &signingKey{id: newID(), key: key}, nil
}

// checkLogin marks auth request id as signed in by the user with username and
// password, and reports errWrongPassword when they do not match a user.
func (s *storage) checkLogin(id, username, password string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	req, ok := s.authRequests[id]
	if !ok {
		return errUnknownRequest
	}
	for _, u := range s.users {
		if u.Username == username && subtle.ConstantTimeCompare([]byte(u.Password), []byte(password)) == 1 {
			req.Subject = u.Subject
			req.AuthTime = time.Now()
			req.done = true
			return nil
		}
	}
	return errWrongPassword
}

var (
	errUnknownRequest = errors.New("unknown or finished sign-in request")
	errWrongPassword  = errors.New("wrong username or password")
)

func (s *storage) CreateAuthRequest(_ context.Context, r *oidc.AuthRequest, _ string) (op.AuthRequest, error) {
	if slices.Contains(r.Prompt, oidc.PromptNone) {
		// There is no sign-in session to reuse: every authorization shows the form.
		return nil, oidc.ErrLoginRequired()
	}
	req := &authRequest{
		ID:           newID(),
		ClientID:     r.ClientID,
		RedirectURI:  r.RedirectURI,
		State:        r.State,
		Nonce:        r.Nonce,
		Scopes:       slices.Clone(r.Scopes),
		ResponseType: r.ResponseType,
		ResponseMode: r.ResponseMode,
	}
	if r.CodeChallenge != "" {
		req.CodeChallenge = &oidc.CodeChallenge{Challenge: r.CodeChallenge, Method: r.CodeChallengeMethod}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.authRequests[req.ID] = req
	return req.clone(), nil
}

func (s *storage) AuthRequestByID(_ context.Context, id string) (op.AuthRequest, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	req, ok := s.authRequests[id]
	if !ok {
		return nil, errUnknownRequest
	}
	return req.clone(), nil
}

// AuthRequestByCode consumes the code: a second redemption, even a concurrent
// one, finds nothing.
func (s *storage) AuthRequestByCode(_ context.Context, code string) (op.AuthRequest, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	id, ok := s.codes[code]
	if !ok {
		return nil, errors.New("unknown or used code")
	}
	delete(s.codes, code)
	req, ok := s.authRequests[id]
	if !ok {
		return nil, errUnknownRequest
	}
	return req.clone(), nil
}

func (s *storage) SaveAuthCode(_ context.Context, id, code string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.codes[code] = id
	return nil
}

func (s *storage) DeleteAuthRequest(_ context.Context, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.authRequests, id)
	for code, reqID := range s.codes {
		if reqID == id {
			delete(s.codes, code)
		}
	}
	return nil
}

// newAccessToken records an access token; the caller holds mu.
func (s *storage) newAccessToken(clientID, subject, refreshID string, scopes []string) *accessToken {
	t := &accessToken{
		ID:         newID(),
		ClientID:   clientID,
		Subject:    subject,
		Scopes:     slices.Clone(scopes),
		Expiration: time.Now().Add(s.accessTokenLifetime),
		RefreshID:  refreshID,
	}
	s.accessTokens[t.ID] = t
	return t
}

func (s *storage) CreateAccessToken(_ context.Context, r op.TokenRequest) (string, time.Time, error) {
	var clientID string
	if ir, ok := r.(op.IDTokenRequest); ok {
		clientID = ir.GetClientID()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.newAccessToken(clientID, r.GetSubject(), "", r.GetScopes())
	return t.ID, t.Expiration, nil
}

func (s *storage) CreateAccessAndRefreshTokens(_ context.Context, r op.TokenRequest, current string) (string, string, time.Time, error) {
	ir, ok := r.(op.IDTokenRequest)
	if !ok {
		return "", "", time.Time{}, fmt.Errorf("refresh tokens are not issued for %T", r)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.users[r.GetSubject()]; !ok {
		return "", "", time.Time{}, oidc.ErrInvalidGrant().WithDescription("unknown user")
	}
	if current != "" {
		old, ok := s.refreshTokens[current]
		if !ok {
			return "", "", time.Time{}, oidc.ErrInvalidGrant().WithDescription("unknown refresh token")
		}
		delete(s.refreshTokens, current)
		delete(s.accessTokens, old.AccessID)
	}
	rt := &refreshToken{
		Token:    newID(),
		ClientID: ir.GetClientID(),
		Subject:  r.GetSubject(),
		Scopes:   slices.Clone(r.GetScopes()),
		AuthTime: ir.GetAuthTime(),
		AMR:      ir.GetAMR(),
	}
	at := s.newAccessToken(rt.ClientID, rt.Subject, rt.Token, rt.Scopes)
	rt.AccessID = at.ID
	s.refreshTokens[rt.Token] = rt
	return at.ID, rt.Token, at.Expiration, nil
}

// TokenRequestByRefreshToken refuses refresh tokens of users the provider no
// longer knows, which the op answers with invalid_grant.
func (s *storage) TokenRequestByRefreshToken(_ context.Context, token string) (op.RefreshTokenRequest, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rt, ok := s.refreshTokens[token]
	if !ok {
		return nil, errors.New("unknown refresh token")
	}
	if _, ok := s.users[rt.Subject]; !ok {
		return nil, errors.New("unknown user")
	}
	r := &refreshRequest{*rt}
	r.Scopes = slices.Clone(rt.Scopes)
	return r, nil
}

func (s *storage) TerminateSession(_ context.Context, subject, clientID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, t := range s.accessTokens {
		if t.Subject == subject && t.ClientID == clientID {
			delete(s.accessTokens, id)
		}
	}
	for id, t := range s.refreshTokens {
		if t.Subject == subject && t.ClientID == clientID {
			delete(s.refreshTokens, id)
		}
	}
	return nil
}

func (s *storage) GetRefreshTokenInfo(_ context.Context, _ string, token string) (string, string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rt, ok := s.refreshTokens[token]
	if !ok {
		return "", "", op.ErrInvalidRefreshToken
	}
	return rt.Subject, rt.Token, nil
}

func (s *storage) RevokeToken(_ context.Context, tokenOrID, _ string, clientID string) *oidc.Error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if t, ok := s.accessTokens[tokenOrID]; ok {
		if t.ClientID != clientID {
			return oidc.ErrInvalidClient().WithDescription("token was not issued for this client")
		}
		delete(s.accessTokens, tokenOrID)
		return nil
	}
	if rt, ok := s.refreshTokens[tokenOrID]; ok {
		if rt.ClientID != clientID {
			return oidc.ErrInvalidClient().WithDescription("token was not issued for this client")
		}
		delete(s.refreshTokens, tokenOrID)
		delete(s.accessTokens, rt.AccessID)
	}
	return nil
}

func (s *storage) SigningKey(context.Context) (op.SigningKey, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.keys[len(s.keys)-1], nil
}

func (s *storage) SignatureAlgorithms(context.Context) ([]jose.SignatureAlgorithm, error) {
	return []jose.SignatureAlgorithm{jose.RS256}, nil
}

func (s *storage) KeySet(context.Context) ([]op.Key, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	keys := make([]op.Key, 0, len(s.keys))
	for _, k := range s.keys {
		keys = append(keys, publicKey{k})
	}
	return keys, nil
}

func (s *storage) GetClientByClientID(_ context.Context, id string) (op.Client, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.clients[id]
	if !ok {
		return nil, fmt.Errorf("unknown client %q", id)
	}
	return &opClient{c: c, idTokenLifetime: s.idTokenLifetime}, nil
}

func (s *storage) AuthorizeClientIDSecret(_ context.Context, id, secret string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.clients[id]
	if !ok || subtle.ConstantTimeCompare([]byte(c.Secret), []byte(secret)) != 1 {
		return errors.New("unknown client or wrong secret")
	}
	return nil
}

// SetUserinfoFromScopes is left empty as the op package asks; the claims are
// set by SetUserinfoFromRequest.
func (s *storage) SetUserinfoFromScopes(context.Context, *oidc.UserInfo, string, string, []string) error {
	return nil
}

// SetUserinfoFromRequest fills the ID token claims from the user as they are
// now, so a refresh carries the current groups, email and name.
func (s *storage) SetUserinfoFromRequest(_ context.Context, info *oidc.UserInfo, r op.IDTokenRequest, scopes []string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.users[r.GetSubject()]
	if !ok {
		return oidc.ErrInvalidGrant().WithDescription("unknown user")
	}
	setUserinfo(info, u, scopes)
	return nil
}

func setUserinfo(info *oidc.UserInfo, u User, scopes []string) {
	info.Subject = u.Subject
	for _, scope := range scopes {
		switch scope {
		case oidc.ScopeEmail:
			info.Email = u.Email
			info.EmailVerified = oidc.Bool(u.EmailVerified)
		case oidc.ScopeProfile:
			info.Name = u.Name
			info.PreferredUsername = u.Username
		case ScopeGroups:
			info.AppendClaims("groups", append([]string{}, u.Groups...))
		}
	}
}

// SetUserinfoFromToken answers the userinfo endpoint; it refuses expired or
// revoked access tokens and users the provider no longer knows.
func (s *storage) SetUserinfoFromToken(_ context.Context, info *oidc.UserInfo, tokenID, subject, _ string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.accessTokens[tokenID]
	if !ok || t.Subject != subject || time.Now().After(t.Expiration) {
		return errors.New("access token unknown or expired")
	}
	u, ok := s.users[subject]
	if !ok {
		return errors.New("unknown user")
	}
	setUserinfo(info, u, t.Scopes)
	return nil
}

func (s *storage) SetIntrospectionFromToken(_ context.Context, resp *oidc.IntrospectionResponse, tokenID, subject, clientID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.accessTokens[tokenID]
	if !ok || t.Subject != subject || time.Now().After(t.Expiration) {
		return errors.New("access token unknown or expired")
	}
	u, ok := s.users[subject]
	if !ok {
		return errors.New("unknown user")
	}
	info := new(oidc.UserInfo)
	setUserinfo(info, u, t.Scopes)
	resp.SetUserInfo(info)
	resp.Active = true
	resp.Scope = t.Scopes
	resp.ClientID = t.ClientID
	resp.Audience = []string{t.ClientID}
	resp.Expiration = oidc.FromTime(t.Expiration)
	return nil
}

func (s *storage) GetPrivateClaimsFromScopes(context.Context, string, string, []string) (map[string]any, error) {
	return nil, nil
}

func (s *storage) GetKeyByIDAndClientID(context.Context, string, string) (*jose.JSONWebKey, error) {
	return nil, errors.New("private_key_jwt is not supported")
}

func (s *storage) ValidateJWTProfileScopes(_ context.Context, _ string, scopes []string) ([]string, error) {
	return scopes, nil
}

func (s *storage) Health(context.Context) error { return nil }

// opClient is a registered Client as the op package sees it: a confidential
// web client (or a public one when it has no secret) using the code flow.
type opClient struct {
	c               Client
	idTokenLifetime time.Duration
}

func (c *opClient) GetID() string                       { return c.c.ID }
func (c *opClient) RedirectURIs() []string              { return c.c.RedirectURIs }
func (c *opClient) PostLogoutRedirectURIs() []string    { return c.c.PostLogoutRedirectURIs }
func (c *opClient) ApplicationType() op.ApplicationType { return op.ApplicationTypeWeb }
func (c *opClient) AuthMethod() oidc.AuthMethod {
	if c.c.Secret == "" {
		return oidc.AuthMethodNone
	}
	// Basic here also accepts client_secret_post, as the provider enables it.
	return oidc.AuthMethodBasic
}
func (c *opClient) ResponseTypes() []oidc.ResponseType {
	return []oidc.ResponseType{oidc.ResponseTypeCode}
}
func (c *opClient) GrantTypes() []oidc.GrantType {
	return []oidc.GrantType{oidc.GrantTypeCode, oidc.GrantTypeRefreshToken}
}
func (c *opClient) LoginURL(id string) string            { return loginURL(id) }
func (c *opClient) AccessTokenType() op.AccessTokenType  { return op.AccessTokenTypeBearer }
func (c *opClient) IDTokenLifetime() time.Duration       { return c.idTokenLifetime }
func (c *opClient) DevMode() bool                        { return false }
func (c *opClient) IsScopeAllowed(scope string) bool     { return scope == ScopeGroups }
func (c *opClient) IDTokenUserinfoClaimsAssertion() bool { return true }
func (c *opClient) ClockSkew() time.Duration             { return 0 }
func (c *opClient) RestrictAdditionalIdTokenScopes() func([]string) []string {
	return func(s []string) []string { return s }
}
func (c *opClient) RestrictAdditionalAccessTokenScopes() func([]string) []string {
	return func(s []string) []string { return s }
}
