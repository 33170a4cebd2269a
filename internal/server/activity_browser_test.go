package server_test

import (
	"context"
	"math"
	"net/http"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/sharesvc/sharesvc/internal/clocktest"
	"github.com/sharesvc/sharesvc/internal/links"
	"github.com/sharesvc/sharesvc/internal/sts"
)

// The access chart of a link's page at desktop width, in a real browser:
// the server-drawn SVG is visible and laid out, with one bar per hour of
// the link's life, and the bars drawn (of non-zero size) hold exactly the
// opens, each as tall as its share of the busiest hour.
func TestLinkActivityChartInBrowser(t *testing.T) {
	// The clock runs hours behind the real one, so that opens can be
	// spread over hours of the link's life while every STS session, issued
	// by the real clock, still looks fresh; the URLs minted are not used.
	t0 := time.Now().Add(-4 * time.Hour).Truncate(time.Hour)
	clk := clocktest.New(t0)
	e, base := consoleServerWith(t, envOptions{clock: clk.Now, signer: func(o *sts.SignerOptions) { o.MaxSkew = 24 * time.Hour }})

	// A link made at t0, stored directly: its creation's HEAD would be
	// dated hours off, which S3 refuses.
	code, hash := links.NewCode()
	l := &links.Link{ID: links.NewID(), Kind: links.KindDownload, Bucket: testBucket, Key: "chart/browser.txt",
		CreatedAt: t0, CreatedBy: "test", ExpiresAt: t0.Add(24 * time.Hour), PresignTTL: time.Minute}
	if err := links.Insert(context.Background(), e.db.Write, l, hash); err != nil {
		t.Fatal(err)
	}
	opensPerHour := []int{2, 1, 0, 3} // hours 0..3 of the link's life
	total := 0
	for h, n := range opensPerHour {
		clk.Set(t0.Add(time.Duration(h)*time.Hour + 10*time.Minute))
		for range n {
			if r := e.do("GET", "/s/"+code, "", ""); r.StatusCode != http.StatusFound {
				t.Fatalf("open in hour %d = %d; want 302", h, r.StatusCode)
			}
			total++
		}
	}
	clk.Set(t0.Add(3*time.Hour + 30*time.Minute))

	b := newBrowser(t) // 1280 × 900
	signInBrowser(t, b, base, e.admin, "")
	browse(t, b, "the link's page", chromedp.Navigate(base+"/ui/links/"+l.ID), chromedp.WaitVisible(chromedp.CSS("svg.chart")))
	type box struct {
		W, H  float64
		Opens int
	}
	type measured struct {
		SVG       box
		Bars      []box
		Hit       bool // the tallest bar is what the page shows at its centre
		Displayed bool // neither the chart nor its section is hidden
	}
	chart := pull(t, b, "measure the chart", chromedp.Evaluate[measured](`(() => {
		const svg = document.querySelector('svg.chart');
		const r = svg.getBoundingClientRect();
		const bars = [...svg.querySelectorAll('rect.bar')].map(el => {
			const b = el.getBoundingClientRect();
			return {W: b.width, H: b.height, Opens: Number(el.dataset.opens)};
		});
		const rects = [...svg.querySelectorAll('rect.bar')];
		const tallest = rects.reduce((a, el) => el.getBoundingClientRect().height > a.getBoundingClientRect().height ? el : a);
		tallest.scrollIntoView({block: 'center'});
		const t = tallest.getBoundingClientRect();
		const hit = document.elementFromPoint(t.x + t.width / 2, t.y + t.height / 2);
		const s = getComputedStyle(svg);
		return {SVG: {W: r.width, H: r.height}, Bars: bars, Hit: hit === tallest || tallest.contains(hit),
			Displayed: s.display !== 'none' && s.visibility !== 'hidden' && svg.checkVisibility()};
	})()`))
	shoot(t, b, "35-link-activity-chart")

	if !chart.Displayed || chart.SVG.W < 600 || chart.SVG.H <= 0 {
		t.Fatalf("chart laid out %.0f × %.0f px (displayed %v); want a visible chart across the desktop page", chart.SVG.W, chart.SVG.H, chart.Displayed)
	}
	if len(chart.Bars) != len(opensPerHour) {
		t.Fatalf("%d bars; want %d, one per hour", len(chart.Bars), len(opensPerHour))
	}
	drawn, drawnOpens := 0, 0
	for i, bar := range chart.Bars {
		if bar.Opens != opensPerHour[i] {
			t.Errorf("bar %d holds %d opens; want %d", i, bar.Opens, opensPerHour[i])
		}
		if bar.W <= 0 {
			t.Errorf("bar %d is %.1f px wide", i, bar.W)
		}
		if bar.H > 0 {
			drawn++
			drawnOpens += bar.Opens
		}
		// Each bar is as tall as its share of the busiest hour (3 opens)
		// of the chart's height.
		if want := chart.SVG.H * float64(opensPerHour[i]) / 3; math.Abs(bar.H-want) > 1 {
			t.Errorf("bar %d is %.1f px tall; want %.1f", i, bar.H, want)
		}
	}
	if drawn != 3 || drawnOpens != total {
		t.Errorf("%d bars drawn holding %d opens; want 3 holding all %d", drawn, drawnOpens, total)
	}
	if !chart.Hit {
		t.Error("the tallest bar is covered by something else")
	}
}
