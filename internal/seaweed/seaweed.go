// Package seaweed runs a real local S3+STS server for the demo and the tests.
//
// The server is SeaweedFS (`weed mini`), pinned in tools/seaweedfs/go.mod and
// built once by scripts/seaweedfs.sh into a cache outside the repository. It
// serves the S3 API and STS AssumeRole on one loopback port and really checks
// SigV4 signatures and session tokens, so presigned URLs made with AssumeRole
// session credentials are verified the way AWS verifies them. It is a test
// double for AWS, not AWS: where the two disagree, AWS's documentation wins.
//
// Each Start writes a fresh IAM config into the data directory: one identity
// with a random long-term key (the service's own key), one role the service
// assumes (RoleName, allowed s3:GetObject, s3:PutObject and s3:HeadObject on
// every bucket, trusted by any principal) and a random STS signing key.
package seaweed

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base32"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/sharesvc/sharesvc/internal/localtool"
)

const (
	// Module is the Go module that provides the weed command.
	Module = "github.com/seaweedfs/seaweedfs"

	// DefaultBucket is the bucket Start creates when Options.Buckets is empty.
	DefaultBucket = "sharesvc-demo"

	// Region is the region the server answers for, and the one clients sign with.
	Region = "us-east-1"

	// AccountID is the account of the IAM ARNs the server hands out.
	AccountID = "000000000000"

	// RoleName is the role the service assumes (Server.RoleARN names it).
	RoleName = "ShareSigner"

	// defaultStartTimeout bounds Start when ctx has no deadline.
	defaultStartTimeout = 90 * time.Second

	// stopGrace is how long Stop waits after SIGTERM before SIGKILL.
	stopGrace = 5 * time.Second

	// startAttempts is how many times Start tries with fresh ports when the
	// failure looks like a port that was taken between choosing and binding.
	startAttempts = 3
)

// BinaryPath returns the path of the pinned weed binary (same rule as
// scripts/seaweedfs.sh: $SHARESVC_WEED, else
// ${XDG_CACHE_HOME:-$HOME/.cache}/sharesvc/weed-<pinned version>). It does not
// build. The pinned version is read from tools/seaweedfs/go.mod, found by
// walking up from the working directory (and, failing that, from this source
// file's directory).
func BinaryPath() (string, error) {
	if p := os.Getenv("SHARESVC_WEED"); p != "" {
		return p, nil
	}
	version, err := PinnedVersion()
	if err != nil {
		return "", err
	}
	p, err := localtool.CachedBinary("SHARESVC_WEED", "weed-"+version)
	if err != nil {
		return "", fmt.Errorf("seaweed: %w", err)
	}
	return p, nil
}

// PinnedVersion returns the version of Module required by
// tools/seaweedfs/go.mod.
func PinnedVersion() (string, error) {
	gomod, err := toolsGoMod()
	if err != nil {
		return "", err
	}
	data, err := os.ReadFile(gomod)
	if err != nil {
		return "", fmt.Errorf("seaweed: %w", err)
	}
	if v := parseRequire(data, Module); v != "" {
		return v, nil
	}
	return "", fmt.Errorf("seaweed: no 'require %s' in %s", Module, gomod)
}

// parseRequire returns the version of module required by a go.mod, in
// either the single-line or the block form, or "".
func parseRequire(gomod []byte, module string) string {
	sc := bufio.NewScanner(bytes.NewReader(gomod))
	for sc.Scan() {
		line, _, _ := strings.Cut(sc.Text(), "//")
		f := strings.Fields(line)
		switch {
		case len(f) >= 3 && f[0] == "require" && f[1] == module:
			return f[2]
		case len(f) >= 2 && f[0] == module && strings.HasPrefix(f[1], "v"):
			return f[1]
		}
	}
	return ""
}

