package condojobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/condo-dev/condo"
)

// ErrJobDropped is the error a dropped job is cancelled with (River
// records it on the job and does not retry it): its tenant is suspended,
// deleted or purged, or a job that needs a tenant has none.
var ErrJobDropped = errors.New("job dropped")

// Workers are the application's job workers. Register them with
// [AddTenant] and [Add] before [New]; one Workers serves one [Client].
type Workers struct {
	river *river.Workers
	env   *env
}

// env is what the workers need at run time; [New] fills it.
type env struct {
	registry *condo.Registry
	logger   *slog.Logger
	client   *Client
}

// NewWorkers returns an empty set of workers.
func NewWorkers() *Workers {
	return &Workers{river: river.NewWorkers(), env: &env{}}
}

// Client is the client built over ws by [New], nil before: a service
// that registers its workers first (condomail) enqueues through it later.
func (ws *Workers) Client() *Client { return ws.env.client }

// AddTenant registers fn for the jobs of T's kind. fn runs in the job's
// tenant transaction ([condo.Registry.InTx]: the tenant's schema and
// role), with the tenant in ctx ([condo.TenantFromContext]); the job is
// completed after the transaction commits, and retried (with River's
// back-off) when fn returns an error. A job whose tenant is not active,
// or that has no tenant, is not run: it is cancelled with
// [ErrJobDropped] and a log line saying why.
func AddTenant[T river.JobArgs](ws *Workers, fn func(ctx context.Context, tx pgx.Tx, job *river.Job[T]) error) {
	e := ws.env
	river.AddWorker(ws.river, river.WorkFunc(func(ctx context.Context, job *river.Job[T]) error {
		t, err := e.tenant(ctx, job.JobRow)
		if err != nil {
			return err
		}
		if t == nil {
			return e.drop(ctx, job.JobRow, "", "the job needs a tenant and has none")
		}
		return e.registry.InTx(condo.WithTenant(ctx, t), t, func(ctx context.Context, tx pgx.Tx) error {
			return fn(ctx, tx, job)
		})
	}))
}

// Add registers fn for the jobs of T's kind, jobs with or without a
// tenant (mail, say, sent for a tenant or for the platform). When the job
// was enqueued in a tenant transaction, ctx carries its tenant, which
// must be active as for [AddTenant]; fn opens no transaction.
func Add[T river.JobArgs](ws *Workers, fn func(ctx context.Context, job *river.Job[T]) error) {
	e := ws.env
	river.AddWorker(ws.river, river.WorkFunc(func(ctx context.Context, job *river.Job[T]) error {
		t, err := e.tenant(ctx, job.JobRow)
		if err != nil {
			return err
		}
		if t != nil {
			ctx = condo.WithTenant(ctx, t)
		}
		return fn(ctx, job)
	}))
}

// tenant returns the tenant whose role enqueued job: nil for a job
// enqueued by a role that is not a tenant's (the owner, the runtime
// role's shared role). A job whose tenant is gone or not active is
// dropped: the error returned cancels it.
func (e *env) tenant(ctx context.Context, job *rivertype.JobRow) (*condo.Tenant, error) {
	role := jobRole(job)
	if role == "" {
		return nil, nil
	}
	t, err := e.registry.GetByRole(ctx, role)
	switch {
	case errors.Is(err, condo.ErrTenantNotFound):
		// Not a tenant's role, or a purged tenant's: its role was dropped
		// with it, while the platform's roles still exist.
		exists, err := e.roleExists(ctx, role)
		if err != nil {
			return nil, err
		}
		if !exists {
			return nil, e.drop(ctx, job, role, "the role that enqueued it no longer exists: its tenant was purged")
		}
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("job %d: %w", job.ID, err)
	case t.Status != condo.StatusActive:
		return nil, e.drop(ctx, job, t.Slug, fmt.Sprintf("tenant is %s", t.Status))
	}
	return t, nil
}

func (e *env) roleExists(ctx context.Context, role string) (bool, error) {
	var ok bool
	err := e.client.pool.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = $1)", role).Scan(&ok)
	if err != nil {
		return false, fmt.Errorf("look up role %q: %w", role, err)
	}
	return ok, nil
}

// drop logs why job is not run and returns the error that cancels it.
func (e *env) drop(ctx context.Context, job *rivertype.JobRow, tenant, why string) error {
	e.logger.LogAttrs(ctx, slog.LevelWarn, "job dropped", slog.Int64("job_id", job.ID),
		slog.String("kind", job.Kind), slog.String("tenant", tenant), slog.String("reason", why))
	return river.JobCancel(fmt.Errorf("%w: %s", ErrJobDropped, why))
}

// jobRole is the role stamped on job when it was inserted.
func jobRole(job *rivertype.JobRow) string {
	var md map[string]any
	if json.Unmarshal(job.Metadata, &md) != nil {
		return ""
	}
	s, _ := md[roleKey].(string)
	return s
}
