// Package mailpit runs a real local SMTP server for tests: Mailpit
// (github.com/axllent/mailpit), built once by scripts/mailpit.sh into a cache
// outside the repository. It accepts mail on a loopback SMTP port and shows
// what it received through its HTTP API, and its "chaos" triggers make it
// refuse mail with a chosen SMTP code, to test retries and failures.
package mailpit

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/sharesvc/sharesvc/internal/localtool"
)

// Version is the pinned Mailpit release; scripts/mailpit.sh builds the same.
const Version = "v1.33.1"

// BinaryPath returns where scripts/mailpit.sh caches the binary:
// $SHARESVC_MAILPIT, else ${XDG_CACHE_HOME:-$HOME/.cache}/sharesvc/mailpit-<Version>.
// It does not build.
func BinaryPath() (string, error) {
	p, err := localtool.CachedBinary("SHARESVC_MAILPIT", "mailpit-"+Version)
	if err != nil {
		return "", fmt.Errorf("mailpit: %w", err)
	}
	return p, nil
}

// Server is a running Mailpit.
type Server struct {
	// SMTPHost and SMTPPort are where it accepts mail (plain SMTP, no auth).
	SMTPHost string
	SMTPPort int
	// API is the base URL of its HTTP API (http://127.0.0.1:port).
	API string

	dir    string
	bin    string
	client *http.Client
	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{}
}

// Start runs Mailpit with its database in dir, on free loopback ports, and
// returns once its API answers. Errors name the missing binary and how to
// build it.
func Start(ctx context.Context, dir string) (*Server, error) {
	bin, err := BinaryPath()
	if err != nil {
		return nil, err
	}
	if fi, err := os.Stat(bin); err != nil || fi.IsDir() || fi.Mode().Perm()&0o111 == 0 {
		return nil, fmt.Errorf("mailpit: no executable at %s: run scripts/mailpit.sh (or make tools) to build it", bin)
	}
	s := &Server{SMTPHost: "127.0.0.1", dir: dir, bin: bin, client: &http.Client{Timeout: 10 * time.Second}}
	// A free port can be taken between choosing it and Mailpit binding it;
	// then Mailpit exits and is started again on new ports.
	for try := 1; ; try++ {
		err = s.start(ctx)
		if err == nil {
			return s, nil
		}
		if try == 3 || ctx.Err() != nil || !errors.Is(err, errExited) {
			return nil, err
		}
	}
}

// errExited means Mailpit stopped while starting.
var errExited = errors.New("mailpit exited at start")

func (s *Server) start(ctx context.Context) error {
	smtpPort, err := freePort()
	if err != nil {
		return err
	}
	httpPort, err := freePort()
	if err != nil {
		return err
	}
	s.SMTPPort = smtpPort
	s.API = "http://127.0.0.1:" + strconv.Itoa(httpPort)
	log, err := os.Create(filepath.Join(s.dir, "mailpit.log"))
	if err != nil {
		return fmt.Errorf("mailpit: %w", err)
	}
	cmd := exec.Command(s.bin,
		"--smtp", "127.0.0.1:"+strconv.Itoa(smtpPort),
		"--listen", "127.0.0.1:"+strconv.Itoa(httpPort),
		"--database", filepath.Join(s.dir, "mailpit.db"),
		"--enable-chaos", "--disable-version-check", "--smtp-disable-rdns", "--quiet",
	)
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = localtool.SysProcAttr()
	if err := cmd.Start(); err != nil {
		log.Close()
		return fmt.Errorf("mailpit: start %s: %w", s.bin, err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); log.Close(); close(exited) }()
	s.mu.Lock()
	s.cmd, s.exited = cmd, exited
	s.mu.Unlock()
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.API+"/api/v1/info", nil)
		if resp, err := s.client.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-exited:
			b, _ := os.ReadFile(filepath.Join(s.dir, "mailpit.log"))
			return fmt.Errorf("%w: %s", errExited, bytes.TrimSpace(b))
		case <-ctx.Done():
			s.Stop()
			return fmt.Errorf("mailpit did not answer: %w", ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Stop ends the process; stopping a stopped server does nothing.
func (s *Server) Stop() error {
	s.mu.Lock()
	cmd, exited := s.cmd, s.exited
	s.cmd = nil
	s.mu.Unlock()
	if cmd == nil {
		return nil
	}
	cmd.Process.Kill()
	<-exited
	return nil
}

// Address is one mailbox in a message.
type Address struct {
	Name    string `json:"Name"`
	Address string `json:"Address"`
}

// Message is a received message.
type Message struct {
	ID        string    `json:"ID"` // Mailpit's own id
	MessageID string    `json:"MessageID"`
	From      Address   `json:"From"`
	To        []Address `json:"To"`
	ReplyTo   []Address `json:"ReplyTo"` // only from Get
	Subject   string    `json:"Subject"`
	Text      string    `json:"Text"` // only from Get
	HTML      string    `json:"HTML"` // only from Get
}

// Messages lists every message received, newest first, without bodies.
func (s *Server) Messages(ctx context.Context) ([]Message, error) {
	var out struct {
		Messages []Message `json:"messages"`
	}
	if err := s.call(ctx, http.MethodGet, "/api/v1/messages?limit=1000", nil, &out); err != nil {
		return nil, err
	}
	return out.Messages, nil
}

// Get returns one message with its text and HTML bodies.
func (s *Server) Get(ctx context.Context, id string) (Message, error) {
	var m Message
	err := s.call(ctx, http.MethodGet, "/api/v1/message/"+url.PathEscape(id), nil, &m)
	return m, err
}

// DeleteAll removes every message.
func (s *Server) DeleteAll(ctx context.Context) error {
	return s.call(ctx, http.MethodDelete, "/api/v1/messages", map[string]any{}, nil)
}

// Refuse makes the SMTP server answer every recipient with code (e.g. 451
// for a temporary refusal, 550 for a permanent one); 0 accepts mail again.
func (s *Server) Refuse(ctx context.Context, code int) error {
	p := 100
	if code == 0 {
		code, p = 451, 0
	}
	body := map[string]any{"Recipient": map[string]int{"ErrorCode": code, "Probability": p}}
	return s.call(ctx, http.MethodPut, "/api/v1/chaos", body, nil)
}

func (s *Server) call(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, s.API+path, body)
	if err != nil {
		return err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return fmt.Errorf("mailpit %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("mailpit %s %s: %s: %s", method, path, resp.Status, bytes.TrimSpace(b))
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return fmt.Errorf("mailpit %s %s: %w", method, path, err)
		}
	}
	return nil
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("mailpit: find a free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}
