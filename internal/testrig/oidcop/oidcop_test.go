package oidcop_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/zitadel/oidc/v3/pkg/client/rp"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"golang.org/x/oauth2"

	"github.com/sharesvc/sharesvc/internal/testrig/oidcop"
)

var (
	alice = oidcop.User{
		Subject: "u-alice", Username: "alice", Password: "alice-pw",
		Email: "alice@example.com", EmailVerified: true, Name: "Alice Adams",
		Groups: []string{"staff"},
	}
	bob = oidcop.User{
		Subject: "u-bob", Username: "bob", Password: "bob-pw",
		Email: "bob@example.com", Name: "Bob Brown",
	}
	web = oidcop.Client{
		ID: "sharesvc", Secret: "web-secret",
		RedirectURIs:           []string{"http://127.0.0.1:1/auth/callback"},
		PostLogoutRedirectURIs: []string{"http://127.0.0.1:1/signed-out"},
	}
)

func start(t *testing.T, opts ...oidcop.Option) *oidcop.Provider {
	t.Helper()
	p, err := oidcop.Start(t.Context(), []oidcop.User{alice, bob}, []oidcop.Client{web}, opts...)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

type discovery struct {
	Issuer              string   `json:"issuer"`
	AuthorizationURL    string   `json:"authorization_endpoint"`
	TokenURL            string   `json:"token_endpoint"`
	UserinfoURL         string   `json:"userinfo_endpoint"`
	JWKSURL             string   `json:"jwks_uri"`
	EndSessionURL       string   `json:"end_session_endpoint"`
	TokenAuthMethods    []string `json:"token_endpoint_auth_methods_supported"`
	CodeChallengeMethod []string `json:"code_challenge_methods_supported"`
	Scopes              []string `json:"scopes_supported"`
}

func discover(t *testing.T, p *oidcop.Provider) discovery {
	t.Helper()
	resp, err := http.Get(p.Issuer + "/.well-known/openid-configuration")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("discovery: %s", resp.Status)
	}
	var d discovery
	if err := json.NewDecoder(resp.Body).Decode(&d); err != nil {
		t.Fatal(err)
	}
	return d
}

func oauthConfig(d discovery, c oidcop.Client, style oauth2.AuthStyle, scopes ...string) *oauth2.Config {
	return &oauth2.Config{
		ClientID:     c.ID,
		ClientSecret: c.Secret,
		RedirectURL:  c.RedirectURIs[0],
		Scopes:       append([]string{oidc.ScopeOpenID}, scopes...),
		Endpoint:     oauth2.Endpoint{AuthURL: d.AuthorizationURL, TokenURL: d.TokenURL, AuthStyle: style},
	}
}

// signIn runs Login for user and returns the code, after checking the state
// came back.
func signIn(t *testing.T, p *oidcop.Provider, conf *oauth2.Config, u oidcop.User, nonce, verifier string) string {
	t.Helper()
	const state = "st-123"
	authURL := conf.AuthCodeURL(state, oauth2.S256ChallengeOption(verifier), oauth2.SetAuthURLParam("nonce", nonce))
	back, err := p.Login(t.Context(), authURL, u.Username, u.Password)
	if err != nil {
		t.Fatalf("Login: %v", err)
	}
	if got := back.Scheme + "://" + back.Host + back.Path; got != conf.RedirectURL {
		t.Fatalf("Login ended at %s, want the redirect URI %s", got, conf.RedirectURL)
	}
	if back.Query().Get("state") != state || back.Query().Get("code") == "" {
		t.Fatalf("redirect query %v: want state %q and a code", back.Query(), state)
	}
	return back.Query().Get("code")
}

func verifyIDToken(t *testing.T, d discovery, clientID, nonce, token string) *oidc.IDTokenClaims {
	t.Helper()
	keys := rp.NewRemoteKeySet(http.DefaultClient, d.JWKSURL)
	var opts []rp.VerifierOption
	if nonce != "" {
		opts = append(opts, rp.WithNonce(func(context.Context) string { return nonce }))
	}
	claims, err := rp.VerifyIDToken[*oidc.IDTokenClaims](t.Context(), token, rp.NewIDTokenVerifier(d.Issuer, clientID, keys, opts...))
	if err != nil {
		t.Fatalf("verify ID token: %v", err)
	}
	return claims
}

