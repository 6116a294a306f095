package condomail

import (
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"sync"
	"time"

	gomail "github.com/wneessen/go-mail"
)

// Message is one e-mail, as enqueued and as delivered.
type Message struct {
	// FromName is the sender's display name: the tenant's name, or
	// [Config].FromName outside a tenant.
	FromName string   `json:"from_name,omitempty"`
	To       []string `json:"to"`
	Subject  string   `json:"subject"`
	Text     string   `json:"text"`
	// Template is the template it was rendered from, for the outbox.
	Template string `json:"template,omitempty"`
	// Tenant is the slug of the tenant it was sent for, "" for none.
	Tenant string `json:"tenant,omitempty"`
}

// Sender delivers one message. id is its unique, stable Message-ID (the
// same on every retry). An error that wraps [ErrPermanent] is not
// retried.
type Sender interface {
	Send(ctx context.Context, from string, m *Message, id string) error
}

// ErrPermanent marks a delivery the server refused for good (an SMTP 5xx):
// retrying would not help.
var ErrPermanent = errors.New("permanent mail delivery failure")

// TLSPolicy is how [SMTP] uses TLS.
type TLSPolicy int

// TLS policies. The default is STARTTLS, required: a submission server
// gets credentials and mail, neither of which should cross a network in
// the clear.
const (
	TLSMandatory TLSPolicy = iota
	TLSOpportunistic
	// TLSNone is for a server on loopback (a local relay, tests).
	TLSNone
)

// SMTPConfig is an SMTP submission server.
type SMTPConfig struct {
	// Host and Port of the server. Port defaults to 587 (submission).
	Host string
	Port int
	// Username and Password, when set, authenticate (PLAIN over TLS, or
	// whatever the server offers best).
	Username, Password string
	// TLS defaults to TLSMandatory; TLSConfig to the system's roots.
	TLS       TLSPolicy
	TLSConfig *tls.Config
	// Timeout bounds connecting and each command. Defaults to 30 s.
	Timeout time.Duration
}

// SMTP delivers through an SMTP server with go-mail, one connection per
// message.
type SMTP struct{ cfg SMTPConfig }

// NewSMTP returns a sender for cfg. Returns an error when Host is empty.
func NewSMTP(cfg *SMTPConfig) (*SMTP, error) {
	if cfg == nil || cfg.Host == "" {
		return nil, errors.New("smtp: no host")
	}
	c := *cfg
	if c.Port == 0 {
		c.Port = 587
	}
	if c.Timeout == 0 {
		c.Timeout = 30 * time.Second
	}
	return &SMTP{cfg: c}, nil
}

// Send implements [Sender].
func (s *SMTP) Send(ctx context.Context, from string, m *Message, id string) error {
	msg := gomail.NewMsg()
	if err := msg.FromFormat(m.FromName, from); err != nil {
		return fmt.Errorf("%w: from %q: %w", ErrPermanent, from, err)
	}
	if err := msg.To(m.To...); err != nil {
		return fmt.Errorf("%w: to: %w", ErrPermanent, err)
	}
	msg.Subject(m.Subject)
	msg.SetMessageIDWithValue(id)
	msg.SetDate()
	msg.SetBodyString(gomail.TypeTextPlain, m.Text)
	opts := []gomail.Option{gomail.WithPort(s.cfg.Port), gomail.WithTimeout(s.cfg.Timeout)}
	switch s.cfg.TLS {
	case TLSOpportunistic:
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSOpportunistic))
	case TLSNone:
		opts = append(opts, gomail.WithTLSPolicy(gomail.NoTLS))
	default:
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSMandatory))
	}
	if s.cfg.TLSConfig != nil {
		opts = append(opts, gomail.WithTLSConfig(s.cfg.TLSConfig))
	}
	if s.cfg.Username != "" {
		opts = append(opts, gomail.WithSMTPAuth(gomail.SMTPAuthAutoDiscover),
			gomail.WithUsername(s.cfg.Username), gomail.WithPassword(s.cfg.Password))
	}
	client, err := gomail.NewClient(s.cfg.Host, opts...)
	if err != nil {
		return fmt.Errorf("smtp client: %w", err)
	}
	if err := client.DialAndSendWithContext(ctx, msg); err != nil {
		var se *gomail.SendError
		// Only a server's 5xx reply is for good; a broken connection or a
		// 4xx is worth another try.
		if errors.As(err, &se) && se.ErrorCode() >= 500 && se.ErrorCode() < 600 {
			return fmt.Errorf("%w: smtp %s:%d: %w", ErrPermanent, s.cfg.Host, s.cfg.Port, err)
		}
		return fmt.Errorf("smtp %s:%d: %w", s.cfg.Host, s.cfg.Port, err)
	}
	return nil
}

// Sent is a message an [Outbox] kept.
type Sent struct {
	Message
	From string
	ID   string
	At   time.Time
}

// Outbox keeps sent messages in memory instead of delivering them: the
// newest Limit, newest first. For development and tests.
type Outbox struct {
	// Limit defaults to 100.
	Limit int

	mu   sync.Mutex
	sent []Sent
	// added is closed and replaced whenever a message arrives.
	added chan struct{}
}

// Send implements [Sender].
func (o *Outbox) Send(_ context.Context, from string, m *Message, id string) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, s := range o.sent {
		if s.ID == id {
			return nil // a retry of a delivered message
		}
	}
	o.sent = append([]Sent{{Message: *m, From: from, ID: id, At: time.Now()}}, o.sent...)
	if limit := cmp.Or(o.Limit, 100); len(o.sent) > limit {
		o.sent = o.sent[:limit]
	}
	if o.added != nil {
		close(o.added)
		o.added = nil
	}
	return nil
}

// Messages returns the kept messages, newest first.
func (o *Outbox) Messages() []Sent {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]Sent(nil), o.sent...)
}

// Added returns a channel closed when the next message arrives: tests
// wait on it instead of polling.
func (o *Outbox) Added() <-chan struct{} {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.added == nil {
		o.added = make(chan struct{})
	}
	return o.added
}
