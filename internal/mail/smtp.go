package mail

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/mail"
	"strconv"
	"strings"
	"time"

	gomail "github.com/wneessen/go-mail"
)

// Message is one e-mail ready to send.
type Message struct {
	ID   string // Message-ID without angle brackets; the same on every attempt
	From string
	To   string
	// FromName replaces the display name of From, encoded by the mail
	// library (RFC 2047); "" keeps From as it is.
	FromName string
	ReplyTo  string // "" for none
	Subject  string
	Text     string
	HTML     string
	Date     time.Time
}

// Sender hands a message to a mail server. An error says whether retrying
// can help (see Permanent).
type Sender interface {
	Send(ctx context.Context, m *Message) error
}

// PermanentError is a refusal that retrying will not change (an SMTP 5xx
// answer, such as an unknown mailbox). Answer is the server's reply.
type PermanentError struct{ Answer string }

// Error returns the server's answer, marked permanent.
func (e *PermanentError) Error() string { return "refused permanently: " + e.Answer }

// TLS modes of an SMTP connection.
const (
	TLSNone     = "none"     // plain text (a local relay only)
	TLSStartTLS = "starttls" // plain connect, then STARTTLS, which is required
	TLSImplicit = "tls"      // TLS from the first byte (usually port 465)
)

// SMTPConfig is how to reach the mail server.
type SMTPConfig struct {
	Host     string
	Port     int    // 0: 25 for none, 587 for starttls, 465 for tls
	TLS      string // TLSNone, TLSStartTLS or TLSImplicit
	Username string // "" for no authentication
	Password string
	Timeout  time.Duration // per connection; 0 means 30 s
	// HELO is the name given in EHLO; "" lets the library choose.
	HELO string
}

// SMTP sends messages over SMTP with github.com/wneessen/go-mail, one
// connection per message.
type SMTP struct {
	cfg SMTPConfig
}

// NewSMTP checks cfg and returns a sender. It does not connect. Errors:
// ErrConfig naming the setting.
func NewSMTP(cfg SMTPConfig) (*SMTP, error) {
	if cfg.Host == "" {
		return nil, fmt.Errorf("%w: SMTP host is required", ErrConfig)
	}
	switch cfg.TLS {
	case TLSNone, TLSStartTLS, TLSImplicit:
	case "":
		cfg.TLS = TLSStartTLS
	default:
		return nil, fmt.Errorf("%w: SMTP TLS mode %q must be none, starttls or tls", ErrConfig, cfg.TLS)
	}
	if cfg.Port == 0 {
		cfg.Port = map[string]int{TLSNone: 25, TLSStartTLS: 587, TLSImplicit: 465}[cfg.TLS]
	}
	if cfg.Port < 1 || cfg.Port > 65535 {
		return nil, fmt.Errorf("%w: SMTP port %d must be 1-65535", ErrConfig, cfg.Port)
	}
	if cfg.Password != "" && cfg.Username == "" {
		return nil, fmt.Errorf("%w: SMTP password is set but the user is not", ErrConfig)
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 30 * time.Second
	}
	return &SMTP{cfg: cfg}, nil
}

// Addr is the server's host:port, for logs.
func (s *SMTP) Addr() string { return net.JoinHostPort(s.cfg.Host, strconv.Itoa(s.cfg.Port)) }

// Send delivers m in one SMTP transaction. Errors carry the server's
// answer; a 5xx answer is a *PermanentError.
func (s *SMTP) Send(ctx context.Context, m *Message) error {
	msg := gomail.NewMsg()
	if err := setFrom(msg, m.From, m.FromName); err != nil {
		return &PermanentError{Answer: fmt.Sprintf("from address: %v", err)}
	}
	if m.ReplyTo != "" {
		if err := msg.ReplyTo(m.ReplyTo); err != nil {
			return &PermanentError{Answer: fmt.Sprintf("reply-to address: %v", err)}
		}
	}
	if err := msg.To(m.To); err != nil {
		return &PermanentError{Answer: fmt.Sprintf("recipient address: %v", err)}
	}
	msg.Subject(m.Subject)
	msg.SetMessageIDWithValue(m.ID)
	msg.SetDateWithValue(m.Date)
	msg.SetUserAgent("sharesvc")
	msg.SetGenHeader("Auto-Submitted", "auto-generated")
	msg.SetBodyString(gomail.TypeTextPlain, m.Text)
	if m.HTML != "" {
		msg.AddAlternativeString(gomail.TypeTextHTML, m.HTML)
	}
	opts := []gomail.Option{gomail.WithPort(s.cfg.Port), gomail.WithTimeout(s.cfg.Timeout)}
	switch s.cfg.TLS {
	case TLSNone:
		opts = append(opts, gomail.WithTLSPolicy(gomail.NoTLS))
	case TLSStartTLS:
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSMandatory))
	case TLSImplicit:
		opts = append(opts, gomail.WithSSL())
	}
	if s.cfg.Username != "" {
		opts = append(opts, gomail.WithSMTPAuth(gomail.SMTPAuthAutoDiscover),
			gomail.WithUsername(s.cfg.Username), gomail.WithPassword(s.cfg.Password))
	}
	if s.cfg.HELO != "" {
		opts = append(opts, gomail.WithHELO(s.cfg.HELO))
	}
	c, err := gomail.NewClient(s.cfg.Host, opts...)
	if err != nil {
		return fmt.Errorf("smtp client: %w", err)
	}
	if err := c.DialAndSendWithContext(ctx, msg); err != nil {
		var se *gomail.SendError
		if errors.As(err, &se) && !se.IsTemp() && se.ErrorCode() >= 500 {
			return &PermanentError{Answer: answer(err)}
		}
		return errors.New(answer(err))
	}
	return nil
}

// answer is the text kept as a delivery's last_error: one line, bounded.
func answer(err error) string {
	s := strings.Join(strings.Fields(err.Error()), " ")
	if len(s) > 500 {
		s = s[:500]
	}
	return s
}

// setFrom sets From to from, or to from's address under the display name
// name when name is set. A name with CR or LF is refused, never sent: it
// would be a header injection should any layer fail to encode it.
func setFrom(msg *gomail.Msg, from, name string) error {
	if name == "" {
		return msg.From(from)
	}
	if strings.ContainsAny(name, "\r\n") {
		return fmt.Errorf("display name %q contains a line break", name)
	}
	a, err := mail.ParseAddress(from)
	if err != nil {
		return err
	}
	return msg.FromFormat(name, a.Address)
}
