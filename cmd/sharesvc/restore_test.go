package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sharesvc/sharesvc/internal/db"
	"github.com/sharesvc/sharesvc/internal/seaweed"
	"github.com/sharesvc/sharesvc/internal/testrig/auditseed"
	"github.com/sharesvc/sharesvc/internal/testrig/litestream"
)

// drillSyncInterval is Litestream's sync-interval in the restore drill:
// SHARESVC_DRILL_SYNC_INTERVAL (to measure the loss at another interval),
// else 1s, Litestream's default and the one deploy/litestream suggests.
func drillSyncInterval(t *testing.T) time.Duration {
	v := os.Getenv("SHARESVC_DRILL_SYNC_INTERVAL")
	if v == "" {
		return time.Second
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		t.Fatalf("SHARESVC_DRILL_SYNC_INTERVAL=%q: want a positive duration", v)
	}
	return d
}

// newLitestream configures Litestream to replicate dbPath to path in the
// bucket of s, every interval; it fails t if the binary is missing.
func newLitestream(t *testing.T, s *seaweed.Server, bucket, path, dbPath string, interval time.Duration) *litestream.Litestream {
	t.Helper()
	ls, err := litestream.New(t.TempDir(), dbPath, litestream.Replica{
		Endpoint: s.Endpoint, Region: s.Region, Bucket: bucket, Path: path,
		AccessKey: s.AccessKey, SecretKey: s.SecretKey, SyncInterval: interval,
	})
	if err != nil {
		t.Fatal(err)
	}
	return ls
}

// replicate starts "litestream replicate"; it is killed when t ends.
func replicate(t *testing.T, ls *litestream.Litestream) *litestream.Process {
	t.Helper()
	p, err := ls.Replicate()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Kill)
	return p
}

// waitReplica restores the replica into scratch files until one holds at
// least rows audit rows: the replica has caught up that far.
func waitReplica(t *testing.T, ls *litestream.Litestream, p *litestream.Process, dbPath string, rows int64) {
	t.Helper()
	dir := t.TempDir()
	var err error
	for i := 0; ; i++ {
		out := filepath.Join(dir, fmt.Sprintf("probe%d.db", i))
		if err = ls.Restore(context.Background(), dbPath, out); err == nil {
			if n := auditRowCount(t, out); n >= rows {
				return
			}
		}
		if i == 120 {
			t.Fatalf("the replica has not caught up with %d rows after a minute: %v\nlitestream:\n%s", rows, err, p.Output())
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// removeDatabase deletes a database file with its -wal and -shm files, as
// the loss of the disk would, and Litestream's files beside it.
func removeDatabase(t *testing.T, path string) {
	t.Helper()
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		if err := os.Remove(p); err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
	}
	matches, _ := filepath.Glob(filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+"-litestream*"))
	for _, m := range matches {
		os.RemoveAll(m)
	}
}

// problems returns the lines Litestream logged at level WARN or ERROR.
func problems(out string) []string {
	var lines []string
	for l := range strings.Lines(out) {
		if strings.Contains(l, "level=WARN") || strings.Contains(l, "level=ERROR") {
			lines = append(lines, strings.TrimSpace(l))
		}
	}
	return lines
}

// drillLoad opens the share paths from workers until stop is called, and
// records the request id of every 302 received.
type drillLoad struct {
	mu    sync.Mutex
	acked []string
	done  chan struct{}
	wg    sync.WaitGroup
}

func startLoad(base string, paths []string, workers int) *drillLoad {
	l := &drillLoad{done: make(chan struct{})}
	client := &http.Client{
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Transport:     &http.Transport{MaxIdleConnsPerHost: workers},
		Timeout:       10 * time.Second,
	}
	for w := range workers {
		l.wg.Go(func() {
			for i := w; ; i++ {
				select {
				case <-l.done:
					return
				default:
				}
				r, err := client.Get(base + paths[i%len(paths)])
				if err != nil {
					continue // the server is down
				}
				r.Body.Close()
				if r.StatusCode == http.StatusFound && r.Header.Get("Location") != "" {
					l.mu.Lock()
					l.acked = append(l.acked, r.Header.Get("X-Request-Id"))
					l.mu.Unlock()
				}
			}
		})
	}
	return l
}

// waitFor waits until n 302s were received.
func (l *drillLoad) waitFor(t *testing.T, n int) {
	t.Helper()
	for deadline := time.Now().Add(2 * time.Minute); l.count() < n; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("only %d redirects in two minutes; want %d", l.count(), n)
		}
	}
}

