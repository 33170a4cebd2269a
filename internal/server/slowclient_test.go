package server_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sharesvc/sharesvc/internal/audit"
)

// TestStalledExportsHoldNothing starts audit exports whose clients never
// read, on a log large enough that every one of them blocks on its socket,
// and checks that what the redirect path, the API and readiness need is
// still there: a fresh open, GET /api/v1/links and /readyz each answer
// within 2 s.
func TestStalledExportsHoldNothing(t *testing.T) {
	const exports = 8 // the read pool's size (internal/db)
	e := newEnv(t, envOptions{})
	e.put("stall.txt", "stall")
	fresh := sharePath(t, e.createLink(e.sharer, `{"key":"stall.txt"}`).URL)

	// About 14 MB of export, far beyond what the sockets between a client
	// and the server buffer.
	pad := strings.Repeat("p", 2300)
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for g := range 64 {
		wg.Go(func() {
			for i := range 6000 / 64 {
				ev := audit.Event{Action: "test.pad", Actor: "test", Outcome: audit.OutcomeOK,
					Detail: fmt.Sprintf(`{"n":%d,"pad":%q}`, g*1000+i, pad)}
				if _, err := e.audit.Append(context.Background(), ev, nil); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}

	// Clients with a tiny receive buffer that send the request and read
	// nothing back.
	d := net.Dialer{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) { serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) })
		if err != nil {
			return err
		}
		return serr
	}}
	host := strings.TrimPrefix(e.http.URL, "http://")
	for range exports {
		c, err := d.Dial("tcp", host)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		fmt.Fprintf(c, "GET /api/v1/audit/export?format=jsonl HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\n\r\n", host, e.admin)
	}
	for deadline := time.Now().Add(10 * time.Second); e.value("sharesvc_http_requests_in_flight") < exports; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%v exports in flight; want %d", e.value("sharesvc_http_requests_in_flight"), exports)
		}
	}
	// Give them time to fill their sockets and block.
	time.Sleep(time.Second)

	// Well under exportWriteTimeout (30 s), which is how long a request
	// queued behind a held connection would wait; generous enough for a
	// loaded machine.
	client := &http.Client{Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for _, tc := range []struct {
		name, path, token string
		want              int
	}{
		{"fresh open", fresh, "", http.StatusFound},
		{"GET /api/v1/links", "/api/v1/links", e.admin, http.StatusOK},
		{"GET /readyz", "/readyz", "", http.StatusOK},
	} {
		req, _ := http.NewRequest("GET", e.http.URL+tc.path, nil)
		if tc.token != "" {
			req.Header.Set("Authorization", "Bearer "+tc.token)
		}
		start := time.Now()
		r, err := client.Do(req)
		took := time.Since(start)
		if err != nil {
			t.Errorf("%s with %d stalled exports: %v after %s; want %d within 10 s", tc.name, exports, err, took.Round(time.Millisecond), tc.want)
			continue
		}
		r.Body.Close()
		if r.StatusCode != tc.want {
			t.Errorf("%s with %d stalled exports = %d; want %d", tc.name, exports, r.StatusCode, tc.want)
		}
		t.Logf("%s: %d in %s", tc.name, r.StatusCode, took.Round(time.Millisecond))
	}
	if e.value("sharesvc_http_requests_in_flight") < exports {
		t.Errorf("the exports finished: the test proved nothing")
	}
}
