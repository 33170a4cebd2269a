package server_test

import (
	"encoding/json"
	"net/http"
	"sort"
	"strings"
	"testing"

	"github.com/gorilla/mux"
)

// routesOf walks the router and returns "METHOD /template" for each route.
func routesOf(t testing.TB, e *env) []string {
	t.Helper()
	r, ok := e.srv.Router().(*mux.Router)
	if !ok {
		t.Fatal("router is not a *mux.Router")
	}
	var out []string
	err := r.Walk(func(rt *mux.Route, _ *mux.Router, _ []*mux.Route) error {
		tpl, err := rt.GetPathTemplate()
		if err != nil {
			return nil
		}
		methods, err := rt.GetMethods()
		if err != nil {
			return nil // a prefix, not a route
		}
		for _, m := range methods {
			out = append(out, m+" "+tpl)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(out)
	return out
}

// apiRoutes returns the routes under /api/v1.
func apiRoutes(t testing.TB, e *env) []string {
	var out []string
	for _, r := range routesOf(t, e) {
		if strings.Contains(r, " /api/v1/") {
			out = append(out, r)
		}
	}
	return out
}

// The served OpenAPI document lists exactly the routes the router serves.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	e := newEnv(t, envOptions{})
	r := e.do("GET", "/api/v1/openapi.json", "", "")
	var doc struct {
		OpenAPI string                                `json:"openapi"`
		Paths   map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal([]byte(readAll(t, r.Body)), &doc); err != nil || !strings.HasPrefix(doc.OpenAPI, "3.") {
		t.Fatalf("openapi.json: %v (version %q)", err, doc.OpenAPI)
	}
	var documented []string
	for path, ops := range doc.Paths {
		for method := range ops {
			documented = append(documented, strings.ToUpper(method)+" "+path)
		}
	}
	sort.Strings(documented)
	// The web console's pages (/ui/) are not API: they are left out.
	var served []string
	for _, r := range routesOf(t, e) {
		if !strings.Contains(r, " /ui/") {
			served = append(served, r)
		}
	}
	if strings.Join(documented, "\n") != strings.Join(served, "\n") {
		t.Fatalf("openapi.json and the router disagree\ndocumented:\n  %s\nserved:\n  %s",
			strings.Join(documented, "\n  "), strings.Join(served, "\n  "))
	}
}

// The docs page lists every documented operation and schema, and loads
// nothing from elsewhere.
func TestAPIDocsPage(t *testing.T) {
	e := newEnv(t, envOptions{})
	r := e.do("GET", "/api/docs", "", "")
	page := readAll(t, r.Body)
	if r.StatusCode != http.StatusOK || !strings.HasPrefix(r.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("GET /api/docs = %s", fmtResp(r, ""))
	}
	if csp := r.Header.Get("Content-Security-Policy"); !strings.HasPrefix(csp, "default-src 'none'") {
		t.Errorf("Content-Security-Policy = %q; want default-src 'none'", csp)
	}
	for _, rt := range routesOf(t, e) {
		if strings.Contains(rt, " /ui/") {
			continue
		}
		if !strings.Contains(page, `id="`+strings.Replace(rt, " ", "-", 1)+`"`) {
			t.Errorf("the page has no section for %s", rt)
		}
	}
	for _, s := range []string{"Link", "CreatedLink", "Share", "Grant", "Token", "AuditEvent", "Problem404"} {
		if !strings.Contains(page, `id="schema-`+s+`"`) {
			t.Errorf("the page has no schema %s", s)
		}
	}
	if strings.Contains(page, "<script") || strings.Contains(page, "https://") {
		t.Error("the page has a script or an outside address")
	}
}
