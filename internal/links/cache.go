package links

import (
	"context"
	"sync"
	"time"
)

// cacheSize bounds the link cache: about 1 KiB a link, so 1 MiB at most.
const cacheSize = 1024

// cache remembers recently opened links by the hash of their code, so that
// the share route's hot path skips the database read. Only the mint path
// uses it. A cached link may look live after it was revoked, used up or
// suspended: every mint re-checks liveness inside the transaction that
// spends the use and writes the audit row, so such a stale entry costs a
// wasted signature, never a URL. It may also look expired or used up after
// an edit gave it a later expiry or a higher cap, so a cached link that is
// not live is read again before anyone is refused.
type cache struct {
	mu sync.RWMutex
	m  map[[32]byte]*Link
}

func (c *cache) get(h [32]byte) *Link {
	c.mu.RLock()
	l := c.m[h]
	c.mu.RUnlock()
	return l
}

func (c *cache) put(h [32]byte, l *Link) {
	c.mu.Lock()
	if c.m == nil {
		c.m = make(map[[32]byte]*Link, cacheSize)
	}
	if len(c.m) >= cacheSize {
		// Evict an arbitrary entry; map iteration order is random enough
		// to keep hot links in most of the time.
		for k := range c.m {
			delete(c.m, k)
			break
		}
	}
	c.m[h] = l
	c.mu.Unlock()
}

// ByCodeForMint returns the link a code opens, possibly from a cache that
// may show a link as live after it stopped being live (see cache); a cached
// link that is expired or used up at now is read again, since an edit may
// have lifted that (a revocation is final, and nothing moves not_before).
// Use it only where liveness
// is re-checked in the minting transaction (ClaimUses); everything else
// uses ByCode. The returned Link is shared: do not modify it. Errors:
// ErrNotFound.
func (s *Store) ByCodeForMint(ctx context.Context, code string, now time.Time) (*Link, error) {
	if !ValidCode(code) {
		return nil, ErrNotFound
	}
	h := HashCode(code)
	if l := s.cache.get(h); l != nil {
		if st := l.StateAt(now); st != StateExpired && st != StateUsedUp {
			return l, nil
		}
	}
	l, err := s.byHash(ctx, h)
	if err != nil {
		return nil, err
	}
	s.cache.put(h, l)
	return l, nil
}
