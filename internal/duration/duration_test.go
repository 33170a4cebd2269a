package duration

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Duration
	}{
		{"90s", 90 * time.Second},
		{"15m", 15 * time.Minute},
		{"24h", 24 * time.Hour},
		{"1h30m", 90 * time.Minute},
		{"1.5h", 90 * time.Minute},
		{"3d", 3 * Day},
		{"1w", Week},
		{"2w3d", 17 * Day},
		{"1d12h", 36 * time.Hour},
		{"1w1d1h1m1s", Week + Day + time.Hour + time.Minute + time.Second},
		{"0", 0},
		{"0s", 0},
		{"3600", time.Hour},
		{"9223372036", 9223372036 * time.Second},
		{"15250w", 15250 * Week},
	} {
		got, err := Parse(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("Parse(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
}

func TestParseRefuses(t *testing.T) {
	for _, in := range []string{
		"", "-1", "-3d", "+3d", "1.5d", "0.5w", "3x", "3days", "d", "w", "1d2",
		"3d\n", "3\x00d", "\t3d", "1d\x7f",
		"9223372037",           // seconds past the largest duration
		"99999999999999999999", // past int64
		"15251w", "106752d",    // past the largest duration
		"106751d24h",                   // sum past the largest duration
		"9999999999999999999h",         // Go duration overflow
		"2562048h",                     // Go duration overflow
		strings.Repeat("1", 100) + "s", // long input
		"1e3s", "3 d", " 3d", "3D",
	} {
		d, err := Parse(in)
		if !errors.Is(err, ErrInvalid) {
			t.Errorf("Parse(%q) = %v, %v; want ErrInvalid", in, d, err)
			continue
		}
		if in != "" && !strings.Contains(err.Error(), "\"") {
			t.Errorf("Parse(%q) error %q does not quote the input", in, err)
		}
	}
}

func TestParseErrorNamesInput(t *testing.T) {
	_, err := Parse("1.5d")
	if err == nil || !strings.Contains(err.Error(), `"1.5d"`) || !strings.Contains(err.Error(), "whole") {
		t.Fatalf("err = %v", err)
	}
	_, err = Parse("99999999999999999999")
	if err == nil || !strings.Contains(err.Error(), "too large") {
		t.Fatalf("err = %v", err)
	}
	_, err = Parse("3d\n")
	if err == nil || !strings.Contains(err.Error(), "control") {
		t.Fatalf("err = %v", err)
	}
}
