// Package postgres runs a real, throwaway PostgreSQL cluster for tests:
// Debian's server binaries (scripts/postgres.sh installs them), a fresh
// cluster in a temporary directory on a free loopback port, and a new
// database per test, copied from a template. The cluster runs as an
// unprivileged system user when the tests run as root (PostgreSQL refuses
// root), stops with a fast shutdown when done, and dies with the process
// that started it.
package postgres

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver
)

// User is the system user the cluster runs as when the tests run as root;
// Start creates it (useradd -r -M -s /usr/sbin/nologin) if it is missing.
const User = "sharesvc-pg"

// superuser is the cluster's bootstrap role; it trusts every loopback
// connection, which is fine for a cluster that lives as long as a test run.
const superuser = "postgres"

// BinDir returns the directory of PostgreSQL's server binaries:
// $SHARESVC_POSTGRES_BIN when set, else the newest
// /usr/lib/postgresql/<version>/bin that holds initdb. Its error says how to
// install them.
func BinDir() (string, error) {
	if d := os.Getenv("SHARESVC_POSTGRES_BIN"); d != "" {
		return d, nil
	}
	found, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	if len(found) == 0 {
		return "", errors.New("postgres: no server binaries under /usr/lib/postgresql/*/bin: run scripts/postgres.sh (or make test) to install Debian's postgresql package, or set SHARESVC_POSTGRES_BIN")
	}
	// Newest version first: 9.6 < 10 < 15 numerically, not as strings.
	sort.Slice(found, func(i, j int) bool { return version(found[i]) > version(found[j]) })
	return filepath.Dir(found[0]), nil
}

// version is the major version in /usr/lib/postgresql/<version>/bin/initdb.
func version(initdb string) float64 {
	v, _ := strconv.ParseFloat(filepath.Base(filepath.Dir(filepath.Dir(initdb))), 64)
	return v
}

// Cluster is a running throwaway PostgreSQL cluster.
type Cluster struct {
	// Port is its loopback TCP port (127.0.0.1 only; no Unix socket).
	Port int

	dir    string // temporary directory: data/ and postgres.log
	bin    string // the server binaries' directory
	run    runner
	admin  *sql.DB
	n      atomic.Int64 // databases created, for their names
	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{}
}

// Start creates a cluster in a new temporary directory (initdb, UTF-8, C
// collation, trust authentication on loopback) and starts its server on a
// free loopback port, returning once it accepts connections. Errors name
// what is missing: the binaries, the system user, or the server's log.
func Start(ctx context.Context) (*Cluster, error) {
	bin, err := BinDir()
	if err != nil {
		return nil, err
	}
	run, err := runAs()
	if err != nil {
		return nil, err
	}
	removeStale()
	// Under os.TempDir (world-searchable /tmp), not the caller's t.TempDir:
	// every directory above the data must be searchable by the user the
	// server runs as, and t.TempDir's parents are 0700.
	dir, err := os.MkdirTemp("", "sharesvc-pg-")
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	if run.switchUser {
		if err := os.Chown(dir, int(run.uid), int(run.gid)); err != nil {
			os.RemoveAll(dir)
			return nil, fmt.Errorf("postgres: %w", err)
		}
	}
	c := &Cluster{dir: dir, bin: bin, run: run}
	data := filepath.Join(dir, "data")
	initdb := exec.CommandContext(ctx, filepath.Join(bin, "initdb"), "-D", data, "-U", superuser,
		"-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions")
	run.prepare(initdb, dir)
	if out, err := initdb.CombinedOutput(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("postgres: initdb: %w: %s", err, strings.TrimSpace(string(out)))
	}
	// A free port can be taken between choosing it and the server binding
	// it; then the server exits and is started again on another.
	for try := 1; ; try++ {
		port, err := freePort()
		if err != nil {
			os.RemoveAll(dir)
			return nil, err
		}
		err = c.start(ctx, port)
		if err == nil {
			return c, nil
		}
		if try == 3 || ctx.Err() != nil || !errors.Is(err, errExited) {
			os.RemoveAll(dir)
			return nil, err
		}
	}
}

