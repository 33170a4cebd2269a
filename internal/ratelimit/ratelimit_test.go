package ratelimit

import (
	"errors"
	"fmt"
	"github.com/sharesvc/sharesvc/internal/clocktest"
	"math"
	"net/netip"
	"strconv"
	"testing"
	"time"
)

func newFakeClock() *clocktest.Clock { return clocktest.New(time.Unix(1_800_000_000, 0)) }

func TestParseLimit(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Limit
	}{
		{"10/s burst 20", Limit{Rate: 10, Burst: 20}},
		{"600/m", Limit{Rate: 10, Burst: 600}},
		{"  60/h burst 5 ", Limit{Rate: 60.0 / 3600, Burst: 5}},
		{"5/10s burst 1", Limit{Rate: 0.5, Burst: 1}},
		{"0.5/s", Limit{Rate: 0.5, Burst: 1}},
		{"off", Limit{}},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseLimit(tc.in)
			if err != nil || math.Abs(got.Rate-tc.want.Rate) > 1e-12 || got.Burst != tc.want.Burst {
				t.Fatalf("ParseLimit(%q) = %+v, %v; want %+v", tc.in, got, err, tc.want)
			}
			if !tc.want.Off() {
				again, err := ParseLimit(got.String())
				if err != nil || math.Abs(again.Rate-got.Rate) > 1e-12 || again.Burst != got.Burst {
					t.Errorf("ParseLimit(%q.String() = %q) = %+v, %v; want it back", tc.in, got.String(), again, err)
				}
			}
		})
	}
	for _, in := range []string{"", "10", "10/", "/s", "-1/s", "0/s", "10/d", "10/-5s", "10/s burst", "10/s burst 0",
		"10/s burst x", "10/s bursts 3", "NaN/s", "Inf/s", "10/s burst 2 extra", "1e-30/h"} {
		t.Run("bad "+strconv.Quote(in), func(t *testing.T) {
			if l, err := ParseLimit(in); !errors.Is(err, ErrBadLimit) {
				t.Errorf("ParseLimit(%q) = %+v, %v; want ErrBadLimit", in, l, err)
			}
		})
	}
}

// TestBurstThenSustained drives one key with a burst and then steady
// pressure, and checks the count allowed is burst + rate·t and that every
// refusal names the exact wait.
func TestBurstThenSustained(t *testing.T) {
	for _, l := range []Limit{{Rate: 5, Burst: 10}, {Rate: 0.5, Burst: 3}, {Rate: 100, Burst: 1}, {Rate: 10.0 / 60, Burst: 20}} {
		t.Run(l.String(), func(t *testing.T) {
			c := newFakeClock()
			lim := New(l, Options{Clock: c.Now})
			allowed := 0
			for range l.Burst * 3 {
				d := lim.Allow("k")
				if d.Allowed {
					allowed++
				} else if d.RetryAfter <= 0 {
					t.Fatalf("refusal %+v has no RetryAfter", d)
				}
			}
			if allowed != l.Burst {
				t.Fatalf("burst: %d allowed; want %d", allowed, l.Burst)
			}
			// Sustained: ask four times per token interval (continuous demand)
			// for 20 intervals and a bit.
			interval := time.Duration(float64(time.Second) / l.Rate)
			span := 20*interval + interval/3
			step := interval / 4
			for el := time.Duration(0); el < span; el += step {
				c.Advance(step)
				for lim.Allow("k").Allowed {
					allowed++
				}
			}
			total := time.Duration(math.Ceil(float64(span)/float64(step))) * step
			want := float64(l.Burst) + l.Rate*total.Seconds()
			if math.Abs(float64(allowed)-want) > 1 {
				t.Errorf("allowed %d over %s; want burst + rate·t = %.2f (±1)", allowed, total, want)
			}
			// The wait given is exact: a nanosecond early is refused, on
			// time is allowed.
			d := lim.Allow("k")
			if d.Allowed || d.RetryAfter <= 0 {
				t.Fatalf("after draining: %+v; want a refusal with RetryAfter", d)
			}
			c.Advance(d.RetryAfter - 1)
			if early := lim.Allow("k"); early.Allowed {
				t.Errorf("allowed 1ns before RetryAfter %s", d.RetryAfter)
			}
			c.Advance(1)
			if ok := lim.Allow("k"); !ok.Allowed {
				t.Errorf("refused (%+v) after waiting RetryAfter %s", ok, d.RetryAfter)
			}
		})
	}
}

