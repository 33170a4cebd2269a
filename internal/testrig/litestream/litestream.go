// Package litestream runs the pinned Litestream
// (github.com/benbjohnson/litestream), built once by scripts/litestream.sh
// into a cache outside the repository, for the restore drill: continuous
// replication of a SQLite file to an S3 bucket ("litestream replicate") and
// restores from it ("litestream restore"). Each process dies with the one
// that started it.
package litestream

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/sharesvc/sharesvc/internal/localtool"
	"github.com/sharesvc/sharesvc/internal/testrig/syncbuf"
)

// Version is the pinned Litestream release; scripts/litestream.sh builds
// the same.
const Version = "v0.5.18"

// BinaryPath returns where scripts/litestream.sh caches the binary:
// $SHARESVC_LITESTREAM, else
// ${XDG_CACHE_HOME:-$HOME/.cache}/sharesvc/litestream-<Version>. It does
// not build.
func BinaryPath() (string, error) {
	p, err := localtool.CachedBinary("SHARESVC_LITESTREAM", "litestream-"+Version)
	if err != nil {
		return "", fmt.Errorf("litestream: %w", err)
	}
	return p, nil
}

// Replica is where a database is replicated: a key prefix in an S3 bucket.
type Replica struct {
	// Endpoint is an S3-compatible server's URL, addressed path-style; ""
	// means AWS.
	Endpoint  string
	Region    string
	Bucket    string
	Path      string // key prefix of this database's replica
	AccessKey string
	SecretKey string
	// SyncInterval is how often new WAL frames are shipped (Litestream's
	// sync-interval); 0 means Litestream's default (1s).
	SyncInterval time.Duration
}

// Litestream runs the pinned binary on one configuration file: one
// database and its replica.
type Litestream struct {
	bin    string
	config string
	env    []string
}

// New writes the configuration that replicates the SQLite file dbPath to r
// into dir, and returns what runs Litestream on it. The credentials go to
// the process's environment, not the file. Errors name the missing binary
// and how to build it.
func New(dir, dbPath string, r Replica) (*Litestream, error) {
	bin, err := BinaryPath()
	if err != nil {
		return nil, err
	}
	if fi, err := os.Stat(bin); err != nil || fi.IsDir() || fi.Mode().Perm()&0o111 == 0 {
		return nil, fmt.Errorf("litestream: no executable at %s: run scripts/litestream.sh (or make tools) to build it", bin)
	}
	if r.Bucket == "" || r.Path == "" {
		return nil, errors.New("litestream: the replica needs a bucket and a path")
	}
	var b strings.Builder
	fmt.Fprintf(&b, "dbs:\n  - path: %q\n    replica:\n      type: s3\n      bucket: %q\n      path: %q\n",
		dbPath, r.Bucket, r.Path)
	if r.Region != "" {
		fmt.Fprintf(&b, "      region: %q\n", r.Region)
	}
	if r.Endpoint != "" {
		fmt.Fprintf(&b, "      endpoint: %q\n      force-path-style: true\n", r.Endpoint)
	}
	if r.SyncInterval > 0 {
		fmt.Fprintf(&b, "      sync-interval: %s\n", r.SyncInterval)
	}
	config := filepath.Join(dir, "litestream.yml")
	if err := os.WriteFile(config, []byte(b.String()), 0o600); err != nil {
		return nil, fmt.Errorf("litestream: %w", err)
	}
	env := []string{"AWS_ACCESS_KEY_ID=" + r.AccessKey, "AWS_SECRET_ACCESS_KEY=" + r.SecretKey}
	for _, kv := range os.Environ() {
		// Only this replica's credentials and endpoint, whatever the
		// tests' own environment holds.
		if !strings.HasPrefix(kv, "AWS_") && !strings.HasPrefix(kv, "LITESTREAM_") {
			env = append(env, kv)
		}
	}
	return &Litestream{bin: bin, config: config, env: env}, nil
}

// Config returns the path of the configuration file.
func (l *Litestream) Config() string { return l.config }

// Process is a running "litestream replicate".
type Process struct {
	cmd    *exec.Cmd
	out    *syncbuf.Buffer
	exited chan struct{}
	err    error // Wait's result, once exited is closed
}

// Replicate starts "litestream replicate" on the configuration. It
// returns once the process has started; Litestream picks the database up
// (or waits for it to exist) on its own.
func (l *Litestream) Replicate() (*Process, error) {
	cmd := exec.Command(l.bin, "replicate", "-config", l.config)
	cmd.Env = l.env
	p := &Process{cmd: cmd, out: &syncbuf.Buffer{}, exited: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.out, p.out
	cmd.SysProcAttr = localtool.SysProcAttr()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("litestream: start %s: %w", l.bin, err)
	}
	go func() { p.err = cmd.Wait(); close(p.exited) }()
	return p, nil
}

// Stop asks Litestream to stop (SIGTERM), which ships what is left of the
// WAL before it exits, and waits up to timeout; then it kills it. Errors:
// the exit status when Litestream did not exit cleanly in time.
func (p *Process) Stop(timeout time.Duration) error {
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
		return p.err
	case <-time.After(timeout):
		p.cmd.Process.Kill()
		<-p.exited
		return fmt.Errorf("litestream: still running %s after SIGTERM; killed", timeout)
	}
}

// Kill ends Litestream at once (SIGKILL), as a crash of its machine would:
// nothing more is shipped.
func (p *Process) Kill() {
	p.cmd.Process.Kill()
	<-p.exited
}

// Output returns what Litestream printed so far.
func (p *Process) Output() string { return p.out.String() }

// Restore writes the newest state of the replica to the new file out
// ("litestream restore -o out"). Errors carry Litestream's output.
func (l *Litestream) Restore(ctx context.Context, dbPath, out string) error {
	cmd := exec.CommandContext(ctx, l.bin, "restore", "-config", l.config, "-o", out, dbPath)
	cmd.Env = l.env
	cmd.SysProcAttr = localtool.SysProcAttr()
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("litestream restore: %w\n%s", err, b)
	}
	return nil
}
