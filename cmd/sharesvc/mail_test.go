package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sharesvc/sharesvc/internal/mail"
	"github.com/sharesvc/sharesvc/internal/mailpit"
	"github.com/sharesvc/sharesvc/internal/server"
)

// Mail settings that cannot work stop the service at start, naming the
// setting.
func TestServeRejectsBadMailConfiguration(t *testing.T) {
	base := map[string]string{"SHARESVC_ROLE_ARN": "arn:aws:iam::123456789012:role/x",
		"SHARESVC_SMTP_HOST": "smtp.example.org", "SHARESVC_SMTP_FROM": "files@example.org", "SHARESVC_MAIL_KEY": mail.NewKey()}
	cases := []struct {
		name string
		env  map[string]string
		want string
	}{
		{"no from", map[string]string{"SHARESVC_SMTP_FROM": ""}, "SHARESVC_SMTP_FROM"},
		{"no key", map[string]string{"SHARESVC_MAIL_KEY": ""}, "SHARESVC_MAIL_KEY"},
		{"bad from", map[string]string{"SHARESVC_SMTP_FROM": "files at example"}, "SHARESVC_SMTP_FROM"},
		{"bad tls", map[string]string{"SHARESVC_SMTP_TLS": "ssl"}, "SHARESVC_SMTP_TLS"},
		{"bad port", map[string]string{"SHARESVC_SMTP_PORT": "99999"}, "SHARESVC_SMTP_PORT"},
		{"port not a number", map[string]string{"SHARESVC_SMTP_PORT": "smtp"}, "SHARESVC_SMTP_PORT"},
		{"password without user", map[string]string{"SHARESVC_SMTP_PASSWORD": "pw"}, "SHARESVC_SMTP_USER"},
		{"two passwords", map[string]string{"SHARESVC_SMTP_USER": "u", "SHARESVC_SMTP_PASSWORD": "pw", "SHARESVC_SMTP_PASSWORD_FILE": "/x"}, "SHARESVC_SMTP_PASSWORD"},
		{"no recipients allowed", map[string]string{"SHARESVC_MAX_RECIPIENTS": "0"}, "SHARESVC_MAX_RECIPIENTS"},
		{"short digest", map[string]string{"SHARESVC_MAIL_DIGEST_INTERVAL": "10s"}, "SHARESVC_MAIL_DIGEST_INTERVAL"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := run(context.Background(), []string{"serve"}, getenvFrom(withEnv(base, tc.env)), &bytes.Buffer{}, &bytes.Buffer{})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("serve with %v = %v; want an error naming %s", tc.env, err, tc.want)
			}
		})
	}

	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "short.key"), []byte("abc"), 0o600)
	os.WriteFile(filepath.Join(dir, "share.txt.tmpl"), []byte("{{.Sharer"), 0o600)
	built := []struct {
		name string
		m    mailSettings
		want string
		is   error
	}{
		{"key file too short", mailSettings{Host: "h", From: "f@x.org", Key: filepath.Join(dir, "short.key")}, "SHARESVC_MAIL_KEY", mail.ErrKey},
		{"template does not parse", mailSettings{Host: "h", From: "f@x.org", Key: mail.NewKey(), Templates: dir}, "SHARESVC_MAIL_TEMPLATES", mail.ErrConfig},
		{"template dir missing", mailSettings{Host: "h", From: "f@x.org", Key: mail.NewKey(), Templates: filepath.Join(dir, "nope")}, "SHARESVC_MAIL_TEMPLATES", mail.ErrConfig},
		{"bad from", mailSettings{Host: "h", From: "not an address", Key: mail.NewKey()}, "SHARESVC_SMTP_FROM", mail.ErrConfig},
		{"password file missing", mailSettings{Host: "h", From: "f@x.org", Key: mail.NewKey(), User: "u", PasswordFile: filepath.Join(dir, "pw")}, "SHARESVC_SMTP_PASSWORD_FILE", os.ErrNotExist},
	}
	for _, tc := range built {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.m.build(nil, nil, "http://share.example", slog.New(slog.DiscardHandler), nil, nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !errors.Is(err, tc.is) {
				t.Fatalf("build = %v; want %v naming %s", err, tc.is, tc.want)
			}
		})
	}
	if m, err := (&mailSettings{}).build(nil, nil, "http://share.example", nil, nil, nil); m != nil || err != nil {
		t.Fatalf("build without a host = %v, %v; want mail off", m, err)
	}
}

