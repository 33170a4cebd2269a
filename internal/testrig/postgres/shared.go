package postgres

import (
	"context"
	"os"
	"sync"
	"testing"
	"time"
)

// One cluster per test binary, started by the first Database call.
var (
	sharedOnce    sync.Once
	sharedCluster *Cluster
	sharedErr     error
)

// Database returns the URL of a new database for t in the test binary's
// shared cluster, starting the cluster on first use; the database is
// dropped when t ends. It fails t (never skips) when PostgreSQL cannot run.
// A package that uses it stops the cluster cleanly with Main.
func Database(t testing.TB) string {
	t.Helper()
	sharedOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		sharedCluster, sharedErr = Start(ctx)
	})
	if sharedErr != nil {
		t.Fatalf("a real PostgreSQL is required (run scripts/postgres.sh to install it): %v", sharedErr)
	}
	return sharedCluster.Database(t)
}

// Main runs the tests of m, stops the shared cluster if Database started
// one, and exits with the tests' status: call it from TestMain. Without it
// the cluster dies with the test binary, leaving its directory behind.
func Main(m *testing.M) {
	os.Exit(RunMain(m))
}

// RunMain is Main without the exit: it returns the tests' status, for a
// TestMain that has more to stop.
func RunMain(m *testing.M) int {
	code := m.Run()
	if sharedCluster != nil {
		sharedCluster.Stop()
	}
	return code
}