func idToken(t *testing.T, tok *oauth2.Token) string {
	t.Helper()
	s, _ := tok.Extra("id_token").(string)
	if s == "" {
		t.Fatal("token response has no id_token")
	}
	return s
}

func groups(c *oidc.IDTokenClaims) []string {
	raw, _ := c.Claims["groups"].([]any)
	var out []string
	for _, g := range raw {
		s, _ := g.(string)
		out = append(out, s)
	}
	return out
}

func wantOAuthError(t *testing.T, err error, code string) {
	t.Helper()
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) || re.ErrorCode != code {
		t.Fatalf("got %v, want OAuth error %s", err, code)
	}
}

func userinfo(t *testing.T, d discovery, accessToken string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, d.UserinfoURL, nil)
	req.Header.Set("Authorization", "Bearer "+accessToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	json.NewDecoder(resp.Body).Decode(&m)
	return resp.StatusCode, m
}

func TestCodeFlow(t *testing.T) {
	t.Parallel()
	p := start(t)
	if strings.HasSuffix(p.Issuer, "/") || !strings.HasPrefix(p.Issuer, "http://127.0.0.1:") {
		t.Fatalf("Issuer %q", p.Issuer)
	}
	d := discover(t, p)
	if d.Issuer != p.Issuer {
		t.Fatalf("discovery issuer %q, want %q", d.Issuer, p.Issuer)
	}
	for _, m := range []string{"client_secret_basic", "client_secret_post"} {
		if !slices.Contains(d.TokenAuthMethods, m) {
			t.Errorf("token_endpoint_auth_methods_supported %v lacks %s", d.TokenAuthMethods, m)
		}
	}
	if !slices.Contains(d.CodeChallengeMethod, "S256") || !slices.Contains(d.Scopes, "groups") || d.EndSessionURL == "" {
		t.Errorf("discovery %+v: want S256, scope groups and an end_session_endpoint", d)
	}

	conf := oauthConfig(d, web, oauth2.AuthStyleInHeader, "profile", "email", "groups")
	verifier := oauth2.GenerateVerifier()
	code := signIn(t, p, conf, alice, "n-0S6_WzA2Mj", verifier)
	tok, err := conf.Exchange(t.Context(), code, oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatalf("Exchange: %v", err)
	}
	if tok.RefreshToken != "" {
		t.Errorf("refresh token issued without offline_access")
	}
	c := verifyIDToken(t, d, web.ID, "n-0S6_WzA2Mj", idToken(t, tok))
	if c.Issuer != p.Issuer || !slices.Equal(c.Audience, []string{web.ID}) || c.Subject != alice.Subject || c.Nonce != "n-0S6_WzA2Mj" {
		t.Errorf("iss %q aud %v sub %q nonce %q", c.Issuer, c.Audience, c.Subject, c.Nonce)
	}
	if c.Email != alice.Email || !bool(c.EmailVerified) || c.Name != alice.Name || c.PreferredUsername != alice.Username {
		t.Errorf("email %q verified %v name %q preferred_username %q", c.Email, c.EmailVerified, c.Name, c.PreferredUsername)
	}
	if got := groups(c); !slices.Equal(got, alice.Groups) {
		t.Errorf("groups %v, want %v", got, alice.Groups)
	}

	status, info := userinfo(t, d, tok.AccessToken)
	if status != http.StatusOK || info["sub"] != alice.Subject || info["email"] != alice.Email || info["name"] != alice.Name {
		t.Errorf("userinfo %d %v", status, info)
	}
	if g, _ := info["groups"].([]any); len(g) != 1 || g[0] != "staff" {
		t.Errorf("userinfo groups %v", info["groups"])
	}

	// The code was used: a second exchange is refused.
	_, err = conf.Exchange(t.Context(), code, oauth2.VerifierOption(verifier))
	wantOAuthError(t, err, "invalid_grant")
}

func TestGroupsOnlyWithScope(t *testing.T) {
	t.Parallel()
	p := start(t)
	d := discover(t, p)
	conf := oauthConfig(d, web, oauth2.AuthStyleInHeader, "email")
	verifier := oauth2.GenerateVerifier()
	tok, err := conf.Exchange(t.Context(), signIn(t, p, conf, alice, "n1", verifier), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}
	c := verifyIDToken(t, d, web.ID, "n1", idToken(t, tok))
	if _, ok := c.Claims["groups"]; ok || c.Name != "" || c.Email != alice.Email {
		t.Errorf("without scopes groups and profile: groups %v name %q email %q", c.Claims["groups"], c.Name, c.Email)
	}
}

