// Package sts owns the credentials sharesvc signs with: short-lived STS
// session credentials from AssumeRole, cached and refreshed ahead of expiry,
// and the signer that turns them into presigned S3 URLs whose lifetime never
// outlives the session.
//
// The long-term key from the default AWS chain is only ever used to call
// AssumeRole; no URL is signed with it.
package sts

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// MaxURLLifetime is the longest presigned URL S3 accepts.
const MaxURLLifetime = 7 * 24 * time.Hour

// ErrUnavailable means no session with enough life left could be had; the
// caller should answer 503 with the RetryAfter of the *UnavailableError.
var ErrUnavailable = errors.New("signer unavailable")

// ErrNotSession means a credentials source returned credentials without a
// session token or expiry, i.e. not STS session credentials.
var ErrNotSession = errors.New("credentials are not STS session credentials")

// ErrClockSkew means the signer's clock and STS's disagree by more than
// SignerOptions.MaxSkew: S3 would reject the URLs it signs (dated in the
// future, or already expired), so it signs none.
var ErrClockSkew = errors.New("clock skew against STS")

// UnavailableError is returned (as an error matching ErrUnavailable) when
// the signer cannot mint a URL that would stay valid for its lifetime.
type UnavailableError struct {
	RetryAfter time.Duration
	Err        error
}

func (e *UnavailableError) Error() string {
	return fmt.Sprintf("signer unavailable (retry after %s): %v", e.RetryAfter, e.Err)
}

// Unwrap lets errors.Is match both ErrUnavailable and the cause.
func (e *UnavailableError) Unwrap() []error { return []error{ErrUnavailable, e.Err} }

// Source gets fresh session credentials. AssumeRole is the production one;
// tests use sources whose sessions end in seconds.
type Source interface {
	Retrieve(ctx context.Context) (Credentials, error)
}

// SignerOptions tune a Signer. Zero values take the documented defaults.
type SignerOptions struct {
	// Clock is the signer's notion of now; nil means time.Now.
	Clock func() time.Time
	// Margin is how long before the session ends every URL must expire
	// (covers clock skew and the request in flight). Default 15s.
	Margin time.Duration
	// RefreshAhead starts a background refresh once the session has less than
	// this left. It should exceed the longest URL lifetime signed, so that
	// requests never wait for STS. Default 5m.
	RefreshAhead time.Duration
	// RefreshTimeout bounds one AssumeRole call. Default 10s.
	RefreshTimeout time.Duration
	// FailureBackoff is how long after a failed refresh the next one may
	// start; it is also the Retry-After given to clients. Default 5s.
	FailureBackoff time.Duration
	// OnRefresh, when set, is told about each refresh (for metrics).
	OnRefresh func(d time.Duration, err error)
	// MaxSkew is how far the Clock may be from STS's clock, judged by a new
	// session's issue time (Credentials.Issued), before the session is
	// refused with ErrClockSkew. Default 5m (S3 allows about 15m, less
	// the URL's own lifetime).
	MaxSkew time.Duration
}

// Signer hands out session credentials for presigning, refreshing them ahead
// of expiry with at most one AssumeRole in flight.
type Signer struct {
	src       Source
	presigner *Presigner
	o         SignerOptions

	cur atomic.Pointer[Credentials]
	gen atomic.Uint64 // bumped by Drop: a refresh begun before it stores nothing

	mu       sync.Mutex
	inflight *refresh  // nil when no refresh runs
	failedAt time.Time // end of the last failed refresh
	lastErr  error
}

type refresh struct {
	done chan struct{}
	err  error
}

// NewSigner returns a Signer that gets sessions from src and presigns with p.
// It does not contact STS until first asked (see Prime).
func NewSigner(src Source, p *Presigner, o SignerOptions) *Signer {
	if o.Clock == nil {
		o.Clock = time.Now
	}
	if o.Margin <= 0 {
		o.Margin = 15 * time.Second
	}
	if o.RefreshAhead <= 0 {
		o.RefreshAhead = 5 * time.Minute
	}
	if o.RefreshTimeout <= 0 {
		o.RefreshTimeout = 10 * time.Second
	}
	if o.FailureBackoff <= 0 {
		o.FailureBackoff = 5 * time.Second
	}
	if o.MaxSkew <= 0 {
		o.MaxSkew = 5 * time.Minute
	}
	return &Signer{src: src, presigner: p, o: o}
}

// Prime fetches the first session, so that a misconfigured role fails at
// start rather than on the first request.
func (s *Signer) Prime(ctx context.Context) error {
	_, err := s.wait(ctx, true)
	return err
}

// Drop forgets the cached session, so that nothing more is signed with it;
// the next Grant assumes the role again. A refresh already in flight keeps
// nothing it gets (the kill switch must not be undone by a late answer).
func (s *Signer) Drop() {
	s.mu.Lock()
	s.gen.Add(1)
	s.cur.Store(nil)
	s.mu.Unlock()
}

// Session returns the cached session and whether there is one.
func (s *Signer) Session() (Credentials, bool) {
	c := s.cur.Load()
	if c == nil {
		return Credentials{}, false
	}
	return *c, true
}

// Grant is permission to sign one URL: which session, from when, for how long.
type Grant struct {
	creds   *Credentials
	scoped  *scoped       // set by ScopedSigner.Grant; nil for the unscoped Signer
	Now     time.Time     // signing time
	TTL     time.Duration // X-Amz-Expires, whole seconds
	Expires time.Time     // Now + TTL
	Session string        // RoleSessionName of the signing session
}

