package janitor_test

import (
	"context"
	"database/sql"
	"fmt"
	"testing"
	"time"

	"github.com/sharesvc/sharesvc/internal/links"
	"github.com/sharesvc/sharesvc/internal/testrig/testdb"
)

// arrivalsTable fills a new database with n arrived arrivals (none due)
// and returns its pool.
func arrivalsTable(b *testing.B, n int) *sql.DB {
	d := openB(b, testdb.DSN(b))
	insertArrivals(b, d.Read, 0, n, links.ArrivalArrived, 0)
	return d.Read
}

func insertArrivals(b *testing.B, q *sql.DB, from, n int, state string, age time.Duration) {
	tx, err := q.Begin()
	if err != nil {
		b.Fatal(err)
	}
	for i := from; i < from+n; i++ {
		if _, err := tx.Exec(`INSERT INTO arrivals (id, link_id, object_key, bytes, state, created_at) VALUES (?, ?, 'k', 1, ?, ?)`,
			fmt.Sprintf("arr_%08d", i), fmt.Sprintf("lnk_%d", i%500), state, ms(-age-time.Duration(i)*time.Millisecond)); err != nil {
			b.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		b.Fatal(err)
	}
}

// The arrivals cleanup on a table of 200,000 arrivals: arrivals has no
// index on its state, so finding the due rows reads the whole table; that
// read happens outside any write.
//
//	go test ./internal/janitor/ -run '^$' -bench PrunePendingArrivals -benchtime 20x
func BenchmarkPrunePendingArrivals(b *testing.B) {
	ctx := context.Background()
	b.Run("none_due", func(b *testing.B) {
		q := arrivalsTable(b, 200_000)
		for b.Loop() {
			if n, err := links.PrunePendingArrivals(ctx, q, now, 1000); err != nil || n != 0 {
				b.Fatal(n, err)
			}
		}
	})
	b.Run("1000_due", func(b *testing.B) {
		q := arrivalsTable(b, 200_000)
		next := 1_000_000
		for b.Loop() {
			b.StopTimer()
			insertArrivals(b, q, next, 1000, links.ArrivalPending, 8*24*time.Hour)
			next += 1000
			b.StartTimer()
			if n, err := links.PrunePendingArrivals(ctx, q, now, 1000); err != nil || n != 1000 {
				b.Fatal(n, err)
			}
		}
	})
}
