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

// CheckpointOptions tune a Checkpointer.
type CheckpointOptions struct {
	// Dir is where checkpoint files are written; required.
	Dir string
	// Store, if set, also receives every checkpoint, under Prefix + name.
	Store  ObjectStore
	Prefix string
	// Clock defaults to time.Now.
	Clock func() time.Time
}

// Checkpointer writes signed checkpoints of the log's head.
type Checkpointer struct {
	db  *sql.DB
	key ed25519.PrivateKey
	o   CheckpointOptions

	mu     sync.Mutex
	latest *Checkpoint
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
	c := &Checkpointer{db: db, key: key, o: o}
	if cp, err := ReadCheckpoint(o.Dir); err == nil && cp.Verify(c.PublicKey()) == nil {
		c.latest = cp
	}
	return c, nil
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

// Write signs a checkpoint of the log's current head and stores it. Errors:
// ErrNoCheckpoint if the log is empty, or the read, file or store error.
func (c *Checkpointer) Write(ctx context.Context) (Checkpoint, error) {
	var (
		seq  int64
		head []byte
	)
	err := c.db.QueryRowContext(ctx, `SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1`).Scan(&seq, &head)
	if errors.Is(err, sql.ErrNoRows) {
		return Checkpoint{}, fmt.Errorf("%w: the audit log is empty", ErrNoCheckpoint)
	}
	if err != nil {
		return Checkpoint{}, fmt.Errorf("checkpoint: read head: %w", err)
	}
	return c.WriteAt(ctx, seq, head)
}

// WriteAt signs a checkpoint of row seq with hash head and stores it in the
// directory and, if configured, the object store.
func (c *Checkpointer) WriteAt(ctx context.Context, seq int64, head []byte) (Checkpoint, error) {
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
	if c.o.Store != nil {
		if err := c.o.Store.PutObject(ctx, c.o.Prefix+name, b); err != nil {
			return cp, fmt.Errorf("checkpoint: store %s: %w", c.o.Prefix+name, err)
		}
	}
	c.mu.Lock()
	if c.latest == nil || cp.Seq >= c.latest.Seq {
		c.latest = &cp
	}
	c.mu.Unlock()
	return cp, nil
}

// Run writes a checkpoint every interval while the head has moved, until
// ctx ends. onErr, if not nil, is told of failures.
func (c *Checkpointer) Run(ctx context.Context, interval time.Duration, onErr func(error)) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := c.WriteIfMoved(ctx); err != nil && onErr != nil && ctx.Err() == nil {
			onErr(err)
		}
	}
}

// WriteIfMoved writes a checkpoint if the log has rows and its head is not
// the latest checkpoint's (so an idle log is not checkpointed again).
func (c *Checkpointer) WriteIfMoved(ctx context.Context) error {
	var seq int64
	if err := c.db.QueryRowContext(ctx, `SELECT COALESCE(MAX(seq), 0) FROM audit_events`).Scan(&seq); err != nil {
		return fmt.Errorf("checkpoint: read head: %w", err)
	}
	if last, ok := c.Latest(); seq == 0 || ok && last.Seq == seq {
		return nil
	}
	_, err := c.Write(ctx)
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
