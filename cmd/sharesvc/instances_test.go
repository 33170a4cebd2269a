package main

import (
	"context"
	"maps"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/sharesvc/sharesvc/internal/audit"
	"github.com/sharesvc/sharesvc/internal/testrig/postgres"
)

// N real instances on one PostgreSQL database behind a round-robin
// balancer: a client bursting on one link gets at most the configured
// link limit plus N−1 (the burst rounded up on each instance) with
// --instances N, where without it each instance would give the whole
// burst; with one instance the limit is exactly what it was.
func TestInstancesDivideRateLimits(t *testing.T) {
	const (
		bucket   = "instances-test"
		burst    = 10
		requests = 30
	)
	s3 := startS3(t, bucket)
	if err := s3.PutObject(context.Background(), bucket, "doc.txt", []byte("shared bytes")); err != nil {
		t.Fatal(err)
	}
	priv, _, err := audit.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(t.TempDir(), "checkpoint.key")
	if err := os.WriteFile(keyFile, priv, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, n := range []int{1, 3} {
		t.Run(strconv.Itoa(n)+" instances", func(t *testing.T) {
			env := s3env(s3, bucket, postgres.Database(t))
			maps.Copy(env, map[string]string{
				"SHARESVC_CHECKPOINT_KEY": keyFile, "SHARESVC_CHECKPOINT_DIR": t.TempDir(),
				// One an hour: nothing refills during the test, so the
				// bound is the burst's alone.
				"SHARESVC_RATE_LINK": "1/h burst " + strconv.Itoa(burst),
				"SHARESVC_RATE_IP":   "off",
				"SHARESVC_INSTANCES": strconv.Itoa(n),
			})
			admin := strings.TrimSpace(runCLI(t, env, "token", "create", "--role", "admin", "--name", "root"))
			var bases []string
			for range n {
				_, base, stop := startService(t, maps.Clone(env))
				t.Cleanup(stop)
				bases = append(bases, base)
			}
			short := createLinkAPI(t, bases[0], admin, `{"key":"doc.txt","expires_in":3600}`)
			u, err := url.Parse(short)
			if err != nil {
				t.Fatal(err)
			}
			codes := map[int]int{}
			for i := range requests {
				r, err := noFollow.Get(bases[i%n] + u.Path)
				if err != nil {
					t.Fatal(err)
				}
				r.Body.Close()
				codes[r.StatusCode]++
			}
			accepted, bound := codes[http.StatusFound], burst+n-1
			t.Logf("%d instances: %d of %d requests minted, %d refused (429); bound %d", n, accepted, requests, codes[http.StatusTooManyRequests], bound)
			if accepted > bound || accepted < burst || accepted+codes[http.StatusTooManyRequests] != requests {
				t.Errorf("%d instances: answers %v; want between %d and %d minted (302), the rest 429", n, codes, burst, bound)
			}
			if n == 1 && accepted != burst {
				t.Errorf("one instance minted %d; want exactly the burst, %d", accepted, burst)
			}
		})
	}
}
