package sts

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awssts "github.com/aws/aws-sdk-go-v2/service/sts"
	ststypes "github.com/aws/aws-sdk-go-v2/service/sts/types"

	"github.com/sharesvc/sharesvc/internal/clocktest"
)

// fakeSTS answers AssumeRole with sessions of the asked duration on now's
// clock, and remembers what it was asked.
type fakeSTS struct {
	now   func() time.Time
	calls atomic.Int64

	mu       sync.Mutex
	policies map[string]string // session name -> last policy
}

func (f *fakeSTS) AssumeRole(_ context.Context, in *awssts.AssumeRoleInput, _ ...func(*awssts.Options)) (*awssts.AssumeRoleOutput, error) {
	n := f.calls.Add(1)
	f.mu.Lock()
	if f.policies == nil {
		f.policies = make(map[string]string)
	}
	f.policies[aws.ToString(in.RoleSessionName)] = aws.ToString(in.Policy)
	f.mu.Unlock()
	exp := f.now().Add(time.Duration(aws.ToInt32(in.DurationSeconds)) * time.Second)
	return &awssts.AssumeRoleOutput{Credentials: &ststypes.Credentials{
		AccessKeyId: aws.String("ASIAFAKE" + strconv.FormatInt(n, 10)), SecretAccessKey: aws.String("secret"),
		SessionToken: aws.String(testToken), Expiration: &exp,
	}}, nil
}

// settle waits until no scope of s has a refresh in flight, so that a test
// driving an injected clock sees every refresh it started.
func settle(s *ScopedSigner) {
	for {
		busy := false
		s.mu.Lock()
		for el := s.lru.Front(); el != nil; el = el.Next() {
			sg := el.Value.(*scoped).signer
			sg.mu.Lock()
			busy = busy || sg.inflight != nil
			sg.mu.Unlock()
		}
		s.mu.Unlock()
		if !busy {
			return
		}
		runtime.Gosched()
	}
}

func newFakeScoped(t testing.TB, clk func() time.Time, o ScopedOptions) (*ScopedSigner, *fakeSTS) {
	t.Helper()
	p, err := NewPresigner("http://127.0.0.1:9", "us-east-1", true)
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeSTS{now: clk}
	o.Signer.Clock = clk
	return NewScopedSigner(AssumeRole{Client: f, RoleARN: "arn:aws:iam::000000000000:role/ShareSigner",
		SessionName: "sharesvc-test", Duration: 15 * time.Minute}, p, o), f
}

func testScope(i int) Scope {
	return Scope{Bucket: "share-bucket-01", Prefix: fmt.Sprintf("grant-%d/", i), Actions: Download}
}

// AssumeRole calls over one simulated hour with N scopes each used every
// 10 s, at the defaults (15 min sessions, 5 min refresh ahead, 15 s margin).
// A session is replaced once its time left minus the margin drops under
// 5 min, i.e. at age 15m-5m-15s = 9m45s, on the next use: at 10 s ticks
// every 9m50s. Over [0, 60m): the first call plus refreshes at 9:50, 19:40,
// 29:30, 39:20, 49:10 and 59:00, so 7 per scope (steady state 3600/590 =
// 6.1 per scope per hour).
func TestScopedAssumeRolesPerHour(t *testing.T) {
	for _, n := range []int{1, 10, 100} {
		t.Run(strconv.Itoa(n), func(t *testing.T) {
			clk := clocktest.New(time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC))
			s, f := newFakeScoped(t, clk.Now, ScopedOptions{})
			ctx := context.Background()
			for tick := time.Duration(0); tick < time.Hour; tick += 10 * time.Second {
				for i := range n {
					if _, err := s.Grant(ctx, testScope(i), "g"+strconv.Itoa(i), time.Minute); err != nil {
						t.Fatalf("at %s scope %d: %v", tick, i, err)
					}
				}
				settle(s)
				clk.Advance(10 * time.Second)
			}
			if got, want := f.calls.Load(), int64(7*n); got != want {
				t.Fatalf("AssumeRole calls in one hour for %d scopes = %d; want %d", n, got, want)
			}
			t.Logf("%d scopes: %d AssumeRole calls in the first hour", n, f.calls.Load())
		})
	}
	// With fewer cached scopes than scopes in use, round-robin use is LRU's
	// worst case: every Grant evicts and assumes again.
	t.Run("100 over a cap of 50", func(t *testing.T) {
		clk := clocktest.New(time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC))
		s, f := newFakeScoped(t, clk.Now, ScopedOptions{MaxScopes: 50})
		for tick := time.Duration(0); tick < time.Hour; tick += 10 * time.Second {
			for i := range 100 {
				if _, err := s.Grant(context.Background(), testScope(i), "g"+strconv.Itoa(i), time.Minute); err != nil {
					t.Fatal(err)
				}
			}
			clk.Advance(10 * time.Second)
		}
		if got, want := f.calls.Load(), int64(360*100); got != want {
			t.Fatalf("AssumeRole calls = %d; want %d (one per Grant)", got, want)
		}
	})
}

