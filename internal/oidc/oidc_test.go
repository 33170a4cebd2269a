package oidc_test

import (
	"context"
	"errors"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sharesvc/sharesvc/internal/oidc"
	"github.com/sharesvc/sharesvc/internal/testrig/oidcop"
)

const redirect = "http://127.0.0.1:9/ui/oidc/callback"

var (
	client = oidcop.Client{ID: "sharesvc", Secret: "s3cret-of-sharesvc", RedirectURIs: []string{redirect}}
	other  = oidcop.Client{ID: "another-app", Secret: "other-secret", RedirectURIs: []string{"http://127.0.0.1:9/cb"}}
	carol  = oidcop.User{Subject: "00u-carol", Username: "carol", Password: "carol-pass", Email: "Carol@Example.org",
		EmailVerified: true, Name: "Carol Ü", Groups: []string{"share-admins", "staff"}}
)

// rig is a real provider and a Provider for sharesvc whose clock the test
// moves.
type rig struct {
	op    *oidcop.Provider
	rp    *oidc.Provider
	clock atomic.Int64 // offset in ns added to time.Now
}

func start(t *testing.T, opts ...oidcop.Option) *rig {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	op, err := oidcop.Start(ctx, []oidcop.User{carol}, []oidcop.Client{client, other}, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { op.Close() })
	r := &rig{op: op}
	rp, err := oidc.New(oidc.Config{Issuer: op.Issuer, ClientID: client.ID, ClientSecret: client.Secret, RedirectURL: redirect,
		Scopes: []string{"openid", "email", "profile", "groups", "offline_access"}}, nil,
		func() time.Time { return time.Now().Add(time.Duration(r.clock.Load())) })
	if err != nil {
		t.Fatal(err)
	}
	r.rp = rp
	return r
}

// signIn runs the browser's part over HTTP and returns the callback's code.
func (r *rig) signIn(t *testing.T, l oidc.Login) string {
	t.Helper()
	ctx := context.Background()
	auth, err := r.rp.AuthURL(ctx, l)
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(auth)
	if q := u.Query(); q.Get("code_challenge_method") != "S256" || q.Get("nonce") != l.Nonce || q.Get("state") != l.State {
		t.Fatalf("AuthURL lacks PKCE S256, nonce or state: %v", q)
	}
	cb, err := r.op.Login(ctx, auth, carol.Username, carol.Password)
	if err != nil {
		t.Fatal(err)
	}
	if cb.Query().Get("state") != l.State || cb.Query().Get("code") == "" {
		t.Fatalf("callback = %s; want the state and a code", cb.Redacted())
	}
	return cb.Query().Get("code")
}

func TestSignInRefreshAndRefusals(t *testing.T) {
	ctx := context.Background()
	r := start(t)
	l := oidc.NewLogin()
	code := r.signIn(t, l)
	res, err := r.rp.Exchange(ctx, code, l)
	if err != nil {
		t.Fatal(err)
	}
	c := res.Claims
	if c.Issuer != r.op.Issuer || c.Subject != carol.Subject || c.Email != carol.Email || !c.EmailVerified || c.Name != carol.Name ||
		!slices.Equal(c.Groups, carol.Groups) || res.RefreshToken == "" || res.Expiry.IsZero() {
		t.Fatalf("Exchange = %+v", res)
	}
	// A replayed code is refused by the provider.
	if _, err := r.rp.Exchange(ctx, code, l); !errors.Is(err, oidc.ErrRefused) {
		t.Fatalf("replayed Exchange = %v; want ErrRefused", err)
	}
	// Left the admin group: the refresh says so.
	r.op.SetGroups(carol.Subject, "staff")
	ref, err := r.rp.Refresh(ctx, res.RefreshToken, carol.Subject)
	if err != nil || !slices.Equal(ref.Claims.Groups, []string{"staff"}) || ref.Claims.Subject != carol.Subject || ref.RefreshToken == "" {
		t.Fatalf("Refresh = %+v, %v", ref, err)
	}
	// A refresh answer about someone else is refused.
	if _, err := r.rp.Refresh(ctx, ref.RefreshToken, "someone-else"); !errors.Is(err, oidc.ErrRefused) {
		t.Fatalf("Refresh for another subject = %v; want ErrRefused", err)
	}
	// The provider is down: an outage, not a refusal.
	l2 := oidc.NewLogin()
	res2, err := r.rp.Exchange(ctx, r.signIn(t, l2), l2)
	if err != nil {
		t.Fatal(err)
	}
	r.op.SetDown(true)
	if _, err := r.rp.Refresh(ctx, res2.RefreshToken, carol.Subject); !errors.Is(err, oidc.ErrUnavailable) {
		t.Fatalf("Refresh while down = %v; want ErrUnavailable", err)
	}
	r.op.SetDown(false)
	// The provider no longer knows her.
	r.op.RemoveUser(carol.Subject)
	if _, err := r.rp.Refresh(ctx, res2.RefreshToken, carol.Subject); !errors.Is(err, oidc.ErrGone) {
		t.Fatalf("Refresh after removal = %v; want ErrGone", err)
	}
}

