package audit

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Checkpoint errors.
var (
	// ErrBadSignature means a checkpoint's signature does not verify, or it
	// was signed by another key than the one trusted.
	ErrBadSignature = errors.New("checkpoint signature does not verify")
	// ErrNoCheckpoint means no checkpoint was found where one was looked for.
	ErrNoCheckpoint = errors.New("no checkpoint")
	// ErrNotConfigured means checkpoints are not set up (no signing key).
	ErrNotConfigured = errors.New("audit checkpoints are not configured")
	// ErrChainBroken means the log no longer extends the latest checkpoint
	// (its row is gone or different, or a row after it does not verify), so
	// no new checkpoint is signed. It wraps ErrTampered.
	ErrChainBroken = fmt.Errorf("%w: the log contradicts the latest checkpoint", ErrTampered)
)

// checkpointDomain separates checkpoint signatures from any other use of
// the key.
const checkpointDomain = "sharesvc.audit.checkpoint.v1\n"

// Checkpoint is a signed statement that the log had row Seq with hash Head
// at time At. Kept outside the database (a file, an S3 bucket with Object
// Lock), it lets a verifier notice rows cut off the end of the log, and it
// anchors what remains after a prune.
type Checkpoint struct {
	Seq       int64
	Head      []byte // hash of row Seq
	At        time.Time
	PublicKey ed25519.PublicKey
	Signature []byte
}

// message is what is signed: a fixed text form, independent of JSON.
func (c *Checkpoint) message() []byte {
	return fmt.Appendf(nil, "%sseq %d\nhead %x\nat %d\n", checkpointDomain, c.Seq, c.Head, c.At.UnixMicro())
}

// SignCheckpoint returns a checkpoint of (seq, head) at at, signed with key.
func SignCheckpoint(key ed25519.PrivateKey, seq int64, head []byte, at time.Time) Checkpoint {
	c := Checkpoint{Seq: seq, Head: append([]byte(nil), head...), At: time.UnixMicro(at.UnixMicro()).UTC(),
		PublicKey: key.Public().(ed25519.PublicKey)}
	c.Signature = ed25519.Sign(key, c.message())
	return c
}

// Verify checks the signature. With trusted set, the checkpoint must also be
// signed by that key; without it, only the key carried in the checkpoint is
// used, which proves integrity of the file but not who wrote it. It returns
// ErrBadSignature (wrapped).
func (c *Checkpoint) Verify(trusted ed25519.PublicKey) error {
	if len(c.PublicKey) != ed25519.PublicKeySize || len(c.Signature) != ed25519.SignatureSize || len(c.Head) != HashSize {
		return fmt.Errorf("%w: malformed checkpoint", ErrBadSignature)
	}
	if trusted != nil && !bytes.Equal(trusted, c.PublicKey) {
		return fmt.Errorf("%w: signed by another key than the one given", ErrBadSignature)
	}
	if !ed25519.Verify(c.PublicKey, c.message(), c.Signature) {
		return fmt.Errorf("%w: checkpoint of row %d", ErrBadSignature, c.Seq)
	}
	return nil
}

type checkpointJSON struct {
	Seq       int64  `json:"seq"`
	Head      string `json:"head"`
	At        string `json:"at"`
	PublicKey []byte `json:"public_key"`
	Signature []byte `json:"signature"`
}

// MarshalJSON encodes the checkpoint as its file format: seq, head (hex),
// at (RFC 3339, microseconds), public_key and signature (base64).
func (c Checkpoint) MarshalJSON() ([]byte, error) {
	return json.Marshal(checkpointJSON{Seq: c.Seq, Head: hex.EncodeToString(c.Head),
		At: c.At.UTC().Format("2006-01-02T15:04:05.000000Z07:00"), PublicKey: c.PublicKey, Signature: c.Signature})
}

