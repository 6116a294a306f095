package condojobs

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivermigrate"
)

// Schema is where River's tables live: the shared schema, beside Condo's
// registry, never a tenant's.
const Schema = "public"

// roleKey is the job metadata key holding the role that enqueued the job.
const roleKey = "condo_role"

// wallSQL makes River's job table safe to reach from tenant transactions,
// one statement per string. Tenant roles own nothing in the shared schema
// and are made by the thousand, so rather than granting each one, PUBLIC
// may insert jobs and see its own, and row-level security keeps every
// role to the rows stamped with its own name:
//
//   - the trigger stamps a job inserted without a role with current_user,
//     which inside a tenant transaction is the tenant's role (SET LOCAL
//     ROLE); tenant code can change its search_path but not its role;
//   - the policy lets a role other than the owner insert, read and (for
//     River's unique-job upsert) touch only rows stamped with its own
//     name, so a stamp naming another tenant is refused (WITH CHECK runs
//     after the trigger) and no tenant sees another's job arguments;
//   - the table's owner, the role River itself runs as, is not subject to
//     row-level security, and may enqueue a job for any tenant.
//
// UPDATE is granted on kind alone: it is the column River's insert
// touches on a unique-key conflict; no other column can be changed.
var wallSQL = []string{
	`CREATE OR REPLACE FUNCTION public.condo_jobs_stamp() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	IF NEW.metadata IS NULL OR NOT (NEW.metadata ? 'condo_role') THEN
		NEW.metadata := coalesce(NEW.metadata, '{}'::jsonb) || jsonb_build_object('condo_role', current_user::text);
	END IF;
	RETURN NEW;
END $$`,
	`DROP TRIGGER IF EXISTS condo_jobs_stamp ON public.river_job`,
	`CREATE TRIGGER condo_jobs_stamp BEFORE INSERT ON public.river_job FOR EACH ROW EXECUTE FUNCTION public.condo_jobs_stamp()`,
	`ALTER TABLE public.river_job ENABLE ROW LEVEL SECURITY`,
	`DROP POLICY IF EXISTS condo_jobs_own ON public.river_job`,
	`CREATE POLICY condo_jobs_own ON public.river_job FOR ALL TO PUBLIC
	USING (metadata->>'condo_role' = current_user::text) WITH CHECK (metadata->>'condo_role' = current_user::text)`,
	`GRANT SELECT, INSERT ON TABLE public.river_job TO PUBLIC`,
	`GRANT UPDATE (kind) ON TABLE public.river_job TO PUBLIC`,
	`GRANT USAGE ON SEQUENCE public.river_job_id_seq TO PUBLIC`,
}

// MigrateResult says what [Migrate] did.
type MigrateResult struct {
	// Applied are the River migration versions applied by this run.
	Applied []int
}

// Migrate installs or upgrades River's tables in the shared schema
// ([Schema]) with River's own migrator (rivermigrate, its own version
// table river_migration), then puts up the tenant wall (wallSQL: a
// stamping trigger, row-level security and the grants that let tenant
// transactions enqueue). Run it as the owner role on a direct connection
// (the migrate command does, after the shared migrations); it can run
// again harmlessly.
func Migrate(ctx context.Context, pool *pgxpool.Pool, logger *slog.Logger) (*MigrateResult, error) {
	if logger == nil {
		logger = slog.Default()
	}
	m, err := rivermigrate.New(riverpgxv5.New(pool), &rivermigrate.Config{Schema: Schema, Logger: logger})
	if err != nil {
		return nil, fmt.Errorf("river migrator: %w", err)
	}
	res, err := m.Migrate(ctx, rivermigrate.DirectionUp, nil)
	if err != nil {
		return nil, fmt.Errorf("migrate river: %w", err)
	}
	out := &MigrateResult{}
	for _, v := range res.Versions {
		out.Applied = append(out.Applied, v.Version)
	}
	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		for _, s := range wallSQL {
			if _, err := tx.Exec(ctx, s); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("river job table's tenant wall: %w", err)
	}
	return out, nil
}
