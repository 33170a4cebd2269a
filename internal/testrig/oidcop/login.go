package oidcop

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io"
	"net/http"
	"net/url"
	"strings"
)

var loginTemplate = template.Must(template.New("login").Parse(`<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Sign in</title></head>
<body>
<h1>Sign in</h1>
{{if .Error}}<p id="error" role="alert">{{.Error}}</p>{{end}}
<form method="post" action="/login">
<input type="hidden" name="id" value="{{.ID}}">
<label for="username">Username</label>
<input id="username" name="username" value="{{.Username}}" autocomplete="username" required>
<label for="password">Password</label>
<input id="password" name="password" type="password" autocomplete="current-password" required>
<button id="submit" type="submit">Sign in</button>
</form>
</body>
</html>
`))

const loggedOutPage = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Signed out</title></head>
<body><p id="signed-out">You are signed out.</p></body></html>
`

type loginData struct {
	ID, Username, Error string
}

func renderLogin(w http.ResponseWriter, status int, d loginData) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	loginTemplate.Execute(w, d)
}

func (p *Provider) loginPage(w http.ResponseWriter, r *http.Request) {
	id := r.URL.Query().Get("authRequestID")
	if _, err := p.store.AuthRequestByID(r.Context(), id); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	renderLogin(w, http.StatusOK, loginData{ID: id})
}

// loginSubmit checks the form; a wrong password shows the form again with an
// error, a right one goes on to the op's callback, which redirects to the
// client with the code.
func (p *Provider) loginSubmit(w http.ResponseWriter, r *http.Request) {
	id, username := r.PostFormValue("id"), r.PostFormValue("username")
	err := p.store.checkLogin(id, username, r.PostFormValue("password"))
	switch {
	case errors.Is(err, errWrongPassword):
		renderLogin(w, http.StatusOK, loginData{ID: id, Username: username, Error: "Wrong username or password."})
	case err != nil:
		http.Error(w, err.Error(), http.StatusBadRequest)
	default:
		w.Header().Set("Location", pathAuthCallbck+"?id="+url.QueryEscape(id))
		w.WriteHeader(http.StatusFound)
	}
}

// ErrLoginFailed is returned by Login when the provider refuses the username
// or password.
var ErrLoginFailed = errors.New("oidcop: wrong username or password")

// Login runs the authorization code flow over plain HTTP, without a browser:
// it fetches authURL (the provider's authorize endpoint with the client's
// query parameters), posts username and password to the login form and
// follows the redirects until one leaves the provider, and returns that URL
// (the client's redirect URI with code and state, or with error) unfetched.
// It returns ErrLoginFailed for a wrong username or password, and an error
// naming the status for any other answer that is not a redirect.
func (p *Provider) Login(ctx context.Context, authURL, username, password string) (*url.URL, error) {
	issuer, _ := url.Parse(p.Issuer)
	next, err := url.Parse(authURL)
	if err != nil {
		return nil, fmt.Errorf("oidcop: login: %w", err)
	}
	if next.Host != issuer.Host {
		return nil, fmt.Errorf("oidcop: login: %s is not at the issuer %s", next.Redacted(), p.Issuer)
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	posted := false
	for range 10 {
		if next.Scheme != issuer.Scheme || next.Host != issuer.Host {
			return next, nil
		}
		var req *http.Request
		if next.Path == pathLogin && !posted {
			// Fetch the form as a browser would, then post it.
			if err := p.fetchLoginForm(ctx, client, next); err != nil {
				return nil, err
			}
			form := url.Values{
				"id":       {next.Query().Get("authRequestID")},
				"username": {username},
				"password": {password},
			}
			req, err = http.NewRequestWithContext(ctx, http.MethodPost, issuer.JoinPath(pathLogin).String(), strings.NewReader(form.Encode()))
			if err == nil {
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			}
			posted = true
		} else {
			req, err = http.NewRequestWithContext(ctx, http.MethodGet, next.String(), nil)
		}
		if err != nil {
			return nil, fmt.Errorf("oidcop: login: %w", err)
		}
		resp, err := client.Do(req)
		if err != nil {
			return nil, fmt.Errorf("oidcop: login: %w", err)
		}
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		resp.Body.Close()
		switch {
		case resp.StatusCode == http.StatusFound || resp.StatusCode == http.StatusSeeOther:
			loc, err := resp.Location()
			if err != nil {
				return nil, fmt.Errorf("oidcop: login: redirect without Location: %w", err)
			}
			next = loc
		case req.Method == http.MethodPost && resp.StatusCode == http.StatusOK:
			return nil, ErrLoginFailed
		default:
			return nil, fmt.Errorf("oidcop: login: %s %s answered %s: %s", req.Method, req.URL.Path, resp.Status, strings.TrimSpace(string(body)))
		}
	}
	return nil, errors.New("oidcop: login: too many redirects")
}

func (p *Provider) fetchLoginForm(ctx context.Context, client *http.Client, u *url.URL) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return fmt.Errorf("oidcop: login: %w", err)
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("oidcop: login: %w", err)
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("oidcop: login: GET %s answered %s: %s", u.Path, resp.Status, strings.TrimSpace(string(body)))
	}
	return nil
}

// IDToken signs user subject in to client c through a real authorization code
// flow (scopes openid profile email groups, PKCE S256, the given nonce) and
// token exchange, and returns the ID token. c is registered first when its ID
// is unknown; a registered client is used as it is, so c.Secret must match. It
// returns an error for an unknown subject or a refused step of the flow.
func (p *Provider) IDToken(ctx context.Context, c Client, subject, nonce string) (string, error) {
	s := p.store
	s.mu.Lock()
	u, ok := s.users[subject]
	if _, known := s.clients[c.ID]; !known && c.ID != "" {
		if len(c.RedirectURIs) == 0 {
			c.RedirectURIs = []string{"http://127.0.0.1/callback"}
		}
		s.clients[c.ID] = cloneClient(c)
	}
	registered, known := s.clients[c.ID]
	s.mu.Unlock()
	if !ok {
		return "", fmt.Errorf("oidcop: unknown user %q", subject)
	}
	if !known || len(registered.RedirectURIs) == 0 {
		return "", fmt.Errorf("oidcop: client %q has no ID or no redirect URI", c.ID)
	}
	redirectURI := registered.RedirectURIs[0]
	verifier := newID() + newID()
	sum := sha256.Sum256([]byte(verifier))
	state := newID()
	q := url.Values{
		"client_id":             {c.ID},
		"redirect_uri":          {redirectURI},
		"response_type":         {"code"},
		"scope":                 {"openid profile email " + ScopeGroups},
		"state":                 {state},
		"nonce":                 {nonce},
		"code_challenge":        {base64.RawURLEncoding.EncodeToString(sum[:])},
		"code_challenge_method": {"S256"},
	}
	back, err := p.Login(ctx, p.Issuer+pathAuthorize+"?"+q.Encode(), u.Username, u.Password)
	if err != nil {
		return "", err
	}
	if e := back.Query().Get("error"); e != "" {
		return "", fmt.Errorf("oidcop: authorize refused: %s: %s", e, back.Query().Get("error_description"))
	}
	if back.Query().Get("state") != state {
		return "", errors.New("oidcop: authorize returned another state")
	}
	form := url.Values{
		"grant_type":    {"authorization_code"},
		"code":          {back.Query().Get("code")},
		"redirect_uri":  {redirectURI},
		"code_verifier": {verifier},
	}
	if c.Secret == "" {
		form.Set("client_id", c.ID)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.Issuer+pathToken, strings.NewReader(form.Encode()))
	if err != nil {
		return "", fmt.Errorf("oidcop: token: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if c.Secret != "" {
		req.SetBasicAuth(url.QueryEscape(c.ID), url.QueryEscape(c.Secret))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", fmt.Errorf("oidcop: token: %w", err)
	}
	defer resp.Body.Close()
	var tok struct {
		IDToken          string `json:"id_token"`
		Error            string `json:"error"`
		ErrorDescription string `json:"error_description"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&tok); err != nil {
		return "", fmt.Errorf("oidcop: token: %s: %w", resp.Status, err)
	}
	if resp.StatusCode != http.StatusOK || tok.IDToken == "" {
		return "", fmt.Errorf("oidcop: token: %s: %s %s", resp.Status, tok.Error, tok.ErrorDescription)
	}
	return tok.IDToken, nil
}