// UnmarshalJSON decodes the file format written by MarshalJSON.
func (c *Checkpoint) UnmarshalJSON(b []byte) error {
	var j checkpointJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	head, err := hex.DecodeString(j.Head)
	if err != nil {
		return fmt.Errorf("checkpoint head: %w", err)
	}
	at, err := time.Parse(time.RFC3339Nano, j.At)
	if err != nil {
		return fmt.Errorf("checkpoint time: %w", err)
	}
	*c = Checkpoint{Seq: j.Seq, Head: head, At: at.UTC(), PublicKey: j.PublicKey, Signature: j.Signature}
	return nil
}

// ReadCheckpoint reads a checkpoint file, or the newest checkpoint in a
// directory of them. It does not check the signature. Errors: ErrNoCheckpoint
// for an empty directory, or the read or decode error.
func ReadCheckpoint(path string) (*Checkpoint, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("read checkpoint: %w", err)
	}
	if fi.IsDir() {
		names, err := checkpointFiles(path)
		if err != nil {
			return nil, err
		}
		if len(names) == 0 {
			return nil, fmt.Errorf("%w in %s", ErrNoCheckpoint, path)
		}
		path = filepath.Join(path, names[len(names)-1])
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read checkpoint: %w", err)
	}
	var c Checkpoint
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, fmt.Errorf("read checkpoint %s: %w", path, err)
	}
	return &c, nil
}

// ReadCheckpointDir reads every checkpoint file in dir, oldest first,
// without checking signatures (VerifyWith does). Errors: ErrNoCheckpoint
// for a directory without any, or the first file that cannot be read or
// decoded.
func ReadCheckpointDir(dir string) ([]Checkpoint, error) {
	names, err := checkpointFiles(dir)
	if err != nil {
		return nil, err
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("%w in %s", ErrNoCheckpoint, dir)
	}
	out := make([]Checkpoint, 0, len(names))
	for _, n := range names {
		b, err := os.ReadFile(filepath.Join(dir, n))
		if err != nil {
			return nil, fmt.Errorf("read checkpoint: %w", err)
		}
		var cp Checkpoint
		if err := json.Unmarshal(b, &cp); err != nil {
			return nil, fmt.Errorf("read checkpoint %s: %w", n, err)
		}
		out = append(out, cp)
	}
	return out, nil
}

// checkpointFiles lists the checkpoint files in dir, oldest (lowest seq)
// first.
func checkpointFiles(dir string) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("read checkpoints: %w", err)
	}
	var names []string
	for _, e := range ents {
		if n := e.Name(); strings.HasPrefix(n, "checkpoint-") && strings.HasSuffix(n, ".json") && e.Type().IsRegular() {
			names = append(names, n)
		}
	}
	sort.Strings(names) // fixed-width sequence numbers sort numerically
	return names, nil
}

// checkpointName is the file and object name of a checkpoint: fixed-width
// so that names sort by sequence number.
func checkpointName(c *Checkpoint) string {
	return fmt.Sprintf("checkpoint-%020d-%d.json", c.Seq, c.At.UnixMicro())
}

// ObjectStore stores checkpoints off the machine, e.g. in an S3 bucket with
// Object Lock so that not even the service can change them later.
type ObjectStore interface {
	// PutObject stores body under key.
	PutObject(ctx context.Context, key string, body []byte) error
}

// Anchor keeps checkpoints where this host cannot change them later, such
// as an S3 bucket with Object Lock in compliance mode.
type Anchor interface {
	// Put stores cp, whose file form is body, for good.
	Put(ctx context.Context, cp Checkpoint, body []byte) error
	// List returns every checkpoint stored, every version of each, without
	// checking their signatures.
	List(ctx context.Context) ([]Checkpoint, error)
}

// CheckpointOptions tune a Checkpointer.
type CheckpointOptions struct {
	// Dir is where checkpoint files are written; required.
	Dir string
	// Store, if set, also receives every checkpoint, under Prefix + name.
	Store  ObjectStore
	Prefix string
	// Clock defaults to time.Now.
	Clock func() time.Time
	// Anchor, if set, also receives every checkpoint, and what it holds
	// counts as much as the files (see LoadAnchors and Verify).
	Anchor Anchor
	// OnCheck, when set, is told the outcome of every check of the log
	// against the checkpoints (nil, or an error matching ErrTampered).
	OnCheck func(error)
}

