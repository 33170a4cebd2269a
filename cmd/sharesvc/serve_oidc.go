package main

import (
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/sharesvc/sharesvc/internal/oidc"
	"github.com/sharesvc/sharesvc/internal/people"
	"github.com/sharesvc/sharesvc/internal/server"
)

// oidcSettings configure console sign-in through the organisation's
// identity provider (OpenID Connect), and whether API tokens may still
// sign in to the console.
type oidcSettings struct {
	Issuer           string        `name:"oidc-issuer" envvar:"SHARESVC_OIDC_ISSUER" placeholder:"URL" help:"The identity provider's issuer URL (https); turns on console sign-in through it."`
	ClientID         string        `name:"oidc-client-id" envvar:"SHARESVC_OIDC_CLIENT_ID" placeholder:"ID" help:"sharesvc's client id at the provider."`
	ClientSecretFile string        `name:"oidc-client-secret-file" envvar:"SHARESVC_OIDC_CLIENT_SECRET_FILE" placeholder:"FILE" help:"File holding the client secret, readable by sharesvc alone (chmod 600); the secret is never a flag."`
	RedirectURL      string        `name:"oidc-redirect-url" envvar:"SHARESVC_OIDC_REDIRECT_URL" placeholder:"URL" help:"The callback address registered at the provider (default: the public URL + /ui/oidc/callback)."`
	Scopes           string        `name:"oidc-scopes" envvar:"SHARESVC_OIDC_SCOPES" default:"openid,email,profile,offline_access" placeholder:"SCOPES" help:"Scopes asked of the provider, comma-separated (add groups for Okta or Keycloak's group scope)."`
	EmailClaim       string        `name:"oidc-email-claim" envvar:"SHARESVC_OIDC_EMAIL_CLAIM" default:"email" placeholder:"CLAIM" help:"ID token claim with the person's (verified) email address."`
	NameClaim        string        `name:"oidc-name-claim" envvar:"SHARESVC_OIDC_NAME_CLAIM" default:"name" placeholder:"CLAIM" help:"ID token claim with the person's display name."`
	TrustEmail       bool          `name:"oidc-trust-email" envvar:"SHARESVC_OIDC_TRUST_EMAIL" help:"Take the email claim as verified when the ID token has no email_verified claim (Entra ID sends none); only for a single-tenant provider whose addresses only its admins set."`
	GroupsClaim      string        `name:"oidc-groups-claim" envvar:"SHARESVC_OIDC_GROUPS_CLAIM" default:"groups" placeholder:"CLAIM" help:"ID token claim with the person's groups."`
	Roles            string        `name:"oidc-roles" envvar:"SHARESVC_OIDC_ROLES" default:"admin=share-admins,auditor=auditors" placeholder:"MAP" help:"Which provider groups give which role, e.g. \"admin=share-admins,auditor=auditors\"; everyone else is a sharer (an admin may override a person's role)."`
	CheckInterval    time.Duration `name:"oidc-check-interval" envvar:"SHARESVC_OIDC_CHECK_INTERVAL" default:"5m" help:"How often a signed-in person is checked with the provider again (their groups, role, and whether it still knows them)."`
	OfflineGrace     time.Duration `name:"oidc-offline-grace" envvar:"SHARESVC_OIDC_OFFLINE_GRACE" default:"15m" help:"While the provider cannot be reached, how much longer than the check interval a session keeps its last checked role before it ends."`
	DisplayName      string        `name:"oidc-name" envvar:"SHARESVC_OIDC_NAME" placeholder:"NAME" help:"The provider's name on the sign-in button, e.g. Okta (default: the issuer's host)."`
	SessionLifetime  time.Duration `name:"console-session-lifetime" envvar:"SHARESVC_CONSOLE_SESSION_LIFETIME" default:"12h" help:"How long a console sign-in lasts at most (5m to 720h); a person from the provider is also checked every --oidc-check-interval."`
	TokenSignIn      string        `name:"console-token-signin" envvar:"SHARESVC_CONSOLE_TOKEN_SIGNIN" placeholder:"on|off" help:"Whether API tokens may sign in to the console (default: on without --oidc-issuer, off with it, so that the provider is required). API calls with a token are unaffected."`

	cfg         oidc.Config // built by validate when Issuer is set
	roles       people.RoleMap
	tokenSignIn bool
}

