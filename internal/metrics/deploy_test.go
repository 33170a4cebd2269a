package metrics_test

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sharesvc/sharesvc/internal/metrics"
)

const (
	rulesScript   = "../../scripts/alert-rules.sh"
	runbookBase   = "https://github.com/sharesvc/sharesvc/blob/main/README.md" // alerts.yml's placeholder
	rulesFile     = "../../deploy/prometheus/alerts.yml"
	rulesTestFile = "../../deploy/prometheus/alerts_test.yml"
	dashboardFile = "../../deploy/grafana/sharesvc.json"
	readmeFile    = "../../README.md"
)

// promtool returns the promtool binary. The test fails, never skips, when
// it is missing: `make test` installs it (Debian package prometheus).
func promtool(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("promtool")
	if err != nil {
		t.Fatal("promtool is required: `make test` installs it (apt-get install prometheus)")
	}
	return p
}

func TestAlertRulesCheck(t *testing.T) {
	bin := promtool(t)
	for _, args := range [][]string{
		{"check", "rules", rulesFile},
		{"test", "rules", rulesTestFile},
	} {
		t.Run(strings.Join(args[:2], " "), func(t *testing.T) {
			out, err := exec.Command(bin, args...).CombinedOutput()
			if err != nil {
				t.Fatalf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
			}
		})
	}
}

// recorder is a Registerer that remembers what was registered.
type recorder struct{ cs []prometheus.Collector }

func (r *recorder) Register(c prometheus.Collector) error   { r.cs = append(r.cs, c); return nil }
func (r *recorder) MustRegister(cs ...prometheus.Collector) { r.cs = append(r.cs, cs...) }
func (r *recorder) Unregister(prometheus.Collector) bool    { return false }

// families returns every metric name sharesvc exposes (described by its
// collectors, so vectors without series count too), with the series names
// of histograms.
func families(t *testing.T) map[string]bool {
	t.Helper()
	var rec recorder
	metrics.New(&rec, func() float64 { return 0 })
	descs := make(chan *prometheus.Desc, 1024)
	for _, c := range rec.cs {
		c.Describe(descs)
	}
	close(descs)
	fq := regexp.MustCompile(`fqName: "([^"]+)"`)
	names := map[string]bool{}
	for d := range descs {
		m := fq.FindStringSubmatch(d.String())
		if m == nil {
			t.Fatalf("cannot read the name of %s", d)
		}
		names[m[1]] = true
		for _, suffix := range []string{"_bucket", "_sum", "_count"} {
			names[m[1]+suffix] = true
		}
	}
	if !names["sharesvc_ratelimit_rejections_total"] || !names["go_goroutines"] || !names["process_cpu_seconds_total"] {
		t.Fatalf("described families look incomplete: %d names", len(names))
	}
	return names
}

var metricName = regexp.MustCompile(`\b(?:sharesvc|go|process)_[a-zA-Z0-9_]+\b`)

// exprs walks a decoded JSON value and returns every "expr" string.
func exprs(v any) []string {
	var out []string
	switch x := v.(type) {
	case map[string]any:
		for k, val := range x {
			if s, ok := val.(string); ok && k == "expr" {
				out = append(out, s)
			} else {
				out = append(out, exprs(val)...)
			}
		}
	case []any:
		for _, val := range x {
			out = append(out, exprs(val)...)
		}
	}
	return out
}

// drawing are the Grafana panel types that draw their queries.
var drawing = []string{"timeseries", "stat", "gauge", "bargauge", "table", "heatmap", "barchart", "piechart", "histogram", "state-timeline", "status-history"}

// TestDashboardPanelsDraw checks that every panel with queries is one that
// draws them: a "row" with targets shows a header and nothing else.
func TestDashboardPanelsDraw(t *testing.T) {
	raw, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	var dash struct{ Panels []panel }
	if err := json.Unmarshal(raw, &dash); err != nil {
		t.Fatalf("%s is not JSON: %v", dashboardFile, err)
	}
	n := 0
	var check func([]panel)
	check = func(ps []panel) {
		for _, p := range ps {
			switch {
			case len(p.Targets) > 0 && !slices.Contains(drawing, p.Type):
				t.Errorf("panel %d %q has %d queries but type %q, which does not draw them; want one of %v", p.ID, p.Title, len(p.Targets), p.Type, drawing)
			case len(p.Targets) > 0:
				n++
			case p.Type != "row" && p.Type != "text":
				t.Errorf("panel %d %q (%s) has no queries", p.ID, p.Title, p.Type)
			}
			check(p.Panels)
		}
	}
	check(dash.Panels)
	if n < 20 {
		t.Errorf("%d drawing panels with queries; want a panel per family", n)
	}
}

type panel struct {
	ID      int               `json:"id"`
	Type    string            `json:"type"`
	Title   string            `json:"title"`
	Targets []json.RawMessage `json:"targets"`
	Panels  []panel           `json:"panels"`
}

