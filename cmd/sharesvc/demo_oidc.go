package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/sharesvc/sharesvc/internal/server"
	"github.com/sharesvc/sharesvc/internal/testrig/oidcop"
)

// The demo's identity provider: one client (sharesvc) and two people.
// Passwords and the client secret are fresh each run; the people's
// subjects stay the same, so with the provider on its fixed address they
// are the same people in the demo's database run after run.
const (
	demoOIDCClientID   = "sharesvc-demo"
	demoOIDCName       = "the demo identity provider"
	demoOIDCSecretFile = "oidc-client-secret"
	demoOIDCAdminGroup = "share-admins"
	demoOIDCStaffGroup = "staff"
	// demoOIDCPrefix holds the sample object; staff may share it.
	demoOIDCPrefix = "hello/"
)

// demoOIDC is the demo's running identity provider.
type demoOIDC struct {
	op         *oidcop.Provider
	secretFile string // absolute; the secret itself is never printed
	secret     string
	ada, sam   oidcop.User
}

// startDemoOIDC starts the provider on addr with ada (admin by group) and
// sam (sharer) and writes a fresh client secret to a private file in dir.
// The client is registered by register, once sharesvc's callback address
// is known.
func startDemoOIDC(ctx context.Context, dir, addr string) (*demoOIDC, error) {
	secretFile, err := filepath.Abs(filepath.Join(dir, demoOIDCSecretFile))
	if err != nil {
		return nil, err
	}
	d := &demoOIDC{
		secretFile: secretFile,
		secret:     rand.Text(),
		ada: oidcop.User{Subject: "demo-ada", Username: "ada", Password: demoPassword(), Email: "ada@example.org", EmailVerified: true,
			Name: "Ada", Groups: []string{demoOIDCAdminGroup, demoOIDCStaffGroup}},
		sam: oidcop.User{Subject: "demo-sam", Username: "sam", Password: demoPassword(), Email: "sam@example.org", EmailVerified: true,
			Name: "Sam", Groups: []string{demoOIDCStaffGroup}},
	}
	d.op, err = oidcop.Start(ctx, []oidcop.User{d.ada, d.sam}, nil, oidcop.WithAddr(addr))
	if err != nil {
		return nil, fmt.Errorf("%w (choose another address with -oidc-listen)", err)
	}
	if err := writeSecret(secretFile, d.secret); err != nil {
		d.op.Close()
		return nil, err
	}
	return d, nil
}

// writeSecret writes a new private file: WriteFile would keep the mode of
// one that exists.
func writeSecret(path, secret string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	_, err = io.WriteString(f, secret+"\n")
	return errors.Join(err, f.Close())
}

// demoPassword is short enough to type and too long to guess.
func demoPassword() string { return rand.Text()[:12] }

// env is what the demo's serve is given to sign in through the provider;
// token sign-in stays on, as the demo prints a token.
func (d *demoOIDC) env() map[string]string {
	return map[string]string{
		"SHARESVC_OIDC_ISSUER":             d.op.Issuer,
		"SHARESVC_OIDC_CLIENT_ID":          demoOIDCClientID,
		"SHARESVC_OIDC_CLIENT_SECRET_FILE": d.secretFile,
		"SHARESVC_OIDC_ROLES":              "admin=" + demoOIDCAdminGroup,
		"SHARESVC_OIDC_SCOPES":             "openid,email,profile,groups,offline_access",
		"SHARESVC_OIDC_NAME":               demoOIDCName,
	}
}

// register lets sharesvc, answering at redirectURL, sign people in.
func (d *demoOIDC) register(redirectURL string) {
	d.op.AddClient(oidcop.Client{ID: demoOIDCClientID, Secret: d.secret, RedirectURIs: []string{redirectURL}})
}

// grantStaff lets the provider's group staff share the sample object,
// unless an earlier run of the demo already did.
func (d *demoOIDC) grantStaff(ctx context.Context, client *apiClient) error {
	var list server.GrantListResponse
	if err := client.do(ctx, "GET", "/api/v1/grants?group="+url.QueryEscape(demoOIDCStaffGroup), nil, &list); err != nil {
		return fmt.Errorf("list grants: %w", err)
	}
	for _, g := range list.Grants {
		if g.Bucket == demoBucket && g.KeyPrefix == demoOIDCPrefix {
			return nil
		}
	}
	req := server.GrantRequest{Group: demoOIDCStaffGroup, Bucket: demoBucket, KeyPrefix: demoOIDCPrefix,
		Actions: []string{"download", "upload", "email"}, Reason: "sharesvc demo: staff share the sample object"}
	if err := client.do(ctx, "POST", "/api/v1/grants", req, &server.GrantResponse{}); err != nil {
		return fmt.Errorf("grant the group %s: %w", demoOIDCStaffGroup, err)
	}
	return nil
}

// signInLine is the one line that shows the passwords.
func (d *demoOIDC) signInLine() string {
	return fmt.Sprintf("Sign in with %s as ada (admin) or sam (sharer): password %s for ada, %s for sam.",
		demoOIDCName, d.ada.Password, d.sam.Password)
}

// check signs sam in to the console at base as a browser would: the
// console sends it to the provider, the login form takes sam's password,
// the callback signs sam in, and the console's links page answers.
func (d *demoOIDC) check(ctx context.Context, base string, stderr io.Writer) error {
	jar, err := cookiejar.New(nil)
	if err != nil {
		return err
	}
	c := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	get := func(u string) (*http.Response, string, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		if err != nil {
			return nil, "", err
		}
		resp, err := c.Do(req)
		if err != nil {
			return nil, "", err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		return resp, string(b), err
	}
	resp, _, err := get(base + "/ui/oidc/login")
	if err != nil {
		return fmt.Errorf("check: sign-in: %w", err)
	}
	if resp.StatusCode != http.StatusFound && resp.StatusCode != http.StatusSeeOther {
		return fmt.Errorf("check: sign-in: /ui/oidc/login answered %s, want a redirect to the provider", resp.Status)
	}
	back, err := d.op.Login(ctx, resp.Header.Get("Location"), d.sam.Username, d.sam.Password)
	if err != nil {
		return fmt.Errorf("check: sign-in at the provider: %w", err)
	}
	if !strings.HasPrefix(back.String(), base+"/") {
		return fmt.Errorf("check: sign-in: the provider sent the browser to %s, not back to sharesvc", back.Scheme+"://"+back.Host+back.Path)
	}
	if resp, _, err = get(back.String()); err != nil {
		// Not the *url.Error, whose message holds the callback's address
		// and so its code and state.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return fmt.Errorf("check: sign-in callback: %w", err)
	}
	if resp.StatusCode != http.StatusSeeOther {
		return fmt.Errorf("check: sign-in callback answered %s, want 303", resp.Status)
	}
	resp, body, err := get(base + "/ui/links")
	if err != nil {
		return fmt.Errorf("check: console: %w", err)
	}
	// Signed out, the page would redirect to the sign-in page; signed in,
	// it names the person's role. (sam's name is their email, unless an
	// earlier run's provider had another address: its sam holds it.)
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, "/ui/signout") || !strings.Contains(body, "sharer") {
		return fmt.Errorf("check: /ui/links after signing in answered %s without sam signed in as a sharer", resp.Status)
	}
	fmt.Fprintln(stderr, "check: sam signed in through the identity provider")
	return nil
}