func TestClientSecretPost(t *testing.T) {
	t.Parallel()
	p := start(t)
	d := discover(t, p)
	conf := oauthConfig(d, web, oauth2.AuthStyleInParams)
	verifier := oauth2.GenerateVerifier()
	if _, err := conf.Exchange(t.Context(), signIn(t, p, conf, bob, "n", verifier), oauth2.VerifierOption(verifier)); err != nil {
		t.Fatalf("Exchange with client_secret_post: %v", err)
	}

	wrong := *conf
	wrong.ClientSecret = "not-the-secret"
	_, err := wrong.Exchange(t.Context(), signIn(t, p, conf, bob, "n", verifier), oauth2.VerifierOption(verifier))
	wantOAuthError(t, err, "invalid_client")
}

func TestPKCEMismatchRefused(t *testing.T) {
	t.Parallel()
	p := start(t)
	d := discover(t, p)
	conf := oauthConfig(d, web, oauth2.AuthStyleInHeader)
	verifier := oauth2.GenerateVerifier()

	_, err := conf.Exchange(t.Context(), signIn(t, p, conf, alice, "n", verifier), oauth2.VerifierOption(oauth2.GenerateVerifier()))
	wantOAuthError(t, err, "invalid_grant")

	_, err = conf.Exchange(t.Context(), signIn(t, p, conf, alice, "n", verifier))
	wantOAuthError(t, err, "invalid_request")

	// Without a code_challenge a client with a secret needs no verifier.
	if _, err := conf.Exchange(t.Context(), signInPlain(t, p, conf, alice)); err != nil {
		t.Fatalf("confidential client without PKCE: %v", err)
	}
}

func TestWrongPasswordRefused(t *testing.T) {
	t.Parallel()
	p := start(t)
	d := discover(t, p)
	conf := oauthConfig(d, web, oauth2.AuthStyleInHeader)
	authURL := conf.AuthCodeURL("s", oauth2.S256ChallengeOption(oauth2.GenerateVerifier()))

	if _, err := p.Login(t.Context(), authURL, alice.Username, "bob-pw"); !errors.Is(err, oidcop.ErrLoginFailed) {
		t.Fatalf("Login with a wrong password: %v, want ErrLoginFailed", err)
	}
	if _, err := p.Login(t.Context(), authURL, "nobody", "x"); !errors.Is(err, oidcop.ErrLoginFailed) {
		t.Fatalf("Login as an unknown user: %v, want ErrLoginFailed", err)
	}

	// What a browser sees: the form, then the form again with an error.
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noRedirect.Get(authURL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loginURL, err := resp.Location()
	if err != nil {
		t.Fatalf("authorize answered %s without a redirect to the login form", resp.Status)
	}
	page := get(t, loginURL.String())
	for _, want := range []string{`id="username"`, `name="username"`, `id="password"`, `name="password"`, `id="submit"`} {
		if !strings.Contains(page, want) {
			t.Errorf("login form lacks %s", want)
		}
	}
	resp, err = noRedirect.PostForm(p.Issuer+"/login", url.Values{
		"id": {loginURL.Query().Get("authRequestID")}, "username": {"alice"}, "password": {"wrong"},
	})
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "Wrong username or password") {
		t.Errorf("wrong password answered %s: %s", resp.Status, body)
	}
}

func get(t *testing.T, u string) string {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", u, resp.Status)
	}
	return string(b)
}

func TestRefreshCarriesCurrentGroups(t *testing.T) {
	t.Parallel()
	p := start(t)
	d := discover(t, p)
	conf := oauthConfig(d, web, oauth2.AuthStyleInHeader, "profile", "email", "groups", "offline_access")
	verifier := oauth2.GenerateVerifier()
	tok, err := conf.Exchange(t.Context(), signIn(t, p, conf, alice, "n", verifier), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}
	if tok.RefreshToken == "" {
		t.Fatal("no refresh token with offline_access")
	}

	p.SetGroups(alice.Subject, "staff", "auditors")
	refreshed, err := conf.TokenSource(t.Context(), &oauth2.Token{RefreshToken: tok.RefreshToken}).Token()
	if err != nil {
		t.Fatalf("refresh: %v", err)
	}
	c := verifyIDToken(t, d, web.ID, "", idToken(t, refreshed))
	if got := groups(c); !slices.Equal(got, []string{"staff", "auditors"}) {
		t.Errorf("groups after refresh %v", got)
	}
	if c.Subject != alice.Subject || c.Email != alice.Email {
		t.Errorf("sub %q email %q after refresh", c.Subject, c.Email)
	}
	if refreshed.RefreshToken == "" || refreshed.RefreshToken == tok.RefreshToken {
		t.Errorf("refresh token not rotated")
	}

	// A used refresh token is refused.
	_, err = conf.TokenSource(t.Context(), &oauth2.Token{RefreshToken: tok.RefreshToken}).Token()
	wantOAuthError(t, err, "invalid_grant")
}

