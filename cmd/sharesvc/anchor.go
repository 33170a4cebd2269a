package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	awssts "github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/sharesvc/sharesvc/internal/audit"
)

// anchorPrefix is where anchored checkpoints live in the anchor bucket:
// checkpoints/<seq>.json, one object version per checkpoint of that row.
const anchorPrefix = "checkpoints/"

// anchorSettings say where checkpoints are anchored and with which
// credentials. The anchor never uses the service's own long-term
// credentials: those only call AssumeRole (for the signing role, or for
// the anchor role).
type anchorSettings struct {
	Bucket    string        `name:"anchor-bucket" envvar:"SHARESVC_ANCHOR_BUCKET" placeholder:"BUCKET" help:"Also write each checkpoint to this S3 bucket, which must have Object Lock enabled, as checkpoints/SEQ.json under COMPLIANCE retention."`
	Retention time.Duration `name:"anchor-retention" envvar:"SHARESVC_ANCHOR_RETENTION" default:"8760h" help:"COMPLIANCE retention of each anchored checkpoint."`
	RoleARN   string        `name:"anchor-role-arn" envvar:"SHARESVC_ANCHOR_ROLE_ARN" placeholder:"ARN" help:"Role assumed to write anchors (or --anchor-profile, or $SHARESVC_ANCHOR_ACCESS_KEY_ID and $SHARESVC_ANCHOR_SECRET_ACCESS_KEY)."`
	Profile   string        `name:"anchor-profile" envvar:"SHARESVC_ANCHOR_PROFILE" placeholder:"PROFILE" help:"Shared AWS config profile whose credentials write anchors."`
	// AccessKeyID and SecretAccessKey come from the environment only
	// (readEnv): a secret is never a flag.
	AccessKeyID     string `kong:"-"`
	SecretAccessKey string `kong:"-"`
}

// readEnv reads the settings that are never flags.
func (a *anchorSettings) readEnv(getenv func(string) string) {
	a.AccessKeyID, a.SecretAccessKey = getenv("SHARESVC_ANCHOR_ACCESS_KEY_ID"), getenv("SHARESVC_ANCHOR_SECRET_ACCESS_KEY")
}

// validate checks the settings without any network call.
func (a *anchorSettings) validate() error {
	if a.Bucket == "" {
		if a.RoleARN != "" || a.Profile != "" || a.AccessKeyID != "" {
			return errors.New("anchor credentials are set but -anchor-bucket ($SHARESVC_ANCHOR_BUCKET) is not")
		}
		return nil
	}
	if strings.ContainsAny(a.Bucket, "/ ") {
		return fmt.Errorf("-anchor-bucket ($SHARESVC_ANCHOR_BUCKET) %q must be a bucket name", a.Bucket)
	}
	if a.Retention < time.Hour || a.Retention%(time.Second) != 0 {
		return fmt.Errorf("-anchor-retention ($SHARESVC_ANCHOR_RETENTION) %s must be whole seconds and at least 1h", a.Retention)
	}
	n := 0
	for _, set := range []bool{a.RoleARN != "", a.Profile != "", a.AccessKeyID != "" || a.SecretAccessKey != ""} {
		if set {
			n++
		}
	}
	switch {
	case n == 0:
		return errors.New("-anchor-bucket ($SHARESVC_ANCHOR_BUCKET) needs credentials of its own: -anchor-role-arn ($SHARESVC_ANCHOR_ROLE_ARN), -anchor-profile ($SHARESVC_ANCHOR_PROFILE), or $SHARESVC_ANCHOR_ACCESS_KEY_ID and $SHARESVC_ANCHOR_SECRET_ACCESS_KEY; the service's own credentials only call AssumeRole")
	case n > 1:
		return errors.New("give one of -anchor-role-arn, -anchor-profile, or $SHARESVC_ANCHOR_ACCESS_KEY_ID and $SHARESVC_ANCHOR_SECRET_ACCESS_KEY")
	case a.RoleARN != "" && !strings.HasPrefix(a.RoleARN, "arn:"):
		return fmt.Errorf("-anchor-role-arn ($SHARESVC_ANCHOR_ROLE_ARN) %q is not an ARN", a.RoleARN)
	case (a.AccessKeyID == "") != (a.SecretAccessKey == ""):
		return errors.New("$SHARESVC_ANCHOR_ACCESS_KEY_ID and $SHARESVC_ANCHOR_SECRET_ACCESS_KEY must be set together")
	}
	return nil
}

