package audit_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/sharesvc/sharesvc/internal/audit"
	"github.com/sharesvc/sharesvc/internal/db"
)

// A log cut behind the service's back and grown again must never be
// vouched for by a new checkpoint, before or after a restart.
func TestCheckpointerRefusesLogThatContradictsLatest(t *testing.T) {
	ctx := context.Background()
	d, l := openLog(t)
	key := testKey(t)
	dir := t.TempDir()
	var checks []error
	cp, err := audit.NewCheckpointer(d.Read, key, audit.CheckpointOptions{Dir: dir, OnCheck: func(err error) { checks = append(checks, err) }})
	if err != nil {
		t.Fatal(err)
	}
	appendN(t, l, 8)
	if c, err := cp.Write(ctx); err != nil || c.Seq != 8 {
		t.Fatalf("Write = %+v, %v; want row 8", c, err)
	}
	appendN(t, l, 2)
	if err := cp.WriteIfMoved(ctx); err != nil || cp.Broken() != nil {
		t.Fatalf("WriteIfMoved on an honest log = %v (broken: %v)", err, cp.Broken())
	}
	tamper(t, d, `DELETE FROM audit_events WHERE seq > 5`)
	appendN(t, l, 7) // rows 6..12 again, other content

	for name, write := range map[string]func() error{
		"Write":        func() error { _, err := cp.Write(ctx); return err },
		"WriteIfMoved": func() error { return cp.WriteIfMoved(ctx) },
		"WriteAt":      func() error { _, err := cp.WriteAt(ctx, 3, nil); return err },
	} {
		if err := write(); !errors.Is(err, audit.ErrChainBroken) || !errors.Is(err, audit.ErrTampered) {
			t.Errorf("%s after the tail was cut and regrown = %v; want ErrChainBroken", name, err)
		}
	}
	if err := cp.Broken(); !errors.Is(err, audit.ErrChainBroken) {
		t.Errorf("Broken = %v; want ErrChainBroken", err)
	}
	if len(checks) == 0 || checks[len(checks)-1] == nil {
		t.Errorf("OnCheck saw %v; want the failure last", checks)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "checkpoint-*.json"))
	if len(files) != 2 {
		t.Fatalf("%d checkpoint files; want the 2 honest ones, nothing signed since", len(files))
	}

	// A restart finds the same.
	cp2, err := audit.NewCheckpointer(d.Read, key, audit.CheckpointOptions{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if err := cp2.Check(ctx); !errors.Is(err, audit.ErrChainBroken) {
		t.Fatalf("Check after a restart = %v; want ErrChainBroken", err)
	}
	if err := cp2.WriteIfMoved(ctx); !errors.Is(err, audit.ErrChainBroken) {
		t.Fatalf("WriteIfMoved after a restart = %v; want ErrChainBroken", err)
	}
	if r, _, err := cp2.Verify(ctx); !errors.Is(err, audit.ErrTampered) || r.BadSeq != 8 {
		t.Fatalf("Verify = %+v, %v; want row 8 to differ from its checkpoint", r, err)
	}
}

func TestCheckpointerTailCutWithoutRegrowth(t *testing.T) {
	ctx := context.Background()
	d, l := openLog(t)
	key := testKey(t)
	dir := t.TempDir()
	cp, _ := audit.NewCheckpointer(d.Read, key, audit.CheckpointOptions{Dir: dir})
	appendN(t, l, 6)
	if _, err := cp.Write(ctx); err != nil {
		t.Fatal(err)
	}
	tamper(t, d, `DELETE FROM audit_events WHERE seq > 4`)
	cp2, _ := audit.NewCheckpointer(d.Read, key, audit.CheckpointOptions{Dir: dir})
	if err := cp2.WriteIfMoved(ctx); !errors.Is(err, audit.ErrChainBroken) {
		t.Fatalf("WriteIfMoved of a cut log = %v; want ErrChainBroken", err)
	}
}

// Every stored checkpoint counts, not only the newest: a log cut and grown
// back past an older checkpoint, then vouched for by a checkpoint signed with
// the key (as the service did before it checked), still fails.
func TestVerifyAgainstEveryCheckpoint(t *testing.T) {
	ctx := context.Background()
	d, l := openLog(t)
	key := testKey(t)
	appendN(t, l, 5)
	h5 := headOf(t, d, 5)
	old := audit.SignCheckpoint(key, 5, h5, time.Now())
	tamper(t, d, `DELETE FROM audit_events WHERE seq > 3`)
	appendN(t, l, 7)
	h10 := headOf(t, d, 10)
	newer := audit.SignCheckpoint(key, 10, h10, time.Now())
	if _, err := audit.VerifyWith(ctx, d.Read, audit.VerifyOptions{Checkpoint: &newer}); err != nil {
		t.Fatalf("VerifyWith(newest only) = %v; the newest alone cannot tell", err)
	}
	r, err := audit.VerifyWith(ctx, d.Read, audit.VerifyOptions{Checkpoint: &newer, Checkpoints: []audit.Checkpoint{old}})
	if !errors.Is(err, audit.ErrTampered) || r.BadSeq != 5 {
		t.Fatalf("VerifyWith(all) = %+v, %v; want row 5 to differ from its checkpoint", r, err)
	}
	v := audit.NewVerifier(d.Read)
	if r, err := v.Verify(ctx, audit.VerifyOptions{Checkpoints: []audit.Checkpoint{newer, old}}); !errors.Is(err, audit.ErrTampered) || r.BadSeq != 5 {
		t.Fatalf("Verifier = %+v, %v; want row 5", r, err)
	}
	// A checkpoint past the head fails too.
	beyond := audit.SignCheckpoint(key, 99, h10, time.Now())
	if _, err := audit.VerifyWith(ctx, d.Read, audit.VerifyOptions{Checkpoints: []audit.Checkpoint{beyond}}); !errors.Is(err, audit.ErrTruncated) {
		t.Fatalf("VerifyWith(checkpoint past the head) = %v; want ErrTruncated", err)
	}
}

func TestVerifierIsIncremental(t *testing.T) {
	ctx := context.Background()
	d, l := openLog(t)
	key := testKey(t)
	appendN(t, l, 20)
	h10 := headOf(t, d, 10)
	cps := []audit.Checkpoint{audit.SignCheckpoint(key, 10, h10, time.Now())}
	v := audit.NewVerifier(d.Read)
	r, err := v.Verify(ctx, audit.VerifyOptions{Checkpoints: cps})
	if err != nil || r.Rehashed != 20 || r.Rows != 20 {
		t.Fatalf("first Verify = %+v, %v; want all 20 rows hashed", r, err)
	}
	appendN(t, l, 5)
	r, err = v.Verify(ctx, audit.VerifyOptions{Checkpoints: cps})
	if err != nil || r.Rehashed != 5 || r.Rows != 25 || r.LastSeq != 25 || r.Checkpoints != 1 {
		t.Fatalf("second Verify = %+v, %v; want 25 rows, 5 hashed", r, err)
	}
	// A checkpoint past the head, or one whose row differs, fails.
	h25 := headOf(t, d, 25)
	for name, c := range map[string]audit.Checkpoint{
		"past the head": audit.SignCheckpoint(key, 30, h25, time.Now()),
		"other hash":    audit.SignCheckpoint(key, 12, h25, time.Now()),
	} {
		if _, err := v.Verify(ctx, audit.VerifyOptions{Checkpoints: append(cps, c)}); !errors.Is(err, audit.ErrTampered) {
			t.Errorf("Verify with a checkpoint %s = %v; want ErrTampered", name, err)
		}
	}
	// A row removed in the middle, below the last verified row.
	tamper(t, d, `DELETE FROM audit_events WHERE seq = 7`)
	if r, err := v.Verify(ctx, audit.VerifyOptions{}); !errors.Is(err, audit.ErrTampered) || r.BadSeq != 7 {
		t.Fatalf("Verify after row 7 went = %+v, %v; want row 7", r, err)
	}
}

// headOf returns the hash of row seq.
func headOf(t *testing.T, d *db.DB, seq int64) []byte {
	t.Helper()
	var h []byte
	if err := d.Read.QueryRow(`SELECT hash FROM audit_events WHERE seq = ?`, seq).Scan(&h); err != nil {
		t.Fatalf("row %d: %v", seq, err)
	}
	return h
}

// memAnchor is an Anchor in memory that, like a bucket with Object Lock,
// never forgets.
type memAnchor struct{ cps []audit.Checkpoint }

func (m *memAnchor) Put(ctx context.Context, cp audit.Checkpoint, body []byte) error {
	m.cps = append(m.cps, cp)
	return nil
}

func (m *memAnchor) List(ctx context.Context) ([]audit.Checkpoint, error) { return m.cps, nil }

// Deleting the checkpoint files hides a cut tail from the files alone;
// the anchored copies still catch it.
func TestAnchoredCheckpointsOutliveTheFiles(t *testing.T) {
	ctx := context.Background()
	d, l := openLog(t)
	key := testKey(t)
	dir := t.TempDir()
	anchor := &memAnchor{}
	cp, _ := audit.NewCheckpointer(d.Read, key, audit.CheckpointOptions{Dir: dir, Anchor: anchor})
	appendN(t, l, 6)
	if _, err := cp.Write(ctx); err != nil || len(anchor.cps) != 1 {
		t.Fatalf("Write = %v; %d anchored, want 1", err, len(anchor.cps))
	}
	tamper(t, d, `DELETE FROM audit_events WHERE seq > 4`)
	files, _ := filepath.Glob(filepath.Join(dir, "checkpoint-*.json"))
	for _, f := range files {
		os.Remove(f)
	}
	fresh, _ := audit.NewCheckpointer(d.Read, key, audit.CheckpointOptions{Dir: dir})
	if err := fresh.Check(ctx); err != nil {
		t.Fatalf("Check without files or anchor = %v; nothing left to contradict", err)
	}
	anchored, _ := audit.NewCheckpointer(d.Read, key, audit.CheckpointOptions{Dir: dir, Anchor: anchor})
	if n, err := anchored.LoadAnchors(ctx); err != nil || n != 1 {
		t.Fatalf("LoadAnchors = %d, %v", n, err)
	}
	if err := anchored.Check(ctx); !errors.Is(err, audit.ErrChainBroken) {
		t.Fatalf("Check with the anchor = %v; want ErrChainBroken", err)
	}
	if _, _, err := anchored.Verify(ctx); !errors.Is(err, audit.ErrTruncated) {
		t.Fatalf("Verify with the anchor = %v; want ErrTruncated", err)
	}
}
