// Package ratelimit owns sharesvc's request limits: token buckets kept per
// key (a client network, a link, an API token) in a table whose memory is
// fixed however many distinct keys pass by.
//
// Each bucket is stored as one number, its theoretical arrival time (the
// generic cell rate algorithm, which is a token bucket written differently):
// a key whose bucket is full needs no entry at all, which is what lets the
// table forget idle keys without changing anyone's answer.
package ratelimit

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// ErrLimited matches every *LimitedError: the caller went over a limit.
var ErrLimited = errors.New("rate limit exceeded")

// ErrBadLimit is returned (wrapped) by ParseLimit for text that is not a limit.
var ErrBadLimit = errors.New("invalid rate limit")

// LimitedError says which limit refused a request and when it may retry.
type LimitedError struct {
	Scope      string        // which limiter: ip, miss, link, token
	RetryAfter time.Duration // when one more request will be allowed
}

func (e *LimitedError) Error() string {
	return fmt.Sprintf("rate limit exceeded; retry after %d s", int64(ceilSeconds(e.RetryAfter)))
}

// Is makes errors.Is(err, ErrLimited) true.
func (e *LimitedError) Is(target error) bool { return target == ErrLimited }

func ceilSeconds(d time.Duration) time.Duration {
	return (d + time.Second - 1) / time.Second
}

// Limit is a token bucket: Burst requests at once, refilled at Rate per
// second. The zero Limit allows everything.
type Limit struct {
	Rate  float64 // tokens added per second
	Burst int     // bucket size
}

// Off reports whether l allows everything.
func (l Limit) Off() bool { return l.Rate <= 0 || l.Burst <= 0 }

// String formats l the way ParseLimit reads it.
func (l Limit) String() string {
	if l.Off() {
		return "off"
	}
	return strconv.FormatFloat(l.Rate, 'f', -1, 64) + "/s burst " + strconv.Itoa(l.Burst)
}

// PerInstance returns the share of l that each of n instances applies so
// that, with buckets kept in each instance's memory, the n together stay
// within l: the rate divided by n (exactly: it is a real number), and the
// burst divided by n rounded up, never below 1. Over any t seconds the n
// instances then allow one key at most n·⌈Burst/n⌉ + ⌊Rate·t⌋ requests,
// that is at most Burst + n − 1 + ⌊Rate·t⌋: l's own bound plus n − 1 from
// rounding the burst, however requests are spread. An off limit stays off,
// and n below 2 returns l.
func (l Limit) PerInstance(n int) Limit {
	if n < 2 || l.Off() {
		return l
	}
	return Limit{Rate: l.Rate / float64(n), Burst: max(1, (l.Burst+n-1)/n)}
}

// ParseLimit reads a limit written as "N/UNIT burst B" (UNIT is s, m or h,
// or a duration such as 10s: "5/10s"), "N/UNIT" (burst N, rounded up), or
// "off". It returns an error wrapping ErrBadLimit that says what is wrong.
func ParseLimit(s string) (Limit, error) {
	t := strings.TrimSpace(s)
	if t == "off" {
		return Limit{}, nil
	}
	fields := strings.Fields(t)
	if len(fields) != 1 && !(len(fields) == 3 && fields[1] == "burst") {
		return Limit{}, fmt.Errorf("%w: %q must look like \"10/s burst 20\", \"600/m\" or \"off\"", ErrBadLimit, s)
	}
	num, per, ok := strings.Cut(fields[0], "/")
	if !ok {
		return Limit{}, fmt.Errorf("%w: %q has no \"/\": write a rate such as 10/s", ErrBadLimit, s)
	}
	n, err := strconv.ParseFloat(num, 64)
	if err != nil || n <= 0 || math.IsInf(n, 0) || math.IsNaN(n) {
		return Limit{}, fmt.Errorf("%w: %q: the count before \"/\" must be a positive number", ErrBadLimit, s)
	}
	var period time.Duration
	switch per {
	case "s":
		period = time.Second
	case "m":
		period = time.Minute
	case "h":
		period = time.Hour
	default:
		period, err = time.ParseDuration(per)
		if err != nil || period <= 0 {
			return Limit{}, fmt.Errorf("%w: %q: the unit after \"/\" must be s, m, h or a duration such as 10s", ErrBadLimit, s)
		}
	}
	l := Limit{Rate: n / period.Seconds(), Burst: int(math.Ceil(n))}
	if len(fields) == 3 {
		b, err := strconv.Atoi(fields[2])
		if err != nil || b < 1 {
			return Limit{}, fmt.Errorf("%w: %q: burst must be a whole number of at least 1", ErrBadLimit, s)
		}
		l.Burst = b
	}
	if l.Rate*1e9 < 1e-9 || l.Rate > 1e9 {
		return Limit{}, fmt.Errorf("%w: %q: rate out of range", ErrBadLimit, s)
	}
	return l, nil
}

// interval is the time one token takes to come back, in nanoseconds.
func (l Limit) interval() int64 { return int64(math.Round(1e9 / l.Rate)) }

// Decision is the answer for one request.
type Decision struct {
	Allowed bool
	// RetryAfter is, when not allowed, the exact wait until one request
	// will be; zero when allowed.
	RetryAfter time.Duration
	// Remaining is how many more requests would be allowed right now.
	Remaining int
}
