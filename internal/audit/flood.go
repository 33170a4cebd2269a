package audit

import (
	"container/list"
	"context"
	"encoding/json"
	"errors"
	"sort"
	"sync"
	"time"
)

// ActionAccessSummary is the action of a row that stands for many refused
// requests from one client: Outcome and Reason say which refusal (denied,
// or nothing_minted for HEAD, preview and confirmation pages), and Detail
// holds {"count": N, "first_at": …, "last_at": …}.
const ActionAccessSummary = "link.access.summary"

// FloodOptions tune a Flood. Zero values take the defaults.
type FloodOptions struct {
	// PerClient is how many denials a client may cause per window that are
	// logged one row each; 0 means 20.
	PerClient int
	// Window is the budget's period, and how often summaries are written;
	// 0 means one minute.
	Window time.Duration
	// MaxClients bounds the clients tracked (least recently seen are
	// forgotten first, their counts moved to summaries); 0 means 10000.
	MaxClients int
	// MaxPending bounds the summaries waiting to be written; beyond it they
	// are merged into one summary per reason; 0 means 1000.
	MaxPending int
	// Clock defaults to time.Now.
	Clock func() time.Time
}

// Flood is a per-client budget for rows that a client can cause at will:
// without holding any secret (unknown codes, rate-limited requests), or
// with a code that mints nothing (a revoked or expired link, HEAD, preview
// and confirmation pages), so that a flood of them cannot grow the log
// without bound: the first PerClient of a window are logged individually,
// the rest are counted and written as summary rows. Memory is bounded by MaxClients and MaxPending. It is safe
// for concurrent use.
type Flood struct {
	o FloodOptions

	mu      sync.Mutex
	clients map[string]*list.Element // of *floodClient
	lru     *list.List               // front: most recently seen
	pending []Event
	merged  map[floodKind]*tally // once pending is full
}

// floodKind is what a summary row stands for: one outcome and reason.
type floodKind struct{ outcome, reason string }

type floodClient struct {
	key        string
	start      time.Time
	n          int
	suppressed map[floodKind]*tally // reasons are a small fixed set
}

type tally struct {
	count       int64
	clients     int64
	first, last time.Time
}

// NewFlood returns a Flood with o's settings.
func NewFlood(o FloodOptions) *Flood {
	if o.PerClient <= 0 {
		o.PerClient = 20
	}
	if o.Window <= 0 {
		o.Window = time.Minute
	}
	if o.MaxClients <= 0 {
		o.MaxClients = 10000
	}
	if o.MaxPending <= 0 {
		o.MaxPending = 1000
	}
	if o.Clock == nil {
		o.Clock = time.Now
	}
	return &Flood{o: o, clients: make(map[string]*list.Element), lru: list.New(), merged: make(map[floodKind]*tally)}
}

// Admit reports whether a denial for reason from client (see FloodKey)
// should be logged as its own row. When it returns false the denial is
// counted, and a summary row will carry it.
func (f *Flood) Admit(client, reason string) bool {
	return f.AdmitOutcome(client, OutcomeDenied, reason)
}

// AdmitOutcome is Admit for a row of any outcome (OutcomeDenied,
// OutcomeNothingMinted): all of a client's rows share one budget, and the
// summary of those it refuses keeps outcome and reason.
func (f *Flood) AdmitOutcome(client, outcome, reason string) bool {
	if f == nil {
		return true
	}
	now := f.o.Clock()
	f.mu.Lock()
	defer f.mu.Unlock()
	var c *floodClient
	if e, ok := f.clients[client]; ok {
		f.lru.MoveToFront(e)
		c = e.Value.(*floodClient)
		if now.Sub(c.start) >= f.o.Window {
			f.flushClient(c)
			c.start, c.n = now, 0
		}
	} else {
		if f.lru.Len() >= f.o.MaxClients {
			old := f.lru.Back()
			oc := old.Value.(*floodClient)
			f.flushClient(oc)
			f.lru.Remove(old)
			delete(f.clients, oc.key)
		}
		c = &floodClient{key: client, start: now}
		f.clients[client] = f.lru.PushFront(c)
	}
	c.n++
	if c.n <= f.o.PerClient {
		return true
	}
	if c.suppressed == nil {
		c.suppressed = make(map[floodKind]*tally)
	}
	k := floodKind{outcome, reason}
	t := c.suppressed[k]
	if t == nil {
		t = &tally{first: now, clients: 1}
		c.suppressed[k] = t
	}
	t.count++
	t.last = now
	return false
}