// validate checks the settings (publicURL is the service's, defaulted) and
// reads the client secret file. It changes nothing.
func (o *oidcSettings) validate(publicURL string) error {
	if o.SessionLifetime < 5*time.Minute || o.SessionLifetime > 30*24*time.Hour {
		return fmt.Errorf("-console-session-lifetime ($SHARESVC_CONSOLE_SESSION_LIFETIME) %s must be between 5m and 720h", o.SessionLifetime)
	}
	switch strings.ToLower(strings.TrimSpace(o.TokenSignIn)) {
	case "":
		o.tokenSignIn = o.Issuer == ""
	case "on", "true", "1", "yes":
		o.tokenSignIn = true
	case "off", "false", "0", "no":
		o.tokenSignIn = false
	default:
		return fmt.Errorf("-console-token-signin ($SHARESVC_CONSOLE_TOKEN_SIGNIN) %q must be on or off", o.TokenSignIn)
	}
	if o.Issuer == "" {
		if o.ClientID != "" || o.ClientSecretFile != "" || o.RedirectURL != "" {
			return errors.New("-oidc-issuer ($SHARESVC_OIDC_ISSUER) is required with the other -oidc-* settings")
		}
		if !o.tokenSignIn {
			return errors.New("-console-token-signin ($SHARESVC_CONSOLE_TOKEN_SIGNIN) off needs -oidc-issuer ($SHARESVC_OIDC_ISSUER): otherwise nobody could sign in to the console")
		}
		return nil
	}
	if o.ClientID == "" {
		return errors.New("-oidc-client-id ($SHARESVC_OIDC_CLIENT_ID) is required with -oidc-issuer")
	}
	if o.ClientSecretFile == "" {
		return errors.New("-oidc-client-secret-file ($SHARESVC_OIDC_CLIENT_SECRET_FILE) is required with -oidc-issuer: a file holding the client secret")
	}
	secret, err := readSecretFile(o.ClientSecretFile)
	if err != nil {
		return fmt.Errorf("-oidc-client-secret-file ($SHARESVC_OIDC_CLIENT_SECRET_FILE): %w", err)
	}
	redirect := o.RedirectURL
	if redirect == "" {
		redirect = strings.TrimRight(publicURL, "/") + "/ui/oidc/callback"
	}
	scopes := strings.FieldsFunc(o.Scopes, func(r rune) bool { return r == ',' || r == ' ' })
	o.cfg = oidc.Config{Issuer: o.Issuer, ClientID: o.ClientID, ClientSecret: secret, RedirectURL: redirect, Scopes: scopes,
		EmailClaim: o.EmailClaim, NameClaim: o.NameClaim, GroupsClaim: o.GroupsClaim, TrustEmail: o.TrustEmail}
	if err := o.cfg.Validate(); err != nil {
		return fmt.Errorf("-oidc-* ($SHARESVC_OIDC_*): %w", err)
	}
	if o.roles, err = people.ParseRoleMap(o.Roles); err != nil {
		return fmt.Errorf("-oidc-roles ($SHARESVC_OIDC_ROLES): %w", err)
	}
	if o.CheckInterval < time.Second || o.CheckInterval > o.SessionLifetime {
		return fmt.Errorf("-oidc-check-interval ($SHARESVC_OIDC_CHECK_INTERVAL) %s must be between 1s and the console session's %s (-console-session-lifetime)", o.CheckInterval, o.SessionLifetime)
	}
	if o.OfflineGrace < 0 || o.OfflineGrace > o.SessionLifetime {
		return fmt.Errorf("-oidc-offline-grace ($SHARESVC_OIDC_OFFLINE_GRACE) %s must be between 0 and the console session's %s (-console-session-lifetime)", o.OfflineGrace, o.SessionLifetime)
	}
	return nil
}

// readSecretFile reads a secret from a private regular file: one its group
// or others may read is refused, as key files are.
func readSecretFile(path string) (string, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return "", err
	}
	if !fi.Mode().IsRegular() {
		return "", fmt.Errorf("%s is not a regular file", path)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return "", fmt.Errorf("%s may be read by others (mode %04o): make it private (chmod 600)", path, fi.Mode().Perm())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	secret := strings.TrimRight(string(b), "\r\n")
	if secret == "" {
		return "", fmt.Errorf("%s is empty", path)
	}
	return secret, nil
}

// build returns the relying party and the console's settings for it; a
// nil RelyingParty when no provider is configured.
func (o *oidcSettings) build() (server.RelyingParty, server.OIDCConfig, error) {
	if o.Issuer == "" {
		return nil, server.OIDCConfig{}, nil
	}
	rp, err := oidc.New(o.cfg, &http.Client{Timeout: 10 * time.Second}, nil)
	if err != nil {
		return nil, server.OIDCConfig{}, fmt.Errorf("-oidc-* ($SHARESVC_OIDC_*): %w", err)
	}
	return rp, server.OIDCConfig{Roles: o.roles, CheckInterval: o.CheckInterval, OfflineGrace: o.OfflineGrace, Name: o.DisplayName}, nil
}
