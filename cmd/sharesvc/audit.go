package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/sharesvc/sharesvc/internal/audit"
	"github.com/sharesvc/sharesvc/internal/db"
)

// auditSettings are serve's audit settings (see the README's "Audit log").
type auditSettings struct {
	IPMode             string        `name:"audit-ip-mode" envvar:"SHARESVC_AUDIT_IP_MODE" default:"full" help:"How client addresses are stored: full, truncate (/24, /48) or hash (HMAC-SHA256)."`
	IPKey              string        `name:"audit-ip-key" envvar:"SHARESVC_AUDIT_IP_KEY" placeholder:"KEY" help:"Key for --audit-ip-mode hash: a file, or at least 32 hex digits."`
	CheckpointKey      string        `name:"checkpoint-key" envvar:"SHARESVC_CHECKPOINT_KEY" placeholder:"FILE" help:"Ed25519 private key file (PEM) that signs audit checkpoints (default: the database path + \"-checkpoint.key\", created at first start; or create one with: sharesvc audit keygen)."`
	CheckpointDir      string        `name:"checkpoint-dir" envvar:"SHARESVC_CHECKPOINT_DIR" placeholder:"DIR" help:"Directory for signed checkpoints (default: the database path + \"-checkpoints\")."`
	CheckpointBucket   string        `name:"checkpoint-bucket" envvar:"SHARESVC_CHECKPOINT_BUCKET" placeholder:"BUCKET[/PREFIX]" help:"Also store checkpoints in this S3 bucket, ideally with Object Lock."`
	CheckpointInterval time.Duration `name:"checkpoint-interval" envvar:"SHARESVC_CHECKPOINT_INTERVAL" default:"15m" help:"Time between checkpoints while the log grows (0: only on demand)."`
	Retention          time.Duration `name:"audit-retention" envvar:"SHARESVC_AUDIT_RETENTION" default:"0" help:"Prune audit events older than this (0: keep forever; needs --checkpoint-key)."`
	// anchor, if set by serve, receives every checkpoint (see anchor.go).
	anchor audit.Anchor
}

// auditSetup is what the audit settings build.
type auditSetup struct {
	ip           *audit.IPPrivacy
	checkpointer *audit.Checkpointer
	flood        *audit.Flood
	interval     time.Duration
	retention    time.Duration
}

// defaultKeySuffix names the checkpoint key serve uses when none is
// configured: the database path with this suffix, next to the database.
const defaultKeySuffix = "-checkpoint.key"

