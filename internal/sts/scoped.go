package sts

import (
	"container/list"
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultMaxScopes is how many scoped sessions a ScopedSigner keeps when
// ScopedOptions.MaxScopes is zero.
const DefaultMaxScopes = 1000

// ScopedOptions tune a ScopedSigner. Zero values take the documented defaults.
type ScopedOptions struct {
	// Signer configures each scope's Signer. Its OnRefresh is told about
	// every AssumeRole of every scope (for metrics).
	Signer SignerOptions
	// MaxScopes bounds the scopes with a cached session; the least recently
	// used is forgotten beyond it and assumes the role again on its next use.
	// It should exceed the number of grants in active use, or sessions churn
	// (one AssumeRole per Grant in the worst case). Default DefaultMaxScopes.
	MaxScopes int
	// OnEvict, when set, is called (without locks held) each time a scope is
	// forgotten to make room (for metrics).
	OnEvict func()
}

// ScopedSigner signs with one STS session per (Scope, label): each session is
// assumed with the scope's session policy, so S3 itself refuses anything
// outside the scope. Each scope has its own Signer (refresh ahead, one
// AssumeRole in flight), created on first use; at most MaxScopes are kept.
// It is safe for concurrent use.
type ScopedSigner struct {
	base      AssumeRole
	presigner *Presigner
	o         ScopedOptions
	gen       atomic.Uint64 // incremented by Drop

	mu    sync.Mutex
	lru   list.List // of *scoped, most recently used first
	byKey map[scopeKey]*list.Element
}

type scopeKey struct {
	scope Scope
	label string
}

type scoped struct {
	key    scopeKey
	signer *Signer
}

// NewScopedSigner returns a ScopedSigner assuming base.RoleARN with
// base.Client and base.Duration; base.SessionName is the start of every
// session's name and base.Policy is ignored. It does not contact STS until
// first asked.
func NewScopedSigner(base AssumeRole, p *Presigner, o ScopedOptions) *ScopedSigner {
	if o.MaxScopes <= 0 {
		o.MaxScopes = DefaultMaxScopes
	}
	base.Policy = ""
	return &ScopedSigner{base: base, presigner: p, o: o, byKey: make(map[scopeKey]*list.Element)}
}

// ScopedSessionName is the RoleSessionName of the session for label under
// base: "<base>-<label>", with label kept whole (up to 40 characters) and base
// shortened to fit the 64 characters AWS allows, so CloudTrail shows whose
// grant signed.
func ScopedSessionName(base, label string) string {
	label = sessionNameBad.ReplaceAllString(label, "-")
	if len(label) > 40 {
		label = label[:40]
	}
	base = sessionNameBad.ReplaceAllString(base, "-")
	if n := 63 - len(label); len(base) > n {
		base = base[:n]
	}
	return SanitizeSessionName(base + "-" + label)
}

// Grant returns a grant from the session of sc for label (the grant's ID, in
// the session name), assuming the role with sc's policy on first use, with
// want clamped as Signer.Grant does. Errors: ErrInvalidScope (wrapped) for a
// bad scope; an *UnavailableError (ErrUnavailable) when no session can be had,
// including when Drop ran while the grant was being made.
func (s *ScopedSigner) Grant(ctx context.Context, sc Scope, label string, want time.Duration) (Grant, error) {
	gen := s.gen.Load()
	e, err := s.entry(sc, label)
	if err != nil {
		return Grant{}, err
	}
	g, err := e.signer.Grant(ctx, want)
	if err != nil {
		return Grant{}, err
	}
	if s.gen.Load() != gen {
		return Grant{}, &UnavailableError{RetryAfter: e.signer.o.FailureBackoff, Err: errors.New("scoped sessions dropped while granting")}
	}
	g.scoped = e
	return g, nil
}

// entry returns the cached entry of (sc, label), creating it if need be.
func (s *ScopedSigner) entry(sc Scope, label string) (*scoped, error) {
	k := scopeKey{sc, label}
	s.mu.Lock()
	if el, ok := s.byKey[k]; ok {
		s.lru.MoveToFront(el)
		s.mu.Unlock()
		return el.Value.(*scoped), nil
	}
	s.mu.Unlock()

	// Validate and build the policy outside the lock; a racing creator of
	// the same key is resolved below.
	policy, err := sc.Policy()
	if err != nil {
		return nil, err
	}
	src := s.base
	src.Policy = policy
	src.SessionName = ScopedSessionName(s.base.SessionName, label)

	s.mu.Lock()
	if el, ok := s.byKey[k]; ok {
		s.lru.MoveToFront(el)
		s.mu.Unlock()
		return el.Value.(*scoped), nil
	}
	// Each scope gets its own Presigner, whose one-entry cache then keeps
	// that session's signing key: sharing one would derive the key afresh
	// whenever consecutive URLs come from different scopes.
	e := &scoped{key: k, signer: NewSigner(&src, s.presigner.clone(), s.o.Signer)}
	s.byKey[k] = s.lru.PushFront(e)
	evicted := 0
	for s.lru.Len() > s.o.MaxScopes {
		old := s.lru.Remove(s.lru.Back()).(*scoped)
		delete(s.byKey, old.key)
		evicted++
	}
	s.mu.Unlock()
	if s.o.OnEvict != nil {
		for range evicted {
			s.o.OnEvict()
		}
	}
	return e, nil
}

// Presign signs r with g, which must come from this ScopedSigner's Grant.
// Errors: ErrOutOfScope when r is outside g's scope (other bucket, a key not
// under the prefix, or an action the scope lacks) or g is not scoped; then
// as Presigner.Presign.
func (s *ScopedSigner) Presign(g Grant, r Request) (string, error) {
	if g.creds == nil {
		return "", errors.New("presign: empty grant")
	}
	if g.scoped == nil || !g.scoped.key.scope.Allows(r) {
		return "", fmt.Errorf("%w: %s s3://%s/%s", ErrOutOfScope, r.Method, r.Bucket, r.Key)
	}
	return g.scoped.signer.Presign(g, r)
}

// Drop forgets every scoped session (the kill switch): nothing more is
// signed with them, and grants being made while Drop runs fail with
// ErrUnavailable. Each scope assumes the role again on its next use.
func (s *ScopedSigner) Drop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.gen.Add(1)
	for el := s.lru.Front(); el != nil; el = el.Next() {
		el.Value.(*scoped).signer.Drop()
	}
	s.lru.Init()
	clear(s.byKey)
}

// Len returns how many scopes have a cached Signer (for a gauge).
func (s *ScopedSigner) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lru.Len()
}

// Scoped reports whether g came from a ScopedSigner: it must then be
// presigned by that ScopedSigner, which checks the request against the
// scope.
func (g Grant) Scoped() bool { return g.scoped != nil }
