// Package duration parses lengths of time the way people write them: Go
// durations ("90s", "15m", "24h"), whole days and weeks ("3d", "1w",
// "1d12h"), and a bare whole number of seconds ("3600").
package duration

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// ErrInvalid is wrapped by every error Parse returns.
var ErrInvalid = errors.New("invalid duration")

// Day and Week are the lengths "d" and "w" stand for (no calendar: a day is
// always 24 hours).
const (
	Day  = 24 * time.Hour
	Week = 7 * Day
)

// maxInput bounds the text Parse looks at; no real duration is longer.
const maxInput = 64

// Parse reads s as a duration that is zero or more. Errors wrap ErrInvalid
// and quote s: for empty text, a sign, fractional days or weeks, unknown
// units, control characters, and values beyond about 292 years.
func Parse(s string) (time.Duration, error) {
	bad := func(why string) error {
		if len(s) > maxInput {
			return fmt.Errorf("%w: %q…: %s", ErrInvalid, s[:maxInput], why)
		}
		return fmt.Errorf("%w: %q: %s", ErrInvalid, s, why)
	}
	switch {
	case s == "":
		return 0, fmt.Errorf("%w: empty (try 90s, 15m, 24h, 3d or 1w)", ErrInvalid)
	case len(s) > maxInput:
		return 0, bad("too long")
	case s[0] == '-':
		return 0, bad("must not be negative")
	case s[0] == '+':
		return 0, bad("must not have a sign")
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return 0, bad("contains a control character")
		}
	}
	if isDigits(s) {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n > math.MaxInt64/int64(time.Second) {
			return 0, bad("too large")
		}
		return time.Duration(n) * time.Second, nil
	}
	// Take the day and week parts out; the rest is a Go duration.
	var total time.Duration
	var rest strings.Builder
	for i := 0; i < len(s); {
		j := i
		for j < len(s) && (s[j] >= '0' && s[j] <= '9' || s[j] == '.') {
			j++
		}
		if j == i {
			return 0, bad("expected a number (try 90s, 15m, 24h, 3d or 1w)")
		}
		k := j
		for k < len(s) && !(s[k] >= '0' && s[k] <= '9' || s[k] == '.') {
			k++
		}
		num, unit := s[i:j], s[j:k]
		switch unit {
		case "d", "w":
			if !isDigits(num) {
				return 0, bad("days and weeks must be whole numbers")
			}
			per := Day
			if unit == "w" {
				per = Week
			}
			n, err := strconv.ParseInt(num, 10, 64)
			if err != nil || n > int64(math.MaxInt64/per) {
				return 0, bad("too large")
			}
			d := time.Duration(n) * per
			if total > math.MaxInt64-d {
				return 0, bad("too large")
			}
			total += d
		case "":
			return 0, bad("a number needs a unit after another part (s, m, h, d or w)")
		default:
			rest.WriteString(s[i:k])
		}
		i = k
	}
	if rest.Len() > 0 {
		d, err := time.ParseDuration(rest.String())
		if err != nil {
			if looksHuge(rest.String()) {
				return 0, bad("too large")
			}
			return 0, bad("not a duration (try 90s, 15m, 24h, 3d or 1w)")
		}
		if total > math.MaxInt64-d {
			return 0, bad("too large")
		}
		total += d
	}
	return total, nil
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// looksHuge reports whether s has a run of more than 18 digits, which
// time.ParseDuration refuses without saying it was an overflow.
func looksHuge(s string) bool {
	run := 0
	for i := 0; i < len(s); i++ {
		if s[i] >= '0' && s[i] <= '9' {
			run++
			if run > 18 {
				return true
			}
		} else {
			run = 0
		}
	}
	return false
}
