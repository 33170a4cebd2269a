package audit_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sharesvc/sharesvc/internal/audit"
	"github.com/sharesvc/sharesvc/internal/db"
	"github.com/sharesvc/sharesvc/internal/testrig/testdb"
)

// TestAppendClaim: granted claims are written as given; refused ones as
// denials with the refusal as reason, the denied detail and no URL; a
// failing claimer writes nothing and fails only its own request; and
// concurrent claims share runs.
func TestAppendClaim(t *testing.T) {
	d, err := db.Open(context.Background(), testdb.DSN(t))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	var (
		mu   sync.Mutex
		runs []int
	)
	claim := func(ctx context.Context, q audit.Querier, claims []audit.Claim) error {
		mu.Lock()
		runs = append(runs, len(claims))
		mu.Unlock()
		for i, c := range claims {
			switch {
			case c.Key == "lnk_broken":
				return errors.New("broken claim")
			case strings.HasSuffix(c.Key, "_revoked"):
				claims[i].Refused = "revoked"
			}
		}
		return nil
	}
	l, err := audit.Open(context.Background(), d.Write, audit.Options{Claim: claim})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	exp := time.Now().Add(time.Minute)
	// then records, in the database, which granted mints it ran for.
	if _, err := d.Write.Exec(`CREATE TABLE then_ran (link_id TEXT NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	then := func(ctx context.Context, tx *sql.Tx, ev *audit.Event) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO then_ran VALUES (?)`, ev.LinkID)
		return err
	}
	mint := func(link string) (audit.Event, error) {
		return l.AppendClaim(context.Background(), audit.Event{Action: audit.ActionAccess, Actor: audit.ActorClient,
			LinkID: link, Outcome: audit.OutcomeMinted, Detail: `{"want":"url"}`, URLExpiresAt: exp, STSSession: "s1"},
			audit.Claim{Key: link, At: time.Now()}, `{"denied":true}`, then)
	}
	var wg sync.WaitGroup
	errs := make([]error, 60)
	evs := make([]audit.Event, 60)
	for i := range 60 {
		link := fmt.Sprintf("lnk_%d", i)
		switch {
		case i%3 == 1:
			link += "_revoked"
		case i == 30:
			link = "lnk_broken"
		}
		wg.Go(func() { evs[i], errs[i] = mint(link) })
	}
	wg.Wait()
	for i := range 60 {
		ev, err := evs[i], errs[i]
		switch {
		case i == 30:
			if err == nil {
				t.Errorf("the claim that failed returned %+v, nil", ev)
			}
		case err != nil:
			t.Errorf("claim %d: %v", i, err)
		case i%3 == 1:
			if ev.Outcome != audit.OutcomeDenied || ev.Reason != "revoked" || ev.Detail != `{"denied":true}` ||
				!ev.URLExpiresAt.IsZero() || ev.STSSession != "" {
				t.Errorf("refused claim %d written as %+v", i, ev)
			}
		default:
			if ev.Outcome != audit.OutcomeMinted || ev.Reason != "" || ev.Detail != `{"want":"url"}` ||
				!ev.URLExpiresAt.Equal(exp.Truncate(time.Millisecond)) && !ev.URLExpiresAt.Equal(exp) || ev.STSSession != "s1" {
				t.Errorf("granted claim %d written as %+v", i, ev)
			}
		}
	}
	var n int
	var broken int
	if err := d.Read.QueryRow(`SELECT COUNT(*), COUNT(*) FILTER (WHERE link_id = 'lnk_broken') FROM audit_events`).Scan(&n, &broken); err != nil {
		t.Fatal(err)
	}
	if n != 59 || broken != 0 {
		t.Errorf("%d rows (%d of the failed claim); want 59 and 0", n, broken)
	}
	if r, err := audit.Verify(context.Background(), d.Read); err != nil || r.Rows != 59 {
		t.Errorf("Verify = %+v, %v", r, err)
	}
	// then ran once for each granted mint, and for nothing else.
	var ran, wrong int
	if err := d.Read.QueryRow(`SELECT COUNT(*), COUNT(*) FILTER (WHERE link_id LIKE '%_revoked' OR link_id = 'lnk_broken')
        FROM then_ran`).Scan(&ran, &wrong); err != nil {
		t.Fatal(err)
	}
	if ran != 39 || wrong != 0 {
		t.Errorf("then ran %d times (%d for refused or failed claims); want 39 and 0", ran, wrong)
	}
	mu.Lock()
	defer mu.Unlock()
	biggest := 0
	for _, r := range runs {
		biggest = max(biggest, r)
	}
	if biggest < 2 {
		t.Errorf("60 concurrent claims never shared a run (run sizes %v)", runs)
	}
}

// TestAppendClaimNeedsAClaimer: a log opened without Options.Claim refuses
// AppendClaim rather than minting unchecked.
func TestAppendClaimNeedsAClaimer(t *testing.T) {
	d, l := openLog(t)
	_, err := l.AppendClaim(context.Background(), audit.Event{Action: audit.ActionAccess, Actor: audit.ActorClient,
		Outcome: audit.OutcomeMinted}, audit.Claim{Key: "lnk_x", At: time.Now()}, "", nil)
	if err == nil {
		t.Fatal("AppendClaim without a claimer succeeded")
	}
	var n int
	if err := d.Read.QueryRow(`SELECT COUNT(*) FROM audit_events`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("%d rows, %v; want none", n, err)
	}
}
