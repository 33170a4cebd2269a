package server_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awssts "github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/sharesvc/sharesvc/internal/audit"
	"github.com/sharesvc/sharesvc/internal/auth"
	"github.com/sharesvc/sharesvc/internal/db"
	"github.com/sharesvc/sharesvc/internal/grants"
	"github.com/sharesvc/sharesvc/internal/health"
	"github.com/sharesvc/sharesvc/internal/links"
	"github.com/sharesvc/sharesvc/internal/metrics"
	"github.com/sharesvc/sharesvc/internal/seaweed"
	"github.com/sharesvc/sharesvc/internal/server"
	"github.com/sharesvc/sharesvc/internal/sts"
	"github.com/sharesvc/sharesvc/internal/testrig/testdb"
)

// The package's tests share one real SeaweedFS, started on first use. If it
// cannot start (binary missing, ports), every test that needs it fails.
var sharedS3 = &seaweed.Shared{Buckets: []string{testBucket}}

const testBucket = "sharesvc-test"

func TestMain(m *testing.M) {
	code := testdb.Main(m)
	sharedS3.Stop()
	os.Exit(code)
}

// s3server returns the shared SeaweedFS, failing t if it cannot run.
func s3server(t testing.TB) *seaweed.Server {
	t.Helper()
	return sharedS3.Get(t)
}

// startPrivateS3 starts a SeaweedFS of the test's own, to stop and restart.
func startPrivateS3(t *testing.T) *seaweed.Server {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	s3, err := seaweed.Start(ctx, seaweed.Options{Dir: t.TempDir(), Buckets: []string{testBucket}})
	if err != nil {
		t.Fatalf("the real S3+STS server is required (run scripts/seaweedfs.sh to build it): %v", err)
	}
	t.Cleanup(func() { s3.Stop() })
	return s3
}

// env is a complete sharesvc over real SQLite and the real S3+STS server.
type env struct {
	t       testing.TB
	s3      *seaweed.Server
	db      *db.DB
	dsn     string // what db.Open took
	audit   *audit.Log
	signer  *sts.Signer
	srv     *server.Server
	http    *httptest.Server
	ops     *httptest.Server // the private listener: metrics, readiness report
	admin   string           // admin token secret
	sharer  string           // sharer token secret
	now     func() time.Time
	reg     *prometheus.Registry
	metrics *metrics.Metrics
	health  *health.Checker
}

type envOptions struct {
	clock  func() time.Time
	source sts.Source // nil: AssumeRole against the real server
	cfg    func(*server.Config)
	logger *slog.Logger             // nil: discard the service's logs
	s3     *seaweed.Server          // nil: the package's shared server
	signer func(*sts.SignerOptions) // adjusts the signer's options
	audit  func(*audit.Options)     // adjusts the audit log's options
	deps   func(*server.Deps)       // adjusts the server's dependencies
	// noGrants leaves out the grant that otherwise lets every sharer share
	// anything in the test bucket (the reach sharers had before grants).
	noGrants bool
	// sqliteOnly runs on a SQLite file whatever the run's engine: for the
	// tests that are about the embedded file (its mode, a full disk, a
	// read-only file).
	sqliteOnly bool
	// dsn opens this database instead of a new one: a second instance
	// on another's database (e.dsn), whose tokens (e.admin, e.sharer) it
	// does not make again.
	dsn string
}

