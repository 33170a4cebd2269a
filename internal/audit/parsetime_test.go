package audit_test

import (
	"errors"
	"testing"
	"time"

	"github.com/sharesvc/sharesvc/internal/audit"
)

func TestParseTimeAt(t *testing.T) {
	now := time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)
	for in, want := range map[string]time.Time{
		"":                     {},
		"7d":                   now.Add(-7 * 24 * time.Hour),
		"1w12h":                now.Add(-180 * time.Hour),
		"90m":                  now.Add(-90 * time.Minute),
		"1700000000":           time.Unix(1700000000, 0).UTC(),
		"2026-01-02T15:04:05Z": time.Date(2026, 1, 2, 15, 4, 5, 0, time.UTC),
	} {
		got, err := audit.ParseTimeAt("since", in, now)
		if err != nil || !got.Equal(want) {
			t.Errorf("ParseTimeAt(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"yesterday", "-7d", "1.5d", "7x", "99999999999999999999", "7d\n"} {
		if _, err := audit.ParseTimeAt("since", in, now); !errors.Is(err, audit.ErrInvalidFilter) {
			t.Errorf("ParseTimeAt(%q) err = %v; want ErrInvalidFilter", in, err)
		}
	}
}
