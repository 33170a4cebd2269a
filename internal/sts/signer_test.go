package sts

import (
	"context"
	"errors"
	"github.com/sharesvc/sharesvc/internal/clocktest"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeSource hands out sessions of a fixed length measured on the test
// clock; it stands in for STS, whose shortest session is 15 minutes.
type fakeSource struct {
	clock    *clocktest.Clock
	length   time.Duration
	fail     atomic.Bool
	calls    atomic.Int32
	inflight atomic.Int32
	maxInfl  atomic.Int32
	delay    time.Duration
}

func (f *fakeSource) Retrieve(ctx context.Context) (Credentials, error) {
	n := f.inflight.Add(1)
	defer f.inflight.Add(-1)
	for {
		m := f.maxInfl.Load()
		if n <= m || f.maxInfl.CompareAndSwap(m, n) {
			break
		}
	}
	c := f.calls.Add(1)
	if f.delay > 0 {
		time.Sleep(f.delay)
	}
	if f.fail.Load() {
		return Credentials{}, errors.New("sts: service unavailable")
	}
	return Credentials{
		AccessKeyID: "ASIASESSION" + strconv.Itoa(int(c)), SecretAccessKey: "secret", SessionToken: "token",
		Expires: f.clock.Now().Add(f.length), SessionName: "test-session",
	}, nil
}

func newTestSigner(t *testing.T, src *fakeSource, clk *clocktest.Clock) *Signer {
	t.Helper()
	p, err := NewPresigner("http://127.0.0.1:9", "us-east-1", true)
	if err != nil {
		t.Fatal(err)
	}
	return NewSigner(src, p, SignerOptions{Clock: clk.Now, Margin: 5 * time.Second, RefreshAhead: 2 * time.Minute})
}

// urlExpiry returns when a presigned URL stops working by its own terms.
func urlExpiry(t *testing.T, u string) time.Time {
	t.Helper()
	pu, err := url.Parse(u)
	if err != nil {
		t.Fatal(err)
	}
	q := pu.Query()
	at, err := time.Parse("20060102T150405Z", q.Get("X-Amz-Date"))
	if err != nil {
		t.Fatal(err)
	}
	secs, err := strconv.Atoi(q.Get("X-Amz-Expires"))
	if err != nil {
		t.Fatal(err)
	}
	return at.Add(time.Duration(secs) * time.Second)
}

// A session ending in 30 s and a 300 s presign TTL: the signer never hands
// out a URL that outlives the session. When STS gives only 30 s sessions it
// refuses (503); when STS gives a long session it refreshes first.
func TestGrantNeverOutlivesSession(t *testing.T) {
	t.Run("refresh cannot help", func(t *testing.T) {
		clk := clocktest.New(time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC))
		src := &fakeSource{clock: clk, length: 30 * time.Second}
		s := newTestSigner(t, src, clk)
		if err := s.Prime(context.Background()); err != nil {
			t.Fatal(err)
		}
		g, err := s.Grant(context.Background(), 300*time.Second)
		if err != nil {
			// Refusing is allowed; check it says when to retry.
			var ue *UnavailableError
			if !errors.As(err, &ue) || ue.RetryAfter <= 0 {
				t.Fatalf("Grant = %v; want an UnavailableError with RetryAfter", err)
			}
			return
		}
		sess, _ := s.Session()
		u, err := s.Presign(g, Request{Method: "GET", Bucket: "bkt", Key: "k"})
		if err != nil {
			t.Fatal(err)
		}
		if exp := urlExpiry(t, u); exp.After(sess.Expires) {
			t.Fatalf("URL expires %s, after its session ends %s", exp, sess.Expires)
		}
		if g.TTL > 25*time.Second {
			t.Fatalf("TTL = %s; want at most session (30s) - margin (5s)", g.TTL)
		}
	})
	t.Run("refresh first", func(t *testing.T) {
		clk := clocktest.New(time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC))
		src := &fakeSource{clock: clk, length: 30 * time.Second}
		s := newTestSigner(t, src, clk)
		if err := s.Prime(context.Background()); err != nil {
			t.Fatal(err)
		}
		src.length = 15 * time.Minute // STS now gives normal sessions
		g, err := s.Grant(context.Background(), 300*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if g.TTL != 300*time.Second {
			t.Fatalf("TTL = %s; want 300s after refreshing", g.TTL)
		}
		sess, _ := s.Session()
		u, _ := s.Presign(g, Request{Method: "GET", Bucket: "bkt", Key: "k"})
		if exp := urlExpiry(t, u); exp.After(sess.Expires.Add(-5 * time.Second)) {
			t.Fatalf("URL expires %s, within the margin of its session's end %s", exp, sess.Expires)
		}
		if src.calls.Load() != 2 {
			t.Fatalf("AssumeRole calls = %d; want 2 (prime, refresh)", src.calls.Load())
		}
	})
	t.Run("refresh fails", func(t *testing.T) {
		clk := clocktest.New(time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC))
		src := &fakeSource{clock: clk, length: 30 * time.Second}
		s := newTestSigner(t, src, clk)
		if err := s.Prime(context.Background()); err != nil {
			t.Fatal(err)
		}
		src.fail.Store(true)
		_, err := s.Grant(context.Background(), 300*time.Second)
		var ue *UnavailableError
		if !errors.Is(err, ErrUnavailable) || !errors.As(err, &ue) || ue.RetryAfter <= 0 {
			t.Fatalf("Grant = %v; want ErrUnavailable with RetryAfter", err)
		}
		// A short URL the session does cover is still minted.
		g, err := s.Grant(context.Background(), 10*time.Second)
		if err != nil || g.TTL != 10*time.Second {
			t.Fatalf("Grant(10s) = %v, %v; want a 10s grant from the cached session", g.TTL, err)
		}
	})
}

