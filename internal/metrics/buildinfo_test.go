package metrics_test

import (
	"strconv"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sharesvc/sharesvc/internal/buildinfo"
	"github.com/sharesvc/sharesvc/internal/metrics"
)

// sharesvc_build_info carries what `sharesvc version` prints.
func TestBuildInfoMatchesVersion(t *testing.T) {
	reg := prometheus.NewRegistry()
	metrics.New(reg, func() float64 { return 0 })
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	in := buildinfo.Read()
	rev := in.Revision
	if rev == "" {
		rev = "unknown"
	}
	want := map[string]string{"version": in.Version, "revision": rev, "modified": strconv.FormatBool(in.Modified), "goversion": in.GoVersion}
	for _, f := range fams {
		if f.GetName() != "sharesvc_build_info" {
			continue
		}
		if len(f.GetMetric()) != 1 {
			t.Fatalf("sharesvc_build_info has %d series; want 1", len(f.GetMetric()))
		}
		m := f.GetMetric()[0]
		if v := m.GetGauge().GetValue(); v != 1 {
			t.Errorf("sharesvc_build_info = %v; want 1", v)
		}
		got := map[string]string{}
		for _, l := range m.GetLabel() {
			got[l.GetName()] = l.GetValue()
		}
		if len(got) != len(want) {
			t.Errorf("sharesvc_build_info labels = %v; want %v", got, want)
		}
		for k, v := range want {
			if got[k] != v {
				t.Errorf("sharesvc_build_info{%s} = %q; want %q (labels %v)", k, got[k], v, got)
			}
		}
		return
	}
	t.Fatal("sharesvc_build_info is not registered")
}
