package condojobs_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgerrcode"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"

	"github.com/condo-dev/condo"
	"github.com/condo-dev/condo/condojobs"
	"github.com/condo-dev/condo/condotest"
)

// readArgs asks a job to read its tenant's hotels, and another tenant's
// (Other, a schema name).
type readArgs struct {
	Other string `json:"other"`
}

func (readArgs) Kind() string { return "read_hotels" }

type readResult struct {
	tenant   string
	hotels   []string
	otherErr error
}

func readWorker(ws *condojobs.Workers, out chan<- readResult) {
	condojobs.AddTenant(ws, func(ctx context.Context, tx pgx.Tx, job *river.Job[readArgs]) error {
		t, _ := condo.TenantFromContext(ctx)
		res := readResult{tenant: t.Slug}
		rows, _ := tx.Query(ctx, "SELECT name FROM hotel ORDER BY id")
		names, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return err
		}
		res.hotels = names
		// A savepoint, so that the refusal leaves the transaction usable.
		sp, err := tx.Begin(ctx)
		if err != nil {
			return err
		}
		_, res.otherErr = sp.Exec(ctx, "SELECT name FROM "+pgx.Identifier{job.Args.Other, "hotel"}.Sanitize())
		_ = sp.Rollback(ctx)
		out <- res
		return nil
	})
}