func TestRemainingAndKeys(t *testing.T) {
	c := newFakeClock()
	lim := New(Limit{Rate: 1, Burst: 3}, Options{Clock: c.Now})
	for i, want := range []int{2, 1, 0} {
		if d := lim.Allow("a"); !d.Allowed || d.Remaining != want {
			t.Fatalf("request %d = %+v; want allowed with %d remaining", i, d, want)
		}
	}
	if d := lim.Allow("a"); d.Allowed || d.RetryAfter != time.Second {
		t.Fatalf("4th request = %+v; want refused, retry after 1s", d)
	}
	if d := lim.Allow("b"); !d.Allowed {
		t.Fatalf("another key = %+v; want its own bucket", d)
	}
	c.Advance(10 * time.Second)
	if d := lim.Allow("a"); !d.Allowed || d.Remaining != 2 {
		t.Fatalf("after 10s = %+v; want a full bucket (burst caps the refill)", d)
	}
}

func TestRefund(t *testing.T) {
	c := newFakeClock()
	lim := New(Limit{Rate: 1.0 / 60, Burst: 2}, Options{Clock: c.Now})
	for range 10 {
		if d := lim.Allow("k"); !d.Allowed {
			t.Fatalf("refunded requests were counted: %+v", d)
		}
		lim.Refund("k")
	}
	if n := lim.Len(); n != 0 {
		t.Errorf("Len = %d after every token came back; want 0 (a full bucket is not stored)", n)
	}
	lim.Allow("k")
	lim.Allow("k")
	if d := lim.Allow("k"); d.Allowed {
		t.Errorf("third request without refunds allowed: %+v", d)
	}
	lim.Refund("missing") // must not panic or create an entry
	if n := lim.Len(); n != 1 {
		t.Errorf("Len = %d; want 1", n)
	}
}

func TestOffAllowsEverything(t *testing.T) {
	lim := New(Limit{}, Options{})
	for i := range 1000 {
		if !lim.Allow(strconv.Itoa(i)).Allowed {
			t.Fatal("an off limit refused a request")
		}
	}
	if lim.Len() != 0 {
		t.Errorf("an off limit remembered %d keys", lim.Len())
	}
}

// TestMemoryBounded passes a million distinct clients through a small table.
func TestMemoryBounded(t *testing.T) {
	c := newFakeClock()
	const capacity = 4096
	lim := New(Limit{Rate: 1, Burst: 5}, Options{Capacity: capacity, Clock: c.Now})
	n := 1_000_000
	if testing.Short() {
		n = 100_000
	}
	for i := range n {
		if !lim.Allow(strconv.Itoa(i)).Allowed {
			t.Fatalf("client %d's first request refused", i)
		}
		if i%1000 == 0 {
			c.Advance(time.Millisecond)
		}
	}
	if got, max := lim.Len(), capacity+shardCount; got > max {
		t.Errorf("Len = %d after %d distinct keys; want at most %d", got, n, max)
	}
}

// TestEvictsIdleBeforeBusy checks that a key still paying off a burst
// survives a stream of one-off keys whose buckets have refilled.
func TestEvictsIdleBeforeBusy(t *testing.T) {
	c := newFakeClock()
	lim := New(Limit{Rate: 1, Burst: 1}, Options{Capacity: 4 * shardCount, Clock: c.Now})
	for i := range 10_000 {
		c.Advance(time.Second) // every one-off key is full again by now
		lim.Allow("hot")       // hot takes its token each second: never full
		lim.Allow(fmt.Sprintf("once-%d", i))
		if d := lim.Allow("hot"); d.Allowed {
			t.Fatalf("step %d: the busy key was forgotten (allowed %+v); idle keys should go first", i, d)
		}
	}
	if n := lim.Len(); n > 4*shardCount {
		t.Errorf("Len = %d; want at most %d", n, 4*shardCount)
	}
}