// defaultCheckpointKey points a.CheckpointKey at the key serve uses when
// none is configured, the database path + "-checkpoint.key", and creates it
// (mode 0600, its public key next to it as .pub, the directory 0700 if it
// has to be made) when it does not exist yet. It reports whether it created
// the key. An existing key file that its group or others may read is refused:
// whoever reads it can sign checkpoints. An explicit key is left as it is.
func (a *auditSettings) defaultCheckpointKey(dbPath string) (created bool, err error) {
	if a.CheckpointKey != "" {
		return false, nil
	}
	if db.IsPostgres(dbPath) {
		// Instances share the database, so they must share the key; none
		// can make it for the others.
		return false, errors.New("required with a PostgreSQL database: every instance signs checkpoints with the same key; create it once with \"sharesvc audit keygen --out FILE\" and give each instance the file")
	}
	path := dbPath + defaultKeySuffix
	fi, err := os.Stat(path)
	switch {
	case err == nil:
		if fi.Mode().Perm()&0o077 != 0 {
			return false, fmt.Errorf("checkpoint key %s may be read by others (mode %04o): make it private (chmod 600) or set -checkpoint-key ($SHARESVC_CHECKPOINT_KEY)",
				path, fi.Mode().Perm())
		}
		if !fi.Mode().IsRegular() {
			return false, fmt.Errorf("checkpoint key %s is not a regular file", path)
		}
		a.CheckpointKey = path
		return false, nil
	case !errors.Is(err, os.ErrNotExist):
		return false, fmt.Errorf("checkpoint key: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return false, fmt.Errorf("checkpoint key: %w", err)
	}
	priv, pub, err := audit.GenerateKey()
	if err != nil {
		return false, fmt.Errorf("checkpoint key: %w", err)
	}
	// Written aside and linked into place: a crash leaves no half key, and
	// O_EXCL on the link never replaces a key another start just made.
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-checkpoint-key-")
	if err != nil {
		return false, fmt.Errorf("checkpoint key: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(priv); err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Link(tmp.Name(), path)
	}
	if err != nil {
		return false, fmt.Errorf("checkpoint key: %w", err)
	}
	if err := os.WriteFile(path+".pub", pub, 0o644); err != nil {
		return false, fmt.Errorf("checkpoint key: %w", err)
	}
	a.CheckpointKey = path
	return true, nil
}

// ipPrivacy builds the client IP privacy mode. Errors name the setting.
func (a *auditSettings) ipPrivacy() (*audit.IPPrivacy, error) {
	var key []byte
	if a.IPKey != "" {
		k, err := readKeyMaterial(a.IPKey)
		if err != nil {
			return nil, fmt.Errorf("-audit-ip-key ($SHARESVC_AUDIT_IP_KEY): %w", err)
		}
		key = k
	}
	p, err := audit.NewIPPrivacy(audit.IPMode(a.IPMode), key)
	if err != nil {
		return nil, fmt.Errorf("-audit-ip-mode ($SHARESVC_AUDIT_IP_MODE): %w", err)
	}
	return p, nil
}

// build checks the settings and builds the privacy mode, the checkpointer
// (nil without a key) and the flood budget. dbPath locates the default
// checkpoint directory; newS3 makes the client for the checkpoint bucket.
func (a *auditSettings) build(read *sql.DB, dbPath string, newS3 func() (*s3.Client, error)) (*auditSetup, error) {
	ip, err := a.ipPrivacy()
	if err != nil {
		return nil, err
	}
	out := &auditSetup{ip: ip, flood: audit.NewFlood(audit.FloodOptions{}), interval: a.CheckpointInterval, retention: a.Retention}
	if err := a.checkDurations(); err != nil {
		return nil, err
	}
	switch {
	case a.CheckpointKey == "" && (a.CheckpointBucket != "" || a.Retention > 0):
		return nil, errors.New("-checkpoint-key ($SHARESVC_CHECKPOINT_KEY) is required with -checkpoint-bucket or -audit-retention: create one with \"sharesvc audit keygen\"")
	case a.CheckpointKey == "":
		return out, nil
	}
	pem, err := os.ReadFile(a.CheckpointKey)
	if err != nil {
		return nil, fmt.Errorf("-checkpoint-key ($SHARESVC_CHECKPOINT_KEY): %w", err)
	}
	key, err := audit.ParsePrivateKey(pem)
	if err != nil {
		return nil, fmt.Errorf("-checkpoint-key ($SHARESVC_CHECKPOINT_KEY): %w", err)
	}
	dir := a.CheckpointDir
	switch {
	case dir == "" && db.IsPostgres(dbPath):
		return nil, errors.New("-checkpoint-dir ($SHARESVC_CHECKPOINT_DIR) is required with a PostgreSQL database (a directory, private to sharesvc; with several instances, also give them one -checkpoint-bucket so that each sees the others' checkpoints)")
	case dir == "":
		dir = dbPath + "-checkpoints"
	}
	o := audit.CheckpointOptions{Dir: dir, Anchor: a.anchor}
	if a.CheckpointBucket != "" {
		bucket, prefix, _ := strings.Cut(a.CheckpointBucket, "/")
		if bucket == "" {
			return nil, fmt.Errorf("-checkpoint-bucket ($SHARESVC_CHECKPOINT_BUCKET) %q must be BUCKET or BUCKET/PREFIX", a.CheckpointBucket)
		}
		if prefix != "" && !strings.HasSuffix(prefix, "/") {
			prefix += "/"
		}
		c, err := newS3()
		if err != nil {
			return nil, fmt.Errorf("-checkpoint-bucket ($SHARESVC_CHECKPOINT_BUCKET): %w", err)
		}
		o.Store, o.Prefix = s3Store{client: c, bucket: bucket}, prefix
	}
	out.checkpointer, err = audit.NewCheckpointer(read, key, o)
	if err != nil {
		return nil, fmt.Errorf("-checkpoint-dir ($SHARESVC_CHECKPOINT_DIR): %w", err)
	}
	return out, nil
}

// checkDurations checks the checkpoint interval and the retention.
func (a *auditSettings) checkDurations() error {
	switch {
	case a.CheckpointInterval < 0:
		return errors.New("-checkpoint-interval ($SHARESVC_CHECKPOINT_INTERVAL) must not be negative")
	case a.Retention < 0 || a.Retention > 0 && a.Retention < time.Hour:
		return fmt.Errorf("-audit-retention ($SHARESVC_AUDIT_RETENTION) %s must be 0 (keep forever) or at least 1h", a.Retention)
	}
	return nil
}

// validate checks the settings that need no file, so that serve can refuse
// them before it creates anything.
func (a *auditSettings) validate() error {
	if _, err := a.ipPrivacy(); err != nil {
		return err
	}
	return a.checkDurations()
}

// readKeyMaterial reads a secret given as hex (at least 32 digits) or as a
// file holding hex or raw bytes.
func readKeyMaterial(v string) ([]byte, error) {
	if len(v) >= 32 {
		if b, err := hex.DecodeString(v); err == nil {
			return b, nil
		}
	}
	b, err := os.ReadFile(v)
	if err != nil {
		// Without the path: v may be a mistyped key.
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return nil, fmt.Errorf("not hex (at least 32 digits), and not a readable file: %w", err)
	}
	if h, err := hex.DecodeString(strings.TrimSpace(string(b))); err == nil {
		return h, nil
	}
	return b, nil
}

// s3Store puts checkpoints in an S3 bucket. With Object Lock and a default
// retention on the bucket, not even this service can change them later.
type s3Store struct {
	client *s3.Client
	bucket string
}

// PutObject stores body under key.
func (s s3Store) PutObject(ctx context.Context, key string, body []byte) error {
	_, err := s.client.PutObject(ctx, &s3.PutObjectInput{
		Bucket: aws.String(s.bucket), Key: aws.String(key), Body: bytes.NewReader(body),
		ContentType: aws.String("application/json"),
	})
	return err
}

// run runs the audit's background jobs until ctx ends: periodic checkpoints,
// retention, and the flood budget's summaries; then it writes the pending
// summaries and a last checkpoint. The log must stay open until it returns.
// With several instances on one PostgreSQL database, checkpoints and
// retention run on one of them at a time (d.Leader); flood summaries are
// each instance's own.
func (a *auditSetup) run(ctx context.Context, log *audit.Log, d *db.DB, logger *slog.Logger) {
	logger = logger.With("component", "audit")
	report := func(what string) func(error) {
		return func(err error) { logger.Error(what, "err", err) }
	}
	var wg sync.WaitGroup
	wg.Go(func() { a.flood.Run(ctx, log, report("write flood summaries")) })
	cp := d.Leader("audit-checkpoints")
	defer cp.Release()
	if a.checkpointer != nil && a.interval > 0 {
		wg.Go(func() { a.checkpointer.Run(ctx, a.interval, leading(cp, logger), report("audit checkpoint")) })
	}
	if a.checkpointer != nil && a.retention > 0 {
		wg.Go(func() { a.prune(ctx, log, d, logger) })
	}
	wg.Wait()
	if a.checkpointer != nil {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if ok, _ := cp.Lead(cctx); ok {
			if err := a.checkpointer.WriteIfMoved(cctx); err != nil {
				logger.Error("final audit checkpoint", "err", err)
			}
		}
	}
}

// leading turns a Leader into Checkpointer.Run's lead, logging when this
// instance takes or loses the lead and when it cannot tell.
func leading(lead *db.Leader, logger *slog.Logger) func(context.Context) bool {
	was := false
	return func(ctx context.Context) bool {
		ok, err := lead.Lead(ctx)
		if err != nil && ctx.Err() == nil {
			logger.Error("audit checkpoint: take the lead", "err", err)
		}
		if ok != was && ctx.Err() == nil {
			logger.Info("audit checkpoints", "leading", ok)
			was = ok
		}
		return ok
	}
}

// prune removes events older than the retention, once an hour (and at
// start), in bounded batches, while this instance leads retention.
func (a *auditSetup) prune(ctx context.Context, log *audit.Log, d *db.DB, logger *slog.Logger) {
	lead := d.Leader("audit-retention")
	defer lead.Release()
	t := time.NewTicker(time.Hour)
	defer t.Stop()
	for {
		ok, err := lead.Lead(ctx)
		if err != nil && ctx.Err() == nil {
			logger.Error("audit retention: take the lead", "err", err)
		}
		for ok && ctx.Err() == nil {
			res, err := audit.Prune(ctx, log, d.Read, audit.PruneOptions{
				Before: time.Now().Add(-a.retention), Actor: audit.ActorRetention, Checkpointer: a.checkpointer})
			if err != nil {
				if ctx.Err() == nil {
					logger.Error("audit retention", "err", err)
				}
				break
			}
			if res.Rows == 0 {
				break
			}
			logger.Info("audit events pruned", "through_seq", res.ThroughSeq, "rows", res.Rows)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// auditCmd is "sharesvc audit". List, export and verify read a database
// directly (--db, read-only) or ask a running server (SHARESVC_URL, with an
// auditor's token) through GET /api/v1/audit, /audit/export and
// /audit/verify; keygen and prune are offline only.
type auditCmd struct {
	Keygen auditKeygenCmd `cmd:"" help:"Create the Ed25519 checkpoint key (FILE) and its public key (FILE.pub)."`
	Verify auditVerifyCmd `cmd:"" help:"Check the hash chain offline against every checkpoint (local and anchored): also a cut-off tail."`
	List   auditListCmd   `cmd:"" help:"Events, newest first."`
	Export auditExportCmd `cmd:"" help:"Every matching event, oldest first, streamed."`
	Prune  auditPruneCmd  `cmd:"" help:"Remove old events (audited, anchored by a checkpoint)."`
}

type auditKeygenCmd struct {
	Out string `name:"out" placeholder:"FILE" help:"File for the private key (required); the public key goes to FILE.pub."`
}

func (c *auditKeygenCmd) Run(e *runEnv) error {
	out, stdout, stderr := c.Out, e.stdout, e.stderr
	if out == "" {
		return errors.New("audit keygen: --out FILE is required (e.g. --out /etc/sharesvc/checkpoint.key)")
	}
	priv, pub, err := audit.GenerateKey()
	if err != nil {
		return err
	}
	// O_EXCL: never overwrite a key that may have signed checkpoints.
	fh, err := os.OpenFile(out, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("audit keygen: %w", err)
	}
	if _, err := fh.Write(priv); err != nil {
		fh.Close()
		return fmt.Errorf("audit keygen: %w", err)
	}
	if err := fh.Close(); err != nil {
		return fmt.Errorf("audit keygen: %w", err)
	}
	if err := os.WriteFile(out+".pub", pub, 0o644); err != nil {
		return fmt.Errorf("audit keygen: %w", err)
	}
	fmt.Fprintf(stderr, "Wrote the private key to %s and the public key to %s.pub.\nGive verifiers the public key:\n", out, out)
	_, err = stdout.Write(pub)
	return err
}

// openReadOnly opens an existing database file without changing it: no
// migration, no journal mode change. Closing the pool closes it all: a
// read-only db.DB has no writer.
func openReadOnly(ctx context.Context, path string) (*sql.DB, error) {
	if path == "" {
		return nil, errors.New("--db FILE or URL is required (or set SHARESVC_DB)")
	}
	d, err := db.OpenReadOnly(ctx, path)
	if err != nil {
		return nil, err
	}
	if ok, err := d.HasTable(ctx, "audit_events"); err != nil || !ok {
		d.Close()
		return nil, fmt.Errorf("%s is not a sharesvc database (no audit_events table)", db.Redact(path))
	}
	return d.Read, nil
}

type auditVerifyCmd struct {
	DB         string         `name:"db" envvar:"SHARESVC_DB" placeholder:"FILE|URL" help:"Verify this database offline: a SQLite file (a copy is fine) or postgres:// URL."`
	Checkpoint string         `name:"checkpoint" placeholder:"FILE|DIR" help:"A checkpoint file, or a directory of them, all of which are checked (default: the database path + \"-checkpoints\" when it exists)."`
	PublicKey  string         `name:"public-key" placeholder:"FILE" help:"The checkpoint key's public key (PEM, or 32 bytes in hex); without it the key inside each checkpoint is used."`
	Anchor     anchorSettings `embed:""`
	PathStyle  bool           `name:"s3-path-style" envvar:"SHARESVC_S3_PATH_STYLE" help:"Address the anchor bucket as http://endpoint/bucket/key."`
	auditRemote
}

func (c *auditVerifyCmd) Run(e *runEnv) error {
	ctx, stdout, getenv := e.ctx, e.stdout, e.getenv
	if cl, err := c.client("audit verify", c.DB); err != nil || cl != nil {
		if err != nil {
			return err
		}
		return c.verifyRemote(e, cl)
	}
	path, cpPath, pubPath, pathStyle := c.DB, c.Checkpoint, c.PublicKey, c.PathStyle
	an := c.Anchor
	an.readEnv(getenv)
	if err := an.validate(); err != nil {
		return fmt.Errorf("audit verify: %w", err)
	}
	var o audit.VerifyOptions
	if pubPath != "" {
		b, err := os.ReadFile(pubPath)
		if err != nil {
			return fmt.Errorf("--public-key: %w", err)
		}
		if o.PublicKey, err = audit.ParsePublicKey(b); err != nil {
			return fmt.Errorf("--public-key: %w", err)
		}
	}
	cps, err := readCheckpoints(path, cpPath)
	if err != nil {
		return err
	}
	o.Checkpoint, o.Checkpoints = cps.Checkpoint, cps.Checkpoints
	var anchored int
	if an.Bucket != "" {
		cfg, err := awsConfig(ctx, getenv)
		if err != nil {
			return fmt.Errorf("audit verify: %w", err)
		}
		a, err := an.build(ctx, cfg, getenv, pathStyle)
		if err != nil {
			return fmt.Errorf("audit verify: %w", err)
		}
		list, err := a.List(ctx)
		if err != nil {
			return fmt.Errorf("audit verify: -anchor-bucket %s: %w", an.Bucket, err)
		}
		anchored = len(list)
		if n := a.Foreign(); n > 0 {
			fmt.Fprintf(stdout, "warning: %d object versions under %s in %s are not checkpoints: something else wrote there\n", n, anchorPrefix, an.Bucket)
		}
		o.Checkpoints = append(o.Checkpoints, list...)
		for i := range list {
			if o.Checkpoint == nil || list[i].Seq > o.Checkpoint.Seq {
				o.Checkpoint = &list[i]
			}
		}
	}
	d, err := openReadOnly(ctx, path)
	if err != nil {
		return fmt.Errorf("audit verify: %w", err)
	}
	defer d.Close()
	res, err := audit.VerifyWith(ctx, d, o)
	if err != nil {
		if errors.Is(err, audit.ErrTampered) || errors.Is(err, audit.ErrBadSignature) {
			fmt.Fprintf(stdout, "FAILED after %d good rows: %v\n", res.Rows, err)
			return fmt.Errorf("audit verify: %s does not verify (first bad row: %d)", db.Redact(path), res.BadSeq)
		}
		return fmt.Errorf("audit verify: %w", err)
	}
	if res.Rows == 0 {
		fmt.Fprintln(stdout, "OK: the audit log is empty")
	} else {
		fmt.Fprintf(stdout, "OK: rows %d..%d (%d) verify; head %x\n", res.FirstSeq, res.LastSeq, res.Rows, res.Head)
	}
	if res.PrunedThrough > 0 {
		fmt.Fprintf(stdout, "rows 1..%d were removed by an audited prune\n", res.PrunedThrough)
	}
	if o.Checkpoint != nil {
		trust := "signed by the given public key"
		if o.PublicKey == nil {
			trust = "signature checked with the key it carries only; pass --public-key to pin it"
		}
		state := "matches"
		if !res.CheckpointMatched {
			state = "predates the pruned range and cannot be compared"
		}
		fmt.Fprintf(stdout, "checkpoint of row %d (%s) %s; %s\n", o.Checkpoint.Seq,
			o.Checkpoint.At.Format(time.RFC3339), state, trust)
		if len(o.Checkpoints) > 0 {
			fmt.Fprintf(stdout, "%d checkpoints checked (%d anchored in %s; %d predate the pruned range)\n",
				len(o.Checkpoints), anchored, an.Bucket, res.CheckpointsPruned)
		}
	} else {
		fmt.Fprintln(stdout, "no checkpoint given: a cut-off tail would go unnoticed (use --checkpoint)")
	}
	return nil
}

// auditFilter is the filter flags of audit list and export.
type auditFilter struct {
	LinkID    string `name:"link-id" placeholder:"ID" help:"Only this link (lnk_…)."`
	Actor     string `name:"actor" placeholder:"NAME" help:"Only this actor (a token name, or client)."`
	Action    string `name:"action" placeholder:"ACTION" help:"Only this action (link.access, link.create, …)."`
	Outcome   string `name:"outcome" placeholder:"OUTCOME" help:"Only this outcome (minted, denied, nothing_minted, unavailable, ok)."`
	Reason    string `name:"reason" placeholder:"REASON" help:"Only this reason (not_found, revoked, …)."`
	ClientIP  string `name:"client-ip" placeholder:"ADDR" help:"Only this client address (converted with --audit-ip-mode/--audit-ip-key, or give the stored form)."`
	RequestID string `name:"request-id" placeholder:"ID" help:"Only the row of this X-Request-Id."`
	Bucket    string `name:"bucket" placeholder:"BUCKET" help:"Only rows whose link points into this bucket."`
	KeyPrefix string `name:"key-prefix" placeholder:"PREFIX" help:"Only rows whose link's object key starts with this (exact bytes; % and _ are literal)."`
	Recipient string `name:"recipient" placeholder:"EMAIL" help:"Only rows of the links sent by email to this address."`
	Since     string `name:"since" placeholder:"TIME" help:"Rows at or after this time (RFC 3339, Unix seconds, or a duration ago such as 7d)."`
	Until     string `name:"until" placeholder:"TIME" help:"Rows before this time (RFC 3339, Unix seconds, or a duration ago such as 12h)."`
	IPMode    string `name:"audit-ip-mode" envvar:"SHARESVC_AUDIT_IP_MODE" default:"full" help:"The server's client IP mode, to convert --client-ip."`
	IPKey     string `name:"audit-ip-key" envvar:"SHARESVC_AUDIT_IP_KEY" placeholder:"KEY" help:"The server's client IP key, for hash mode."`
}

// filter returns the audit filter the flags describe.
// limit and before are list's page (0 for export).
func (f *auditFilter) filter(limit int, before int64) (audit.Filter, error) {
	flt := audit.Filter{LinkID: f.LinkID, Actor: f.Actor, Action: f.Action, Outcome: f.Outcome, Reason: f.Reason,
		ClientIP: f.ClientIP, RequestID: f.RequestID, Bucket: f.Bucket, KeyPrefix: f.KeyPrefix, Recipient: f.Recipient,
		Limit: limit, Before: before}
	err := finishFilter(&flt, f.Since, f.Until, &auditSettings{IPMode: f.IPMode, IPKey: f.IPKey})
	return flt, err
}

func finishFilter(flt *audit.Filter, since, until string, ip *auditSettings) error {
	var err error
	if flt.Since, err = audit.ParseTimeAt("--since", since, time.Now()); err != nil {
		return err
	}
	if flt.Until, err = audit.ParseTimeAt("--until", until, time.Now()); err != nil {
		return err
	}
	if flt.ClientIP != "" && !strings.HasPrefix(flt.ClientIP, "hmac:") {
		p, err := ip.ipPrivacy()
		if err != nil {
			return err
		}
		flt.ClientIP = p.Apply(flt.ClientIP)
	}
	return flt.Validate()
}

type auditListCmd struct {
	DB string `name:"db" envvar:"SHARESVC_DB" placeholder:"FILE|URL" help:"Read this database offline: a SQLite file or postgres:// URL."`
	auditRemote
	auditFilter
	Limit  int   `name:"limit" default:"50" help:"Rows to show (at most 1000)."`
	Cursor int64 `name:"cursor" placeholder:"SEQ" help:"Show rows before this sequence number (from the previous page)."`
	JSON   bool  `name:"json" help:"Print JSON Lines instead of a table."`
}

func (c *auditListCmd) Run(e *runEnv) error {
	ctx, stdout, stderr, path, asJSON := e.ctx, e.stdout, e.stderr, c.DB, c.JSON
	if cl, err := c.client("audit list", path); err != nil || cl != nil {
		if err != nil {
			return err
		}
		return c.listRemote(e, cl)
	}
	flt, err := c.filter(c.Limit, c.Cursor)
	if err != nil {
		return fmt.Errorf("audit list: %w", err)
	}
	d, err := openReadOnly(ctx, path)
	if err != nil {
		return fmt.Errorf("audit list: %w", err)
	}
	defer d.Close()
	evs, err := audit.List(ctx, d, flt)
	if err != nil {
		return fmt.Errorf("audit list: %w", err)
	}
	if asJSON {
		var b []byte
		for i := range evs {
			b = append(evs[i].AppendJSON(b[:0]), '\n')
			if _, err := stdout.Write(b); err != nil {
				return err
			}
		}
	} else {
		rows := make([][]string, 0, len(evs))
		for _, ev := range evs {
			rows = append(rows, []string{strconv.FormatInt(ev.Seq, 10), ev.At.Format("2006-01-02 15:04:05.000Z"),
				ev.Action, ev.Actor, dash(ev.LinkID), dash(objectText(ev.Object)), ev.Outcome, dash(ev.Reason), dash(ev.ClientIP), dash(ev.RequestID)})
		}
		if err := table(stdout, []string{"SEQ", "AT", "ACTION", "ACTOR", "LINK", "OBJECT", "OUTCOME", "REASON", "CLIENT", "REQUEST"}, rows); err != nil {
			return err
		}
	}
	if len(evs) > 0 && len(evs) == flt.Limit && evs[len(evs)-1].Seq > 1 {
		fmt.Fprintf(stderr, "more: add --cursor %d\n", evs[len(evs)-1].Seq)
	}
	return nil
}

// objectText is a row's object as bucket/key, or "" for none.
func objectText(o *audit.Object) string {
	if o == nil {
		return ""
	}
	return o.Bucket + "/" + o.Key
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

type auditExportCmd struct {
	DB string `name:"db" envvar:"SHARESVC_DB" placeholder:"FILE|URL" help:"Read this database offline: a SQLite file or postgres:// URL."`
	auditRemote
	auditFilter
	Format string `name:"format" default:"jsonl" help:"csv or jsonl."`
	Out    string `name:"out" placeholder:"FILE" help:"Write to this file (created 0600; never overwritten) instead of standard output."`
}

func (c *auditExportCmd) Run(e *runEnv) error {
	ctx, stdout, stderr, path, out := e.ctx, e.stdout, e.stderr, c.DB, c.Out
	fm, err := audit.ParseFormat(c.Format)
	if err != nil {
		return fmt.Errorf("audit export: %w", err)
	}
	if cl, err := c.client("audit export", path); err != nil || cl != nil {
		if err != nil {
			return err
		}
		return c.exportRemote(e, cl, string(fm))
	}
	flt, err := c.filter(0, 0)
	if err != nil {
		return fmt.Errorf("audit export: %w", err)
	}
	d, err := openReadOnly(ctx, path)
	if err != nil {
		return fmt.Errorf("audit export: %w", err)
	}
	defer d.Close()
	w := stdout
	var fh *os.File
	if out != "" {
		if fh, err = os.OpenFile(out, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600); err != nil {
			return fmt.Errorf("audit export: %w", err)
		}
		w = fh
	}
	n, err := audit.Export(ctx, d, flt, fm, w)
	if fh != nil {
		if cerr := fh.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		return fmt.Errorf("audit export: %w", err)
	}
	fmt.Fprintf(stderr, "exported %d events\n", n)
	return nil
}

type auditPruneCmd struct {
	DB            string        `name:"db" envvar:"SHARESVC_DB" default:"sharesvc.db" help:"SQLite database file or postgres:// URL."`
	OlderThan     time.Duration `name:"older-than" help:"Remove events older than this, e.g. 2160h (required)."`
	CheckpointKey string        `name:"checkpoint-key" envvar:"SHARESVC_CHECKPOINT_KEY" placeholder:"FILE" help:"Ed25519 private key file that signs the anchor checkpoint (required)."`
	CheckpointDir string        `name:"checkpoint-dir" envvar:"SHARESVC_CHECKPOINT_DIR" placeholder:"DIR" help:"Directory for checkpoints (default: the database path + \"-checkpoints\")."`
}

func (c *auditPruneCmd) Run(e *runEnv) error {
	ctx, stdout, path, olderThan := e.ctx, e.stdout, c.DB, c.OlderThan
	a := auditSettings{CheckpointKey: c.CheckpointKey, CheckpointDir: c.CheckpointDir}
	if olderThan < time.Hour {
		return errors.New("audit prune: --older-than must be at least 1h (e.g. 2160h for 90 days)")
	}
	if a.CheckpointKey == "" {
		return errors.New("audit prune: --checkpoint-key is required: the cut is anchored by a signed checkpoint")
	}
	a.IPMode = "full" // build needs a valid mode; prune records no client address
	d, err := db.Open(ctx, path)
	if err != nil {
		return fmt.Errorf("audit prune: %w", err)
	}
	defer d.Close()
	setup, err := a.build(d.Read, path, nil)
	if err != nil {
		return fmt.Errorf("audit prune: %w", err)
	}
	log, err := audit.Open(ctx, d.Write, audit.Options{})
	if err != nil {
		return fmt.Errorf("audit prune: %w", err)
	}
	defer log.Close()
	var total int64
	for {
		res, err := audit.Prune(ctx, log, d.Read, audit.PruneOptions{Before: time.Now().Add(-olderThan), Actor: "cli",
			Checkpointer: setup.checkpointer})
		if err != nil {
			return fmt.Errorf("audit prune: %w", err)
		}
		if res.Rows == 0 {
			break
		}
		total += res.Rows
		fmt.Fprintf(stdout, "removed rows through %d (%d rows); anchor checkpoint of row %d written\n", res.ThroughSeq, res.Rows, res.Anchor.Seq)
	}
	if total == 0 {
		fmt.Fprintln(stdout, "nothing older than", olderThan)
	}
	return nil
}