// Checkpointer writes signed checkpoints of the log's head.
type Checkpointer struct {
	db  *sql.DB
	key ed25519.PrivateKey
	o   CheckpointOptions

	mu     sync.Mutex
	latest *Checkpoint  // the one naming the highest row
	all    []Checkpoint // every checkpoint signed by key, in Dir or written since
	// markSeq and markHash are the last row found to extend latest, so
	// that the next check hashes only rows after it.
	markSeq  int64
	markHash []byte
	// broken is the last check's failure, nil when the log extends latest.
	// Atomic: readiness and metrics read it while a write holds mu
	// (which may wait on S3).
	broken atomic.Pointer[error]

	verifier *Verifier
}

// NewCheckpointer returns a Checkpointer reading the head from db and
// signing with key. It creates Dir. Errors wrap ErrConfig.
func NewCheckpointer(db *sql.DB, key ed25519.PrivateKey, o CheckpointOptions) (*Checkpointer, error) {
	if len(key) != ed25519.PrivateKeySize {
		return nil, fmt.Errorf("%w: checkpoint key must be an Ed25519 private key", ErrConfig)
	}
	if o.Dir == "" {
		return nil, fmt.Errorf("%w: checkpoint directory is required", ErrConfig)
	}
	if err := os.MkdirAll(o.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("%w: checkpoint directory: %v", ErrConfig, err)
	}
	if o.Clock == nil {
		o.Clock = time.Now
	}
	c := &Checkpointer{db: db, key: key, o: o, verifier: NewVerifier(db)}
	all, err := ReadCheckpoints(o.Dir, c.PublicKey())
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrConfig, err)
	}
	for i := range all {
		c.remember(all[i])
	}
	return c, nil
}

// ReadCheckpoints reads every checkpoint file in dir, oldest first, and
// keeps those that trusted signed; files signed by another key (an earlier
// one) are left out. Errors: the directory's read error.
func ReadCheckpoints(dir string, trusted ed25519.PublicKey) ([]Checkpoint, error) {
	names, err := checkpointFiles(dir)
	if err != nil {
		return nil, err
	}
	var out []Checkpoint
	for _, n := range names {
		b, err := os.ReadFile(filepath.Join(dir, n))
		if err != nil {
			return nil, fmt.Errorf("read checkpoint: %w", err)
		}
		var cp Checkpoint
		if json.Unmarshal(b, &cp) != nil || cp.Verify(trusted) != nil {
			continue
		}
		out = append(out, cp)
	}
	return out, nil
}

// remember adds cp to the checkpoints kept in memory. c.mu must be held,
// or c not yet shared.
func (c *Checkpointer) remember(cp Checkpoint) {
	c.all = append(c.all, cp)
	if c.latest == nil || cp.Seq >= c.latest.Seq {
		l := cp
		c.latest = &l
	}
}

// Checkpoints returns every checkpoint this key signed that the
// Checkpointer knows of (in Dir at start, or written since), oldest first.
func (c *Checkpointer) Checkpoints() []Checkpoint {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Checkpoint(nil), c.all...)
}

// Broken returns the failure of the last check of the log against the
// latest checkpoint (an error matching ErrChainBroken), or nil.
func (c *Checkpointer) Broken() error {
	if p := c.broken.Load(); p != nil {
		return *p
	}
	return nil
}

// Check checks that the log still extends the latest checkpoint (see
// Write) without signing anything, and records the outcome for Broken.
// Errors: ErrChainBroken (wrapped), or the database's error.
func (c *Checkpointer) Check(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, _, err := c.extends(ctx)
	return err
}

