package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	netmail "net/mail"
	"os"
	"strings"
	"time"

	"github.com/sharesvc/sharesvc/internal/audit"
	"github.com/sharesvc/sharesvc/internal/mail"
)

// mailSettings configure sharing by email. With no SMTP host, mail is off
// and create requests with recipients are refused.
type mailSettings struct {
	Host           string        `name:"smtp-host" envvar:"SHARESVC_SMTP_HOST" placeholder:"HOST" help:"SMTP server that sends share messages (empty: sharing by email is off)."`
	Port           int           `name:"smtp-port" envvar:"SHARESVC_SMTP_PORT" default:"0" help:"SMTP port (default 25, 587 or 465 by --smtp-tls)."`
	TLS            string        `name:"smtp-tls" envvar:"SHARESVC_SMTP_TLS" default:"starttls" help:"SMTP encryption: starttls (required), tls (implicit) or none."`
	User           string        `name:"smtp-user" envvar:"SHARESVC_SMTP_USER" placeholder:"USER" help:"SMTP user (empty: no authentication)."`
	PasswordFile   string        `name:"smtp-password-file" envvar:"SHARESVC_SMTP_PASSWORD_FILE" placeholder:"FILE" help:"File holding the SMTP password (or set $$SHARESVC_SMTP_PASSWORD, never a flag)."`
	password       string        // from $SHARESVC_SMTP_PASSWORD only: never a flag, which ps would show
	From           string        `name:"mail-from" envvar:"SHARESVC_SMTP_FROM" placeholder:"ADDRESS" help:"From address of every message, e.g. \"Files <files@example.org>\"."`
	Key            string        `name:"mail-key" envvar:"SHARESVC_MAIL_KEY" placeholder:"KEY" help:"Key sealing codes in the mail queue: a file, or 64 hex digits (create with: openssl rand -hex 32)."`
	Templates      string        `name:"mail-templates" envvar:"SHARESVC_MAIL_TEMPLATES" placeholder:"DIR" help:"Directory of message templates replacing the built-in ones."`
	MaxRecipients  int           `name:"max-recipients" envvar:"SHARESVC_MAX_RECIPIENTS" default:"50" help:"Most recipients of one share."`
	DigestInterval time.Duration `name:"mail-digest-interval" envvar:"SHARESVC_MAIL_DIGEST_INTERVAL" default:"1h" help:"How long first opens are gathered into one digest notice."`
	MaxAttempts    int           `name:"mail-max-attempts" envvar:"SHARESVC_MAIL_MAX_ATTEMPTS" default:"8" help:"SMTP attempts before a message fails for good."`
}

// validate checks what can be checked without touching files.
func (m *mailSettings) validate() error {
	switch {
	case m.MaxRecipients < 1 || m.MaxRecipients > 1000:
		return fmt.Errorf("-max-recipients ($SHARESVC_MAX_RECIPIENTS) %d must be 1-1000", m.MaxRecipients)
	case m.Host == "":
		return nil
	case m.From == "":
		return errors.New("-mail-from ($SHARESVC_SMTP_FROM) is required with -smtp-host: the From address of share messages")
	case !validFrom(m.From):
		return fmt.Errorf("-mail-from ($SHARESVC_SMTP_FROM) %q is not an e-mail address", m.From)
	case m.Key == "":
		return errors.New("-mail-key ($SHARESVC_MAIL_KEY) is required with -smtp-host: it seals codes in the mail queue (create one with: openssl rand -hex 32)")
	case m.TLS != mail.TLSNone && m.TLS != mail.TLSStartTLS && m.TLS != mail.TLSImplicit:
		return fmt.Errorf("-smtp-tls ($SHARESVC_SMTP_TLS) %q must be starttls, tls or none", m.TLS)
	case m.Port < 0 || m.Port > 65535:
		return fmt.Errorf("-smtp-port ($SHARESVC_SMTP_PORT) %d must be 1-65535", m.Port)
	case m.PasswordFile != "" && m.password != "":
		return errors.New("set $SHARESVC_SMTP_PASSWORD or -smtp-password-file ($SHARESVC_SMTP_PASSWORD_FILE), not both")
	case (m.PasswordFile != "" || m.password != "") && m.User == "":
		return errors.New("-smtp-user ($SHARESVC_SMTP_USER) is required with an SMTP password")
	case m.DigestInterval < time.Minute:
		return fmt.Errorf("-mail-digest-interval ($SHARESVC_MAIL_DIGEST_INTERVAL) %s must be at least 1m", m.DigestInterval)
	case m.MaxAttempts < 1 || m.MaxAttempts > 100:
		return fmt.Errorf("-mail-max-attempts ($SHARESVC_MAIL_MAX_ATTEMPTS) %d must be 1-100", m.MaxAttempts)
	}
	return nil
}

func validFrom(s string) bool {
	_, err := netmail.ParseAddress(s)
	return err == nil
}

// build returns the mailer, or nil when no SMTP host is set. Errors name
// the setting.
func (m *mailSettings) build(read *sql.DB, log *audit.Log, publicURL string, logger *slog.Logger,
	paused func(context.Context) (bool, error), onAttempt func(kind, result string)) (*mail.Mailer, error) {
	if m.Host == "" {
		return nil, nil
	}
	key, err := mail.LoadKey(m.Key)
	if err != nil {
		return nil, fmt.Errorf("-mail-key ($SHARESVC_MAIL_KEY): %w", err)
	}
	password := m.password
	if m.PasswordFile != "" {
		b, err := os.ReadFile(m.PasswordFile)
		if err != nil {
			return nil, fmt.Errorf("-smtp-password-file ($SHARESVC_SMTP_PASSWORD_FILE): %w", err)
		}
		password = strings.TrimRight(string(b), "\r\n")
	}
	tmpl, err := mail.LoadTemplates(m.Templates)
	if err != nil {
		return nil, fmt.Errorf("-mail-templates ($SHARESVC_MAIL_TEMPLATES): %w", err)
	}
	sender, err := mail.NewSMTP(mail.SMTPConfig{Host: m.Host, Port: m.Port, TLS: m.TLS, Username: m.User, Password: password})
	if err != nil {
		return nil, fmt.Errorf("-smtp-* ($SHARESVC_SMTP_*): %w", err)
	}
	mailer, err := mail.New(mail.Options{
		DB: read, Audit: log, Sender: sender, Key: key, From: m.From, PublicURL: publicURL, Templates: tmpl,
		Logger: logger.With("component", "mail", "smtp", sender.Addr()), MaxAttempts: m.MaxAttempts,
		DigestInterval: m.DigestInterval, Paused: paused, OnAttempt: onAttempt,
	})
	if err != nil {
		return nil, fmt.Errorf("-mail-from ($SHARESVC_SMTP_FROM): %w", err)
	}
	return mailer, nil
}
