package server_test

import (
	"math"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// metricValue reads a counter or gauge.
func metricValue(t *testing.T, c prometheus.Metric) float64 {
	t.Helper()
	var out dto.Metric
	if err := c.Write(&out); err != nil {
		t.Fatal(err)
	}
	if g := out.GetGauge(); g != nil {
		return g.GetValue()
	}
	return out.GetCounter().GetValue()
}

// Sign-ins and the provider's checks are counted by method and result,
// and the provider's gauge follows what sharesvc last saw of it: unknown
// before any contact, up after an exchange or refresh, down after one
// could not reach it.
func TestOIDCMetrics(t *testing.T) {
	e := newOIDCEnv(t, true)
	m := e.metrics
	signins := func(method, result string) float64 {
		t.Helper()
		return metricValue(t, m.SignIns.WithLabelValues(method, result))
	}
	checks := func(result string) float64 {
		t.Helper()
		return metricValue(t, m.OIDCChecks.WithLabelValues(result))
	}
	want := func(what string, got, want float64) {
		t.Helper()
		if got != want {
			t.Errorf("%s = %v; want %v", what, got, want)
		}
	}
	if up := metricValue(t, m.OIDCProviderUp); !math.IsNaN(up) {
		t.Errorf("provider up before any contact = %v; want NaN", up)
	}

	sam := e.client(t)
	sam.signIn(opSharer)
	want("oidc ok", signins("oidc", "ok"), 1)
	want("provider up after a sign-in", metricValue(t, m.OIDCProviderUp), 1)

	tampered := e.client(t)
	back := tampered.login(opSharer)
	q := back.Query()
	q.Set("state", q.Get("state")+"x")
	back.RawQuery = q.Encode()
	if resp, _ := tampered.get(back.String()); resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("tampered state = %s; want 400", resp.Status)
	}
	want("oidc state_mismatch", signins("oidc", "state_mismatch"), 1)
	want("oidc ok after a refusal", signins("oidc", "ok"), 1)

	tok := e.client(t)
	tok.get("/ui/signin")
	if resp, _ := tok.post("/ui/signin", url.Values{"csrf": {tok.csrf}, "token": {"not-a-token"}}); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("bad token sign-in = %s; want 401", resp.Status)
	}
	tok.get("/ui/signin")
	if resp, _ := tok.post("/ui/signin", url.Values{"csrf": {tok.csrf}, "token": {e.admin}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("token sign-in = %s; want 303", resp.Status)
	}
	want("token bad_token", signins("token", "bad_token"), 1)
	want("token ok", signins("token", "ok"), 1)

	// Checks after the interval: one keeps its role, one loses admin.
	ada := e.client(t)
	ada.signIn(opAdmin)
	e.op.SetGroups(opAdmin.Subject, "staff")
	e.clk.Advance(5*time.Minute + time.Second)
	if got := sam.status("/ui/links"); got != http.StatusOK {
		t.Fatalf("sharer after the check = %d; want 200", got)
	}
	if got := ada.status("/ui/links"); got != http.StatusOK {
		t.Fatalf("former admin after the check = %d; want 200", got)
	}
	want("check ok", checks("ok"), 1)
	want("check role_changed", checks("role_changed"), 1)

	// The provider forgets the sharer: the next check ends the session.
	e.op.RemoveUser(opSharer.Subject)
	e.clk.Advance(5*time.Minute + time.Second)
	if got := sam.status("/ui/links"); got != http.StatusSeeOther {
		t.Fatalf("after the provider forgot the person = %d; want 303", got)
	}
	want("check ended", checks("ended"), 1)
	if got := ada.status("/ui/links"); got != http.StatusOK {
		t.Fatalf("second check = %d; want 200", got)
	}
	want("check ok, second interval", checks("ok"), 2)

	// The provider goes down while a sign-in is under way, and a check
	// meets it down.
	late := e.client(t)
	back = late.login(opAdmin)
	e.op.SetDown(true)
	defer e.op.SetDown(false)
	if resp, _ := late.get(back.String()); resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("sign-in with the provider down = %s; want 503", resp.Status)
	}
	want("oidc provider_unavailable", signins("oidc", "provider_unavailable"), 1)
	want("provider up while down", metricValue(t, m.OIDCProviderUp), 0)
	e.clk.Advance(5*time.Minute + time.Second)
	if got := ada.status("/ui/links"); got != http.StatusOK {
		t.Fatalf("check with the provider down, within the grace = %d; want 200", got)
	}
	want("check unavailable", checks("unavailable"), 1)
	want("check ok after the outage's check", checks("ok"), 2)
}

// A sign-in that cannot start because the provider's discovery fails is
// counted as provider_unavailable, and the provider as down.
func TestOIDCMetricsDiscoveryDown(t *testing.T) {
	e := newOIDCEnv(t, false)
	e.op.SetDown(true)
	defer e.op.SetDown(false)
	if resp, _ := e.client(t).get("/ui/oidc/login"); resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("GET /ui/oidc/login with the provider down = %s; want 503", resp.Status)
	}
	if got := metricValue(t, e.metrics.SignIns.WithLabelValues("oidc", "provider_unavailable")); got != 1 {
		t.Errorf("oidc provider_unavailable = %v; want 1", got)
	}
	if got := metricValue(t, e.metrics.OIDCProviderUp); got != 0 {
		t.Errorf("provider up after discovery failed = %v; want 0", got)
	}
}
