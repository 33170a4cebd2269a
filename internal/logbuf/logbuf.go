// Package logbuf batches log output: under load, writing each request's log
// line with its own write(2) cost more CPU than minting its URL. A Writer
// keeps lines in memory and writes them out together every FlushEvery, or
// sooner once Size bytes are waiting.
//
// The price is that lines written in the last FlushEvery before a crash
// (SIGKILL, power loss) may be lost. Logs are for operators; the record that
// must survive a crash is the audit log, which is committed before every
// answer.
package logbuf

import (
	"io"
	"sync"
	"time"
)

// Defaults for New.
const (
	FlushEvery = 100 * time.Millisecond
	Size       = 64 << 10
)

// Writer is an io.Writer that buffers whole writes (one log line each) and
// passes them on to the underlying writer in batches. It is safe for
// concurrent use.
type Writer struct {
	mu     sync.Mutex
	w      io.Writer
	buf    []byte
	err    error // the first write error, reported by Close
	stop   chan struct{}
	done   chan struct{}
	closed bool
}

// New returns a Writer passing lines on to w at least every FlushEvery.
// Call Close to write what is left and stop its flusher.
func New(w io.Writer) *Writer {
	b := &Writer{w: w, buf: make([]byte, 0, Size), stop: make(chan struct{}), done: make(chan struct{})}
	go b.run()
	return b
}

// Write buffers p. A write as large as the buffer, or one after Close, goes
// straight through.
func (b *Writer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed || len(p) >= Size {
		b.flushLocked()
		return b.w.Write(p)
	}
	if len(b.buf)+len(p) > Size {
		b.flushLocked()
	}
	b.buf = append(b.buf, p...)
	return len(p), nil
}

// Flush writes out what is buffered.
func (b *Writer) Flush() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.flushLocked()
	return b.err
}

func (b *Writer) flushLocked() {
	if len(b.buf) == 0 {
		return
	}
	if _, err := b.w.Write(b.buf); err != nil && b.err == nil {
		b.err = err
	}
	b.buf = b.buf[:0]
}

func (b *Writer) run() {
	defer close(b.done)
	t := time.NewTicker(FlushEvery)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			b.Flush()
		case <-b.stop:
			return
		}
	}
}

// Close writes out what is buffered and stops the flusher; later writes go
// straight to the underlying writer. It returns the first write error seen.
func (b *Writer) Close() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return b.err
	}
	b.closed = true
	b.flushLocked()
	b.mu.Unlock()
	close(b.stop)
	<-b.done
	return b.err
}