func TestDashboardUsesKnownMetrics(t *testing.T) {
	known := families(t)
	raw, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	var dash map[string]any
	if err := json.Unmarshal(raw, &dash); err != nil {
		t.Fatalf("%s is not JSON: %v", dashboardFile, err)
	}
	if dash["title"] == nil || dash["panels"] == nil {
		t.Fatalf("%s lacks title or panels", dashboardFile)
	}
	used := map[string]bool{}
	es := exprs(dash)
	if len(es) < 20 {
		t.Fatalf("dashboard has %d queries; want a panel per family", len(es))
	}
	for _, e := range es {
		for _, name := range metricName.FindAllString(e, -1) {
			used[strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(name, "_bucket"), "_sum"), "_count")] = true
			if !known[name] {
				t.Errorf("dashboard query %q uses %s, which sharesvc does not expose", e, name)
			}
		}
	}
	// Every sharesvc family has a panel.
	for name := range known {
		if strings.HasPrefix(name, metrics.Namespace+"_") && !strings.HasSuffix(name, "_bucket") &&
			!strings.HasSuffix(name, "_sum") && !strings.HasSuffix(name, "_count") && !used[name] {
			t.Errorf("no dashboard panel shows %s", name)
		}
	}
}

func TestAlertsUseKnownMetricsAndHaveRunbooks(t *testing.T) {
	known := families(t)
	rules, err := os.ReadFile(rulesFile)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range metricName.FindAllString(string(rules), -1) {
		if !known[name] {
			t.Errorf("%s uses %s, which sharesvc does not expose", filepath.Base(rulesFile), name)
		}
	}
	readme, err := os.ReadFile(readmeFile)
	if err != nil {
		t.Fatal(err)
	}
	var headings []string
	for _, line := range strings.Split(string(readme), "\n") {
		if h, ok := strings.CutPrefix(line, "#### "); ok {
			headings = append(headings, strings.TrimSpace(h))
		}
	}
	alerts := alertRunbooks(t, string(rules))
	if len(alerts) < 11 {
		t.Fatalf("%d alerts in %s; want at least 11", len(alerts), rulesFile)
	}
	for _, a := range alerts {
		if !slices.Contains(headings, a.name) {
			t.Errorf("alert %s has no runbook section (#### %s) in README.md", a.name, a.name)
		}
		if want := runbookBase + "#" + strings.ToLower(a.name); a.url != want {
			t.Errorf("alert %s: runbook_url %q; want %q", a.name, a.url, want)
		}
	}
	for _, a := range []string{"SharesvcMailFailing", "SharesvcMailQueueGrowing"} {
		if !slices.ContainsFunc(alerts, func(r runbook) bool { return r.name == a }) {
			t.Errorf("%s has no alert %s", rulesFile, a)
		}
	}
}

type runbook struct{ name, url string }

// alertRunbooks returns each alert of rules with its runbook_url; an alert
// without one fails the test.
func alertRunbooks(t *testing.T, rules string) []runbook {
	t.Helper()
	var out []runbook
	parts := regexp.MustCompile(`(?m)^\s*- alert: `).Split(rules, -1)[1:]
	url := regexp.MustCompile(`(?m)^\s*runbook_url: "([^"]*)"$`)
	for _, p := range parts {
		name, _, _ := strings.Cut(p, "\n")
		m := url.FindAllStringSubmatch(p, -1)
		if len(m) != 1 {
			t.Errorf("alert %s has %d runbook_url annotations; want 1", name, len(m))
			continue
		}
		if strings.Contains(p, "runbook:") {
			t.Errorf("alert %s has a runbook annotation; Alertmanager and Grafana link runbook_url", name)
		}
		out = append(out, runbook{strings.TrimSpace(name), m[0][1]})
	}
	return out
}

// TestAlertRulesRunbookBase runs the script operators use to point the
// runbook links at their own copy, and checks its output.
func TestAlertRulesRunbookBase(t *testing.T) {
	bin := promtool(t)
	base := "https://wiki.example.com/ops/sharesvc&co/README.md"
	out, err := exec.Command(rulesScript, base).Output()
	if err != nil {
		t.Fatalf("%s %s: %v", rulesScript, base, err)
	}
	file := filepath.Join(t.TempDir(), "sharesvc.yml")
	if err := os.WriteFile(file, out, 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(bin, "check", "rules", file).CombinedOutput(); err != nil {
		t.Fatalf("promtool check rules on the script's output: %v\n%s", err, out)
	}
	orig, err := os.ReadFile(rulesFile)
	if err != nil {
		t.Fatal(err)
	}
	want := alertRunbooks(t, string(orig))
	got := alertRunbooks(t, string(out))
	if len(got) != len(want) {
		t.Fatalf("%d alerts after the script; want %d", len(got), len(want))
	}
	for i, a := range got {
		if w := base + "#" + strings.ToLower(want[i].name); a.name != want[i].name || a.url != w {
			t.Errorf("alert %d after the script = %s %q; want %s %q", i, a.name, a.url, want[i].name, w)
		}
	}
	if strings.Contains(string(out), runbookBase+"#") {
		t.Errorf("the script's output still links %s", runbookBase)
	}
	for _, bad := range []string{"", "wiki.example.com/README.md", "ftp://example.com/r.md", "https://example.com/r.md#x",
		`https://example.com/a"b`, "https://example.com/a b", `https://example.com/a\b`, "https://example.com/r.md\nx: y"} {
		cmd := exec.Command(rulesScript, bad)
		var stderr strings.Builder
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err == nil || len(out) > 0 || !strings.Contains(stderr.String(), "BASE must be") {
			t.Errorf("%s %q = %v, %d bytes out, stderr %q; want refused with nothing printed", rulesScript, bad, err, len(out), stderr.String())
		}
	}
}
