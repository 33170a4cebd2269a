package sts

import (
	"context"
	"testing"
	"time"

	"github.com/sharesvc/sharesvc/internal/clocktest"
)

// gatedSource answers Retrieve only when its gate is opened.
type gatedSource struct {
	started chan struct{}
	gate    chan struct{}
	clock   *clocktest.Clock
}

func (g *gatedSource) Retrieve(ctx context.Context) (Credentials, error) {
	g.started <- struct{}{}
	<-g.gate
	return Credentials{AccessKeyID: "ASIALATE", SecretAccessKey: "s", SessionToken: "t",
		Expires: g.clock.Now().Add(time.Hour), SessionName: "late"}, nil
}

// A refresh in flight when the kill switch drops the session keeps nothing
// it gets: the switch is not undone by STS's late answer.
func TestDropDuringRefreshKeepsNothing(t *testing.T) {
	clock := clocktest.New(time.Unix(1_700_000_000, 0))
	src := &gatedSource{started: make(chan struct{}, 1), gate: make(chan struct{}), clock: clock}
	s := NewSigner(src, nil, SignerOptions{Clock: clock.Now})
	done := make(chan error, 1)
	go func() { done <- s.Prime(context.Background()) }()
	<-src.started
	s.Drop()
	close(src.gate)
	if err := <-done; err == nil {
		t.Fatal("Prime succeeded with a session dropped while it was assumed")
	}
	if _, ok := s.Session(); ok {
		t.Fatal("a session assumed before Drop was kept")
	}
	// The next refresh is not held back as if STS had failed.
	src.gate = make(chan struct{})
	close(src.gate)
	go func() { <-src.started }()
	if _, err := s.Grant(context.Background(), time.Minute); err != nil {
		t.Fatalf("Grant after the drop = %v; want a fresh session", err)
	}
}
