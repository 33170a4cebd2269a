package db

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
)

// Prune deletes at most limit rows and says how many; a limit that is not
// positive is refused before anything runs.
func TestPrune(t *testing.T) {
	ctx := context.Background()
	d, err := Open(ctx, filepath.Join(t.TempDir(), "s.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if _, err := d.Read.Exec(`CREATE TABLE t (id INTEGER PRIMARY KEY)`); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 5; i++ {
		if _, err := d.Read.Exec(`INSERT INTO t (id) VALUES (?)`, i); err != nil {
			t.Fatal(err)
		}
	}
	const q = `DELETE FROM t WHERE id IN (SELECT id FROM t WHERE id >= ? LIMIT ?)`
	for _, limit := range []int{0, -1} {
		if n, err := Prune(ctx, d.Read, "things", limit, q, 0); err == nil || n != 0 || !strings.Contains(err.Error(), "prune things: limit") {
			t.Errorf("Prune(limit %d) = %d, %v; want a limit error", limit, n, err)
		}
	}
	for _, want := range []int64{2, 2, 1, 0} {
		if n, err := Prune(ctx, d.Read, "things", 2, q, 0); err != nil || n != want {
			t.Fatalf("Prune(limit 2) = %d, %v; want %d", n, err, want)
		}
	}
}