func TestRemovedUserRefused(t *testing.T) {
	t.Parallel()
	p := start(t)
	d := discover(t, p)
	conf := oauthConfig(d, web, oauth2.AuthStyleInHeader, "offline_access")
	verifier := oauth2.GenerateVerifier()
	tok, err := conf.Exchange(t.Context(), signIn(t, p, conf, bob, "n", verifier), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}
	if status, _ := userinfo(t, d, tok.AccessToken); status != http.StatusOK {
		t.Fatalf("userinfo before RemoveUser: %d", status)
	}

	p.RemoveUser(bob.Subject)
	_, err = conf.TokenSource(t.Context(), &oauth2.Token{RefreshToken: tok.RefreshToken}).Token()
	wantOAuthError(t, err, "invalid_grant")
	if status, _ := userinfo(t, d, tok.AccessToken); status == http.StatusOK {
		t.Errorf("userinfo after RemoveUser: %d", status)
	}
	authURL := conf.AuthCodeURL("s", oauth2.S256ChallengeOption(verifier))
	if _, err := p.Login(t.Context(), authURL, bob.Username, bob.Password); !errors.Is(err, oidcop.ErrLoginFailed) {
		t.Errorf("Login after RemoveUser: %v", err)
	}
}

func TestSetDown(t *testing.T) {
	t.Parallel()
	p := start(t)
	d := discover(t, p)
	p.SetDown(true)
	for _, u := range []string{p.Issuer + "/.well-known/openid-configuration", d.JWKSURL, d.AuthorizationURL, p.Issuer + "/login"} {
		resp, err := http.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusServiceUnavailable {
			t.Errorf("GET %s while down: %s", u, resp.Status)
		}
	}
	resp, err := http.PostForm(d.TokenURL, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"x"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("token endpoint while down: %s", resp.Status)
	}
	p.SetDown(false)
	discover(t, p)
}

func TestIDTokenAndRotateKey(t *testing.T) {
	t.Parallel()
	p := start(t)
	d := discover(t, p)
	other := oidcop.Client{ID: "other-app", Secret: "other-secret"}
	first, err := p.IDToken(t.Context(), other, alice.Subject, "nonce-1")
	if err != nil {
		t.Fatalf("IDToken: %v", err)
	}
	c := verifyIDToken(t, d, other.ID, "nonce-1", first)
	if !slices.Equal(c.Audience, []string{other.ID}) || c.Subject != alice.Subject || !slices.Equal(groups(c), alice.Groups) {
		t.Errorf("aud %v sub %q groups %v", c.Audience, c.Subject, groups(c))
	}
	if _, err := p.IDToken(t.Context(), web, "nobody", "n"); err == nil {
		t.Error("IDToken for an unknown subject succeeded")
	}

	kid, err := p.RotateKey()
	if err != nil {
		t.Fatal(err)
	}
	second, err := p.IDToken(t.Context(), web, bob.Subject, "nonce-2")
	if err != nil {
		t.Fatal(err)
	}
	if got := headerKID(t, second); got != kid {
		t.Errorf("token after RotateKey signed with %q, want %q", got, kid)
	}
	if headerKID(t, first) == kid {
		t.Error("RotateKey returned the old key's ID")
	}
	verifyIDToken(t, d, web.ID, "nonce-2", second)
	verifyIDToken(t, d, other.ID, "nonce-1", first)
}

