package audit_test

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sharesvc/sharesvc/internal/audit"
	"github.com/sharesvc/sharesvc/internal/db"
	"github.com/sharesvc/sharesvc/internal/testrig/postgres"
)

// BenchmarkAppendPostgres appends rows as benchAppend does, from 64
// concurrent writers, into one PostgreSQL database through 1 or 3 audit
// logs, each on its own db.Open as separate instances would be: every group
// commit takes the chain head's advisory lock, so the instances' commits
// take turns. Besides ns/op (per row, all instances together) it reports
// rows per commit and the mean time of a commit from BEGIN to COMMIT,
// waiting for the lock included. If the rows per second (1e9 ÷ ns/op) stay
// flat from one instance to three, the chain head is what limits them.
func BenchmarkAppendPostgres(b *testing.B) {
	for _, n := range []int{1, 3} {
		b.Run(map[int]string{1: "instances=1", 3: "instances=3"}[n], func(b *testing.B) { benchAppendPostgres(b, n) })
	}
}

func benchAppendPostgres(b *testing.B, instances int) {
	url := postgres.Database(b)
	ctx := context.Background()
	var commits, rows, held atomic.Int64
	logs := make([]*audit.Log, instances)
	for i := range logs {
		d, err := db.Open(ctx, url)
		if err != nil {
			b.Fatal(err)
		}
		defer d.Close()
		l, err := audit.Open(ctx, d.Write, audit.Options{OnCommit: func(n int, took time.Duration, err error) {
			if err == nil {
				commits.Add(1)
				rows.Add(int64(n))
				held.Add(int64(took))
			}
		}})
		if err != nil {
			b.Fatal(err)
		}
		defer l.Close()
		logs[i] = l
	}
	exp := time.Now().Add(time.Minute)
	var next atomic.Int64
	b.SetParallelism(32) // × GOMAXPROCS(2) = 64 writers
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		l := logs[int(next.Add(1))%instances]
		var id [12]byte
		for pb.Next() {
			binary.BigEndian.PutUint64(id[:8], uint64(time.Now().UnixMicro()))
			rand.Read(id[8:])
			ev := audit.Event{Action: audit.ActionAccess, Actor: audit.ActorClient, LinkID: "lnk_bench",
				Outcome: audit.OutcomeMinted, ClientIP: "192.0.2.1", UserAgent: "Wget/1.21",
				RequestID: hex.EncodeToString(id[:]), URLExpiresAt: exp, STSSession: "sharesvc-bench"}
			if _, err := l.Append(ctx, ev, nil); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	c := max(commits.Load(), 1)
	b.ReportMetric(float64(rows.Load())/float64(c), "rows/commit")
	b.ReportMetric(float64(held.Load())/float64(c)/1e6, "commit-ms")
}