// toolsGoMod finds tools/seaweedfs/go.mod of this repository.
func toolsGoMod() (string, error) {
	const rel = "tools/seaweedfs/go.mod"
	var starts []string
	if wd, err := os.Getwd(); err == nil {
		starts = append(starts, wd)
	}
	if _, file, _, ok := runtime.Caller(0); ok && filepath.IsAbs(file) {
		starts = append(starts, filepath.Dir(file))
	}
	for _, dir := range starts {
		for {
			p := filepath.Join(dir, filepath.FromSlash(rel))
			if _, err := os.Stat(p); err == nil {
				return p, nil
			}
			parent := filepath.Dir(dir)
			if parent == dir {
				break
			}
			dir = parent
		}
	}
	return "", fmt.Errorf("seaweed: cannot find %s above %s: run from inside the sharesvc repository or set SHARESVC_WEED to the weed binary", rel, strings.Join(starts, " or "))
}

// Options configure a local server.
type Options struct {
	Binary  string   // weed binary; "" means BinaryPath()
	Dir     string   // data dir; required (tests pass t.TempDir())
	Buckets []string // buckets to create (default: ["sharesvc-demo"])
	// LockedBuckets are also created, with Object Lock enabled (and so
	// versioning), for anchoring audit checkpoints. Only the anchor
	// identity (AnchorAccessKey) may write to them besides the admin key.
	LockedBuckets []string
	Log           io.Writer // weed's stdout/stderr; nil discards
}

// Server is a running SeaweedFS serving S3 and STS AssumeRole on one
// loopback port.
type Server struct {
	Endpoint  string // e.g. http://127.0.0.1:PORT, for both S3 and STS
	Region    string // "us-east-1"
	AccessKey string // the service's long-term key (random per start)
	SecretKey string
	RoleARN   string // the role the service assumes, arn:aws:iam::000000000000:role/ShareSigner
	// AnchorAccessKey and AnchorSecretKey are a second long-term key,
	// allowed to read, list and write objects (with retention) in
	// LockedBuckets and nothing else: the audit anchor's own credentials.
	AnchorAccessKey string
	AnchorSecretKey string

	binary  string
	dir     string
	buckets []string
	locked  []string
	log     io.Writer
	ports   ports

	mu   sync.Mutex
	proc *process // nil when stopped
}

// ports are the TCP ports weed mini binds, all on 127.0.0.1.
type ports struct {
	s3, s3GRPC         int
	master, masterGRPC int
	volume, volumeGRPC int
	filer, filerGRPC   int
	admin, adminGRPC   int
}

// process is one run of weed.
type process struct {
	cmd     *exec.Cmd
	tail    *tailBuffer
	done    chan struct{} // closed when the process has exited
	waitErr error         // set before done is closed
}

