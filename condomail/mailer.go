package condomail

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/mail"
	"path"
	"strings"
	"text/template"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"

	"github.com/condo-dev/condo"
	"github.com/condo-dev/condo/condojobs"
)

// Config configures a [Mailer].
type Config struct {
	// Sender delivers the messages. Required.
	Sender Sender
	// From is the sender's address (noreply@example.com). Required.
	From string
	// FromName is the display name outside a tenant. Defaults to none.
	FromName string
	// Templates holds NAME.tmpl files (see the package doc). Required.
	Templates fs.FS
	// Queue is the jobs' queue. Defaults to River's default queue.
	Queue string
	// Logger defaults to slog.Default().
	Logger *slog.Logger
}

// Mailer renders templates and delivers mail through jobs.
type Mailer struct {
	cfg       Config
	templates map[string]*template.Template
	workers   *condojobs.Workers
	logger    *slog.Logger
}

// TemplateData is what a template is executed with.
type TemplateData struct {
	// Tenant is the tenant the mail is sent for; nil outside a tenant.
	Tenant *condo.Tenant
	// Data is the caller's.
	Data any
}

// mailArgs is the delivery job.
type mailArgs struct {
	Message Message `json:"message"`
}

func (mailArgs) Kind() string { return "condo_mail" }

// New parses cfg's templates and registers the delivery worker in ws;
// mail can be sent once the jobs client over ws is built
// ([condojobs.New]). Returns an error for a missing Sender, From or
// Templates, a From that is not an address, or a template that does not
// parse or lacks a "subject" or "text" block.
func New(ws *condojobs.Workers, cfg *Config) (*Mailer, error) {
	if cfg == nil {
		cfg = &Config{}
	}
	var errs []error
	if cfg.Sender == nil {
		errs = append(errs, errors.New("mail: no Sender"))
	}
	if _, err := mail.ParseAddress(cfg.From); err != nil {
		errs = append(errs, fmt.Errorf("mail: From %q: %w", cfg.From, err))
	}
	if cfg.Templates == nil {
		errs = append(errs, errors.New("mail: no Templates"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	m := &Mailer{cfg: *cfg, templates: map[string]*template.Template{}, workers: ws, logger: cmp.Or(cfg.Logger, slog.Default())}
	names, err := fs.Glob(cfg.Templates, "*.tmpl")
	if err != nil {
		return nil, err
	}
	for _, n := range names {
		t, err := template.ParseFS(cfg.Templates, n)
		if err != nil {
			return nil, fmt.Errorf("mail template %s: %w", n, err)
		}
		for _, block := range []string{"subject", "text"} {
			if t.Lookup(block) == nil {
				return nil, fmt.Errorf("mail template %s: no %q block", n, block)
			}
		}
		m.templates[strings.TrimSuffix(path.Base(n), ".tmpl")] = t
	}
	condojobs.Add(ws, m.deliver)
	return m, nil
}

// Render renders template name for the tenant in ctx (if any) with data,
// for to. Returns an error for an unknown template or one that fails.
func (m *Mailer) Render(ctx context.Context, name string, to string, data any) (*Message, error) {
	t, ok := m.templates[name]
	if !ok {
		return nil, fmt.Errorf("mail template %q: not found", name)
	}
	td := TemplateData{Data: data}
	msg := &Message{To: []string{to}, FromName: m.cfg.FromName, Template: name}
	if ten, ok := condo.TenantFromContext(ctx); ok {
		td.Tenant, msg.FromName, msg.Tenant = ten, ten.Name, ten.Slug
	}
	var subject, text bytes.Buffer
	if err := t.ExecuteTemplate(&subject, "subject", td); err != nil {
		return nil, fmt.Errorf("mail template %q: %w", name, err)
	}
	if err := t.ExecuteTemplate(&text, "text", td); err != nil {
		return nil, fmt.Errorf("mail template %q: %w", name, err)
	}
	// A subject is one line: a template's stray newline must not start a
	// header.
	msg.Subject = strings.Join(strings.Fields(subject.String()), " ")
	msg.Text = strings.TrimSpace(text.String()) + "\n"
	return msg, nil
}

// SendTx renders template name (see [Mailer.Render]) and enqueues its
// delivery to to in tx: the tenant's transaction ([condo.Registry.InTx])
// for a tenant's mail, or the application's shared or owner transaction.
// The mail is sent once tx commits, and not if it rolls back.
func (m *Mailer) SendTx(ctx context.Context, tx pgx.Tx, name, to string, data any) error {
	msg, err := m.Render(ctx, name, to, data)
	if err != nil {
		return err
	}
	if _, err := mail.ParseAddress(to); err != nil {
		return fmt.Errorf("mail to %q: %w", to, err)
	}
	c := m.workers.Client()
	if c == nil {
		return errors.New("mail: the jobs client is not built yet")
	}
	var opts *river.InsertOpts
	if m.cfg.Queue != "" {
		opts = &river.InsertOpts{Queue: m.cfg.Queue}
	}
	_, err = c.InsertTx(ctx, tx, mailArgs{Message: *msg}, opts)
	return err
}

// deliver is the job: one message to its sender.
func (m *Mailer) deliver(ctx context.Context, job *river.Job[mailArgs]) error {
	msg := job.Args.Message
	domain := "localhost"
	if i := strings.LastIndexByte(m.cfg.From, '@'); i >= 0 {
		domain = strings.Trim(m.cfg.From[i+1:], "> ")
	}
	id := fmt.Sprintf("condo-mail-%d@%s", job.ID, domain)
	err := m.cfg.Sender.Send(ctx, m.cfg.From, &msg, id)
	if errors.Is(err, ErrPermanent) {
		m.logger.LogAttrs(ctx, slog.LevelError, "mail refused for good", slog.Int64("job_id", job.ID),
			slog.String("tenant", msg.Tenant), slog.String("template", msg.Template), slog.String("error", err.Error()))
		return river.JobCancel(err)
	}
	if err != nil {
		return err
	}
	m.logger.LogAttrs(ctx, slog.LevelInfo, "mail sent", slog.Int64("job_id", job.ID),
		slog.String("tenant", msg.Tenant), slog.String("template", msg.Template), slog.Int("attempt", job.Attempt))
	return nil
}