func TestScopedLRUBound(t *testing.T) {
	clk := clocktest.New(time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC))
	var evictions atomic.Int64
	s, f := newFakeScoped(t, clk.Now, ScopedOptions{MaxScopes: 3, OnEvict: func() { evictions.Add(1) }})
	ctx := context.Background()
	for i := range 5 {
		if _, err := s.Grant(ctx, testScope(i), "g"+strconv.Itoa(i), time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	if s.Len() != 3 || evictions.Load() != 2 || f.calls.Load() != 5 {
		t.Fatalf("after 5 scopes with MaxScopes 3: Len %d, evictions %d, calls %d; want 3, 2, 5", s.Len(), evictions.Load(), f.calls.Load())
	}
	// Scope 4 is cached; scope 0 was evicted and assumes again.
	if _, err := s.Grant(ctx, testScope(4), "g4", time.Minute); err != nil || f.calls.Load() != 5 {
		t.Fatalf("cached scope: calls %d, %v; want 5", f.calls.Load(), err)
	}
	if _, err := s.Grant(ctx, testScope(0), "g0", time.Minute); err != nil || f.calls.Load() != 6 {
		t.Fatalf("evicted scope: calls %d, %v; want 6", f.calls.Load(), err)
	}
	// Same scope, another label: another session, named for it.
	if _, err := s.Grant(ctx, testScope(0), "other", time.Minute); err != nil || f.calls.Load() != 7 {
		t.Fatalf("second label: calls %d, %v; want 7", f.calls.Load(), err)
	}
	f.mu.Lock()
	pol := f.policies["sharesvc-test-other"]
	f.mu.Unlock()
	if want, _ := testScope(0).Policy(); pol != want {
		t.Fatalf("policy sent for sharesvc-test-other = %q; want %q", pol, want)
	}
}

func TestScopedDropAndScopeChecks(t *testing.T) {
	clk := clocktest.New(time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC))
	s, f := newFakeScoped(t, clk.Now, ScopedOptions{})
	ctx := context.Background()
	sc := testScope(1)
	g1, err := s.Grant(ctx, sc, "g1", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if g1.Session != "sharesvc-test-g1" {
		t.Errorf("Grant.Session = %q; want sharesvc-test-g1", g1.Session)
	}
	if _, err := s.Presign(g1, Request{Method: http.MethodGet, Bucket: sc.Bucket, Key: "grant-1/a"}); err != nil {
		t.Fatalf("in scope: %v", err)
	}
	for _, r := range []Request{
		{Method: http.MethodGet, Bucket: sc.Bucket, Key: "grant-2/a"},
		{Method: http.MethodGet, Bucket: "share-bucket-02", Key: "grant-1/a"},
		{Method: http.MethodPut, Bucket: sc.Bucket, Key: "grant-1/a"},
	} {
		if u, err := s.Presign(g1, r); !errors.Is(err, ErrOutOfScope) {
			t.Errorf("Presign(%s %s/%s) = %q, %v; want ErrOutOfScope", r.Method, r.Bucket, r.Key, u, err)
		}
	}
	if _, err := s.Grant(ctx, Scope{Bucket: "share-bucket-01", Prefix: "*"}, "bad", time.Minute); !errors.Is(err, ErrInvalidScope) {
		t.Errorf("Grant(bad scope) = %v; want ErrInvalidScope", err)
	}
	s.Drop()
	if s.Len() != 0 {
		t.Fatalf("Len after Drop = %d; want 0", s.Len())
	}
	g2, err := s.Grant(ctx, sc, "g1", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if g1.creds.AccessKeyID == g2.creds.AccessKeyID || f.calls.Load() != 2 {
		t.Fatalf("after Drop: same session %v, calls %d; want a new session (2 calls)", g1.creds.AccessKeyID == g2.creds.AccessKeyID, f.calls.Load())
	}
}

// benchScoped returns grant-and-presign closures for the unscoped Signer and
// for a ScopedSigner with 100 scopes in use, both over sessions that outlast
// the benchmark.
func benchSigners(b *testing.B) (unscoped func() error, scopedFn func(i int) error) {
	p, err := NewPresigner("", "eu-west-1", false)
	if err != nil {
		b.Fatal(err)
	}
	f := &fakeSTS{now: time.Now}
	base := AssumeRole{Client: f, RoleARN: "arn:aws:iam::000000000000:role/ShareSigner", SessionName: "sharesvc-bench", Duration: 12 * time.Hour}
	sg := NewSigner(&base, p, SignerOptions{})
	ss := NewScopedSigner(base, p, ScopedOptions{})
	ctx := context.Background()
	r := benchRequest()
	unscoped = func() error {
		g, err := sg.Grant(ctx, 5*time.Minute)
		if err != nil {
			return err
		}
		_, err = sg.Presign(g, r)
		return err
	}
	scopes := make([]Scope, 100)
	for i := range scopes {
		scopes[i] = Scope{Bucket: r.Bucket, Prefix: "users/", Actions: Download}
	}
	labels := make([]string, 100)
	for i := range labels {
		labels[i] = "grant-" + strconv.Itoa(i)
	}
	scopedFn = func(i int) error {
		g, err := ss.Grant(ctx, scopes[i%100], labels[i%100], 5*time.Minute)
		if err != nil {
			return err
		}
		_, err = ss.Presign(g, r)
		return err
	}
	return unscoped, scopedFn
}

func BenchmarkGrantPresignUnscoped(b *testing.B) {
	unscoped, _ := benchSigners(b)
	if err := unscoped(); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := unscoped(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkGrantPresignScoped cycles through 100 cached scopes, so each
// call also switches the presigner's cached signing key.
func BenchmarkGrantPresignScoped(b *testing.B) {
	_, scopedFn := benchSigners(b)
	for i := range 100 {
		if err := scopedFn(i); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		if err := scopedFn(i); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkGrantPresignScopedOne uses one scope, the common case of one
// grant sharing many links in a row.
func BenchmarkGrantPresignScopedOne(b *testing.B) {
	_, scopedFn := benchSigners(b)
	if err := scopedFn(0); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := scopedFn(0); err != nil {
			b.Fatal(err)
		}
	}
}