// Verify verifies the whole log against every checkpoint, the anchored ones
// read back first, incrementally (see Verifier), and records a failure for
// Broken. Errors are VerifyWith's, or the anchor's.
func (c *Checkpointer) Verify(ctx context.Context) (VerifyResult, *Checkpoint, error) {
	if _, err := c.LoadAnchors(ctx); err != nil {
		return VerifyResult{}, nil, err
	}
	c.mu.Lock()
	all := append([]Checkpoint(nil), c.all...)
	var latest *Checkpoint
	if c.latest != nil {
		l := *c.latest
		latest = &l
	}
	c.mu.Unlock()
	r, err := c.verifier.Verify(ctx, VerifyOptions{Checkpoint: latest, PublicKey: c.PublicKey(), Checkpoints: all, SignaturesChecked: true})
	if errors.Is(err, ErrTampered) {
		c.mu.Lock()
		c.setBroken(fmt.Errorf("%w: %w", ErrChainBroken, err))
		c.mu.Unlock()
	}
	return r, latest, err
}

// setBroken records the outcome of a check. c.mu must be held.
func (c *Checkpointer) setBroken(err error) {
	if err == nil {
		c.broken.Store(nil)
	} else {
		c.broken.Store(&err)
	}
	if c.o.OnCheck != nil {
		c.o.OnCheck(err)
	}
}

// extends checks that the latest checkpoint's row is still in the log with
// its hash (or, when an audited prune removed it, that the first remaining
// row links to it) and that the chain verifies from there to the head, and
// returns the head it verified. Only rows after the last one found good are
// hashed again. c.mu must be held. Errors: ErrChainBroken (wrapped), or
// the database's error.
func (c *Checkpointer) extends(ctx context.Context) (int64, []byte, error) {
	seq, head, err := c.walk(ctx)
	if errors.Is(err, ErrTampered) && c.reload() {
		// Another process (such as "sharesvc audit prune") may have
		// signed a newer checkpoint, e.g. the anchor of rows it removed.
		seq, head, err = c.walk(ctx)
	}
	if errors.Is(err, ErrTampered) {
		err = fmt.Errorf("%w: %w", ErrChainBroken, err)
		c.markSeq, c.markHash = 0, nil
		c.setBroken(err)
		return 0, nil, err
	}
	if err != nil {
		return 0, nil, err
	}
	c.markSeq, c.markHash = seq, head
	c.setBroken(nil)
	return seq, head, nil
}

// reload adds the checkpoints in Dir that are not known yet, and reports
// whether the latest changed. Checkpoints known but gone from Dir are kept.
// c.mu must be held.
func (c *Checkpointer) reload() bool {
	all, err := ReadCheckpoints(c.o.Dir, c.PublicKey())
	if err != nil {
		return false
	}
	return c.merge(all)
}

func (c *Checkpointer) walk(ctx context.Context) (int64, []byte, error) {
	l := c.latest
	if l == nil {
		var (
			seq  int64
			head []byte
		)
		err := c.db.QueryRowContext(ctx, `SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1`).Scan(&seq, &head)
		if errors.Is(err, sql.ErrNoRows) {
			return 0, nil, nil
		}
		if err != nil {
			return 0, nil, fmt.Errorf("checkpoint: read head: %w", err)
		}
		return seq, head, nil
	}
	h, err := rowHash(ctx, c.db, l.Seq)
	if err != nil {
		return 0, nil, err
	}
	switch {
	case h != nil && !bytes.Equal(h, l.Head):
		return 0, nil, &chainError{l.Seq, fmt.Sprintf("differs from the checkpoint signed at %s", l.At.Format(time.RFC3339))}
	case h == nil:
		// Pruned (then the log starts right after it) or cut off.
		var first, last sql.NullInt64
		if err := c.db.QueryRowContext(ctx, `SELECT MIN(seq), MAX(seq) FROM audit_events`).Scan(&first, &last); err != nil {
			return 0, nil, fmt.Errorf("read audit log: %w", err)
		}
		if !last.Valid || last.Int64 < l.Seq {
			return 0, nil, &chainError{last.Int64 + 1, fmt.Sprintf("the log ends at row %d but the checkpoint signed at %s vouches for row %d",
				last.Int64, l.At.Format(time.RFC3339), l.Seq)}
		}
		if first.Int64 != l.Seq+1 {
			return 0, nil, &chainError{l.Seq, "missing, though the checkpoint signed at " + l.At.Format(time.RFC3339) + " vouches for it"}
		}
	}
	from, hash := l.Seq, l.Head
	if c.markSeq > l.Seq {
		mh, err := rowHash(ctx, c.db, c.markSeq)
		if err != nil {
			return 0, nil, err
		}
		if bytes.Equal(mh, c.markHash) {
			from, hash = c.markSeq, c.markHash
		}
	}
	seq, head, _, err := walkFrom(ctx, c.db, from, hash, nil)
	return seq, head, err
}

