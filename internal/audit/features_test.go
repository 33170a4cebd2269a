package audit_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sharesvc/sharesvc/internal/audit"
	"github.com/sharesvc/sharesvc/internal/clocktest"
	"github.com/sharesvc/sharesvc/internal/db"
	"github.com/sharesvc/sharesvc/internal/testrig/testdb"
)

func openLogWith(t *testing.T, o audit.Options) (*db.DB, *audit.Log) {
	t.Helper()
	return openLogAt(t, testdb.DSN(t), o)
}

// openLogAt opens the database dsn (from testdb) and an audit log on it.
func openLogAt(t *testing.T, dsn string, o audit.Options) (*db.DB, *audit.Log) {
	t.Helper()
	d, err := db.Open(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	l, err := audit.Open(context.Background(), d.Write, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close(); d.Close() })
	return d, l
}

func mustAppend(t *testing.T, l *audit.Log, ev audit.Event) audit.Event {
	t.Helper()
	out, err := l.Append(context.Background(), ev, nil)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func testKey(t *testing.T) ed25519.PrivateKey {
	t.Helper()
	priv, _, err := audit.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	k, err := audit.ParsePrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// memStore is an ObjectStore in memory.
type memStore struct {
	mu   sync.Mutex
	objs map[string][]byte
	err  error
}

func (m *memStore) PutObject(ctx context.Context, key string, body []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.err != nil {
		return m.err
	}
	if m.objs == nil {
		m.objs = map[string][]byte{}
	}
	m.objs[key] = append([]byte(nil), body...)
	return nil
}

func TestVerifyAgainstCheckpoint(t *testing.T) {
	key := testKey(t)
	other := testKey(t)
	for _, tc := range []struct {
		name      string
		stmts     []string
		signer    ed25519.PrivateKey
		trusted   ed25519.PublicKey
		wantErr   error
		wantBad   int64
		wantMatch bool
	}{
		{name: "untouched", wantMatch: true},
		{name: "untouched, key pinned", trusted: key.Public().(ed25519.PublicKey), wantMatch: true},
		{name: "tail cut off", stmts: []string{`DELETE FROM audit_events WHERE seq > 6`}, wantErr: audit.ErrTruncated, wantBad: 7},
		{name: "whole log deleted", stmts: []string{`DELETE FROM audit_events`}, wantErr: audit.ErrTruncated, wantBad: 1},
		{name: "row rewritten and chain recomputed", stmts: []string{"rechain 5"}, wantErr: audit.ErrTampered, wantBad: 8},
		{name: "signed by another key", signer: other, trusted: key.Public().(ed25519.PublicKey), wantErr: audit.ErrBadSignature},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, l := openLog(t)
			appendN(t, l, 8)
			signer := tc.signer
			if signer == nil {
				signer = key
			}
			cp, err := audit.NewCheckpointer(d.Read, signer, audit.CheckpointOptions{Dir: t.TempDir()})
			if err != nil {
				t.Fatal(err)
			}
			c, err := cp.Write(context.Background())
			if err != nil || c.Seq != 8 {
				t.Fatalf("Write = %+v, %v; want a checkpoint of row 8", c, err)
			}
			appendN(t, l, 2) // rows after the checkpoint are fine
			switch {
			case len(tc.stmts) == 1 && tc.stmts[0] == "rechain 5":
				rechain(t, d, 5)
				if _, err := audit.Verify(context.Background(), d.Read); err != nil {
					t.Fatalf("recomputed chain fails Verify without a checkpoint: %v", err)
				}
			case len(tc.stmts) > 0:
				tamper(t, d, tc.stmts...)
			}
			r, err := audit.VerifyWith(context.Background(), d.Read, audit.VerifyOptions{Checkpoint: &c, PublicKey: tc.trusted})
			if tc.wantErr == nil {
				if err != nil || r.CheckpointMatched != tc.wantMatch || r.CheckpointSeq != 8 || r.Rows != 10 {
					t.Fatalf("VerifyWith = %+v, %v; want 10 rows, checkpoint 8 matched", r, err)
				}
				return
			}
			if !errors.Is(err, tc.wantErr) || r.BadSeq != tc.wantBad {
				t.Fatalf("VerifyWith = %+v, %v; want %v at row %d", r, err, tc.wantErr, tc.wantBad)
			}
		})
	}
}

