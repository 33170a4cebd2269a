package main

import (
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sharesvc/sharesvc/internal/testrig/oidcop"
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

// serve wired to a real provider: the sign-in page offers only the
// provider, a person signs in through it and reaches the console, and a
// token posted to the sign-in form is refused while the API still takes it.
func TestServeSignsInThroughProvider(t *testing.T) {
	const bucket = "oidc-serve"
	s3 := startS3(t, bucket)
	op, err := oidcop.Start(context.Background(), []oidcop.User{{Subject: "u-1", Username: "pat", Password: "pat-pw",
		Email: "pat@example.com", EmailVerified: true, Name: "Pat", Groups: []string{"share-admins"}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { op.Close() })
	secret := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(secret, []byte("serve-test-secret"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := s3env(s3, bucket, "")
	serveDB(t, env)
	env["SHARESVC_OIDC_ISSUER"], env["SHARESVC_OIDC_CLIENT_ID"], env["SHARESVC_OIDC_CLIENT_SECRET_FILE"] = op.Issuer, "sharesvc", secret
	env["SHARESVC_OIDC_SCOPES"], env["SHARESVC_OIDC_NAME"] = "openid,email,profile,offline_access,groups", "Test IdP"
	admin := strings.TrimSpace(runCLI(t, env, "token", "create", "--role", "admin", "--name", "root"))
	_, base, stop := startService(t, env)
	defer stop()
	op.AddClient(oidcop.Client{ID: "sharesvc", Secret: "serve-test-secret", RedirectURIs: []string{base + "/ui/oidc/callback"}})

	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	get := func(u string) (*http.Response, string) {
		t.Helper()
		resp, err := c.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	if _, body := get(base + "/ui/signin"); !strings.Contains(body, "Sign in with Test IdP") || strings.Contains(body, `id="token"`) {
		t.Fatalf("sign-in page:\n%s", body)
	}
	resp, _ := get(base + "/ui/oidc/login")
	back, err := op.Login(context.Background(), resp.Header.Get("Location"), "pat", "pat-pw")
	if err != nil {
		t.Fatal(err)
	}
	if resp, body := get(back.String()); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("callback = %s\n%s", resp.Status, body)
	}
	if resp, body := get(base + "/ui/admin"); resp.StatusCode != http.StatusOK || !strings.Contains(body, "pat@example.com") {
		t.Fatalf("GET /ui/admin as an admin by group = %s\n%s", resp.Status, body)
	}
	resp, err = http.PostForm(base+"/ui/signin", url.Values{"token": {admin}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("token sign-in = %s; want 403", resp.Status)
	}
	req, _ := http.NewRequest("GET", base+"/api/v1/links", nil)
	req.Header.Set("Authorization", "Bearer "+admin)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("API with a token = %s; want 200", resp.Status)
	}
}
