package seaweed

import (
	"context"
	"os"
	"sync"
	"testing"
	"time"
)

// Shared is one SeaweedFS for a whole test package, started on first use
// and stopped by Stop (call it from TestMain). If it cannot start, every
// test that asks for it fails, naming the cause.
type Shared struct {
	// Buckets to create at start.
	Buckets []string

	once sync.Once
	srv  *Server
	err  error
	dir  string
}

// Get returns the running server, starting it on first use; it fails t if
// the server cannot run.
func (s *Shared) Get(t testing.TB) *Server {
	t.Helper()
	s.once.Do(func() {
		s.dir, s.err = os.MkdirTemp("", "sharesvc-s3-")
		if s.err != nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		s.srv, s.err = Start(ctx, Options{Dir: s.dir, Buckets: s.Buckets})
	})
	if s.err != nil {
		t.Fatalf("the real S3+STS server is required (run scripts/seaweedfs.sh to build it): %v", s.err)
	}
	return s.srv
}

// Stop stops the server, if it was started, and removes its files.
func (s *Shared) Stop() {
	if s.srv != nil {
		s.srv.Stop()
	}
	if s.dir != "" {
		os.RemoveAll(s.dir)
	}
}
