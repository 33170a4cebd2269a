package audit_test

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sharesvc/sharesvc/internal/audit"
	"github.com/sharesvc/sharesvc/internal/db"
	"github.com/sharesvc/sharesvc/internal/testrig/auditseed"
)

// benchRows is the size of the log BenchmarkExport exports:
// SHARESVC_BENCH_EXPORT_ROWS, default 100000 so that a plain -bench run
// stays short. The figure is for 1000000. SHARESVC_BENCH_DB, if
// set, is where the seeded database is kept (and reused).
func benchRows(b *testing.B) int {
	if v := os.Getenv("SHARESVC_BENCH_EXPORT_ROWS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			b.Fatalf("SHARESVC_BENCH_EXPORT_ROWS=%q is not a positive number", v)
		}
		return n
	}
	return 100000
}

var (
	seedOnce sync.Once
	seedPath string
	seedErr  error
)

// seedLog writes n realistic rows with a valid chain straight into a new
// database (much faster than the group-commit writer, which is not what
// is measured here).
func seedLog(b *testing.B, n int) string {
	seedOnce.Do(func() {
		if p := os.Getenv("SHARESVC_BENCH_DB"); p != "" {
			// Keep the seeded file (e.g. to time "sharesvc audit export" on it).
			seedPath = p
			if _, err := os.Stat(p); err == nil {
				return
			}
		} else {
			dir, err := os.MkdirTemp("", "sharesvc-bench-")
			if err != nil {
				seedErr = err
				return
			}
			seedPath = filepath.Join(dir, "bench.db")
		}
		d, err := db.Open(context.Background(), seedPath)
		if err != nil {
			seedErr = err
			return
		}
		defer d.Close()
		start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		if err := auditseed.Rows(context.Background(), d.Write, n, start, 5000); err != nil {
			seedErr = err
			return
		}
		if _, err := d.Read.Exec(`PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
			seedErr = err
		}
	})
	if seedErr != nil {
		b.Fatal(seedErr)
	}
	return seedPath
}

// countingWriter counts bytes and drops them.
type countingWriter struct{ n int64 }

func (w *countingWriter) Write(p []byte) (int, error) { w.n += int64(len(p)); return len(p), nil }

// procStatus returns a field of /proc/self/status in MiB (-1 if unknown).
func procStatus(field string) float64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == field+":" {
			kb, _ := strconv.ParseFloat(f[1], 64)
			return kb / 1024
		}
	}
	return -1
}

// peakRSS is the process's peak resident set (VmHWM) in MiB; it includes
// the database file pages SQLite maps (mmap_size), which are page cache,
// not memory the export holds. resetPeakRSS starts a new peak.
func peakRSS() float64 { return procStatus("VmHWM") }

func resetPeakRSS() { os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) }

// BenchmarkExport streams the whole seeded log through Export. It reports
// rows/s and the peak RSS during the exports (the seeding is excluded), so
// that memory staying flat as the row count grows shows the export streams.
//
//	SHARESVC_BENCH_EXPORT_ROWS=1000000 go test ./internal/audit/ -run '^$' -bench Export -benchtime 3x
func BenchmarkExport(b *testing.B) {
	n := benchRows(b)
	path := seedLog(b, n)
	if os.Getenv("SHARESVC_BENCH_DB") == "" {
		b.Cleanup(func() { os.RemoveAll(filepath.Dir(path)) })
	}
	for _, format := range []audit.Format{audit.FormatJSONL, audit.FormatCSV} {
		b.Run(string(format), func(b *testing.B) {
			d, err := db.Open(context.Background(), path)
			if err != nil {
				b.Fatal(err)
			}
			defer d.Close()
			resetPeakRSS()
			before := peakRSS()
			// Sample anonymous memory (heap, stacks: what the export
			// itself holds) while it runs.
			var (
				mu       sync.Mutex
				peakAnon float64
				done     = make(chan struct{})
				sampled  = make(chan struct{})
			)
			go func() {
				defer close(sampled)
				t := time.NewTicker(5 * time.Millisecond)
				defer t.Stop()
				for {
					a := procStatus("RssAnon")
					mu.Lock()
					peakAnon = max(peakAnon, a)
					mu.Unlock()
					select {
					case <-done:
						return
					case <-t.C:
					}
				}
			}()
			var rows, bytes int64
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				w := &countingWriter{}
				got, err := audit.Export(context.Background(), d.Read, audit.Filter{}, format, w)
				if err != nil || got != int64(n) {
					b.Fatalf("Export = %d, %v; want %d rows", got, err, n)
				}
				rows += got
				bytes += w.n
			}
			b.StopTimer()
			close(done)
			<-sampled
			b.ReportMetric(peakAnon, "peakAnonRSS_MiB")
			b.ReportMetric(float64(rows)/b.Elapsed().Seconds(), "rows/s")
			b.ReportMetric(float64(bytes)/float64(rows), "B/row")
			b.ReportMetric(peakRSS(), "peakRSS_MiB")
			b.ReportMetric(before, "startRSS_MiB")
		})
	}
}
