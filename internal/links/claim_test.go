package links_test

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"os"
	"testing"
	"time"

	"github.com/sharesvc/sharesvc/internal/db"
	"github.com/sharesvc/sharesvc/internal/links"
	"github.com/sharesvc/sharesvc/internal/testrig/testdb"
)

// Each test's database is on the run's engine (SHARESVC_TEST_DB).
func TestMain(m *testing.M) { os.Exit(testdb.Main(m)) }

// claimDB opens a new database for claimFixture.
func claimDB(t *testing.T) *sql.DB {
	t.Helper()
	d, err := db.Open(context.Background(), testdb.DSN(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d.Write
}

// claimFixture fills d, emptied first, with links of every kind of life:
// plain, with a cap of 3, revoked, expiring during the run, and not yet
// valid when the run starts. Refilling one database beats opening a new one
// per run: a new PostgreSQL database takes seconds.
func claimFixture(t *testing.T, d *sql.DB, now time.Time) []string {
	t.Helper()
	ctx := context.Background()
	if _, err := d.ExecContext(ctx, `DELETE FROM links`); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for i, edit := range []func(*links.Link){
		func(l *links.Link) {},
		func(l *links.Link) { l.MaxUses = 3 },
		func(l *links.Link) { l.MaxUses = 1 },
		func(l *links.Link) {},                                              // revoked below
		func(l *links.Link) { l.ExpiresAt = now.Add(5 * time.Millisecond) }, // expires mid-run
		func(l *links.Link) { l.NotBefore = now.Add(5 * time.Millisecond) }, // becomes valid mid-run
		func(l *links.Link) { l.MaxUses = 4; l.ExpiresAt = now.Add(7 * time.Millisecond) },
	} {
		l := &links.Link{ID: fmt.Sprintf("lnk_%d", i), Kind: links.KindDownload, Bucket: "b", Key: "k",
			CreatedAt: now.Add(-time.Hour), CreatedBy: "alice", ExpiresAt: now.Add(time.Hour), PresignTTL: time.Minute}
		edit(l)
		_, hash := links.NewCode()
		if err := links.Insert(ctx, d, l, hash); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, l.ID)
	}
	if _, err := links.Revoke(ctx, d, "lnk_3", "alice", "test", now.Add(-time.Minute)); err != nil {
		t.Fatal(err)
	}
	return ids
}

// claimUse is the reference ClaimUses is held to: one claim, decided by
// one conditional UPDATE (the statement every mint ran before claims were
// decided a run at a time), the link's state read only to say why not.
func claimUse(ctx context.Context, q *sql.DB, id string, now time.Time) (links.State, error) {
	t := now.UnixMilli()
	res, err := q.ExecContext(ctx, `UPDATE links SET uses = uses + 1, last_access_at = ?
        WHERE id = ? AND revoked_at IS NULL AND expires_at > ?
          AND (not_before IS NULL OR not_before <= ?)
          AND (max_uses IS NULL OR uses < max_uses)
          AND NOT EXISTS (SELECT 1 FROM settings WHERE name = 'killswitch')`, t, id, t, t)
	if err != nil {
		return "", err
	}
	if n, err := res.RowsAffected(); err != nil || n == 1 {
		return links.StateLive, err
	}
	s := links.NewStore(q)
	l, err := s.Get(ctx, id)
	if err != nil {
		return "", err
	}
	if st := l.StateAt(now); st != links.StateLive {
		return st, nil
	}
	if k, err := s.GetKillSwitch(ctx); err != nil || k.On {
		return links.StateSuspended, err
	}
	return "", fmt.Errorf("claim use of %s: link is live but was not updated", id)
}

// TestClaimUsesAnswersAsClaimUseOneByOne runs random runs of claims through
// ClaimUses on one database and through claimUse, one claim at a time, on
// another: every answer, use count and last access must agree.
func TestClaimUsesAnswersAsClaimUseOneByOne(t *testing.T) {
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	ctx := context.Background()
	batched, single := claimDB(t), claimDB(t)
	for run := range 20 {
		ids := claimFixture(t, batched, now)
		claimFixture(t, single, now)
		r := rand.New(rand.NewPCG(uint64(run), 1))
		var claims []links.UseClaim
		for i := range 40 {
			// Times move forward through the run, with some ties, and
			// cross the mid-run expiry and not-before.
			at := now.Add(time.Duration(i/3) * time.Millisecond)
			claims = append(claims, links.UseClaim{ID: ids[r.IntN(len(ids))], At: at})
		}
		// Split into runs as the audit writer would see them.
		for start := 0; start < len(claims); {
			end := min(len(claims), start+1+r.IntN(12))
			tx, err := batched.Begin()
			if err != nil {
				t.Fatal(err)
			}
			if err := links.ClaimUses(ctx, tx, claims[start:end]); err != nil {
				t.Fatal(err)
			}
			if err := tx.Commit(); err != nil {
				t.Fatal(err)
			}
			start = end
		}
		for i, c := range claims {
			want, err := claimUse(ctx, single, c.ID, c.At)
			if err != nil {
				t.Fatal(err)
			}
			if c.State != want {
				t.Fatalf("run %d claim %d on %s at +%s: ClaimUses said %q, claimUse %q",
					run, i, c.ID, c.At.Sub(now), c.State, want)
			}
		}
		for _, id := range ids {
			a, b := state(t, batched, id), state(t, single, id)
			if a != b {
				t.Fatalf("run %d, %s: after ClaimUses %s; after claimUse %s", run, id, a, b)
			}
		}
	}
}

func state(t *testing.T, q *sql.DB, id string) string {
	t.Helper()
	var uses int
	var last sql.NullInt64
	if err := q.QueryRow(`SELECT uses, last_access_at FROM links WHERE id = ?`, id).Scan(&uses, &last); err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("uses=%d last_access_at=%v", uses, last)
}

func TestClaimUsesHonoursTheKillSwitch(t *testing.T) {
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	ctx := context.Background()
	q := claimDB(t)
	ids := claimFixture(t, q, now)
	if _, err := links.SetKillSwitch(ctx, q, true, "incident", "admin", now); err != nil {
		t.Fatal(err)
	}
	claims := []links.UseClaim{{ID: ids[0], At: now}, {ID: ids[1], At: now}}
	if err := links.ClaimUses(ctx, q, claims); err != nil {
		t.Fatal(err)
	}
	for _, c := range claims {
		if c.State != links.StateSuspended {
			t.Errorf("%s with the kill switch on: %q, want %q", c.ID, c.State, links.StateSuspended)
		}
	}
	if s := state(t, q, ids[0]); s != "uses=0 last_access_at={0 false}" {
		t.Errorf("a suspended claim spent a use: %s", s)
	}
}

func TestClaimUsesRefusesAnUnknownLink(t *testing.T) {
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	q := claimDB(t)
	claimFixture(t, q, now)
	err := links.ClaimUses(context.Background(), q, []links.UseClaim{{ID: "lnk_nope", At: now}})
	if err == nil {
		t.Fatal("a claim on a link that does not exist succeeded")
	}
}
