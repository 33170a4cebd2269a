package mailpit_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/sharesvc/sharesvc/internal/mail"
	"github.com/sharesvc/sharesvc/internal/mailpit"
)

// The script that builds the binary pins the same version as the harness.
func TestScriptPinsVersion(t *testing.T) {
	_, file, _, _ := runtime.Caller(0)
	b, err := os.ReadFile(filepath.Join(filepath.Dir(file), "..", "..", "scripts", "mailpit.sh"))
	if err != nil {
		t.Fatal(err)
	}
	if want := `version="` + mailpit.Version + `"`; !strings.Contains(string(b), want) {
		t.Fatalf("scripts/mailpit.sh does not pin %s", want)
	}
}

// Mailpit receives what the SMTP sender sends, and refuses on demand.
func TestSendReceiveRefuse(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	mp, err := mailpit.Start(ctx, t.TempDir())
	if err != nil {
		t.Fatalf("Mailpit is required (run scripts/mailpit.sh): %v", err)
	}
	defer mp.Stop()
	s, err := mail.NewSMTP(mail.SMTPConfig{Host: mp.SMTPHost, Port: mp.SMTPPort, TLS: mail.TLSNone})
	if err != nil {
		t.Fatal(err)
	}
	m := &mail.Message{ID: "one@test.example", From: "sharesvc <noreply@test.example>", To: "a@x.org",
		Subject: "hello", Text: "plain", HTML: "<p>html</p>", Date: time.Now()}
	if err := s.Send(ctx, m); err != nil {
		t.Fatalf("Send = %v", err)
	}
	msgs, err := mp.Messages(ctx)
	if err != nil || len(msgs) != 1 || msgs[0].MessageID != "one@test.example" || msgs[0].To[0].Address != "a@x.org" {
		t.Fatalf("Messages = %+v, %v; want the one sent", msgs, err)
	}
	full, err := mp.Get(ctx, msgs[0].ID)
	if err != nil || !strings.Contains(full.Text, "plain") || !strings.Contains(full.HTML, "<p>html</p>") {
		t.Fatalf("Get = %+v, %v", full, err)
	}

	for _, tc := range []struct {
		code      int
		permanent bool
	}{{451, false}, {550, true}} {
		t.Run(fmt.Sprint("refuse ", tc.code), func(t *testing.T) {
			if err := mp.Refuse(ctx, tc.code); err != nil {
				t.Fatal(err)
			}
			defer mp.Refuse(ctx, 0)
			err := s.Send(ctx, &mail.Message{ID: "two@test.example", From: "noreply@test.example", To: "b@x.org", Subject: "x", Text: "x", Date: time.Now()})
			var pe *mail.PermanentError
			if err == nil || isPerm(err, &pe) != tc.permanent {
				t.Fatalf("Send with the server refusing %d = %v; want an error, permanent %v", tc.code, err, tc.permanent)
			}
			if !strings.Contains(err.Error(), "451") && !strings.Contains(err.Error(), "550") {
				t.Errorf("error %q does not carry the server's answer", err)
			}
		})
	}
}

func isPerm(err error, pe **mail.PermanentError) bool { return errors.As(err, pe) }

// Without the binary, Start fails and says how to build it (tests that
// need Mailpit then fail; they never skip).
func TestStartWithoutBinary(t *testing.T) {
	t.Setenv("SHARESVC_MAILPIT", filepath.Join(t.TempDir(), "missing"))
	_, err := mailpit.Start(context.Background(), t.TempDir())
	if err == nil || !strings.Contains(err.Error(), "scripts/mailpit.sh") {
		t.Fatalf("Start without a binary = %v; want an error naming scripts/mailpit.sh", err)
	}
}
