package postgres_test

import (
	"context"
	"testing"

	"github.com/sharesvc/sharesvc/internal/testrig/postgres"
)

// Starting a cluster: initdb, then the server until it accepts connections.
//
//	go test ./internal/testrig/postgres -run '^$' -bench Start -benchtime 5x
func BenchmarkStart(b *testing.B) {
	ctx := context.Background()
	for b.Loop() {
		c, err := postgres.Start(ctx)
		if err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		c.Stop()
		b.StartTimer()
	}
}

// A test's database: CREATE DATABASE, a copy of template1.
func BenchmarkCreateDatabase(b *testing.B) {
	ctx := context.Background()
	c, err := postgres.Start(ctx)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Stop()
	for b.Loop() {
		_, name, err := c.CreateDatabase(ctx)
		if err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		if err := c.DropDatabase(ctx, name); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
}
