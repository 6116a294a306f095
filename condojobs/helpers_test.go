package condojobs_test

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"

	"github.com/condo-dev/condo"
	"github.com/condo-dev/condo/condojobs"
	"github.com/condo-dev/condo/condomigrate"
	"github.com/condo-dev/condo/condotest"
)

var tenantFS = fstest.MapFS{
	"0001_hotel.sql": {Data: []byte("CREATE TABLE hotel (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, name text NOT NULL)")},
}

// env is one test's database with split roles: tenant transactions run
// on the runtime role's pool, River on the owner's.
type env struct {
	db   *condotest.Database
	reg  *condo.Registry
	logs *logRecorder
}

func newEnv(t *testing.T, tenantPool func(*condotest.Database) *pgxpool.Pool) *env {
	t.Helper()
	db := condotest.NewDatabaseInfo(t, &condotest.DatabaseOpts{Runtime: true})
	m, err := condomigrate.New(db.Pool, &condomigrate.Config{Tenant: tenantFS, Logger: condotest.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	tp := db.RuntimePool
	if tenantPool != nil {
		tp = tenantPool(db)
	}
	logs := &logRecorder{Handler: condotest.Logger(t).Handler()}
	reg := condo.NewRegistry(db.Pool, m, &condo.RegistryConfig{Logger: slog.New(logs), TenantPool: tp})
	if _, err := condojobs.Migrate(t.Context(), db.Pool, condotest.Logger(t)); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	return &env{db: db, reg: reg, logs: logs}
}

// tenant creates a tenant with one hotel named after it.
func (e *env) tenant(t *testing.T, slug string) *condo.Tenant {
	t.Helper()
	ten, err := e.reg.Create(t.Context(), condo.CreateParams{Slug: slug, Name: "Tenant " + slug})
	if err != nil {
		t.Fatal(err)
	}
	err = e.reg.InTx(t.Context(), ten, func(ctx context.Context, tx pgx.Tx) error {
		_, err := tx.Exec(ctx, "INSERT INTO hotel (name) VALUES ($1)", slug+" hotel")
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return ten
}

// start makes and starts a client, stopped when the test ends, and
// subscribes to the ends of jobs.
func (e *env) start(t *testing.T, pool *pgxpool.Pool, cfg *condojobs.Config) (*condojobs.Client, <-chan *river.Event) {
	t.Helper()
	cfg.Logger = slog.New(e.logs)
	c, err := condojobs.New(e.reg, pool, cfg)
	if err != nil {
		t.Fatal(err)
	}
	events, cancel := c.River().Subscribe(river.EventKindJobCompleted, river.EventKindJobCancelled, river.EventKindJobFailed)
	t.Cleanup(cancel)
	if err := c.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := c.Stop(ctx); err != nil {
			t.Errorf("Stop: %v", err)
		}
	})
	return c, events
}

// next returns the next job event, failing after a generous timeout.
func next(t *testing.T, events <-chan *river.Event) *river.Event {
	t.Helper()
	select {
	case ev := <-events:
		return ev
	case <-time.After(30 * time.Second):
		t.Fatal("no job finished within 30 s")
		return nil
	}
}

// logRecorder keeps every log message and passes records on.
type logRecorder struct {
	slog.Handler
	mu    sync.Mutex
	lines []string
}

func (l *logRecorder) Handle(ctx context.Context, r slog.Record) error {
	var b strings.Builder
	b.WriteString(r.Message)
	r.Attrs(func(a slog.Attr) bool {
		b.WriteString(" " + a.Key + "=" + a.Value.String())
		return true
	})
	l.mu.Lock()
	l.lines = append(l.lines, b.String())
	l.mu.Unlock()
	return l.Handler.Handle(ctx, r)
}

func (l *logRecorder) WithAttrs(as []slog.Attr) slog.Handler { return l }
func (l *logRecorder) WithGroup(string) slog.Handler         { return l }

// find returns the first line containing every part.
func (l *logRecorder) find(parts ...string) string {
	l.mu.Lock()
	defer l.mu.Unlock()
outer:
	for _, s := range l.lines {
		for _, p := range parts {
			if !strings.Contains(s, p) {
				continue outer
			}
		}
		return s
	}
	return ""
}