// errExited means the server stopped while starting.
var errExited = errors.New("postgres exited at start")

func (c *Cluster) start(ctx context.Context, port int) error {
	bin, data, run := c.bin, filepath.Join(c.dir, "data"), c.run
	logPath := filepath.Join(c.dir, "postgres.log")
	// Appended to: a restarted server's log follows the first one's.
	log, err := os.OpenFile(logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("postgres: %w", err)
	}
	// The server itself, not pg_ctl start: pg_ctl leaves a detached server
	// behind, while a child of ours can be tied to our life (sysProcAttr).
	cmd := exec.Command(filepath.Join(bin, "postgres"), "-D", data, "-p", strconv.Itoa(port),
		"-c", "listen_addresses=127.0.0.1",
		"-c", "unix_socket_directories=", // TCP only: no socket path length limit, nothing in /var/run
	)
	run.prepare(cmd, c.dir)
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		log.Close()
		return fmt.Errorf("postgres: start %s: %w", cmd.Path, err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); log.Close(); close(exited) }()
	c.mu.Lock()
	c.cmd, c.exited, c.Port = cmd, exited, port
	c.mu.Unlock()

	admin, err := sql.Open("pgx", c.URL("postgres"))
	if err != nil {
		c.Stop()
		return fmt.Errorf("postgres: %w", err)
	}
	for {
		pctx, cancel := context.WithTimeout(ctx, time.Second)
		err := admin.PingContext(pctx)
		cancel()
		if err == nil {
			c.admin = admin
			return nil
		}
		select {
		case <-exited:
			admin.Close()
			b, _ := os.ReadFile(logPath)
			return fmt.Errorf("%w: %s", errExited, strings.TrimSpace(string(b)))
		case <-ctx.Done():
			admin.Close()
			c.stop(false)
			return fmt.Errorf("postgres did not accept connections: %w (last: %v)", ctx.Err(), err)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// URL returns the postgres:// URL of database name in the cluster.
func (c *Cluster) URL(name string) string {
	u := url.URL{Scheme: "postgres", User: url.User(superuser),
		Host: net.JoinHostPort("127.0.0.1", strconv.Itoa(c.Port)), Path: "/" + name,
		RawQuery: "sslmode=disable"}
	return u.String()
}

// CreateDatabase creates a new, empty database (a copy of template1) and
// returns its postgres:// URL and its name.
func (c *Cluster) CreateDatabase(ctx context.Context) (dbURL, name string, err error) {
	if c.admin == nil {
		return "", "", errors.New("postgres: cluster is stopped")
	}
	name = "test_" + strconv.FormatInt(c.n.Add(1), 10)
	// template1 is the default; named here because the copy is the point.
	if _, err := c.admin.ExecContext(ctx, `CREATE DATABASE `+name+` TEMPLATE template1`); err != nil {
		return "", "", fmt.Errorf("postgres: create database %s: %w", name, err)
	}
	return c.URL(name), name, nil
}

// DropDatabase drops database name, ending its connections first.
func (c *Cluster) DropDatabase(ctx context.Context, name string) error {
	if c.admin == nil {
		return errors.New("postgres: cluster is stopped")
	}
	if _, err := c.admin.ExecContext(ctx, `DROP DATABASE IF EXISTS `+quoteIdent(name)+` WITH (FORCE)`); err != nil {
		return fmt.Errorf("postgres: drop database %s: %w", name, err)
	}
	return nil
}

// Database creates a database for t and returns its URL; it is dropped when
// t ends. A cluster that cannot create it fails t.
func (c *Cluster) Database(t testing.TB) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	u, name, err := c.CreateDatabase(ctx)
	if err != nil {
		t.Fatalf("a real PostgreSQL is required: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := c.DropDatabase(ctx, name); err != nil {
			t.Errorf("%v", err)
		}
	})
	return u
}