// rechain edits row from and recomputes every hash after it, as an attacker
// with write access to the database could: only a checkpoint catches this.
func rechain(t *testing.T, d *db.DB, from int64) {
	t.Helper()
	evs, err := audit.List(context.Background(), d.Read, audit.Filter{Limit: audit.MaxListLimit})
	if err != nil {
		t.Fatal(err)
	}
	var qs []query
	prev := make([]byte, audit.HashSize)
	for i := len(evs) - 1; i >= 0; i-- {
		ev := evs[i]
		if ev.Seq == from {
			ev.Outcome = audit.OutcomeDenied
		}
		if ev.Seq >= from {
			ev.PrevHash = prev
			h := audit.ChainHash(prev, &ev, nil)
			ev.Hash = h[:]
			qs = append(qs, query{`UPDATE audit_events SET outcome = ?, prev_hash = ?, hash = ? WHERE seq = ?`,
				[]any{ev.Outcome, ev.PrevHash, ev.Hash, ev.Seq}})
		}
		prev = ev.Hash
	}
	tamperArgs(t, d, qs...)
}

func TestTruncatedTailVerifiesWithoutCheckpoint(t *testing.T) {
	// The reason checkpoints exist: without one a cut-off tail is invisible.
	d, l := openLog(t)
	appendN(t, l, 8)
	tamper(t, d, `DELETE FROM audit_events WHERE seq > 5`)
	if r, err := audit.Verify(context.Background(), d.Read); err != nil || r.LastSeq != 5 {
		t.Fatalf("Verify = %+v, %v; want 5 good rows", r, err)
	}
}

