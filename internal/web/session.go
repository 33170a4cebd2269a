package web

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"sync"
	"time"
)

// Session is a signed-in console user: the API token they signed in with
// (by id: the token itself is re-read on every request, so revoking or
// expiring it ends the session) and the CSRF token of their forms.
type Session struct {
	TokenID string
	CSRF    string
	Expires time.Time
}

// Sessions keeps console sessions in memory, keyed by the SHA-256 of the
// session id (the id itself lives only in the browser's cookie). It holds
// at most max sessions: when full, expired ones go first, then the one
// closest to expiry. A restart signs everyone out, which costs a sign-in.
type Sessions struct {
	mu  sync.Mutex
	m   map[[32]byte]Session
	max int
	ttl time.Duration
	now func() time.Time
}

// NewSessions returns a store of at most max sessions, each valid for ttl.
func NewSessions(max int, ttl time.Duration, now func() time.Time) *Sessions {
	if now == nil {
		now = time.Now
	}
	return &Sessions{m: map[[32]byte]Session{}, max: max, ttl: ttl, now: now}
}

// RandomToken returns 32 random bytes, base64url-encoded.
func RandomToken() string {
	var b [32]byte
	rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// Create starts a session for tokenID and returns its id (for the cookie).
func (s *Sessions) Create(tokenID string) (string, Session) {
	id := RandomToken()
	sess := Session{TokenID: tokenID, CSRF: RandomToken(), Expires: s.now().Add(s.ttl)}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.m) >= s.max {
		s.evict()
	}
	s.m[sha256.Sum256([]byte(id))] = sess
	return id, sess
}

// evict makes room for one session; s.mu is held.
func (s *Sessions) evict() {
	now := s.now()
	var oldest [32]byte
	var oldestAt time.Time
	for k, v := range s.m {
		if !now.Before(v.Expires) {
			delete(s.m, k)
			continue
		}
		if oldestAt.IsZero() || v.Expires.Before(oldestAt) {
			oldest, oldestAt = k, v.Expires
		}
	}
	if len(s.m) >= s.max && !oldestAt.IsZero() {
		delete(s.m, oldest)
	}
}

// Get returns the live session with this id.
func (s *Sessions) Get(id string) (Session, bool) {
	if id == "" || len(id) > 100 {
		return Session{}, false
	}
	k := sha256.Sum256([]byte(id))
	s.mu.Lock()
	defer s.mu.Unlock()
	sess, ok := s.m[k]
	if !ok {
		return Session{}, false
	}
	if !s.now().Before(sess.Expires) {
		delete(s.m, k)
		return Session{}, false
	}
	return sess, true
}

// Delete ends the session with this id.
func (s *Sessions) Delete(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.m, sha256.Sum256([]byte(id)))
}

// Len is the number of sessions held.
func (s *Sessions) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.m)
}

// Equal compares two secrets in constant time.
func Equal(a, b string) bool {
	return a != "" && subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}
