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
	alerts := regexp.MustCompile(`(?m)^\s*- alert: (\S+)`).FindAllStringSubmatch(string(rules), -1)
	if len(alerts) < 7 {
		t.Fatalf("%d alerts in %s; want at least 7", len(alerts), rulesFile)
	}
	for _, a := range alerts {
		if !slices.Contains(headings, a[1]) {
			t.Errorf("alert %s has no runbook section (#### %s) in README.md", a[1], a[1])
		}
	}
}