func (l *drillLoad) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.acked)
}

// stop ends the load and returns the request ids of the 302s received.
func (l *drillLoad) stop() []string {
	close(l.done)
	l.wg.Wait()
	return l.acked
}

// missingRows returns how many of ids have no audit row in the database
// file at path.
func missingRows(t *testing.T, path string, ids []string) int {
	t.Helper()
	d, err := openReadOnly(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	have := map[string]bool{}
	rows, err := d.Query(`SELECT request_id FROM audit_events WHERE action = 'link.access'`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		have[id] = true
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, id := range ids {
		if !have[id] {
			n++
		}
	}
	return n
}

// head returns the last audit row's sequence number, time and hash.
func head(t *testing.T, path string) (int64, time.Time, []byte) {
	t.Helper()
	d, err := openReadOnly(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	var (
		seq  int64
		at   int64
		hash []byte
	)
	if err := d.QueryRow(`SELECT seq, at, hash FROM audit_events ORDER BY seq DESC LIMIT 1`).Scan(&seq, &at, &hash); err != nil {
		t.Fatal(err)
	}
	return seq, time.UnixMicro(at), hash
}

// hashesFrom returns the hashes of the audit rows from seq on in the
// database file at path, by row.
func hashesFrom(t *testing.T, path string, seq int64) map[int64][]byte {
	t.Helper()
	d, err := openReadOnly(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	rows, err := d.Query(`SELECT seq, hash FROM audit_events WHERE seq >= ?`, seq)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[int64][]byte{}
	for rows.Next() {
		var (
			s int64
			h []byte
		)
		if err := rows.Scan(&s, &h); err != nil {
			t.Fatal(err)
		}
		out[s] = h
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// The restore drill, on the real binary, the real S3 (SeaweedFS) and the
// pinned Litestream: sharesvc serves while Litestream replicates its
// database; the database is lost; it comes back with "litestream
// restore", its audit chain verifies, and sharesvc serves on it again.
// A graceful stop loses nothing; a crash of the machine under load loses
// the accesses of the last sync interval at most, which the test reports.
func TestRestoreDrill(t *testing.T) {
	const bucket, backups = "drill", "drill-backups"
	interval := drillSyncInterval(t)
	bin := buildBinary(t)
	s3 := startS3(t, bucket, backups)
	if err := s3.PutObject(context.Background(), bucket, "d.txt", []byte("drill")); err != nil {
		t.Fatal(err)
	}
	// The checkpoint key and the checkpoints live apart from the data, as
	// they must to survive its loss (and, for the key, to stay secret).
	keep := t.TempDir()
	keyPath, cpDir := filepath.Join(keep, "checkpoint.key"), filepath.Join(keep, "checkpoints")
	if _, _, err := runErr("audit", "keygen", "--out", keyPath); err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	base := "http://" + addr
	envFor := func(dbPath string) map[string]string {
		return withEnv(s3env(s3, bucket, dbPath), map[string]string{
			"SHARESVC_LISTEN": addr, "SHARESVC_LOG_LEVEL": "warn",
			"SHARESVC_RATE_IP": "off", "SHARESVC_RATE_MISS": "off", "SHARESVC_RATE_LINK": "off", "SHARESVC_RATE_TOKEN": "off",
			"SHARESVC_CHECKPOINT_KEY": keyPath, "SHARESVC_CHECKPOINT_DIR": cpDir,
		})
	}

	// 1. Serve with Litestream replicating; create links, open them, and
	// stop gracefully: sharesvc first (it signs a last checkpoint), then
	// Litestream (it ships what is left).
	dbA := filepath.Join(t.TempDir(), "sharesvc.db")
	token, err := createToken(context.Background(), dbA, "drill-admin", "admin", 0, "test", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	lsA := newLitestream(t, s3, backups, "sharesvc-a", dbA, interval)
	repA := replicate(t, lsA)
	c := startChild(t, bin, envFor(dbA), base)
	// Litestream opens the database at its first sync: stopped before
	// that, it ships nothing. Here and in production it runs all along.
	waitReplica(t, lsA, repA, dbA, 1)
	var paths []string
	for i := range 5 {
		u := createLinkAPI(t, base, token, fmt.Sprintf(`{"key":"d.txt","note":"drill %d"}`, i))
		paths = append(paths, u[strings.Index(u, "/s/"):])
	}
	load := startLoad(base, paths, 8)
	load.waitFor(t, 300)
	acked := load.stop()
	c.cmd.Process.Signal(syscall.SIGTERM)
	if err := <-c.wait; err != nil {
		t.Fatalf("sharesvc stop: %v\n%s", err, c.output())
	}
	if err := repA.Stop(time.Minute); err != nil {
		t.Fatalf("litestream stop: %v\n%s", err, repA.Output())
	}
	// sharesvc's own checkpoints (SQLite's automatic ones, PASSIVE) and
	// its 5s busy timeout leave Litestream nothing to complain about.
	if p := problems(repA.Output()); len(p) > 0 {
		t.Errorf("litestream logged problems while sharesvc served:\n%s", strings.Join(p, "\n"))
	}
	rowsA := auditRowCount(t, dbA)
	removeDatabase(t, dbA)

	dbB := filepath.Join(t.TempDir(), "restored.db")
	start := time.Now()
	if err := lsA.Restore(context.Background(), dbA, dbB); err != nil {
		t.Fatalf("%v\nlitestream replicate:\n%s", err, repA.Output())
	}
	took := time.Since(start)
	checkDBFile(t, dbB, "restored after a graceful stop")
	if n := auditRowCount(t, dbB); n != rowsA {
		t.Errorf("restored %d audit rows after a graceful stop; the database had %d", n, rowsA)
	}
	if n := missingRows(t, dbB, acked); n > 0 {
		t.Errorf("%d of %d acknowledged accesses missing after a graceful stop", n, len(acked))
	}
	// The restored log agrees with the checkpoint signed at the stop.
	out := runCLI(t, nil, "audit", "verify", "--db", dbB, "--checkpoint", cpDir)
	if !strings.HasPrefix(out, "OK: ") || !strings.Contains(out, "matches") {
		t.Errorf("audit verify of the restored database:\n%s", out)
	}
	t.Logf("graceful stop: %d audit rows (%d acknowledged accesses), all restored in %s", rowsA, len(acked), took.Round(time.Millisecond))

	// 2. Serve on the restored database, replicated to a new path; under
	// load, kill sharesvc and Litestream at once, as a lost machine would.
	lsB := newLitestream(t, s3, backups, "sharesvc-b", dbB, interval)
	repB := replicate(t, lsB)
	c = startChild(t, bin, envFor(dbB), base)
	waitReplica(t, lsB, repB, dbB, rowsA)
	load = startLoad(base, paths, 8)
	// Run for a few sync intervals, then kill at a random point in one.
	load.waitFor(t, 200)
	time.Sleep(3*interval + rand.N(interval))
	killed := time.Now()
	c.cmd.Process.Signal(syscall.SIGKILL)
	repB.Kill()
	<-c.wait
	acked = load.stop()
	rowsLocal := auditRowCount(t, dbB)
	seqLocal, _, _ := head(t, dbB)
	if n := missingRows(t, dbB, acked); n > 0 {
		t.Fatalf("the local file lacks %d acknowledged accesses (durable before the 302)", n)
	}
	saved := hashesFrom(t, dbB, rowsA)
	if p := problems(repB.Output()); len(p) > 0 {
		t.Errorf("litestream logged problems while sharesvc served:\n%s", strings.Join(p, "\n"))
	}
	removeDatabase(t, dbB)

	dbC := filepath.Join(t.TempDir(), "restored.db")
	if err := lsB.Restore(context.Background(), dbB, dbC); err != nil {
		t.Fatalf("%v\nlitestream replicate:\n%s", err, repB.Output())
	}
	checkDBFile(t, dbC, "restored after a kill")
	rowsC := auditRowCount(t, dbC)
	seqC, atC, hashC := head(t, dbC)
	// What came back is the log as it was at one moment: a prefix of the
	// lost file's, never something else.
	if seqC < rowsA || seqC > seqLocal {
		t.Fatalf("restored head row %d; want between %d (phase 1) and %d (the lost file)", seqC, rowsA, seqLocal)
	}
	if string(saved[seqC]) != string(hashC) {
		t.Fatalf("restored row %d differs from the lost file's", seqC)
	}
	lost := missingRows(t, dbC, acked)
	t.Logf("kill under load at sync-interval %s: %d of %d acknowledged accesses lost (%d of %d audit rows); the newest restored row is %s older than the kill",
		interval, lost, len(acked), rowsLocal-rowsC, rowsLocal, killed.Sub(atC).Round(time.Millisecond))
	out = runCLI(t, nil, "audit", "verify", "--db", dbC, "--checkpoint", cpDir)
	if !strings.HasPrefix(out, "OK: ") {
		t.Errorf("audit verify after the kill:\n%s", out)
	}

	// 3. sharesvc serves on the restored copy: the links came back too.
	start = time.Now()
	c = startChild(t, bin, envFor(dbC), base)
	t.Logf("sharesvc answered /healthz on the restored database %s after it was started", time.Since(start).Round(time.Millisecond))
	r, err := noFollow.Get(base + paths[0])
	if err != nil {
		t.Fatal(err)
	}
	r.Body.Close()
	if r.StatusCode != http.StatusFound {
		t.Errorf("GET a link on the restored database = %d; want 302", r.StatusCode)
	}
	c.cmd.Process.Signal(syscall.SIGTERM)
	<-c.wait
}

// seedRows writes n realistic audit rows with a valid chain straight into
// the new database at path (internal/testrig/auditseed).
func seedRows(t *testing.T, path string, n int) {
	t.Helper()
	d, err := db.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	start := time.Now().Add(-time.Duration(n) * 10 * time.Millisecond)
	if err := auditseed.Rows(context.Background(), d.Write, n, start, 5000); err != nil {
		t.Fatal(err)
	}
}

// restoreRows sizes the database TestRestoreTime restores:
// SHARESVC_RESTORE_ROWS, else 100000 audit rows, or 10000 under the race
// detector (make test), which makes seeding 100000 take minutes.
func restoreRows(t *testing.T) int {
	v := os.Getenv("SHARESVC_RESTORE_ROWS")
	if v == "" {
		if bi, ok := debug.ReadBuildInfo(); ok {
			for _, s := range bi.Settings {
				if s.Key == "-race" && s.Value == "true" {
					return 10000
				}
			}
		}
		return 100000
	}
	var n int
	if _, err := fmt.Sscan(v, &n); err != nil || n < 1 {
		t.Fatalf("SHARESVC_RESTORE_ROWS=%q: want a positive number", v)
	}
	return n
}

// A database of a realistic size comes back whole from the replica, and
// the test reports how long that takes (the recovery time, without the
// restart): the median of three restores.
func TestRestoreTime(t *testing.T) {
	const backups = "restore-time"
	n := restoreRows(t)
	s3 := startS3(t, backups)
	dbPath := filepath.Join(t.TempDir(), "sharesvc.db")
	seedRows(t, dbPath, n)
	fi, err := os.Stat(dbPath)
	if err != nil {
		t.Fatal(err)
	}
	ls := newLitestream(t, s3, backups, "sharesvc", dbPath, time.Second)
	rep := replicate(t, ls)
	waitReplica(t, ls, rep, dbPath, int64(n))
	if err := rep.Stop(time.Minute); err != nil {
		t.Fatalf("litestream stop: %v\n%s", err, rep.Output())
	}
	dir := t.TempDir()
	var took []time.Duration
	for i := range 3 {
		out := filepath.Join(dir, fmt.Sprintf("restored%d.db", i))
		start := time.Now()
		if err := ls.Restore(context.Background(), dbPath, out); err != nil {
			t.Fatal(err)
		}
		took = append(took, time.Since(start))
		if got := auditRowCount(t, out); got != int64(n) {
			t.Fatalf("restore %d has %d audit rows; want %d", i, got, n)
		}
	}
	start := time.Now()
	checkDBFile(t, filepath.Join(dir, "restored0.db"), "restored")
	checked := time.Since(start)
	slices.Sort(took)
	t.Logf("restore of %d audit rows (a %.1f MB file) from S3: median %s (of %v); integrity_check and the chain's verification then took %s",
		n, float64(fi.Size())/1e6, took[1].Round(time.Millisecond), took, checked.Round(time.Millisecond))
}