// Start starts weed mini on free loopback ports with a fresh IAM config
// (random long-term key and STS signing key), waits until S3 answers
// (GET /status 200), the buckets exist (each with a permissive CORS
// configuration), STS AssumeRole of RoleARN succeeds and writes are accepted,
// and returns. On an empty data dir that takes about 4.5 s; on a data dir a
// server has used before about 16 s, because weed's master refuses writes
// for 15 s after it starts on existing volumes. ctx bounds the start only (90 s
// if it has no deadline), not the life of the server: call Stop. If weed
// loses a port to another process while starting, Start retries on other
// ports (3 attempts).
func Start(ctx context.Context, o Options) (*Server, error) {
	if o.Dir == "" {
		return nil, errors.New("seaweed: Options.Dir is required (a data directory, e.g. t.TempDir())")
	}
	dir, err := filepath.Abs(o.Dir)
	if err != nil {
		return nil, fmt.Errorf("seaweed: data dir: %w", err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("seaweed: data dir: %w", err)
	}
	bin := o.Binary
	if bin == "" {
		if bin, err = BinaryPath(); err != nil {
			return nil, err
		}
	}
	if err := checkBinary(bin); err != nil {
		return nil, err
	}
	buckets := o.Buckets
	if len(buckets) == 0 {
		buckets = []string{DefaultBucket}
	}
	logw := o.Log
	if logw == nil {
		logw = io.Discard
	}

	s := &Server{
		Region:    Region,
		AccessKey: "AKIA" + randomBase32(10), // 20 characters, like AWS's
		SecretKey: randomBase64(30),          // 40 characters, like AWS's
		RoleARN:   "arn:aws:iam::" + AccountID + ":role/" + RoleName,
		binary:    bin,
		dir:       dir,
		buckets:   append([]string(nil), buckets...),
		locked:    append([]string(nil), o.LockedBuckets...),
		log:       logw,
	}
	if len(s.locked) > 0 {
		s.AnchorAccessKey, s.AnchorSecretKey = "AKIA"+randomBase32(10), randomBase64(30)
	}
	if err := s.writeConfig(); err != nil {
		return nil, err
	}

	ctx, cancel := withDefaultTimeout(ctx, defaultStartTimeout)
	defer cancel()
	for attempt := 1; ; attempt++ {
		p, err := pickPorts()
		if err != nil {
			return nil, err
		}
		s.ports = p
		s.Endpoint = "http://127.0.0.1:" + strconv.Itoa(p.s3)
		err = s.start(ctx)
		if err == nil {
			return s, nil
		}
		if attempt >= startAttempts || !errors.Is(err, errPortTaken) || ctx.Err() != nil {
			return nil, err
		}
		fmt.Fprintf(logw, "seaweed: attempt %d lost a port race, retrying with other ports: %v\n", attempt, err)
	}
}

// Restart stops the process and starts it again on the same ports, data dir
// and IAM config (so keys, and sessions and URLs issued before, stay valid).
// It takes about 16 s (see Start: the data dir now has volumes). It also
// starts a server whose process had died or was stopped. It fails, without a
// retry on other ports, if one of the ports was taken in between.
func (s *Server) Restart(ctx context.Context) error {
	if err := s.Stop(); err != nil {
		// Already dead or killed after the grace period: start anyway.
		fmt.Fprintf(s.log, "seaweed: restart: %v\n", err)
	}
	ctx, cancel := withDefaultTimeout(ctx, defaultStartTimeout)
	defer cancel()
	return s.start(ctx)
}

// Stop terminates the server (SIGTERM, then SIGKILL after 5s) and waits for
// it. It reports an error if weed had exited on its own before Stop, or did
// not exit within 5 s of SIGTERM. Stopping a stopped server does nothing.
func (s *Server) Stop() error {
	s.mu.Lock()
	p := s.proc
	s.proc = nil
	s.mu.Unlock()
	if p == nil {
		return nil
	}
	return p.stop()
}

func (p *process) stop() error {
	select {
	case <-p.done:
		return fmt.Errorf("seaweed: weed had already exited: %v%s", p.waitErr, p.tail.excerpt())
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		return nil
	case <-time.After(stopGrace):
	}
	_ = p.cmd.Process.Kill()
	<-p.done
	return fmt.Errorf("seaweed: weed did not exit within %v of SIGTERM; killed", stopGrace)
}

// PutObject stores body at bucket/key, signed with the long-term key.
func (s *Server) PutObject(ctx context.Context, bucket, key string, body []byte) error {
	_, err := s.s3Client().PutObject(ctx, &s3.PutObjectInput{
		Bucket: aws.String(bucket),
		Key:    aws.String(key),
		Body:   bytes.NewReader(body),
	})
	if err != nil {
		return fmt.Errorf("seaweed: put s3://%s/%s: %w", bucket, key, err)
	}
	return nil
}

// GetObject returns the bytes at bucket/key, signed with the long-term key.
func (s *Server) GetObject(ctx context.Context, bucket, key string) ([]byte, error) {
	out, err := s.s3Client().GetObject(ctx, &s3.GetObjectInput{
		Bucket: aws.String(bucket),
		Key:    aws.String(key),
	})
	if err != nil {
		return nil, fmt.Errorf("seaweed: get s3://%s/%s: %w", bucket, key, err)
	}
	defer out.Body.Close()
	b, err := io.ReadAll(out.Body)
	if err != nil {
		return nil, fmt.Errorf("seaweed: get s3://%s/%s: %w", bucket, key, err)
	}
	return b, nil
}

// HeadObject returns what S3 answers a HEAD of bucket/key with (its
// Content-Disposition and user metadata among it), signed with the
// long-term key.
func (s *Server) HeadObject(ctx context.Context, bucket, key string) (*s3.HeadObjectOutput, error) {
	out, err := s.s3Client().HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		return nil, fmt.Errorf("seaweed: head s3://%s/%s: %w", bucket, key, err)
	}
	return out, nil
}

