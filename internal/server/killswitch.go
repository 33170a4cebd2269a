package server

import (
	"context"
	"sync/atomic"
	"time"
)

// killCache remembers the kill switch for a second so that the share route
// need not read it on every request. It is only a shortcut: the switch is
// also checked inside the transaction that spends each use, so no URL leaves
// while it is on, whichever instance turned it on.
type killCache struct {
	on        atomic.Bool
	checkedAt atomic.Int64 // UnixNano of the last read
}

const killCacheTTL = time.Second

// suspended reports whether the kill switch is on, reading it at most once a
// second. A read error counts as on: when in doubt, do not mint.
func (s *Server) suspended(ctx context.Context) bool {
	now := time.Now().UnixNano()
	last := s.kill.checkedAt.Load()
	if now-last < int64(killCacheTTL) || !s.kill.checkedAt.CompareAndSwap(last, now) {
		return s.kill.on.Load()
	}
	k, err := s.links.GetKillSwitch(ctx)
	if err != nil {
		s.kill.on.Store(true)
		s.kill.checkedAt.Store(0)
		return true
	}
	if was := s.kill.on.Swap(k.On); k.On && !was {
		// Turned on through another instance: drop this one's sessions too.
		s.dropSessions()
	}
	return k.On
}

// setSuspended records a change made by this instance at once.
func (s *Server) setSuspended(on bool) {
	s.kill.on.Store(on)
	s.kill.checkedAt.Store(time.Now().UnixNano())
	if on {
		s.dropSessions()
	}
}

// dropSessions forgets every cached STS session, the role's and the
// grants', so that nothing signed before the kill switch is reused.
func (s *Server) dropSessions() {
	s.signer.Drop()
	if s.scoped != nil {
		s.scoped.Drop()
	}
}
