// Command durable302 is the floor of any durably audited redirect on this
// stack: bare302's fixed 302, sent only after one row per request is
// committed to SQLite (modernc.org/sqlite, WAL, synchronous=FULL) by one
// writer goroutine with group commit, exactly as sharesvc commits its audit
// rows. Nothing is looked up, checked or signed, and rows are not chained.
//
// With -table minimal the row goes to a table with no secondary index (the
// least a durable row can cost); with -table audit it goes to sharesvc's own
// audit_events table, indexes and all, shaped like a real access row. The
// load test runs it beside bare302 and sharesvc to show how much of the
// redirect path's cost is the durable row itself.
package main

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/binary"
	"encoding/hex"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"runtime"
	"time"

	"github.com/sharesvc/sharesvc/bench/internal/fixed302"
	"github.com/sharesvc/sharesvc/internal/db"
)

func main() {
	addr, n := fixed302.Flags()
	path := flag.String("db", "", "SQLite file to write (required; created if missing)")
	table := flag.String("table", "audit", "where rows go: minimal (no secondary index) or audit (audit_events, as sharesvc writes it)")
	flag.Parse()
	if *path == "" || (*table != "minimal" && *table != "audit") {
		fmt.Fprintln(os.Stderr, "durable302: -db is required and -table must be minimal or audit")
		os.Exit(2)
	}
	// As sharesvc serve does: with one P, a goroutine blocked in fsync would
	// hold the only one.
	if runtime.GOMAXPROCS(0) < 2 {
		runtime.GOMAXPROCS(2)
	}
	ctx := context.Background()
	d, err := db.Open(ctx, *path)
	if err != nil {
		log.Fatal(err)
	}
	w, err := newWriter(ctx, d.Write, *table)
	if err != nil {
		log.Fatal(err)
	}
	go w.run()
	log.Fatal(fixed302.Serve(*addr, *n, w.append))
}

type op struct {
	ip, ua, reqID string
	err           error
	done          chan struct{}
}

type writer struct {
	db    *sql.DB
	ins   *sql.Stmt
	table string
	queue chan *op
	seq   int64
	last  string // the query for the last seq written
}

func newWriter(ctx context.Context, d *sql.DB, table string) (*writer, error) {
	w := &writer{db: d, table: table, queue: make(chan *op, 4096)}
	var q string
	switch table {
	case "minimal":
		if _, err := d.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS floor_rows (seq INTEGER PRIMARY KEY, at INTEGER NOT NULL, row BLOB NOT NULL)`); err != nil {
			return nil, err
		}
		q = `INSERT INTO floor_rows (seq, at, row) VALUES (?, ?, ?)`
		w.last = `SELECT coalesce(max(seq), 0) FROM floor_rows`
	default:
		q = `INSERT INTO audit_events (seq, at, action, actor, link_id, outcome, reason,
            client_ip, user_agent, request_id, url_expires_at, sts_session, detail, prev_hash, hash)
            VALUES (?, ?, 'access', 'client', 'lnk_01JDURABLE302FLOORXXXXXXX', 'minted', '', ?, ?, ?, ?, 'sharesvc-0123456789abcdef', '', ?, ?)`
		w.last = `SELECT coalesce(max(seq), 0) FROM audit_events`
	}
	if err := d.QueryRowContext(ctx, w.last).Scan(&w.seq); err != nil {
		return nil, err
	}
	ins, err := d.PrepareContext(ctx, q)
	if err != nil {
		return nil, err
	}
	w.ins = ins
	return w, nil
}

// append queues the request's row and waits until it is committed.
func (w *writer) append(r *http.Request) error {
	host, _, _ := net.SplitHostPort(r.RemoteAddr)
	if xff := r.Header.Get("X-Forwarded-For"); xff != "" { // the load test's spread of clients
		host = xff
	}
	var b [12]byte
	binary.BigEndian.PutUint64(b[:8], uint64(time.Now().UnixMicro()))
	rand.Read(b[8:])
	o := &op{ip: host, ua: r.UserAgent(), reqID: hex.EncodeToString(b[:]), done: make(chan struct{}, 1)}
	w.queue <- o
	<-o.done
	return o.err
}

func (w *writer) run() {
	batch := make([]*op, 0, 256)
	hash := make([]byte, 32)
	row := make([]byte, 300) // about an access row's size
	for first := range w.queue {
		batch = append(batch[:0], first)
	fill:
		for len(batch) < cap(batch) {
			select {
			case o := <-w.queue:
				batch = append(batch, o)
			default:
				break fill
			}
		}
		err := func() error {
			tx, err := w.db.Begin()
			if err != nil {
				return err
			}
			defer tx.Rollback()
			ins := tx.Stmt(w.ins)
			for _, o := range batch {
				w.seq++
				now := time.Now()
				rand.Read(hash)
				if w.table == "minimal" {
					copy(row, o.reqID)
					_, err = ins.Exec(w.seq, now.UnixMicro(), row)
				} else {
					_, err = ins.Exec(w.seq, now.UnixMicro(), o.ip, o.ua, o.reqID, now.Add(time.Minute).UnixMilli(), hash, hash)
				}
				if err != nil {
					return err
				}
			}
			return tx.Commit()
		}()
		if err != nil {
			log.Printf("commit: %v", err)
			w.db.QueryRow(w.last).Scan(&w.seq)
		}
		for _, o := range batch {
			o.err = err
			o.done <- struct{}{}
		}
	}
}