// s3Client is an S3 client for the server signed with the long-term key.
func (s *Server) s3Client() *s3.Client {
	return s3.New(s3.Options{
		Region:       s.Region,
		BaseEndpoint: aws.String(s.Endpoint),
		UsePathStyle: true,
		Credentials:  credentials.NewStaticCredentialsProvider(s.AccessKey, s.SecretKey, ""),
	})
}

// stsClient is an STS client for the server signed with the long-term key.
func (s *Server) stsClient() *sts.Client {
	return sts.New(sts.Options{
		Region:       s.Region,
		BaseEndpoint: aws.String(s.Endpoint),
		Credentials:  credentials.NewStaticCredentialsProvider(s.AccessKey, s.SecretKey, ""),
	})
}

// args are the weed command line.
func (s *Server) args() []string {
	p := s.ports
	cfg := filepath.Join(s.dir, "IAM.json")
	return []string{
		"-logdir=" + filepath.Join(s.dir, "logs"), // glog's files; the default is $TMPDIR
		"mini",
		"-dir=" + s.dir,
		"-ip=127.0.0.1",
		"-ip.bind=127.0.0.1",
		"-s3.port=" + strconv.Itoa(p.s3),
		"-s3.port.grpc=" + strconv.Itoa(p.s3GRPC),
		"-master.port=" + strconv.Itoa(p.master),
		"-master.port.grpc=" + strconv.Itoa(p.masterGRPC),
		"-volume.port=" + strconv.Itoa(p.volume),
		"-volume.port.grpc=" + strconv.Itoa(p.volumeGRPC),
		"-filer.port=" + strconv.Itoa(p.filer),
		"-filer.port.grpc=" + strconv.Itoa(p.filerGRPC),
		"-admin.port=" + strconv.Itoa(p.admin),
		"-admin.port.grpc=" + strconv.Itoa(p.adminGRPC),
		"-admin.port.legacy=0",
		"-webdav=false",
		"-s3.port.iceberg=0",
		"-s3.port.lance=0",
		"-master.telemetry=false",
		"-s3.config=" + cfg,
		"-s3.iam.config=" + cfg,
		"-s3.iam.readOnly=false",
	}
}

// start runs weed on s.ports and waits until it is ready.
func (s *Server) start(ctx context.Context) error {
	tail := newTailBuffer(16<<10, startedMarker)
	out := io.MultiWriter(tail, s.log)
	cmd := exec.Command(s.binary, s.args()...)
	cmd.Dir = s.dir // security.toml is read from the working directory
	cmd.Stdout = out
	cmd.Stderr = out
	cmd.SysProcAttr = localtool.SysProcAttr()
	// weed reads WEED_* variables as configuration; keep the caller's out.
	cmd.Env = filterEnv(os.Environ(), "WEED_")
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("seaweed: start %s: %w", s.binary, err)
	}
	p := &process{cmd: cmd, tail: tail, done: make(chan struct{})}
	go func() {
		p.waitErr = cmd.Wait()
		s.removeStaleSockets()
		close(p.done)
	}()

	if err := s.waitReady(ctx, p); err != nil {
		_ = p.stop() // does nothing if weed has already exited
		if portTaken(tail.String()) {
			err = fmt.Errorf("%w: %w", errPortTaken, err)
		}
		return err
	}
	s.mu.Lock()
	s.proc = p
	s.mu.Unlock()
	return nil
}

// removeStaleSockets removes the unix sockets weed made for its ports in /tmp
// (a fixed path in weed) and left behind, which it does even on a clean
// exit. A socket something still listens on is left alone.
func (s *Server) removeStaleSockets() {
	p := s.ports
	for _, name := range []string{
		fmt.Sprintf("seaweedfs-master-grpc-%d.sock", p.masterGRPC),
		fmt.Sprintf("seaweedfs-volume-grpc-%d.sock", p.volumeGRPC),
		fmt.Sprintf("seaweedfs-filer-grpc-%d.sock", p.filerGRPC),
		fmt.Sprintf("seaweedfs-s3-grpc-%d.sock", p.s3GRPC),
		fmt.Sprintf("seaweedfs-admin-grpc-%d.sock", p.adminGRPC),
		fmt.Sprintf("seaweedfs-filer-%d.sock", p.filer),
		fmt.Sprintf("seaweedfs-s3-%d.sock", p.s3),
	} {
		path := "/tmp/" + name
		if fi, err := os.Lstat(path); err != nil || fi.Mode()&os.ModeSocket == 0 {
			continue
		}
		if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
			c.Close()
			continue
		}
		_ = os.Remove(path)
	}
}