// flushClient moves c's counts to pending summaries. f.mu is held.
func (f *Flood) flushClient(c *floodClient) {
	for _, r := range sortedKinds(c.suppressed) {
		t := c.suppressed[r]
		if len(f.pending) < f.o.MaxPending {
			f.pending = append(f.pending, summaryEvent(c.key, r, t))
			continue
		}
		m := f.merged[r]
		if m == nil {
			m = &tally{first: t.first}
			f.merged[r] = m
		}
		m.count += t.count
		m.clients++
		if t.first.Before(m.first) {
			m.first = t.first
		}
		if t.last.After(m.last) {
			m.last = t.last
		}
	}
	c.suppressed = nil
}

// sortedKinds returns m's keys in a fixed order, so that summaries are
// written in the same order every time.
func sortedKinds(m map[floodKind]*tally) []floodKind {
	ks := make([]floodKind, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Slice(ks, func(i, j int) bool {
		if ks[i].reason != ks[j].reason {
			return ks[i].reason < ks[j].reason
		}
		return ks[i].outcome < ks[j].outcome
	})
	return ks
}

func summaryEvent(client string, k floodKind, t *tally) Event {
	d := map[string]any{
		"count":    t.count,
		"first_at": t.first.UTC().Format(time.RFC3339Nano),
		"last_at":  t.last.UTC().Format(time.RFC3339Nano),
	}
	if client == "" {
		d["clients"] = t.clients
	}
	b, _ := json.Marshal(d)
	return Event{Action: ActionAccessSummary, Actor: ActorClient, Outcome: k.outcome, Reason: k.reason,
		ClientIP: client, Detail: string(b)}
}

// Drain returns the summary rows due: those of windows that have ended, or
// all counted so far if all is true. The caller writes them.
func (f *Flood) Drain(all bool) []Event {
	if f == nil {
		return nil
	}
	now := f.o.Clock()
	f.mu.Lock()
	defer f.mu.Unlock()
	for e := f.lru.Back(); e != nil; e = e.Prev() {
		c := e.Value.(*floodClient)
		if c.suppressed != nil && (all || now.Sub(c.start) >= f.o.Window) {
			f.flushClient(c)
		}
	}
	out := f.pending
	f.pending = nil
	for _, k := range sortedKinds(f.merged) {
		out = append(out, summaryEvent("", k, f.merged[k]))
	}
	clear(f.merged)
	return out
}

// Write appends the summaries due (all of them if all is true) to l. The
// summaries that could not be written are kept for the next call; the error
// is the first Append error.
func (f *Flood) Write(ctx context.Context, l *Log, all bool) error {
	evs := f.Drain(all)
	for i, ev := range evs {
		if _, err := l.Append(ctx, ev, nil); err != nil {
			f.mu.Lock()
			f.pending = append(evs[i:len(evs):len(evs)], f.pending...)
			f.mu.Unlock()
			return err
		}
	}
	return nil
}

// Run writes due summaries to l once per window until ctx ends, then writes
// all that are left. onErr, if not nil, is told of failed writes (the
// summaries are kept and retried).
func (f *Flood) Run(ctx context.Context, l *Log, onErr func(error)) {
	t := time.NewTicker(f.o.Window)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
			err := f.Write(wctx, l, true)
			cancel()
			if err != nil && !errors.Is(err, ErrClosed) && onErr != nil {
				onErr(err)
			}
			return
		case <-t.C:
			if err := f.Write(ctx, l, false); err != nil && onErr != nil {
				onErr(err)
			}
		}
	}
}
