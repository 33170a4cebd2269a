package links

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// UseClaim asks for one use of link ID by a request checked at At.
// ClaimUses sets State.
type UseClaim struct {
	ID    string
	At    time.Time
	State State // StateLive when granted; else why not
}

// ClaimUses spends uses for a run of requests inside the audit writer's
// transaction. It answers each claim, in order, exactly as deciding them
// one at a time would, but with one statement per link in the common case
// instead of one per request: a link whose claims are all live and which
// has no use cap gets all of them in one conditional UPDATE. Otherwise (a
// cap, or the UPDATE found the link not live) it reads the link once and
// decides claim by claim. The kill switch is read once for the whole run.
// Because the caller holds the write transaction, a revocation committed
// before the run always wins and a cap is never exceeded.
func ClaimUses(ctx context.Context, q Querier, claims []UseClaim) error {
	if len(claims) == 0 {
		return nil
	}
	on, _, err := killSwitch(ctx, q)
	if err != nil {
		return err
	}
	if on {
		for i := range claims {
			claims[i].State = StateSuspended
		}
		return nil
	}
	// Links in order of their first claim, each with its claims' span of
	// times. Runs are short (one group commit), so a slice beats a map.
	type group struct {
		id            string
		n             int
		first, latest time.Time
	}
	var groups []group
	for _, c := range claims {
		i := 0
		for i < len(groups) && groups[i].id != c.ID {
			i++
		}
		if i == len(groups) {
			groups = append(groups, group{id: c.ID, first: c.At, latest: c.At})
		}
		g := &groups[i]
		g.n++
		if c.At.Before(g.first) {
			g.first = c.At
		}
		if c.At.After(g.latest) {
			g.latest = c.At
		}
	}
	for _, g := range groups {
		res, err := q.ExecContext(ctx, `UPDATE links SET uses = uses + ?, last_access_at = ?
            WHERE id = ? AND max_uses IS NULL AND revoked_at IS NULL AND expires_at > ?
              AND (not_before IS NULL OR not_before <= ?)`,
			g.n, ms(g.latest), g.id, ms(g.latest), ms(g.first))
		if err != nil {
			return fmt.Errorf("claim uses of %s: %w", g.id, err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return fmt.Errorf("claim uses of %s: %w", g.id, err)
		}
		if n == 1 {
			for i := range claims {
				if claims[i].ID == g.id {
					claims[i].State = StateLive
				}
			}
			continue
		}
		if err := claimOneByOne(ctx, q, g.id, claims); err != nil {
			return err
		}
	}
	return nil
}

// claimOneByOne decides the claims on link id in order against the link's
// row, then writes the uses granted.
func claimOneByOne(ctx context.Context, q Querier, id string, claims []UseClaim) error {
	l, err := get(ctx, q, id)
	if errors.Is(err, ErrNotFound) {
		// Links are never deleted, so this is a claim on a made-up id.
		return fmt.Errorf("claim uses of %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return err
	}
	granted := 0
	var last time.Time
	for i := range claims {
		if claims[i].ID != id {
			continue
		}
		st := l.StateAt(claims[i].At)
		claims[i].State = st
		if st == StateLive {
			l.Uses++
			granted++
			if claims[i].At.After(last) {
				last = claims[i].At
			}
		}
	}
	if granted == 0 {
		return nil
	}
	_, err = q.ExecContext(ctx, `UPDATE links SET uses = uses + ?, last_access_at = ? WHERE id = ?`, granted, ms(last), id)
	if err != nil {
		return fmt.Errorf("claim uses of %s: %w", id, err)
	}
	return nil
}
