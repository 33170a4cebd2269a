package oidc

import "testing"

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
