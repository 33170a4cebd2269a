package clientip

import (
	"errors"
	"net/netip"
	"testing"
)

func TestResolve(t *testing.T) {
	trusted, err := ParsePrefixes("10.0.0.0/8, 192.0.2.7 2001:db8:ffff::/48")
	if err != nil {
		t.Fatal(err)
	}
	r := NewResolver(trusted)
	for _, tc := range []struct {
		name   string
		remote string
		xff    []string
		want   string
	}{
		{"no proxy", "198.51.100.1:5555", nil, "198.51.100.1"},
		{"untrusted peer's header ignored", "198.51.100.1:5555", []string{"203.0.113.9"}, "198.51.100.1"},
		{"trusted peer, one hop", "10.1.2.3:80", []string{"203.0.113.9"}, "203.0.113.9"},
		{"trusted chain skipped", "10.1.2.3:80", []string{"203.0.113.9, 10.9.9.9", "192.0.2.7"}, "203.0.113.9"},
		{"client-supplied left part ignored", "10.1.2.3:80", []string{"1.1.1.1, 203.0.113.9"}, "203.0.113.9"},
		{"garbage stops at last good", "10.1.2.3:80", []string{"203.0.113.9, nonsense, 10.9.9.9"}, "10.9.9.9"},
		{"all trusted", "10.1.2.3:80", []string{"10.4.4.4"}, "10.4.4.4"},
		{"empty header", "10.1.2.3:80", []string{""}, "10.1.2.3"},
		{"ipv6 peer", "[2001:db8::1]:443", nil, "2001:db8::1"},
		{"ipv6 trusted proxy", "[2001:db8:ffff::5]:443", []string{"[2001:db8:1::7]:1234"}, "2001:db8:1::7"},
		{"mapped v4", "[::ffff:198.51.100.1]:80", nil, "198.51.100.1"},
		{"mapped v4 trusted", "[::ffff:10.0.0.1]:80", []string{"::ffff:203.0.113.9"}, "203.0.113.9"},
		{"zone stripped", "[fe80::1%eth0]:80", nil, "fe80::1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := r.Resolve(tc.remote, tc.xff); got.String() != tc.want {
				t.Errorf("Resolve(%q, %q) = %s; want %s", tc.remote, tc.xff, got, tc.want)
			}
		})
	}
	if got := NewResolver(nil).Resolve("10.1.2.3:80", []string{"203.0.113.9"}); got.String() != "10.1.2.3" {
		t.Errorf("no trusted proxies: Resolve = %s; want the peer", got)
	}
	if got := r.Resolve("not an address", nil); got.IsValid() {
		t.Errorf("Resolve(garbage) = %s; want invalid", got)
	}
}

func TestParsePrefixes(t *testing.T) {
	got, err := ParsePrefixes(" 10.1.2.3/8,::ffff:192.0.2.0/120  2001:db8::1 ")
	if err != nil {
		t.Fatal(err)
	}
	want := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("192.0.2.0/24"), netip.MustParsePrefix("2001:db8::1/128")}
	if len(got) != len(want) {
		t.Fatalf("ParsePrefixes = %v; want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("prefix %d = %s; want %s", i, got[i], want[i])
		}
	}
	if p, err := ParsePrefixes(""); err != nil || len(p) != 0 {
		t.Errorf("ParsePrefixes(\"\") = %v, %v; want none", p, err)
	}
	for _, bad := range []string{"10.0.0.0/33", "example.com", "10.0.0.1/x", "1.2.3"} {
		t.Run(bad, func(t *testing.T) {
			if _, err := ParsePrefixes(bad); !errors.Is(err, ErrBadProxy) {
				t.Errorf("ParsePrefixes(%q) error = %v; want ErrBadProxy", bad, err)
			}
		})
	}
}
