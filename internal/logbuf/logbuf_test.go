package logbuf

import (
	"bytes"
	"strings"
	"sync"
	"testing"
	"time"
)

// lockedBuffer records each Write the Writer passes on.
type lockedBuffer struct {
	mu     sync.Mutex
	b      bytes.Buffer
	writes int
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.writes++
	return l.b.Write(p)
}

func (l *lockedBuffer) snapshot() (string, int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String(), l.writes
}

func TestLinesArriveWholeInOrderAndTogether(t *testing.T) {
	var out lockedBuffer
	w := New(&out)
	for i := range 100 {
		if _, err := w.Write([]byte(strings.Repeat("x", i%7) + "\n")); err != nil {
			t.Fatal(err)
		}
	}
	if s, _ := out.snapshot(); s != "" {
		t.Fatalf("lines were written before a flush: %q", s)
	}
	// The flusher passes them on without a call from us.
	deadline := time.Now().Add(5 * FlushEvery)
	for {
		s, n := out.snapshot()
		if strings.Count(s, "\n") == 100 {
			if n != 1 {
				t.Errorf("100 lines took %d writes, want 1", n)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %s only %d of 100 lines were written", 5*FlushEvery, strings.Count(s, "\n"))
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestCloseFlushesAndLaterWritesGoThrough(t *testing.T) {
	var out lockedBuffer
	w := New(&out)
	w.Write([]byte("one\n"))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if s, _ := out.snapshot(); s != "one\n" {
		t.Fatalf("after Close got %q, want %q", s, "one\n")
	}
	w.Write([]byte("two\n"))
	if s, _ := out.snapshot(); s != "one\ntwo\n" {
		t.Fatalf("a write after Close was held back: %q", s)
	}
}

func TestFullBufferFlushesBeforeOverflowing(t *testing.T) {
	var out lockedBuffer
	w := New(&out)
	defer w.Close()
	line := []byte(strings.Repeat("y", 1000) + "\n")
	for range Size/len(line) + 1 {
		w.Write(line)
	}
	s, n := out.snapshot()
	if n != 1 || len(s)%len(line) != 0 || len(s) == 0 {
		t.Fatalf("overflow wrote %d bytes in %d writes; want whole lines in 1 write", len(s), n)
	}
}
