package links_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"testing"
	"time"

	"github.com/sharesvc/sharesvc/internal/links"
)

// A pending code is stored as a MAC under the server's key, not as a plain
// hash anyone with the database could match against the 10^8 codes; only
// the right code under the same key verifies.
func TestCodeKeyedHash(t *testing.T) {
	ctx := context.Background()
	q := claimDB(t)
	now := time.Unix(1_800_000_000, 0)
	key := bytes.Repeat([]byte{7}, 32)
	other := bytes.Repeat([]byte{8}, 32)
	p := links.DefaultCodePolicy
	p.MaxAttempts = 100 // wrong tries here must not lock

	set := func(id, code string) []byte {
		t.Helper()
		if err := links.SetCode(ctx, q, key, id, code, p, now); err != nil {
			t.Fatalf("SetCode(%s) = %v", id, err)
		}
		var stored []byte
		if err := q.QueryRowContext(ctx, `SELECT code_hash FROM recipient_codes WHERE link_id = ?`, id).Scan(&stored); err != nil {
			t.Fatal(err)
		}
		return stored
	}
	stored := set("lnk_a", "12345678")
	plain := sha256.Sum256([]byte("lnk_a\x0012345678"))
	if bytes.Equal(stored, plain[:]) || bytes.Contains(stored, []byte("12345678")) {
		t.Fatal("the stored code hash is the plain SHA-256 (or holds the code): a copy of the database gives the code away")
	}
	if len(stored) != sha256.Size {
		t.Fatalf("stored hash is %d bytes; want %d", len(stored), sha256.Size)
	}

	check := func(k []byte, id, code string) error {
		return links.CheckCode(ctx, q, k, id, code, p, now.Add(time.Minute))
	}
	if err := check(key, "lnk_a", "87654321"); !errors.Is(err, links.ErrCodeWrong) {
		t.Errorf("CheckCode(wrong code) = %v; want ErrCodeWrong", err)
	}
	if err := check(other, "lnk_a", "12345678"); !errors.Is(err, links.ErrCodeWrong) {
		t.Errorf("CheckCode(right code, another key) = %v; want ErrCodeWrong", err)
	}
	if err := check(key, "lnk_a", "12345678"); err != nil {
		t.Errorf("CheckCode(right code, right key) = %v; want nil", err)
	}
	if err := check(key, "lnk_a", "12345678"); !errors.Is(err, links.ErrCodeWrong) {
		t.Errorf("CheckCode(the code again) = %v; want ErrCodeWrong: it verifies once", err)
	}

	// A row written before codes were keyed (plain SHA-256) no longer
	// verifies: its recipient asks for a new code.
	set("lnk_old", "11112222")
	old := sha256.Sum256([]byte("lnk_old\x0011112222"))
	if _, err := q.ExecContext(ctx, `UPDATE recipient_codes SET code_hash = ? WHERE link_id = ?`, old[:], "lnk_old"); err != nil {
		t.Fatal(err)
	}
	if err := check(key, "lnk_old", "11112222"); !errors.Is(err, links.ErrCodeWrong) {
		t.Errorf("CheckCode(code stored as plain SHA-256) = %v; want ErrCodeWrong", err)
	}

	// The same code for two links hashes differently (the link id is in it).
	if a, b := set("lnk_x", "55555555"), set("lnk_y", "55555555"); bytes.Equal(a, b) {
		t.Error("one code on two links stores one hash; want the link id bound in")
	}

	// No key (a server without mail) is refused, never a MAC under "".
	for _, k := range [][]byte{nil, []byte("short")} {
		if err := links.SetCode(ctx, q, k, "lnk_b", "12345678", p, now); err == nil {
			t.Errorf("SetCode with a %d-byte key = nil; want an error", len(k))
		}
		if err := links.CheckCode(ctx, q, k, "lnk_a", "12345678", p, now); err == nil || errors.Is(err, links.ErrCodeWrong) {
			t.Errorf("CheckCode with a %d-byte key = %v; want an error of its own", len(k), err)
		}
	}
	var n int
	if err := q.QueryRowContext(ctx, `SELECT COUNT(*) FROM recipient_codes WHERE link_id = 'lnk_b'`).Scan(&n); err != nil || n != 0 {
		t.Errorf("a refused SetCode stored %d rows (%v); want none", n, err)
	}
}
