package condojobs

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"

	"github.com/condo-dev/condo"
)

// fanOutPage is how many tenants one fan-out insert covers (the
// registry's largest page).
const fanOutPage = 1000

// fanOutArgs is the periodic job that enqueues a job for every active
// tenant: Args (of kind ArgsKind) with Opts.
type fanOutArgs struct {
	ArgsKind string          `json:"args_kind"`
	Args     json.RawMessage `json:"args"`
	Queue    string          `json:"queue,omitempty"`
	Priority int             `json:"priority,omitempty"`
}

func (fanOutArgs) Kind() string { return "condo_fan_out" }

// rawArgs inserts already-encoded arguments under their kind.
type rawArgs struct {
	kind string
	args json.RawMessage
}

func (a rawArgs) Kind() string                 { return a.kind }
func (a rawArgs) MarshalJSON() ([]byte, error) { return a.args, nil }

// PeriodicTenantJob returns a periodic job that, on schedule, enqueues
// the job made by construct once for every active tenant, each stamped
// with its tenant so that an [AddTenant] worker runs it in that tenant's
// transaction. How many run at once is bounded by the queue's MaxWorkers
// ([Config].Queues); the queue and priority are the args' own
// (river.JobArgsWithInsertOpts), or River's defaults. One fan-out job
// pages through the tenants, so a million tenants are a million small
// jobs, each retried on its own, not one long one.
func PeriodicTenantJob(schedule river.PeriodicSchedule, construct func() river.JobArgs, opts *river.PeriodicJobOpts) *river.PeriodicJob {
	return river.NewPeriodicJob(schedule, func() (river.JobArgs, *river.InsertOpts) {
		args := construct()
		raw, err := json.Marshal(args)
		if err != nil {
			// A programmer's error, reported by the fan-out job.
			raw = nil
		}
		fa := fanOutArgs{ArgsKind: args.Kind(), Args: raw}
		if o, ok := args.(river.JobArgsWithInsertOpts); ok {
			io := o.InsertOpts()
			fa.Queue, fa.Priority = io.Queue, io.Priority
		}
		return fa, nil
	}, opts)
}

// fanOut enqueues job's args for every active tenant, reading the
// tenants a page at a time, in one transaction: a fan-out that fails
// halfway enqueues nothing, so its retry makes no tenant's job twice.
// (A hundred thousand small rows are one transaction of a few seconds.)
func (c *Client) fanOut(ctx context.Context, job *river.Job[fanOutArgs]) error {
	a := job.Args
	if a.Args == nil {
		return river.JobCancel(fmt.Errorf("fan out %s: arguments not encodable", a.ArgsKind))
	}
	err := pgx.BeginFunc(ctx, c.pool, func(tx pgx.Tx) error {
		after := ""
		for {
			page, err := c.registry.List(ctx, condo.ListParams{Status: condo.StatusActive, After: after, Limit: fanOutPage})
			if err != nil {
				return err
			}
			params := make([]river.InsertManyParams, 0, len(page.Tenants))
			for _, t := range page.Tenants {
				md, err := json.Marshal(map[string]string{roleKey: t.Role})
				if err != nil {
					return err
				}
				params = append(params, river.InsertManyParams{
					Args:       rawArgs{kind: a.ArgsKind, args: a.Args},
					InsertOpts: &river.InsertOpts{Queue: a.Queue, Priority: a.Priority, Metadata: md},
				})
			}
			if len(params) > 0 {
				if _, err := c.river.InsertManyFastTx(ctx, tx, params); err != nil {
					return err
				}
			}
			if page.Next == "" {
				return nil
			}
			after = page.Next
		}
	})
	if err != nil {
		return fmt.Errorf("fan out %s: %w", a.ArgsKind, err)
	}
	return nil
}
