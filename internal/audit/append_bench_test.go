package audit_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/sharesvc/sharesvc/internal/audit"
	"github.com/sharesvc/sharesvc/internal/db"
)

// benchAppend appends b.N rows from 64 concurrent writers (as 64 HTTP
// connections would), each durable (synchronous=FULL) before it returns.
func benchAppend(b *testing.B, maxBatch int) {
	d, err := db.Open(context.Background(), filepath.Join(b.TempDir(), "a.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer d.Close()
	l, err := audit.Open(context.Background(), d.Write, audit.Options{MaxBatch: maxBatch})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	ev := audit.Event{Action: audit.ActionAccess, Actor: audit.ActorClient, LinkID: "lnk_bench", Outcome: audit.OutcomeMinted,
		ClientIP: "192.0.2.1", UserAgent: "bench", RequestID: "0123456789abcdef01234567",
		URLExpiresAt: time.Now().Add(time.Minute), STSSession: "sharesvc-bench"}
	b.SetParallelism(32) // × GOMAXPROCS(2) = 64 writers
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := l.Append(context.Background(), ev, nil); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkAppendGroupCommit: many rows share one flush.
func BenchmarkAppendGroupCommit(b *testing.B) { benchAppend(b, 0) }

// BenchmarkAppendOneFlushPerRow: the naive design, for comparison.
func BenchmarkAppendOneFlushPerRow(b *testing.B) { benchAppend(b, 1) }