func TestVerifyRefusals(t *testing.T) {
	ctx := context.Background()
	r := start(t, oidcop.WithIDTokenLifetime(time.Minute))
	good, err := r.op.IDToken(ctx, client, carol.Subject, "n-1")
	if err != nil {
		t.Fatal(err)
	}
	if c, _, err := r.rp.Verify(ctx, good, "n-1"); err != nil || c.Subject != carol.Subject {
		t.Fatalf("Verify = %+v, %v", c, err)
	}
	foreign, err := r.op.IDToken(ctx, other, carol.Subject, "n-1")
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(good, ".")
	tampered := parts[0] + "." + parts[1] + "." + strings.Repeat("A", len(parts[2]))
	for _, tc := range []struct{ name, raw, nonce string }{
		{"another audience", foreign, "n-1"},
		{"wrong nonce", good, "n-2"},
		{"no nonce", good, ""},
		{"bad signature", tampered, "n-1"},
		{"not a JWT", "x.y.z", "n-1"},
	} {
		if _, _, err := r.rp.Verify(ctx, tc.raw, tc.nonce); !errors.Is(err, oidc.ErrRefused) {
			t.Errorf("Verify with %s = %v; want ErrRefused", tc.name, err)
		}
	}
	// Expired: the same token two minutes later on sharesvc's clock.
	r.clock.Store(int64(2 * time.Minute))
	if _, _, err := r.rp.Verify(ctx, good, "n-1"); !errors.Is(err, oidc.ErrRefused) || !strings.Contains(err.Error(), "expired") {
		t.Fatalf("Verify of an expired token = %v; want ErrRefused (expired)", err)
	}
	// Keys rotate at the provider: a token signed with the new key verifies.
	r.clock.Store(0)
	if _, err := r.op.RotateKey(); err != nil {
		t.Fatal(err)
	}
	fresh, err := r.op.IDToken(ctx, client, carol.Subject, "n-3")
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := r.rp.Verify(ctx, fresh, "n-3"); err != nil {
		t.Fatalf("Verify after key rotation = %v", err)
	}
}

func TestExchangeChecksNonceAndPKCE(t *testing.T) {
	ctx := context.Background()
	r := start(t)
	l := oidc.NewLogin()
	code := r.signIn(t, l)
	wrong := l
	wrong.Verifier = oidc.NewLogin().Verifier
	if _, err := r.rp.Exchange(ctx, code, wrong); !errors.Is(err, oidc.ErrRefused) {
		t.Fatalf("Exchange with another PKCE verifier = %v; want ErrRefused", err)
	}
	l2 := oidc.NewLogin()
	code2 := r.signIn(t, l2)
	swapped := l2
	swapped.Nonce = "not-the-nonce"
	if _, err := r.rp.Exchange(ctx, code2, swapped); !errors.Is(err, oidc.ErrRefused) || !strings.Contains(err.Error(), "nonce") {
		t.Fatalf("Exchange with another nonce = %v; want ErrRefused (nonce)", err)
	}
}

func TestUnavailableAndConfig(t *testing.T) {
	ctx := context.Background()
	rp, err := oidc.New(oidc.Config{Issuer: "http://127.0.0.1:1", ClientID: "c", ClientSecret: "s", RedirectURL: redirect}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rp.AuthURL(ctx, oidc.NewLogin()); !errors.Is(err, oidc.ErrUnavailable) {
		t.Fatalf("AuthURL with no provider = %v; want ErrUnavailable", err)
	}
	for _, c := range []oidc.Config{
		{Issuer: "http://idp.example.org", ClientID: "c", ClientSecret: "s", RedirectURL: redirect},
		{Issuer: "https://idp.example.org", ClientID: "", ClientSecret: "s", RedirectURL: redirect},
		{Issuer: "https://idp.example.org", ClientID: "c", ClientSecret: "", RedirectURL: redirect},
		{Issuer: "https://idp.example.org", ClientID: "c", ClientSecret: "s", RedirectURL: "/ui/oidc/callback"},
		{Issuer: "https://idp.example.org", ClientID: "c", ClientSecret: "s", RedirectURL: redirect, Scopes: []string{"email"}},
		{Issuer: "https://u:p@idp.example.org", ClientID: "c", ClientSecret: "s", RedirectURL: redirect},
	} {
		if _, err := oidc.New(c, nil, nil); !errors.Is(err, oidc.ErrConfig) {
			t.Errorf("New(%+v) = %v; want ErrConfig", c, err)
		}
	}
}

func TestSeal(t *testing.T) {
	mk := func(secret string) *oidc.Provider {
		p, err := oidc.New(oidc.Config{Issuer: "https://idp.example.org", ClientID: "c", ClientSecret: secret, RedirectURL: redirect}, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	a, b := mk("one"), mk("two")
	s := a.Seal("refresh-123")
	if strings.Contains(s, "refresh-123") || s == a.Seal("refresh-123") {
		t.Fatalf("Seal = %q: plain or deterministic", s)
	}
	if got, err := a.Open(s); err != nil || got != "refresh-123" {
		t.Fatalf("Open = %q, %v", got, err)
	}
	if _, err := b.Open(s); !errors.Is(err, oidc.ErrGone) {
		t.Fatalf("Open under another secret = %v; want ErrGone", err)
	}
	if _, err := a.Open(s[:len(s)-2] + "AA"); !errors.Is(err, oidc.ErrGone) {
		t.Fatalf("Open of a tampered seal = %v; want ErrGone", err)
	}
}
