package audit_test

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/sharesvc/sharesvc/internal/audit"
	"github.com/sharesvc/sharesvc/internal/db"
)

// processCPU returns the CPU time (user + system) this process has used.
func processCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// benchAppend appends b.N rows from 64 concurrent writers (as 64 HTTP
// connections would), each durable (synchronous=FULL) before it returns.
// Rows look like a redirect's: distinct, time-ordered request ids (as
// the server makes them). Besides ns/op it reports the CPU per row (the
// figure that matters when the writer shares a core with HTTP) and the
// rows per commit.
func benchAppend(b *testing.B, maxBatch int) {
	d, err := db.Open(context.Background(), filepath.Join(b.TempDir(), "a.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer d.Close()
	var commits, rows atomic.Int64
	l, err := audit.Open(context.Background(), d.Write, audit.Options{MaxBatch: maxBatch,
		OnCommit: func(n int, _ time.Duration, _ error) { commits.Add(1); rows.Add(int64(n)) }})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	exp := time.Now().Add(time.Minute)
	b.SetParallelism(32) // × GOMAXPROCS(2) = 64 writers
	b.ReportAllocs()
	b.ResetTimer()
	cpu := processCPU()
	b.RunParallel(func(pb *testing.PB) {
		var id [12]byte
		for pb.Next() {
			binary.BigEndian.PutUint64(id[:8], uint64(time.Now().UnixMicro()))
			rand.Read(id[8:])
			ev := audit.Event{Action: audit.ActionAccess, Actor: audit.ActorClient, LinkID: "lnk_bench",
				Outcome: audit.OutcomeMinted, ClientIP: "192.0.2.1", UserAgent: "Wget/1.21",
				RequestID: hex.EncodeToString(id[:]), URLExpiresAt: exp, STSSession: "sharesvc-bench"}
			if _, err := l.Append(context.Background(), ev, nil); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(processCPU()-cpu)/float64(b.N)/1e3, "cpu-µs/op")
	b.ReportMetric(float64(rows.Load())/float64(max(commits.Load(), 1)), "rows/commit")
}

// BenchmarkAppendGroupCommit: many rows share one flush.
func BenchmarkAppendGroupCommit(b *testing.B) { benchAppend(b, 0) }

// BenchmarkAppendOneFlushPerRow: the naive design, for comparison.
func BenchmarkAppendOneFlushPerRow(b *testing.B) { benchAppend(b, 1) }
