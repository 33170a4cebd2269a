package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sharesvc/sharesvc/internal/links"
)

// HTTP abuse against the real serve wiring (its http.Server timeouts and
// limits), on a private S3+STS server.

type abuseFixture struct {
	base  string // http://host:port
	addr  string
	admin string
	s3    string // the S3 endpoint's host:port
	svc   *service
}

func startAbuseFixture(t *testing.T) *abuseFixture {
	t.Helper()
	const bucket = "abuse-test"
	s3 := startS3(t, bucket)
	ctx := context.Background()
	if err := s3.PutObject(ctx, bucket, "doc.txt", []byte("doc")); err != nil {
		t.Fatal(err)
	}
	env := s3env(s3, bucket, "")
	serveDB(t, env)
	for _, k := range []string{"SHARESVC_RATE_IP", "SHARESVC_RATE_MISS", "SHARESVC_RATE_LINK", "SHARESVC_RATE_TOKEN"} {
		env[k] = "off" // this is about the HTTP server, not the limits
	}
	admin := strings.TrimSpace(runCLI(t, env, "token", "create", "--role", "admin", "--name", "root"))
	svc, base, stop := startService(t, env)
	t.Cleanup(stop)
	u, err := url.Parse(s3.Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	return &abuseFixture{base: base, addr: env["SHARESVC_LISTEN"], admin: admin, s3: u.Host, svc: svc}
}

// raw sends req as written on a new connection and reads one response.
func (f *abuseFixture) raw(t *testing.T, req string) (*http.Response, error) {
	t.Helper()
	c, err := net.Dial("tcp", f.addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(30 * time.Second))
	// Write while reading: the server may answer (431) before it has
	// read everything.
	go io.Copy(c, strings.NewReader(req))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err == nil {
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	return resp, err
}

// A client trickling its headers is cut off by ReadHeaderTimeout (5 s)
// however steadily it sends; meanwhile other clients are answered.
func TestSlowClientsAreCutOff(t *testing.T) {
	f := startAbuseFixture(t)
	const slow = 8
	type cut struct {
		after time.Duration
		got   string
		err   error
	}
	cuts := make(chan cut, slow)
	for range slow {
		go func() {
			c, err := net.Dial("tcp", f.addr)
			if err != nil {
				cuts <- cut{err: err}
				return
			}
			defer c.Close()
			start := time.Now()
			if _, err := io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: x\r\n"); err != nil {
				cuts <- cut{err: err}
				return
			}
			// Read in the background: the server's close ends it.
			closed := make(chan string, 1)
			go func() {
				b, _ := io.ReadAll(io.LimitReader(c, 4096))
				closed <- string(b)
			}()
			tick := time.NewTicker(250 * time.Millisecond)
			defer tick.Stop()
			for n := 0; ; n++ {
				select {
				case got := <-closed:
					cuts <- cut{after: time.Since(start), got: got}
					return
				case <-tick.C:
					// One header byte at a time, never finishing.
					c.SetWriteDeadline(time.Now().Add(time.Second))
					c.Write([]byte{"X-Slow-"[n%7]})
					if time.Since(start) > 30*time.Second {
						cuts <- cut{after: time.Since(start), err: io.ErrNoProgress}
						return
					}
				}
			}
		}()
	}
	// Normal clients during the attack.
	var served, failed atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			client := &http.Client{Timeout: 2 * time.Second}
			for {
				select {
				case <-stop:
					return
				default:
				}
				r, err := client.Get(f.base + "/healthz")
				if err != nil || r.StatusCode != http.StatusOK {
					failed.Add(1)
				} else {
					served.Add(1)
				}
				if r != nil {
					r.Body.Close()
				}
				time.Sleep(10 * time.Millisecond)
			}
		})
	}
	for range slow {
		c := <-cuts
		switch {
		case c.err != nil:
			t.Errorf("slow client: %v; want the server to close it after about 5s", c.err)
		case c.after > 15*time.Second:
			t.Errorf("slow client cut off after %s; want about 5s", c.after)
		case strings.Contains(c.got, " 200 "):
			t.Errorf("slow client was answered %q", c.got)
		}
		t.Logf("slow client cut off after %s (answer %q)", c.after.Round(100*time.Millisecond), firstLine(c.got))
	}
	close(stop)
	wg.Wait()
	if failed.Load() != 0 || served.Load() < 10 {
		t.Fatalf("normal clients during the attack: %d served, %d failed; want all served", served.Load(), failed.Load())
	}
	t.Logf("normal clients: %d requests served during the attack", served.Load())
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\r\n")
	return line
}

