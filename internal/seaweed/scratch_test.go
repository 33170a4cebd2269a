package seaweed

import (
	"context"
	"os"
	"syscall"
	"testing"
	"time"
)

func TestScratchHang(t *testing.T) {
	f, _ := os.Create("/tmp/weedhang.log")
	defer f.Close()
	ctx := context.Background()
	os.RemoveAll("/tmp/wdbg2")
	srv, err := Start(ctx, Options{Dir: "/tmp/wdbg2", Log: f})
	if err != nil {
		t.Fatal(err)
	}
	if os.Getenv("SCRATCH_PUT") != "" {
		if err := srv.PutObject(ctx, DefaultBucket, "k", []byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	if os.Getenv("SCRATCH_RESTART") != "" {
		if err := srv.Restart(ctx); err != nil {
			t.Fatal(err)
		}
	}
	p := srv.proc
	t0 := time.Now()
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		t.Log("exited", time.Since(t0))
		return
	case <-time.After(8 * time.Second):
	}
	p.cmd.Process.Signal(syscall.SIGQUIT)
	<-p.done
	t.Log("quit")
}