// credentials returns the anchor's own credentials. base is the service's
// configuration, whose credentials may only be used to assume the anchor
// role.
func (a *anchorSettings) credentials(ctx context.Context, base aws.Config, getenv func(string) string) (aws.CredentialsProvider, error) {
	switch {
	case a.RoleARN != "":
		client := awssts.NewFromConfig(base, func(o *awssts.Options) {
			if e := endpoint(getenv, "STS"); e != "" {
				o.BaseEndpoint = aws.String(e)
			}
		})
		p := stscreds.NewAssumeRoleProvider(client, a.RoleARN, func(o *stscreds.AssumeRoleOptions) {
			o.RoleSessionName = "sharesvc-audit-anchor"
		})
		return aws.NewCredentialsCache(p), nil
	case a.Profile != "":
		cfg, err := config.LoadDefaultConfig(ctx, config.WithSharedConfigProfile(a.Profile), config.WithRegion(base.Region))
		if err != nil {
			return nil, fmt.Errorf("-anchor-profile ($SHARESVC_ANCHOR_PROFILE): %w", err)
		}
		return cfg.Credentials, nil
	default:
		return credentials.NewStaticCredentialsProvider(a.AccessKeyID, a.SecretAccessKey, ""), nil
	}
}

// build returns the anchor, after checking that the bucket has Object Lock
// enabled (else nothing written there would be protected). It returns nil
// without a bucket.
func (a *anchorSettings) build(ctx context.Context, base aws.Config, getenv func(string) string, pathStyle bool) (*s3Anchor, error) {
	if a.Bucket == "" {
		return nil, nil
	}
	creds, err := a.credentials(ctx, base, getenv)
	if err != nil {
		return nil, err
	}
	client := s3.NewFromConfig(base, func(o *s3.Options) {
		o.Credentials = creds
		if e := endpoint(getenv, "S3"); e != "" {
			o.BaseEndpoint = aws.String(e)
		}
		o.UsePathStyle = pathStyle
	})
	an := &s3Anchor{client: client, bucket: a.Bucket, retention: a.Retention, now: time.Now,
		seen: map[string]audit.Checkpoint{}, foreign: map[string]bool{}}
	if err := an.checkLocked(ctx); err != nil {
		return nil, fmt.Errorf("-anchor-bucket ($SHARESVC_ANCHOR_BUCKET) %s: %w", a.Bucket, err)
	}
	return an, nil
}

// s3Anchor anchors checkpoints in an S3 bucket with Object Lock: each one is
// a version of checkpoints/<seq>.json under COMPLIANCE retention, which no
// one can delete or overwrite before its retain-until date.
type s3Anchor struct {
	client    *s3.Client
	bucket    string
	retention time.Duration
	now       func() time.Time

	mu      sync.Mutex
	seen    map[string]audit.Checkpoint // key + "\x00" + version id: versions never change
	foreign map[string]bool             // versions that are not checkpoints
}

// errNotLocked means the anchor bucket does not have Object Lock enabled.
var errNotLocked = errors.New("the bucket does not have Object Lock enabled (it can only be enabled when the bucket is created)")

func (a *s3Anchor) checkLocked(ctx context.Context) error {
	out, err := a.client.GetObjectLockConfiguration(ctx, &s3.GetObjectLockConfigurationInput{Bucket: aws.String(a.bucket)})
	if err != nil {
		return fmt.Errorf("read its Object Lock configuration: %w", err)
	}
	if out.ObjectLockConfiguration == nil || out.ObjectLockConfiguration.ObjectLockEnabled != s3types.ObjectLockEnabledEnabled {
		return errNotLocked
	}
	return nil
}

