package links_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/sharesvc/sharesvc/internal/db"
	"github.com/sharesvc/sharesvc/internal/links"
)

// benchStore seeds a database with SHARESVC_BENCH_LINKS links (default
// 10,000; the performance report uses 1,000,000) and returns a store and
// some of their codes.
func benchStore(b *testing.B) (*links.Store, []string) {
	b.Helper()
	n := 10000
	if v := os.Getenv("SHARESVC_BENCH_LINKS"); v != "" {
		n, _ = strconv.Atoi(v)
	}
	ctx := context.Background()
	d, err := db.Open(ctx, filepath.Join(b.TempDir(), "l.db"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { d.Close() })
	tx, err := d.Write.Begin()
	if err != nil {
		b.Fatal(err)
	}
	now := time.Now()
	var codes []string
	for i := 0; i < n; i++ {
		var raw [links.CodeBytes]byte
		rand.Read(raw[:])
		code := base64.RawURLEncoding.EncodeToString(raw[:])
		h := links.HashCode(code)
		l := &links.Link{ID: links.NewID(), Kind: links.KindDownload, Bucket: "b", Key: "k/" + strconv.Itoa(i),
			CreatedAt: now, CreatedBy: "bench", ExpiresAt: now.Add(time.Hour), PresignTTL: time.Minute}
		if err := links.Insert(ctx, tx, l, h[:]); err != nil {
			b.Fatal(err)
		}
		if i%max(1, n/1000) == 0 {
			codes = append(codes, code)
		}
	}
	if err := tx.Commit(); err != nil {
		b.Fatal(err)
	}
	return links.NewStore(d.Read), codes
}

// BenchmarkByCode is the database lookup the share route makes for every
// HEAD, confirmation page and first open of a link.
func BenchmarkByCode(b *testing.B) {
	s, codes := benchStore(b)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := s.ByCode(ctx, codes[i%len(codes)]); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkByCodeForMint is the lookup of the minting GET, served from the
// link cache once a link is hot.
func BenchmarkByCodeForMint(b *testing.B) {
	s, codes := benchStore(b)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := s.ByCodeForMint(ctx, codes[i%len(codes)], time.Now()); err != nil {
			b.Fatal(err)
		}
	}
}