// PublicKey returns the key that verifies this Checkpointer's signatures.
func (c *Checkpointer) PublicKey() ed25519.PublicKey { return c.key.Public().(ed25519.PublicKey) }

// Latest returns the newest checkpoint written (or found in Dir at start).
func (c *Checkpointer) Latest() (Checkpoint, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.latest == nil {
		return Checkpoint{}, false
	}
	return *c.latest, true
}

// Write signs a checkpoint of the log's current head and stores it, but
// only if the log still extends the latest checkpoint: its row is still in
// the log with its hash and the chain verifies from there to the head.
// Errors: ErrNoCheckpoint if the log is empty, ErrChainBroken (wrapped, and
// nothing is signed), or the read, file or store error.
func (c *Checkpointer) Write(ctx context.Context) (Checkpoint, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	seq, head, err := c.extends(ctx)
	if err != nil {
		return Checkpoint{}, err
	}
	if seq == 0 {
		return Checkpoint{}, fmt.Errorf("%w: the audit log is empty", ErrNoCheckpoint)
	}
	return c.write(ctx, seq, head)
}

// WriteAt signs a checkpoint of row seq with hash head and stores it in the
// directory and, if configured, the object store, once the log is found to
// extend the latest checkpoint and to hold row seq with that hash. Errors:
// ErrChainBroken (wrapped; nothing is signed), or the read, file or store
// error.
func (c *Checkpointer) WriteAt(ctx context.Context, seq int64, head []byte) (Checkpoint, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, _, err := c.extends(ctx); err != nil {
		return Checkpoint{}, err
	}
	h, err := rowHash(ctx, c.db, seq)
	if err != nil {
		return Checkpoint{}, err
	}
	if !bytes.Equal(h, head) {
		return Checkpoint{}, fmt.Errorf("%w: row %d is not in the log with the hash to sign", ErrChainBroken, seq)
	}
	return c.write(ctx, seq, head)
}

// write signs and stores a checkpoint of (seq, head). c.mu must be held.
func (c *Checkpointer) write(ctx context.Context, seq int64, head []byte) (Checkpoint, error) {
	cp := SignCheckpoint(c.key, seq, head, c.o.Clock())
	b, err := json.MarshalIndent(cp, "", "  ")
	if err != nil {
		return cp, err
	}
	b = append(b, '\n')
	name := checkpointName(&cp)
	if err := writeFileSync(filepath.Join(c.o.Dir, name), b); err != nil {
		return cp, fmt.Errorf("checkpoint: %w", err)
	}
	// Kept from here on even if the store fails: the file exists.
	c.remember(cp)
	var errs []error
	if c.o.Store != nil {
		if err := c.o.Store.PutObject(ctx, c.o.Prefix+name, b); err != nil {
			errs = append(errs, fmt.Errorf("checkpoint: store %s: %w", c.o.Prefix+name, err))
		}
	}
	if c.o.Anchor != nil {
		if err := c.o.Anchor.Put(ctx, cp, b); err != nil {
			errs = append(errs, fmt.Errorf("checkpoint: anchor row %d: %w", cp.Seq, err))
		}
	}
	return cp, errors.Join(errs...)
}