var errPortTaken = errors.New("seaweed: a port was taken")

// startedMarker ends the banner weed mini prints once every component runs
// and its shutdown hooks are registered. A SIGTERM before that can hang weed
// (its signal handler and its late hook registration deadlock), so Start
// waits for it.
const startedMarker = "Press Ctrl+C to stop all components"

// portTaken reports whether weed's output says it could not bind a port.
func portTaken(out string) bool {
	return strings.Contains(out, "address already in use") ||
		strings.Contains(out, "Port allocation failed") ||
		strings.Contains(out, "is not available")
}

// waitReady waits for GET /status 200, the buckets, a working AssumeRole, the
// end of the master's warm-up and the end of weed mini's start.
func (s *Server) waitReady(ctx context.Context, p *process) error {
	exited := func() error {
		return fmt.Errorf("seaweed: weed exited before it was ready (%v)%s", p.waitErr, p.tail.excerpt())
	}
	// poll calls f until it succeeds, weed exits or ctx ends.
	poll := func(what string, f func(context.Context) error) error {
		var last error
		for {
			actx, cancel := context.WithTimeout(ctx, 5*time.Second)
			last = f(actx)
			cancel()
			if last == nil {
				return nil
			}
			select {
			case <-p.done:
				return exited()
			case <-ctx.Done():
				return fmt.Errorf("seaweed: %s at %s: %w (last error: %v)%s", what, s.Endpoint, ctx.Err(), last, p.tail.excerpt())
			case <-time.After(100 * time.Millisecond):
			}
		}
	}

	// get returns the answer to GET url, its body read and closed.
	hc := &http.Client{Timeout: 2 * time.Second}
	get := func(ctx context.Context, url string) (*http.Response, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return nil, err
		}
		resp, err := hc.Do(req)
		if err != nil {
			return nil, err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp, nil
	}

	err := poll("waiting for GET /status 200", func(ctx context.Context) error {
		resp, err := get(ctx, s.Endpoint+"/status")
		if err != nil {
			return err
		}
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("GET /status: %s", resp.Status)
		}
		return nil
	})
	if err != nil {
		return err
	}

	c := s.s3Client()
	for _, b := range s.locked {
		err := poll("creating bucket "+b+" with Object Lock", createBucket(c, b, true))
		if err != nil {
			return err
		}
	}
	for _, b := range s.buckets {
		err := poll("creating bucket "+b, createBucket(c, b, false))
		if err != nil {
			return err
		}
		err = poll("setting the CORS configuration of bucket "+b, func(ctx context.Context) error {
			_, err := c.PutBucketCors(ctx, &s3.PutBucketCorsInput{
				Bucket: aws.String(b),
				CORSConfiguration: &s3types.CORSConfiguration{CORSRules: []s3types.CORSRule{{
					AllowedOrigins: []string{"*"},
					AllowedMethods: []string{"GET", "HEAD", "PUT", "POST", "DELETE"},
					AllowedHeaders: []string{"*"},
					ExposeHeaders:  []string{"ETag", "Content-Length", "Content-Type", "x-amz-request-id", "x-amz-version-id"},
					MaxAgeSeconds:  aws.Int32(3000),
				}}},
			})
			return err
		})
		if err != nil {
			return err
		}
	}

	sc := s.stsClient()
	err = poll("AssumeRole of "+s.RoleARN, func(ctx context.Context) error {
		_, err := sc.AssumeRole(ctx, &sts.AssumeRoleInput{
			RoleArn:         aws.String(s.RoleARN),
			RoleSessionName: aws.String("seaweed-ready"),
			DurationSeconds: aws.Int32(900),
		})
		return err
	})
	if err != nil {
		return err
	}

	// After a restart on a data dir that has volumes, the master refuses to
	// assign file ids (so every write stalls) for 3 pulses, 15 s, from its
	// start. Wait that out: answers 503 while warming up, 404 after.
	lookup := fmt.Sprintf("http://127.0.0.1:%d/dir/lookup?volumeId=4294967295", s.ports.master)
	err = poll("waiting for the master's warm-up (writes)", func(ctx context.Context) error {
		resp, err := get(ctx, lookup)
		if err != nil {
			return err
		}
		if resp.StatusCode == http.StatusServiceUnavailable {
			return fmt.Errorf("master warming up (Retry-After %s s)", resp.Header.Get("Retry-After"))
		}
		return nil
	})
	if err != nil {
		return err
	}

	select {
	case <-p.tail.seen:
		return nil
	case <-p.done:
		return exited()
	case <-ctx.Done():
		return fmt.Errorf("seaweed: waiting for weed mini to print %q: %w%s", startedMarker, ctx.Err(), p.tail.excerpt())
	}
}

