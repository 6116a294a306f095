package condostack

import (
	"context"
	"testing"
	"testing/fstest"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"

	"github.com/condo-dev/condo"
	"github.com/condo-dev/condo/condojobs"
	"github.com/condo-dev/condo/condomail"
	"github.com/condo-dev/condo/condotest"
)

type countArgs struct{}

func (countArgs) Kind() string { return "count_hotels" }

// TestJobsBehindPgBouncer: with jobs on and PgBouncer in transaction mode
// in front, without a direct URL, River polls on the pooled connection; a
// job enqueued in a tenant transaction runs in that tenant, and mail
// reaches the outbox. MigrateJobs needs the direct URL.
func TestJobsBehindPgBouncer(t *testing.T) {
	t.Parallel()
	db := condotest.NewDatabaseInfo(t, nil)
	ctx := t.Context()
	bouncer := condotest.NewPgBouncer(t, db, nil)
	ws := condojobs.NewWorkers()
	ran := make(chan string, 1)
	condojobs.AddTenant(ws, func(ctx context.Context, tx pgx.Tx, _ *river.Job[countArgs]) error {
		var n int
		if err := tx.QueryRow(ctx, "SELECT count(*) FROM hotel").Scan(&n); err != nil {
			return err
		}
		t, _ := condo.TenantFromContext(ctx)
		ran <- t.Slug
		return nil
	})
	outbox := &condomail.Outbox{}
	mail := &condomail.Config{Sender: outbox, From: "noreply@example.com", Templates: condomailTemplates}
	st, err := Open(ctx, &Config{DatabaseURL: bouncer.URL, PoolSize: 4, TenantMigrations: tenantFS, Logger: condotest.Logger(t),
		Jobs: &condojobs.Config{Workers: ws, FetchPollInterval: 200 * time.Millisecond}, Mail: mail})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, err := st.MigrateJobs(ctx); err == nil {
		t.Error("MigrateJobs without a direct URL: got nil error")
	}
	if _, err := condojobs.Migrate(ctx, db.Pool, condotest.Logger(t)); err != nil {
		t.Fatal(err)
	}
	acme, err := st.Registry.Create(ctx, condo.CreateParams{Slug: "acme", Name: "Acme"})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Jobs.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = st.Jobs.Stop(context.WithoutCancel(ctx)) }()
	added := outbox.Added()
	err = st.Registry.InTx(condo.WithTenant(ctx, acme), acme, func(ctx context.Context, tx pgx.Tx) error {
		if _, err := st.Jobs.InsertTx(ctx, tx, countArgs{}, nil); err != nil {
			return err
		}
		return st.Mail.SendTx(ctx, tx, "hello", "ada@example.com", nil)
	})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case slug := <-ran:
		if slug != "acme" {
			t.Errorf("job ran for %q, want acme", slug)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("job not run within 30 s")
	}
	select {
	case <-added:
	case <-time.After(30 * time.Second):
		t.Fatal("no mail within 30 s")
	}
	if m := outbox.Messages(); len(m) != 1 || m[0].Subject != "Hello from Acme" {
		t.Errorf("outbox: %+v", m)
	}
}

// TestMailNeedsJobs: Mail without Jobs is a configuration error.
func TestMailNeedsJobs(t *testing.T) {
	t.Parallel()
	_, err := Open(t.Context(), &Config{DatabaseURL: "postgres://x", Mail: &condomail.Config{}})
	if err == nil || err.Error() != "mail needs jobs: set Config.Jobs too" {
		t.Errorf("got %v", err)
	}
}

var condomailTemplates = fstest.MapFS{
	"hello.tmpl": {Data: []byte(`{{define "subject"}}Hello from {{.Tenant.Name}}{{end}}{{define "text"}}Hi.{{end}}`)},
}