// Grant returns a grant for a URL that should live want (already clamped by
// the caller to the link's presign TTL and remaining life). The lifetime is
// min(want, 7 days, session time left − margin), rounded down to whole
// seconds. If the cached session cannot cover want it refreshes first; if
// that fails it returns an *UnavailableError rather than a URL that would die
// early. want under one second is ErrUnavailable too (nothing useful to sign).
func (s *Signer) Grant(ctx context.Context, want time.Duration) (Grant, error) {
	if want > MaxURLLifetime {
		want = MaxURLLifetime
	}
	want = want.Truncate(time.Second)
	if want < time.Second {
		return Grant{}, &UnavailableError{RetryAfter: time.Second, Err: errors.New("less than one second of lifetime requested")}
	}
	now := s.o.Clock()
	c := s.cur.Load()
	if c != nil {
		left := c.Expires.Sub(now) - s.o.Margin
		if left < s.o.RefreshAhead {
			s.startRefresh(false)
		}
		if left >= want {
			return s.grant(c, now, want), nil
		}
	}
	c, err := s.wait(ctx, false)
	if err != nil {
		return Grant{}, err
	}
	now = s.o.Clock()
	left := (c.Expires.Sub(now) - s.o.Margin).Truncate(time.Second)
	if left < want {
		if left < time.Second {
			return Grant{}, &UnavailableError{RetryAfter: s.o.FailureBackoff, Err: fmt.Errorf("fresh session has only %s left", c.Expires.Sub(now))}
		}
		// Even a fresh session is shorter than want: the session length is
		// the limit, and the URL is clamped to it.
		want = left
	}
	return s.grant(c, now, want), nil
}

func (s *Signer) grant(c *Credentials, now time.Time, ttl time.Duration) Grant {
	now = now.UTC().Truncate(time.Second)
	return Grant{creds: c, Now: now, TTL: ttl, Expires: now.Add(ttl), Session: c.SessionName}
}

// Presign signs r with the grant's session, time and lifetime.
func (s *Signer) Presign(g Grant, r Request) (string, error) {
	if g.creds == nil {
		return "", errors.New("presign: empty grant")
	}
	r.Now = g.Now
	r.Expires = g.TTL
	return s.presigner.Presign(*g.creds, r)
}

// wait returns a freshly refreshed session. force starts a refresh even
// inside the failure backoff.
func (s *Signer) wait(ctx context.Context, force bool) (*Credentials, error) {
	r, retryAfter := s.startRefresh(force)
	if r == nil {
		return nil, &UnavailableError{RetryAfter: retryAfter, Err: s.lastError()}
	}
	select {
	case <-r.done:
	case <-ctx.Done():
		return nil, &UnavailableError{RetryAfter: s.o.FailureBackoff, Err: ctx.Err()}
	}
	if r.err != nil {
		return nil, &UnavailableError{RetryAfter: s.o.FailureBackoff, Err: r.err}
	}
	c := s.cur.Load()
	if c == nil {
		return nil, &UnavailableError{RetryAfter: s.o.FailureBackoff, Err: errors.New("session dropped during refresh")}
	}
	return c, nil
}

func (s *Signer) lastError() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.lastErr == nil {
		return errors.New("no session")
	}
	return s.lastErr
}

// startRefresh joins the refresh in flight or starts one. It returns nil and
// the time left to wait when the last refresh failed too recently.
func (s *Signer) startRefresh(force bool) (*refresh, time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.inflight != nil {
		return s.inflight, 0
	}
	if !force && !s.failedAt.IsZero() {
		if wait := s.o.FailureBackoff - s.o.Clock().Sub(s.failedAt); wait > 0 {
			return nil, wait.Truncate(time.Second) + time.Second
		}
	}
	r := &refresh{done: make(chan struct{})}
	s.inflight = r
	go s.refresh(r)
	return r, 0
}

func (s *Signer) refresh(r *refresh) {
	gen := s.gen.Load()
	ctx, cancel := context.WithTimeout(context.Background(), s.o.RefreshTimeout)
	defer cancel()
	start := time.Now()
	c, err := s.src.Retrieve(ctx)
	if err == nil && (c.SessionToken == "" || c.Expires.IsZero()) {
		err = ErrNotSession
	}
	if err == nil && !c.Issued.IsZero() {
		// The session was issued moments ago by STS's clock: if ours reads
		// far from that, every URL would be dated wrong.
		if skew := s.o.Clock().Sub(c.Issued); skew > s.o.MaxSkew || skew < -s.o.MaxSkew {
			err = fmt.Errorf("%w: our clock is %s from the session's issue time", ErrClockSkew, skew.Round(time.Second))
		}
	}
	if s.o.OnRefresh != nil {
		s.o.OnRefresh(time.Since(start), err)
	}
	s.mu.Lock()
	switch {
	case err == nil && s.gen.Load() != gen:
		// Dropped while it ran: keep nothing, and do not count it as a
		// failure of STS.
		err = errors.New("session dropped during refresh")
	case err != nil:
		s.failedAt = s.o.Clock()
		s.lastErr = err
	default:
		s.failedAt = time.Time{}
		s.lastErr = nil
		s.cur.Store(&c)
	}
	r.err = err
	s.inflight = nil
	s.mu.Unlock()
	close(r.done)
}