func TestLimitedError(t *testing.T) {
	err := fmt.Errorf("open link: %w", &LimitedError{Scope: "ip", RetryAfter: 1500 * time.Millisecond})
	if !errors.Is(err, ErrLimited) {
		t.Fatalf("errors.Is(%v, ErrLimited) = false", err)
	}
	var le *LimitedError
	if !errors.As(err, &le) || le.RetryAfter != 1500*time.Millisecond {
		t.Fatalf("errors.As = %v, %+v", le != nil, le)
	}
	if got, want := le.Error(), "rate limit exceeded; retry after 2 s"; got != want {
		t.Errorf("Error() = %q; want %q (rounded up)", got, want)
	}
}

func TestIPKey(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"192.0.2.1", "192.0.2.1"},
		{"::ffff:192.0.2.1", "192.0.2.1"},
		{"2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"},
		{"2001:db8:1:2:ffff::1", "2001:db8:1:2::/64"},
		{"fe80::1%eth0", "fe80::/64"},
		{"::1", "::/64"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			if got := IPKey(netip.MustParseAddr(tc.in)); got != tc.want {
				t.Errorf("IPKey(%s) = %q; want %q", tc.in, got, tc.want)
			}
		})
	}
	if got := IPKey(netip.Addr{}); got != "unknown" {
		t.Errorf("IPKey(invalid) = %q; want unknown", got)
	}
}

// TestPerInstanceBound splits limits over n instances and drives one key
// through all of them with every request each instance allows, then with
// steady pressure: together they never allow more than
// Burst + n − 1 + ⌊Rate·t⌋, and one instance (n = 1) is l itself.
func TestPerInstanceBound(t *testing.T) {
	for _, tc := range []struct {
		l    Limit
		n    int
		want Limit
	}{
		{Limit{Rate: 2, Burst: 60}, 1, Limit{Rate: 2, Burst: 60}},
		{Limit{Rate: 2, Burst: 60}, 3, Limit{Rate: 2.0 / 3, Burst: 20}},
		{Limit{Rate: 10, Burst: 50}, 3, Limit{Rate: 10.0 / 3, Burst: 17}},
		{Limit{Rate: 20.0 / 60, Burst: 20}, 7, Limit{Rate: 20.0 / 60 / 7, Burst: 3}},
		{Limit{Rate: 1, Burst: 2}, 5, Limit{Rate: 0.2, Burst: 1}},
		{Limit{}, 3, Limit{}},
	} {
		t.Run(fmt.Sprintf("%s over %d", tc.l, tc.n), func(t *testing.T) {
			got := tc.l.PerInstance(tc.n)
			if math.Abs(got.Rate-tc.want.Rate) > 1e-12 || got.Burst != tc.want.Burst {
				t.Fatalf("%+v.PerInstance(%d) = %+v; want %+v", tc.l, tc.n, got, tc.want)
			}
			if tc.l.Off() {
				return
			}
			c := newFakeClock()
			lims := make([]*Limiter, tc.n)
			for i := range lims {
				lims[i] = New(got, Options{Clock: c.Now})
			}
			allowed := 0
			try := func() {
				for _, lim := range lims {
					for lim.Allow("k").Allowed {
						allowed++
					}
				}
			}
			try()
			if bound := tc.l.Burst + tc.n - 1; allowed > bound || allowed < tc.l.Burst {
				t.Fatalf("burst: %d allowed over %d instances; want between %d and %d", allowed, tc.n, tc.l.Burst, bound)
			}
			step := time.Duration(float64(time.Second) / tc.l.Rate / 4)
			var elapsed time.Duration
			for range 200 {
				c.Advance(step)
				elapsed += step
				try()
				if bound := tc.l.Burst + tc.n - 1 + int(math.Floor(tc.l.Rate*elapsed.Seconds()+1e-9)); allowed > bound {
					t.Fatalf("after %s: %d allowed; want at most %d", elapsed, allowed, bound)
				}
			}
		})
	}
}
