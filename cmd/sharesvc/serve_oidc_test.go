package main

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The sign-in settings are checked before anything starts: the client
// secret comes from a private file only and is never shown, every bad
// setting names its variable, token sign-in defaults to off with a
// provider and on without, and cannot be off with none.
func TestServeOIDCSettings(t *testing.T) {
	dir := t.TempDir()
	const secret = "oidc-client-SECRET-value"
	private, shared := filepath.Join(dir, "secret"), filepath.Join(dir, "shared")
	if err := os.WriteFile(private, []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(shared, []byte(secret), 0o644); err != nil {
		t.Fatal(err)
	}
	base := map[string]string{"SHARESVC_ROLE_ARN": "arn:aws:iam::123456789012:role/x", "SHARESVC_DB": filepath.Join(dir, "x.db"),
		"SHARESVC_PUBLIC_URL": "https://share.example.org"}
	good := withEnv(base, map[string]string{"SHARESVC_OIDC_ISSUER": "https://login.example.org", "SHARESVC_OIDC_CLIENT_ID": "sharesvc",
		"SHARESVC_OIDC_CLIENT_SECRET_FILE": private})

	s, err := serveFlags(nil, getenvFrom(good), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	o := s.OIDC
	if o.cfg.ClientSecret != secret || o.cfg.RedirectURL != "https://share.example.org/ui/oidc/callback" || o.tokenSignIn ||
		strings.Join(o.cfg.Scopes, " ") != "openid email profile offline_access" || len(o.roles.Admin) != 1 || o.roles.Admin[0] != "share-admins" ||
		o.CheckInterval != 5*time.Minute || o.OfflineGrace != 15*time.Minute {
		t.Fatalf("settings %+v; want the defaults, the secret from its file, token sign-in off", o)
	}
	rp, cfg, err := o.build()
	if err != nil || rp == nil || cfg.CheckInterval != 5*time.Minute {
		t.Fatalf("build = %T %+v %v", rp, cfg, err)
	}
	if s, err := serveFlags(nil, getenvFrom(withEnv(good, map[string]string{"SHARESVC_CONSOLE_TOKEN_SIGNIN": "on"})), io.Discard); err != nil || !s.OIDC.tokenSignIn {
		t.Fatalf("token sign-in on with a provider: %v", err)
	}
	none, err := serveFlags(nil, getenvFrom(base), io.Discard)
	if err != nil || !none.OIDC.tokenSignIn {
		t.Fatalf("without a provider token sign-in must default on: %v", err)
	}
	if rp, _, err := none.OIDC.build(); rp != nil || err != nil {
		t.Fatalf("build without a provider = %T %v; want nothing", rp, err)
	}

	for _, tc := range []struct {
		env  map[string]string
		want string
	}{
		{withEnv(base, map[string]string{"SHARESVC_CONSOLE_TOKEN_SIGNIN": "off"}), "nobody could sign in"},
		{withEnv(base, map[string]string{"SHARESVC_OIDC_CLIENT_ID": "x"}), "SHARESVC_OIDC_ISSUER"},
		{withEnv(good, map[string]string{"SHARESVC_CONSOLE_TOKEN_SIGNIN": "maybe"}), "SHARESVC_CONSOLE_TOKEN_SIGNIN"},
		{withEnv(good, map[string]string{"SHARESVC_OIDC_CLIENT_ID": ""}), "SHARESVC_OIDC_CLIENT_ID"},
		{withEnv(good, map[string]string{"SHARESVC_OIDC_CLIENT_SECRET_FILE": ""}), "SHARESVC_OIDC_CLIENT_SECRET_FILE"},
		{withEnv(good, map[string]string{"SHARESVC_OIDC_CLIENT_SECRET_FILE": shared}), "read by others"},
		{withEnv(good, map[string]string{"SHARESVC_OIDC_CLIENT_SECRET_FILE": filepath.Join(dir, "none")}), "SHARESVC_OIDC_CLIENT_SECRET_FILE"},
		{withEnv(good, map[string]string{"SHARESVC_OIDC_ISSUER": "http://login.example.org"}), "SHARESVC_OIDC_"},
		{withEnv(good, map[string]string{"SHARESVC_OIDC_SCOPES": "email,profile"}), "SHARESVC_OIDC_"},
		{withEnv(good, map[string]string{"SHARESVC_OIDC_ROLES": "owner=everyone"}), "SHARESVC_OIDC_ROLES"},
		{withEnv(good, map[string]string{"SHARESVC_OIDC_CHECK_INTERVAL": "0s"}), "SHARESVC_OIDC_CHECK_INTERVAL"},
		{withEnv(good, map[string]string{"SHARESVC_OIDC_OFFLINE_GRACE": "13h"}), "SHARESVC_OIDC_OFFLINE_GRACE"},
	} {
		_, err := serveFlags(nil, getenvFrom(tc.env), io.Discard)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("serve with %v = %v; want an error naming %q", tc.env, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), secret) {
			t.Errorf("the error shows the client secret: %v", err)
		}
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 2 {
		t.Fatalf("checking the settings left %d files; want only the two secrets", len(ents))
	}
}