func TestCheckpointFilesAndStore(t *testing.T) {
	d, l := openLog(t)
	key := testKey(t)
	dir := t.TempDir()
	store := &memStore{}
	cp, err := audit.NewCheckpointer(d.Read, key, audit.CheckpointOptions{Dir: dir, Store: store, Prefix: "audit/"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cp.Write(context.Background()); !errors.Is(err, audit.ErrNoCheckpoint) {
		t.Fatalf("Write on an empty log = %v; want ErrNoCheckpoint", err)
	}
	appendN(t, l, 3)
	first, err := cp.Write(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	appendN(t, l, 9)
	second, err := cp.Write(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if first.Seq != 3 || second.Seq != 12 {
		t.Fatalf("checkpoints at rows %d and %d; want 3 and 12", first.Seq, second.Seq)
	}
	got, err := audit.ReadCheckpoint(dir)
	if err != nil || got.Seq != 12 || !bytes.Equal(got.Head, second.Head) {
		t.Fatalf("ReadCheckpoint(dir) = %+v, %v; want the newest (row 12)", got, err)
	}
	if err := got.Verify(key.Public().(ed25519.PublicKey)); err != nil {
		t.Fatalf("Verify of the file read back = %v", err)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "checkpoint-*.json"))
	if len(files) != 2 || len(store.objs) != 2 {
		t.Fatalf("files %v, objects %d; want 2 of each", files, len(store.objs))
	}
	for _, f := range files {
		b, _ := os.ReadFile(f)
		if !bytes.Equal(store.objs["audit/"+filepath.Base(f)], b) {
			t.Errorf("object for %s differs from the file", filepath.Base(f))
		}
	}
	// An edited file no longer verifies.
	edited := *got
	edited.Seq = 11
	if err := edited.Verify(nil); !errors.Is(err, audit.ErrBadSignature) {
		t.Fatalf("Verify of an edited checkpoint = %v; want ErrBadSignature", err)
	}
	// A failing store is an error, and the file is still written.
	store.err = errors.New("access denied")
	appendN(t, l, 1)
	if _, err := cp.Write(context.Background()); err == nil || !strings.Contains(err.Error(), "access denied") {
		t.Fatalf("Write with a failing store = %v; want its error", err)
	}
	// A new Checkpointer finds the latest on disk.
	cp2, err := audit.NewCheckpointer(d.Read, key, audit.CheckpointOptions{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if c, ok := cp2.Latest(); !ok || c.Seq != 13 {
		t.Fatalf("Latest after restart = %+v, %v; want row 13", c, ok)
	}
}

func TestKeyParsing(t *testing.T) {
	priv, pub, err := audit.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	k, err := audit.ParsePrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	want := k.Public().(ed25519.PublicKey)
	for _, tc := range []struct {
		name string
		in   []byte
		ok   bool
	}{
		{"pem", pub, true},
		{"hex", []byte(hex.EncodeToString(want) + "\n"), true},
		{"private key given as public", priv, false},
		{"garbage", []byte("not a key"), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := audit.ParsePublicKey(tc.in)
			if tc.ok != (err == nil) || tc.ok && !bytes.Equal(got, want) {
				t.Fatalf("ParsePublicKey = %x, %v; want ok=%v", got, err, tc.ok)
			}
			if err != nil && !errors.Is(err, audit.ErrConfig) {
				t.Fatalf("error %v does not wrap ErrConfig", err)
			}
		})
	}
	if _, err := audit.ParsePrivateKey(pub); !errors.Is(err, audit.ErrConfig) {
		t.Fatalf("ParsePrivateKey(public key) = %v; want ErrConfig", err)
	}
}

func TestPrune(t *testing.T) {
	clk := clocktest.New(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	d, l := openLogWith(t, audit.Options{Clock: clk.Now})
	for i := 0; i < 10; i++ {
		mustAppend(t, l, audit.Event{Action: audit.ActionAccess, Actor: audit.ActorClient, Outcome: audit.OutcomeMinted, RequestID: fmt.Sprint(i)})
		clk.Advance(time.Hour)
	}
	// Rows 1..10 are at 00:00 .. 09:00. Prune everything before 05:30.
	key := testKey(t)
	cp, err := audit.NewCheckpointer(d.Read, key, audit.CheckpointOptions{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	res, err := audit.Prune(context.Background(), l, d.Read, audit.PruneOptions{
		Before: clk.Now().Add(-4*time.Hour - 30*time.Minute), Actor: "alice", Checkpointer: cp})
	if err != nil {
		t.Fatal(err)
	}
	if res.ThroughSeq != 6 || res.Rows != 6 || res.Anchor == nil || res.Anchor.Seq != 6 {
		t.Fatalf("Prune = %+v; want rows 1..6 removed, anchored at 6", res)
	}
	if res.Event.Action != audit.ActionPrune || res.Event.Actor != "alice" || res.Event.Seq != 11 {
		t.Fatalf("prune row = %+v; want audit.prune by alice as row 11", res.Event)
	}
	var detail map[string]any
	if err := json.Unmarshal([]byte(res.Event.Detail), &detail); err != nil || detail["through_seq"] != float64(6) || detail["rows"] != float64(6) {
		t.Fatalf("prune detail = %s; want through_seq 6, rows 6", res.Event.Detail)
	}
	r, err := audit.Verify(context.Background(), d.Read)
	if err != nil || r.FirstSeq != 7 || r.LastSeq != 11 || r.PrunedThrough != 6 {
		t.Fatalf("Verify after prune = %+v, %v; want rows 7..11, pruned through 6", r, err)
	}
	r, err = audit.VerifyWith(context.Background(), d.Read, audit.VerifyOptions{Checkpoint: res.Anchor, PublicKey: cp.PublicKey()})
	if err != nil || !r.CheckpointMatched {
		t.Fatalf("VerifyWith(anchor) = %+v, %v; want the anchor to match", r, err)
	}
	head, _ := cp.Latest()
	if head.Seq != 11 {
		t.Fatalf("checkpoint after prune at row %d; want 11 (the prune row)", head.Seq)
	}

	// Outside a prune, the database refuses deletes.
	if _, err := d.Read.Exec(`DELETE FROM audit_events WHERE seq = 7`); err == nil || !strings.Contains(err.Error(), "append-only") {
		t.Fatalf("DELETE outside a prune = %v; want the append-only trigger", err)
	}
	if _, err := d.Read.Exec(`INSERT INTO audit_prune_gate (through_seq) VALUES (100)`); err == nil {
		t.Fatal("opening the prune gate over the newest row succeeded")
	}

	// Nothing old enough: no row, no error.
	res, err = audit.Prune(context.Background(), l, d.Read, audit.PruneOptions{Before: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)})
	if err != nil || res.Rows != 0 || res.Event.Seq != 0 {
		t.Fatalf("Prune of nothing = %+v, %v; want nothing done", res, err)
	}
	// Everything old enough: the newest row stays.
	res, err = audit.Prune(context.Background(), l, d.Read, audit.PruneOptions{Before: clk.Now().Add(24 * time.Hour)})
	if err != nil || res.ThroughSeq != 10 {
		t.Fatalf("Prune of all = %+v, %v; want through row 10 (row 11 stays)", res, err)
	}
	if r, err := audit.Verify(context.Background(), d.Read); err != nil || r.FirstSeq != 11 || r.LastSeq != 12 {
		t.Fatalf("Verify = %+v, %v; want rows 11..12", r, err)
	}
}

func TestPruneMaxRows(t *testing.T) {
	clk := clocktest.New(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	d, l := openLogWith(t, audit.Options{Clock: clk.Now})
	appendN(t, l, 10)
	clk.Advance(time.Hour)
	res, err := audit.Prune(context.Background(), l, d.Read, audit.PruneOptions{Before: clk.Now(), MaxRows: 4})
	if err != nil || res.ThroughSeq != 4 || res.Rows != 4 {
		t.Fatalf("Prune = %+v, %v; want rows 1..4", res, err)
	}
	res, err = audit.Prune(context.Background(), l, d.Read, audit.PruneOptions{Before: clk.Now(), MaxRows: 4})
	if err != nil || res.ThroughSeq != 8 || res.Rows != 4 {
		t.Fatalf("second Prune = %+v, %v; want rows 5..8", res, err)
	}
	if _, err := audit.Verify(context.Background(), d.Read); err != nil {
		t.Fatal(err)
	}
}

func TestDeletedHeadWithoutPruneIsTampering(t *testing.T) {
	d, l := openLog(t)
	appendN(t, l, 10)
	tamper(t, d, `DELETE FROM audit_events WHERE seq <= 3`)
	r, err := audit.Verify(context.Background(), d.Read)
	if !errors.Is(err, audit.ErrTampered) || r.BadSeq != 3 {
		t.Fatalf("Verify = %+v, %v; want ErrTampered naming row 3", r, err)
	}
}

func TestIPPrivacy(t *testing.T) {
	key := bytes.Repeat([]byte{7}, 32)
	for _, tc := range []struct {
		mode audit.IPMode
		in   string
		want string
	}{
		{audit.IPFull, "192.0.2.77", "192.0.2.77"},
		{audit.IPFull, "2001:db8:1:2::5", "2001:db8:1:2::5"},
		{audit.IPTruncate, "192.0.2.77", "192.0.2.0/24"},
		{audit.IPTruncate, "::ffff:192.0.2.77", "192.0.2.0/24"},
		{audit.IPTruncate, "2001:db8:1:2::5", "2001:db8:1::/48"},
		{audit.IPTruncate, "2001:db8:1:2::/64", "2001:db8:1::/48"},
		{audit.IPTruncate, "10.0.0.0/8", "10.0.0.0/8"},
		{audit.IPTruncate, "not-an-ip", "invalid"},
		{audit.IPTruncate, "", ""},
	} {
		t.Run(string(tc.mode)+" "+tc.in, func(t *testing.T) {
			p, err := audit.NewIPPrivacy(tc.mode, nil)
			if err != nil {
				t.Fatal(err)
			}
			if got := p.Apply(tc.in); got != tc.want {
				t.Fatalf("Apply(%q) = %q; want %q", tc.in, got, tc.want)
			}
		})
	}
	h, err := audit.NewIPPrivacy(audit.IPHash, key)
	if err != nil {
		t.Fatal(err)
	}
	a, b, c := h.Apply("192.0.2.77"), h.Apply("::ffff:192.0.2.77"), h.Apply("192.0.2.78")
	if a != b || a == c || !strings.HasPrefix(a, "hmac:") || strings.Contains(a, "192.0.2") {
		t.Fatalf("hash mode: %q %q %q; want equal for the same address, different otherwise, no address", a, b, c)
	}
	h2, _ := audit.NewIPPrivacy(audit.IPHash, bytes.Repeat([]byte{8}, 32))
	if h2.Apply("192.0.2.77") == a {
		t.Fatal("two keys give the same hash")
	}
	for _, bad := range []struct {
		mode audit.IPMode
		key  []byte
	}{{audit.IPHash, nil}, {audit.IPHash, make([]byte, 8)}, {"anonymize", nil}} {
		if _, err := audit.NewIPPrivacy(bad.mode, bad.key); !errors.Is(err, audit.ErrConfig) {
			t.Errorf("NewIPPrivacy(%q, %d-byte key) = %v; want ErrConfig", bad.mode, len(bad.key), err)
		}
	}
	// The log applies the mode to every row, and to filters through ClientIP.
	p, _ := audit.NewIPPrivacy(audit.IPTruncate, nil)
	_, l := openLogWith(t, audit.Options{IP: p})
	ev := mustAppend(t, l, audit.Event{Action: "x", Actor: "y", Outcome: "ok", ClientIP: "198.51.100.9"})
	if ev.ClientIP != "198.51.100.0/24" || l.ClientIP("198.51.100.200") != "198.51.100.0/24" {
		t.Fatalf("stored %q, filter %q; want 198.51.100.0/24", ev.ClientIP, l.ClientIP("198.51.100.200"))
	}
}

func TestFloodBudget(t *testing.T) {
	clk := clocktest.New(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	f := audit.NewFlood(audit.FloodOptions{PerClient: 3, Window: time.Minute, MaxClients: 2, Clock: clk.Now})
	admitted := 0
	for i := 0; i < 10; i++ {
		if f.Admit("192.0.2.1", "not_found") {
			admitted++
		}
	}
	if admitted != 3 {
		t.Fatalf("admitted %d of 10; want the budget of 3", admitted)
	}
	if !f.Admit("192.0.2.2", "not_found") {
		t.Fatal("a second client is limited by the first one's budget")
	}
	if got := f.Drain(false); len(got) != 0 {
		t.Fatalf("Drain before the window ends = %+v; want nothing", got)
	}
	clk.Advance(time.Minute)
	got := f.Drain(false)
	if len(got) != 1 || got[0].Action != audit.ActionAccessSummary || got[0].ClientIP != "192.0.2.1" ||
		got[0].Reason != "not_found" || got[0].Outcome != audit.OutcomeDenied {
		t.Fatalf("Drain = %+v; want one summary for 192.0.2.1", got)
	}
	var d struct{ Count int }
	if err := json.Unmarshal([]byte(got[0].Detail), &d); err != nil || d.Count != 7 {
		t.Fatalf("summary detail %s; want count 7", got[0].Detail)
	}
	// A new window gives a new budget.
	if !f.Admit("192.0.2.1", "not_found") {
		t.Fatal("budget not renewed after the window")
	}
	// Forgetting a client (MaxClients 2) moves its counts to a summary.
	for i := 0; i < 5; i++ {
		f.Admit("192.0.2.3", "rate_limited")
	}
	f.Admit("192.0.2.4", "rate_limited") // evicts 192.0.2.2 (no counts), then 192.0.2.1
	f.Admit("192.0.2.5", "rate_limited") // evicts 192.0.2.3 with 2 counted
	got = f.Drain(false)
	if len(got) != 1 || got[0].ClientIP != "192.0.2.3" || got[0].Reason != "rate_limited" {
		t.Fatalf("Drain after eviction = %+v; want 192.0.2.3's summary", got)
	}
	if got := f.Drain(true); len(got) != 0 {
		t.Fatalf("Drain(all) = %+v; want nothing left", got)
	}
}

func TestFloodMergesBeyondMaxPending(t *testing.T) {
	clk := clocktest.New(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	f := audit.NewFlood(audit.FloodOptions{PerClient: 1, MaxPending: 2, Clock: clk.Now})
	for c := 0; c < 5; c++ {
		for i := 0; i < 3; i++ {
			f.Admit(fmt.Sprintf("198.51.100.%d", c), "not_found")
		}
	}
	got := f.Drain(true)
	if len(got) != 3 || got[2].ClientIP != "" {
		t.Fatalf("Drain = %+v; want 2 per-client summaries and one merged", got)
	}
	var d struct{ Count, Clients int }
	json.Unmarshal([]byte(got[2].Detail), &d)
	if d.Count != 6 || d.Clients != 3 {
		t.Fatalf("merged summary %s; want 6 denials from 3 clients", got[2].Detail)
	}
}

func TestFloodWriteAppendsSummaries(t *testing.T) {
	d, l := openLog(t)
	f := audit.NewFlood(audit.FloodOptions{PerClient: 1})
	for i := 0; i < 50; i++ {
		f.Admit("203.0.113.9", "not_found")
	}
	if err := f.Write(context.Background(), l, true); err != nil {
		t.Fatal(err)
	}
	evs, err := audit.List(context.Background(), d.Read, audit.Filter{Action: audit.ActionAccessSummary})
	if err != nil || len(evs) != 1 || !strings.Contains(evs[0].Detail, `"count":49`) {
		t.Fatalf("summary rows = %+v, %v; want one with count 49", evs, err)
	}
}

func seedMixed(t *testing.T, l *audit.Log, clk *clocktest.Clock) {
	t.Helper()
	for i := 1; i <= 30; i++ {
		ev := audit.Event{Action: audit.ActionAccess, Actor: audit.ActorClient, LinkID: fmt.Sprintf("lnk_%d", i%3),
			Outcome: audit.OutcomeMinted, ClientIP: fmt.Sprintf("192.0.2.%d", i%5), UserAgent: "curl/8", RequestID: fmt.Sprint(i)}
		if i%4 == 0 {
			ev.Outcome, ev.Reason = audit.OutcomeDenied, "revoked"
		}
		if i%10 == 0 {
			ev = audit.Event{Action: audit.ActionLinkCreate, Actor: "alice", LinkID: "lnk_0", Outcome: audit.OutcomeOK,
				UserAgent: "=HYPERLINK(\"http://evil\")", Detail: `{"note":"line\nbreak, \"quoted\""}`}
		}
		mustAppend(t, l, ev)
		clk.Advance(time.Minute)
	}
}

func TestListFiltersAndCursor(t *testing.T) {
	clk := clocktest.New(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	d, l := openLogWith(t, audit.Options{Clock: clk.Now})
	seedMixed(t, l, clk)
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name string
		f    audit.Filter
		want []int64
	}{
		{"link", audit.Filter{LinkID: "lnk_1"}, []int64{28, 25, 22, 19, 16, 13, 7, 4, 1}},
		{"actor", audit.Filter{Actor: "alice"}, []int64{30, 20, 10}},
		{"outcome", audit.Filter{Outcome: audit.OutcomeDenied, Limit: 3}, []int64{28, 24, 16}},
		{"client ip", audit.Filter{ClientIP: "192.0.2.3"}, []int64{28, 23, 18, 13, 8, 3}},
		{"time range", audit.Filter{Since: start.Add(5 * time.Minute), Until: start.Add(8 * time.Minute)}, []int64{8, 7, 6}},
		{"cursor", audit.Filter{Before: 4}, []int64{3, 2, 1}},
		{"combined", audit.Filter{LinkID: "lnk_2", Outcome: audit.OutcomeMinted, Before: 20}, []int64{17, 14, 11, 5, 2}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			evs, err := audit.List(context.Background(), d.Read, tc.f)
			if err != nil {
				t.Fatal(err)
			}
			var got []int64
			for _, ev := range evs {
				got = append(got, ev.Seq)
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Fatalf("List(%+v) = %v; want %v", tc.f, got, tc.want)
			}
		})
	}
	// Paging through everything visits every row once, newest first.
	var seen []int64
	f := audit.Filter{Limit: 7}
	for {
		evs, err := audit.List(context.Background(), d.Read, f)
		if err != nil {
			t.Fatal(err)
		}
		if len(evs) == 0 {
			break
		}
		for _, ev := range evs {
			seen = append(seen, ev.Seq)
		}
		f.Before = evs[len(evs)-1].Seq
	}
	if len(seen) != 30 || seen[0] != 30 || seen[29] != 1 {
		t.Fatalf("paged rows = %v; want 30..1", seen)
	}
	for _, bad := range []audit.Filter{{Limit: -1}, {Limit: audit.MaxListLimit + 1}, {Before: -5},
		{Since: start.Add(time.Hour), Until: start}, {Actor: strings.Repeat("a", 300)}} {
		if _, err := audit.List(context.Background(), d.Read, bad); !errors.Is(err, audit.ErrInvalidFilter) {
			t.Errorf("List(%+v) = %v; want ErrInvalidFilter", bad, err)
		}
	}
}

func TestExport(t *testing.T) {
	clk := clocktest.New(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	d, l := openLogWith(t, audit.Options{Clock: clk.Now})
	seedMixed(t, l, clk)
	all, err := audit.List(context.Background(), d.Read, audit.Filter{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	bySeq := map[int64]audit.Event{}
	for _, ev := range all {
		bySeq[ev.Seq] = ev
	}

	t.Run("jsonl exact and in chain order", func(t *testing.T) {
		var buf bytes.Buffer
		n, err := audit.Export(context.Background(), d.Read, audit.Filter{}, audit.FormatJSONL, &buf)
		if err != nil || n != 30 {
			t.Fatalf("Export = %d, %v; want 30 rows", n, err)
		}
		lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
		if len(lines) != 30 {
			t.Fatalf("%d lines; want 30", len(lines))
		}
		for i, line := range lines {
			var j struct {
				Seq          int64   `json:"seq"`
				At           string  `json:"at"`
				UserAgent    string  `json:"user_agent"`
				Detail       string  `json:"detail"`
				URLExpiresAt *string `json:"url_expires_at"`
				Hash         string  `json:"hash"`
				PrevHash     string  `json:"prev_hash"`
			}
			if err := json.Unmarshal([]byte(line), &j); err != nil {
				t.Fatalf("line %d: %v: %s", i, err, line)
			}
			want := bySeq[int64(i+1)]
			at, _ := time.Parse(time.RFC3339Nano, j.At)
			if j.Seq != want.Seq || !at.Equal(want.At) || j.UserAgent != want.UserAgent || j.Detail != want.Detail ||
				j.Hash != hex.EncodeToString(want.Hash) || j.PrevHash != hex.EncodeToString(want.PrevHash) || j.URLExpiresAt != nil {
				t.Fatalf("line %d = %s; want %+v", i, line, want)
			}
		}
		// Event.MarshalJSON agrees with encoding/json's view of the same data.
		b, err := json.Marshal(bySeq[10])
		var m map[string]any
		if err != nil || json.Unmarshal(b, &m) != nil || m["detail"] != bySeq[10].Detail || m["user_agent"] != bySeq[10].UserAgent {
			t.Fatalf("MarshalJSON = %s, %v; want detail and user agent intact", b, err)
		}
	})
	t.Run("csv with filter, formulas defused", func(t *testing.T) {
		var buf bytes.Buffer
		n, err := audit.Export(context.Background(), d.Read, audit.Filter{Actor: "alice"}, audit.FormatCSV, &buf)
		if err != nil || n != 3 {
			t.Fatalf("Export = %d, %v; want 3 rows", n, err)
		}
		recs, err := csv.NewReader(&buf).ReadAll()
		if err != nil || len(recs) != 4 {
			t.Fatalf("CSV = %v, %v; want header and 3 rows", recs, err)
		}
		if recs[0][0] != "seq" || recs[1][0] != "10" || recs[3][0] != "30" {
			t.Fatalf("CSV rows %v; want header then seq 10, 20, 30", recs)
		}
		if ua := recs[1][8]; ua != `'=HYPERLINK("http://evil")` {
			t.Fatalf("user_agent cell = %q; want the formula defused with a leading apostrophe", ua)
		}
		if recs[1][12] != bySeq[10].Detail {
			t.Fatalf("detail cell = %q; want %q", recs[1][12], bySeq[10].Detail)
		}
	})
	t.Run("bad format", func(t *testing.T) {
		if _, err := audit.Export(context.Background(), d.Read, audit.Filter{}, "xml", &bytes.Buffer{}); !errors.Is(err, audit.ErrInvalidFilter) {
			t.Fatalf("Export(xml) = %v; want ErrInvalidFilter", err)
		}
		if _, err := audit.ParseFormat("xlsx"); !errors.Is(err, audit.ErrInvalidFilter) {
			t.Fatalf("ParseFormat(xlsx) = %v; want ErrInvalidFilter", err)
		}
	})
}

func TestMaxBatchOneStillChains(t *testing.T) {
	var (
		mu      sync.Mutex
		largest int
	)
	d, l := openLogWith(t, audit.Options{MaxBatch: 1, OnCommit: func(rows int, _ time.Duration, _ error) {
		mu.Lock()
		largest = max(largest, rows)
		mu.Unlock()
	}})
	appendN(t, l, 50)
	if largest != 1 {
		t.Fatalf("largest commit %d rows; want 1 with MaxBatch 1", largest)
	}
	if r, err := audit.Verify(context.Background(), d.Read); err != nil || r.Rows != 50 {
		t.Fatalf("Verify = %+v, %v; want 50 rows", r, err)
	}
}

func TestAppendJSONMatchesEncodingJSON(t *testing.T) {
	for _, s := range []string{"", "plain", "quote \" backslash \\ slash /", "tab\tnl\ncr\r\x00\x1f\x7f",
		"<script>&amp;</script>", "\u2028\u2029", "emoji 🎉 ünïcödé", "bad \xff\xfe utf8", "trunc \xe2\x82"} {
		ev := audit.Event{Seq: 1, UserAgent: s, Detail: s}
		var got struct {
			UserAgent string `json:"user_agent"`
			Detail    string `json:"detail"`
		}
		b := ev.AppendJSON(nil)
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatalf("AppendJSON(%q) = %s: %v", s, b, err)
		}
		want, _ := json.Marshal(s)
		var ws string
		json.Unmarshal(want, &ws)
		if got.UserAgent != ws || got.Detail != ws {
			t.Errorf("AppendJSON(%q) decodes to %q; encoding/json gives %q", s, got.UserAgent, ws)
		}
		if bytes.ContainsAny(b, "\u2028\u2029<>&") {
			t.Errorf("AppendJSON(%q) = %s; want <, >, &, U+2028/9 escaped", s, b)
		}
	}
}

// TestExportPages exports more rows than one page, through a read pool of
// one connection that the writer itself needs: Export must hold no
// connection while it writes. Rows appended during the export are left
// for the next one.
func TestExportPages(t *testing.T) {
	for _, rows := range []int{1000, 1201} { // a whole number of pages, and not
		t.Run(fmt.Sprint(rows), func(t *testing.T) {
			d, l := openLog(t)
			var wg sync.WaitGroup
			for g := range 50 {
				wg.Go(func() {
					for i := g; i < rows; i += 50 {
						if _, err := l.Append(context.Background(), audit.Event{Action: "x", Actor: "y", Outcome: "ok"}, nil); err != nil {
							t.Error(err)
							return
						}
					}
				})
			}
			wg.Wait()
			d.Read.SetMaxOpenConns(1)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			var buf bytes.Buffer
			writes := 0
			w := writerFunc(func(p []byte) (int, error) {
				writes++
				var n int
				if err := d.Read.QueryRowContext(ctx, `SELECT COUNT(*) FROM audit_events`).Scan(&n); err != nil {
					return 0, err
				}
				if writes == 1 {
					mustAppend(t, l, audit.Event{Action: "late", Actor: "y", Outcome: "ok"})
				}
				return buf.Write(p)
			})
			n, err := audit.Export(ctx, d.Read, audit.Filter{}, audit.FormatJSONL, w)
			if err != nil || n != int64(rows) {
				t.Fatalf("Export = %d, %v; want %d rows", n, err, rows)
			}
			for i, line := range strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n") {
				if want := fmt.Sprintf(`{"seq":%d,`, i+1); !strings.HasPrefix(line, want) {
					t.Fatalf("line %d = %.40s; want it to start %s", i, line, want)
				}
			}
		})
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }
