package condomail_test

import (
	"context"
	"io"
	"log/slog"
	"os"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/condo-dev/condo"
	"github.com/condo-dev/condo/condojobs"
	"github.com/condo-dev/condo/condomail"
	"github.com/condo-dev/condo/condomigrate"
	"github.com/condo-dev/condo/condotest"
)

// now retries a failed job at once.
type now struct{}

func (now) NextRetry(*rivertype.JobRow) time.Time { return time.Now() }

type env struct {
	db  *condotest.Database
	reg *condo.Registry
}

func newEnv(t *testing.T) *env {
	t.Helper()
	db := condotest.NewDatabaseInfo(t, &condotest.DatabaseOpts{Runtime: true})
	m, err := condomigrate.New(db.Pool, &condomigrate.Config{Tenant: fstest.MapFS{}, Logger: condotest.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	reg := condo.NewRegistry(db.Pool, m, &condo.RegistryConfig{Logger: condotest.Logger(t), TenantPool: db.RuntimePool})
	if _, err := condojobs.Migrate(t.Context(), db.Pool, condotest.Logger(t)); err != nil {
		t.Fatal(err)
	}
	return &env{db: db, reg: reg}
}

// mailer builds a mailer over a new jobs client on the test SMTP server;
// start says whether the client works jobs (stopped when the test ends).
func (e *env) mailer(t *testing.T, s *smtpServer, logger *slog.Logger) (*condomail.Mailer, *condojobs.Client, <-chan *river.Event) {
	t.Helper()
	sender, err := condomail.NewSMTP(&condomail.SMTPConfig{Host: "127.0.0.1", Port: s.addr.Port, TLS: condomail.TLSNone})
	if err != nil {
		t.Fatal(err)
	}
	ws := condojobs.NewWorkers()
	m, err := condomail.New(ws, &condomail.Config{
		Sender: sender, From: "noreply@hotels.test", FromName: "Hotels",
		Templates: os.DirFS("testdata"), Logger: logger,
	})
	if err != nil {
		t.Fatal(err)
	}
	c, err := condojobs.New(e.reg, e.db.Pool, &condojobs.Config{Workers: ws, RetryPolicy: now{}, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	events, cancel := c.River().Subscribe(river.EventKindJobCompleted, river.EventKindJobCancelled, river.EventKindJobFailed)
	t.Cleanup(cancel)
	return m, c, events
}

func start(t *testing.T, c *condojobs.Client) {
	t.Helper()
	if err := c.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stop(t, c) })
}

func stop(t *testing.T, c *condojobs.Client) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.Stop(ctx); err != nil {
		t.Errorf("Stop: %v", err)
	}
}

func event(t *testing.T, events <-chan *river.Event) *river.Event {
	t.Helper()
	select {
	case ev := <-events:
		return ev
	case <-time.After(30 * time.Second):
		t.Fatal("no job event within 30 s")
		return nil
	}
}

func receive(t *testing.T, s *smtpServer) (hdr map[string]string, body string) {
	t.Helper()
	select {
	case m := <-s.received:
		b, _ := io.ReadAll(m.Body)
		hdr = map[string]string{}
		for _, k := range []string{"From", "To", "Subject", "Message-Id"} {
			hdr[k] = m.Header.Get(k)
		}
		return hdr, string(b)
	case <-time.After(30 * time.Second):
		t.Fatal("no mail within 30 s")
		return nil, ""
	}
}

// TestTenantMail: mail sent in acme's transaction is delivered by SMTP
// with acme's name in the sender, the subject and the body; mail in a
// transaction that rolls back is never sent.
func TestTenantMail(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	s := newSMTPServer(t)
	m, c, events := e.mailer(t, s, condotest.Logger(t))
	start(t, c)
	acme, err := e.reg.Create(t.Context(), condo.CreateParams{Slug: "acme", Name: "Acme Inn"})
	if err != nil {
		t.Fatal(err)
	}
	data := map[string]string{"Name": "Ada"}
	err = e.reg.InTx(condo.WithTenant(t.Context(), acme), acme, func(ctx context.Context, tx pgx.Tx) error {
		return m.SendTx(ctx, tx, "welcome", "ada@example.com", data)
	})
	if err != nil {
		t.Fatal(err)
	}
	if ev := event(t, events); ev.Kind != river.EventKindJobCompleted {
		t.Fatalf("mail job: got %s (%v)", ev.Kind, ev.Job.Errors)
	}
	hdr, body := receive(t, s)
	if hdr["Subject"] != "Welcome to Acme Inn" || !strings.Contains(hdr["From"], "Acme Inn") ||
		!strings.Contains(hdr["From"], "noreply@hotels.test") || !strings.Contains(hdr["To"], "ada@example.com") {
		t.Errorf("headers: %q", hdr)
	}
	if !strings.Contains(body, "Hello Ada") || !strings.Contains(body, "Acme Inn has invited you") {
		t.Errorf("body: %q", body)
	}

	// Rolled back: no job, no mail. The next mail (the platform's, no
	// tenant) is the one that arrives.
	_ = e.reg.InTx(condo.WithTenant(t.Context(), acme), acme, func(ctx context.Context, tx pgx.Tx) error {
		if err := m.SendTx(ctx, tx, "welcome", "rolled@example.com", data); err != nil {
			return err
		}
		return io.EOF
	})
	err = pgx.BeginFunc(t.Context(), e.db.Pool, func(tx pgx.Tx) error {
		return m.SendTx(t.Context(), tx, "welcome", "bob@example.com", map[string]string{"Name": "Bob"})
	})
	if err != nil {
		t.Fatal(err)
	}
	hdr, _ = receive(t, s)
	if hdr["To"] != "<bob@example.com>" || hdr["Subject"] != "Welcome to Hotels" || !strings.Contains(hdr["From"], "Hotels") {
		t.Errorf("platform mail: %q", hdr)
	}
}

// TestRetryAcrossRestart: the server refuses for now (451); the process
// stops after the failed try; the next process delivers the same
// message, once, with the same Message-ID.
func TestRetryAcrossRestart(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	s := newSMTPServer(t)
	s.setRefuse(&smtp.SMTPError{Code: 451, Message: "try again later"})
	m, c1, events1 := e.mailer(t, s, condotest.Logger(t))
	if err := c1.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	err := pgx.BeginFunc(t.Context(), e.db.Pool, func(tx pgx.Tx) error {
		return m.SendTx(t.Context(), tx, "welcome", "ada@example.com", map[string]string{"Name": "Ada"})
	})
	if err != nil {
		t.Fatal(err)
	}
	ev := event(t, events1)
	if ev.Kind != river.EventKindJobFailed || !strings.Contains(ev.Job.Errors[0].Error, "451") {
		t.Fatalf("first try: got %s %v, want failed with 451", ev.Kind, ev.Job.Errors)
	}
	stop(t, c1)

	s.setRefuse(nil)
	_, c2, events2 := e.mailer(t, s, condotest.Logger(t))
	start(t, c2)
	for {
		ev := event(t, events2)
		if ev.Kind == river.EventKindJobCompleted {
			if ev.Job.Attempt < 2 {
				t.Errorf("delivered on attempt %d, want a retry", ev.Job.Attempt)
			}
			break
		}
	}
	hdr, _ := receive(t, s)
	if !strings.HasPrefix(hdr["Message-Id"], "<condo-mail-") {
		t.Errorf("Message-Id %q", hdr["Message-Id"])
	}
	select {
	case extra := <-s.received:
		t.Errorf("a second copy: %v", extra.Header)
	default:
	}
}

// TestPermanentRefusal: a 550 is not retried; the job is cancelled and
// the log says so.
func TestPermanentRefusal(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	s := newSMTPServer(t)
	s.setRefuse(&smtp.SMTPError{Code: 550, Message: "no such user"})
	var logs strings.Builder
	logger := slog.New(slog.NewTextHandler(&lockedWriter{w: &logs}, nil))
	m, c, events := e.mailer(t, s, logger)
	start(t, c)
	err := pgx.BeginFunc(t.Context(), e.db.Pool, func(tx pgx.Tx) error {
		return m.SendTx(t.Context(), tx, "welcome", "nobody@example.com", map[string]string{"Name": "X"})
	})
	if err != nil {
		t.Fatal(err)
	}
	if ev := event(t, events); ev.Kind != river.EventKindJobCancelled {
		t.Errorf("got %s, want cancelled", ev.Kind)
	}
	stop(t, c)
	if !strings.Contains(logs.String(), "mail refused for good") {
		t.Errorf("log: %s", logs.String())
	}
}
