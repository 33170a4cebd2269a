package links

import (
	"testing"
	"time"
)

func TestNewCodeIsValidAndHashed(t *testing.T) {
	seen := map[string]bool{}
	for i := 0; i < 1000; i++ {
		code, hash := NewCode()
		if !ValidCode(code) {
			t.Fatalf("NewCode() = %q; not ValidCode", code)
		}
		if h := HashCode(code); string(h[:]) != string(hash) {
			t.Fatal("NewCode's hash is not HashCode(code)")
		}
		if seen[code] {
			t.Fatalf("code %q repeated", code)
		}
		seen[code] = true
	}
}

func TestStateAt(t *testing.T) {
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	base := Link{ExpiresAt: now.Add(time.Hour)}
	for _, tc := range []struct {
		name string
		edit func(*Link)
		want State
	}{
		{"live", func(l *Link) {}, StateLive},
		{"revoked wins", func(l *Link) { l.RevokedAt = now; l.ExpiresAt = now }, StateRevoked},
		{"expired at the instant", func(l *Link) { l.ExpiresAt = now }, StateExpired},
		{"used up", func(l *Link) { l.MaxUses, l.Uses = 2, 2 }, StateUsedUp},
		{"uses left", func(l *Link) { l.MaxUses, l.Uses = 2, 1 }, StateLive},
		{"not yet valid", func(l *Link) { l.NotBefore = now.Add(time.Second) }, StateNotYetValid},
		{"valid from now", func(l *Link) { l.NotBefore = now }, StateLive},
	} {
		l := base
		tc.edit(&l)
		if got := l.StateAt(now); got != tc.want {
			t.Errorf("%s: StateAt = %s; want %s", tc.name, got, tc.want)
		}
	}
}

// FuzzValidCode: anything ValidCode accepts has the exact shape of a code,
// and anything else is refused before any lookup.
func FuzzValidCode(f *testing.F) {
	good, _ := NewCode()
	for _, s := range []string{good, "", "a", good[:23], good + "A", "../" + good[3:], "%00" + good[3:],
		"\r\nLocation:" + good[11:], "AAAAAAAAAAAAAAAAAAAAAAA\u0410", good[:22] + "=="} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if !ValidCode(s) {
			return
		}
		if len(s) != CodeLen {
			t.Fatalf("ValidCode(%q) with length %d", s, len(s))
		}
		for _, c := range []byte(s) {
			if !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
				t.Fatalf("ValidCode(%q) accepts byte %q", s, c)
			}
		}
	})
}
