package db

import (
	"context"
	"database/sql"
	"hash/crc32"
	"sync"
)

// Leader decides which instance runs a background job that must run on one
// instance at a time, such as signing audit checkpoints or pruning: on
// PostgreSQL, the instance whose session holds the job's advisory lock. The
// lock is a session's, so it goes when the instance's connection does
// (the instance stopped, crashed or lost the network), and another instance
// takes the lead at its next Lead. On SQLite there is one instance per
// file, and it always leads.
type Leader struct {
	pool *sql.DB // nil on SQLite
	key  int64

	mu   sync.Mutex
	conn *sql.Conn // holds the lock while not nil
}

// Leader returns the leadership of job (a short fixed name, such as
// "audit-checkpoints") for d.
func (d *DB) Leader(job string) *Leader {
	if d.engine != PostgreSQL {
		return &Leader{}
	}
	return &Leader{pool: d.Read, key: leaderLockBase + int64(crc32.ChecksumIEEE([]byte(job)))}
}

// Lead reports whether this instance leads the job now, taking the lead if
// nobody holds it. An error (the database unreachable) means not leading:
// the lock may have gone with the connection.
func (l *Leader) Lead(ctx context.Context) (bool, error) {
	if l.pool == nil {
		return true, nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.conn != nil {
		// Still the same session, so still the lock's holder.
		if err := l.conn.PingContext(ctx); err == nil {
			var held bool
			err = l.conn.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory'
                AND pid = pg_backend_pid() AND granted AND ((classid::bigint << 32) | objid::bigint) = ?)`, l.key).Scan(&held)
			if err == nil && held {
				return true, nil
			}
		}
		l.conn.Close()
		l.conn = nil
	}
	conn, err := l.pool.Conn(ctx)
	if err != nil {
		return false, err
	}
	var got bool
	if err := conn.QueryRowContext(ctx, `SELECT pg_try_advisory_lock(?)`, l.key).Scan(&got); err != nil || !got {
		conn.Close()
		return false, err
	}
	l.conn = conn
	return true, nil
}

// Release gives the lead up (at shutdown), so that another instance need
// not wait for this one's connection to time out.
func (l *Leader) Release() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.conn == nil {
		return
	}
	l.conn.ExecContext(context.Background(), `SELECT pg_advisory_unlock(?)`, l.key)
	l.conn.Close()
	l.conn = nil
}
