package condojobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivertype"

	"github.com/condo-dev/condo"
)

// Config tunes [New]. A nil *Config makes an insert-only client.
type Config struct {
	// Workers are the application's workers. Nil: the client only
	// enqueues (a process that serves requests while another works).
	Workers *Workers
	// Queues and their MaxWorkers (how many of its jobs run at once in
	// this process). Defaults to River's default queue with 10 workers
	// when there are workers.
	Queues map[string]river.QueueConfig
	// PeriodicJobs run on a schedule, in the elected leader only; see
	// [PeriodicTenantJob] for one that runs for every tenant.
	PeriodicJobs []*river.PeriodicJob
	// PollOnly makes River poll for jobs instead of listening for them:
	// needed when the pool goes through a transaction pooler (PgBouncer's
	// transaction mode), where LISTEN does not work. FetchPollInterval is
	// how often it polls then; defaults to River's (1 s).
	PollOnly          bool
	FetchPollInterval time.Duration
	// MaxAttempts is a job's attempts before it is discarded. Defaults to
	// River's (25, over about three weeks of back-off).
	MaxAttempts int
	// JobTimeout cancels a job's ctx after this long. Defaults to River's
	// (1 min).
	JobTimeout time.Duration
	// RetryPolicy says when a failed job is tried again. Defaults to
	// River's exponential back-off.
	RetryPolicy river.ClientRetryPolicy
	// Logger defaults to slog.Default().
	Logger *slog.Logger
}

// Client enqueues and works tenant-aware jobs on River. Build it with
// [New]; Start it to work jobs, Stop it before closing the pool.
type Client struct {
	river    *river.Client[pgx.Tx]
	registry *condo.Registry
	pool     *pgxpool.Pool
	logger   *slog.Logger
}

// New returns a client on pool, the owner role's pool (River's tables
// belong to it; a transaction pooler's pool needs [Config].PollOnly),
// looking tenants up in registry. River's tables must exist ([Migrate]).
func New(registry *condo.Registry, pool *pgxpool.Pool, cfg *Config) (*Client, error) {
	if cfg == nil {
		cfg = &Config{}
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.Default()
	}
	c := &Client{registry: registry, pool: pool, logger: logger}
	rc := &river.Config{
		Schema:            Schema,
		PeriodicJobs:      cfg.PeriodicJobs,
		PollOnly:          cfg.PollOnly,
		FetchPollInterval: cfg.FetchPollInterval,
		MaxAttempts:       cfg.MaxAttempts,
		JobTimeout:        cfg.JobTimeout,
		RetryPolicy:       cfg.RetryPolicy,
		Logger:            logger,
	}
	if cfg.Workers != nil {
		ws := cfg.Workers
		if ws.env.client != nil {
			return nil, errors.New("condojobs: these Workers already belong to a client")
		}
		*ws.env = env{registry: registry, logger: logger, client: c}
		river.AddWorker(ws.river, river.WorkFunc(c.fanOut))
		rc.Workers = ws.river
		rc.Queues = cfg.Queues
		if len(rc.Queues) == 0 {
			rc.Queues = map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: 10}}
		}
	} else if len(cfg.PeriodicJobs) > 0 {
		return nil, errors.New("condojobs: periodic jobs need workers")
	}
	rcl, err := river.NewClient(riverpgxv5.New(pool), rc)
	if err != nil {
		return nil, fmt.Errorf("river client: %w", err)
	}
	c.river = rcl
	return c, nil
}

// Start starts working jobs (a client with workers); it returns at once.
func (c *Client) Start(ctx context.Context) error { return c.river.Start(ctx) }

// Stop waits for the jobs being worked to finish (until ctx ends) and
// stops. A job cut short by a stop is worked again later: nothing is lost.
func (c *Client) Stop(ctx context.Context) error { return c.river.Stop(ctx) }

// River is the River client underneath, for what this package does not
// wrap (subscribing to events, listing jobs). Jobs inserted through it
// are stamped the same way.
func (c *Client) River() *river.Client[pgx.Tx] { return c.river }

// InsertTx enqueues args in tx; the job exists once tx commits and not
// before. In a tenant transaction ([condo.Registry.InTx]) the database
// stamps the job with the tenant's role, whatever opts say, so it runs
// for that tenant and no other; a stamp naming another role is refused
// by the database. In the owner's or the shared role's transaction the
// job has no tenant.
func (c *Client) InsertTx(ctx context.Context, tx pgx.Tx, args river.JobArgs, opts *river.InsertOpts) (*rivertype.JobInsertResult, error) {
	res, err := c.river.InsertTx(ctx, tx, args, opts)
	if err != nil {
		return nil, fmt.Errorf("enqueue %s: %w", args.Kind(), err)
	}
	return res, nil
}

// InsertForTenantTx enqueues args for tenant t in tx, a transaction of
// the owner's pool (a signup, an operator's command): the owner may
// stamp a job with any tenant.
func (c *Client) InsertForTenantTx(ctx context.Context, tx pgx.Tx, t *condo.Tenant, args river.JobArgs, opts *river.InsertOpts) (*rivertype.JobInsertResult, error) {
	o := river.InsertOpts{}
	if opts != nil {
		o = *opts
	}
	md := map[string]any{}
	if len(o.Metadata) > 0 {
		if err := json.Unmarshal(o.Metadata, &md); err != nil {
			return nil, fmt.Errorf("enqueue %s: metadata: %w", args.Kind(), err)
		}
	}
	md[roleKey] = t.Role
	b, err := json.Marshal(md)
	if err != nil {
		return nil, err
	}
	o.Metadata = b
	return c.InsertTx(ctx, tx, args, &o)
}