// StopServer shuts the server down as Stop does but keeps the cluster's
// data and port, for StartServer: what a database outage looks like to its
// clients (their connections end, new ones are refused). Stopping a stopped
// server does nothing.
func (c *Cluster) StopServer() error {
	return c.stop(false)
}

// StartServer starts the server of a cluster stopped by StopServer again,
// on the same port and with the same data, and returns once it accepts
// connections. Starting a running server does nothing. Its error names the
// server's log when the server exits at start (the port taken meanwhile).
func (c *Cluster) StartServer(ctx context.Context) error {
	c.mu.Lock()
	running := c.cmd != nil
	c.mu.Unlock()
	if running {
		return nil
	}
	return c.start(ctx, c.Port)
}

// Stop shuts the server down (fast: open transactions are rolled back, as
// with pg_ctl stop -m fast) and removes the cluster's directory. Stopping a
// stopped cluster does nothing.
func (c *Cluster) Stop() error {
	return c.stop(true)
}

func (c *Cluster) stop(remove bool) error {
	if c.admin != nil {
		c.admin.Close()
		c.admin = nil
	}
	c.mu.Lock()
	cmd, exited := c.cmd, c.exited
	c.cmd = nil
	c.mu.Unlock()
	if cmd != nil {
		cmd.Process.Signal(syscall.SIGINT) // the postmaster's fast shutdown
		select {
		case <-exited:
		case <-time.After(30 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
	}
	if remove {
		return os.RemoveAll(c.dir)
	}
	return nil
}

// runner runs the server's commands as the right user.
type runner struct {
	switchUser bool // false: as ourselves
	uid, gid   uint32
}

func (r runner) prepare(cmd *exec.Cmd, dir string) {
	cmd.Dir = dir // initdb looks up its working directory, which must be readable
	cmd.Env = []string{"PATH=/usr/bin:/bin", "LC_ALL=C", "TZ=UTC"}
	cmd.SysProcAttr = sysProcAttr(r.switchUser, r.uid, r.gid)
}

var userMu sync.Mutex

// runAs returns how to run the server: as ourselves, or, as root, as User
// (created on first use).
func runAs() (runner, error) {
	if os.Geteuid() != 0 {
		return runner{}, nil
	}
	userMu.Lock()
	defer userMu.Unlock()
	u, err := user.Lookup(User)
	if err != nil {
		out, uerr := exec.Command("useradd", "-r", "-M", "-s", "/usr/sbin/nologin", User).CombinedOutput()
		// Another test process may have created it meanwhile.
		if u, err = user.Lookup(User); err != nil {
			return runner{}, fmt.Errorf("postgres: the server refuses to run as root and user %s is missing: useradd: %v: %s", User, uerr, strings.TrimSpace(string(out)))
		}
	}
	uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
	gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
	if err1 != nil || err2 != nil {
		return runner{}, fmt.Errorf("postgres: user %s has uid %q, gid %q", User, u.Uid, u.Gid)
	}
	return runner{switchUser: true, uid: uint32(uid), gid: uint32(gid)}, nil
}

// removeStale removes the directories of clusters whose test run was killed
// (its server died with it, but nobody removed the directory): those whose
// server is not running, left alone for a minute so as not to race a Start
// that is still in initdb.
func removeStale() {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), "sharesvc-pg-*"))
	for _, dir := range dirs {
		fi, err := os.Stat(dir)
		if err != nil || !fi.IsDir() || time.Since(fi.ModTime()) < time.Minute {
			continue
		}
		if b, err := os.ReadFile(filepath.Join(dir, "data", "postmaster.pid")); err == nil {
			first, _, _ := strings.Cut(string(b), "\n")
			if pid, err := strconv.Atoi(strings.TrimSpace(first)); err == nil && running(pid) {
				continue // running
			}
		}
		os.RemoveAll(dir)
	}
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("postgres: find a free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

func quoteIdent(s string) string {
	return `"` + strings.ReplaceAll(s, `"`, `""`) + `"`
}
