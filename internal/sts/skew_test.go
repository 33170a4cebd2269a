package sts

import (
	"context"
	"errors"
	"github.com/sharesvc/sharesvc/internal/clocktest"
	"testing"
	"time"
)

// A session's issue time is STS's clock; a signer whose own clock is far
// from it would date every URL wrong (S3 rejects URLs dated more than
// about 15 minutes off), so it refuses the session and fails closed.
func TestSignerRefusesSkewedClock(t *testing.T) {
	for _, tc := range []struct {
		name string
		skew time.Duration // STS's clock minus ours; 0 with unknown = no Issued
		bad  bool
	}{
		{"in step", 0, false},
		{"ours 2m behind", 2 * time.Minute, false},
		{"ours 2m ahead", -2 * time.Minute, false},
		{"ours 20m behind", 20 * time.Minute, true},
		{"ours 20m ahead", -20 * time.Minute, true},
		{"ours 6m ahead", -6 * time.Minute, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clk := clocktest.New(time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC))
			calls := 0
			src := sourceFunc(func(context.Context) (Credentials, error) {
				calls++
				stsNow := clk.Now().Add(tc.skew)
				return Credentials{AccessKeyID: "ASIASKEW", SecretAccessKey: "s", SessionToken: "t",
					Issued: stsNow, Expires: stsNow.Add(time.Hour), SessionName: "skew"}, nil
			})
			p, err := NewPresigner("http://127.0.0.1:9", "us-east-1", true)
			if err != nil {
				t.Fatal(err)
			}
			s := NewSigner(src, p, SignerOptions{Clock: clk.Now, FailureBackoff: 3 * time.Second})
			g, err := s.Grant(context.Background(), time.Minute)
			if !tc.bad {
				if err != nil {
					t.Fatalf("Grant = %v; want a grant", err)
				}
				if g.TTL != time.Minute {
					t.Fatalf("TTL = %s; want 1m", g.TTL)
				}
				return
			}
			var ue *UnavailableError
			if !errors.Is(err, ErrClockSkew) || !errors.Is(err, ErrUnavailable) || !errors.As(err, &ue) || ue.RetryAfter <= 0 {
				t.Fatalf("Grant = %v; want an *UnavailableError with a Retry-After matching ErrClockSkew", err)
			}
			if _, ok := s.Session(); ok {
				t.Fatal("the skewed session was cached")
			}
			// Within the backoff nobody calls STS again; after it, the
			// check runs again on a new session.
			if _, err := s.Grant(context.Background(), time.Minute); !errors.Is(err, ErrUnavailable) || calls != 1 {
				t.Fatalf("second Grant = %v after %d calls; want unavailable without a second call", err, calls)
			}
			clk.Advance(4 * time.Second)
			if _, err := s.Grant(context.Background(), time.Minute); !errors.Is(err, ErrClockSkew) || calls != 2 {
				t.Fatalf("Grant after the backoff = %v after %d calls; want ErrClockSkew from a second call", err, calls)
			}
		})
	}
	// Sources that do not know the issue time (Issued zero) are not judged.
	clk := clocktest.New(time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC))
	s := newTestSigner(t, &fakeSource{clock: clk, length: 15 * time.Minute}, clk)
	if _, err := s.Grant(context.Background(), time.Minute); err != nil {
		t.Fatalf("Grant with an unknown issue time = %v", err)
	}
}
