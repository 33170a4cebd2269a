package health

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"sync"
	"time"

	"github.com/sharesvc/sharesvc/internal/metrics"
	"github.com/sharesvc/sharesvc/internal/sts"
)

// Canary results, as counted by sharesvc_canary_runs_total.
const (
	CanaryOK         = "ok"
	CanarySignError  = "sign_error"  // no grant or no presigned URL
	CanaryFetchError = "fetch_error" // the URL could not be fetched at all
	CanaryBadStatus  = "bad_status"  // S3 answered, but not 200
)

// ErrCanary matches every canary failure.
var ErrCanary = errors.New("canary failed")

// CanaryOptions configure a Canary. Signer, Bucket and Key are required.
type CanaryOptions struct {
	Signer *sts.Signer
	// Bucket and Key name a small object the role may read.
	Bucket, Key string
	// Interval between runs. Default 1m.
	Interval time.Duration
	// TTL of the URL minted. Default 30s.
	TTL time.Duration
	// Client fetches the URL; nil means a client with a 10 s timeout.
	Client *http.Client
	// Clock is shared with the signer; nil means time.Now.
	Clock   func() time.Time
	Metrics *metrics.Metrics
	Logger  *slog.Logger
}

// Canary mints a presigned GET for a known object and fetches it, the way
// a user's browser would. Only that proves the role session is accepted by
// S3 and our clock agrees with S3's: a GetCallerIdentity call proves
// neither. It is not a link access and writes no audit row.
type Canary struct {
	o CanaryOptions

	mu   sync.Mutex
	last canaryResult
}

type canaryResult struct {
	at     time.Time // zero: no run yet
	result string
	err    error
}

// NewCanary returns a Canary, or an error naming what is missing.
func NewCanary(o CanaryOptions) (*Canary, error) {
	switch {
	case o.Signer == nil:
		return nil, errors.New("canary: signer is required")
	case o.Bucket == "" || o.Key == "":
		return nil, errors.New("canary: bucket and key are both required")
	}
	if o.Interval <= 0 {
		o.Interval = time.Minute
	}
	if o.TTL <= 0 {
		o.TTL = 30 * time.Second
	}
	if o.Client == nil {
		o.Client = &http.Client{Timeout: 10 * time.Second}
	}
	if o.Clock == nil {
		o.Clock = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return &Canary{o: o}, nil
}

// Run runs the canary now and then every Interval until ctx ends.
func (c *Canary) Run(ctx context.Context) {
	t := time.NewTicker(c.o.Interval)
	defer t.Stop()
	for {
		c.RunOnce(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// RunOnce mints and fetches the canary object once and returns nil or an
// error matching ErrCanary. The error never holds the URL.
func (c *Canary) RunOnce(ctx context.Context) error {
	start := time.Now()
	result, err := c.run(ctx)
	d := time.Since(start)
	at := c.o.Clock()
	if c.o.Metrics != nil {
		c.o.Metrics.ObserveCanary(result, d, at)
	}
	if err != nil {
		err = fmt.Errorf("%w: %s: %w", ErrCanary, result, err)
		c.o.Logger.Warn("canary failed", "result", result, "duration_ms", float64(d.Microseconds())/1000, "err", err)
	}
	c.mu.Lock()
	c.last = canaryResult{at: at, result: result, err: err}
	c.mu.Unlock()
	return err
}

func (c *Canary) run(ctx context.Context) (string, error) {
	g, err := c.o.Signer.Grant(ctx, c.o.TTL)
	if err != nil {
		return CanarySignError, err
	}
	loc, err := c.o.Signer.Presign(g, sts.Request{Method: http.MethodGet, Bucket: c.o.Bucket, Key: c.o.Key})
	if err != nil {
		return CanarySignError, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, loc, nil)
	if err != nil {
		return CanarySignError, errors.New("presigned URL does not parse")
	}
	resp, err := c.o.Client.Do(req)
	if err != nil {
		// *url.Error quotes the URL, session token and signature included.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return CanaryFetchError, err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode != http.StatusOK {
		// Only S3's error code is kept: the rest of an S3 error body can
		// echo the canonical request, security token included.
		code := "unknown"
		if m := s3Code.FindSubmatch(body); m != nil {
			code = string(m[1])
		}
		return CanaryBadStatus, fmt.Errorf("S3 answered %d %s", resp.StatusCode, code)
	}
	return CanaryOK, nil
}

var s3Code = regexp.MustCompile(`<Code>([A-Za-z]{1,64})</Code>`)

// check is the readiness view: the last run succeeded and is not stale.
func (c *Canary) check(now time.Time) (string, error) {
	c.mu.Lock()
	last := c.last
	c.mu.Unlock()
	switch {
	case last.at.IsZero():
		return "no_result", errors.New("canary has not run yet")
	case last.err != nil:
		return "failing", last.err
	case now.Sub(last.at) > 3*c.o.Interval:
		return "stale", fmt.Errorf("last canary run was %s ago", now.Sub(last.at).Truncate(time.Second))
	}
	return "", nil
}