// Oversized headers and bodies are refused with a 4xx, and nothing changes.
func TestOversizedRequestsRefused(t *testing.T) {
	f := startAbuseFixture(t)
	link := createLinkAPI(t, f.base, f.admin, `{"key":"doc.txt"}`)
	share := strings.TrimPrefix(link, f.base)
	big := strings.Repeat("a", 1<<20)
	body := `{"key":"doc.txt","note":"` + big + `"}`
	for _, tc := range []struct {
		name string
		req  string
		want int
	}{
		{"1 MB header on a share link", "GET " + share + " HTTP/1.1\r\nHost: x\r\nX-Big: " + big + "\r\n\r\n", http.StatusRequestHeaderFieldsTooLarge},
		{"1 MB of small headers", "GET " + share + " HTTP/1.1\r\nHost: x\r\n" + strings.Repeat("X-A: b\r\n", 1<<17) + "\r\n", http.StatusRequestHeaderFieldsTooLarge},
		{"1 MB code", "GET /s/" + big + " HTTP/1.1\r\nHost: x\r\n\r\n", http.StatusRequestHeaderFieldsTooLarge},
		{"1 MB header on the API", "GET /api/v1/links HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + f.admin + "\r\nX-Big: " + big + "\r\n\r\n", http.StatusRequestHeaderFieldsTooLarge},
		{"1 MB body on the API", "POST /api/v1/links HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + f.admin +
			"\r\nContent-Type: application/json\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\nConnection: close\r\n\r\n" + body, http.StatusRequestEntityTooLarge},
		{"1 MB chunked body on the API", "POST /api/v1/links HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + f.admin +
			"\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n" + chunked(body), http.StatusRequestEntityTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := f.raw(t, tc.req)
			if err != nil {
				t.Fatalf("no answer: %v; want %d", err, tc.want)
			}
			if resp.StatusCode != tc.want || resp.Header.Get("Location") != "" {
				t.Fatalf("%s = %d (Location %q); want %d", tc.name, resp.StatusCode, resp.Header.Get("Location"), tc.want)
			}
		})
	}
	var n int
	if err := f.svc.db.Read.QueryRow(`SELECT COUNT(*) FROM links`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("links after the oversized requests = %d, %v; want the one created", n, err)
	}
	var uses int
	if err := f.svc.db.Read.QueryRow(`SELECT uses FROM links`).Scan(&uses); err != nil || uses != 0 {
		t.Fatalf("uses = %d, %v; refused requests spend nothing", uses, err)
	}
}

func chunked(s string) string {
	var b strings.Builder
	for len(s) > 0 {
		n := min(len(s), 8192)
		fmt.Fprintf(&b, "%x\r\n%s\r\n", n, s[:n])
		s = s[n:]
	}
	b.WriteString("0\r\n\r\n")
	return b.String()
}

// No header, request-target form or query can steer the Location of a
// minted URL away from the S3 endpoint (no open redirect).
func TestLocationHostCannotBeSteered(t *testing.T) {
	f := startAbuseFixture(t)
	link := createLinkAPI(t, f.base, f.admin, `{"key":"doc.txt"}`)
	share := strings.TrimPrefix(link, f.base)
	code := strings.TrimPrefix(share, "/s/")
	if !links.ValidCode(code) {
		t.Fatalf("short URL %q has no valid code", link)
	}
	const evil = "evil.example"
	for _, tc := range []struct {
		name string
		req  string
	}{
		{"Host", "GET " + share + " HTTP/1.1\r\nHost: " + evil + "\r\n\r\n"},
		{"Host with port", "GET " + share + " HTTP/1.1\r\nHost: " + evil + ":443\r\n\r\n"},
		{"X-Forwarded-Host", "GET " + share + " HTTP/1.1\r\nHost: x\r\nX-Forwarded-Host: " + evil + "\r\nX-Forwarded-Proto: https\r\n\r\n"},
		{"Forwarded", "GET " + share + " HTTP/1.1\r\nHost: x\r\nForwarded: host=" + evil + ";proto=https\r\n\r\n"},
		{"X-Original-URL", "GET " + share + " HTTP/1.1\r\nHost: x\r\nX-Original-URL: //" + evil + "/\r\nX-Rewrite-URL: //" + evil + "/\r\n\r\n"},
		{"absolute-form target", "GET http://" + evil + share + " HTTP/1.1\r\nHost: " + evil + "\r\n\r\n"},
		{"absolute-form https target", "GET https://" + evil + share + " HTTP/1.1\r\nHost: x\r\n\r\n"},
		{"query redirect parameters", "GET " + share + "?redirect=https://" + evil + "&url=//" + evil + "&response-content-disposition=x HTTP/1.1\r\nHost: x\r\n\r\n"},
		{"X-Forwarded-For from an untrusted peer", "GET " + share + " HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 203.0.113.9\r\nX-Forwarded-Host: " + evil + "\r\n\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := f.raw(t, tc.req)
			if err != nil {
				t.Fatal(err)
			}
			loc := resp.Header.Get("Location")
			switch resp.StatusCode {
			case http.StatusFound:
				u, err := url.Parse(loc)
				if err != nil || u.Host != f.s3 || u.Scheme != "http" {
					t.Fatalf("Location host %q (scheme %q); want the S3 endpoint %s", u.Host, u.Scheme, f.s3)
				}
				if strings.Contains(loc, evil) {
					t.Fatalf("Location carries %s", evil)
				}
			default:
				// Every variant names a live link: it must mint, to S3.
				t.Fatalf("%d with Location %q; want a 302 to S3", resp.StatusCode, loc)
			}
		})
	}
}