// Put writes cp as a new version of checkpoints/<seq>.json under
// COMPLIANCE retention, and reads the retention back: a write the bucket
// accepted without locking it protects nothing.
func (a *s3Anchor) Put(ctx context.Context, cp audit.Checkpoint, body []byte) error {
	key := fmt.Sprintf("%s%d.json", anchorPrefix, cp.Seq)
	until := a.now().Add(a.retention).UTC().Truncate(time.Second)
	out, err := a.client.PutObject(ctx, &s3.PutObjectInput{
		Bucket: aws.String(a.bucket), Key: aws.String(key), Body: bytes.NewReader(body),
		ContentType:               aws.String("application/json"),
		ObjectLockMode:            s3types.ObjectLockModeCompliance,
		ObjectLockRetainUntilDate: aws.Time(until),
		ChecksumAlgorithm:         s3types.ChecksumAlgorithmSha256, // Object Lock writes need a checksum
	})
	if err != nil {
		return fmt.Errorf("put %s: %w", key, err)
	}
	r, err := a.client.GetObjectRetention(ctx, &s3.GetObjectRetentionInput{Bucket: aws.String(a.bucket), Key: aws.String(key), VersionId: out.VersionId})
	if err != nil {
		return fmt.Errorf("read back the retention of %s: %w", key, err)
	}
	if r.Retention == nil || r.Retention.Mode != s3types.ObjectLockRetentionModeCompliance || r.Retention.RetainUntilDate == nil || r.Retention.RetainUntilDate.Before(until) {
		return fmt.Errorf("%s was stored without COMPLIANCE retention until %s", key, until.Format(time.RFC3339))
	}
	return nil
}

// List reads every version of every anchored checkpoint; versions read
// before are not fetched again. A version that is not a checkpoint (anyone
// with write access may add versions, never remove locked ones) is left
// out and counted by Foreign: it cannot hide anything, and failing on it
// would let such a writer stop every verification.
func (a *s3Anchor) List(ctx context.Context) ([]audit.Checkpoint, error) {
	var (
		out            []audit.Checkpoint
		keyMarker, vid *string
	)
	for {
		page, err := a.client.ListObjectVersions(ctx, &s3.ListObjectVersionsInput{Bucket: aws.String(a.bucket),
			Prefix: aws.String(anchorPrefix), KeyMarker: keyMarker, VersionIdMarker: vid})
		if err != nil {
			return nil, fmt.Errorf("list %s: %w", anchorPrefix, err)
		}
		for _, v := range page.Versions {
			cp, ok, err := a.get(ctx, aws.ToString(v.Key), aws.ToString(v.VersionId))
			if err != nil {
				return nil, err
			}
			if ok {
				out = append(out, cp)
			}
		}
		if !aws.ToBool(page.IsTruncated) {
			return out, nil
		}
		keyMarker, vid = page.NextKeyMarker, page.NextVersionIdMarker
	}
}

// Foreign returns how many anchored versions are not checkpoints.
func (a *s3Anchor) Foreign() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.foreign)
}

// get reads one version; ok is false when it is not a checkpoint.
func (a *s3Anchor) get(ctx context.Context, key, version string) (cp audit.Checkpoint, ok bool, err error) {
	id := key + "\x00" + version
	a.mu.Lock()
	cp, ok = a.seen[id]
	skip := a.foreign[id]
	a.mu.Unlock()
	if ok || skip {
		return cp, ok, nil
	}
	in := &s3.GetObjectInput{Bucket: aws.String(a.bucket), Key: aws.String(key)}
	if version != "" && version != "null" {
		in.VersionId = aws.String(version)
	}
	obj, err := a.client.GetObject(ctx, in)
	if err != nil {
		return cp, false, fmt.Errorf("get %s version %s: %w", key, version, err)
	}
	b, err := io.ReadAll(io.LimitReader(obj.Body, 64<<10))
	obj.Body.Close()
	if err != nil {
		return cp, false, fmt.Errorf("get %s version %s: %w", key, version, err)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if json.Unmarshal(b, &cp) != nil || cp.Verify(nil) != nil {
		a.foreign[id] = true
		return cp, false, nil
	}
	a.seen[id] = cp
	return cp, true, nil
}