// writeConfig writes IAM.json and an empty security.toml into the data dir.
func (s *Server) writeConfig() error {
	type M = map[string]any
	statement := func(effect string, principal any, actions []string, resources []string) M {
		st := M{"Effect": effect, "Action": actions}
		if principal != nil {
			st["Principal"] = principal
		}
		if resources != nil {
			st["Resource"] = resources
		}
		return st
	}
	identities := []M{{
		"name":        "sharesvc",
		"credentials": []M{{"accessKey": s.AccessKey, "secretKey": s.SecretKey}},
		"actions":     []string{"Read", "Write", "List", "Tagging", "Admin"},
	}}
	if len(s.locked) > 0 {
		var actions []string
		for _, b := range s.locked {
			for _, a := range []string{"Read", "Write", "List", "GetObjectRetention", "PutObjectRetention",
				"GetBucketObjectLockConfiguration"} {
				actions = append(actions, a+":"+b)
			}
		}
		identities = append(identities, M{
			"name":        "audit-anchor",
			"credentials": []M{{"accessKey": s.AnchorAccessKey, "secretKey": s.AnchorSecretKey}},
			"actions":     actions,
		})
	}
	cfg := M{
		"identities": identities,
		"sts": M{
			"tokenDuration":    "1h",
			"maxSessionLength": "12h",
			"issuer":           "seaweedfs-sts",
			"accountId":        AccountID,
			"signingKey":       randomBytes(32), // []byte: base64 in JSON
		},
		"policy": M{"defaultEffect": "Deny", "storeType": "memory"},
		"policies": []M{{
			"name": RoleName,
			"document": M{
				"Version": "2012-10-17",
				"Statement": []M{statement("Allow", nil,
					[]string{"s3:GetObject", "s3:PutObject", "s3:HeadObject"},
					[]string{"arn:aws:s3:::*"})},
			},
		}},
		"roles": []M{{
			"roleName":         RoleName,
			"roleArn":          s.RoleARN,
			"attachedPolicies": []string{RoleName},
			"trustPolicy": M{
				"Version":   "2012-10-17",
				"Statement": []M{statement("Allow", "*", []string{"sts:AssumeRole"}, nil)},
			},
		}},
	}
	data, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		return fmt.Errorf("seaweed: %w", err)
	}
	if err := os.WriteFile(filepath.Join(s.dir, "IAM.json"), data, 0o600); err != nil {
		return fmt.Errorf("seaweed: %w", err)
	}
	if err := os.WriteFile(filepath.Join(s.dir, "security.toml"), nil, 0o644); err != nil {
		return fmt.Errorf("seaweed: %w", err)
	}
	if err := os.MkdirAll(filepath.Join(s.dir, "logs"), 0o755); err != nil {
		return fmt.Errorf("seaweed: %w", err)
	}
	return nil
}

func checkBinary(bin string) error {
	fi, err := os.Stat(bin)
	if errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("seaweed: weed binary not found at %s: run scripts/seaweedfs.sh (the first build takes about 11 minutes)", bin)
	}
	if err != nil {
		return fmt.Errorf("seaweed: weed binary: %w", err)
	}
	if fi.IsDir() || fi.Mode().Perm()&0o111 == 0 {
		return fmt.Errorf("seaweed: weed binary at %s is not an executable file: run scripts/seaweedfs.sh", bin)
	}
	return nil
}

