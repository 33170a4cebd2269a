package oidc

import (
	"errors"
	"net/http"
	"strings"
	"testing"

	"golang.org/x/oauth2"
)

// email_verified as providers send it: a bool, a string, or (Entra ID)
// not at all, which counts only with TrustEmail; an explicit false never.
func TestEmailVerified(t *testing.T) {
	for _, tc := range []struct {
		claims map[string]any
		trust  bool
		want   bool
	}{
		{map[string]any{"email_verified": true}, false, true},
		{map[string]any{"email_verified": "true"}, false, true},
		{map[string]any{"email_verified": false}, true, false},
		{map[string]any{"email_verified": "false"}, true, false},
		{map[string]any{"email_verified": 1}, true, false},
		{map[string]any{}, false, false},
		{map[string]any{}, true, true},
	} {
		p := &Provider{cfg: Config{TrustEmail: tc.trust}}
		if got := p.verified(tc.claims); got != tc.want {
			t.Errorf("verified(%v) with TrustEmail %v = %v; want %v", tc.claims, tc.trust, got, tc.want)
		}
	}
}

// A token endpoint's failed answer may echo the request; its body must not
// reach the error, which the console logs.
func TestTokenErrorKeepsNoBody(t *testing.T) {
	body := []byte("grant_type=refresh_token&refresh_token=rt-SECRET&client_secret=cs-SECRET")
	for _, status := range []int{400, 502} {
		err := tokenError("refresh", &oauth2.RetrieveError{Response: &http.Response{StatusCode: status, Status: http.StatusText(status)},
			Body: body}, ErrGone)
		if strings.Contains(err.Error(), "SECRET") {
			t.Errorf("status %d: error %q holds the answer's body", status, err)
		}
		if want := map[int]error{400: ErrGone, 502: ErrUnavailable}[status]; !errors.Is(err, want) {
			t.Errorf("status %d: error %q; want %v", status, err, want)
		}
	}
}
