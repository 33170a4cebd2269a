package audit

import (
	"bytes"
	"testing"
	"time"
)

func eventFrom(seq int64, at, exp int64, a, b, c, d string) Event {
	e := Event{Seq: seq, At: time.UnixMicro(at), Action: a, Actor: b, LinkID: c, Reason: d}
	if exp != 0 {
		e.URLExpiresAt = time.UnixMilli(exp)
	}
	return e
}

// FuzzCanonicalInjective: two events that differ in any field never encode
// alike, so the chain commits to every field.
func FuzzCanonicalInjective(f *testing.F) {
	f.Add(int64(1), int64(0), int64(0), "ab", "c", "", "", int64(1), int64(0), int64(0), "a", "bc", "", "")
	f.Add(int64(1), int64(5), int64(0), "x", "", "", "", int64(1), int64(5), int64(1), "x", "", "", "")
	f.Add(int64(2), int64(0), int64(0), "", "", "lnk", "", int64(2), int64(0), int64(0), "", "", "", "lnk")
	f.Fuzz(func(t *testing.T, s1, at1, e1 int64, a1, b1, c1, d1 string, s2, at2, e2 int64, a2, b2, c2, d2 string) {
		x := eventFrom(s1, at1, e1, a1, b1, c1, d1)
		y := eventFrom(s2, at2, e2, a2, b2, c2, d2)
		same := x.Seq == y.Seq && x.At.UnixMicro() == y.At.UnixMicro() &&
			x.URLExpiresAt.IsZero() == y.URLExpiresAt.IsZero() && x.URLExpiresAt.UnixMilli() == y.URLExpiresAt.UnixMilli() &&
			x.Action == y.Action && x.Actor == y.Actor && x.LinkID == y.LinkID && x.Reason == y.Reason
		if enc := bytes.Equal(x.Canonical(nil), y.Canonical(nil)); enc != same {
			t.Fatalf("events %+v and %+v: equal encodings %v, equal events %v", x, y, enc, same)
		}
	})
}
