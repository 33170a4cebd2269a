package ratelimit

import (
	"hash/maphash"
	"net/netip"
	"sync"
	"time"
)

// DefaultCapacity is how many keys a Limiter remembers when Options leave
// it zero: about 5 MB of buckets at most (measured with IPv6 keys).
const DefaultCapacity = 1 << 16

const shardCount = 16

// evictSample is how many entries an insertion into a full shard looks at
// to choose one to forget.
const evictSample = 8

// Options tune a Limiter.
type Options struct {
	// Capacity bounds how many keys are remembered; 0 means DefaultCapacity.
	Capacity int
	// Clock is the limiter's notion of now; nil means time.Now.
	Clock func() time.Time
}

// Limiter applies one Limit to each key separately, in bounded memory.
//
// Memory: the table holds at most Capacity keys, in shards with their own
// locks. A key whose bucket is full carries no information and is dropped
// whenever room is needed. When a shard is full of keys that are all still
// refilling, inserting a new key forgets the sampled key closest to full,
// which hands that key up to one burst it had not yet earned back. So under a
// flood of more distinct keys than Capacity a limit becomes approximate (a
// key can get up to twice its burst), while memory stays fixed; with fewer
// keys it is exact. A count-min sketch would also bound memory but, with
// shared counters, makes innocent keys pay for heavy ones; forgetting the
// most-refilled key errs the other way, towards letting a request through.
type Limiter struct {
	limit    Limit
	interval int64 // nanoseconds per token
	tau      int64 // burst tolerance: (Burst-1) intervals
	clock    func() time.Time
	perShard int
	seed     maphash.Seed
	shards   [shardCount]shard
}

type shard struct {
	mu sync.Mutex
	// tat is each key's theoretical arrival time in Unix nanoseconds: the
	// bucket is full at or after it, and a request is allowed while
	// tat-now is at most tau.
	tat map[string]int64
}

// New returns a Limiter applying l per key. A zero (off) Limit allows every
// request and remembers nothing.
func New(l Limit, o Options) *Limiter {
	if o.Capacity <= 0 {
		o.Capacity = DefaultCapacity
	}
	if o.Clock == nil {
		o.Clock = time.Now
	}
	lim := &Limiter{limit: l, clock: o.Clock, seed: maphash.MakeSeed(),
		perShard: (o.Capacity + shardCount - 1) / shardCount}
	if !l.Off() {
		lim.interval = l.interval()
		lim.tau = int64(l.Burst-1) * lim.interval
	}
	for i := range lim.shards {
		lim.shards[i].tat = make(map[string]int64)
	}
	return lim
}

// Limit returns the limit applied.
func (l *Limiter) Limit() Limit { return l.limit }

func (l *Limiter) shard(key string) *shard {
	return &l.shards[maphash.String(l.seed, key)%shardCount]
}

// Allow takes one token from key's bucket if there is one.
func (l *Limiter) Allow(key string) Decision {
	if l.limit.Off() {
		return Decision{Allowed: true, Remaining: -1}
	}
	now := l.clock().UnixNano()
	sh := l.shard(key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	tat, known := sh.tat[key]
	if !known || tat < now {
		tat = now
	}
	if tat-now > l.tau {
		return Decision{RetryAfter: time.Duration(tat - l.tau - now)}
	}
	tat += l.interval
	if !known {
		l.makeRoom(sh, now)
	}
	sh.tat[key] = tat
	return Decision{Allowed: true, Remaining: int((l.tau + l.interval - (tat - now)) / l.interval)}
}

// Refund gives back one token taken from key's bucket, for a request that
// turned out not to count (a miss-limiter token taken before a lookup that
// then found the link).
func (l *Limiter) Refund(key string) {
	if l.limit.Off() {
		return
	}
	now := l.clock().UnixNano()
	sh := l.shard(key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	tat, known := sh.tat[key]
	if !known {
		return
	}
	if tat -= l.interval; tat <= now {
		delete(sh.tat, key) // full again: nothing to remember
	} else {
		sh.tat[key] = tat
	}
}

// makeRoom keeps sh under its share of the capacity before one insertion.
func (l *Limiter) makeRoom(sh *shard, now int64) {
	if len(sh.tat) < l.perShard {
		return
	}
	victim, oldest, n := "", int64(0), 0
	for k, t := range sh.tat { // map order is randomised: a random sample
		if t <= now {
			delete(sh.tat, k) // full bucket: forgetting it changes nothing
			return
		}
		if victim == "" || t < oldest {
			victim, oldest = k, t
		}
		if n++; n == evictSample {
			break
		}
	}
	delete(sh.tat, victim)
}

// Len returns how many keys are remembered.
func (l *Limiter) Len() int {
	n := 0
	for i := range l.shards {
		sh := &l.shards[i]
		sh.mu.Lock()
		n += len(sh.tat)
		sh.mu.Unlock()
	}
	return n
}

// IPKey groups client addresses the way limits apply to them: an IPv4
// address stands alone, an IPv6 address counts as its /64 (one subscriber's
// allocation, which a client can rotate through freely).
func IPKey(a netip.Addr) string {
	a = a.Unmap()
	switch {
	case a.Is4():
		return a.String()
	case a.Is6():
		p, _ := a.WithZone("").Prefix(64)
		return p.String()
	}
	return "unknown"
}