// TestTenantJob: a job enqueued in acme's transaction runs in acme's
// transaction and role: it reads acme's hotels and is refused globex's.
// Tenant code can neither stamp a job with another tenant nor see
// another tenant's jobs.
func TestTenantJob(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	ctx := t.Context()
	acme, globex := e.tenant(t, "acme"), e.tenant(t, "globex")
	ws := condojobs.NewWorkers()
	out := make(chan readResult, 1)
	readWorker(ws, out)
	c, events := e.start(t, e.db.Pool, &condojobs.Config{Workers: ws})

	err := e.reg.InTx(ctx, acme, func(ctx context.Context, tx pgx.Tx) error {
		_, err := c.InsertTx(ctx, tx, readArgs{Other: globex.Schema}, nil)
		return err
	})
	if err != nil {
		t.Fatalf("enqueue in acme's transaction: %v", err)
	}
	if ev := next(t, events); ev.Kind != river.EventKindJobCompleted {
		t.Fatalf("job: got %s (%v), want completed", ev.Kind, ev.Job.Errors)
	}
	res := <-out
	if res.tenant != "acme" || !slices.Equal(res.hotels, []string{"acme hotel"}) {
		t.Errorf("job ran as %q and read %q, want acme reading [acme hotel]", res.tenant, res.hotels)
	}
	var pgErr *pgconn.PgError
	if !errors.As(res.otherErr, &pgErr) || pgErr.Code != pgerrcode.InsufficientPrivilege {
		t.Errorf("acme's job reading globex's hotels: got %v, want insufficient_privilege", res.otherErr)
	}

	// A stamp naming globex, from acme's transaction: refused.
	forged, _ := json.Marshal(map[string]string{"condo_role": globex.Role})
	err = e.reg.InTx(ctx, acme, func(ctx context.Context, tx pgx.Tx) error {
		_, err := c.InsertTx(ctx, tx, readArgs{Other: globex.Schema}, &river.InsertOpts{Metadata: forged})
		return err
	})
	if !errors.As(err, &pgErr) || pgErr.Code != pgerrcode.InsufficientPrivilege {
		t.Errorf("acme stamping a job with globex's role: got %v, want a row-level security refusal", err)
	}

	// globex's job, then acme looks at the job table: it sees its own job only.
	err = e.reg.InTx(ctx, globex, func(ctx context.Context, tx pgx.Tx) error {
		_, err := c.InsertTx(ctx, tx, readArgs{Other: acme.Schema}, nil)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if ev := next(t, events); ev.Kind != river.EventKindJobCompleted {
		t.Fatalf("globex's job: got %s, want completed", ev.Kind)
	}
	if res := <-out; res.tenant != "globex" || !slices.Equal(res.hotels, []string{"globex hotel"}) {
		t.Errorf("globex's job ran as %q and read %q", res.tenant, res.hotels)
	}
	var seen []string
	err = e.reg.InTx(ctx, acme, func(ctx context.Context, tx pgx.Tx) error {
		rows, _ := tx.Query(ctx, "SELECT metadata->>'condo_role' FROM public.river_job")
		seen, err = pgx.CollectRows(rows, pgx.RowTo[string])
		return err
	})
	if err != nil || !slices.Equal(seen, []string{acme.Role}) {
		t.Errorf("acme reading the job table: got %q, %v; want its own job only", seen, err)
	}
}

// TestDroppedJobs: jobs enqueued by tenants that were then suspended,
// deleted or purged are not run, and a log line says so.
func TestDroppedJobs(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	ctx := t.Context()
	ws := condojobs.NewWorkers()
	out := make(chan readResult, 3)
	readWorker(ws, out)
	// Insert-only first: the jobs wait while the tenants change.
	ins, err := condojobs.New(e.reg, e.db.Pool, nil)
	if err != nil {
		t.Fatal(err)
	}
	change := map[string]func(slug string) error{
		"suspended": func(s string) error { return e.reg.Suspend(ctx, s) },
		"deleted":   func(s string) error { return e.reg.Delete(ctx, s, nil) },
		"purged":    func(s string) error { return e.reg.Delete(ctx, s, &condo.DeleteOpts{Purge: true}) },
	}
	for slug, fn := range change {
		ten := e.tenant(t, slug)
		err := e.reg.InTx(ctx, ten, func(ctx context.Context, tx pgx.Tx) error {
			_, err := ins.InsertTx(ctx, tx, readArgs{Other: "public"}, nil)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		if err := fn(slug); err != nil {
			t.Fatalf("%s: %v", slug, err)
		}
	}
	_, events := e.start(t, e.db.Pool, &condojobs.Config{Workers: ws})
	for range change {
		if ev := next(t, events); ev.Kind != river.EventKindJobCancelled {
			t.Errorf("job %d: got %s, want cancelled", ev.Job.ID, ev.Kind)
		}
	}
	for slug, want := range map[string]string{"suspended": "tenant=suspended", "deleted": "tenant=deleted", "purged": "no longer exists: its tenant was purged"} {
		if e.logs.find("job dropped", want) == "" {
			t.Errorf("%s: no log line 'job dropped' saying %q", slug, want)
		}
	}
	select {
	case res := <-out:
		t.Errorf("a dropped job ran for %q", res.tenant)
	default:
	}
}

// reportArgs is a per-tenant periodic job in its own queue.
type reportArgs struct{}

func (reportArgs) Kind() string                 { return "report" }
func (reportArgs) InsertOpts() river.InsertOpts { return river.InsertOpts{Queue: "reports"} }
func newReport() river.JobArgs                  { return reportArgs{} }

var _ river.JobArgsWithInsertOpts = reportArgs{}

// TestPeriodicTenantJob: a periodic job fans out over the active tenants,
// at most the queue's MaxWorkers at a time; a suspended tenant gets none.
func TestPeriodicTenantJob(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	var active []string
	for i := range 5 {
		active = append(active, e.tenant(t, fmt.Sprintf("t%d", i)).Slug)
	}
	e.tenant(t, "off")
	if err := e.reg.Suspend(t.Context(), "off"); err != nil {
		t.Fatal(err)
	}
	var (
		mu            sync.Mutex
		running, most int
		ran           []string
	)
	ws := condojobs.NewWorkers()
	condojobs.AddTenant(ws, func(ctx context.Context, tx pgx.Tx, job *river.Job[reportArgs]) error {
		mu.Lock()
		running++
		most = max(most, running)
		mu.Unlock()
		var n int
		err := tx.QueryRow(ctx, "SELECT count(*) FROM hotel").Scan(&n)
		t2, _ := condo.TenantFromContext(ctx)
		mu.Lock()
		running--
		ran = append(ran, t2.Slug)
		mu.Unlock()
		return err
	})
	_, events := e.start(t, e.db.Pool, &condojobs.Config{
		Workers: ws,
		Queues:  map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: 1}, "reports": {MaxWorkers: 2}},
		PeriodicJobs: []*river.PeriodicJob{condojobs.PeriodicTenantJob(
			river.PeriodicInterval(24*time.Hour), newReport, &river.PeriodicJobOpts{RunOnStart: true})},
	})
	// The fan-out job, then one per active tenant.
	for range len(active) + 1 {
		if ev := next(t, events); ev.Kind != river.EventKindJobCompleted {
			t.Fatalf("job %s: got %s (%v)", ev.Job.Kind, ev.Kind, ev.Job.Errors)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	slices.Sort(ran)
	if !slices.Equal(ran, active) {
		t.Errorf("reports ran for %q, want %q", ran, active)
	}
	if most > 2 {
		t.Errorf("%d reports ran at once, want at most the queue's 2", most)
	}
}

// TestPgBouncer: behind PgBouncer in transaction mode, River polls (no
// LISTEN) and tenant transactions enqueue through the pooler.
func TestPgBouncer(t *testing.T) {
	t.Parallel()
	var bouncer *condotest.PgBouncer
	e := newEnv(t, func(db *condotest.Database) *pgxpool.Pool {
		bouncer = condotest.NewPgBouncer(t, db, nil)
		return bouncer.Pool(t, 4)
	})
	acme := e.tenant(t, "acme")
	ws := condojobs.NewWorkers()
	out := make(chan readResult, 1)
	readWorker(ws, out)
	c, events := e.start(t, bouncer.Pool(t, 4), &condojobs.Config{Workers: ws, PollOnly: true, FetchPollInterval: 200 * time.Millisecond})
	err := e.reg.InTx(t.Context(), acme, func(ctx context.Context, tx pgx.Tx) error {
		_, err := c.InsertTx(ctx, tx, readArgs{Other: "public"}, nil)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if ev := next(t, events); ev.Kind != river.EventKindJobCompleted {
		t.Fatalf("job: got %s (%v)", ev.Kind, ev.Job.Errors)
	}
	if res := <-out; res.tenant != "acme" || !slices.Equal(res.hotels, []string{"acme hotel"}) {
		t.Errorf("job ran as %q and read %q", res.tenant, res.hotels)
	}
}