// Every grant, at every moment of a session's life, ends before the session
// minus the margin; with STS down the signer keeps minting only while the
// cached session covers the URL.
func TestGrantsTrackSessionLife(t *testing.T) {
	clk := clocktest.New(time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC))
	src := &fakeSource{clock: clk, length: 15 * time.Minute}
	s := newTestSigner(t, src, clk)
	if err := s.Prime(context.Background()); err != nil {
		t.Fatal(err)
	}
	src.fail.Store(true)
	minted, refused := 0, 0
	for i := 0; i < 1000; i++ {
		clk.Advance(time.Second)
		g, err := s.Grant(context.Background(), 60*time.Second)
		sess, _ := s.Session()
		if err != nil {
			if !errors.Is(err, ErrUnavailable) {
				t.Fatal(err)
			}
			refused++
			continue
		}
		minted++
		if g.Expires.After(sess.Expires.Add(-5 * time.Second)) {
			t.Fatalf("at %s: grant expires %s, session ends %s", clk.Now(), g.Expires, sess.Expires)
		}
	}
	// 900s session, 5s margin, 60s URLs: minting stops 65s before the end.
	if minted != 900-65 || refused != 1000-minted {
		t.Fatalf("minted %d, refused %d; want %d minted", minted, refused, 900-65)
	}
}

func TestAtMostOneRefreshInFlight(t *testing.T) {
	clk := clocktest.New(time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC))
	src := &fakeSource{clock: clk, length: 15 * time.Minute, delay: 50 * time.Millisecond}
	s := newTestSigner(t, src, clk)
	var wg sync.WaitGroup
	for i := 0; i < 64; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := s.Grant(context.Background(), time.Minute); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if n := src.maxInfl.Load(); n != 1 {
		t.Fatalf("max AssumeRole calls in flight = %d; want 1", n)
	}
	if n := src.calls.Load(); n != 1 {
		t.Fatalf("AssumeRole calls = %d; want 1 for 64 concurrent first grants", n)
	}
}

func TestRefusesLongTermCredentials(t *testing.T) {
	p, _ := NewPresigner("http://127.0.0.1:9", "us-east-1", true)
	s := NewSigner(sourceFunc(func(context.Context) (Credentials, error) {
		return Credentials{AccessKeyID: "AKIALONGTERM", SecretAccessKey: "s"}, nil
	}), p, SignerOptions{})
	if err := s.Prime(context.Background()); !errors.Is(err, ErrNotSession) {
		t.Fatalf("Prime with long-term credentials = %v; want ErrNotSession", err)
	}
	if _, ok := s.Session(); ok {
		t.Fatal("long-term credentials were cached")
	}
}

type sourceFunc func(context.Context) (Credentials, error)

func (f sourceFunc) Retrieve(ctx context.Context) (Credentials, error) { return f(ctx) }

func TestDropForgetsSession(t *testing.T) {
	clk := clocktest.New(time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC))
	src := &fakeSource{clock: clk, length: 15 * time.Minute}
	s := newTestSigner(t, src, clk)
	g1, err := s.Grant(context.Background(), time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	s.Drop()
	g2, err := s.Grant(context.Background(), time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if g1.creds.AccessKeyID == g2.creds.AccessKeyID {
		t.Fatal("after Drop the old session was used again")
	}
}

func TestSanitizeSessionName(t *testing.T) {
	for in, want := range map[string]string{
		"sharesvc-host-1":        "sharesvc-host-1",
		"sharesvc-my host/x-1":   "sharesvc-my-host-x-1",
		"a":                      "a-",
		string(make([]byte, 70)): "----------------------------------------------------------------",
	} {
		if got := SanitizeSessionName(in); got != want {
			t.Errorf("SanitizeSessionName(%q) = %q; want %q", in, got, want)
		}
	}
}