func newEnv(t testing.TB, o envOptions) *env {
	t.Helper()
	s3 := o.s3
	if s3 == nil {
		s3 = s3server(t)
	}
	ctx := context.Background()
	if o.clock == nil {
		o.clock = time.Now
	}
	dsn := o.dsn
	switch {
	case dsn != "":
	case o.sqliteOnly:
		dsn = testdb.SQLiteFile(t)
	default:
		dsn = testdb.DSN(t)
	}
	d, err := db.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	var signer *sts.Signer
	var hc *health.Checker
	m := metrics.New(reg, func() float64 {
		if c, ok := signer.Session(); ok {
			return max(0, c.Expires.Sub(o.clock()).Seconds())
		}
		return 0
	})
	ao := audit.Options{Clock: o.clock, Claim: server.ClaimLinkUses, OnCommit: func(rows int, d time.Duration, err error) {
		m.ObserveAuditCommit(rows, d, err)
		hc.ObserveAuditCommit(rows, d, err)
	}}
	if o.audit != nil {
		o.audit(&ao)
	}
	log, err := audit.Open(ctx, d.Write, ao)
	if err != nil {
		t.Fatal(err)
	}
	presigner, err := sts.NewPresigner(s3.Endpoint, s3.Region, true)
	if err != nil {
		t.Fatal(err)
	}
	src := o.source
	role := sts.AssumeRole{Client: stsClient(s3), RoleARN: s3.RoleARN, SessionName: "sharesvc-test", Duration: 15 * time.Minute}
	if src == nil {
		src = &role
	}
	so := sts.SignerOptions{Clock: o.clock, OnRefresh: m.ObserveSTSRefresh}
	if o.signer != nil {
		o.signer(&so)
	}
	signer = sts.NewSigner(src, presigner, so)
	m.WatchAuditQueue(log.QueueDepth)
	hc, err = health.New(health.Options{DB: d.Read, Signer: signer, Audit: log, Clock: o.clock, Metrics: m, Logger: o.logger})
	if err != nil {
		t.Fatal(err)
	}
	cfg := server.Config{
		PublicURL: "http://share.example", DefaultBucket: testBucket,
		DefaultLifetime: 24 * time.Hour, MaxLifetime: 30 * 24 * time.Hour,
		DefaultPresignTTL: 60 * time.Second, MaxPresignTTL: 5 * time.Minute,
	}
	if o.cfg != nil {
		o.cfg(&cfg)
	}
	var scoped *sts.ScopedSigner
	if o.source == nil { // a fake STS signs everything with the role's session
		scoped = sts.NewScopedSigner(role, presigner, sts.ScopedOptions{Signer: so})
	}
	deps := server.Deps{
		Links: links.NewStore(d.Read), Tokens: auth.NewStore(d.Read), Audit: log, Signer: signer, Scoped: scoped,
		Metrics: m, Gatherer: reg, Clock: o.clock, Logger: o.logger, Health: hc, AuditDB: d.Read,
	}
	if o.deps != nil {
		o.deps(&deps)
	}
	srv, err := server.New(cfg, deps)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, s3: s3, db: d, dsn: dsn, audit: log, signer: signer, srv: srv, http: httptest.NewServer(checkedAPI(t, srv)), now: o.clock,
		reg: reg, metrics: m, health: hc}
	e.ops = httptest.NewServer(srv.OpsHandler())
	t.Cleanup(func() {
		e.ops.Close()
		e.http.Close()
		log.Close()
		d.Close()
	})
	if o.dsn != "" {
		// Another instance's database: its tokens and grants are there.
		return e
	}
	e.admin = e.token("admin-"+strings.ReplaceAll(t.Name(), "/", "-"), auth.RoleAdmin)
	e.sharer = e.token("sharer-"+strings.ReplaceAll(t.Name(), "/", "-"), auth.RoleSharer)
	if !o.noGrants {
		g := &grants.Grant{ID: grants.NewID(), Role: auth.RoleSharer, Bucket: testBucket,
			Actions:   []grants.Action{grants.ActionDownload, grants.ActionEmail, grants.ActionUpload},
			CreatedAt: time.Now(), CreatedBy: "test"}
		if err := grants.Insert(context.Background(), d.Read, g); err != nil {
			t.Fatal(err)
		}
	}
	return e
}

func stsClient(s3 *seaweed.Server) *awssts.Client {
	return awssts.New(awssts.Options{
		Region:       s3.Region,
		Credentials:  credentials.NewStaticCredentialsProvider(s3.AccessKey, s3.SecretKey, ""),
		BaseEndpoint: aws.String(s3.Endpoint),
	})
}

// token creates an API token directly in the database.
func (e *env) token(name string, role auth.Role) string {
	e.t.Helper()
	secret, hash := auth.NewSecret()
	tok := &auth.Token{ID: auth.NewID(), Name: name, Role: role, CreatedAt: time.Now(), CreatedBy: "test"}
	if err := auth.Insert(context.Background(), e.db.Read, tok, hash); err != nil {
		e.t.Fatal(err)
	}
	return secret
}

// tokenID returns the id of the token called name.
func (e *env) tokenID(name string) string {
	e.t.Helper()
	var id string
	if err := e.db.Read.QueryRow(`SELECT id FROM api_tokens WHERE name = ?`, name).Scan(&id); err != nil {
		e.t.Fatal(err)
	}
	return id
}

// put uploads an object with the long-term key (test setup only).
func (e *env) put(key, body string) {
	e.t.Helper()
	if err := e.s3.PutObject(context.Background(), testBucket, key, []byte(body)); err != nil {
		e.t.Fatal(err)
	}
}

// do sends a request to sharesvc without following redirects.
func (e *env) do(method, path, token, body string, hdr ...string) *http.Response {
	e.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, e.http.URL+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := noRedirect.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { resp.Body.Close() })
	return resp
}

var noRedirect = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

// sharePath turns a short URL from the API into a path on the test server.
func sharePath(t testing.TB, shortURL string) string {
	t.Helper()
	p, ok := strings.CutPrefix(shortURL, "http://share.example")
	if !ok {
		t.Fatalf("short URL %q does not start with the public URL", shortURL)
	}
	return p
}

func readAll(t testing.TB, r io.Reader) string {
	t.Helper()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func fmtResp(resp *http.Response, body string) string {
	return fmt.Sprintf("%s %v %s", resp.Status, resp.Header, body)
}
