package server

import "testing"

// Only a console path of this site may be returned to after a sign-in:
// never another site, a scheme, a path that leaves /ui/, or the sign-in's
// own routes.
func TestSafeReturn(t *testing.T) {
	for raw, want := range map[string]string{
		"/ui/links":                        "/ui/links",
		"/ui/links?state=live&kind=upload": "/ui/links?state=live&kind=upload",
		"/ui/audit":                        "/ui/audit",
		"":                                 "",
		"/ui":                              "",
		"//evil.example/ui/":               "",
		"/\\evil.example":                  "",
		"https://evil.example/ui/links":    "",
		"/ui/../api/v1/links":              "",
		"/ui/./links":                      "",
		"/ui/oidc/callback?code=x":         "",
		"/ui/oidc/login":                   "",
		"/ui/links\r\nSet-Cookie: x=y":     "",
		"/s/AAAAAAAAAAAAAAAAAAAAAAAA":      "",
		"/ui//evil.example":                "/ui//evil.example",
		// Judged as the router and the browser read the path: decoded,
		// with its dots resolved.
		"/ui/oidc%2Fcallback?code=x": "",
		"/ui/%6fidc/login":           "",
		"/ui/..":                     "",
		"/ui/%2e%2e":                 "",
	} {
		if got := safeReturn(raw); got != want {
			t.Errorf("safeReturn(%q) = %q; want %q", raw, got, want)
		}
	}
}