// pickPorts chooses ten distinct free ports on 127.0.0.1 below the kernel's
// ephemeral range, so that outgoing connections (which take ephemeral source
// ports) cannot grab one between the choice and weed's bind. All gRPC ports
// are passed explicitly: weed's default of port+10000 would overflow for high
// ports. The listeners are held until all ten are chosen, so they differ.
func pickPorts() (ports, error) {
	lo, hi := 10000, ephemeralFloor()-1
	if hi-lo < 1000 {
		lo, hi = 1024, 65535
	}
	var held []net.Listener
	defer func() {
		for _, l := range held {
			l.Close()
		}
	}()
	var got []int
	for tries := 0; len(got) < 10; tries++ {
		if tries > 2000 {
			return ports{}, fmt.Errorf("seaweed: cannot find 10 free ports on 127.0.0.1 in %d..%d", lo, hi)
		}
		port := lo + randomInt(hi-lo+1)
		l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
		if err != nil {
			continue
		}
		held = append(held, l)
		got = append(got, port)
	}
	return ports{
		s3: got[0], s3GRPC: got[1],
		master: got[2], masterGRPC: got[3],
		volume: got[4], volumeGRPC: got[5],
		filer: got[6], filerGRPC: got[7],
		admin: got[8], adminGRPC: got[9],
	}, nil
}

// ephemeralFloor is the lowest port Linux hands out as a source port.
func ephemeralFloor() int {
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			if n, err := strconv.Atoi(f[0]); err == nil && n > 0 {
				return n
			}
		}
	}
	return 32768
}

func filterEnv(env []string, prefix string) []string {
	out := env[:0:0]
	for _, kv := range env {
		if !strings.HasPrefix(kv, prefix) {
			out = append(out, kv)
		}
	}
	return out
}

func withDefaultTimeout(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, d)
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand.Read does not fail on supported platforms
	}
	return b
}

func randomBase32(n int) string { // n random bytes give ceil(8n/5) characters
	return base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(randomBytes(n))
}

func randomBase64(n int) string { return base64.StdEncoding.EncodeToString(randomBytes(n)) }

func randomInt(n int) int {
	b := randomBytes(8)
	var v uint64
	for _, c := range b {
		v = v<<8 | uint64(c)
	}
	return int(v % uint64(n))
}

// tailBuffer keeps the last max bytes written to it, and closes seen once
// marker has been written.
type tailBuffer struct {
	mu     sync.Mutex
	max    int
	buf    []byte
	marker string
	seen   chan struct{}
}

func newTailBuffer(max int, marker string) *tailBuffer {
	return &tailBuffer{max: max, marker: marker, seen: make(chan struct{})}
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	from := max(0, len(t.buf)-len(t.marker))
	t.buf = append(t.buf, p...)
	if t.marker != "" && strings.Contains(string(t.buf[from:]), t.marker) {
		t.marker = ""
		close(t.seen)
	}
	if over := len(t.buf) - t.max; over > 0 {
		t.buf = append(t.buf[:0], t.buf[over:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.buf)
}

// excerpt is the last lines of weed's output, for error messages.
func (t *tailBuffer) excerpt() string {
	s := strings.TrimSpace(t.String())
	if s == "" {
		return ""
	}
	lines := strings.Split(s, "\n")
	if len(lines) > 20 {
		lines = lines[len(lines)-20:]
	}
	return "\nlast lines of weed's output:\n\t" + strings.Join(lines, "\n\t")
}

// createBucket returns a poll step that creates bucket b (with Object Lock
// when lock is set) unless it exists, and checks that it answers.
func createBucket(c *s3.Client, b string, lock bool) func(ctx context.Context) error {
	return func(ctx context.Context) error {
		in := &s3.CreateBucketInput{Bucket: aws.String(b)}
		if lock {
			in.ObjectLockEnabledForBucket = aws.Bool(true)
		}
		_, err := c.CreateBucket(ctx, in)
		var owned *s3types.BucketAlreadyOwnedByYou
		var exists *s3types.BucketAlreadyExists
		if err != nil && !errors.As(err, &owned) && !errors.As(err, &exists) {
			return err
		}
		_, err = c.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String(b)})
		return err
	}
}