// LoadAnchors adds the anchored checkpoints signed by this key to those
// the Checkpointer knows, so that checkpoints deleted from Dir still count,
// and returns how many the anchor holds. Without an Anchor it does
// nothing. Errors: the anchor's.
func (c *Checkpointer) LoadAnchors(ctx context.Context) (int, error) {
	if c.o.Anchor == nil {
		return 0, nil
	}
	anchored, err := c.o.Anchor.List(ctx)
	if err != nil {
		return 0, fmt.Errorf("read anchored checkpoints: %w", err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.merge(anchored)
	return len(anchored), nil
}

// merge adds the checkpoints of list that this key signed and that are not
// known yet, and reports whether the latest changed. c.mu must be held.
func (c *Checkpointer) merge(list []Checkpoint) bool {
	known := make(map[string]bool, len(c.all))
	for i := range c.all {
		known[checkpointName(&c.all[i])+string(c.all[i].Signature)] = true
	}
	before := c.latest
	for _, cp := range list {
		k := checkpointName(&cp) + string(cp.Signature)
		if known[k] || cp.Verify(c.PublicKey()) != nil {
			continue
		}
		known[k] = true
		c.remember(cp)
	}
	return c.latest != before
}

// Run writes a checkpoint every interval while the head has moved, until
// ctx ends. With lead (not nil), only at the ticks where lead says this
// process leads the job (with several instances on one database, one signs
// at a time). onErr, if not nil, is told of failures.
func (c *Checkpointer) Run(ctx context.Context, interval time.Duration, lead func(context.Context) bool, onErr func(error)) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if lead != nil && !lead(ctx) {
			continue
		}
		if err := c.WriteIfMoved(ctx); err != nil && onErr != nil && ctx.Err() == nil {
			onErr(err)
		}
	}
}

// WriteIfMoved writes a checkpoint if the log has rows and its head is not
// the latest checkpoint's (so an idle log is not checkpointed again); the
// log is checked against the latest checkpoint either way. Errors are
// Write's.
func (c *Checkpointer) WriteIfMoved(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	seq, head, err := c.extends(ctx)
	if err != nil {
		return err
	}
	if seq == 0 || c.latest != nil && c.latest.Seq == seq {
		return nil
	}
	_, err = c.write(ctx, seq, head)
	return err
}

// writeFileSync writes path through a temporary file, fsyncs it and renames
// it into place, so that a crash leaves either no file or a whole one.
func writeFileSync(path string, b []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-"+filepath.Base(path)+"-")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

// GenerateKey returns a new Ed25519 checkpoint key as PEM: the private key
// (PKCS #8) and the public key (PKIX) to give to verifiers.
func GenerateKey() (private, public []byte, err error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	pk, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, nil, err
	}
	pb, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pk}),
		pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pb}), nil
}

// ParsePrivateKey reads an Ed25519 private key from PEM (PKCS #8). Errors
// wrap ErrConfig.
func ParsePrivateKey(b []byte) (ed25519.PrivateKey, error) {
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != "PRIVATE KEY" {
		return nil, fmt.Errorf("%w: checkpoint key is not a PEM \"PRIVATE KEY\" (create one with \"sharesvc audit keygen\")", ErrConfig)
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%w: checkpoint key: %v", ErrConfig, err)
	}
	ek, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("%w: checkpoint key is not Ed25519", ErrConfig)
	}
	return ek, nil
}

// ParsePublicKey reads an Ed25519 public key from PEM (PKIX), or from the
// hex or base64 of its 32 bytes. Errors wrap ErrConfig.
func ParsePublicKey(b []byte) (ed25519.PublicKey, error) {
	if blk, _ := pem.Decode(b); blk != nil {
		k, err := x509.ParsePKIXPublicKey(blk.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%w: public key: %v", ErrConfig, err)
		}
		ek, ok := k.(ed25519.PublicKey)
		if !ok {
			return nil, fmt.Errorf("%w: public key is not Ed25519", ErrConfig)
		}
		return ek, nil
	}
	s := strings.TrimSpace(string(b))
	if raw, err := hex.DecodeString(s); err == nil && len(raw) == ed25519.PublicKeySize {
		return raw, nil
	}
	if raw, err := base64.StdEncoding.DecodeString(s); err == nil && len(raw) == ed25519.PublicKeySize {
		return raw, nil
	}
	return nil, fmt.Errorf("%w: public key must be PEM, or 32 bytes in hex or base64", ErrConfig)
}
