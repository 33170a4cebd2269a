package audit

import (
	"context"
	"database/sql"
	"sync"
)

// Querier is what ApplyFuncs hand to the stores: ExecContext and
// QueryRowContext, as *sql.Tx has them.
type Querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// maxCachedStmts bounds the statement cache; statements with dynamic SQL
// (filters) beyond it simply run unprepared.
const maxCachedStmts = 64

// stmtCache holds statements prepared on the writer's connection. SQLite
// spends more time parsing a statement than running it, and the hot path
// runs the same few statements in every batch.
type stmtCache struct {
	mu      sync.RWMutex
	stmts   map[string]*sql.Stmt
	pending map[string]bool // seen, to be prepared before the next batch
}

func (c *stmtCache) get(query string) *sql.Stmt {
	c.mu.RLock()
	st := c.stmts[query]
	c.mu.RUnlock()
	if st != nil {
		return st
	}
	c.mu.Lock()
	if len(c.stmts)+len(c.pending) < maxCachedStmts {
		if c.pending == nil {
			c.pending = map[string]bool{}
		}
		c.pending[query] = true
	}
	c.mu.Unlock()
	return nil
}

// prepareAll prepares the pending statements on db; it runs on the writer
// goroutine while no transaction holds the writer's connection. A statement
// that fails to prepare is dropped and keeps running unprepared.
func (c *stmtCache) prepareAll(db *sql.DB) {
	c.mu.RLock()
	n := len(c.pending)
	c.mu.RUnlock()
	if n == 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stmts == nil {
		c.stmts = map[string]*sql.Stmt{}
	}
	for q := range c.pending {
		if st, err := db.Prepare(q); err == nil {
			c.stmts[q] = st
		}
		delete(c.pending, q)
	}
}

func (c *stmtCache) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, st := range c.stmts {
		st.Close()
	}
	c.stmts = nil
}

// Querier returns a Querier for tx, the transaction an ApplyFunc was given,
// that runs repeated statements prepared once on the writer's connection.
func (l *Log) Querier(tx *sql.Tx) Querier { return cachedTx{tx: tx, c: &l.stmts} }

type cachedTx struct {
	tx *sql.Tx
	c  *stmtCache
}

func (q cachedTx) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if st := q.c.get(query); st != nil {
		return q.tx.StmtContext(ctx, st).ExecContext(ctx, args...)
	}
	return q.tx.ExecContext(ctx, query, args...)
}

func (q cachedTx) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	if st := q.c.get(query); st != nil {
		return q.tx.StmtContext(ctx, st).QueryRowContext(ctx, args...)
	}
	return q.tx.QueryRowContext(ctx, query, args...)
}