// Serve with SMTP settings, end to end: a share's messages go out from the
// real worker, the link in a message downloads after the confirmation
// button, and after a restart nothing is sent again.
func TestServeSendsShareMail(t *testing.T) {
	const bucket = "mail-test"
	s3 := startS3(t, bucket)
	if err := s3.PutObject(context.Background(), bucket, "plan.txt", []byte("the plan")); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	mp, err := mailpit.Start(ctx, t.TempDir())
	if err != nil {
		t.Fatalf("the real SMTP server is required (run scripts/mailpit.sh): %v", err)
	}
	defer mp.Stop()

	keyFile := filepath.Join(t.TempDir(), "mail.key")
	os.WriteFile(keyFile, []byte(mail.NewKey()+"\n"), 0o600)
	env := s3env(s3, bucket, "")
	serveDB(t, env)
	env["SHARESVC_SMTP_HOST"], env["SHARESVC_SMTP_PORT"], env["SHARESVC_SMTP_TLS"] = mp.SMTPHost, strconv.Itoa(mp.SMTPPort), "none"
	env["SHARESVC_SMTP_FROM"], env["SHARESVC_MAIL_KEY"] = "Files <files@example.org>", keyFile
	admin := strings.TrimSpace(runCLI(t, env, "token", "create", "--role", "admin", "--name", "root"))

	// waitMail waits for the worker (a real goroutine) to deliver n
	// messages in all; it asserts what arrived, not how fast.
	waitMail := func(n int) []mailpit.Message {
		for {
			msgs, err := mp.Messages(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if len(msgs) >= n {
				return msgs
			}
			select {
			case <-ctx.Done():
				t.Fatalf("%d messages arrived; want %d", len(msgs), n)
			case <-time.After(20 * time.Millisecond):
			}
		}
	}

	_, base, stop := startService(t, env)
	cli := map[string]string{"SHARESVC_URL": base, "SHARESVC_TOKEN": admin}
	// The API's whole answer (--json) is a share, and holds no link.
	var sh server.ShareResponse
	out := runCLI(t, cli, "link", "create", "--key", "plan.txt", "--recipient", "ann@example.org", "--recipient", "ben@example.org", "--json")
	if err := json.Unmarshal([]byte(out), &sh); err != nil || !strings.HasPrefix(sh.ID, "shr_") || len(sh.Links) != 2 || strings.Contains(out, "/s/") {
		t.Fatalf("create share = %s (%v); want a share of 2 links without a link", out, err)
	}
	msgs := waitMail(2)
	full, err := mp.Get(ctx, msgs[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	link := regexp.MustCompile(regexp.QuoteMeta(base) + `/s/[A-Za-z0-9_-]{24}`).FindString(full.Text)
	if link == "" {
		t.Fatalf("no link in the message:\n%s", full.Text)
	}
	page, err := http.Get(link) // a Go client sends no text/html: recipient links still show the page
	if err != nil {
		t.Fatal(err)
	}
	page.Body.Close()
	if page.StatusCode != http.StatusOK || page.Header.Get("Content-Security-Policy") == "" {
		t.Fatalf("GET of a recipient link = %d; want the confirmation page", page.StatusCode)
	}
	got, err := http.Post(link, "application/x-www-form-urlencoded", nil) // follows the 303
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(got.Body)
	got.Body.Close()
	if got.StatusCode != 200 || string(b) != "the plan" {
		t.Fatalf("pressing the button = %d %q; want the object", got.StatusCode, b)
	}
	stop()

	// After a restart the sent messages stay sent: the next share's message
	// is the only new one.
	// This time through the CLI: it shows the share, never a code.
	_, base, stop = startService(t, env)
	defer stop()
	cli["SHARESVC_URL"] = base
	out = runCLI(t, cli, "link", "create", "--key", "plan.txt", "--recipient", "cat@example.org", "--notify", "owner@example.org")
	if !regexp.MustCompile(`(?m)^cat@example\.org +lnk_\S+ .* (queued|sending|sent)$`).MatchString(out) || strings.Contains(out, "/s/") {
		t.Fatalf("link create --recipient printed:\n%s\nwant cat@example.org's link id and mail state, and no link", out)
	}
	msgs = waitMail(3)
	seen := map[string]int{}
	for _, m := range msgs {
		seen[m.To[0].Address]++
	}
	if len(msgs) != 3 || seen["ann@example.org"] != 1 || seen["ben@example.org"] != 1 || seen["cat@example.org"] != 1 {
		t.Fatalf("messages by recipient = %v; want one each", seen)
	}
}
