package audit_test

import (
	"context"
	"crypto/ed25519"
	"testing"
	"time"

	"github.com/sharesvc/sharesvc/internal/audit"
	"github.com/sharesvc/sharesvc/internal/db"
)

// BenchmarkVerify compares a full verification of the seeded log
// (SHARESVC_BENCH_EXPORT_ROWS rows, default 100000) with an incremental one
// (a Verifier that has verified it once, so nothing new is hashed: what an
// API call costs on a quiet log; each new row then adds about 1/N of the
// full time), both against 100 checkpoints spread over the log.
func BenchmarkVerify(b *testing.B) {
	n := benchRows(b)
	path := seedLog(b, n)
	d, err := db.Open(context.Background(), path)
	if err != nil {
		b.Fatal(err)
	}
	defer d.Close()
	key := testKeyB(b)
	var cps []audit.Checkpoint
	for i := 1; i <= 100; i++ {
		seq := int64(i * n / 100)
		var h []byte
		if err := d.Read.QueryRow(`SELECT hash FROM audit_events WHERE seq = ?`, seq).Scan(&h); err != nil {
			b.Fatal(err)
		}
		cps = append(cps, audit.SignCheckpoint(key, seq, h, time.Now()))
	}
	o := audit.VerifyOptions{Checkpoint: &cps[len(cps)-1], Checkpoints: cps, SignaturesChecked: true}
	ctx := context.Background()
	check := func(r audit.VerifyResult, err error) {
		if err != nil || r.LastSeq != int64(n) || r.Checkpoints != 101 {
			b.Fatalf("verify = %+v, %v", r, err)
		}
	}
	b.Run("full", func(b *testing.B) {
		for b.Loop() {
			check(audit.VerifyWith(ctx, d.Read, o))
		}
		b.ReportMetric(float64(n), "rows")
	})
	b.Run("incremental", func(b *testing.B) {
		v := audit.NewVerifier(d.Read)
		check(v.Verify(ctx, o))
		for b.Loop() {
			r, err := v.Verify(ctx, o)
			check(r, err)
			if r.Rehashed != 0 {
				b.Fatalf("incremental pass hashed %d rows; want 0", r.Rehashed)
			}
		}
		b.ReportMetric(float64(n), "rows")
	})
}

func testKeyB(b *testing.B) ed25519.PrivateKey {
	priv, _, err := audit.GenerateKey()
	if err != nil {
		b.Fatal(err)
	}
	k, err := audit.ParsePrivateKey(priv)
	if err != nil {
		b.Fatal(err)
	}
	return k
}
