package server_test

import (
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sharesvc/sharesvc/internal/audit"
)

// BenchmarkRedirect measures GET /s/{code} end to end over loopback HTTP
// (lookup, presign, use counted and audit row committed with
// synchronous=FULL, 302) with 32 concurrent clients, once with group commit
// and once with one transaction and flush per request (MaxBatch 1).
//
//	go test ./internal/server/ -run '^$' -bench Redirect -benchtime 3000x
func BenchmarkRedirect(b *testing.B) {
	for _, tc := range []struct {
		name     string
		maxBatch int
	}{{"group-commit", 0}, {"flush-per-request", 1}} {
		b.Run(tc.name, func(b *testing.B) {
			var rows, commits atomic.Int64
			e := newEnv(b, envOptions{audit: func(o *audit.Options) {
				o.MaxBatch = tc.maxBatch
				next := o.OnCommit
				o.OnCommit = func(n int, d time.Duration, err error) {
					if err == nil {
						rows.Add(int64(n))
						commits.Add(1)
					}
					next(n, d, err)
				}
			}})
			e.put("bench.txt", "b")
			path := sharePath(b, e.createLink(e.admin, `{"key":"bench.txt"}`).URL)
			client := &http.Client{
				CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
				Transport:     &http.Transport{MaxIdleConnsPerHost: 64},
			}
			rows.Store(0)
			commits.Store(0)
			b.SetParallelism(16) // × GOMAXPROCS clients
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					r, err := client.Get(e.http.URL + path)
					if err != nil {
						b.Error(err)
						return
					}
					r.Body.Close()
					if r.StatusCode != http.StatusFound {
						b.Errorf("GET = %d; want 302", r.StatusCode)
						return
					}
				}
			})
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "redirects/s")
			if c := commits.Load(); c > 0 {
				b.ReportMetric(float64(rows.Load())/float64(c), "rows/commit")
			}
		})
	}
}