func headerKID(t *testing.T, jwt string) string {
	t.Helper()
	var h struct {
		KID string `json:"kid"`
	}
	b, err := base64.RawURLEncoding.DecodeString(strings.Split(jwt, ".")[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &h); err != nil {
		t.Fatal(err)
	}
	return h.KID
}

func TestIDTokenLifetime(t *testing.T) {
	t.Parallel()
	p := start(t, oidcop.WithIDTokenLifetime(90*time.Second))
	d := discover(t, p)
	tok, err := p.IDToken(t.Context(), web, alice.Subject, "n")
	if err != nil {
		t.Fatal(err)
	}
	c := verifyIDToken(t, d, web.ID, "n", tok)
	if got := c.GetExpiration().Sub(c.GetIssuedAt()); got != 90*time.Second {
		t.Errorf("exp-iat %v, want 90s", got)
	}
}

func TestEndSession(t *testing.T) {
	t.Parallel()
	p := start(t)
	d := discover(t, p)
	conf := oauthConfig(d, web, oauth2.AuthStyleInHeader, "offline_access")
	verifier := oauth2.GenerateVerifier()
	tok, err := conf.Exchange(t.Context(), signIn(t, p, conf, alice, "n", verifier), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}
	q := url.Values{
		"id_token_hint":            {idToken(t, tok)},
		"post_logout_redirect_uri": {web.PostLogoutRedirectURIs[0]},
		"state":                    {"bye"},
	}
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noRedirect.Get(d.EndSessionURL + "?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusFound || loc != web.PostLogoutRedirectURIs[0]+"?state=bye" {
		t.Fatalf("end_session answered %s to %q", resp.Status, loc)
	}
	_, err = conf.TokenSource(t.Context(), &oauth2.Token{RefreshToken: tok.RefreshToken}).Token()
	wantOAuthError(t, err, "invalid_grant")
}

func TestStartRefusesBadInput(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		users   []oidcop.User
		clients []oidcop.Client
	}{
		"user without subject": {users: []oidcop.User{{Username: "x"}}},
		"repeated username":    {users: []oidcop.User{alice, {Subject: "other", Username: alice.Username}}},
		"client without ID":    {clients: []oidcop.Client{{Secret: "s"}}},
		"repeated client":      {clients: []oidcop.Client{web, web}},
	} {
		if p, err := oidcop.Start(t.Context(), tc.users, tc.clients); err == nil {
			p.Close()
			t.Errorf("%s: Start succeeded", name)
		}
	}
}

func TestPublicClientNeedsPKCE(t *testing.T) {
	t.Parallel()
	p := start(t)
	spa := oidcop.Client{ID: "spa", RedirectURIs: []string{"http://127.0.0.1:1/spa/callback"}}
	p.AddClient(spa)
	d := discover(t, p)
	conf := oauthConfig(d, spa, oauth2.AuthStyleInParams, "offline_access")

	code := signInPlain(t, p, conf, alice)
	_, err := conf.Exchange(t.Context(), code)
	wantOAuthError(t, err, "invalid_request")

	verifier := oauth2.GenerateVerifier()
	tok, err := conf.Exchange(t.Context(), signIn(t, p, conf, alice, "n", verifier), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatalf("public client with PKCE: %v", err)
	}
	if _, err := conf.TokenSource(t.Context(), &oauth2.Token{RefreshToken: tok.RefreshToken}).Token(); err != nil {
		t.Fatalf("public client refresh: %v", err)
	}
}

// signInPlain signs in without PKCE.
func signInPlain(t *testing.T, p *oidcop.Provider, conf *oauth2.Config, u oidcop.User) string {
	t.Helper()
	back, err := p.Login(t.Context(), conf.AuthCodeURL("s"), u.Username, u.Password)
	if err != nil {
		t.Fatalf("Login: %v", err)
	}
	return back.Query().Get("code")
}

func TestProvidersAreIndependent(t *testing.T) {
	t.Parallel()
	p1, p2 := start(t), start(t)
	tok, err := p1.IDToken(t.Context(), web, alice.Subject, "n")
	if err != nil {
		t.Fatal(err)
	}
	d2 := discover(t, p2)
	keys := rp.NewRemoteKeySet(http.DefaultClient, d2.JWKSURL)
	v := rp.NewIDTokenVerifier(p1.Issuer, web.ID, keys)
	if _, err := rp.VerifyIDToken[*oidc.IDTokenClaims](t.Context(), tok, v); err == nil {
		t.Fatal("a token of one provider verified with the keys of another")
	}
	p1.SetDown(true)
	discover(t, p2)
}
