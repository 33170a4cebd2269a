package links_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/sharesvc/sharesvc/internal/links"
)

// Amend changes nothing on a revoked link, nor when the new cap is below
// the uses spent; otherwise it sets expiry, cap and note together.
func TestAmend(t *testing.T) {
	now := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	q := claimDB(t)
	claimFixture(t, q, now)
	ctx := context.Background()
	claims := []links.UseClaim{{ID: "lnk_1", At: now}, {ID: "lnk_1", At: now}}
	if err := links.ClaimUses(ctx, q, claims); err != nil {
		t.Fatal(err)
	}
	later := now.Add(48 * time.Hour)
	if _, err := links.Amend(ctx, q, "lnk_1", later, 1, "x"); !errors.Is(err, links.ErrInvalid) {
		t.Fatalf("Amend(cap 1 below 2 uses) = %v; want ErrInvalid", err)
	}
	if _, err := links.Amend(ctx, q, "lnk_3", later, 0, "x"); !errors.Is(err, links.ErrRevoked) {
		t.Fatalf("Amend(revoked) = %v; want ErrRevoked", err)
	}
	if _, err := links.Amend(ctx, q, "lnk_none", later, 0, "x"); !errors.Is(err, links.ErrNotFound) {
		t.Fatalf("Amend(unknown) = %v; want ErrNotFound", err)
	}
	if l, _ := links.Get(ctx, q, "lnk_1"); l.MaxUses != 3 || l.Note != "" || !l.ExpiresAt.Equal(now.Add(time.Hour)) {
		t.Fatalf("refused amendments changed lnk_1: %+v", l)
	}
	l, err := links.Amend(ctx, q, "lnk_1", later, 2, "two")
	if err != nil || l.MaxUses != 2 || l.Note != "two" || !l.ExpiresAt.Equal(later) || l.StateAt(now) != links.StateUsedUp {
		t.Fatalf("Amend(cap 2) = %+v, %v; want cap 2 (used up), note two, expiry %s", l, err, later)
	}
	if l, err = links.Amend(ctx, q, "lnk_1", later, 0, ""); err != nil || l.MaxUses != 0 || l.StateAt(now) != links.StateLive {
		t.Fatalf("Amend(no cap) = %+v, %v; want a live link without a cap", l, err)
	}
}

// A link cached while expired is read again, so that an edit that extends
// it takes effect at once.
func TestByCodeForMintRereadsWhatIsNotLive(t *testing.T) {
	now := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	q := claimDB(t)
	claimFixture(t, q, now)
	ctx := context.Background()
	code, hash := links.NewCode()
	l := &links.Link{ID: "lnk_cached", Kind: links.KindDownload, Bucket: "b", Key: "k", CreatedAt: now.Add(-time.Hour),
		CreatedBy: "alice", ExpiresAt: now.Add(-time.Minute), PresignTTL: time.Minute}
	if err := links.Insert(ctx, q, l, hash); err != nil {
		t.Fatal(err)
	}
	s := links.NewStore(q)
	if got, err := s.ByCodeForMint(ctx, code, now); err != nil || got.StateAt(now) != links.StateExpired {
		t.Fatalf("ByCodeForMint = %+v, %v; want the expired link", got, err)
	}
	if _, err := links.Amend(ctx, q, l.ID, now.Add(time.Hour), 0, ""); err != nil {
		t.Fatal(err)
	}
	if got, err := s.ByCodeForMint(ctx, code, now); err != nil || got.StateAt(now) != links.StateLive {
		t.Fatalf("ByCodeForMint after the edit = %+v, %v; want the link live", got, err)
	}
}

// The object's size is stored as given, zero included, and a link without
// one reads back without one, through Get and ByCode alike.
func TestObjectBytesRoundTrip(t *testing.T) {
	now := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	q := claimDB(t)
	ctx := context.Background()
	size := func(n int64) *int64 { return &n }
	s := links.NewStore(q)
	for _, tc := range []struct {
		id   string
		size *int64
	}{{"lnk_big", size(5 << 40)}, {"lnk_empty", size(0)}, {"lnk_unknown", nil}} {
		code, hash := links.NewCode()
		l := &links.Link{ID: tc.id, Kind: links.KindDownload, Bucket: "b", Key: "k", CreatedAt: now,
			CreatedBy: "alice", ExpiresAt: now.Add(time.Hour), PresignTTL: time.Minute, ObjectBytes: tc.size}
		if err := links.Insert(ctx, q, l, hash); err != nil {
			t.Fatal(err)
		}
		got, err := links.Get(ctx, q, tc.id)
		if err != nil {
			t.Fatal(err)
		}
		byCode, err := s.ByCode(ctx, code)
		if err != nil {
			t.Fatal(err)
		}
		for _, g := range []*links.Link{got, byCode} {
			switch {
			case tc.size == nil && g.ObjectBytes != nil:
				t.Errorf("%s: ObjectBytes = %d; want nil", tc.id, *g.ObjectBytes)
			case tc.size != nil && (g.ObjectBytes == nil || *g.ObjectBytes != *tc.size):
				t.Errorf("%s: ObjectBytes = %v; want %d", tc.id, g.ObjectBytes, *tc.size)
			}
		}
	}
}

// A link cached while revoked is answered from the cache: no edit can
// make it live again, so opening it again and again costs no read.
func TestByCodeForMintKeepsRevokedCached(t *testing.T) {
	now := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	q := claimDB(t)
	ctx := context.Background()
	code, hash := links.NewCode()
	l := &links.Link{ID: "lnk_gone", Kind: links.KindDownload, Bucket: "b", Key: "k", CreatedAt: now.Add(-time.Hour),
		CreatedBy: "alice", ExpiresAt: now.Add(time.Hour), PresignTTL: time.Minute}
	if err := links.Insert(ctx, q, l, hash); err != nil {
		t.Fatal(err)
	}
	if _, err := links.Revoke(ctx, q, l.ID, "alice", "test", now); err != nil {
		t.Fatal(err)
	}
	s := links.NewStore(q)
	if got, err := s.ByCodeForMint(ctx, code, now); err != nil || got.StateAt(now) != links.StateRevoked {
		t.Fatalf("ByCodeForMint = %+v, %v; want the revoked link", got, err)
	}
	// Gone from the table: only the cache can still answer.
	if _, err := q.ExecContext(ctx, `DELETE FROM links WHERE id = ?`, l.ID); err != nil {
		t.Fatal(err)
	}
	if got, err := s.ByCodeForMint(ctx, code, now); err != nil || got.StateAt(now) != links.StateRevoked {
		t.Fatalf("ByCodeForMint again = %+v, %v; want the revoked link from the cache", got, err)
	}
}
